"""What the exporters can write: formats, bit depths per format, MP3 bitrates. Light (no numpy, no ffmpeg), so the
arrangement schema checks the same facts the exporter uses, before any audio exists.
"""

from __future__ import annotations

import re

FORMATS = ("wav", "flac", "mp3")
# MP3 carries no bit depth (the encoder takes floats), so it writes whatever depth the WAV/FLAC exports use.
BIT_DEPTHS: dict[str, tuple[int | str, ...]] = {
    "wav": (16, 24, "float"),
    "flac": (16, 24),
    "mp3": (16, 24, "float"),
}
# MPEG-1 Layer III bitrates (ISO/IEC 11172-3, 2.4.2.3): every export rate (32, 44.1, 48 kHz) is MPEG-1.
MP3_CBR_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MP3_VBR_QUALITIES = tuple(f"V{q}" for q in range(10))  # LAME -V0 (best) .. -V9
MP3_BITRATES = (*(f"{k}k" for k in MP3_CBR_KBPS), *MP3_VBR_QUALITIES)
_VBR = re.compile(r"^V([0-9])$")


def vbr_quality(bitrate: str) -> int | None:
    """LAME's VBR quality of ``"V0"``..``"V9"``, None for a constant bitrate."""
    match = _VBR.match(bitrate)
    return int(match.group(1)) if match else None


def format_problem(fmt: str, bit_depth: int | str) -> str | None:
    """Why ``fmt`` cannot be written at ``bit_depth`` (None when it can)."""
    if fmt not in FORMATS:
        return f"export format {fmt!r} is not supported; use one of {', '.join(FORMATS)}"
    if bit_depth not in BIT_DEPTHS[fmt]:
        allowed = ", ".join(repr(b) for b in BIT_DEPTHS[fmt])
        return (
            f"{fmt} cannot be written with bit depth {bit_depth!r}; use one of {allowed} "
            f"(or leave {fmt} out of the formats)"
        )
    return None


def bitrate_problem(bitrate: str) -> str | None:
    """Why ``bitrate`` is not an MP3 bitrate (None when it is)."""
    if bitrate in MP3_BITRATES:
        return None
    return (
        f"MP3 bitrate {bitrate!r} is not valid; use a constant rate ({', '.join(f'{k}k' for k in MP3_CBR_KBPS)}) "
        "or VBR V0 (best) .. V9"
    )
