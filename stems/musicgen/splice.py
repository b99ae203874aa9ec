"""Joining a regenerated section back into a stem (issue 26): pure DSP on ``Audio``, no model.

A section redo generates ``[start, end)`` of a stem again, continuing from the audio before ``start``. The new
audio goes in with two equal-power crossfades, both inside the section, so the stem is bit-identical outside
it: at ``start`` the old audio fades out as the new one fades in, and just before ``end`` (a bar line, so a
beat) the new audio hands back to the old, which is then untouched from ``end`` on. Both fades sit on beats:
a section starts and ends on bar lines, ``--bars`` too.

Equal-power (sine/cosine) gains keep the loudness of two unrelated signals level through the fade, which is
what the end join joins (the new section's last beat and the old audio's next downbeat). The fade lasts
``JOIN_FADE_S``, never more than half the section; ``bench/sections.py`` measured it on FluidSynth renderings
of Bach chorales with four bars of another chorale joined in (every seam's largest sample step no larger
than the rest of the stem's; its spectral flux within the stem's 99th percentile or the music's own onset at
that bar line at 10 of 12 tuning seams with FluidR3, up to 4 % over at the other two; a hard cut over at 8 of
12; see the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stems.audio import Audio

# Length of each crossfade, seconds. Chosen on bench/sections.py's tuning split (chorales 60-65) among 0.005,
# 0.01, 0.02, 0.05 and 0.1 s, with both soundfonts: none passes at all seams. Failing seams of 24 (FluidR3 +
# MuseScore General): 8 / 5 / 4 / 7 / 8. FluidR3 alone preferred 0.01 (1 of 12 failing, 1.01x the bound), but
# MuseScore General failed 4 of 12 there (sustained strings, 1.24x) against 2 at 0.02 (1.07x): 5-10 ms switches two
# unrelated sustained chords too fast. The README has the figures, the held-out split's included.
JOIN_FADE_S = 0.02


@dataclass(frozen=True)
class Seam:
    """One join on the stem's time line, seconds: the crossfade covers ``[start, end)``."""

    start: float
    end: float


@dataclass(frozen=True)
class Spliced:
    """The stem with the section replaced, and its seams (one when the section starts at 0 or ends the stem)."""

    audio: Audio
    seams: tuple[Seam, ...]


def equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gains ``(fade_out, fade_in)`` of an ``n``-sample equal-power crossfade: cos and sin of a quarter turn,
    sampled at sample centres, so ``out**2 + in**2 == 1`` at every sample."""
    theta = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


def splice_section(old: Audio, new: Audio, start: float, fade: float = JOIN_FADE_S) -> Spliced:
    """``old`` with ``new`` put in from ``start`` seconds, crossfaded in at ``start`` and back to ``old`` over the
    last ``fade`` s of ``new``. ``new`` must have ``old``'s rate and channels and end inside ``old``.

    Samples before ``start`` and from the end of ``new`` on are ``old``'s, bit for bit.
    """
    if new.sample_rate != old.sample_rate or new.channels != old.channels:
        raise ValueError(
            f"the new section is {new.channels} ch at {new.sample_rate} Hz, the stem "
            f"{old.channels} ch at {old.sample_rate} Hz"
        )
    rate = old.sample_rate
    a = round(start * rate)
    b = a + new.num_samples
    if not (0 <= a < b <= old.num_samples):
        raise ValueError(f"section samples {a}..{b} do not lie inside the stem's {old.num_samples}")
    n = min(round(fade * rate), new.num_samples // 2)
    out = old.samples.copy()
    section = new.samples.copy()
    seams: list[Seam] = []
    fade_out, fade_in = equal_power(n)
    if a > 0 and n > 0:  # from the old audio into the new
        section[:, :n] = old.samples[:, a : a + n] * fade_out + section[:, :n] * fade_in
        seams.append(Seam(a / rate, (a + n) / rate))
    if b < old.num_samples and n > 0:  # and back into the old audio, which goes on unchanged from b
        section[:, -n:] = section[:, -n:] * fade_out + old.samples[:, b - n : b] * fade_in
        seams.append(Seam((b - n) / rate, b / rate))
    out[:, a:b] = section
    return Spliced(Audio(out, rate), tuple(seams))
