"""Preference datasets in the library and its synthetic ones (docs/mathematics.md §5)."""

from __future__ import annotations

import ctypes
from typing import NamedTuple, Optional

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, as_i64, ptr
from ._errors import ERR_SHAPE, DirrmError
from ._handle import Handle
from ._lib import SynthParams, check_call, lib
from ._params import choice, filled

__all__ = ["Dataset", "DatasetArrays", "synth"]

_SYNTH = {"unbiased": 0, "length": 1, "sycophancy": 2, "adversarial": 3}


class DatasetArrays(NamedTuple):
    """A dataset's arrays, in the order ``Dataset`` takes them (see ``Dataset.arrays``)."""

    prompt_features: npt.NDArray[np.float32]
    response_features: npt.NDArray[np.float32]
    pairs: npt.NDArray[np.int64]
    bias: npt.NDArray[np.float32]


class Dataset(Handle):
    """A preference dataset in the library; it copies the arrays.

    Parameters
    ----------
    prompt_features : array_like, shape (P, dp), float32
    response_features : array_like, shape (R, dr), float32
    pairs : array_like, shape (N, 3), integer
        Rows of (prompt, chosen response, rejected response) indices.
    bias : array_like, shape (N,) or (N, b), float32, optional
        Pair-level bias attributes.
    """

    _PREFIX = "dirrm_dataset"

    def __init__(self, prompt_features: npt.ArrayLike, response_features: npt.ArrayLike, pairs: npt.ArrayLike,
                 bias: Optional[npt.ArrayLike] = None) -> None:
        prompts = as_f32(prompt_features, "prompt_features")
        responses = as_f32(response_features, "response_features")
        index = as_i64(pairs, "pairs")
        if prompts.ndim != 2 or responses.ndim != 2 or index.ndim != 2 or index.shape[1:] != (3,):
            raise DirrmError(ERR_SHAPE, "expected prompt_features (P, dp), response_features (R, dr), pairs (N, 3)")
        b = None if bias is None else as_f32(bias, "bias").reshape(index.shape[0], -1)
        if b is not None and b.shape[1] == 0:
            b = None  # (N, 0), as arrays() returns for a dataset without bias columns
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_dataset_create(
            prompts.shape[0], prompts.shape[1], ptr(prompts), responses.shape[0], responses.shape[1], ptr(responses),
            index.shape[0], ptr(index), 0 if b is None else b.shape[1], ptr(b), ctypes.byref(handle)))
        self._handle = handle

    @classmethod
    def _wrap(cls, handle: ctypes.c_void_p) -> Dataset:
        self = cls.__new__(cls)
        self._handle = handle
        return self

    @property
    def shape(self) -> dict[str, int]:
        """num_prompts, prompt_dim, num_responses, response_dim, num_pairs and bias_dim."""
        values = [ctypes.c_int64() for _ in range(6)]
        self._call("shape", *(ctypes.byref(v) for v in values))
        names = ("num_prompts", "prompt_dim", "num_responses", "response_dim", "num_pairs", "bias_dim")
        return {name: v.value for name, v in zip(names, values)}

    def __len__(self) -> int:
        return self.shape["num_pairs"]

    def arrays(self) -> DatasetArrays:
        """The dataset's arrays, copied out of the library.

        Returns
        -------
        DatasetArrays
            ``prompt_features`` (P, dp) float32, ``response_features`` (R, dr) float32,
            ``pairs`` (N, 3) int64 and ``bias`` (N, b) float32 (b may be 0): what
            ``Dataset(*arrays)`` takes, so ``Dataset(*d.arrays())`` is a copy of ``d``.
        """
        s = self.shape
        prompts = np.empty((s["num_prompts"], s["prompt_dim"]), np.float32)
        responses = np.empty((s["num_responses"], s["response_dim"]), np.float32)
        pairs = np.empty((s["num_pairs"], 3), np.int64)
        bias = np.empty((s["num_pairs"], s["bias_dim"]), np.float32)
        self._call("copy", ptr(prompts), ptr(responses), ptr(pairs), ptr(bias) if s["bias_dim"] else None)
        return DatasetArrays(prompts, responses, pairs, bias)

    def __getstate__(self) -> dict[str, bytes]:
        raise TypeError("a dirrm.Dataset is not picklable; keep the arrays it was made from")


def synth(kind: Optional[str] = None, bias_ratio: Optional[float] = None, num_prompts: Optional[int] = None,
          responses_per_prompt: Optional[int] = None, prompt_dim: Optional[int] = None,
          response_dim: Optional[int] = None, seed: Optional[int] = None) -> tuple[Dataset, Dataset]:
    """Synthetic datasets with a known ground truth (see dirrm.h, DIRRM_SYNTH_*).

    Every keyword left None takes the library's default (dirrm_synth_params_init).

    Parameters
    ----------
    kind : {"unbiased", "length", "sycophancy", "adversarial"}, optional
        None: the library's default (see dirrm.h).
    bias_ratio : float, optional
        Share of biased training pairs (e.g. chosen-longer for "length"). None: the library's
        default (see dirrm.h).
    num_prompts, responses_per_prompt : int, optional
        None: the library's default (see dirrm.h).
    prompt_dim, response_dim : int, optional
        Feature sizes of the generated float32 prompt and response features. None: the
        library's default (see dirrm.h).
    seed : int, optional
        Taken modulo 2**64. None: the library's default (see dirrm.h).

    Returns
    -------
    tuple of (Dataset, Dataset)
        (train, test); the test set is labelled by the ground truth and unbiased (for
        LENGTH, all pairs), with the kind's bias column (see dirrm.h, DIRRM_SYNTH_*).
    """
    params = filled(SynthParams, kind=choice(_SYNTH, kind, "kind"), bias_ratio=bias_ratio, num_prompts=num_prompts,
                    responses_per_prompt=responses_per_prompt, prompt_dim=prompt_dim, response_dim=response_dim,
                    seed=seed)
    train, test = ctypes.c_void_p(), ctypes.c_void_p()
    check_call(lib.dirrm_synth_generate(ctypes.byref(params), ctypes.byref(train), ctypes.byref(test)))
    return Dataset._wrap(train), Dataset._wrap(test)
