"""dirrm's exceptions: DirrmError, carrying a DIRRM_ERR_* status, and one subclass per family
of statuses (docs/abi.md §2, "In Python").

The library's failures (``check_call``) and the Python layer's own checks build them the same
way, ``DirrmError(status, message)``, which returns the subclass of the status, as
``OSError(errno.ENOENT, ...)`` returns a FileNotFoundError. The subclasses that describe a
caller's mistake in the arguments also derive from ValueError, the one for memory from
MemoryError, so callers can catch either dirrm's class or Python's.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DirrmError", "InvalidArgumentError", "ShapeError", "NonFiniteError", "OutOfMemoryError", "MisuseError",
    "NotConvergedError", "FormatError",
]

# include/dirrm.h's DIRRM_OK and DIRRM_ERR_* (test_header_mirror compares them, through
# dirrm._lib, with the header).
OK = 0
ERR_NULL_POINTER = 1
ERR_INVALID_ARGUMENT = 2
ERR_SHAPE = 3
ERR_NONFINITE = 4
ERR_OUT_OF_MEMORY = 5
ERR_MISUSE = 6
ERR_NOT_CONVERGED = 7
ERR_CORRUPT = 8
ERR_VERSION = 9
ERR_BUFFER_TOO_SMALL = 10
ERR_IO = 11
ERR_INTERNAL = 99


class DirrmError(RuntimeError):
    """A dirrm call or one of the Python layer's checks failed.

    ``DirrmError(status, message)`` returns the subclass of ``status`` (see the table in
    docs/abi.md); statuses without one (DIRRM_ERR_IO, DIRRM_ERR_INTERNAL, an unknown code) give
    DirrmError itself, a RuntimeError.

    Parameters
    ----------
    status : int
        The DIRRM_ERR_* code (see dirrm.h).
    message : str
        The library's text, naming the argument and, for a bad value, the first offending index.

    Attributes
    ----------
    status : int
    message : str
    """

    status: int
    message: str

    def __new__(cls, status: int, message: str) -> DirrmError:
        target = _CLASS_OF.get(status, DirrmError) if cls is DirrmError else cls
        error: DirrmError = super().__new__(target, status, message)
        return error

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"[{status}] {message}")
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[Any, tuple[int, str]]:
        # BaseException would pickle the formatted text as the only argument, which this
        # constructor does not take: errors must cross to DataLoader workers and back.
        return type(self), (self.status, self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class InvalidArgumentError(DirrmError, ValueError):
    """DIRRM_ERR_INVALID_ARGUMENT (a value outside its range, an unknown option or name) and
    DIRRM_ERR_NULL_POINTER."""


class ShapeError(DirrmError, ValueError):
    """DIRRM_ERR_SHAPE (sizes or shapes that do not match, an array that is not one) and
    DIRRM_ERR_BUFFER_TOO_SMALL."""


class NonFiniteError(DirrmError, ValueError):
    """DIRRM_ERR_NONFINITE: a nan or inf in an input, or a result that does not fit in float32
    (a diverged fit among them)."""


class OutOfMemoryError(DirrmError, MemoryError):
    """DIRRM_ERR_OUT_OF_MEMORY: an allocation the library could not make."""


class MisuseError(DirrmError):
    """DIRRM_ERR_MISUSE: a closed or busy handle, or a call out of order (a RuntimeError)."""


class NotConvergedError(DirrmError):
    """DIRRM_ERR_NOT_CONVERGED: an iteration ran out of its budget (a RuntimeError)."""


class FormatError(DirrmError, ValueError):
    """DIRRM_ERR_CORRUPT and DIRRM_ERR_VERSION: saved state the library could not have written,
    or of another format version."""


_CLASS_OF: dict[int, type[DirrmError]] = {
    ERR_NULL_POINTER: InvalidArgumentError,
    ERR_INVALID_ARGUMENT: InvalidArgumentError,
    ERR_SHAPE: ShapeError,
    ERR_BUFFER_TOO_SMALL: ShapeError,
    ERR_NONFINITE: NonFiniteError,
    ERR_OUT_OF_MEMORY: OutOfMemoryError,
    ERR_MISUSE: MisuseError,
    ERR_NOT_CONVERGED: NotConvergedError,
    ERR_CORRUPT: FormatError,
    ERR_VERSION: FormatError,
}
