"""stems.transcription.tracking: the note tracker on hand-made posteriorgrams, then real-music fixtures.

The fixtures in tests/data/transcription/real are 6 s excerpts of bench/real_music.py's report split
(music21 corpus scores rendered by FluidSynth with FluidR3_GM, reverb on; 16 kHz FLAC) with their
reference MIDI, written by ``real_music.write_fixture``.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from stems.audio import Audio, read_audio
from stems.errors import UserInputError
from stems.transcription.midi import Note
from stems.transcription.notes import FFT_HOP, FRAMES_PER_SECOND, MODEL_SAMPLE_RATE
from stems.transcription.settings import BASIC_PITCH_DEFAULTS
from stems.transcription.tracking import Tracking, onset_peaks, track_notes
from stems.transcription.transcriber import get_transcriber, settings_for
from tests.support import paths
from tests.support.bench_scripts import load_bench

REAL = paths.DATA / "transcription" / "real"
PARAMS = Tracking(
    onset_threshold=0.5,
    frame_threshold=0.3,
    min_frames=3,
    rise_weight=0.0,
    release_ratio=0.5,
    release_frames=0,
)


def _posteriors(frames: int = 100) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((frames, 88), dtype=np.float32), np.zeros((frames, 88), dtype=np.float32)


def test_onset_peaks_are_local_maxima_above_threshold() -> None:
    _, onset = _posteriors()
    onset[10:13, 5] = (0.6, 0.9, 0.6)
    onset[40, 5] = 0.4  # below the threshold
    onset[0, 7] = 0.8  # frame 0 counts: a note struck at the very start of a stem
    assert onset_peaks(onset, 0.5).tolist() == [[11, 5], [0, 7]]


def test_a_note_ends_where_its_activation_decays_below_the_release_ratio() -> None:
    note, onset = _posteriors()
    onset[10, 40] = 0.9
    note[10:30, 40] = 0.9
    note[30:60, 40] = 0.4  # a reverb tail above the frame threshold, below half the peak
    ((start, end, pitch, _, _),) = track_notes(note, onset, PARAMS)
    assert (start, end, pitch) == (10, 30, 40)
    # basic-pitch's single frame threshold would have kept the tail: release_ratio 0 does the same
    ((_, end, _, _, _),) = track_notes(note, onset, Tracking(**{**PARAMS.__dict__, "release_ratio": 0.0}))
    assert end == 60


def test_repeated_notes_split_at_each_onset_and_release_frames_shorten() -> None:
    note, onset = _posteriors()
    note[10:70, 40] = 0.9  # one held activation, struck three times
    onset[[10, 30, 50], 40] = 0.9
    shortened = Tracking(**{**PARAMS.__dict__, "release_frames": 2})
    assert [(s, e) for s, e, *_ in track_notes(note, onset, shortened)] == [(10, 28), (30, 48), (50, 68)]


def test_an_onset_without_a_sustained_note_is_no_note_and_rise_finds_soft_attacks() -> None:
    note, onset = _posteriors()
    onset[10, 40] = 0.9  # a click: no activation follows
    note[50:60, 41] = 0.9 * np.sin(np.linspace(0.0, np.pi / 2, 10)) ** 2  # a bowed swell, no onset peak
    note[60:80, 41] = 0.9
    assert track_notes(note, onset, PARAMS) == []
    found = track_notes(note, onset, Tracking(**{**PARAMS.__dict__, "rise_weight": 20.0}))
    assert [(p, s < 60) for s, _, p, _, _ in found] == [(41, True)]


def test_a_weaker_onset_restarts_a_held_pitch_only_after_a_dip_of_its_activation() -> None:
    note, onset = _posteriors()
    note[10:70, 40] = 0.9  # one bow stroke, then a bow change at frame 40: the activation dips, rises again
    note[36:44, 40] = (0.86, 0.82, 0.80, 0.80, 0.82, 0.86, 0.9, 0.9)
    onset[10, 40] = 0.9
    onset[45, 40] = 0.4  # the bow change's onset peak: weak, and late
    note[10:70, 50] = 0.9  # a held note with a vibrato bump in its onset output and no dip
    onset[[10, 45], 50] = (0.9, 0.4)
    reonsets = Tracking(**{**PARAMS.__dict__, "onset_threshold": 0.7, "reonset_threshold": 0.3})
    assert [(s, p) for s, _, p, _, _ in track_notes(note, onset, reonsets)] == [(10, 40), (45, 40), (10, 50)]
    off = Tracking(**{**PARAMS.__dict__, "onset_threshold": 0.7})
    assert [(s, p) for s, _, p, _, _ in track_notes(note, onset, off)] == [(10, 40), (10, 50)]


def _tones_with_known_onsets(seed: int = 7) -> tuple[Audio, list[tuple[float, int]]]:
    """24 harmonic tones (2 ms attack, 0.4 s) after 0.1-0.3 s of silence each, every one at a random
    sub-frame phase; (onset s, MIDI pitch) of each. At the model's own rate, so nothing is resampled."""
    sr, rng = MODEL_SAMPLE_RATE, np.random.default_rng(seed)
    parts, onsets, at = [np.zeros(int(0.3 * sr), np.float32)], [], int(0.3 * sr)
    for pitch in [48, 50, 52, 53, 55, 57, 59, 60, 62, 64, 65, 67] * 2:
        silence = int(rng.uniform(0.1, 0.3) * sr) + int(rng.integers(0, FFT_HOP))
        t = np.arange(int(0.4 * sr)) / sr
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        fade = np.minimum(1.0, np.minimum(t / 0.002, (0.4 - t) / 0.05))
        parts += [np.zeros(silence, np.float32), (0.3 * tone * fade).astype(np.float32)]
        at += silence
        onsets.append((at / sr, pitch))
        at += len(t)
    return Audio(np.concatenate(parts)[None], sr), onsets


def test_onsets_from_the_activation_rise_land_within_a_frame_of_the_sound() -> None:
    """Where the sound starts, not where the note activation steps up: basic-pitch's activation rises about
    a frame before its onset output peaks (its frames are centred windows), and the two-frame backward
    difference puts the rise's peak on the sound (mean -6.8 ms here, the onset output alone -1.4 ms; a
    one-frame difference with plateaus to their first frame, which peaks on the activation's step, gives
    -12.6 ms: more than a frame early). Backtracking is off: this is the tracker's own frame."""
    audio, onsets = _tones_with_known_onsets()
    settings = settings_for("brass", onset_backtrack_ms=0.0)
    assert settings.rise_weight > 0
    notes = get_transcriber().transcribe(audio, "brass", "tones", settings=settings).notes
    errors = np.array([min((n.start - t for n in notes if n.pitch == p), key=abs) for t, p in onsets])
    frame = 1 / FRAMES_PER_SECOND
    assert abs(errors.mean()) < frame, errors
    assert np.all(np.abs(errors) < 2 * frame), errors


def test_a_note_of_exactly_min_frames_is_dropped_as_basic_pitch_drops_it() -> None:
    """basic-pitch's note creation keeps a note longer than ``min_note_len`` frames (``<= min_note_len``
    is skipped); the tracker keeps the same notes."""
    from stems.transcription.notes import ms_to_frames, notes_from_posteriors

    settings = settings_for("piano", min_note_ms=35.0, release_ms=0.0)
    min_frames = ms_to_frames(settings.min_note_ms)
    assert min_frames == 3
    note, onset = _posteriors()
    for pitch, length in ((40, min_frames), (50, min_frames + 1)):
        note[20 : 20 + length, pitch] = 0.9
        onset[20, pitch] = 0.9
    posteriors = {"note": note, "onset": onset, "contour": np.zeros((100, 264), np.float32)}
    for tracking in (True, False):
        notes, _ = notes_from_posteriors(posteriors, dataclasses.replace(settings, note_tracking=tracking))
        assert [n.pitch for n in notes] == [50 + 21], tracking
    found = track_notes(note, onset, Tracking(**{**PARAMS.__dict__, "min_frames": min_frames}))
    assert [(s, e, p) for s, e, p, _, _ in found] == [(20, 24, 50)]


def test_backtracking_stops_at_the_activation_dip_not_up_the_previous_note() -> None:
    from stems.transcription.notes import backtrack_onsets

    frames = np.zeros((40, 88), dtype=np.float32)
    # the previous note's decay, a dip at frame 20, then the new note's rise (its onset peak at 24)
    frames[10:27, 30] = (
        0.9,
        0.88,
        0.86,
        0.84,
        0.82,
        0.8,
        0.78,
        0.76,
        0.74,
        0.72,
        0.7,
        0.71,
        0.72,
        0.75,
        0.8,
        0.85,
        0.9,
    )
    ((start, *_),) = backtrack_onsets([(24, 30, 30 + 21, 0.8, None)], frames, 200.0, 0.2)
    assert start == 20  # the walk's slack lets it climb the previous note's decay; the onset stays at the dip


def test_new_settings_are_checked_and_solo_strings_get_their_own_row() -> None:
    with pytest.raises(UserInputError, match="release_ratio"):
        settings_for("piano", release_ratio=1.5)
    with pytest.raises(UserInputError, match="reonset_threshold"):
        settings_for("cello", reonset_threshold=1.0)
    assert settings_for("cello").reonset_threshold > 0 and settings_for("strings").reonset_threshold == 0
    assert settings_for("violin").monophonic and not settings_for("strings").monophonic
    assert settings_for("strings").note_tracking and not settings_for("string ensemble 1").note_tracking
    assert (
        settings_for("cello").program == 42 and settings_for("violin", monophonic=False).monophonic is False
    )


# Measured on these fixtures (onset F1, with-offset F1: piano 0.958/0.592, quartet 0.829/0.585,
# clarinet 1.0/1.0, bass 1.0/0.8), minus 0.03-0.05; the bass line has 10 notes, one note is 0.1 of its
# F1, so its margin is 0.1.
FIXTURES = {
    "mozart_k545_movement1_exposition_0_0": ("acoustic grand piano", 0.90, 0.54),
    "mozart_k458_movement2_40_0": ("strings", 0.80, 0.56),
    "ryansMammoth_AlbemarleHornpipe_71_0": ("clarinet", 0.95, 0.95),
    "bach_bwv1_6_4__33__12": ("electric bass (finger)", 0.90, 0.70),
}


@functools.cache
def _fixture_scores(name: str) -> tuple[dict[str, float], dict[str, float]]:
    """(ours, basic-pitch defaults) scores of one fixture."""
    score = load_bench("eval_transcription").score
    instrument = FIXTURES[name][0]
    audio = read_audio(REAL / f"{name}.flac")
    midi = pretty_midi.PrettyMIDI(str(REAL / f"{name}.mid"))
    reference = tuple(Note(n.start, n.end, n.pitch, n.velocity) for n in midi.instruments[0].notes)
    ours = get_transcriber().transcribe(audio, instrument, name).notes
    default = get_transcriber().transcribe(audio, instrument, name, settings=BASIC_PITCH_DEFAULTS).notes
    return score(reference, ours), score(reference, default)


def test_fixtures_are_small() -> None:
    assert sum(f.stat().st_size for f in REAL.iterdir()) < 600_000
    assert {f.stem for f in REAL.glob("*.flac")} == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_real_music_fixture_f1_floors(name: str) -> None:
    ours, default = _fixture_scores(name)
    _, onset_floor, offset_floor = FIXTURES[name]
    assert ours["onset_f1"] >= onset_floor, ours
    assert ours["offset_f1"] >= offset_floor, ours
    assert ours["offset_f1"] > default["offset_f1"]  # note lengths: the point of the tracker


def test_a_stem_transcription_block_reaches_the_tracker_settings() -> None:
    from flows.schema.models import Transcription

    asked = {
        "release_ratio": 0.5,
        "release_ms": 30.0,
        "note_tracking": True,
        "rise_weight": 2.0,
        "reonset_threshold": 0.6,
    }
    settings = settings_for("piano", **Transcription(**asked).overrides())
    assert {k: getattr(settings, k) for k in asked} == asked
    for bad in ("release_ratio", "reonset_threshold"):
        with pytest.raises(ValueError, match=bad):
            Transcription(**{bad: 1.0})


def test_the_transcribe_command_gets_the_tracker(tmp_path: Path) -> None:
    """``musicmaker transcribe`` goes through the same rows: the clarinet's note lengths come out right."""
    from flows.cli import main

    name = "ryansMammoth_AlbemarleHornpipe_71_0"
    out = tmp_path / "clarinet.mid"
    assert (
        main(
            ["transcribe", str(REAL / f"{name}.flac"), "--instrument", "clarinet", "-o", str(out), "--quiet"]
        )
        == 0
    )
    reference = pretty_midi.PrettyMIDI(str(REAL / f"{name}.mid")).instruments[0].notes
    written = pretty_midi.PrettyMIDI(str(out)).instruments[0].notes
    score = load_bench("eval_transcription").score
    as_notes = [tuple(Note(n.start, n.end, n.pitch, n.velocity) for n in x) for x in (reference, written)]
    assert score(*as_notes)["offset_f1"] >= FIXTURES[name][2]
