"""Licences of the models a render uses, as SPDX ids, and whether each lets a render be used commercially.

A producer must know before publishing a render that MusicGen's weights are CC-BY-NC-4.0 (non-commercial),
while Demucs is MIT and basic-pitch Apache-2.0. Each model catalogue states its models' licences once
(``stems.musicgen.models``, ``stems.separation.catalog``, ``stems.transcription.transcriber``); this module holds
the record they return, the SPDX ids we know the terms of, and how a local model folder states its own
licence (a Hugging Face model card's ``license:`` front matter, a ``license`` field in its config, or a
LICENSE file). A licence that cannot be found is unknown, and is said to be unknown.
Light: no heavy imports, so the render checks can ask before any model loads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# pyproject.toml's `license`: what this project's own code and the random weights it builds are under.
PROJECT_LICENSE = "MIT"
UNKNOWN = "unknown"

# SPDX ids (https://spdx.org/licenses/) whose terms we know: True allows commercial use, False forbids it
# (the Creative Commons NonCommercial family). Any other id, or none, is not known to allow it.
COMMERCIAL_USE: dict[str, bool] = {
    "MIT": True,
    "Apache-2.0": True,
    "BSD-2-Clause": True,
    "BSD-3-Clause": True,
    "ISC": True,
    "CC0-1.0": True,
    "CC-BY-3.0": True,
    "CC-BY-4.0": True,
    "CC-BY-SA-3.0": True,
    "CC-BY-SA-4.0": True,
    "CC-BY-NC-2.0": False,
    "CC-BY-NC-3.0": False,
    "CC-BY-NC-4.0": False,
    "CC-BY-NC-SA-3.0": False,
    "CC-BY-NC-SA-4.0": False,
    "CC-BY-NC-ND-3.0": False,
    "CC-BY-NC-ND-4.0": False,
}
_BY_LOWER = {spdx.lower(): spdx for spdx in COMMERCIAL_USE}

# Where a model folder states its licence, in the order they are read.
MODEL_CARD = "README.md"  # Hugging Face model card: YAML front matter between '---' lines
CONFIG_FIELD = "license"
LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "LICENCE.txt", "COPYING")
# Phrases that identify a licence text (the licences' own titles), most specific first.
_LICENSE_TEXTS = (
    ("Attribution-NonCommercial-ShareAlike 4.0 International", "CC-BY-NC-SA-4.0"),
    ("Attribution-NonCommercial-NoDerivatives 4.0 International", "CC-BY-NC-ND-4.0"),
    ("Attribution-NonCommercial 4.0 International", "CC-BY-NC-4.0"),
    ("Attribution-ShareAlike 4.0 International", "CC-BY-SA-4.0"),
    ("Attribution 4.0 International", "CC-BY-4.0"),
    ("CC0 1.0 Universal", "CC0-1.0"),
    ("Apache License Version 2.0", "Apache-2.0"),
    ("Permission is hereby granted, free of charge", "MIT"),
)
_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+)")


def spdx_id(value: str) -> str:
    """``value`` as its SPDX id when we know it in any case (``cc-by-nc-4.0``, as model cards write it, is
    ``CC-BY-NC-4.0``); any other value as written."""
    text = value.strip()
    return _BY_LOWER.get(text.lower(), text)


@dataclass(frozen=True)
class License:
    """A model's licence: ``spdx`` None when unknown; ``source`` says where it was read."""

    spdx: str | None
    source: str

    @property
    def name(self) -> str:
        """The SPDX id, or "unknown"."""
        return self.spdx or UNKNOWN

    @property
    def commercial_use(self) -> bool | None:
        """True: allows commercial use; False: forbids it; None: unknown licence or terms we do not know."""
        return None if self.spdx is None else COMMERCIAL_USE.get(self.spdx)

    def why_not_commercial(self) -> str | None:
        """Why a render made with this model cannot be declared commercial (None: it can)."""
        if self.commercial_use:
            return None
        if self.spdx is None:
            return f"its licence is unknown ({self.source})"
        if self.commercial_use is False:
            return f"its licence {self.spdx} ({self.source}) forbids commercial use"
        return (
            f"its licence {self.spdx!r} ({self.source}) is not one musicmaker knows to allow commercial use"
        )


def folder_license(folder: Path, config_file: str = "config.json") -> License:
    """The licence a model folder states: its model card's ``license:``, its config's, or a LICENSE file."""
    folder = Path(folder)
    for found in (_card_license(folder / MODEL_CARD), _config_license(folder / config_file)):
        if found is not None:
            return found
    for name in LICENSE_FILES:
        if (folder / name).is_file():
            return _file_license(folder / name)
    where = f"{MODEL_CARD} with 'license:', a {CONFIG_FIELD!r} field in {config_file}, or {LICENSE_FILES[0]}"
    return License(None, f"{folder} states none: no {where}")


def _card_license(path: Path) -> License | None:
    """``license:`` of a Hugging Face model card's YAML front matter."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = re.match(r"---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    try:
        meta = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        return None
    value = meta.get(CONFIG_FIELD) if isinstance(meta, dict) else None
    return License(spdx_id(value), f"'{CONFIG_FIELD}:' in {path}") if isinstance(value, str) else None


def _config_license(path: Path) -> License | None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    value = config.get(CONFIG_FIELD) if isinstance(config, dict) else None
    return License(spdx_id(value), f"{CONFIG_FIELD!r} in {path}") if isinstance(value, str) else None


def _file_license(path: Path) -> License:
    """The licence a LICENSE file holds: an SPDX id alone or on an SPDX line, or a licence text we recognise."""
    try:
        text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    except OSError as err:
        return License(None, f"{path} cannot be read ({err})")
    if spdx_id(text) in COMMERCIAL_USE:
        return License(spdx_id(text), str(path))
    line = _SPDX_LINE.search(text)
    if line:
        return License(spdx_id(line.group(1)), str(path))
    found = next((spdx for phrase, spdx in _LICENSE_TEXTS if phrase.lower() in text.lower()), None)
    if found is None:
        return License(None, f"{path} holds a licence text musicmaker does not recognise: read it")
    return License(found, str(path))
