"""Exceptions (and warnings) for expected failures. The CLI prints these as one line, without a traceback."""


class LMPError(Exception):
    """Base class: bad input, a corrupt file, an impossible config. The message names the culprit."""


class StoreError(LMPError):
    """A feature store (or one movie/field in it) is missing, corrupt or inconsistent."""


class LMPWarning(UserWarning):
    """Something was skipped or repaired and the run goes on (a damaged manifest record, an empty folder).
    The CLI prints these as one line."""
