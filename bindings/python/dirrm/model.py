"""The reward model in the library (docs/mathematics.md §5): scoring, training, evaluation. Its
datasets are in dirrm.dataset (also importable from here)."""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Literal, Optional, Union, overload

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, ptr
from ._handle import Handle
from ._errors import ERR_INVALID_ARGUMENT, ERR_SHAPE, DirrmError
from ._lib import (
    PROGRESS_FN,
    EvalReport,
    ModelParams,
    TrainParams,
    check_call,
    lib,
)
from ._params import choice, defaults, filled
from .club import _KINDS, _MODES
from .prompt_free import _CLUSTER, _REINSERT, _SOLVERS, _WEIGHTINGS
# dirrm.model's public path for the datasets (_SYNTH: the name table's path the tests read).
from .dataset import _SYNTH, Dataset, DatasetArrays, synth  # noqa: F401

__all__ = ["Dataset", "DatasetArrays", "synth", "RewardModel", "METHODS"]

METHODS: dict[str, int] = {"vanilla": 0, "dir": 1, "prompt_free": 2, "dir_prompt_free": 3}


# The option dicts' enum fields, which take the names dirrm.Club, dirrm.prompt_free_gap and
# dirrm.Prioritizer take (the C constants too).
_NAMED: dict[str, dict[str, int]] = {
    "bias_kind": _KINDS, "pair_mode": _MODES, "weighting": _WEIGHTINGS, "solver": _SOLVERS,
    "cluster_method": _CLUSTER, "reinsertion": _REINSERT,
}


def _update(struct: ctypes.Structure, options: dict[str, Any], name: str) -> None:
    for key, value in options.items():
        key = "lam" if key == "lambda" else key  # C's field name; lambda is Python's keyword
        if key not in {field[0] for field in struct._fields_}:
            raise DirrmError(ERR_INVALID_ARGUMENT, f"{name}: unknown option {key!r}")
        if key in _NAMED and isinstance(value, str):
            value = choice(_NAMED[key], value, f"{name}.{key}")
        try:
            setattr(struct, key, value)
        except TypeError:
            raise DirrmError(ERR_INVALID_ARGUMENT,
                             f"{name}: {key} = {value!r} is not a number") from None
        if isinstance(value, int) and getattr(struct, key) != value:  # ctypes wraps silently
            raise DirrmError(ERR_INVALID_ARGUMENT, f"{name}: {key} = {value} does not fit its C type")


class RewardModel(Handle):
    """The library's reward model: backbone with a prompt-response interaction, hidden state
    of size width, linear score head. Pickles through save/load.

    Parameters
    ----------
    prompt_dim, response_dim : int
        Sizes of the float32 prompt and response feature rows it scores.
    width, depth : int, optional
        Size of the hidden state and number of backbone layers. None: the library's default
        (see dirrm.h).
    seed : int, optional
        Seed of the initialization (taken modulo 2**64). None: the library's default (see
        dirrm.h).
    """

    _PREFIX = "dirrm_model"
    prompt_dim: int
    response_dim: int
    width: int
    depth: int

    def __init__(self, prompt_dim: int, response_dim: int, width: Optional[int] = None, depth: Optional[int] = None,
                 seed: Optional[int] = None) -> None:
        params = filled(ModelParams, prompt_dim=prompt_dim, response_dim=response_dim, width=width, depth=depth,
                        seed=seed)
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_model_create(ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self._after_load()

    def _after_load(self) -> None:
        dims: list[Any] = [ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int32(), ctypes.c_int32()]
        self._call("shape", *(ctypes.byref(d) for d in dims))
        self.prompt_dim, self.response_dim, self.width, self.depth = (d.value for d in dims)

    @overload
    def score(self, prompt_features: npt.ArrayLike, response_features: npt.ArrayLike,
              hidden: Literal[False] = ...) -> npt.NDArray[np.float32]: ...
    @overload
    def score(self, prompt_features: npt.ArrayLike, response_features: npt.ArrayLike,
              hidden: Literal[True]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    @overload
    def score(self, prompt_features: npt.ArrayLike, response_features: npt.ArrayLike, hidden: bool
              ) -> Union[npt.NDArray[np.float32], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]: ...

    def score(self, prompt_features: npt.ArrayLike, response_features: npt.ArrayLike, hidden: bool = False
              ) -> Union[npt.NDArray[np.float32], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
        """Rewards of n (prompt, response) feature rows.

        Parameters
        ----------
        prompt_features : array_like, shape (n, prompt_dim), float32
        response_features : array_like, shape (n, response_dim), float32
        hidden : bool
            Whether to return the hidden states too.

        Returns
        -------
        ndarray or tuple of (ndarray, ndarray)
            Rewards, shape (n,), float32; with hidden=True, (rewards, states), the states
            of shape (n, width), float32.
        """
        x = as_f32(prompt_features, "prompt_features")
        y = as_f32(response_features, "response_features")
        # The library cannot see an array's width: check it here.
        if x.ndim != 2 or x.shape[1] != self.prompt_dim:
            raise DirrmError(ERR_SHAPE, f"prompt_features has shape {x.shape}; the model takes (n, {self.prompt_dim})")
        if y.ndim != 2 or y.shape != (x.shape[0], self.response_dim):
            raise DirrmError(
                ERR_SHAPE, f"response_features has shape {y.shape}; the model takes ({x.shape[0]}, {self.response_dim})")
        rewards = np.empty(x.shape[0], np.float32)
        states: Any = np.empty((x.shape[0], self.width), np.float32) if hidden else None
        self._call("score", x.shape[0], ptr(x), ptr(y), ptr(rewards), ptr(states))
        return (rewards, states) if hidden else rewards

    def fit(self, dataset: Dataset, method: Optional[str] = None, epochs: Optional[int] = None,
            batch_size: Optional[int] = None, learning_rate: Optional[float] = None,
            weight_decay: Optional[float] = None, lam: Optional[float] = None, bias_column: Optional[int] = None,
            pf_prompts: Optional[int] = None, pf_max_rounds: Optional[int] = None, seed: Optional[int] = None, club: Optional[dict[str, Any]] = None,
            dir_options: Optional[dict[str, Any]] = None, pf: Optional[dict[str, Any]] = None, prioritizer: Optional[dict[str, Any]] = None,
            progress: Optional[Callable[[int, int, float, float, float], Any]] = None
            ) -> dict[str, npt.NDArray[np.float64]]:
        """Trains on dataset.

        Every option left None keeps dirrm_train_params_init's default (see dirrm.h).

        Parameters
        ----------
        dataset : Dataset
        method : {"vanilla", "dir", "prompt_free", "dir_prompt_free"}, optional
            None: the library's default (see dirrm.h).
        epochs, batch_size, bias_column, pf_prompts, pf_max_rounds, seed : int, optional
            None: the library's default (see dirrm.h).
        learning_rate, weight_decay, lam : float, optional
            None: the library's default (see dirrm.h); lam is DIR's policy's lambda (dir.lambda).
        club, dir_options, pf, prioritizer : dict, optional
            Fields of DIR's estimator (dirrm_dir_params.club), of DIR's policy ("lambda" or
            "lam", clip and cap as bools or 0/1), of dirrm_pf_params and of
            dirrm_prioritizer_params; a field not given keeps the library's default (see
            dirrm.h). An enum field takes its name, as dirrm.Club, dirrm.prompt_free_gap and
            dirrm.Prioritizer do ({"bias_kind": "categorical"}, {"cluster_method": "otsu"}), or
            its C constant.
        progress : callable, optional
            progress(step, total_steps, loss_pref, mi, threshold), called after each step;
            returning True stops the training. If it raises, training stops, the model is
            put back as it was before fit, and the exception propagates. It runs in the
            default floating-point environment, not the caller's (see dirrm.h, "Floats.").

        Returns
        -------
        dict of str to ndarray
            Per-step records "step", "loss_pref", "mi", "threshold", each of shape
            (steps,), float64.
        """
        params = defaults(TrainParams)
        _update(params, {key: value for key, value in [
            ("method", choice(METHODS, method, "method")), ("epochs", epochs), ("batch_size", batch_size),
            ("learning_rate", learning_rate), ("weight_decay", weight_decay),
            ("bias_column", bias_column), ("pf_prompts", pf_prompts),
            ("pf_max_rounds", pf_max_rounds),
            ("seed", None if seed is None else int(seed) & (2**64 - 1))] if value is not None}, "fit")
        policy = {key: int(value) if key in ("clip", "cap") else value for key, value in (dir_options or {}).items()}
        _update(params.dir, {**policy, **({} if lam is None else {"lam": lam})}, "dir")
        _update(params.dir.club, club or {}, "club")
        _update(params.pf, pf or {}, "pf")
        _update(params.prioritizer, prioritizer or {}, "prioritizer")
        records: list[tuple[int, float, float, float]] = []
        failure: list[BaseException] = []

        def callback(_user: Any, step: int, total: int, loss: float, mi: float, threshold: float) -> int:
            records.append((step, loss, mi, threshold))
            try:
                return 1 if progress is not None and progress(step, total, loss, mi, threshold) else 0
            except BaseException as error:  # never let an exception cross the C boundary
                failure.append(error)
                return 1

        # A callback that raises stops the training early; the model is then put back as it was,
        # so that a failed fit never leaves it half trained.
        before = self.save() if progress is not None else None
        self._call_train(dataset, params, PROGRESS_FN(callback))
        if failure:
            assert before is not None
            restored = type(self).load(before)
            self.close()
            self._handle, restored._handle = restored._handle, None
            raise failure[0]
        columns = np.array(records, np.float64).reshape(-1, 4)
        return {"step": columns[:, 0], "loss_pref": columns[:, 1], "mi": columns[:, 2], "threshold": columns[:, 3]}

    def _call_train(self, dataset: Dataset, params: TrainParams, callback: Any) -> None:
        check_call(lib.dirrm_train(self._live(), dataset._live(), ctypes.byref(params), callback, None))

    def evaluate(self, dataset: Dataset, bias_column: Optional[int] = None) -> dict[str, float]:
        """Accuracy, mean gap, gap-bias correlations, and accuracy by the bias sign.

        Parameters
        ----------
        dataset : Dataset
        bias_column : int, optional
            The bias attribute the correlations and the by-sign accuracies use; -1 for none
            (those four entries are then NaN). None: column 0 if the dataset has bias
            columns, otherwise none.

        Returns
        -------
        dict of str to float
            "pairs" (an int: the pairs evaluated), "accuracy", "mean_gap",
            "gap_bias_pearson", "gap_bias_spearman", "accuracy_bias_positive",
            "accuracy_bias_negative".
        """
        if bias_column is None:
            bias_column = 0 if dataset.shape["bias_dim"] > 0 else -1
        report = EvalReport()
        report.struct_size = ctypes.sizeof(EvalReport)
        check_call(lib.dirrm_evaluate(self._live(), dataset._live(), int(bias_column), ctypes.byref(report)))
        return {name: getattr(report, name) for name, *_ in EvalReport._fields_[1:]}
