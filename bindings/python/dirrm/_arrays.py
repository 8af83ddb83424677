"""numpy arrays in the form the C API takes: float32, C-contiguous, with a ctypes pointer."""

import ctypes

import numpy as np

from ._lib import ERR_SHAPE, DirrmError

_f32p = ctypes.POINTER(ctypes.c_float)


def as_f32(value, name):
    """`value` as a C-contiguous float32 array (copied only if it has to be)."""
    try:
        return np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DirrmError(ERR_SHAPE, f"{name}: not convertible to a float32 array ({error})")


def same_shape(reference, reference_name, other, name):
    if other.shape != reference.shape:
        raise DirrmError(
            ERR_SHAPE, f"{name} has shape {other.shape} but {reference_name} has {reference.shape}"
        )


def ptr(array):
    """A float* to the array's data, or NULL for None."""
    return None if array is None else array.ctypes.data_as(_f32p)
