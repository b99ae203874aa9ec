"""The report's multitrack player (issue 27) in headless Chromium, opened from file:// without file-access flags.

The fixture writes three stems (stereo sines of distinct frequency and amplitude), a raw take of the bass, a mix
and their bundles (flows/report/player.py), and a page around ``player_section``. What is heard is measured with
the player's AnalyserNode: a sine of amplitude a reads RMS a/sqrt(2), a sum of sines of distinct frequencies
reads the root of the sum of squares, so each mute, solo, gain or source switch has one expected level.

Sync is measured by ear too, not only by ``positions()`` (which reads the player's own schedule): a lane and its
phase-inverted copy cancel only when sample-aligned. Measured: the pair reads RMS 4e-8 (Opus encodes x and -x
exactly negated) against 0.212 for one tone; one sample of misalignment at 220.5 Hz would read 0.0067.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from flows.report.images import waveform_image
from flows.report.player import PLAYER_JS, Lane, PlayerData, Span, player_section, write_bundle
from flows.report.png import write_png
from stems.audio import Audio, write_wav
from tests.support.player_browser import PlayerPage, find_chromium

SAMPLE_RATE = 44100
DURATION = 6.0  # s: long enough to play, seek and loop in, short enough to encode in a moment
FADE = 0.01  # s of fade in and out: no click at either end
STEMS = {"drums": (220.0, 0.4), "bass": (110.0, 0.2), "keys": (660.0, 0.1)}  # name: (Hz, amplitude)
RAW_BASS = (165.0, 0.3)
MIX = (550.0, 0.25)
SECTIONS = (Span("intro", 0.0, 1.0), Span("verse", 1.0, 4.0), Span("outro", 4.0, 6.0))
CHORDS = (Span("C", 0.0, 2.0), Span("F", 2.0, 4.0), Span("G", 4.0, 6.0))
LEVEL_TOL = 0.08  # relative: Opus at 96 kb/s and the analyser's 8192-sample window read a sine within ~2 %
SYNC_S = 0.020  # issue 27: every stem's position within 20 ms of the others
CLOCK_TOL = 0.10  # currentTime advances with the wall clock within 10 %
SILENT = 0.002  # RMS of "nothing heard": under a third of what one sample of misalignment leaves (0.0067)
TONE = (
    220.5,
    0.3,
)  # the cancelling pair; 220.5 Hz turns 1 s of offset into half a cycle: a wrong offset doubles
ALBUM_OFFSET = 1.0  # s: where the album page's second lane starts on the time line
BURST_S = 1.0  # s of tone at the start of the burst page's lane; silence after

# In-page helpers: a settled level (median of 5 reads after the gain ramps and the analyser window) and the
# spread of the lanes' positions.
HELPERS = """
window.mmTest = {
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  async level(settleMs = 350) {
    await this.sleep(settleMs);
    const v = [];
    for (let i = 0; i < 5; i++) { v.push(musicmakerPlayer.level()); await this.sleep(40); }
    return v.sort((a, b) => a - b)[2];
  },
  spread() { const p = Object.values(musicmakerPlayer.positions()); return Math.max(...p) - Math.min(...p); },
};
"""


def rms(*amplitudes: float) -> float:
    return math.sqrt(sum(a * a for a in amplitudes) / 2)


def sine(hz: float, amplitude: float, duration: float = DURATION, shift: float = 0.0) -> Audio:
    """A stereo sine with faded ends; ``shift`` seconds of its phase already gone at its start."""
    t = np.arange(int(duration * SAMPLE_RATE)) / SAMPLE_RATE
    fade = np.clip(np.minimum(t, duration - t) / FADE, 0.0, 1.0)
    mono = (amplitude * fade * np.sin(2 * np.pi * hz * (t + shift))).astype(np.float32)
    return Audio(np.stack([mono, mono]), SAMPLE_RATE)


@dataclass(frozen=True)
class Pages:
    full: Path  # every source there
    missing: Path  # one bundle deleted ("pads"), one audio file never written ("fx")
    cancel: Path  # "tone" and "anti" (its negation, and a second take of it): silent when in sync
    album: Path  # "tone" from 0 and "late" from ALBUM_OFFSET, the negation of what tone plays then
    burst: Path  # one lane: the tone for BURST_S, then silence


def write_lane(folder: Path, name: str, hz: float, amplitude: float) -> Lane:
    audio = sine(hz, amplitude)
    write_wav(folder / f"stems/{name}.wav", audio)
    write_png(folder / f"report/wave_{name}.png", waveform_image(audio, width=600, height=46))
    sources = [write_bundle(folder, f"stems/{name}.wav", "stem")]
    if name == "bass":
        write_wav(folder / "stems/bass.raw.wav", sine(*RAW_BASS))
        sources.append(write_bundle(folder, "stems/bass.raw.wav", "raw"))
    return Lane(name, tuple(sources), wave=f"report/wave_{name}.png")


def write_page(path: Path, data: PlayerData) -> Path:
    path.write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>player</title></head><body>{player_section(data)}</body></html>",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Pages:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed: the player's bundles are Ogg Opus written by ffmpeg")
    folder = tmp_path_factory.mktemp("player")
    lanes = [write_lane(folder, name, hz, amplitude) for name, (hz, amplitude) in STEMS.items()]
    write_wav(folder / "mix.wav", sine(*MIX))
    mix = write_bundle(folder, "mix.wav", "mix")
    full = PlayerData(DURATION, tuple(lanes), mix, SECTIONS, CHORDS)
    pads = write_lane(folder, "pads", 880.0, 0.05)
    assert pads.sources[0].bundle is not None
    (folder / pads.sources[0].bundle).unlink()  # a bundle deleted after the page was written
    fx = Lane("fx", (write_bundle(folder, "stems/fx.wav", "stem"),))  # an audio file that never was
    assert fx.sources[0].bundle is None
    missing = PlayerData(DURATION, (*lanes, pads, fx), mix, SECTIONS, CHORDS)
    return Pages(
        write_page(folder / "player.html", full),
        write_page(folder / "missing.html", missing),
        write_page(folder / "cancel.html", cancelling(folder)),
        write_page(folder / "album.html", album(folder)),
        write_page(folder / "burst.html", burst(folder)),
    )


def burst(folder: Path) -> PlayerData:
    audio = sine(*TONE)
    samples = audio.samples.copy()
    samples[:, int(BURST_S * SAMPLE_RATE) :] = 0.0  # a hard stop is fine: the measurements sit away from it
    write_wav(folder / "pair/burst.wav", Audio(samples, SAMPLE_RATE))
    return PlayerData(DURATION, (Lane("burst", (write_bundle(folder, "pair/burst.wav", "stem"),)),))


def cancelling(folder: Path) -> PlayerData:
    hz, amplitude = TONE
    for name, sign in (("tone", 1), ("anti", -1), ("anti2", -1)):
        write_wav(folder / f"pair/{name}.wav", sine(hz, sign * amplitude))
    tone = Lane("tone", (write_bundle(folder, "pair/tone.wav", "stem"),))
    anti = (write_bundle(folder, "pair/anti.wav", "stem"), write_bundle(folder, "pair/anti2.wav", "take 2"))
    return PlayerData(DURATION, (tone, Lane("anti", anti)))


def album(folder: Path) -> PlayerData:
    hz, amplitude = TONE
    write_wav(folder / "pair/late.wav", sine(hz, -amplitude, DURATION - ALBUM_OFFSET, shift=ALBUM_OFFSET))
    tone = Lane("tone", (write_bundle(folder, "pair/tone.wav", "stem"),))
    late = Lane("late", (write_bundle(folder, "pair/late.wav", "stem"),))
    return PlayerData(DURATION, (tone, late), offsets={"late": ALBUM_OFFSET})


@pytest.fixture(scope="module")
def browser(pages: Pages) -> Iterator[PlayerPage]:
    if find_chromium() is None:
        pytest.skip(
            "chromium is not installed (apt-get install -y chromium; the Makefile's APT_PACKAGES has it)"
        )
    with PlayerPage(pages.full) as page:
        yield page


def open_player(browser: PlayerPage, html: Path) -> PlayerPage:
    """A fresh page (a new player and AudioContext) with every bundle loaded and the test helpers defined."""
    browser.open(html)
    browser.wait_ready(timeout=60.0)
    browser.js(HELPERS)
    return browser


@pytest.fixture
def page(browser: PlayerPage, pages: Pages) -> PlayerPage:
    return open_player(browser, pages.full)


def level(page: PlayerPage) -> float:
    return float(page.js("mmTest.level()"))


def clock_against_wall(page: PlayerPage, seconds: float) -> tuple[float, float]:
    """(wall-clock seconds, currentTime advance) over ``seconds``, both read inside the page."""
    wall, advance = page.js(
        f"(async () => {{ const p = musicmakerPlayer, t0 = performance.now(), c0 = p.currentTime;"
        f" await mmTest.sleep({int(seconds * 1000)});"
        " return [(performance.now() - t0) / 1000, p.currentTime - c0]; })()"
    )
    return float(wall), float(advance)


def test_the_inlined_player_is_under_30_kb() -> None:
    section = player_section(PlayerData(DURATION, ()))
    script = section[section.index("<script>") :]
    assert len(PLAYER_JS.read_bytes()) < 30_000 and len(script.encode()) < 30_000, len(script)
    assert "<style" not in section  # its CSS comes inside the script, counted above


def test_page_loads_from_file_url_with_every_lane_labelled(page: PlayerPage) -> None:
    assert page.errors() == []
    assert page.js("musicmakerPlayer.stems") == list(STEMS)
    assert page.js("musicmakerPlayer.missing()") == []
    assert (
        page.js("[...document.querySelectorAll('.mm-lane .mm-status')].map(s => s.textContent)") == [""] * 3
    )
    unlabelled = page.js(
        "[...document.querySelectorAll('#mm-player button, #mm-player input, #mm-player select,"
        " #mm-player [role=slider]')].filter(c => !c.getAttribute('aria-label') && !c.labels?.length)"
        ".map(c => c.outerHTML)"
    )
    assert unlabelled == []
    assert page.js("[...document.querySelectorAll('.mm-lane')].map(l => l.tabIndex)") == [0] * 3
    assert page.js("document.querySelectorAll('.mm-sec').length") == len(SECTIONS)
    assert page.js("[...document.querySelectorAll('.mm-lane img')].every(i => i.complete && i.naturalWidth)")


def test_clock_follows_the_wall_clock_and_stems_start_together(page: PlayerPage) -> None:
    page.js("musicmakerPlayer.play()")
    page.js("mmTest.sleep(200)")
    wall, advance = clock_against_wall(page, 1.5)
    assert advance == pytest.approx(wall, rel=CLOCK_TOL)
    assert page.js("mmTest.spread()") < SYNC_S
    page.js("musicmakerPlayer.seek(4.0)")  # restarts every stem at one new offset
    page.js("mmTest.sleep(300)")
    now, positions = page.js("[musicmakerPlayer.currentTime, musicmakerPlayer.positions()]")
    assert 4.2 < now < 4.5 and set(positions) == set(STEMS)
    assert all(abs(p - now) < SYNC_S for p in positions.values()), (now, positions)
    assert level(page) == pytest.approx(rms(*(a for _, a in STEMS.values())), rel=LEVEL_TOL)
    assert page.errors() == []


def test_mute_solo_and_gain_change_what_is_heard(page: PlayerPage) -> None:
    drums, bass, keys = (a for _, a in STEMS.values())
    page.js("musicmakerPlayer.play()")
    assert level(page) == pytest.approx(rms(drums, bass, keys), rel=LEVEL_TOL)
    page.js("musicmakerPlayer.setMute('drums', true)")
    assert level(page) == pytest.approx(rms(bass, keys), rel=LEVEL_TOL)
    page.js("musicmakerPlayer.setSolo('bass', true)")
    assert level(page) == pytest.approx(rms(bass), rel=LEVEL_TOL)
    page.js("musicmakerPlayer.setSolo('drums', true)")  # soloed but muted: still silent
    assert level(page) == pytest.approx(rms(bass), rel=LEVEL_TOL)
    page.js("['drums', 'bass', 'keys'].forEach(n => { musicmakerPlayer.setMute(n, true); })")
    assert level(page) < SILENT
    page.js("['drums', 'bass', 'keys'].forEach(n => { musicmakerPlayer.setMute(n, false); })")
    page.js("['drums', 'bass'].forEach(n => { musicmakerPlayer.setSolo(n, false); })")
    page.js("musicmakerPlayer.setGain('drums', -6)")
    assert level(page) == pytest.approx(rms(drums * 10 ** (-6 / 20), bass, keys), rel=LEVEL_TOL)
    assert page.js("document.querySelector('.mm-lane input[type=range]').value") == "-6"


def test_pause_stops_the_clock_and_the_sound(page: PlayerPage) -> None:
    page.js("musicmakerPlayer.play()")
    page.js("mmTest.sleep(600)")
    page.js("musicmakerPlayer.pause()")
    before = page.js("musicmakerPlayer.currentTime")
    assert 0.5 < before < 0.9
    assert level(page) < SILENT
    assert page.js("musicmakerPlayer.currentTime") == before
    assert set(page.js("musicmakerPlayer.positions()").values()) == {before}
    page.js("musicmakerPlayer.play()")  # goes on from where it paused
    page.js("mmTest.sleep(300)")
    assert before + 0.2 < page.js("musicmakerPlayer.currentTime") < before + 0.5


def test_a_missing_bundle_marks_its_lane_and_the_others_play(browser: PlayerPage, pages: Pages) -> None:
    page = open_player(browser, pages.missing)
    assert page.js("musicmakerPlayer.missing()") == ["pads", "fx"]
    statuses = page.js("[...document.querySelectorAll('.mm-lane .mm-status')].map(s => s.textContent)")
    assert statuses == ["", "", "", "missing", "missing"]
    errors = page.errors()  # the deleted bundle's failed load, and nothing else
    assert len(errors) == 1 and "stems_pads.js" in errors[0], errors
    page.js("musicmakerPlayer.play()")
    assert level(page) == pytest.approx(rms(*(a for _, a in STEMS.values())), rel=LEVEL_TOL)
    assert set(page.js("musicmakerPlayer.positions()")) == set(STEMS)
    assert page.js("mmTest.spread()") < SYNC_S
    assert page.errors() == errors


def test_switching_a_source_keeps_the_transport_running(page: PlayerPage) -> None:
    page.js("musicmakerPlayer.setSolo('bass', true); musicmakerPlayer.play()")
    assert level(page) == pytest.approx(rms(STEMS["bass"][1]), rel=LEVEL_TOL)
    wall, advance = page.js(
        "(async () => { const p = musicmakerPlayer, t0 = performance.now(), c0 = p.currentTime;"
        " p.setSource('bass', 'raw'); await mmTest.sleep(800);"
        " return [(performance.now() - t0) / 1000, p.currentTime - c0]; })()"
    )
    assert advance == pytest.approx(wall, rel=CLOCK_TOL)  # no stop, no jump back
    assert page.js("musicmakerPlayer.playing") and page.js("musicmakerPlayer.source('bass')") == "raw"
    assert page.js("document.querySelector('.mm-lane select').value") == "1"
    assert level(page) == pytest.approx(rms(RAW_BASS[1]), rel=LEVEL_TOL)
    assert page.js("mmTest.spread()") < SYNC_S  # the new source joined at the others' position
    page.js("musicmakerPlayer.setSolo('bass', false)")
    assert level(page) == pytest.approx(rms(STEMS["drums"][1], RAW_BASS[1], STEMS["keys"][1]), rel=LEVEL_TOL)


def test_space_plays_and_m_s_act_on_the_focused_lane(page: PlayerPage) -> None:
    page.press(" ")
    assert page.js("musicmakerPlayer.playing")
    page.js("document.querySelectorAll('.mm-lane')[1].focus()")  # bass
    page.press("s")
    assert page.js("document.querySelector('[aria-label=\"Solo bass\"]').ariaPressed") == "true"
    assert level(page) == pytest.approx(rms(STEMS["bass"][1]), rel=LEVEL_TOL)
    page.press("m")
    assert page.js("document.querySelector('[aria-label=\"Mute bass\"]').ariaPressed") == "true"
    assert level(page) < SILENT
    page.press(" ")  # the focused lane is no form control: space still plays and pauses
    assert not page.js("musicmakerPlayer.playing")


def test_the_mix_compare_plays_the_mix_in_place_of_the_stems(page: PlayerPage) -> None:
    page.js("musicmakerPlayer.play()")
    page.js("musicmakerPlayer.compare(true)")
    assert level(page) == pytest.approx(rms(MIX[1]), rel=LEVEL_TOL)
    page.js("musicmakerPlayer.stems.forEach(n => musicmakerPlayer.setMute(n, true))")  # B ignores the lanes
    assert level(page) == pytest.approx(rms(MIX[1]), rel=LEVEL_TOL)
    page.js("document.querySelector('[aria-label^=\"Compare\"]').click()")  # back to A: the stems, all muted
    assert page.js("document.querySelector('[aria-label^=\"Compare\"]').textContent") == "A: stems"
    assert level(page) < SILENT


def test_a_clicked_section_loops_and_a_click_on_the_bar_seeks(page: PlayerPage) -> None:
    page.click(".mm-sec")  # intro, 0-1 s
    page.js("musicmakerPlayer.play()")
    page.js("mmTest.sleep(1500)")  # past the loop's end once
    now = page.js("musicmakerPlayer.currentTime")
    assert 0.0 <= now < 1.0
    positions = page.js("musicmakerPlayer.positions()")
    assert all(abs(p - now) < SYNC_S for p in positions.values()), (now, positions)
    assert level(page) == pytest.approx(rms(*(a for _, a in STEMS.values())), rel=LEVEL_TOL)  # still heard
    page.click(".mm-sec")  # the same section again: the loop ends
    page.click("[role=slider]", fraction=0.75)
    page.js("mmTest.sleep(100)")
    assert 0.75 * DURATION < page.js("musicmakerPlayer.currentTime") < 0.75 * DURATION + 0.3


def test_stems_play_sample_aligned_through_seek_source_switch_and_loop(
    browser: PlayerPage, pages: Pages
) -> None:
    page = open_player(browser, pages.cancel)
    page.js("musicmakerPlayer.play()")
    assert level(page) < SILENT
    page.js("musicmakerPlayer.setMute('anti', true)")  # the measure can fail: one tone alone is loud
    assert level(page) == pytest.approx(rms(TONE[1]), rel=LEVEL_TOL)
    page.js("musicmakerPlayer.setMute('anti', false)")
    page.js("musicmakerPlayer.seek(3.3)")
    assert level(page) < SILENT
    page.js("musicmakerPlayer.setSource('anti', 'take 2')")  # joins the running transport on its sample
    assert level(page) < SILENT and page.js("musicmakerPlayer.source('anti')") == "take 2"
    page.js("musicmakerPlayer.setLoop(true, 0.5, 1.0)")
    page.js("mmTest.sleep(800)")  # wrapped at least once
    assert 0.5 <= page.js("musicmakerPlayer.currentTime") < 1.0
    assert level(page) < SILENT


def test_an_album_offset_starts_a_lane_later_on_the_time_line(browser: PlayerPage, pages: Pages) -> None:
    page = open_player(browser, pages.album)
    page.js("musicmakerPlayer.play()")
    assert level(page) == pytest.approx(rms(TONE[1]), rel=LEVEL_TOL)  # before 1 s: the tone alone
    page.js("mmTest.sleep(1000)")
    assert page.js("musicmakerPlayer.currentTime") > ALBUM_OFFSET + 0.3
    assert level(page) < SILENT  # "late" came in at 1 s on the tone's sample
    page.js("musicmakerPlayer.seek(4.1)")
    now, positions = page.js("[musicmakerPlayer.currentTime, musicmakerPlayer.positions()]")
    assert all(abs(p - now) < SYNC_S for p in positions.values()), (now, positions)
    assert level(page) < SILENT


def test_a_loop_plays_its_region_again(browser: PlayerPage, pages: Pages) -> None:
    """Heard, not read off the clock: the lane is silent from 1 s on, so audio that ran on past a loop of
    0.2-0.9 s would fall silent; looped, the tone goes on."""
    page = open_player(browser, pages.burst)
    page.js("musicmakerPlayer.setLoop(true, 0.2, 0.9); musicmakerPlayer.play()")
    page.js("mmTest.sleep(1200)")  # 0.2 + 1.2 s: past 1 s, had it not looped
    assert 0.2 <= page.js("musicmakerPlayer.currentTime") < 0.9
    assert level(page) == pytest.approx(rms(TONE[1]), rel=LEVEL_TOL)
    page.js("musicmakerPlayer.setLoop(false)")  # goes on from where it is, into the silent part
    page.js("mmTest.sleep(900)")
    assert level(page) < SILENT
