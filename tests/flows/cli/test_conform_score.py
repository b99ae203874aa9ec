"""Issue 24 point 2: ``musicmaker conform AUDIO --score FILE.mid`` in a process of its own.

A Bach chorale on a string ensemble (the beat tracker's weak spot) played by FluidSynth 6 % slow with a 150 ms
lead, and its score as a MIDI file at the written tempo: the output, aligned to the score again, has its notes
where the score puts them, and its length is the time map's end. Bad input ends as an error, nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stems.audio import read_audio, write_wav
from stems.conform.analysis import ANALYSIS_RATE
from stems.conform.scored import score_map
from stems.score import read_midi_score
from stems.streaming import as_signal
from stems.transcription.midi import NoteTrack, TempoMap, write_midi
from tests.support.bench_scripts import load_bench

pytestmark = pytest.mark.slow
CLI = "import sys\nfrom flows.cli import main\nsys.exit(main(sys.argv[1:]))"
BPM = 88.0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def chorale(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the performance as a WAV, its score as a MIDI file at the written tempo)."""
    bench = load_bench("conform")
    folder = tmp_path_factory.mktemp("chorale")
    piece = bench.Piece("bach/bwv269", BPM, "strings", (48, 48, 49, 48))
    ex = bench.excerpt(piece, 20.0)
    perf = bench.Performance(BPM, 0.94, 0.0, 0.15, ex.quarters)
    wav, mid = folder / "strings.wav", folder / "strings.mid"
    write_wav(wav, bench.play(piece, ex, perf.time))
    notes = tuple(bench.notes_at(piece, ex))
    write_midi(mid, [NoteTrack("strings", "strings", 48, False, notes)], TempoMap(BPM))
    return wav, mid


def test_conform_to_a_midi_score_puts_each_note_on_the_score_s_grid(
    chorale: tuple[Path, Path], tmp_path: Path
) -> None:
    wav, mid = chorale
    out = tmp_path / "on-grid.wav"
    done = _run("conform", str(wav), "--score", str(mid), "--instrument", "strings", "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["applied"] and "aligned to the part" in result["reason"], result["reason"]
    conformed = read_audio(out)
    notes = read_midi_score(mid).notes(BPM)
    again = score_map(
        as_signal(conformed, ANALYSIS_RATE), conformed.duration, notes, family="strings"
    ).alignment
    error = np.abs(again.audio - again.score)
    assert np.median(error) <= 0.03 and np.mean(error <= 0.05) >= 0.7, np.round(error, 3)
    source = read_audio(wav)
    assert conformed.duration == pytest.approx(
        source.duration * 0.94, abs=0.3
    )  # 6 % slow played, on the grid


def test_bpm_scales_the_score_s_grid(chorale: tuple[Path, Path], tmp_path: Path) -> None:
    """``--bpm`` other than the score's: beat b of the score goes to b x 60 / bpm."""
    wav, mid = chorale
    out = tmp_path / "faster.wav"
    done = _run("conform", str(wav), "--score", str(mid), "--bpm", "110", "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    conformed = read_audio(out)
    notes = read_midi_score(mid).notes(110.0)
    again = score_map(
        as_signal(conformed, ANALYSIS_RATE), conformed.duration, notes, family="strings"
    ).alignment
    assert np.median(np.abs(again.audio - again.score)) <= 0.04


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--score", "{folder}/missing.mid"), "score MIDI file not found"),
        (("--score", "{wav}"), "cannot read it as a MIDI file"),
        ((), "needs --bpm"),
        (("--score", "{mid}", "--keep-lead-in"), "--keep-lead-in is for conforming by beats"),
    ],
)
def test_bad_score_input_is_an_error_and_writes_nothing(
    chorale: tuple[Path, Path], tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    wav, mid = chorale
    out = tmp_path / "out.wav"
    filled = [a.format(folder=tmp_path, wav=wav, mid=mid) for a in args]
    done = _run("conform", str(wav), *filled, "-o", str(out))
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
