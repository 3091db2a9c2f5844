"""Exceptions whose message is one line naming the culprit (file, field or config key).

The workflow and the command-line entry points print ``str(exc)`` of these and exit
non-zero; anything else is a bug and keeps its traceback.
"""


class YL8C4NetError(Exception):
    """Base class: an input problem that the user can fix, described in one line."""


class ConfigError(YL8C4NetError):
    """The configuration has a bad key or value."""


class BadFieldError(YL8C4NetError, ValueError):
    """A run/rerun/camcol/field identity or band name is out of range."""


class FrameVerificationError(YL8C4NetError):
    """A frame file is corrupt, truncated or has the wrong structure."""


class DownloadError(YL8C4NetError):
    """A remote file is not there (HTTP 404 and other definite answers): a fault of the field."""


class TransientError(YL8C4NetError):
    """A network or service failure that lasted through every retry (HTTP 5xx/429, timeouts,
    dropped connections, cut-off bodies). Not a fault of the field: the job fails, so that
    Snakemake's ``--retries`` or a later rerun tries again, and nothing is quarantined."""


class QueryError(YL8C4NetError):
    """A catalogue query failed or returned something that is not a table."""


class CatalogValidationError(YL8C4NetError):
    """A catalogue table read from disk lacks columns or has bad values."""


class BlockManifestError(YL8C4NetError):
    """A field block's manifest (the output of a per-field stage) is missing or malformed."""


class ModelFileError(YL8C4NetError):
    """A model file (weights, fusion model) cannot be read or is not the kind expected."""
