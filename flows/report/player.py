"""The report's multitrack player (issue 27): what it plays, as data for ``player.js``, and its audio bundles.

A page opened from ``file://`` cannot ``fetch`` the WAV files beside it (Chromium and Firefox refuse file URLs to
scripts), and an ``<audio>`` element routed into Web Audio plays silence for them (a file URL is another
origin). A ``<script src>`` of a file URL does load. So each audio file the player uses is written once as
``report/audio/<key>.js``: the file encoded by ffmpeg as Ogg Opus at ``BUNDLE_KBPS`` per channel pair (a 300 s
stereo stem is about 3.6 MB, 4.8 MB in base64; the WAV is 53 MB), base64 in a string the script hands to
``window.musicmakerAudio``. The player loads them one at a time and decodes each with ``decodeAudioData``.

The data (:class:`PlayerData`, JSON in the page) names each lane's sources (the stem, its raw audio, each take),
the mix, the sections and the chords, all at the track's time.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flows.pipeline import REPORT_DIR, AlbumTrack, TrackManifest
from flows.report.album import track_dir
from flows.report.media import Timeline, image_path
from flows.report.track import SAFE_TAKE_FILE, StemViews
from stems.audio import write_bytes_atomic

AUDIO_DIR = "audio"  # report/audio/<key>.js
BUNDLE_KBPS = 96  # Opus at 96 kb/s stereo: transparent for most listeners (opus-codec.org's recommendations)
BUNDLE_GLOBAL = "musicmakerAudio"  # window.musicmakerAudio.add(key, base64)
_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Source:
    """One thing a lane can play: its label ("stem", "raw", "take 2"), the audio file it came from (relative to
    the page) and the bundle script that carries it (None when the file is missing: the lane says so)."""

    label: str
    file: str
    bundle: str | None
    key: str


@dataclass(frozen=True)
class Lane:
    name: str
    sources: tuple[Source, ...]
    wave: str | None = None  # the waveform image of its first source
    gain_db: float = 0.0


@dataclass(frozen=True)
class Span:
    """A section or a chord on the time line, seconds."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class PlayerData:
    duration: float
    lanes: tuple[Lane, ...]
    mix: Source | None = None
    sections: tuple[Span, ...] = ()
    chords: tuple[Span, ...] = ()
    offsets: dict[str, float] = field(default_factory=dict)  # album: each lane's start on the album's time

    def to_json(self) -> str:
        """The page's JSON, safe inside a ``<script type="application/json">`` (no ``</``)."""
        return json.dumps(asdict(self), separators=(",", ":")).replace("</", "<\\/")


def bundle_key(relative: str) -> str:
    """The key and file stem of the bundle of an audio file: its path with anything but [A-Za-z0-9_.-] as '_'."""
    return _KEY.sub("_", relative.removesuffix(".wav"))


def bundle_script(key: str, encoded: bytes) -> bytes:
    """The JS of one bundle: hands ``encoded`` (an Ogg Opus file) to ``window.musicmakerAudio``."""
    payload = base64.b64encode(encoded).decode("ascii")
    return (
        f"(window.{BUNDLE_GLOBAL} = window.{BUNDLE_GLOBAL} || {{pending: {{}}, add(k, b) {{ this.pending[k] = b; }}}})"
        f".add({json.dumps(key)}, {json.dumps(payload)});\n"
    ).encode("ascii")


def encode_opus(source: Path) -> bytes:
    """``source`` as Ogg Opus at BUNDLE_KBPS (ffmpeg; Web Audio decodes it in every current browser)."""
    result = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(source),
            "-c:a",
            "libopus",
            "-b:a",
            f"{BUNDLE_KBPS}k",
            "-f",
            "ogg",
            "pipe:1",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"ffmpeg could not encode {source}: {result.stderr.decode(errors='replace')[-400:]}"
        )
    return result.stdout


def write_bundle(folder: Path, relative: str, label: str) -> Source:
    """The bundle of ``folder/relative`` (an audio file), written unless it is up to date; a Source whose
    ``bundle`` is None when the audio file is missing."""
    key = bundle_key(relative)
    source = folder / relative
    bundle = f"{REPORT_DIR}/{AUDIO_DIR}/{key}.js"
    if not source.is_file():
        return Source(label, relative, None, key)
    target = folder / bundle
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        write_bytes_atomic(target, bundle_script(key, encode_opus(source)))
    return Source(label, relative, bundle, key)


PLAYER_JS = Path(__file__).with_name("player.js")  # the player: one small script, inlined in the page


def player_section(data: PlayerData) -> str:
    """The page's player: its container, its data as JSON and the script, inlined (no build step, no network)."""
    script = PLAYER_JS.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return (
        '<section id="player"><h2>Listen: every stem together</h2>'
        '<div id="mm-player" class="mm-player"></div>'
        f'<script type="application/json" id="mm-player-data">{data.to_json()}</script>'
        f"<script>{script}</script></section>"
    )


def write_bundles(folder: Path, files: Sequence[tuple[str, str]]) -> list[Source]:
    """:func:`write_bundle` of every ``(relative, label)``, in order, the ffmpeg encodes run side by side (one per
    core: a 300 s stereo stem takes 2.4 s on one core of this machine)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda f: write_bundle(folder, *f), files))


def track_player(
    folder: Path, manifest: TrackManifest, views: Sequence[StemViews], timeline: Timeline
) -> PlayerData:
    """A track's player: a lane per stem (the stem, its raw audio, each take; at the gain the mix gave it, so the
    stems together sound as the mix before mastering), the mix to compare, its sections and chords."""
    files: list[list[tuple[str, str]]] = []
    for view in views:
        record = manifest.stems.get(view.name)
        takes = [
            (t.file, f"take {t.take}")
            for t in (record.takes if record else ())
            if SAFE_TAKE_FILE.fullmatch(t.file)
        ]
        raw = [(f"raw/{view.name}.wav", "raw")] if (folder / "raw" / f"{view.name}.wav").is_file() else []
        files.append([(f"stems/{view.name}.wav", "stem"), *raw, *takes])
    mix = [("mix.wav", "mix")] if (folder / "mix.wav").is_file() else []
    made = iter(write_bundles(folder, [f for lane in files for f in lane] + mix))
    lanes = []
    for view, lane_files in zip(views, files):
        record = manifest.stems.get(view.name)
        sources = tuple(next(made) for _ in lane_files)
        wave = next((v.wave for _, v in view.takes if v.path == f"stems/{view.name}.wav"), None)
        gain = record.gain_db_applied if record is not None and record.gain_db_applied is not None else 0.0
        lanes.append(Lane(view.name, sources, wave, round(gain, 2)))
    score = manifest.score
    return PlayerData(
        duration=timeline.duration or 0.0,
        lanes=tuple(lanes),
        mix=next(made, None),
        sections=tuple(Span(s.name, s.start, s.end) for s in timeline.sections),
        chords=tuple(Span(c.symbol, c.start, c.end) for c in (score.chords if score else ())),
    )


def bundles_of(data: PlayerData) -> set[str]:
    """Every bundle the page loads (the others under report/audio/ are stale)."""
    sources = [s for lane in data.lanes for s in lane.sources] + ([data.mix] if data.mix else [])
    return {s.bundle for s in sources if s.bundle}


def remove_stale_bundles(folder: Path, keep: set[str]) -> None:
    """Delete bundles no longer played (a stem or take gone before a forced re-render); only ours."""
    directory = folder / REPORT_DIR / AUDIO_DIR
    for script in directory.glob("*.js") if directory.is_dir() else ():
        if f"{REPORT_DIR}/{AUDIO_DIR}/{script.name}" not in keep:
            script.unlink(missing_ok=True)


def album_player_data(folder: Path, tracks: Sequence[AlbumTrack]) -> PlayerData:
    """An album's player: a lane per track (its mix, from its place in the album), the album as rendered (its
    gaps and crossfades) to compare, and the tracks drawn as the sections lane."""
    names = [f"{i}. {t.title or track_dir(folder, t) or 'track'}" for i, t in enumerate(tracks, start=1)]
    subs = [track_dir(folder, t) for t in tracks]
    album = [("album.wav", "album")] if (folder / "album.wav").is_file() else []
    made = write_bundles(folder, [(f"{sub}/mix.wav", "mix") for sub in subs if sub] + album)
    by_sub = dict(zip([sub for sub in subs if sub], made))
    lanes, spans = [], []
    for name, sub, track in zip(names, subs, tracks):
        wave = f"{sub}/{image_path('mix.wav', 'wave')}"
        has_wave = bool(sub) and (folder / wave).is_file()
        lanes.append(Lane(name, (by_sub[sub],) if sub else (), wave if has_wave else None))
        start = track.start or 0.0
        spans.append(Span(name, start, start + (track.duration or 0.0)))
    return PlayerData(
        duration=max((s.end for s in spans), default=0.0),
        lanes=tuple(lanes),
        mix=made[-1] if album else None,
        sections=tuple(spans),
        offsets={name: span.start for name, span in zip(names, spans)},
    )
