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
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flows.pipeline import REPORT_DIR
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
