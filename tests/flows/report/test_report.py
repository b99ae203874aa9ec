"""report.html: images from synthetic audio/MIDI, the page's links, and the page in headless Chromium."""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from flows.report import write_album_report, write_report, write_track_report
from flows.report.images import Note, piano_roll_image, spectrogram_image, waveform_image
from flows.report.media import image_path, timeline_from
from flows.report.png import encode_png
from stems.audio import Audio
from stems.errors import UserInputError

RAW_RATE, OUT_RATE = 32000, 44100
BPM, DURATION = 240.0, 2.0  # a 4/4 bar lasts 4 * 60 / 240 = 1 s: two one-bar sections in a 2 s render
LOUD = {
    "integrated_lufs": -14.02,
    "loudness_range_lu": 1.5,
    "true_peak_dbtp": -1.01,
    "sample_peak_dbfs": -1.3,
}


# ---------------------------------------------------------------- synthetic render folders


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5, channels: int = 2) -> np.ndarray:
    """(samples, channels) for soundfile, with 10 ms fades so the player has no click."""
    t = np.arange(round(seconds * rate)) / rate
    x = amplitude * np.sin(2 * np.pi * freq * t) * np.clip(np.minimum(t, seconds - t) / 0.01, 0, 1)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def write_midi(path: Path, pitches: list[int], program: int = 33, is_drum: bool = False) -> None:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=BPM)
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    for i, pitch in enumerate(pitches):
        inst.notes.append(pretty_midi.Note(velocity=100, pitch=pitch, start=0.25 * i, end=0.25 * i + 0.2))
    midi.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))


def write_track_midi(path: Path) -> None:
    """The all-stems MIDI file: one named instrument per stem."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=BPM)
    for name, pitch, is_drum in (("drums", 36, True), ("bass", 33, False)):
        inst = pretty_midi.Instrument(program=0, is_drum=is_drum, name=name)
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=0.5, end=1.0))
        midi.instruments.append(inst)
    midi.write(str(path))


def arrangement() -> dict[str, Any]:
    return {
        "title": "Test <Song> & Co",
        "artist": "Tester",
        "bpm": BPM,
        "key": "A minor",
        "time_signature": "4/4",
        "duration": DURATION,
        "seed": 3,
        "model": "debug",
        "generation": {
            "use_sampling": True,
            "temperature": 1.0,
            "top_k": 250,
            "cfg_coef": 3.0,
            "extend_stride": 18,
        },
        "sections": [
            {"name": "intro", "bars": 1, "prompt": "soft"},
            {"name": "drop", "bars": 8, "prompt": "loud"},
        ],
        "stems": [
            {"name": "drums", "prompt": "tight drums", "separate": "drums"},
            {"name": "bass", "prompt": "warm bass"},
        ],
        "master": {"lufs": -14, "true_peak": -1.0, "formats": ["wav", "flac"]},
    }


def stem_record(name: str, midi_notes: int, instrument: str) -> dict[str, Any]:
    return {
        "generation": {
            "model": "debug",
            "seed": 11,
            "windows": [{"index": 0, "start": 0.0, "end": 2.0, "text": f"{name} prompt"}],
            "seconds": 0.5,
        },
        "refine": {
            "separation": {"model": "debug", "source": name, "seconds": 0.1} if name == "drums" else None,
            "cleaned": True,
            "seconds": 0.2,
        },
        "midi": {"instrument": instrument, "notes": midi_notes, "warnings": ["few notes"], "seconds": 0.3},
        "loudness": LOUD,
        "gain_db_applied": -2.0,
    }


def make_render(root: Path, slug: str = "test-song") -> Path:
    """A 2-second render folder in the layout of ARCHITECTURE.md with a manifest like flows/orchestration/render.py's."""
    folder = root / slug
    for sub in ("raw", "stems", "midi"):
        (folder / sub).mkdir(parents=True)
    for name, freq in (("drums", 220.0), ("bass", 110.0)):
        sf.write(folder / "raw" / f"{name}.wav", sine(freq, DURATION, RAW_RATE), RAW_RATE, subtype="FLOAT")
        sf.write(folder / "stems" / f"{name}.wav", sine(freq, DURATION, OUT_RATE), OUT_RATE, subtype="FLOAT")
    sf.write(
        folder / "raw" / "drums.residual.wav", sine(880.0, DURATION, RAW_RATE, 0.1), RAW_RATE, subtype="FLOAT"
    )
    sf.write(folder / "mix.wav", sine(440.0, DURATION, OUT_RATE), OUT_RATE, subtype="FLOAT")
    sf.write(folder / "mix.flac", sine(440.0, DURATION, OUT_RATE), OUT_RATE, subtype="PCM_16")
    write_midi(folder / "midi" / "drums.mid", [36, 38, 42, 36], is_drum=True)
    write_midi(folder / "midi" / "bass.mid", [33, 36, 40, 45, 33, 36, 40, 45])
    write_track_midi(folder / "midi" / f"{slug}.mid")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {
        "manifest_version": 1,
        "created": "2026-11-21T12:00:00+00:00",
        "title": "Test <Song> & Co",
        "source": "arrangements/test.yaml",
        "seed": 3,
        "arrangement": arrangement(),
        "stems": {"drums": stem_record("drums", 4, "drums"), "bass": stem_record("bass", 8, "bass")},
        "mix": {"master": LOUD, "master_gain_db": 3.5, "files": ["mix.wav", "mix.flac"]},
        "timings": {"generate": 1.0, "separate_and_clean": 0.4, "transcribe": 0.6, "mix_and_master": 0.2},
        "packages": {"numpy": np.__version__, "torch": None},
        "platform": {"python": "3.11"},
        "files": [
            {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": "ab" * 32}
            for p in files
        ]
        + [{"path": "gone.wav", "bytes": 1, "sha256": "00"}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture()
def render(tmp_path: Path) -> Path:
    return make_render(tmp_path)


class Links(HTMLParser):
    """Every src/href of a page, the tags seen, and the text (to check escaping)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [(tag, v) for k, v in attrs if k in ("src", "href") and v is not None]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def assert_links_local(page: Path) -> Links:
    """Every src/href is relative (or an in-page anchor / the data: favicon) and names an existing file."""
    from urllib.parse import unquote, urlparse

    links = parse(page)
    for tag, url in links.urls:
        if url.startswith("#") or url == "data:,":
            continue
        parsed = urlparse(url)
        assert not parsed.scheme and not parsed.netloc and not url.startswith("/"), (
            f"{tag} {url} is not relative"
        )
        assert (page.parent / unquote(parsed.path)).is_file(), f"{tag} {url} does not exist"
    return links


def decode_png(data: bytes) -> np.ndarray:
    """Minimal reader for our own PNGs (8-bit RGB, filter 0), checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, 3)


def lut_level(pixel: np.ndarray) -> int:
    """Index of the colour-map entry nearest to an RGB pixel (inverts the spectrogram's colouring)."""
    from flows.report.png import colormap

    return int(np.argmin(np.abs(colormap().astype(int) - pixel.astype(int)).sum(axis=1)))


# ---------------------------------------------------------------- images


def test_png_round_trip_is_exact() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(7, 13, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(image)), image)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(image.astype(np.float32))


def test_waveform_envelopes_sit_at_the_signal_amplitude() -> None:
    from flows.report.images import BACKGROUND, CLIP, PEAK_COLOR, RMS_COLOR

    x = sine(100.0, 1.0, 8000, amplitude=0.5, channels=1).T
    image = waveform_image(Audio(x, 8000), width=50, height=121)  # one lane: +1 -> row 0, -1 -> row 120
    column = image[:, 25]
    coloured = np.flatnonzero((column != BACKGROUND).any(axis=1) & ~(column == (44, 48, 56)).all(axis=1))
    assert abs(coloured.min() - 30) <= 1 and abs(coloured.max() - 90) <= 1  # 60 -/+ 0.5 * 60
    rms_rows = np.flatnonzero((column == RMS_COLOR).all(axis=1))
    assert abs(rms_rows.min() - (60 - 60 / np.sqrt(2) * 0.5)) <= 1.5  # sine RMS = peak / sqrt(2)
    assert (column[coloured.min()] == PEAK_COLOR).all()
    assert not (image[:2] == CLIP).all(axis=2).any()
    loud = waveform_image(Audio(np.ones((2, 800), np.float32), 8000), width=40, height=120)
    assert (loud[:2] == CLIP).all()  # full scale: every column flagged in the first lane
    from flows.report.images import GRID

    marked = waveform_image(Audio(np.zeros((1, 8000), np.float32), 8000), width=100, height=40, marks=[0.5])
    assert (marked[:15, 50] == GRID).all() and (marked[:15, :50] == BACKGROUND).all()  # line at 0.5 s only


def test_spectrogram_puts_a_sine_on_its_row_at_its_level() -> None:
    from flows.report.images import SPEC_MAX_HZ, SPEC_MIN_HZ

    height, freq = 160, 1000.0
    image = spectrogram_image(Audio(sine(freq, 1.0, 44100, amplitude=0.5).T, 44100), width=40, height=height)
    levels = np.array([lut_level(p) for p in image[:, 20]])  # 0..255 = -100..0 dBFS
    expected_row = height - 1 - int(np.log(freq / SPEC_MIN_HZ) / np.log(SPEC_MAX_HZ / SPEC_MIN_HZ) * height)
    assert abs(int(np.argmax(levels)) - expected_row) <= 1
    peak_db = levels.max() / 255 * 100 - 100
    assert -12.0 <= peak_db <= -4.0  # -6 dBFS sine, spread over the row's ~2 FFT bins
    far = np.abs(np.arange(height) - expected_row) > 15
    assert levels[far].max() / 255 * 100 - 100 < -60.0


def test_piano_roll_places_notes_bars_and_sections() -> None:
    from flows.report.images import GRID, SECTION_LINE

    notes = [Note(0.5, 1.0, 60, 127), Note(2.0, 3.0, 72, 64)]
    image, (low, high) = piano_roll_image(
        notes, duration=4.0, bar_seconds=1.0, section_starts=[2.0], width=400
    )
    assert (low, high) == (58, 74)
    row_px = image.shape[0] // (high - low + 1)
    y60, y72 = (high - 60) * row_px + row_px // 2, (high - 72) * row_px + row_px // 2
    assert lut_level(image[y60, 75]) > lut_level(image[y72, 250]) > 100  # louder note, brighter colour
    note_colour = image[y60, 75]
    assert (image[y60, 50] == note_colour).all() and (image[y60, 99] == note_colour).all()  # 0.5 s..1.0 s
    assert (image[y60, 49] != note_colour).any() and (image[y60, 101] != note_colour).any()
    assert (image[:, 300] == GRID).all()  # bar line at 3 s (no note there)
    assert (image[y60 - 2 * row_px, 100] == GRID).all()  # bar line at 1 s, above the note
    assert (image[0, 200] == SECTION_LINE).all()  # section starting at 2 s


def test_piano_roll_colours_by_instrument_with_a_palette() -> None:
    notes = [
        Note(0.0, 1.0, 60, 10, track=0),
        Note(1.0, 2.0, 64, 127, track=1),
        Note(2.0, 3.0, 67, 60, track=2),
    ]
    palette = [(255, 0, 0), (0, 255, 0)]
    image, (low, high) = piano_roll_image(notes, duration=3.0, width=300, palette=palette)
    row_px = image.shape[0] // (high - low + 1)
    centre = [(high - n.pitch) * row_px + row_px // 2 for n in notes]
    assert tuple(image[centre[0], 50]) == (255, 0, 0) and tuple(image[centre[1], 150]) == (0, 255, 0)
    assert tuple(image[centre[2], 250]) == (255, 0, 0)  # the palette wraps around


def test_timeline_from_manifest_and_partial_manifests() -> None:
    timeline = timeline_from(arrangement())
    assert timeline.bar_seconds == pytest.approx(1.0) and timeline.duration == pytest.approx(2.0)
    assert [(s.name, s.start, s.end) for s in timeline.sections] == [("intro", 0.0, 1.0), ("drop", 1.0, 2.0)]
    three_four = timeline_from({"bpm": 90, "time_signature": "3/4", "duration": 10})
    assert three_four.bar_seconds == pytest.approx(2.0) and three_four.sections == ()
    empty = timeline_from({}, duration_hint=5.0)
    assert (empty.duration, empty.bar_seconds, empty.sections) == (5.0, None, ())
    assert timeline_from({"bpm": -3, "duration": 4, "sections": [{"name": "a", "bars": 1}]}).sections == ()


# ---------------------------------------------------------------- track and album pages


def test_track_report_links_are_local_and_show_every_file(render: Path) -> None:
    page = write_track_report(render)
    assert page == render / "report.html"
    links = assert_links_local(page)
    audio = [url for tag, url in links.urls if tag == "audio"]
    assert audio == [
        "mix.wav",
        "raw/drums.wav",
        "raw/drums.residual.wav",
        "stems/drums.wav",
        "raw/bass.wav",
        "stems/bass.wav",
    ]
    images = [url for tag, url in links.urls if tag == "img"]
    assert len(images) == 15  # 6 audio files x (waveform, spectrogram) + 2 stem piano rolls + all stems
    for url in images:
        decoded = decode_png((render / url).read_bytes())
        assert decoded.shape[1] == 1200 and decoded.shape[0] >= 100
    hrefs = {url for tag, url in links.urls if tag == "a"}
    assert {
        "mix.flac",
        "midi/test-song.mid",
        "midi/bass.mid",
        "manifest.json",
    } <= hrefs and "gone.wav" not in hrefs
    assert "script" not in links.tags and "song" not in links.tags  # the title "<Song>" is escaped
    text = " ".join(links.text)
    assert "Test <Song> & Co" in text and "−14.0" in text and "3.5" in text and "few notes" in text
    assert "(1 heard)" in text and "GM drum keys 34–46" in text and "G1–B2" in text
    html = page.read_text(encoding="utf-8")
    assert '#4e79a7"></span>drums' in html and '#f28e2b"></span>bass' in html  # all-stems roll legend
    assert text.count("peak −6.0 dBFS") == 5 and "peak −20.0 dBFS" in text  # 0.5 and 0.1 sines
    assert not [p for p in render.rglob(".*")], "temporary files left behind"


def test_track_report_marks_a_true_peak_over_the_ceiling(render: Path) -> None:
    manifest = json.loads((render / "manifest.json").read_text())
    manifest["mix"]["master"]["true_peak_dbtp"] = -0.2  # ceiling is -1.0 dBTP
    (render / "manifest.json").write_text(json.dumps(manifest))
    html = write_track_report(render).read_text(encoding="utf-8")
    assert 'class="bad" title="above the -1.0 dBTP ceiling">−0.2' in html


def test_silent_audio_and_silent_loudness_are_labelled(render: Path) -> None:
    sf.write(render / "stems" / "bass.wav", np.zeros((100, 2), np.float32), OUT_RATE)
    manifest = json.loads((render / "manifest.json").read_text())
    manifest["stems"]["bass"]["loudness"] = dict.fromkeys(LOUD)  # how LoudnessReport writes digital silence
    (render / "manifest.json").write_text(json.dumps(manifest))
    text = " ".join(parse(write_track_report(render)).text)
    assert text.count("silent") == 5  # the take caption and 4 loudness cells


def test_track_report_tolerates_an_old_minimal_render(tmp_path: Path) -> None:
    sf.write(tmp_path / "mix.wav", sine(440.0, 0.5, 22050), 22050)
    (tmp_path / "manifest.json").write_text(json.dumps({"title": "Old"}))
    links = assert_links_local(write_track_report(tmp_path))
    assert [u for t, u in links.urls if t == "audio"] == ["mix.wav"]
    assert len([u for t, u in links.urls if t == "img"]) == 2


def test_unreadable_files_are_reported_not_fatal(render: Path) -> None:
    (render / "stems" / "bass.wav").write_bytes(b"not a wav")
    (render / "midi" / "bass.mid").write_bytes(b"not a midi")
    html = write_track_report(render).read_text(encoding="utf-8")
    assert "cannot read audio" in html and "cannot read MIDI" in html


def test_report_errors_say_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a folder"):
        write_track_report(tmp_path / "missing")
    with pytest.raises(UserInputError, match="no manifest.json"):
        write_track_report(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(UserInputError, match="not readable JSON"):
        write_track_report(tmp_path)
    with pytest.raises(UserInputError, match="no album-manifest.json"):
        write_album_report(tmp_path)


def test_rerender_removes_images_of_files_that_are_gone(render: Path) -> None:
    write_track_report(render)
    (render / "report" / "cover.png").write_bytes(b"user file")
    (render / "raw" / "drums.residual.wav").unlink()
    write_track_report(render)
    assert not (render / image_path("raw/drums.residual.wav", "wave")).exists()
    assert (render / image_path("raw/drums.wav", "wave")).is_file()
    assert (render / "report" / "cover.png").is_file()  # not ours: left alone


def make_album(root: Path) -> Path:
    album = root / "album"
    album.mkdir()
    for slug in ("one", "two"):
        make_render(album, slug)
    sf.write(album / "album.wav", sine(330.0, 2 * DURATION, OUT_RATE), OUT_RATE, subtype="FLOAT")
    (album / "album.cue").write_text('FILE "album.wav" WAVE\n')
    tracks = [
        {"slug": s, "title": s.title(), "folder": s, "start": i * DURATION, "duration": DURATION}
        for i, s in enumerate(("one", "two"))
    ]
    manifest = {
        "title": "An Album",
        "artist": "Tester",
        "tracks": tracks,
        "loudness_mode": "album",
        "master": {"integrated_lufs": -16.0, "loudness_range_lu": 4.2, "true_peak_dbtp": -1.5},
    }
    (album / "album-manifest.json").write_text(json.dumps(manifest))
    return album


def test_album_report_links_every_track_report(tmp_path: Path) -> None:
    album = make_album(tmp_path)
    assert write_report(album / "one") == album / "one" / "report.html"  # a track folder: track report
    links = assert_links_local(write_report(album))
    hrefs = {u for t, u in links.urls if t == "a"}
    assert {"one/report.html", "two/report.html", "album.wav", "album.cue"} <= hrefs
    assert [u for t, u in links.urls if t == "audio"] == ["album.wav", "one/mix.wav", "two/mix.wav"]
    assert [u for t, u in links.urls if t == "img"] == [
        "one/report/mix.wav.wave.png",
        "two/report/mix.wav.wave.png",
    ]
    text = " ".join(links.text)
    assert "0:02.0" in text and text.count("−14.0") == 2 and text.count("−1.0") == 2  # start, LUFS, dBTP
    assert "−16.0" in text and "4.2" in text and "−1.5" in text and "by Tester" in text


def test_report_module_does_not_import_prefect() -> None:
    import subprocess
    import sys

    code = "import sys, flows.report; print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_images_of_a_40_second_four_stem_track_are_fast(tmp_path: Path) -> None:
    folder = make_render(tmp_path)
    rng = np.random.default_rng(0)
    for name in ("drums", "bass", "keys", "lead"):
        for rel, rate in (
            (f"raw/{name}.wav", RAW_RATE),
            (f"raw/{name}.residual.wav", RAW_RATE),
            (f"stems/{name}.wav", OUT_RATE),
        ):
            sf.write(
                folder / rel, (0.2 * rng.standard_normal((40 * rate, 2))).astype(np.float32), rate, "FLOAT"
            )
    sf.write(folder / "mix.wav", (0.2 * rng.standard_normal((40 * OUT_RATE, 2))).astype(np.float32), OUT_RATE)
    started = time.perf_counter()
    write_track_report(folder)
    seconds = time.perf_counter() - started
    print(f"report of a 40 s track with 4 stems (13 audio files): {seconds:.2f} s")
    assert seconds < 20.0  # budget 10 s on an idle core; doubled for a shared CI machine


# ---------------------------------------------------------------- headless Chromium


def browser_check(page: Path, shot: Path) -> Any:
    from tests.support.report_browser import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip(
            "chromium is not installed (apt-get install -y chromium; the Makefile's APT_PACKAGES has it)"
        )
    result = check_page(page, shot, play_timeout=20.0)
    print(f"screenshot: {result.screenshot}")
    return result


@pytest.mark.slow
def test_track_report_in_headless_chromium(render: Path, tmp_path: Path) -> None:
    result = browser_check(write_track_report(render), tmp_path / "track-report.png")
    assert result.errors == []
    assert len(result.audio) == 6
    for audio in result.audio:
        assert audio["result"] == "ended", audio
        assert audio["duration"] == pytest.approx(DURATION, abs=0.05) and audio["time"] == pytest.approx(
            DURATION, abs=0.05
        )
    assert len(result.images) == 15 and all(i["complete"] and i["width"] == 1200 for i in result.images)
    shot = decode_png_size(result.screenshot)
    assert shot[0] == 1280 and shot[1] > 2000  # the full page, not just the first screen


@pytest.mark.slow
def test_album_report_in_headless_chromium(tmp_path: Path) -> None:
    result = browser_check(write_album_report(make_album(tmp_path)), tmp_path / "album-report.png")
    assert result.errors == []
    assert [a["result"] for a in result.audio] == ["ended"] * 3
    assert all(i["width"] > 0 for i in result.images)


@pytest.mark.slow
def test_browser_check_catches_broken_pages(tmp_path: Path) -> None:
    """The browser check must be able to fail: a missing image, a missing audio file, a script error."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="missing.png"><audio src="missing.wav"></audio><script>nope()</script></body></html>'
    )
    result = browser_check(page, tmp_path / "broken.png")
    for expected in ("nope is not defined", "missing.png", "missing.wav"):
        assert any(expected in e for e in result.errors), (expected, result.errors)
    assert result.audio[0]["result"].startswith("error") and result.images[0]["width"] == 0


def decode_png_size(path: Path | None) -> tuple[int, int]:
    assert path is not None and path.is_file()
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_track_report_survives_a_manifest_of_wrong_types(render: Path) -> None:
    garbage = {
        "title": 7,
        "arrangement": {
            "bpm": "fast",
            "duration": -1,
            "time_signature": "x/y",
            "sections": "intro",
            "stems": "drums",
            "master": [1],
            "generation": None,
        },
        "stems": ["drums"],
        "mix": {"master": "loud"},
        "timings": {"generate": "slow", "mix": 1.5},
        "files": [1, {"path": "mix.wav", "bytes": "big"}],
        "packages": None,
        "platform": 3,
    }
    (render / "manifest.json").write_text(json.dumps(garbage))
    links = assert_links_local(write_track_report(render))
    assert len([u for t, u in links.urls if t == "audio"]) == 6  # the files on disk are still all shown
    assert "1.50" in " ".join(links.text)


def test_progress_is_reported_per_stem_and_names_cannot_leave_the_folder(render: Path) -> None:
    manifest = json.loads((render / "manifest.json").read_text())
    manifest["stems"]["../../outside"] = {}  # raw/../../outside.wav is a real file beside the render folder
    (render / "manifest.json").write_text(json.dumps(manifest))
    sf.write(render.parent / "outside.wav", sine(100.0, 0.1, 8000), 8000)
    calls: list[tuple[str, int, int]] = []
    write_track_report(render, progress=lambda label, done, total: calls.append((label, done, total)))
    assert calls == [("report: mix", 1, 3), ("report: drums", 2, 3), ("report: bass", 3, 3)]
    assert "outside.wav" not in (render / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- licences (issue 22 point 6)

LICENSES = {
    "generation": {"facebook/musicgen-small": "CC-BY-NC-4.0", "/home/me/models/tuned": "unknown"},
    "separation": {"htdemucs": "MIT"},
    "transcription": {"basic-pitch": "Apache-2.0"},
}


def test_track_report_shows_each_model_licence_and_the_provenance_note(render: Path) -> None:
    manifest = json.loads((render / "manifest.json").read_text())
    (render / "manifest.json").write_text(json.dumps({**manifest, "licenses": LICENSES}))
    page = write_track_report(render)
    html = page.read_text(encoding="utf-8")
    assert '<a href="#licenses">Licences</a>' in html and '<section id="licenses">' in html
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td><td>([^<]+)</td><td>(.*?)</td></tr>", html)
    assert rows == [
        ("generation", "facebook/musicgen-small", "CC-BY-NC-4.0", '<span class="bad">forbidden</span>'),
        (
            "generation",
            "/home/me/models/tuned",
            "unknown",
            '<span class="warn">unknown: check the licence</span>',
        ),
        ("separation", "htdemucs", "MIT", "allowed"),
        ("transcription", "basic-pitch", "Apache-2.0", "allowed"),
    ]
    text = " ".join(parse(page).text)
    assert (
        "Made with musicmaker from models facebook/musicgen-small (generation, CC-BY-NC-4.0), tuned (generation, "
        "unknown), htdemucs (separation, MIT), basic-pitch (transcription, Apache-2.0); not for commercial use: "
        "CC-BY-NC-4.0 forbids it; a licence is unknown: check it before commercial use." in text
    )


def test_a_report_of_a_render_without_licences_says_so(render: Path) -> None:
    text = " ".join(parse(write_track_report(render)).text)
    assert "the manifest records no model licences" in text


def test_album_report_shows_the_licences_of_its_tracks(tmp_path: Path) -> None:
    album = make_album(tmp_path)
    manifest = json.loads((album / "album-manifest.json").read_text())
    (album / "album-manifest.json").write_text(json.dumps({**manifest, "licenses": LICENSES}))
    html = write_report(album).read_text(encoding="utf-8")
    assert '<a href="#licenses">Licences</a>' in html
    assert "<td>generation</td><td>facebook/musicgen-small</td><td>CC-BY-NC-4.0</td>" in html
