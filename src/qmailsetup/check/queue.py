"""queue.*: the queue's findings for `qmailsetup check`, from the same
read-only survey `qmailsetup queue check` makes (qmailsetup/queue/check.py)."""

from qmailsetup.queue.check import queue_findings

__all__ = ["queue_findings"]
