"""The output layout of one track render (ARCHITECTURE.md) and the rule that a finished render is never lost."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.schema.checks import BAND
from flows.schema.slugs import slugify
from stems.errors import UserInputError

# The names of a render folder's files, used by every module that writes or reads them.
TRACK_MANIFEST = "manifest.json"  # written last: its presence marks a track render finished
ALBUM_MANIFEST = "album-manifest.json"  # the same for an album folder
REPORT_NAME = "report.html"
REPORT_DIR = "report"  # the report's images
ALBUM_CUE = "album.cue"
STEMS_ZIP = "stems.zip"
SCORE_DIR = "score"  # the parts the arrangement's chords give each stem (score/<stem>.mid)
STATE_DIR = ".musicmaker"  # hidden: stage records, intermediates, the lock; not an output
# Marks an album folder and names its current render: a track folder inside it that holds a finished render
# of another run (or a single-track render) is not replaced without --force.
ALBUM_RUN = Path(STATE_DIR) / "album-run"
TAKES_DIR = "takes"  # takes/<stem>/<k>.wav: every take of a stem with takes, as it would stand in stems/
TAKE_MARK = "#"  # a take's item name in the stage cache and generation batches: <stem>#<k>
PICKS = Path(STATE_DIR) / "picks.json"  # {stem: take} chosen with `musicmaker pick`
PREVIEWS = (
    "previews"  # <out>/previews/<track>/<section>/: scratch folders of `render --section NAME --preview`
)
SECTIONS = Path(STATE_DIR) / "sections.json"  # {item: [section redo, ...]} asked with `render --section`


def take_item(stem: str, take: int) -> str:
    """The item name of take ``take`` (1..K) of ``stem``."""
    return f"{stem}{TAKE_MARK}{take}"


def split_item(item: str) -> tuple[str, int | None]:
    """(stem, take) of an item name; take None for a stem itself (stem names are slugs, without the mark)."""
    stem, mark, take = item.partition(TAKE_MARK)
    return stem, int(take) if mark else None


@dataclass(frozen=True)
class RenderPaths:
    root: Path
    slug: str

    def raw(self, stem: str) -> Path:
        """Generated audio; of a take (``take_item``), an intermediate under the take's state folder."""
        return self._take_state(stem, "raw") or self.root / "raw" / f"{stem}.wav"

    @property
    def band_take(self) -> Path:
        """The band take (``band:``), before Demucs splits it into the band stems' raw/<stem>.wav."""
        return self.raw(BAND)

    def band_source(self, source: str) -> Path:
        """One Demucs source of the band take: an intermediate, copied to the raw/<stem>.wav of its stems."""
        return self.root / STATE_DIR / "kept" / f"{BAND}.{source}.wav"

    def base(self, item: str) -> Path:
        """A generation item's audio before its section redos (``SECTIONS``): an intermediate."""
        return self.root / STATE_DIR / "base" / f"{item}.wav"

    def section(self, item: str, first: int, last: int) -> Path:
        """The audio a section redo of bars ``first``-``last`` generated for ``item``: an intermediate."""
        return self.root / STATE_DIR / "sections" / item / f"{first}-{last}.wav"

    def residual(self, stem: str) -> Path:
        return self._take_state(stem, "residual") or self.root / "raw" / f"{stem}.residual.wav"

    def kept(self, stem: str) -> Path:
        """The source Demucs kept, before cleanup: an intermediate, hidden from the output layout."""
        return self._take_state(stem, "kept") or self.root / STATE_DIR / "kept" / f"{stem}.wav"

    def cleaned(self, stem: str) -> Path:
        """The cleaned stem before conform: an intermediate, hidden from the output layout."""
        return self._take_state(stem, "cleaned") or self.root / STATE_DIR / "cleaned" / f"{stem}.wav"

    def stem(self, stem: str) -> Path:
        """The finished stem; of a take, takes/<stem>/<k>.wav."""
        name, take = split_item(stem)
        if take is not None:
            return self.root / TAKES_DIR / name / f"{take}.wav"
        return self.root / "stems" / f"{stem}.wav"

    def _take_state(self, item: str, kind: str) -> Path | None:
        name, take = split_item(item)
        return None if take is None else self.root / STATE_DIR / TAKES_DIR / name / f"{take}.{kind}.wav"

    def midi(self, stem: str) -> Path:
        return self.root / "midi" / f"{stem}.mid"

    def part(self, stem: str) -> Path:
        """The stem's part in the arrangement's score (its chords), on the arrangement's grid."""
        return self.root / SCORE_DIR / f"{stem}.mid"

    @property
    def track_midi(self) -> Path:
        return self.root / "midi" / f"{self.slug}.mid"

    def mix(self, fmt: str) -> Path:
        return self.root / f"mix.{fmt}"

    @property
    def manifest(self) -> Path:
        return self.root / TRACK_MANIFEST


def prepare_render_folder(title: str, out_dir: Path, force: bool, slug: str | None = None) -> RenderPaths:
    """Refuse to touch a finished render unless forced; a forced render first un-finishes it (manifest gone).

    Stage outputs already in the folder stay: the stage cache reuses those whose inputs did not change.
    """
    slug = slug or slugify(title)
    paths = RenderPaths(Path(out_dir) / slug, slug)
    if paths.manifest.exists():
        if not force:
            raise finished_render_error(paths.root)
        paths.manifest.unlink()
    for sub in ("raw", "stems", "midi"):
        (paths.root / sub).mkdir(parents=True, exist_ok=True)
    remove_partial_files(paths.root)
    return paths


def finished_render_error(folder: Path, manifest: str = TRACK_MANIFEST) -> UserInputError:
    """Why a render into ``folder``, which holds a finished render (its ``manifest``), is refused without --force."""
    kind = "album render" if manifest == ALBUM_MANIFEST else "render"
    return UserInputError(
        f"{folder} already holds a finished {kind} ({manifest}); "
        "pass --force to render it again (unchanged stages are reused) or choose another folder with -o"
    )


def check_render_folder(folder: Path, force: bool, manifest: str | None = TRACK_MANIFEST) -> None:
    """Refuse a render into ``folder`` before it starts anything (Prefect, its API server, a model): while another
    render holds the folder's lock, or while it holds a finished render (``manifest``) and ``force`` is not given.

    The render checks both again under its lock; this makes the refusal immediate (Prefect's start took 9-16 s
    before it). Nothing is created or written: the lock is only probed.
    """
    refuse_while_rendering(Path(folder))
    if manifest and not force and (Path(folder) / manifest).exists():
        raise finished_render_error(Path(folder), manifest)


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete temp files a killed render left behind (AtomicWriter names them ``.<name>.<random>.part<ext>``).

    Called with the folder's render lock held, so no live writer owns them.
    """
    stale = [p for p in folder.rglob(".*.part*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _lock_path(folder: Path) -> Path:
    return Path(folder) / STATE_DIR / "lock"


def _flock(handle: Any, folder: Path, exclusive: bool) -> None:
    """Take the lock of ``folder`` without waiting; refused with the holder's name while a render holds it."""
    import fcntl

    try:
        fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise UserInputError(
            f"{folder} is being rendered right now by {holder}; wait for that render to finish "
            "(or stop it) before starting another into the same folder"
        ) from None


@contextmanager
def render_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for a render; a second render of it is refused, not interleaved.

    ``flock`` locks die with their process, so a render killed with SIGKILL never leaves a stale lock behind.
    """
    lock_path = _lock_path(folder)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        _flock(handle, folder, exclusive=True)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield


def refuse_running_album(out_dir: Path) -> None:
    """Refuse a single-track render into ``out_dir`` while the album render of ``out_dir`` runs.

    The album's own track renders (on a pool's workers) skip this check; everything else would race them.
    """
    out_dir = Path(out_dir)
    if (out_dir / ALBUM_RUN).is_file():
        refuse_while_rendering(out_dir)


def refuse_while_rendering(folder: Path) -> None:
    """Refuse while a render holds the lock of ``folder``: a shared lock, released at once, so one probe never
    blocks another (an album's tracks, ``musicmaker pick``)."""
    if _lock_path(folder).is_file():
        with open(_lock_path(folder)) as handle:
            _flock(handle, folder, exclusive=False)
