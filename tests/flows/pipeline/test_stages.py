"""Stage functions without Prefect: per-stem cleanup switches and transcription overrides, export options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.pipeline import generation, stages
from flows.pipeline.paths import prepare_render_folder
from flows.schema import Arrangement, parse_arrangement
from tests.support.probe import ffprobe, ffprobe_tags

SONG = """title: Stage Song
bpm: 120
key: C major
duration: 5
model: debug
stems:
  - name: keys
    prompt: soft keys
    midi: keys
    clean: {{dc: false, band_limits: false, gate: false, fades: false, peak_safety: false}}
  - name: lead
    prompt: bright lead
    midi: lead
    transcription: {{onset_threshold: {onset}, min_note_ms: 60}}
master: {{formats: [wav, mp3], mp3_bitrate: V2, zip_stems: true}}
"""


def _render(tmp_path: Path, onset: float = 0.5) -> tuple[Arrangement, object]:
    arrangement = parse_arrangement(SONG.format(onset=onset), tmp_path / "song.yaml")
    paths = prepare_render_folder(arrangement.title, tmp_path / "out", force=True)
    job = generation.GenerationJob(arrangement, paths, ("keys", "lead"))
    generation.generate_jobs("debug", [job])
    return arrangement, paths


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Arrangement, object]:
    return _render(tmp_path_factory.mktemp("stages"))


def test_every_cleanup_step_off_leaves_the_raw_audio(rendered: tuple[Arrangement, object]) -> None:
    arrangement, paths = rendered
    record = stages.clean_stem(arrangement, arrangement.stem("keys"), paths)  # type: ignore[arg-type]
    raw, _ = sf.read(str(paths.raw("keys")))  # type: ignore[attr-defined]
    cleaned, _ = sf.read(str(paths.cleaned("keys")))  # type: ignore[attr-defined]
    assert record.cleaned is True and np.array_equal(raw, cleaned)


def test_default_cleanup_changes_the_audio(rendered: tuple[Arrangement, object]) -> None:
    arrangement, paths = rendered
    stages.clean_stem(arrangement, arrangement.stem("lead"), paths)  # type: ignore[arg-type]
    raw, _ = sf.read(str(paths.raw("lead")))  # type: ignore[attr-defined]
    cleaned, _ = sf.read(str(paths.cleaned("lead")))  # type: ignore[attr-defined]
    assert raw.shape == cleaned.shape and not np.array_equal(raw, cleaned)
    assert cleaned[0] == 0.0  # the fade-in starts at silence


def test_transcription_overrides_reach_the_transcriber(
    tmp_path: Path, rendered: tuple[Arrangement, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stems.transcription import transcriber as transcribe

    arrangement, paths = rendered
    seen = []
    real = transcribe.Transcriber.transcribe

    def spy(
        self: object, audio: object, instrument: str, name: str, settings: object = None, **kw: object
    ) -> object:
        seen.append(settings)
        return real(self, audio, instrument, name, settings, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(transcribe.Transcriber, "transcribe", spy)
    stages.clean_stem(arrangement, arrangement.stem("lead"), paths)  # type: ignore[arg-type]
    stages.conform_stem(arrangement, arrangement.stem("lead"), paths)  # type: ignore[arg-type]
    done = stages.transcribe_stem(arrangement, arrangement.stem("lead"), paths)  # type: ignore[arg-type]
    assert not done.reused and seen[0].onset_threshold == 0.5 and seen[0].min_note_ms == 60  # type: ignore[attr-defined]
    changed = arrangement.model_copy(
        update={
            "stems": [
                arrangement.stem("keys"),
                arrangement.stem("lead").model_copy(
                    update={
                        "transcription": arrangement.stem("lead").transcription.model_copy(
                            update={"onset_threshold": 0.9}
                        )
                    }
                ),
            ]
        }
    )
    done = stages.transcribe_stem(changed, changed.stem("lead"), paths)  # type: ignore[arg-type]
    assert not done.reused and seen[1].onset_threshold == 0.9  # type: ignore[attr-defined]
    done = stages.transcribe_stem(changed, changed.stem("lead"), paths)  # type: ignore[arg-type]
    assert done.reused and len(seen) == 2


def test_mp3_bitrate_zip_and_album_tags(rendered: tuple[Arrangement, object]) -> None:
    import zipfile

    arrangement, paths = rendered
    for stem in arrangement.stems:
        stages.clean_stem(arrangement, stem, paths)  # type: ignore[arg-type]
        stages.conform_stem(arrangement, stem, paths)  # type: ignore[arg-type]
    record = stages.mix_and_master(
        arrangement,
        list(arrangement.stems),
        paths,  # type: ignore[arg-type]
        {"album": "Stage Album", "track": "2/3"},
    )
    root: Path = paths.root  # type: ignore[attr-defined]
    assert record.mix.files == ("mix.wav", "mix.mp3", "stems.zip")
    assert sorted(zipfile.ZipFile(root / "stems.zip").namelist()) == ["keys.wav", "lead.wav"]
    fmt, tags = ffprobe(root / "mix.mp3", "format"), ffprobe_tags(root / "mix.mp3")
    assert tags["album"] == "Stage Album" and tags["track"] == "2/3" and tags["title"] == "Stage Song"
    assert int(fmt["bit_rate"]) < 300_000  # VBR V2, not the 320k default
