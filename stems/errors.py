"""Exception types shared by every stage.

``UserInputError`` is anything the user can fix (bad YAML, missing file, unknown model): the CLI
prints its message and exits 2. Anything else is an internal failure (exit 1).
"""

from __future__ import annotations


class MusicmakerError(Exception):
    """Base class of every error raised on purpose by musicmaker."""


class UserInputError(MusicmakerError):
    """Input the user can fix: the message says what was received, what is allowed and how to fix it."""


class ModelUnavailableError(UserInputError):
    """Weights for a named model are neither cached nor reachable."""


class AudioInputError(UserInputError):
    """Audio that cannot be used: unreadable, silent, too short, NaN/inf."""


class StorageError(UserInputError):
    """The disk is full (or read-only) where outputs go; nothing finished is lost, the same command resumes."""
