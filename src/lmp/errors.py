"""Exceptions for expected failures. The CLI prints these as one line, without a traceback."""


class LMPError(Exception):
    """Base class: bad input, a corrupt file, an impossible config. The message names the culprit."""


class StoreError(LMPError):
    """A feature store (or one movie/field in it) is missing, corrupt or inconsistent."""
