"""Templates with {field} placeholders: the platform profiles' commands,
post-edit step, new account lines and messages (platforms/*.toml).

A template is parsed once, when its profile loads: a placeholder the
template may not name, or a brace outside a placeholder, is a broken
profile, said in one line. It is a list of parts; a part is argv words
that go together (["-u", "{uid}"]) and is kept only when every field it
names has a value, so one template serves the values a change has and
those it leaves to the tool ({root} has none on /). A line (a new entry
in an account file, a message) is a template of one part of one word,
and needs every field it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def rendered(value) -> str:
    """A value as it goes into a word: a list (a user's groups)
    comma-joined, as every -G takes it."""
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


@dataclass(frozen=True)
class Template:
    parts: tuple[tuple[str, ...], ...] = ()
    # the fields each part names, in the order of parts
    part_fields: tuple[frozenset[str], ...] = ()

    @classmethod
    def parse(cls, parts: Iterable[Iterable[str]], allowed: Iterable[str], where: str = "template") -> Template:
        """PARTS as a template that may name only the fields ALLOWED;
        ValueError naming WHERE for anything else."""
        allowed = frozenset(allowed)
        words = tuple(tuple(part) for part in parts)
        for word in (word for part in words for word in part):
            for name in PLACEHOLDER.findall(word):
                if name not in allowed:
                    raise ValueError(f"{where}: unknown placeholder {{{name}}} (known: {', '.join(sorted(allowed))})")
            if {"{", "}"} & set(PLACEHOLDER.sub("", word)):
                raise ValueError(f"{where}: {word!r} has a brace that is not part of a {{field}}")
        fields = tuple(frozenset(PLACEHOLDER.findall(" ".join(part))) for part in words)
        return cls(words, fields)

    @classmethod
    def parse_line(cls, line: str, allowed: Iterable[str], where: str = "template") -> Template:
        return cls.parse([[line]], allowed, where)

    @property
    def fields(self) -> frozenset[str]:
        """Every field the template names."""
        return frozenset().union(*self.part_fields)

    def __bool__(self) -> bool:
        return bool(self.parts)

    def render(self, values: Mapping[str, object]) -> list[str]:
        """The words of the parts whose every field has a value (not None)
        in VALUES, each placeholder replaced by its value."""
        words: list[str] = []
        for part, fields in zip(self.parts, self.part_fields, strict=True):
            if all(values.get(name) is not None for name in fields):
                words.extend(PLACEHOLDER.sub(lambda m: rendered(values[m.group(1)]), word) for word in part)
        return words

    def render_line(self, values: Mapping[str, object]) -> str:
        """The line, every field filled from VALUES; KeyError naming the
        first field without a value (a line has no part to leave out)."""
        missing = sorted(name for name in self.fields if values.get(name) is None)
        if missing:
            raise KeyError(missing[0])
        return " ".join(self.render(values))
