"""The score in a render (flows.pipeline.score): which condition each stem gets, the chroma the model is fed
from a part (frame by frame, through the debug melody model's real window loop), parts written as MIDI, sketch
stems played by FluidSynth, and the chords in the track's MIDI file."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from flows.pipeline import adherence as measured
from flows.pipeline import generation, score, stages
from flows.pipeline.paths import RenderPaths
from flows.schema import Arrangement, parse_arrangement
from flows.schema.score import arrangement_score
from stems.score import adherence, frame_times

HEAD = "title: T\nbpm: 120\nkey: A minor\nduration: 24\nseed: 3\n"
CHART = 'chords: "Am | F | C/E | G7"\n'
STEMS = (
    "stems:\n"
    "  - {name: keys, prompt: soft piano, model: debug-melody, midi: keys}\n"
    "  - {name: bass, prompt: round bass, model: debug-melody, midi: bass}\n"
    "  - {name: drums, prompt: kit, model: debug-melody, midi: drums}\n"
    "  - {name: plain, prompt: pad, model: debug-stereo, midi: pad}\n"
    "  - {name: unguided, prompt: strings, model: debug-melody, midi: strings, guide: false}\n"
)


def _arrangement(tmp_path: Path, body: str) -> Arrangement:
    path = tmp_path / "song.yaml"
    path.write_text(body)
    return parse_arrangement(body, path)


def test_each_stem_gets_the_condition_the_rules_give(tmp_path: Path) -> None:
    song = _arrangement(tmp_path, HEAD + CHART + STEMS)
    sources = {s.name: score.guide_source(song, s, song.stem_model(s).endswith("melody")) for s in song.stems}
    assert sources == {"keys": "part", "bass": "part", "drums": None, "plain": None, "unguided": None}
    without_chords = _arrangement(tmp_path, HEAD + STEMS)
    assert all(score.guide_source(without_chords, s, True) is None for s in without_chords.stems)


def test_the_manifest_names_follow_and_melody_before_the_part(tmp_path: Path) -> None:
    (tmp_path / "m.mid").write_bytes((Path("arrangements/melodies/theme.mid")).read_bytes())
    body = (
        HEAD
        + CHART
        + "stems:\n"
        + "  - {name: keys, prompt: p, model: debug-melody, midi: keys}\n"
        + "  - {name: bass, prompt: p, model: debug-melody, midi: bass, follow: keys}\n"
        + "  - {name: lead, prompt: p, model: debug-melody, midi: lead, melody: m.mid}\n"
    )
    song = _arrangement(tmp_path, body)
    assert [score.guide_source(song, s, True) for s in song.stems] == ["part", "follow", "melody"]


def _fed_chroma(
    song: Arrangement, stem: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[np.ndarray, np.ndarray]:
    """The one-hot chroma the debug melody model receives for ``stem``, window by window (what
    ``stems.musicgen.windows`` hands ``build_conditions``), joined on the stem's time line."""
    from stems.musicgen import windows
    from stems.musicgen.generator import get_generator
    from stems.musicgen.plan import MUSICGEN_WINDOW_S

    seen: list[tuple[float, np.ndarray]] = []
    original = windows._window_chroma

    def spy(jobs, start, device):  # type: ignore[no-untyped-def]
        chroma = original(jobs, start, device)
        seen.append((start, chroma[0].numpy().copy()))
        return chroma

    monkeypatch.setattr(windows, "_window_chroma", spy)
    generator = get_generator("debug-melody")
    (request,) = generation.build_requests(song, [stem], None, generator.takes_melody)
    assert request.guide is not None and request.melody is None
    generator.generate([request], generation.sampling_params(song))
    frames: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for start, chroma in seen:  # each window's chroma; later windows overlap earlier ones: keep new frames
        t = frame_times(len(chroma), start)
        keep = t >= (times[-1][-1] + 1e-6 if times else -1.0)
        frames.append(chroma[keep])
        times.append(t[keep])
        assert MUSICGEN_WINDOW_S >= t[-1] - start
    return np.concatenate(frames), np.concatenate(times)


@pytest.mark.slow
@pytest.mark.parametrize(("stem", "bass_floor"), [("keys", None), ("bass", 0.90)])
def test_the_chroma_fed_to_the_model_lands_on_the_planned_chord(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str, bass_floor: float | None
) -> None:
    song = _arrangement(tmp_path, HEAD.replace("duration: 24", "duration: 40") + CHART + STEMS)
    chroma, times = _fed_chroma(song, stem, monkeypatch)
    planned = arrangement_score(song)
    assert planned is not None and times[-1] > 35.0  # two windows at least
    part = score.stem_part(song, song.stem(stem))
    assert part is not None
    voiced = np.array([any(n.start <= t < n.end for n in part.notes) for t in times])
    measured = adherence(chroma, times, voiced, planned)
    assert measured.frames > 200
    assert measured.chord_fraction >= 0.95
    if bass_floor is not None:
        assert measured.bass_fraction >= bass_floor
    # the control: the same chroma against a chart a tritone away misses
    shifted = _arrangement(tmp_path, (HEAD + 'chords: "D#m | B | F#/A# | C#7"\n' + STEMS).replace("24", "40"))
    other = arrangement_score(shifted)
    assert other is not None
    assert adherence(chroma, times, voiced, other).chord_fraction < 0.5


def test_a_guided_stem_is_keyed_by_its_part(tmp_path: Path) -> None:
    song = _arrangement(tmp_path, HEAD + CHART + STEMS)
    changed = _arrangement(tmp_path, HEAD + 'chords: "Am | F | C/E | E7"\n' + STEMS)
    paths = RenderPaths(tmp_path / "out", "t")
    key = generation.generation_key(song, song.stem("keys"), "debug-melody", paths, True)
    assert key != generation.generation_key(changed, changed.stem("keys"), "debug-melody", paths, True)
    plain = generation.generation_key(song, song.stem("plain"), "debug-stereo", paths, False)
    assert plain == generation.generation_key(changed, changed.stem("plain"), "debug-stereo", paths, False)


def test_parts_are_written_for_every_stem_with_an_instrument(tmp_path: Path) -> None:
    song = _arrangement(tmp_path, HEAD + CHART + STEMS.replace("midi: strings", "midi: false"))
    paths = RenderPaths(tmp_path / "out", "t")
    written = score.write_parts(song, list(song.stems), paths)
    assert sorted(written) == ["bass", "drums", "keys", "plain"]
    bass = mido.MidiFile(str(written["bass"]))
    pitches = [m.note for t in bass.tracks for m in t if m.type == "note_on" and m.velocity]
    assert {p % 12 for p in pitches[:4]} == {9}  # Am: A on the first bar's beats
    drums = mido.MidiFile(str(written["drums"]))
    assert {m.channel for t in drums.tracks for m in t if m.type == "note_on"} == {9}


def test_the_track_midi_carries_block_chords_and_a_marker_per_chord_as_played(tmp_path: Path) -> None:
    song = _arrangement(tmp_path, HEAD + 'chords: "D | D | Em/G A7"\n' + STEMS)
    paths = RenderPaths(tmp_path / "out", "t")
    stages.write_track_midi(song, [], paths)
    midi = mido.MidiFile(str(paths.track_midi))
    markers = [m.text for m in midi.tracks[0] if m.type == "marker"]
    planned = arrangement_score(song)
    assert planned is not None
    assert markers == [c.symbol for c in planned.chords]
    assert markers[:4] == ["D", "D", "Em/G", "A7"]  # a bar of D then a bar of D: two markers
    (chords,) = [t for t in midi.tracks if any(m.type == "track_name" and m.name == "chords" for m in t)]
    tick, first = 0, set()
    for message in chords:
        tick += message.time
        if tick == 0 and message.type == "note_on" and message.velocity:
            first.add(message.note % 12)
    assert first == {2, 6, 9}  # the first chord, D major: its tones (the bass D among them)


@pytest.mark.slow
def test_a_sketch_stem_plays_its_part_on_the_grid(tmp_path: Path) -> None:
    body = (
        HEAD + CHART + "stems:\n  - {name: keys, prompt: piano, model: sketch, midi: acoustic grand piano}\n"
    )
    song = _arrangement(tmp_path, body)
    paths = RenderPaths(tmp_path / "out", "t")
    job = generation.GenerationJob(song, paths, ("keys",))
    (records,) = generation.generate_jobs("sketch", [job])
    record = records["keys"]
    assert record.model == "sketch" and record.reused is False
    again = generation.generate_jobs("sketch", [job])[0]["keys"]
    assert again.reused is True  # cached by the part's content
    clean = stages.clean_stem(song, song.stem("keys"), paths)
    assert clean.cleaned is False and clean.skipped is not None and "sketch" in clean.skipped
    conformed = stages.conform_stem(song, song.stem("keys"), paths)
    assert conformed.applied is False and "already on the grid" in (conformed.reason or "")
    from stems.audio import read_audio

    audio = read_audio(paths.stem("keys"))
    planned = arrangement_score(song)
    assert planned is not None
    fraction, counted = measured.on_chord(audio, song, planned)
    assert counted >= 40 and fraction is not None and fraction >= 0.85


def test_sketch_stems_are_licensed_by_their_soundfont_and_pass_commercial_use(tmp_path: Path) -> None:
    from flows.pipeline.licenses import licenses
    from flows.schema import SchemaError, load_arrangement

    body = (
        HEAD
        + CHART
        + "commercial_use: true\nstems:\n  - {name: keys, prompt: p, model: sketch, midi: piano}\n"
    )
    (tmp_path / "song.yaml").write_text(body)
    song = load_arrangement(tmp_path / "song.yaml")
    assert licenses(song).generation == {"sketch": "MIT"}
    (tmp_path / "nc.yaml").write_text(body.replace("model: sketch", "model: facebook/musicgen-melody"))
    with pytest.raises(SchemaError) as refused:  # the control: a MusicGen checkpoint is refused
        load_arrangement(tmp_path / "nc.yaml")
    assert "CC-BY-NC-4.0" in str(refused.value)


@pytest.mark.parametrize(("chart", "agrees"), [("Am | F | C | G", True), ("F# | C#m | B | D#m", False)])
def test_a_melody_the_chart_contradicts_is_measured_and_the_report_says_so(
    tmp_path: Path, chart: str, agrees: bool
) -> None:
    from flows.pipeline.records import ScoreRecord, TrackManifest
    from flows.report.track import MELODY_AGREES, chords_section

    (tmp_path / "theme.mid").write_bytes(Path("arrangements/melodies/theme.mid").read_bytes())
    body = HEAD.replace("duration: 24", "duration: 16") + f'chords: "{chart}"\nmelody: theme.mid\n'
    song = _arrangement(tmp_path, body + "stems:\n  - {name: lead, prompt: p, model: sketch, midi: lead}\n")
    planned = arrangement_score(song)
    assert planned is not None
    fraction = measured.melody_on_chord(song, planned)
    assert fraction is not None and (fraction >= 0.7 if agrees else fraction < 0.3), fraction
    record = ScoreRecord(chords=(), parts={}, melody_on_chord=fraction)
    page = chords_section(TrackManifest.from_json({"score": record.to_json()}))
    assert ("contradicts the chord chart" in page) is (fraction < MELODY_AGREES)
