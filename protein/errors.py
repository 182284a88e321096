"""The platform's errors. Each message names the file, record or tensor at fault."""


class ProteinError(Exception):
    """Base of every error the platform raises on purpose."""


class InputError(ProteinError):
    """A sequence, alignment or structure file given by the user is malformed or unusable."""


class ParamsError(ProteinError):
    """A parameter file is missing, unreadable, truncated or belongs to another preset."""


class SearchError(ProteinError):
    """An MSA or template search failed (missing binary or database, crash, timeout)."""


class ResourceError(ProteinError):
    """A job does not fit the available memory or device."""
