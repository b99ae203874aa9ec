"""Issue 24 point 1: ``musicmaker conform`` puts its output on a grid from 0 s, as a DAW's bar 1, in a process
of its own.

The audio is MIDI rendered by FluidSynth with the GM soundfont, played at 100.5 bpm with a 120 ms lead and
conformed to 96 bpm, so every note-on is known. Where a note went is read off the output file itself (the
first sample above a quarter of the peak), not from the beat tracker's analysis of the output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stems.audio import Audio, read_audio
from stems.conform.apply import MIN_DOWNBEAT_CONFIDENCE
from tests.support.bench_scripts import load_bench

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
pytestmark = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or shutil.which("rubberband") is None or not SOUNDFONT.is_file(),
    reason="needs fluidsynth, the GM soundfont and rubberband-cli (make install)",
)
RATE = 44_100
PLAYED, LEAD, TARGET = 100.5, 0.12, 96.0  # the bass line: 100.5 bpm, 120 ms lead, to 96 bpm
BEAT = 60.0 / TARGET
RATIO = PLAYED / TARGET  # output seconds per input second
CLI = "import sys\nfrom flows.cli import main\nsys.exit(main(sys.argv[1:]))"
HI_WOOD_BLOCK, LOW_WOOD_BLOCK = 76, 77  # GM percussion keys: a DAW metronome's accented and plain click
CRASH = 49  # GM percussion key: crash cymbal 1
MINOR, PROGRESSION = (0, 2, 3, 5, 7, 8, 10), (0, 5, 3, 4)


def note_ons(pickup: int, beats: int = 32) -> np.ndarray:
    return LEAD + np.arange(beats + pickup) * 60.0 / PLAYED


def fluidsynth(midi: Any, path: Path) -> Path:
    mid = path.with_suffix(".mid")
    midi.write(str(mid))
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.5", "-F", str(path), "-r", str(RATE), str(SOUNDFONT), str(mid)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


def click_track(path: Path, pickup: int) -> Path:
    """A metronome on wood blocks (the downbeats on the higher one, louder) after ``pickup`` beats."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=PLAYED)
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    for k, start in enumerate(note_ons(pickup, beats=25)):
        down = (k - pickup) % 4 == 0
        kit.notes.append(
            pretty_midi.Note(
                120 if down else 90, HI_WOOD_BLOCK if down else LOW_WOOD_BLOCK, start, start + 0.05
            )
        )
    midi.instruments.append(kit)
    return fluidsynth(midi, path)


def band(path: Path, pickup: int, chords: bool, beats: int = 32) -> Path:
    """A bass line in A minor (a chord per bar, its root on beats 1 and 3), with piano chords and drums when
    ``chords``; the ``pickup`` beats are a bass E alone. With ``chords`` the bar is marked as a band marks
    it: the bass plays the root on beat 1, harder, and the fifth on beat 3, softer, and a crash cymbal
    opens every other bar."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=PLAYED)
    bass, piano = pretty_midi.Instrument(program=33), pretty_midi.Instrument(program=0)
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    ons = note_ons(pickup, beats)
    for k, (start, end) in enumerate(zip(ons, np.append(ons[1:], ons[-1] + 0.6))):
        j, degree = k - pickup, PROGRESSION[((k - pickup) // 4) % 4]
        if j < 0 or j % 2 == 0:
            fifth = chords and j % 4 == 2
            velocity = 100 if j < 0 or not chords else 75 if fifth else 110
            pitch = 40 if j < 0 else 33 + MINOR[degree] + (7 if fifth else 0)
            bass.notes.append(pretty_midi.Note(velocity, pitch, start, end - 0.03))
        if j >= 0 and chords:
            for step in (0, 2, 4):
                pitch = 57 + MINOR[(degree + step) % 7] + 12 * ((degree + step) // 7)
                piano.notes.append(pretty_midi.Note(85 if j % 4 == 0 else 60, pitch, start, end - 0.02))
            kit.notes.append(
                pretty_midi.Note(110 if j % 4 == 0 else 80, 36 if j % 2 == 0 else 38, start, start + 0.1)
            )
            if j % 8 == 0:
                kit.notes.append(pretty_midi.Note(100, CRASH, start, start + 0.5))
    midi.instruments += [bass] + ([piano, kit] if chords else [])
    return fluidsynth(midi, path)


def conform(audio: Path, *flags: str) -> tuple[dict[str, Any], Audio]:
    """``musicmaker conform AUDIO --bpm 96 --json`` in a process of its own: its report and its output."""
    out = audio.with_name(audio.stem + ".96" + "".join(flags) + ".wav")
    argv = ["conform", str(audio), "--bpm", f"{TARGET:g}", "-o", str(out), "--json", *flags]
    done = subprocess.run([sys.executable, "-c", CLI, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), read_audio(out)


def first_sound(audio: Audio) -> float:
    """Seconds to the first sample above a quarter of the peak."""
    level = np.abs(audio.samples).max(axis=0)
    return float(np.argmax(level >= 0.25 * level.max()) / audio.sample_rate)


def off_grid_ms(times: np.ndarray) -> np.ndarray:
    return 1000.0 * (times - np.round(times / BEAT) * BEAT)


def test_every_click_of_a_click_track_with_a_lead_in_and_a_pickup_lands_within_5_ms_of_k_beats(
    tmp_path: Path,
) -> None:
    """The issue's test. The woodblock's clicks are read back with ``bench/conform.py``'s ``click_times`` (where
    the waveform rises through a quarter of its peak). Its attacks are clean, so the tracker measures their lag
    (``beats.attack_latency``) instead of taking ``beats.LATENCY``, which is fitted on music and left every click
    13-18 ms late."""
    click_times = load_bench("conform").click_times
    path = click_track(tmp_path / "clicks.wav", pickup=1)
    played = click_times(read_audio(path))
    assert len(played) == 26 and np.max(np.abs(played - note_ons(1, beats=25))) < 0.006
    report, out = conform(path)
    clicks = click_times(out)
    assert len(clicks) == 26, f"{len(clicks)} clicks in the output, 26 played: the pickup was cut"
    errors = off_grid_ms(clicks)
    assert np.max(np.abs(errors)) < 5.0, errors  # measured: within 2.3 ms, 0.7 ms on average
    assert report["grid_origin"] == 0.0 and "(bar 1 at 0.000 s)" in report["reason"], report["reason"]
    kept, old = conform(path, "--keep-lead-in")  # as before issue 24: bar 1 right after the lead-in
    assert np.max(np.abs(off_grid_ms(click_times(old)))) > 50.0  # measured: 115 ms
    assert "right after the input's lead-in" in kept["reason"]


def test_clean_attacks_have_their_latency_measured_and_music_that_rings_keeps_the_fitted_one(
    tmp_path: Path,
) -> None:
    """``beats.attack_latency`` given onset envelope peaks 12 ms after each note-on: on the click track, the
    woodblock's rise (within 6 ms of its note-on) is found; on a band whose piano and bass ring into the next
    beat: None, so ``beats.LATENCY`` (fitted on the tuning pieces, none of which has clean attacks:
    bench/conform.py's figures are unchanged) is used."""
    from stems.conform.analysis import ANALYSIS_RATE
    from stems.conform.beats import attack_latency
    from stems.streaming import as_signal

    def measured(path: Path, pickup: int, beats: int) -> float | None:
        return attack_latency(as_signal(read_audio(path), ANALYSIS_RATE), note_ons(pickup, beats) + 0.012)

    lag = measured(click_track(tmp_path / "clicks.wav", pickup=1), 1, 25)
    assert lag is not None and abs(lag - 0.012) < 0.006, lag
    assert measured(band(tmp_path / "band.wav", pickup=0, chords=True), 0, 32) is None


def test_a_bass_line_with_a_lead_in_starts_on_the_grid_at_0_s(tmp_path: Path) -> None:
    """The issue's case: a bass line at 100.5 bpm with a 120 ms lead, to 96 bpm. Its first note (bar 1 beat 1)
    goes to 0 s; with --keep-lead-in to 0.115 s, a fifth of a beat off every grid line, as before."""
    path = band(tmp_path / "bass.wav", pickup=0, chords=False)
    attack = first_sound(read_audio(path)) - LEAD  # the sample's own attack, note-on to a quarter of its peak
    report, out = conform(path)
    assert abs(first_sound(out) - attack * RATIO) < 0.005, (first_sound(out), attack)
    assert "first downbeat at 0.000 s" in report["reason"], report["reason"]
    after = np.array(report["after"]["beats"])
    assert np.max(np.abs(off_grid_ms(after))) < 15.0 and abs(after[0]) < 0.015
    _, old = conform(path, "--keep-lead-in")
    assert abs(first_sound(old) - attack * RATIO - LEAD * RATIO) < 0.01


def test_a_band_with_a_one_beat_pickup_has_it_before_the_bar_line_at_one_bar(tmp_path: Path) -> None:
    """Bass, piano and drums after a one-beat bass pickup, 12 bars with the bar marked (``band``): the downbeat
    is sure, so it goes to the first bar line with room for the pickup (2.5 s at 96 bpm 4/4) and the pickup note
    sounds a beat before it, not cut. Without the marking (the root on beats 1 and 3 alike, no crash, 8 bars)
    the downbeat confidence was 0.30, at ``MIN_DOWNBEAT_CONFIDENCE``; marked, 0.59."""
    path = band(tmp_path / "pickup.wav", pickup=1, chords=True, beats=48)
    attack = first_sound(read_audio(path)) - LEAD
    report, out = conform(path)
    assert report["before"]["downbeat_confidence"] >= MIN_DOWNBEAT_CONFIDENCE + 0.1, report["before"]
    reason = report["reason"]
    assert "first downbeat at 2.500 s, bar 2 of the grid (bar 1 at 0.000 s)" in reason, reason
    assert "1-beat pickup from 1.875 s" in reason, reason
    # 15 ms: the tracker's beats on this band sit ~10 ms off its note-ons (measured 10.7 ms; the bass alone 1 ms)
    assert abs(first_sound(out) - (4 * BEAT - BEAT) - attack * RATIO) < 0.015, first_sound(out)
    assert report["after"]["downbeat"] == pytest.approx(4 * BEAT, abs=0.015)
    assert np.max(np.abs(off_grid_ms(np.array(report["after"]["beats"])))) < 15.0
