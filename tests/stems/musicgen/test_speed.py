"""Model sizes, memory and the speed table behind `render --dry-run`'s time estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from stems.musicgen.models import known_models, model_info, vram_gb, weights_gb
from stems.musicgen.speed import SHIPPED, SpeedRow, estimates, record, recorded_rows, rows_for, speed_file
from tests.support import paths
from tests.support.bench_scripts import load_bench

REPO = paths.REPO
DEMO = REPO / "arrangements" / "debug-groove.yaml"  # the MusicGen path on debug models


@pytest.fixture
def own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's speed table in a temporary cache folder (subprocesses inherit it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "musicmaker" / "speed.json"


def test_parameter_counts_are_those_of_the_architecture() -> None:
    import torch

    from stems.musicgen.debug_models import build_config, model_class, quiet_transformers
    from stems.musicgen.models import DIMS, checkpoint_dims

    for info in known_models():
        if info.params_m < 1:
            continue
        dims, channels, melody = checkpoint_dims(info.name)
        size = next(k for k, v in DIMS.items() if v == dims)
        with quiet_transformers():
            config = build_config(False, channels, melody, size)
        with torch.device("meta"), quiet_transformers():
            model = model_class(melody)(config)
        assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == info.params_m, info.name
        decoder_m = sum(p.numel() for p in model.decoder.parameters()) / 1e6
        assert weights_gb(info.name, half=False) - weights_gb(info.name, half=True) == pytest.approx(
            decoder_m * 2e6 / 1024**3, abs=1e-3
        )


def test_vram_counts_half_decoder_weights_and_a_kv_cache_per_stem() -> None:
    large = model_info("facebook/musicgen-stereo-large")
    # fp16 decoder (3288.9M) and fp32 rest (168.1M): 6.13 + 0.63 GiB.
    assert weights_gb(large.name, half=True) == pytest.approx(6.76, abs=0.01)
    one, eight = vram_gb(large.name), vram_gb(large.name, 8)
    # 48 layers x (k, v) x 1508 positions x 2048 x fp16 x 2 (CFG) x 1.3 = 1.44 GiB per stem.
    assert one == pytest.approx(6.76 + 1.44 + 0.5, abs=0.1)
    assert eight - one == pytest.approx(7 * 1.44, abs=0.15)
    assert vram_gb("random:facebook/musicgen-stereo-large", 8) == eight and vram_gb("debug") == 0.0
    assert model_info("facebook/musicgen-melody").vram_gb < model_info("facebook/musicgen-medium").vram_gb


def test_estimate_is_linear_between_the_measured_batch_sizes() -> None:
    row = SpeedRow("facebook/musicgen-small", "gpu", frame_s=0.01, batch=5, batch_ratio=1.4, source="test")
    assert row.seconds(1, 300.0) == pytest.approx(150.0)
    assert row.seconds(5, 300.0) == pytest.approx(210.0)
    assert row.seconds(3, 300.0) == pytest.approx(180.0)
    sequential = SpeedRow("facebook/musicgen-small", "gpu", 0.01, 1, 1.0, "test")
    assert sequential.seconds(3, 300.0) == pytest.approx(450.0)
    noisy = SpeedRow("facebook/musicgen-small", "cpu", 0.01, 2, 0.95, "test")
    assert noisy.seconds(4, 300.0) == noisy.seconds(1, 300.0) == pytest.approx(150.0)


def test_recorded_rows_come_first_and_replace_their_own_device(own_table: Path) -> None:
    assert speed_file() == own_table and recorded_rows() == []
    first = SpeedRow("random:facebook/musicgen-stereo-large", "NVIDIA H200", 0.004, 8, 1.3, "measured a")
    record(first)
    record(SpeedRow("facebook/musicgen-stereo-large", "NVIDIA H200", 0.003, 8, 1.2, "measured b"))
    (row,) = recorded_rows()
    assert (row.model, row.frame_s, row.source) == ("facebook/musicgen-stereo-large", 0.003, "measured b")
    assert rows_for("facebook/musicgen-stereo-large")[0] == row
    assert rows_for("facebook/musicgen-stereo-large")[1:] == [
        r for r in SHIPPED if r.model == "facebook/musicgen-stereo-large"
    ]
    assert estimates("random:facebook/musicgen-stereo-large", 8, 300.0)[0] == {
        "device": "NVIDIA H200",
        "seconds": round(300 * 50 * 0.003 * 1.2, 1),
        "source": "measured b",
    }
    own_table.write_text("{not json")
    assert recorded_rows() == []


def test_every_shipped_row_names_a_known_model_and_its_source() -> None:
    names = {m.name for m in known_models()}
    for row in SHIPPED:
        assert row.model in names and row.source.startswith(("measured ", "cited: ")) and row.frame_s > 0


def test_bench_record_feeds_the_dry_run(own_table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--only", "generate", "--model", "debug-stereo", "--record"]) == 0
    generate = json.loads(capsys.readouterr().out)["benchmarks"]["generate"]
    (row,) = recorded_rows()
    assert generate["recorded"]["file"] == str(own_table) and row.model == "debug-stereo" and row.batch == 4
    assert row.device == generate["device_label"] and row.device.startswith("cpu: ")
    long = generate["long_render"]
    assert row.frame_s == pytest.approx(long["seconds"] / (long["duration_s"] * 50), rel=1e-3)

    assert main(["render", str(DEMO), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    drums, keys, _bass = plan["batches"]
    assert drums["stems"] == ["drums", "lead"]
    assert drums["time_estimates"][0] == {
        "device": row.device,
        "seconds": round(row.seconds(2, 40.0), 1),
        "source": row.source,
    }
    assert [e["source"] for e in keys["time_estimates"]] == [
        r.source for r in SHIPPED if r.model == "debug-melody"
    ]

    assert main(["render", str(DEMO), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"batch 1 on {row.device}: ~" in text
    shipped = next(r for r in SHIPPED if r.model == "debug-stereo")
    assert f"all batches on {shipped.device}: ~" in text


SONG = """title: Big
bpm: 100
key: D minor
duration: 300
model: facebook/musicgen-melody-large
stems:
  - {name: pad, prompt: warm pad}
  - {name: bass, prompt: deep bass}
"""


def test_dry_run_says_how_to_measure_a_model_without_a_row(
    own_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "song.yaml").write_text(SONG)
    assert main(["render", str(tmp_path / "song.yaml"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "facebook/musicgen-melody-large (2618M params, ~9.5 GiB VRAM) -> pad, bass" in text
    assert "no speed measured for facebook/musicgen-melody-large yet: on the machine" in text
    assert "--model random:facebook/musicgen-melody-large --record" in text


def test_bench_renders_k_long_stems_in_one_batch() -> None:
    result = load_bench("generate").run(["--quick", "--stems", "2", "--long", "9", "--long-batch"])
    batch = result["long_batch"]
    assert (batch["stems"], batch["duration_s"]) == (2, 9.0) and batch["seconds"] > 0
    assert batch["audio_s_per_s"] == pytest.approx(18.0 / batch["seconds"], rel=0.01)
    assert "recorded" not in result
