"""What the report's player plays (issue 27, flows/report/player.py): each audio file as an Ogg Opus bundle a
``file://`` page can load with ``<script src>``, the lanes of a track (stem, raw, takes; the mix's gains), the
mix to compare, sections and chords, an album's tracks at their places; stale bundles removed. The player
itself runs in Chromium in tests/flows/report/test_player.py."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from flows.pipeline import TrackManifest
from flows.report import player
from flows.report.media import timeline_from
from flows.report.track import StemViews
from tests.flows.report.test_report import make_render


def _payload(bundle: Path) -> tuple[str, bytes]:
    """The key and the audio a bundle script hands to window.musicmakerAudio.add."""
    match = re.search(r'\.add\("([^"]+)", "([A-Za-z0-9+/=]+)"\);\n$', bundle.read_text())
    assert match, bundle.read_text()[:200]
    return match.group(1), base64.b64decode(match.group(2))


def test_a_bundle_carries_the_file_as_ogg_opus_under_its_key(tmp_path: Path) -> None:
    rate = 48_000
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)
    (tmp_path / "stems").mkdir()
    sf.write(tmp_path / "stems" / "a b.wav", np.stack([tone, tone], 1), rate, subtype="FLOAT")
    source = player.write_bundle(tmp_path, "stems/a b.wav", "stem")
    assert source == player.Source("stem", "stems/a b.wav", "report/audio/stems_a_b.js", "stems_a_b")
    key, ogg = _payload(tmp_path / source.bundle)
    assert key == "stems_a_b" and ogg[:4] == b"OggS" and b"OpusHead" in ogg[:100]
    (tmp_path / "back.ogg").write_bytes(ogg)
    decoded, got = sf.read(tmp_path / "back.ogg", dtype="float32")
    assert got == rate and abs(len(decoded) - 2 * rate) < 0.05 * rate  # Opus' own pre-skip at most
    assert abs(float(np.sqrt(np.mean(decoded**2))) - 0.5 / np.sqrt(2)) < 0.02
    missing = player.write_bundle(tmp_path, "stems/none.wav", "stem")
    assert missing.bundle is None and not (tmp_path / "report" / "audio" / "stems_none.js").exists()


def test_the_data_is_safe_inside_a_script_tag() -> None:
    data = player.PlayerData(1.0, (player.Lane("</script><b>", ()),))
    assert "</" not in data.to_json() and json.loads(data.to_json())["lanes"][0]["name"] == "</script><b>"


def test_a_tracks_lanes_sources_gains_mix_and_sections(tmp_path: Path) -> None:
    folder = make_render(tmp_path)
    manifest = TrackManifest.from_json(json.loads((folder / "manifest.json").read_text()))
    (folder / "raw" / "bass.wav").unlink()
    views = [StemViews(name, (), None) for name in ("drums", "bass", "keys")]  # keys: no file at all
    data = player.track_player(folder, manifest, views, timeline_from(manifest.arrangement.document))
    lanes = {lane.name: lane for lane in data.lanes}
    assert [s.label for s in lanes["drums"].sources] == ["stem", "raw"] and lanes["drums"].gain_db == -2.0
    assert [s.label for s in lanes["bass"].sources] == ["stem"]  # its raw file is gone: not offered
    assert lanes["keys"].sources[0].bundle is None  # the lane will say its file is missing
    assert data.mix is not None and data.mix.bundle == "report/audio/mix.js"
    assert [s.name for s in data.sections] == ["intro", "drop"] and data.duration > 0
    kept = player.bundles_of(data)
    assert kept == {str(p.relative_to(folder)) for p in (folder / "report" / "audio").glob("*.js")}
    (folder / "report" / "audio" / "old.js").write_text("")
    player.remove_stale_bundles(folder, kept)
    assert not (folder / "report" / "audio" / "old.js").exists() and all((folder / k).is_file() for k in kept)


def test_an_albums_lanes_are_its_tracks_at_their_places(tmp_path: Path) -> None:
    from flows.pipeline import AlbumManifest
    from tests.flows.report.test_report import make_album

    album = make_album(tmp_path)
    tracks = AlbumManifest.from_json(json.loads((album / "album-manifest.json").read_text())).tracks
    data = player.album_player_data(album, tracks)
    assert [lane.name for lane in data.lanes] == ["1. One", "2. Two"]
    assert [lane.sources[0].bundle for lane in data.lanes] == [
        "report/audio/one_mix.js",
        "report/audio/two_mix.js",
    ]
    assert data.offsets == {"1. One": 0.0, "2. Two": tracks[1].start}
    assert (
        data.mix is not None
        and data.mix.label == "album"
        and data.duration == (tracks[1].start or 0) + (tracks[1].duration or 0)
    )
    assert [(s.name, s.start) for s in data.sections] == [("1. One", 0.0), ("2. Two", tracks[1].start)]
