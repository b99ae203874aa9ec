"""Small albums written into a test's folder: two short tracks with debug models."""

from __future__ import annotations

from pathlib import Path

TRACK = """title: {title}
bpm: 120
key: A minor
duration: 6
seed: {seed}
stems:
  - {{name: keys, prompt: "{prompt}"}}
  - {{name: bass, prompt: warm bass, follow: keys, model: debug-melody}}
"""

ALBUM = """title: {title}
artist: musicmaker tests
defaults:
  model: debug
  separation_model: debug
  master: {{lufs: -16, formats: [wav]}}
tracks:
  - {{path: one.yaml, slug: one}}
  - {{path: two.yaml, slug: two}}
gap: 0.5
formats: [wav, mp3]
"""


def write_album(folder: Path, title: str = "Pool Album", prompt: str = "soft rhodes keys") -> Path:
    """Write album.yaml, one.yaml and two.yaml into ``folder``; returns the album file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "one.yaml").write_text(TRACK.format(title="One", seed=1, prompt=prompt))
    (folder / "two.yaml").write_text(TRACK.format(title="Two", seed=2, prompt="bright piano"))
    album = folder / "album.yaml"
    album.write_text(ALBUM.format(title=title))
    return album
