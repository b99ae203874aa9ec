"""Problems found in a YAML document, each tied to a file, a 1-based line and column, and a field path.

``SchemaError`` carries every problem of one file so that ``musicmaker validate`` can print them all at once
(one ``FILE:LINE:COL: field: message`` line each) instead of making the user fix them one run at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from stems.errors import UserInputError

# Field labels for problems that belong to no schema field.
FILE_FIELD = "(file)"  # the file could not be read: missing, a folder, binary, not UTF-8, too large
YAML_FIELD = "(yaml)"  # the text is not valid YAML (or uses YAML features we refuse: tags, alias bombs)
ROOT_FIELD = "(root)"  # the document as a whole (e.g. a list where a mapping is expected)


@dataclass(frozen=True)
class Problem:
    """One user mistake at ``file:line:col`` (1-based, like compilers and editors print them)."""

    file: str
    line: int
    col: int
    field: str
    message: str

    def __post_init__(self) -> None:
        # One problem is one output line: escape anything str.splitlines() would break on (user text can
        # hold \f, \x1c, U+2028...) and other control characters.
        object.__setattr__(self, "file", _one_line(self.file))
        object.__setattr__(self, "message", _one_line(self.message))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Note(Problem):
    """Something a render will do that the writer may not expect (a chord chart cut to its section, a MIDI
    melody read from its first track); it stops nothing: ``FILE:LINE:COL: note: field: message``."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: note: {self.field}: {self.message}"

    @classmethod
    def at(cls, problem: Problem) -> Note:
        """The note said where ``problem`` would have been."""
        return cls(problem.file, problem.line, problem.col, problem.field, problem.message)


def _one_line(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class SchemaError(UserInputError):
    """A YAML document that cannot be used; ``problems`` lists every mistake found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        assert problems, "a SchemaError needs at least one problem"
        self.problems: list[Problem] = sorted(problems, key=lambda p: (p.line, p.col))
        super().__init__("\n".join(str(p) for p in self.problems))


_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def format_field(loc: Sequence[str | int]) -> str:
    """``("stems", 2, "pan")`` -> ``"stems[2].pan"``; an empty path is the document root.

    Keys that are not plain names are written ``["..."]`` with every space and non-ASCII character escaped,
    so the field never contains whitespace and a ``FILE:LINE:COL: field: message`` line stays parseable.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += "[" + json.dumps(part, ensure_ascii=True).replace(" ", "\\u0020") + "]"
    return text or ROOT_FIELD
