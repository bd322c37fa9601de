"""Specific exceptions, raised where a problem is found; the CLI and UI turn them into
exit codes and messages."""

from __future__ import annotations


class QAError(Exception):
    """Base class: every error callqa raises on bad input."""


class InputError(QAError):
    """Bad input naming the file (or source) and the field at fault."""

    def __init__(self, source: str, field: str, reason: str):
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}:{field}" if field else source
        super().__init__(f"{where}: {reason}")


class TranscriptError(InputError):
    """A transcript JSON file that cannot be read as a call."""


class RubricError(InputError):
    """A rubric YAML or lexicon that does not validate."""


class AudioError(InputError):
    """A recording that cannot be transcribed: missing, empty, corrupt, an unsupported
    codec, more than two channels, no samples, or silent. The message names the file."""

    def __init__(self, source: str, field: str = "", reason: str = ""):
        super().__init__(source, field, reason)
