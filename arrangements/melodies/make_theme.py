"""Writes the demo's melody, an 8-bar A-minor phrase at 120 bpm (16 s), twice: theme.flac (additive synth,
32 kHz mono; the MusicGen examples' melody audio) and theme.mid (the same notes, one track; the sketch demo's
lead plays it over the chord chart).

Run from the repo root: `.venv/bin/python arrangements/melodies/make_theme.py`. Both files are committed so the
demos need no step before rendering; this script documents exactly what they hold.
"""

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 32000
BEAT = 0.5  # seconds per beat at 120 bpm
# (MIDI pitch, beats): A minor - F - C - G outline
PHRASE = [(69, 1), (72, 1), (76, 2), (77, 1), (76, 1), (72, 2), (72, 1), (74, 1), (76, 2), (74, 1), (71, 1),
          (67, 2), (69, 2), (72, 2), (76, 1), (74, 1), (72, 2), (71, 1), (72, 1), (74, 2), (71, 2), (69, 2)]


def note(pitch: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k**1.5 for k in range(1, 6))
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-2.0 * t) * np.minimum(1.0, (seconds - t) / 0.02)
    return tone * envelope


def write_midi(path: Path) -> None:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=60 / BEAT)
    lead = pretty_midi.Instrument(program=80, name="theme")  # GM 81, Lead 1 (square)
    start = 0.0
    for pitch, beats in PHRASE:
        lead.notes.append(pretty_midi.Note(96, pitch, start, start + beats * BEAT * 0.95))
        start += beats * BEAT
    midi.instruments.append(lead)
    midi.write(str(path))


def main() -> None:
    audio = np.concatenate([note(p, b * BEAT) for p, b in PHRASE])
    audio = 0.5 * audio / np.abs(audio).max()
    sf.write(Path(__file__).with_name("theme.flac"), audio.astype(np.float32), RATE, subtype="PCM_16")
    write_midi(Path(__file__).with_name("theme.mid"))


if __name__ == "__main__":
    main()
