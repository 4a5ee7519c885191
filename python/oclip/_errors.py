"""oclip's exceptions: one class per oclip_status (include/oclip.h), all subclasses of Error."""
from typing import Optional

__all__ = ["Error", "FileError", "FormatError", "Mismatch", "Unsupported", "Unsafe", "Limit",
           "ArgumentError", "NotFound"]


class Error(Exception):
    """An error of liboclip.

    Attributes: ``message`` (what failed, with its context: file -> record -> tensor -> reason),
    ``hint`` (what to do about it, or None), ``status`` (the oclip_status number).
    ``str(e)`` is the message followed by "hint: ..." on its own line when there is a hint.
    """

    status: Optional[int] = None

    def __init__(self, message, hint=None, status=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message + ("\nhint: " + self.hint if self.hint else "")


class FileError(Error):
    """OCLIP_E_IO: a file could not be opened, mapped or read (or downloaded)."""
    status = 1


class FormatError(Error, ValueError):
    """OCLIP_E_FORMAT: the bytes are not what the container promises (truncated, corrupt)."""
    status = 2


class Mismatch(FormatError):
    """OCLIP_E_MISMATCH: a checkpoint that does not fit its architecture (missing or unexpected
    keys, other shapes), refused by create_model* and convert; ``oclip.check(...)`` gives the
    full report. A FormatError too, so ``except oclip.FormatError`` also catches it."""
    status = 8


class Unsupported(Error):
    """OCLIP_E_UNSUPPORTED: valid, but not something oclip reads or computes (yet)."""
    status = 3


class Unsafe(Error):
    """OCLIP_E_UNSAFE: a pickle asked for something outside the allow-list."""
    status = 4


class Limit(Error, MemoryError):
    """OCLIP_E_NOMEM: out of memory, or a resource limit (pixels, tensors, depth) was reached."""
    status = 5


class ArgumentError(Error, ValueError):
    """OCLIP_E_ARG: a bad argument (a malformed spec, token ids outside the vocabulary ...)."""
    status = 6


class NotFound(Error, LookupError):
    """OCLIP_E_NOTFOUND: a named thing does not exist (a tag, a tensor, weights not in the
    cache: the hint names the `oclip pull` command that downloads them)."""
    status = 7


# index = oclip_status (include/oclip.h; 0: the base class, for codes this table lacks)
BY_STATUS = (Error, FileError, FormatError, Unsupported, Unsafe, Limit, ArgumentError, NotFound,
             Mismatch)

for _c in BY_STATUS:
    _c.__module__ = "oclip"  # shown as oclip.NotFound, where users catch it
