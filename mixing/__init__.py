"""Loudness, mixing, mastering, export and album sequencing: plain DSP on :class:`stems.audio.Audio`, no Prefect.

The facade names the public API; each name loads its module on first use (PEP 562), so that importing a light
module such as :mod:`mixing.targets` (the schema's loudness ranges) does not load the DSP stack.

- :mod:`mixing.loudness`: BS.1770-4 / EBU R128 meter (``measure``)
- :mod:`mixing.mix`: gain, pan and the mix bus (``Track``, ``mix_tracks``: ``mixing.mix.mix``)
- :mod:`mixing.master`: loudness-normalising, true-peak-safe mastering (``Master``, ``master_file``)
- :mod:`mixing.export`: WAV/FLAC/MP3 writing (``export_audio``, ``zip_files``); :mod:`mixing.ffmpeg`: ffmpeg's
  own loudness reading, the independent check (``ffmpeg_loudness``)
- :mod:`mixing.sequence`: album order, gaps, crossfades and the CUE sheet (``sequence_album``:
  ``mixing.sequence.sequence``, ``cue_sheet``)

``mix`` and ``sequence`` are the names of their modules, so the facade gives those two functions other names.
- :mod:`mixing.targets`, :mod:`mixing.formats`: the loudness targets and output formats, defined once
- :mod:`mixing.sessions`: DAW sessions (DAWproject, REAPER)
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> (module, name there).
HOMES = {
    "measure": ("mixing.loudness", "measure"),
    "Track": ("mixing.mix", "Track"),
    "mix_tracks": ("mixing.mix", "mix"),
    "Master": ("mixing.master", "Master"),
    "master_file": ("mixing.master", "master_file"),
    "export_audio": ("mixing.export", "export_audio"),
    "zip_files": ("mixing.export", "zip_files"),
    "ffmpeg_loudness": ("mixing.ffmpeg", "ffmpeg_loudness"),
    "sequence_album": ("mixing.sequence", "sequence"),
    "cue_sheet": ("mixing.sequence", "cue_sheet"),
    "DEFAULT_LUFS": ("mixing.targets", "DEFAULT_LUFS"),
    "DEFAULT_TRUE_PEAK": ("mixing.targets", "DEFAULT_TRUE_PEAK"),
}

__all__ = sorted(HOMES)  # HOMES itself is the table, not an export


def __getattr__(name: str) -> Any:
    if name not in HOMES:
        raise AttributeError(f"module 'mixing' has no attribute {name!r}")
    module, attribute = HOMES[name]
    return getattr(importlib.import_module(module), attribute)
