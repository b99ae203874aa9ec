"""The output layout of one track render (ARCHITECTURE.md) and the rule that a finished render is never lost."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stems.errors import UserInputError


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by '-', for folder names."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or "track"


@dataclass(frozen=True)
class RenderPaths:
    root: Path
    slug: str

    def raw(self, stem: str) -> Path:
        return self.root / "raw" / f"{stem}.wav"

    def residual(self, stem: str) -> Path:
        return self.root / "raw" / f"{stem}.residual.wav"

    def stem(self, stem: str) -> Path:
        return self.root / "stems" / f"{stem}.wav"

    def midi(self, stem: str) -> Path:
        return self.root / "midi" / f"{stem}.mid"

    @property
    def track_midi(self) -> Path:
        return self.root / "midi" / f"{self.slug}.mid"

    def mix(self, fmt: str) -> Path:
        return self.root / f"mix.{fmt}"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"


def prepare_render_folder(title: str, out_dir: Path, force: bool) -> RenderPaths:
    """Refuse to touch a finished render unless forced; a forced render first un-finishes it (manifest gone).

    Stage outputs already in the folder stay: the stage cache reuses those whose inputs did not change.
    """
    slug = slugify(title)
    paths = RenderPaths(Path(out_dir) / slug, slug)
    if paths.manifest.exists():
        if not force:
            raise UserInputError(
                f"{paths.root} already holds a finished render (manifest.json); "
                "pass --force to render it again (unchanged stages are reused) or choose another folder with -o"
            )
        paths.manifest.unlink()
    for sub in ("raw", "stems", "midi"):
        (paths.root / sub).mkdir(parents=True, exist_ok=True)
    return paths
