"""What every handle-backed class shares: closing, context management, save/load, pickling."""

import ctypes

import numpy as np

from ._arrays import ptr
from ._lib import ERR_MISUSE, DirrmError, check_call, lib


class Handle:
    """Owns one library handle. Subclasses set _PREFIX (e.g. "dirrm_club")."""

    _PREFIX = None
    _handle = None

    def _call(self, suffix, *args):
        check_call(getattr(lib, f"{self._PREFIX}_{suffix}")(self._live(), *args))

    def _live(self):
        if self._handle is None:
            raise DirrmError(ERR_MISUSE, f"{type(self).__name__} is closed")
        return self._handle

    def save(self):
        """The object's whole state as bytes (see load)."""
        size = ctypes.c_int64()
        self._call("save", None, 0, ctypes.byref(size))
        buffer = np.empty(size.value, np.uint8)
        self._call("save", ptr(buffer), buffer.size, ctypes.byref(size))
        return buffer.tobytes()

    @classmethod
    def load(cls, data):
        """An object restored from save()'s bytes; it continues exactly as the original."""
        buffer = np.frombuffer(bytes(data), np.uint8)
        handle = ctypes.c_void_p()
        check_call(getattr(lib, f"{cls._PREFIX}_load")(ptr(buffer), buffer.size, ctypes.byref(handle)))
        self = cls.__new__(cls)
        self._handle = handle
        self._after_load()
        return self

    def _after_load(self):
        pass

    def __getstate__(self):
        return {"state": self.save()}

    def __setstate__(self, state):
        other = type(self).load(state["state"])
        self.__dict__.update(other.__dict__)
        other._handle = None

    def close(self):
        if self._handle is not None:
            check_call(getattr(lib, f"{self._PREFIX}_free")(self._handle))
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
