"""qmail's queue: made as qmail's installer makes it, checked, and repaired
after a restore (`qmailsetup queue create | check | repair`).

How qmail names a message (qmail-queue.c, fmtqfn.c, docs/queue.md): by the
inode number I of its file mess/(I mod conf-split)/I; its envelope and
delivery state carry the same number: todo/I and intd/I (qmail-queue),
info/S/I, local/S/I, remote/S/I and bounce/I (qmail-send), split
directories where the installation table says so. A queue copied to
another file system keeps its old names under new inodes: a new message
whose inode is an old name cannot be queued (qmail-queue's "trouble
making link", exit 64, which qmail-inject and qmail-smtpd tell as "qq
trouble creating files in queue").

The modules, one job each:

- model.py: what the queue must be (the installation table's paths with
  the host's numbers for their owners, the split), where it is;
- walk.py: reading it, one open directory at a time, never through a link;
  the compact index of the message files;
- survey.py: the walk that judges every entry and, for repair, acts on
  it; the same code counts for check and for a dry run;
- structure.py: the directories and lock files the installer makes;
- quarantine.py, lock.py: where what cannot be explained goes; the lock
  qmail-send holds while it runs;
- check.py, create.py, repair.py: the three commands, each returning data
  and an exit status (commands/queue.py runs them, output.py prints them).
"""

