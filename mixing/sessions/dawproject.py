"""DAWproject 1.0 (Bitwig Studio, Studio One, Cubase): a zip of project.xml, metadata.xml and the audio.

The XML follows the format's published schemas (``Project.xsd``, ``MetaData.xsd`` in the bitwig/dawproject
repository; the tests validate against copies of them) and the structure of Bitwig Studio's own export: one
Track with a Channel per stem routed to the master Channel, the arrangement's Lanes in beats (quarter notes),
audio clips as Warps from beats to the file's seconds, notes with velocities 0-1, cue Markers in beats.
Volumes are linear gains (as Bitwig writes them), pan is normalized (0 left, 0.5 centre, 1 right).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from mixing.sessions.model import AudioTrack, MidiTrack, Session, db_to_linear, family_color, one_line
from stems.audio import AtomicWriter

FORMAT_VERSION = "1.0"
AUDIO_DIR = "audio"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed entry dates: the same render gives the same bytes
_ZIP_MODE = 0o100644 << 16


def _num(value: float) -> str:
    return repr(round(float(value), 9))


class _Ids:
    """xs:ID values: NCNames unique in the document."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"id{self.count}"


def _channel(
    parent: ET.Element,
    ids: _Ids,
    role: str,
    gain_db: float,
    pan: float,
    mute: bool,
    solo: bool,
    channels: int,
    destination: str | None,
) -> ET.Element:
    attrs = {"audioChannels": str(channels), "role": role, "solo": "true" if solo else "false", "id": ids()}
    if destination:
        attrs["destination"] = destination
    channel = ET.SubElement(parent, "Channel", attrs)
    ET.SubElement(channel, "Mute", value="true" if mute else "false", id=ids(), name="Mute")
    ET.SubElement(
        channel,
        "Pan",
        max="1.0",
        min="0.0",
        unit="normalized",
        value=_num((pan + 1.0) / 2.0),
        id=ids(),
        name="Pan",
    )
    volume = db_to_linear(gain_db)  # the mix may raise a quiet stem past a fader's usual +6 dB: kept as is
    ET.SubElement(
        channel,
        "Volume",
        max=_num(max(2.0, volume)),
        min="0.0",
        unit="linear",
        value=_num(volume),
        id=ids(),
        name="Volume",
    )
    return channel


def _track(
    structure: ET.Element, ids: _Ids, name: str, color: str, content: str, comment: str = ""
) -> ET.Element:
    attrs = {"contentType": content, "loaded": "true", "id": ids(), "name": one_line(name), "color": color}
    if comment:
        attrs["comment"] = one_line(comment)
    return ET.SubElement(structure, "Track", attrs)


def _audio_clip(lanes: ET.Element, ids: _Ids, session: Session, track: AudioTrack) -> None:
    clip, tempo = track.clip, session.tempo
    beats = _num(tempo.beats(clip.length))
    clips = ET.SubElement(lanes, "Clips", id=ids())
    element = ET.SubElement(
        clips,
        "Clip",
        time=_num(tempo.beats(clip.start)),
        duration=beats,
        contentTimeUnit="beats",
        playStart="0.0",
        name=one_line(track.name),
    )
    warps = ET.SubElement(element, "Warps", contentTimeUnit="seconds", timeUnit="beats", id=ids())
    audio = ET.SubElement(
        warps,
        "Audio",
        algorithm="stretch",
        channels=str(clip.channels),
        duration=_num(clip.length),
        sampleRate=str(clip.sample_rate),
        id=ids(),
    )
    ET.SubElement(audio, "File", path=f"{AUDIO_DIR}/{clip.name}")
    ET.SubElement(warps, "Warp", time="0.0", contentTime="0.0")
    ET.SubElement(warps, "Warp", time=beats, contentTime=_num(clip.length))


def _note_clip(lanes: ET.Element, ids: _Ids, session: Session, track: MidiTrack) -> None:
    tempo = session.tempo
    clips = ET.SubElement(lanes, "Clips", id=ids())
    element = ET.SubElement(
        clips,
        "Clip",
        time=_num(tempo.beats(track.start)),
        duration=_num(tempo.beats(track.length)),
        playStart="0.0",
        name=one_line(track.name),
    )
    notes = ET.SubElement(element, "Notes", id=ids())
    for note in track.notes:
        ET.SubElement(
            notes,
            "Note",
            time=_num(tempo.beats(note.start)),
            duration=_num(tempo.beats(note.end - note.start)),
            channel=str(track.channel),
            key=str(note.pitch),
            vel=_num(note.velocity / 127.0),
            rel=_num(note.velocity / 127.0),
        )
    if not track.is_drum:  # GM drums take no program; a melodic track's program is a programChange point at 0
        points = ET.SubElement(lanes, "Points", id=ids())
        ET.SubElement(points, "Target", expression="programChange", channel=str(track.channel))
        ET.SubElement(points, "IntegerPoint", time="0.0", value=str(track.program))


def project_xml(session: Session) -> bytes:
    """``project.xml`` of ``session``."""
    ids = _Ids()
    project = ET.Element("Project", version=FORMAT_VERSION)
    ET.SubElement(project, "Application", name="musicmaker", version=_version())
    transport = ET.SubElement(project, "Transport")
    ET.SubElement(
        transport,
        "Tempo",
        max="666.0",
        min="20.0",
        unit="bpm",
        value=_num(session.tempo.quarter_bpm),
        id=ids(),
        name="Tempo",
    )
    ET.SubElement(
        transport,
        "TimeSignature",
        denominator=str(session.tempo.denominator),
        numerator=str(session.tempo.numerator),
        id=ids(),
    )
    structure = ET.SubElement(project, "Structure")
    master_track = _track(structure, ids, "Master", "#ffffff", "audio notes")
    master = _channel(master_track, ids, "master", session.master_gain_db, 0.0, False, False, 2, None)
    lanes_of: list[tuple[str, AudioTrack | MidiTrack]] = []
    for track in [*session.audio, *([session.reference] if session.reference else [])]:
        element = _track(structure, ids, track.name, track.color, "audio", track.comment)
        _channel(
            element, ids, "regular", track.gain_db, track.pan, track.mute, track.solo, 2, master.get("id")
        )
        lanes_of.append((element.get("id", ""), track))
    for midi in session.midi:
        element = _track(structure, ids, midi.name, midi.color, "notes", _program_comment(midi))
        _channel(element, ids, "regular", 0.0, 0.0, False, False, 2, master.get("id"))
        lanes_of.append((element.get("id", ""), midi))
    arrangement = ET.SubElement(project, "Arrangement", id=ids())
    lanes = ET.SubElement(arrangement, "Lanes", timeUnit="beats", id=ids())
    for track_id, content in lanes_of:
        lane = ET.SubElement(lanes, "Lanes", track=track_id, id=ids())
        if isinstance(content, AudioTrack):
            _audio_clip(lane, ids, session, content)
        else:
            _note_clip(lane, ids, session, content)
    if session.markers:  # the schema wants at least one Marker in a Markers
        markers = ET.SubElement(arrangement, "Markers", id=ids())
        for marker in session.markers:
            ET.SubElement(
                markers,
                "Marker",
                time=_num(session.tempo.beats(marker.seconds)),
                name=one_line(marker.name),
                color=family_color(None),
            )
    ET.SubElement(project, "Scenes")
    return _bytes(project)


def metadata_xml(session: Session) -> bytes:
    meta = ET.Element("MetaData")
    ET.SubElement(meta, "Title").text = one_line(session.title)
    if session.artist:
        ET.SubElement(meta, "Artist").text = one_line(session.artist)
    rendered = one_line(session.provenance) if session.provenance else "Rendered by musicmaker."
    ET.SubElement(meta, "Comment").text = rendered + "".join(f" {one_line(n)}" for n in session.notes)
    return _bytes(meta)


def write_dawproject(session: Session, path: Path) -> Path:
    """Write ``session`` to ``path`` atomically, its audio embedded under ``audio/``, byte-deterministic."""
    clips = [t.clip for t in [*session.audio, *([session.reference] if session.reference else [])]]
    with AtomicWriter(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "project.xml", project_xml(session))
        _add(zf, "metadata.xml", metadata_xml(session))
        for clip in clips:
            info = _info(
                f"{AUDIO_DIR}/{clip.name}", zipfile.ZIP_STORED
            )  # PCM barely deflates; storing is fast
            with open(clip.file, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    return Path(path)


def _info(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compress
    info.create_system = 3
    info.external_attr = _ZIP_MODE
    return info


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    zf.writestr(_info(name, zipfile.ZIP_DEFLATED), data)


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _program_comment(track: MidiTrack) -> str:
    if track.is_drum:
        return "GM drums, channel 10"
    return f"GM program {track.program + 1}"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("musicmaker")
    except metadata.PackageNotFoundError:
        return "0"
