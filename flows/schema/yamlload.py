"""Read a YAML file safely into plain Python values, remembering where each value was written.

``read_yaml_file`` never raises anything but ``SchemaError`` for a user mistake: a missing file, a folder,
binary or non-UTF-8 bytes, invalid YAML, duplicate keys, unsupported tags, alias bombs and absurd nesting all
become one ``Problem`` with a 1-based line and column. Values are built from the composed node graph by our
own walker (not ``yaml.load``) so that duplicate keys can be refused, every alias expansion is counted, and
the start mark of every key and value is kept for error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flows.schema.errors import FILE_FIELD, YAML_FIELD, Problem, SchemaError, format_field

Loc = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based (line, column)

MAX_BYTES = 1 << 20  # an arrangement is a few KiB; refuse anything that could stall the parser
MAX_DEPTH = 32  # the arrangement format nests 4 levels; libyaml's composer recurses in C and crashes near 1e5
MAX_VALUES = 50_000  # bounds "billion laughs" alias expansion; 32 stems x ~20 fields is under 1,000

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same grammar


class StrictSafeLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader used only to parse and compose; values are built by ``_Builder``."""


_TAG = "tag:yaml.org,2002:"
_MAP_TAG, _SEQ_TAG, _MERGE_TAG = _TAG + "map", _TAG + "seq", _TAG + "merge"
_SCALAR_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")}
_FOUND_HINTS = {
    "\t": "YAML indentation must use spaces, not tabs: replace the tab with spaces",
    "@": "'@' and '`' cannot start a plain value: put the value in quotes",
    "`": "'@' and '`' cannot start a plain value: put the value in quotes",
    "%": "'%' cannot start a plain value: put the value in quotes",
}


@dataclass(frozen=True)
class TextMark:
    """Where a text value was written: its node's start, its YAML style (plain "", quoted '"' or "'", block
    "|" or ">") and the lines of its file (one tuple shared by every mark of the file)."""

    start: Position
    style: str
    lines: tuple[str, ...]

    def position(self, value: str, offset: int) -> Position | None:
        """Where ``value[offset]`` (a character of the text, e.g. a chord symbol in a chart) was written, or None
        when the source does not show it one to one (escapes in a quoted text).

        Folding and block indentation only change white space, so the n-th non-space character of the value is
        the n-th of the source after the opening quote or the block header."""
        while offset < len(value) and value[offset].isspace():
            offset += 1
        if offset >= len(value):
            return None
        wanted = sum(1 for ch in value[:offset] if not ch.isspace())
        line, col = self.start[0] - 1, self.start[1] - 1
        line, col = (line + 1, 0) if self.style in ("|", ">") else (line, col + (self.style in ("'", '"')))
        seen = 0
        for row in range(line, len(self.lines)):
            for index in range(col if row == line else 0, len(self.lines[row])):
                char = self.lines[row][index]
                if char.isspace():
                    continue
                if seen == wanted:
                    token = value[offset:].split(maxsplit=1)[0]  # the source must show it whole, not escaped
                    return (row + 1, index + 1) if self.lines[row].startswith(token, index) else None
                seen += 1
        return None


@dataclass(frozen=True)
class YamlDocument:
    """Plain values of one YAML document plus the position of every key and value in the text."""

    file: str
    data: Any
    value_marks: Mapping[Loc, Position] = field(default_factory=dict)
    key_marks: Mapping[Loc, Position] = field(default_factory=dict)
    text_marks: Mapping[Loc, TextMark] = field(default_factory=dict)

    def position(self, loc: Loc, *, key: bool = False, offset: int | None = None) -> Position:
        """Where ``loc`` was written: its key when ``key``, else its value, else the nearest enclosing one; with
        ``offset``, the character at that offset of a text value where it can be told."""
        inner = self._inner_position(loc, offset) if offset is not None else None
        if inner is not None:
            return inner
        if loc in self.key_marks and (key or self.value_marks.get(loc, (0, 0))[0] > self.key_marks[loc][0]):
            return self.key_marks[loc]  # a block list/mapping starts below its key: the key line reads better
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.value_marks:
                return self.value_marks[loc[:end]]
        return (1, 1)

    def _inner_position(self, loc: Loc, offset: int) -> Position | None:
        value: Any = self.data
        for part in loc:
            found = isinstance(value, dict) and part in value
            found = found or (isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value))
            if not found:
                return None
            value = value[part]
        mark = self.text_marks.get(loc)
        return mark.position(value, offset) if mark is not None and isinstance(value, str) else None

    def problem(self, loc: Loc, message: str, *, key: bool = False, offset: int | None = None) -> Problem:
        line, col = self.position(loc, key=key, offset=offset)
        return Problem(self.file, line, col, format_field(loc), message)


class _LimitError(yaml.MarkedYAMLError):
    """Valid YAML that we refuse because it is too deep or expands too much."""


class _BuildError(Exception):
    """Internal: a node that cannot become a plain value; turned into a ``Problem`` by ``parse_yaml``."""

    def __init__(self, mark: yaml.Mark, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.position, self.loc, self.message = _pos(mark), loc, message


def _pos(mark: yaml.Mark) -> Position:
    return (mark.line + 1, mark.column + 1)


def read_yaml_file(path: Path) -> YamlDocument:
    """Read and parse ``path``; raises ``SchemaError`` with the position of the first problem."""
    file = str(path)
    return parse_yaml(_decode(_read_bytes(path, file), file), file)


def _file_problem(file: str, message: str, line: int = 1, col: int = 1) -> SchemaError:
    return SchemaError([Problem(file, line, col, FILE_FIELD, message)])


def _read_bytes(path: Path, file: str) -> bytes:
    try:
        if not path.exists():
            where = path if path.is_absolute() else f"{path} in {Path.cwd()}"
            raise _file_problem(file, f"file not found ({where}); check the spelling and the folder")
        if path.is_dir():
            raise _file_problem(file, "this is a folder; give the path of a YAML file (e.g. song.yaml)")
        if not path.is_file():
            raise _file_problem(file, "not a regular file (device, socket or pipe); give a YAML file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise _file_problem(
            file, f"cannot read the file: {err.strerror or err}; check its permissions"
        ) from None
    if len(raw) > MAX_BYTES:
        raise _file_problem(
            file, f"file is larger than {MAX_BYTES} bytes; an arrangement is a small text file"
        )
    return raw


def _byte_position(raw: bytes, offset: int) -> Position:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return (raw.count(b"\n", 0, offset) + 1, offset - line_start + 1)


def _decode(raw: bytes, file: str) -> str:
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = _byte_position(raw, nul)
        msg = "contains NUL bytes: this is a binary file (or UTF-16 text); an arrangement is UTF-8 YAML text"
        raise _file_problem(file, msg, line, col)
    try:
        return raw.decode("utf-8-sig")  # editors on Windows may add a BOM; it is not part of the document
    except UnicodeDecodeError as err:
        line, col = _byte_position(raw, err.start)
        msg = f"not UTF-8 text: byte 0x{raw[err.start]:02x} cannot be decoded; save the file as UTF-8"
        raise _file_problem(file, msg, line, col) from None


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document from ``text`` (``file`` only labels problems); empty text: ``data=None``."""
    try:
        _check_limits(text)
        loader = StrictSafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        raise SchemaError([_syntax_problem(err, text, file)]) from None
    except UnicodeEncodeError as err:  # lone surrogates: only possible from text not read from a file
        line, col = _char_position(text, err.start)
        msg = "text holds an unpaired UTF-16 surrogate, which is not valid Unicode; remove it"
        raise SchemaError([Problem(file, line, col, YAML_FIELD, msg)]) from None
    except yaml.reader.ReaderError as err:
        line, col = _char_position(text, err.position)
        char = f"U+{err.character:04X}" if isinstance(err.character, int) else repr(err.character)
        msg = f"character {char} is not allowed in YAML ({err.reason}); remove it"
        raise SchemaError([Problem(file, line, col, YAML_FIELD, msg)]) from None
    if node is None:
        return YamlDocument(file, None)
    builder = _Builder(tuple(text.split("\n")))
    try:
        data = builder.build(node, ())
    except _BuildError as err:
        line, col = err.position
        raise SchemaError([Problem(file, line, col, format_field(err.loc), err.message)]) from None
    return YamlDocument(file, data, builder.values, builder.keys, builder.texts)


def _check_limits(text: str) -> None:
    """Bound nesting and alias expansion from the event stream (iterative), before the recursive composer."""
    loader = StrictSafeLoader(text)
    try:
        _scan_events(loader)
    finally:
        loader.dispose()


def _scan_events(loader: Any) -> None:
    open_counts: list[list[Any]] = []  # [anchor, values so far] of each open collection
    sizes: dict[str, int] = {}  # anchor -> values it expands to
    done = 0
    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_counts.append([event.anchor, 1])
            if len(open_counts) > MAX_DEPTH:
                msg = f"nesting is deeper than {MAX_DEPTH} levels; an arrangement nests 4 levels at most"
                raise _LimitError(problem=msg, problem_mark=event.start_mark)
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = open_counts.pop()
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            anchor, size = getattr(event, "anchor", None), 1
            size = sizes.get(anchor or "", 1) if isinstance(event, yaml.AliasEvent) else size
        else:
            continue
        if anchor is not None and not isinstance(event, yaml.AliasEvent):
            sizes[anchor] = size
        if open_counts:
            open_counts[-1][1] += size
        else:
            done += size
        if done + sum(count for _, count in open_counts) > MAX_VALUES:
            msg = (
                f"aliases (*name) expand the document to more than {MAX_VALUES} values; write the values out"
            )
            raise _LimitError(problem=msg, problem_mark=event.start_mark)


def _char_position(text: str, offset: int) -> Position:
    line_start = text.rfind("\n", 0, offset) + 1
    return (text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _syntax_problem(err: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = err.problem_mark or err.context_mark
    line, col = _pos(mark) if mark is not None else (1, 1)
    rows = text.split("\n")
    if line > len(rows):  # libyaml puts "end of stream" past a last line that has no newline
        line, col = len(rows), len(rows[-1]) + 1
    parts = [part for part in (err.context, err.problem) if part]
    message = ("" if isinstance(err, _LimitError) else "invalid YAML: ") + ", ".join(parts)
    found = _char_at(text, line, col)
    if found and "character" in message and repr(found) not in message:
        message += f" (found {found!r})"
    hint = _FOUND_HINTS.get(found) or ("\t" in _line_at(text, line) and _FOUND_HINTS["\t"]) or ""
    if not hint and "mapping values are not allowed" in message:
        hint = "a value that contains ': ' must be quoted, e.g. prompt: \"intro: soft pads\""
    return Problem(file, line, col, YAML_FIELD, f"{message}; {hint}" if hint else message)


def _line_at(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _char_at(text: str, line: int, col: int) -> str:
    row = _line_at(text, line)
    return row[col - 1] if 0 < col <= len(row) else ""


class _Builder:
    """Turns a composed node graph into dicts/lists/scalars, recording where each key and value starts."""

    def __init__(self, lines: tuple[str, ...] = ()) -> None:
        self.values: dict[Loc, Position] = {}
        self.keys: dict[Loc, Position] = {}
        self.texts: dict[Loc, TextMark] = {}
        self._lines = lines
        self._count = 0
        self._active: set[int] = set()  # nodes being built: seeing one again means a recursive alias
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            msg = (
                f"the document expands to more than {MAX_VALUES} values through aliases (*name); remove them"
            )
            raise _BuildError(node.start_mark, loc, msg)
        if id(node) in self._active:
            raise _BuildError(node.start_mark, loc, "an alias (*name) refers to itself; remove the recursion")
        if len(loc) > MAX_DEPTH:
            msg = f"aliases (*name) nest values deeper than {MAX_DEPTH} levels; write the values out instead"
            raise _BuildError(node.start_mark, loc, msg)
        self.values[loc] = _pos(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, {_SEQ_TAG}, loc)
                return [self.build(item, loc + (index,)) for index, item in enumerate(node.value)]
            return self._mapping(node, loc)
        finally:
            self._active.discard(id(node))

    def _check_tag(self, node: yaml.Node, allowed: set[str], loc: Loc) -> None:
        if node.tag not in allowed:
            tag = str(node.tag).replace(_TAG, "!!")
            msg = f"YAML tag {tag!r} is not supported here; remove the tag and write a plain value"
            raise _BuildError(node.start_mark, loc, msg)

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        self._check_tag(node, _SCALAR_TAGS, loc)
        try:
            value = self._scalars.construct_object(node)
        except (ValueError, yaml.YAMLError) as err:  # e.g. timestamp 2024-13-45, an int with 10,000 digits
            msg = f"cannot read the value {node.value[:40]!r} ({err}); put it in quotes if it is text"
            raise _BuildError(node.start_mark, loc, msg) from None
        if isinstance(value, str):
            self.texts[loc] = TextMark(_pos(node.start_mark), node.style or "", self._lines)
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        self._check_tag(node, {_MAP_TAG}, loc)
        explicit: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = self._key(key_node, loc)
            if key in explicit:
                first = _pos(explicit[key][0].start_mark)[0]
                msg = f"duplicate key {key!r} (first written on line {first}); keep only one of them"
                raise _BuildError(key_node.start_mark, loc + (key,), msg)
            explicit[key] = (key_node, value_node)
        result = self._merged(merges, loc)  # explicit keys override merged ones (YAML merge key spec)
        self.values[loc] = _pos(node.start_mark)
        for key, (key_node, value_node) in explicit.items():
            self.keys[loc + (key,)] = _pos(key_node.start_mark)
            result[key] = self.build(value_node, loc + (key,))
        return result

    def _key(self, key_node: yaml.Node, loc: Loc) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _BuildError(key_node.start_mark, loc, "a key must be a plain name, not a list or mapping")
        return str(key_node.value)  # the text as written: `on:` stays "on", `1:` stays "1"

    def _merged(self, merges: list[yaml.Node], loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for value_node in merges:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    msg = "a merge key (<<) takes a mapping alias or a list of them, e.g. <<: *defaults"
                    raise _BuildError(source.start_mark, loc, msg)
                for key, value in self.build(source, loc).items():
                    result.setdefault(key, value)  # earlier merge sources win (YAML merge key spec)
        return result
