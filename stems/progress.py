"""The one progress callback of the project: every long call (generate, separate, transcribe, master, the report,
the render's stages) reports ``progress(label, done, total)``, ``label`` naming what advances (a stem, a batch,
"master"), ``done`` of ``total`` steps. It lives here, the lowest layer, so that ``mixing`` and ``flows`` use
the same type; library code only calls it, the CLI decides what a call draws."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """``label`` has ``done`` of ``total`` steps finished (``done == total``: finished)."""

    def __call__(self, label: str, done: int, total: int, /) -> None: ...
