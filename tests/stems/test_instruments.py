"""Instrument names as musicians write them: families, General MIDI names and GM program numbers (1-128)
resolve to one record; the MIDI file carries the GM program, transcription uses the family's settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from flows.cli import main
from flows.pipeline import stages
from flows.pipeline.paths import prepare_render_folder
from flows.schema import arrangement_json_schema, parse_arrangement
from stems.errors import UserInputError
from stems.instruments import INSTRUMENT_FAMILIES, Instrument, resolve_instrument
from stems.transcription.transcriber import settings_for, transcribe_file

HEAD = "title: Test song\nbpm: 120\nkey: A minor\nduration: 5\n"


def _song(midi: str) -> str:
    return HEAD + f"stems:\n  - name: reed\n    prompt: a clarinet melody\n    midi: {midi}\n"


def _sine(path: Path, seconds: float = 1.5, rate: int = 22050) -> Path:
    """A 440 Hz (A4, MIDI 69) sine with 20 ms fades: one clear note for basic-pitch."""
    t = np.arange(int(seconds * rate)) / rate
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.5 * fade * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate)
    return path


# --- resolution ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "name", "family", "program"),
    [
        ("clarinet", "clarinet", "woodwind", 71),
        ("flute", "flute", "woodwind", 73),
        ("violin", "violin", "strings", 40),
        ("acoustic grand piano", "acoustic grand piano", "piano", 0),
        ("fretless bass", "fretless bass", "bass", 35),
        ("Acoustic Grand Piano", "acoustic grand piano", "piano", 0),
        ("acoustic-grand-piano", "acoustic grand piano", "piano", 0),
        ("  FRETLESS_BASS ", "fretless bass", "bass", 35),
        ("Electric Guitar (jazz)", "electric guitar (jazz)", "guitar", 26),
        ("electric guitar jazz", "electric guitar (jazz)", "guitar", 26),
        ("alto sax", "alto sax", "woodwind", 65),
        ("trumpet", "trumpet", "brass", 56),
        ("lead 1 (square)", "lead 1 (square)", "lead", 80),
        ("choir aahs", "choir aahs", "vocals", 52),
        ("electric piano 2", "electric piano 2", "keys", 5),
        (72, "clarinet", "woodwind", 71),  # GM tables number programs from 1
        ("72", "clarinet", "woodwind", 71),  # as it comes from the command line
        (1, "acoustic grand piano", "piano", 0),
        (41, "violin", "strings", 40),
        (128, "gunshot", "keys", 127),
        ("woodwind", "woodwind", "woodwind", 73),
        ("Bass", "bass", "bass", 33),
        ("keys", "keys", "keys", 4),
        ("lead", "lead", "lead", 81),
    ],
)
def test_names_numbers_and_families_resolve(written: str | int, name: str, family: str, program: int) -> None:
    assert resolve_instrument(written) == Instrument(name, family, program, is_drum=False)


def test_drums_are_the_only_drum_kit() -> None:
    assert resolve_instrument("Drums") == Instrument("drums", "drums", 0, is_drum=True)
    assert not any(resolve_instrument(n).is_drum for n in range(1, 129))


def test_every_gm_program_maps_to_a_family_and_families_keep_their_programs() -> None:
    families = {resolve_instrument(n).family for n in range(1, 129)}
    assert families == set(INSTRUMENT_FAMILIES) - {"drums"}
    for family in INSTRUMENT_FAMILIES:  # a family's own program resolves back to that family
        program = resolve_instrument(family).program
        assert program == settings_for(family).program
        if family != "drums":
            assert resolve_instrument(program + 1).family == family
    reeds_and_pipes = range(64, 80)  # GM classes Reed (65-72) and Pipe (73-80)
    assert {resolve_instrument(n + 1).family for n in reeds_and_pipes} == {"woodwind"}


@pytest.mark.parametrize(
    ("written", "fragments"),
    [
        ("clarnet", ["'clarnet' is unknown", "did you mean 'clarinet'"]),
        ("acoustic grnd piano", ["did you mean 'acoustic grand piano'"]),
        ("violn", ["did you mean 'violin'"]),
        ("ukulele", ["'ukulele' is unknown", "woodwind", "General MIDI", "1-128"]),
        (0, ["number 0 is not a GM program", "1-128"]),
        ("129", ["number 129 is not a GM program"]),
        (True, ["neither a name nor a number"]),
    ],
)
def test_unknown_instruments_say_what_is_allowed(written: str | int, fragments: list[str]) -> None:
    with pytest.raises(UserInputError) as info:
        resolve_instrument(written)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_settings_are_the_family_s_with_the_instrument_s_program() -> None:
    woodwind = settings_for("woodwind")
    assert settings_for("clarinet") == dataclasses.replace(woodwind, program=71)
    assert settings_for(72, onset_threshold=0.4) == dataclasses.replace(
        woodwind, program=71, onset_threshold=0.4
    )
    assert settings_for("violin").family == "strings" and settings_for("violin").program == 40
    with pytest.raises(UserInputError, match="did you mean 'clarinet'"):
        settings_for("clarnet")


# --- arrangement YAML -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored", "family"),
    [
        ("clarinet", "clarinet", "woodwind"),
        ("72", "clarinet", "woodwind"),
        ("Acoustic-Grand-Piano", "acoustic grand piano", "piano"),
        ("fretless bass", "fretless bass", "bass"),
        ("Woodwind", "woodwind", "woodwind"),
    ],
)
def test_yaml_midi_takes_gm_names_and_numbers(written: str, stored: str, family: str) -> None:
    (stem,) = parse_arrangement(_song(written), Path("song.yaml")).stems
    assert stem.midi == stored
    assert stages.midi_instrument(stem) == stored and stages.instrument_family(stem) == family


def test_yaml_midi_false_and_null_keep_their_meaning() -> None:
    (off,) = parse_arrangement(_song("false"), Path("song.yaml")).stems
    (guess,) = parse_arrangement(_song("null"), Path("song.yaml")).stems
    assert off.midi is False and stages.midi_instrument(off) is None
    assert guess.midi is None and stages.midi_instrument(guess) == "keys"  # "reed" names no family


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("clarnet", "did you mean 'clarinet'"),
        ("0", "received the number 0"),
        ("129", "received the number 129"),
        ("72.5", "72.5"),
        ("true", "woodwind, false"),
    ],
)
def test_yaml_midi_mistakes_are_reported_on_the_field(written: str, fragment: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_arrangement(_song(written), Path("song.yaml"))
    assert "stems[0].midi" in str(info.value) and fragment in str(info.value)


def test_json_schema_accepts_names_program_numbers_and_false() -> None:
    midi = arrangement_json_schema()["$defs"]["Stem"]["properties"]["midi"]
    for good in ["clarinet", "acoustic grand piano", "woodwind", 1, 72, 128, False, None]:
        jsonschema.validate(good, midi)
    for bad in [0, 129, True, 72.5, ""]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, midi)
    assert set(INSTRUMENT_FAMILIES) <= set(midi["anyOf"][0]["enum"])  # editors still complete the families
    assert "1-128" in midi["description"]


# --- MIDI files -----------------------------------------------------------------------------------------


def test_cli_transcribes_as_a_clarinet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav, out = _sine(tmp_path / "tone.wav"), tmp_path / "tone.mid"
    assert main(["transcribe", str(wav), "--instrument", "clarinet", "-o", str(out)]) == 0
    (inst,) = pretty_midi.PrettyMIDI(str(out)).instruments
    assert inst.program == 71 and not inst.is_drum
    assert [n.pitch for n in inst.notes] == [69]


def test_cli_unknown_instrument_exits_2_with_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, out = _sine(tmp_path / "tone.wav"), tmp_path / "tone.mid"
    assert main(["transcribe", str(wav), "--instrument", "clarnet", "-o", str(out)]) == 2
    assert "did you mean 'clarinet'" in capsys.readouterr().err and not out.exists()


def test_transcribe_file_takes_a_gm_number(tmp_path: Path) -> None:
    track = transcribe_file(_sine(tmp_path / "tone.wav"), "41", tmp_path / "violin.mid")
    assert (track.instrument, track.program) == ("violin", 40)
    (inst,) = pretty_midi.PrettyMIDI(str(tmp_path / "violin.mid")).instruments
    assert inst.program == 40


def test_render_stage_writes_the_gm_program_and_caches_it(tmp_path: Path) -> None:
    arrangement = parse_arrangement(_song("clarinet"), tmp_path / "song.yaml")
    paths = prepare_render_folder(arrangement.title, tmp_path / "out", force=True)
    (stem,) = arrangement.stems
    _sine(paths.stem(stem.name), seconds=2.0)
    first = stages.transcribe_stem(arrangement, stem, paths)
    again = stages.transcribe_stem(arrangement, stem, paths)
    assert not first.reused and again.reused and again.track == first.track
    track = first.track
    assert track is not None and (track.instrument, track.program, track.is_drum) == ("clarinet", 71, False)
    (inst,) = pretty_midi.PrettyMIDI(str(paths.midi(stem.name))).instruments
    assert inst.program == 71
