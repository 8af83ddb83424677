"""numpy arrays in the form the C API takes: float32, C-contiguous, with a ctypes pointer."""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from ._errors import ERR_SHAPE, DirrmError

def as_f32(value: npt.ArrayLike, name: str) -> npt.NDArray[np.float32]:
    """`value` as a C-contiguous float32 array (copied only if it has to be)."""
    try:
        return np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DirrmError(ERR_SHAPE, f"{name}: not convertible to a float32 array ({error})")


def as_i64(value: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    """`value` as a C-contiguous int64 array; an array of any other kind than integers or
    bools (floats too, whole or not) is refused with ShapeError."""
    array = np.asarray(value)
    if array.dtype.kind not in "iub":
        raise DirrmError(ERR_SHAPE, f"{name}: expected integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


def same_shape(reference: npt.NDArray[Any], reference_name: str, other: npt.NDArray[Any], name: str) -> None:
    if other.shape != reference.shape:
        raise DirrmError(
            ERR_SHAPE, f"{name} has shape {other.shape} but {reference_name} has {reference.shape}"
        )


_POINTERS: dict[np.dtype[Any], Any] = {
    np.dtype(np.float32): ctypes.POINTER(ctypes.c_float),
    np.dtype(np.float64): ctypes.POINTER(ctypes.c_double),
    np.dtype(np.int64): ctypes.POINTER(ctypes.c_int64),
    np.dtype(np.int32): ctypes.POINTER(ctypes.c_int32),
    np.dtype(np.uint8): ctypes.POINTER(ctypes.c_uint8),
}


def ptr(array: Optional[npt.NDArray[Any]]) -> Any:
    """A pointer of the array's element type to its data, or NULL for None."""
    return None if array is None else array.ctypes.data_as(_POINTERS[array.dtype])
