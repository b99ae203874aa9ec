"""Folder and file names made from titles: one rule for the schema's suggestions and the render's folders."""

from __future__ import annotations

import re

FOLDER_SLUG_LENGTH = 60


def slugify(text: str, max_length: int = FOLDER_SLUG_LENGTH, fallback: str = "track") -> str:
    """Lower-case ASCII letters and digits, each other run of characters one '-', at most ``max_length`` long:
    the folder of a title, and the suggestion for a stem name or track slug that is not one."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_length] or fallback
