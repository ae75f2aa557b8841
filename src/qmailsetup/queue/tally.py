"""What a survey saw and what a repair does, counted, with the first few
examples of each: a queue of a million messages costs a count, not a list."""

from __future__ import annotations

from dataclasses import dataclass, field

EXAMPLES = 5

# Each kind of thing a survey counts: what a line of the report says of it.
# Repair's changes first, in the order a repair makes them, then what is
# only seen.
LABELS = {
    "mkdir": "directories",
    "mkfile": "lock files",
    "mkfifo": "FIFOs",
    "chown": "owners",
    "chmod": "modes",
    "rename": "entries, each to its message's inode",
    "finish": "entries an interrupted repair had begun to rename",
    "quarantine": "entries no message explains, into the quarantine",
    "rmdir": "empty split directories beyond conf-split",
    "wrong-type": "paths of another type than the installer makes",
    "extra": "split directories beyond conf-split",
    "misnamed": "messages named after an inode that is not theirs",
    "misplaced": "messages outside their split directory",
    "unfinished": "messages without todo or info, left to qmail-send (qmail-queue did not finish them)",
    "pid": "files in pid/, left to qmail-clean",
    "unknown": "entries in the queue that are not qmail's, left alone",
}
CHANGES = ("mkdir", "mkfile", "mkfifo", "chown", "chmod", "rename", "finish", "quarantine", "rmdir")
SEEN = tuple(key for key in LABELS if key not in CHANGES)


@dataclass
class Count:
    count: int = 0
    examples: list[str] = field(default_factory=list)


class Tally:
    def __init__(self) -> None:
        self.counts: dict[str, Count] = {}
        self.full: set[str] = set()  # the keys with all their examples

    def add(self, key: str, example: str | None = None, count: int = 1) -> None:
        entry = self.counts.get(key)
        if entry is None:
            entry = self.counts[key] = Count()
        entry.count += count
        if example is not None and key not in self.full:
            entry.examples.append(example)
            if len(entry.examples) == EXAMPLES:
                self.full.add(key)

    def wants(self, key: str) -> bool:
        """Whether KEY's next count would be kept as an example: the
        string of one is made only then."""
        return key not in self.full

    def __getitem__(self, key: str) -> Count:
        return self.counts.get(key, Count())

    def changes(self) -> list[tuple[str, Count]]:
        return [(key, self.counts[key]) for key in CHANGES if key in self.counts]

    def seen(self) -> list[tuple[str, Count]]:
        return [(key, self.counts[key]) for key in SEEN if key in self.counts]
