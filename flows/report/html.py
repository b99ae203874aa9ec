"""Small HTML building blocks of the report pages: escaping, number formats, tables, players, the page shell.

Every value from a manifest goes through :func:`esc`; every link through :func:`href` (relative, URL-quoted),
so a render folder with any stem name stays a valid, self-contained page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from string import Template
from urllib.parse import quote

TEMPLATE = "templates/report.html"


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(rel: str) -> str:
    """A relative URL for a path relative to the page (POSIX separators, percent-quoted)."""
    return esc(quote(rel.replace("\\", "/"), safe="/._-~"))


def number(value: object, digits: int = 1, unit: str = "") -> str:
    """A right-aligned figure; '–' for missing or non-finite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    text = f"{value:.{digits}f}".replace("-", "−")  # typographic minus keeps columns aligned
    return f"{text}{(' ' + unit) if unit else ''}"


def clock(seconds: float | None) -> str:
    """90.5 -> '1:30.5'."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    minutes, rest = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


def size(num_bytes: object) -> str:
    if not isinstance(num_bytes, int):
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Iterable[int] = (),
    cls: str = "",
    row_classes: Sequence[str] = (),
) -> str:
    """A table of already-escaped cells; columns in ``numeric`` are right-aligned with tabular figures."""
    right = set(numeric)

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{' class=num' if i in right else ''}>{v}</{tag}>" for i, v in enumerate(values)
        )

    body = []
    for index, row in enumerate(rows):
        row_class = row_classes[index] if index < len(row_classes) and row_classes[index] else ""
        body.append(f'<tr class="{esc(row_class)}">' if row_class else "<tr>")
        body.append(cells("td", row) + "</tr>")
    head = cells("th", [esc(h) for h in headers])
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def kv_table(items: Mapping[str, object]) -> str:
    """Two columns, key and value (nested values shown as compact text)."""
    rows = [(f"<code>{esc(k)}</code>", esc(_plain(v))) for k, v in items.items()]
    return table(("setting", "value"), rows, cls="kv")


def _plain(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return "–" if value is None else str(value)


def link(rel: str, text: str | None = None) -> str:
    return f'<a href="{href(rel)}">{esc(text if text is not None else rel)}</a>'


def player(rel: str) -> str:
    """An audio element; preload=metadata shows the length without downloading every stem up front."""
    return f'<audio controls preload="metadata" src="{href(rel)}"></audio>'


def image(rel: str, alt: str, cls: str = "") -> str:
    return f'<img src="{href(rel)}" alt="{esc(alt)}" class="{esc(cls)}" loading="eager">'


def section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{content}</section>'


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole document from the packaged template (inline CSS, no scripts, no network)."""
    template = Template(resources.files("flows.report").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    links = "".join(f'<a href="#{esc(anchor)}">{esc(text)}</a>' for anchor, text in nav)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return template.substitute(
        title=esc(title), subtitle=subtitle, nav=links, body=body, generated=esc(generated)
    )
