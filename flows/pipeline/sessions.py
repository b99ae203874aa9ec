"""DAW sessions of a render folder: the :class:`~mixing.sessions.Session` a manifest and its files describe,
written as ``session/<slug>.dawproject`` and ``session/<slug>.rpp`` (by the render before its manifest, and by
``musicmaker export`` for a finished render). A part whose file is missing is left out, and the session says so.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flows.pipeline.paths import ALBUM_MANIFEST, TRACK_MANIFEST
from flows.pipeline.records import (
    AlbumManifest,
    AlbumTrack,
    Licenses,
    MidiRecord,
    ScoreRecord,
    mix_record,
    stem_records,
)
from flows.schema.slugs import FOLDER_SLUG_LENGTH
from mixing.sessions import (
    SESSION_DIR,
    SESSION_SUFFIXES,
    AudioClip,
    AudioTrack,
    Marker,
    MidiNote,
    MidiTrack,
    Session,
    Tempo,
    family_color,
    write_session,
)
from stems.errors import UserInputError

log = logging.getLogger(__name__)
# A slug as the render folders have them (flows.schema.slugs, an album's `slug:`): no path separator, no dot.
_SLUG = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{FOLDER_SLUG_LENGTH - 1}}}")
MIX_FILE = "mix.wav"
REFERENCE_NAME = "mix (reference)"


def session_path(root: Path, slug: str, fmt: str) -> Path:
    return Path(root) / SESSION_DIR / f"{slug}{SESSION_SUFFIXES[fmt]}"


def _clip(root: Path, name: str, start: float = 0.0) -> AudioClip:
    import soundfile as sf

    file = root / name
    try:
        info = sf.info(str(file))
    except (RuntimeError, OSError) as err:  # soundfile's LibsndfileError is a RuntimeError
        raise UserInputError(f"{file}: cannot read it as audio ({err}); render the folder again") from None
    return AudioClip(
        file, name, start, info.frames / info.samplerate, int(info.samplerate), int(info.channels)
    )


def _family(stem: dict[str, Any]) -> str | None:
    from flows.pipeline.stages import instrument_family
    from flows.schema.models import Stem

    try:
        return instrument_family(Stem.model_validate(stem))
    except (ValueError, UserInputError):  # a hand-edited manifest: the stem keeps the fallback colour
        return None


def _tempo(arrangement: dict[str, Any]) -> Tempo:
    top, _, bottom = str(arrangement.get("time_signature", "4/4")).partition("/")
    try:
        return Tempo(float(arrangement["bpm"]), int(top), int(bottom))
    except (KeyError, TypeError, ValueError) as err:
        raise UserInputError(
            f"the manifest's arrangement has no usable bpm and time signature ({err}); "
            "render the arrangement again"
        ) from None


def _markers(arrangement: dict[str, Any], tempo: Tempo) -> tuple[Marker, ...]:
    """One marker per section, at its first bar (sections start on whole bars, stems.musicgen.plan.section_spans)."""
    from stems.musicgen.plan import section_spans

    sections = [(str(s["name"]), int(s["bars"]), "") for s in arrangement.get("sections") or []]
    spans = section_spans(sections, tempo.bpm, tempo.numerator, float(arrangement["duration"]))
    markers, bar = [], 1
    for span, (_, bars, _) in zip(spans, sections):
        markers.append(Marker(span.name, span.start, bar))
        bar += bars
    return tuple(markers)


def _audio_tracks(root: Path, manifest: dict[str, Any], notes: list[str]) -> list[AudioTrack]:
    tracks, recorded = [], stem_records(manifest)
    for stem in manifest["arrangement"]["stems"]:
        name, record = stem["name"], recorded.get(stem["name"])
        if record is None:
            continue  # not rendered into this folder (--only in a fresh folder)
        if not (root / "stems" / f"{name}.wav").is_file():
            notes.append(f"stems/{name}.wav is missing: the audio track of stem {name!r} is left out")
            continue
        gain = record.gain_db_applied
        tracks.append(
            AudioTrack(
                name,
                family_color(_family(stem)),
                _clip(root, f"stems/{name}.wav"),
                float(stem.get("gain_db", 0.0) if gain is None else gain),
                float(stem.get("pan", 0.0)),
                bool(stem.get("mute")),
                bool(stem.get("solo")),
            )
        )
    return tracks


def _midi_track(
    file: Path, name: str, color: str, length: float, record: MidiRecord | None, label: str = "MIDI"
) -> MidiTrack:
    """The notes of ``file``; program and drum channel as transcribed (``record``: the manifest's ``midi``), which
    a file without notes cannot tell; without a record, as the file says (a part of the score)."""
    import pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(str(file))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:  # what mido raises on a damaged file
        raise UserInputError(f"{file}: cannot read it as MIDI ({err}); render the folder again") from None
    instrument = midi.instruments[0] if midi.instruments else pretty_midi.Instrument(0, name=name)
    notes = tuple(
        MidiNote(float(n.start), float(n.end), int(n.pitch), int(n.velocity))
        for n in sorted(instrument.notes, key=lambda n: (n.start, n.pitch))
    )
    program = instrument.program if record is None or record.program is None else record.program
    is_drum = instrument.is_drum if record is None or record.is_drum is None else record.is_drum
    return MidiTrack(f"{name} ({label})", color, int(program), bool(is_drum), notes, length)


def _score(
    root: Path, manifest: dict[str, Any], length: float, notes: list[str]
) -> tuple[list[Marker], list[MidiTrack]]:
    """With chords: a marker per chord as it is played (the symbol as written) and each stem's part as a MIDI
    clip (score/<stem>.mid)."""
    record = ScoreRecord.from_json(manifest.get("score"))
    if record is None:
        return [], []
    markers = [Marker(chord.symbol, chord.start) for chord in record.chords]
    tracks = []
    for stem in manifest["arrangement"]["stems"]:
        part = record.parts.get(name := stem["name"])
        if part is None:
            continue
        if not (root / part).is_file():
            notes.append(f"{part} is missing: the part of stem {name!r} is left out")
            continue
        tracks.append(_midi_track(root / part, name, family_color(_family(stem)), length, None, "part"))
    return markers, tracks


def _midi_tracks(root: Path, manifest: dict[str, Any], length: float, notes: list[str]) -> list[MidiTrack]:
    tracks, recorded = [], stem_records(manifest)
    for stem in manifest["arrangement"]["stems"]:
        record = recorded.get(name := stem["name"])
        if record is None or record.midi is None:
            continue
        file = root / "midi" / f"{name}.mid"
        if not file.is_file():
            notes.append(f"midi/{name}.mid is missing: the MIDI track of stem {name!r} is left out")
            continue
        tracks.append(_midi_track(file, name, family_color(_family(stem)), length, record.midi))
    if not tracks and not any(
        r.midi for s in manifest["arrangement"]["stems"] if (r := recorded.get(s["name"]))
    ):
        notes.append("no stem was transcribed (midi: false): the session has no MIDI tracks")
    return tracks


def track_session(root: Path, manifest: dict[str, Any]) -> Session:
    """The session of the track render in ``root`` that ``manifest`` describes."""
    root = Path(root)
    arrangement, notes = manifest["arrangement"], list[str]()
    tempo = _tempo(arrangement)
    audio = _audio_tracks(root, manifest, notes)
    reference = None
    if (root / MIX_FILE).is_file():
        reference = AudioTrack(
            REFERENCE_NAME,
            family_color(None),
            _clip(root, MIX_FILE),
            mute=True,
            comment="the finished mix, muted: unmute it to compare",
        )
    else:
        notes.append(f"{MIX_FILE} is missing: the reference track is left out")
    length = max([t.clip.length for t in audio] + [float(arrangement.get("duration", 0.0))])
    midi = _midi_tracks(root, manifest, length, notes)
    chords, parts = _score(root, manifest, length, notes)
    master_gain = mix_record(manifest).master_gain_db or 0.0
    return Session(
        str(arrangement.get("title", manifest.get("title", ""))),
        str(arrangement.get("artist") or ""),
        tempo,
        tuple(audio),
        tuple(midi + parts),
        tuple(sorted(_markers(arrangement, tempo) + tuple(chords), key=lambda m: m.seconds)),
        master_gain,
        reference,
        tuple(notes),
        Licenses.from_json(manifest.get("licenses")).note(),
    )


def write_sessions(session: Session, root: Path, slug: str, formats: list[str]) -> dict[str, Any]:
    """Write ``session`` in ``formats`` under ``root/session/``; returns the files (relative) and the notes."""
    files = []
    for fmt in formats:
        path = session_path(root, slug, fmt)
        write_session(session, fmt, path)
        files.append(path.relative_to(root).as_posix())
    for note in session.notes:  # the render's manifest and `musicmaker export` show them too
        log.info("%s: %s", slug, note)
    return {"files": files, "notes": list(session.notes)}


def write_track_sessions(
    root: Path, slug: str, manifest: dict[str, Any], formats: list[str]
) -> dict[str, Any]:
    """The track's sessions in ``formats`` (none: nothing written)."""
    if not formats:
        return {"files": [], "notes": []}
    return write_sessions(track_session(root, manifest), root, slug, formats)


def album_session(folder: Path, title: str, artist: str, tracks: Sequence[AlbumTrack]) -> Session:
    """The album on one timeline: each track's mix at its start in the album (``tracks`` as in the album
    manifest: number, title, folder, start), a marker at each start, album.wav as the muted reference.

    Tracks may differ in tempo; the session keeps the first track's (clips are placed in seconds)."""
    folder, notes = Path(folder), []
    if not tracks:
        raise UserInputError(f"{folder}: the album manifest lists no tracks; render the album again")
    if any(t.folder is None or t.start is None for t in tracks):
        raise UserInputError(
            f"{folder}: the album manifest lists a track without folder or start; render the album again"
        )
    first = _read_manifest(folder / str(tracks[0].folder) / TRACK_MANIFEST)
    tempo = _tempo(first["arrangement"])
    audio, markers = [], []
    for number, track in enumerate(tracks, start=1):
        name = f"{number if track.number is None else track.number:02d} {track.title or track.slug}"
        mix, start = f"{track.folder}/{MIX_FILE}", float(track.start or 0.0)
        markers.append(Marker(name, start))
        if not (folder / mix).is_file():
            notes.append(f"{mix} is missing: track {name!r} is left out")
            continue
        audio.append(AudioTrack(name, family_color(None), _clip(folder, mix, start)))
    reference = None
    if (folder / "album.wav").is_file():
        reference = AudioTrack("album (reference)", family_color(None), _clip(folder, "album.wav"), mute=True)
    notes.append(
        f"tempo and time signature are the first track's ({tempo.bpm:g} bpm "
        f"{tempo.numerator}/{tempo.denominator}); tracks are placed by their start in seconds"
    )
    provenance = _album_licenses(folder, tracks).note()
    return Session(
        title, artist, tempo, tuple(audio), (), tuple(markers), 0.0, reference, tuple(notes), provenance
    )


def _album_licenses(folder: Path, tracks: Sequence[AlbumTrack]) -> Licenses:
    """Every model of the album's tracks, from their manifests (a track without one adds none)."""
    merged = Licenses()
    for track in tracks:
        path = folder / str(track.folder) / TRACK_MANIFEST
        if path.is_file():
            merged = merged.merged(Licenses.from_json(_read_manifest(path).get("licenses")))
    return merged


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserInputError(
            f"{path.parent} holds no finished render ({path.name} is missing); render it "
            "first, or give the folder of a track or album render"
        ) from None
    except (OSError, ValueError) as err:
        raise UserInputError(f"{path}: cannot read it ({err}); render the folder again") from None
    if not isinstance(manifest, dict):
        raise UserInputError(f"{path}: not a musicmaker manifest; render the folder again")
    return manifest


def render_slug(manifest: dict[str, Any], folder: Path) -> str:
    """The name a render gave its files (``session/<slug>.*``): its manifest's ``slug``, so that a copied or
    renamed folder is exported under the same names; the folder's name for a manifest without one (older
    renders, written before the folder could have been renamed) or with one that is no slug (hand-edited)."""
    slug = manifest.get("slug")
    return slug if isinstance(slug, str) and _SLUG.fullmatch(slug) else folder.name


def export_folder(folder: Path, formats: list[str]) -> dict[str, Any]:
    """``musicmaker export``: write the sessions of the track or album render in ``folder``, then keep its
    manifest true (it lists every output with its hash)."""
    from flows.pipeline.manifest import refresh_files

    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(
            f"{folder}: no such folder; give the folder of a render, e.g. renders/demo-groove"
        )
    album = folder / ALBUM_MANIFEST
    if album.is_file():
        manifest = _read_manifest(album)
        read = AlbumManifest.from_json(manifest)
        session = album_session(folder, read.title or "", read.artist or "", read.tracks)
        manifest_path = album
    else:
        manifest_path = folder / TRACK_MANIFEST
        manifest = _read_manifest(manifest_path)
        try:
            session = track_session(folder, manifest)
        except (KeyError, TypeError, AttributeError) as err:
            raise UserInputError(
                f"{manifest_path}: missing or malformed field {err}; render the folder again"
            ) from None
    written = write_sessions(session, folder, render_slug(manifest, folder), formats)
    refresh_files(manifest_path, [folder / f for f in written["files"]])
    return written
