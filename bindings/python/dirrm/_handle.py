"""What every handle-backed class shares: closing, context management, save/load, pickling."""

from __future__ import annotations

import ctypes
from typing import Any, ClassVar, Optional, TypeVar, Union

import numpy as np

from ._arrays import ptr
from ._errors import ERR_MISUSE, DirrmError
from ._lib import check_call, lib

_Self = TypeVar("_Self", bound="Handle")


class Handle:
    """Owns one library handle. Subclasses set _PREFIX (e.g. "dirrm_club")."""

    _PREFIX: ClassVar[Optional[str]] = None
    _handle: Optional[ctypes.c_void_p] = None

    def _call(self, suffix: str, *args: Any) -> None:
        check_call(getattr(lib, f"{self._PREFIX}_{suffix}")(self._live(), *args))

    def _live(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise DirrmError(ERR_MISUSE, f"{type(self).__name__} is closed")
        return self._handle

    def save(self) -> bytes:
        """The object's whole state (see load).

        Returns
        -------
        bytes
            Framed with a magic, a format version, a length and a checksum.
        """
        size = ctypes.c_int64()
        self._call("save", None, 0, ctypes.byref(size))
        buffer = np.empty(size.value, np.uint8)
        self._call("save", ptr(buffer), buffer.size, ctypes.byref(size))
        return buffer.tobytes()

    @classmethod
    def load(cls: type[_Self], data: Union[bytes, bytearray, memoryview]) -> _Self:
        """An object restored from save()'s bytes; it continues exactly as the original.

        Parameters
        ----------
        data : bytes-like
            What save() returned.

        Raises
        ------
        DirrmError
            DIRRM_ERR_CORRUPT for a truncated or changed buffer, DIRRM_ERR_VERSION for one from
            an incompatible version.
        """
        buffer = np.frombuffer(bytes(data), np.uint8)
        handle = ctypes.c_void_p()
        check_call(getattr(lib, f"{cls._PREFIX}_load")(ptr(buffer), buffer.size, ctypes.byref(handle)))
        self = cls.__new__(cls)
        self._handle = handle
        self._after_load()
        return self

    def _after_load(self) -> None:
        pass

    def __getstate__(self) -> dict[str, bytes]:
        return {"state": self.save()}

    def __setstate__(self, state: dict[str, bytes]) -> None:
        other = type(self).load(state["state"])
        self.__dict__.update(other.__dict__)
        other._handle = None

    def close(self) -> None:
        """Frees the library object; later calls raise DirrmError (DIRRM_ERR_MISUSE)."""
        if self._handle is not None:
            check_call(getattr(lib, f"{self._PREFIX}_free")(self._handle))
            self._handle = None

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
