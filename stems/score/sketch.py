"""A part rendered by FluidSynth with a General MIDI soundfont: hear the harmony and form in seconds.

No neural network: the part's MIDI (the instrument's GM program, its velocities, drums on channel 10) is
played by the ``fluidsynth`` command line at its defaults (reverb and chorus on, as FluidR3_GM is heard
everywhere else here: ``bench/eval_transcription.py``) into a 32-bit float WAV, so nothing clips whatever the
gain. The stem's pan goes into the file as MIDI controller 10 (the synth pans each voice, as a GM module
does); its gain is applied to the samples afterwards, in dB. FluidSynth renders at 8-96 kHz; another rate
is rendered at 48 kHz and converted (:func:`stems.audio.convert_audio`), as are the channels.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from stems.audio import Audio, convert_audio, read_audio
from stems.errors import MusicmakerError, UserInputError
from stems.licenses import License
from stems.score.parts import Part
from stems.score.timeline import Score
from stems.transcription.midi import write_midi

SKETCH_MODEL = "sketch"  # a stem's `model:` that plays its part here instead of generating it
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian's fluid-soundfont-gm
# What a sketch is made with: FluidR3_GM by Frank Wen, MIT (Debian's fluid-soundfont-gm copyright file).
SKETCH_LICENSE = License("MIT", "the FluidR3_GM soundfont (Debian fluid-soundfont-gm), played by FluidSynth")
FLUIDSYNTH = "fluidsynth"
INSTALL_HINT = (
    "`make install` installs it with the other Debian packages, or run `sudo apt-get install fluidsynth "
    "fluid-soundfont-gm`"
)
FLUIDSYNTH_RATES = (8_000, 96_000)  # the synth's sample-rate setting range
FALLBACK_RATE = 48_000
SYNTH_GAIN = 0.5  # fluidsynth -g, as bench/eval_transcription.py renders (its default 0.2 is quiet)
PAN_CONTROLLER = 10  # MIDI 1.0 Control Change 10: pan, 0 left, 64 centre, 127 right
RENDER_TIMEOUT_S = 600


class SketchUnavailableError(UserInputError):
    """FluidSynth or the GM soundfont is missing."""


def check_sketch_tools(soundfont: Path = SOUNDFONT) -> None:
    """Raise :class:`SketchUnavailableError` saying what to install when a sketch cannot be rendered."""
    if shutil.which(FLUIDSYNTH) is None:
        raise SketchUnavailableError(
            f"model: sketch needs the fluidsynth command, which is not installed; {INSTALL_HINT}"
        )
    if not soundfont.is_file():
        raise SketchUnavailableError(
            f"model: sketch needs the General MIDI soundfont {soundfont}, which is missing; {INSTALL_HINT}"
        )


def pan_value(pan: float) -> int:
    """-1 (left) .. 1 (right) as the controller's 0 .. 127, 64 in the centre."""
    if not -1.0 <= pan <= 1.0:
        raise UserInputError(f"pan {pan!r} is out of range; use -1 (left) to 1 (right)")
    return int(min(127, max(0, round(64 + 63.5 * pan))))


def render_part(
    part: Part,
    score: Score,
    sample_rate: int,
    channels: int,
    *,
    pan: float = 0.0,
    gain_db: float = 0.0,
    soundfont: Path = SOUNDFONT,
) -> Audio:
    """The part as audio, exactly ``score.duration`` long, at ``sample_rate`` with ``channels``."""
    check_sketch_tools(soundfont)
    rate = sample_rate if FLUIDSYNTH_RATES[0] <= sample_rate <= FLUIDSYNTH_RATES[1] else FALLBACK_RATE
    with tempfile.TemporaryDirectory(prefix="musicmaker-sketch-") as tmp:
        midi = Path(tmp) / f"{part.stem}.mid"
        write_midi(midi, [part.track()], score.tempo)
        _set_pan(midi, pan_value(pan))
        audio = render_midi(midi, rate, Path(tmp) / "sketch.wav", soundfont)
    audio = convert_audio(audio, sample_rate, channels).fitted(round(score.duration * sample_rate))
    return Audio(audio.samples * np.float32(10 ** (gain_db / 20)), sample_rate)


def _set_pan(path: Path, value: int) -> None:
    """Put a pan controller at the start of every note track (after the program change)."""
    import mido

    midi = mido.MidiFile(str(path))
    for track in midi.tracks[1:]:
        channels = {m.channel for m in track if not m.is_meta}
        position = 1 + next((i for i, m in enumerate(track) if m.type == "program_change"), 0)
        for channel in sorted(channels):
            track.insert(
                position, mido.Message("control_change", channel=channel, control=PAN_CONTROLLER, value=value)
            )
    midi.save(str(path))


def render_midi(midi: Path, sample_rate: int, wav: Path, soundfont: Path = SOUNDFONT) -> Audio:
    """A MIDI file played by the fluidsynth CLI into ``wav`` (float) and read back."""
    check_sketch_tools(soundfont)
    command = [FLUIDSYNTH, "-ni", "-q", "-g", str(SYNTH_GAIN), "-O", "float", "-T", "wav", "-F", str(wav)]
    command += ["-r", str(sample_rate), str(soundfont), str(midi)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
    if done.returncode != 0 or not wav.is_file():
        raise MusicmakerError(
            f"fluidsynth failed on {midi.name} (exit {done.returncode}): {done.stderr.strip()[-500:]}"
        )
    audio = read_audio(wav)
    if not math.isfinite(float(np.abs(audio.samples).max(initial=0.0))):
        raise MusicmakerError(f"fluidsynth rendered NaN or inf samples for {midi.name}")
    return audio
