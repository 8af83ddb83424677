"""The reward model in the library (SPEC §2.3): datasets, synthetic data, training, evaluation."""

import ctypes

import numpy as np

from ._arrays import as_f32, as_i64, ptr
from ._handle import Handle
from ._lib import (
    ERR_INVALID_ARGUMENT,
    ERR_SHAPE,
    PROGRESS_FN,
    DirrmError,
    EvalReport,
    ModelParams,
    SynthParams,
    TrainParams,
    check_call,
    lib,
)

__all__ = ["Dataset", "synth", "RewardModel", "METHODS"]

METHODS = {"vanilla": 0, "dir": 1, "prompt_free": 2, "dir_prompt_free": 3}
_SYNTH = {"unbiased": 0, "length": 1, "sycophancy": 2, "adversarial": 3}


def _choice(table, value, name):
    if value not in table:
        raise DirrmError(ERR_INVALID_ARGUMENT, f"{name} = {value!r} is not one of {sorted(table)}")
    return table[value]


class Dataset(Handle):
    """Prompt features (P x dp), response features (R x dr), pairs (N x 3: prompt, chosen,
    rejected) and optional pair-level bias attributes (N x b). The library copies them."""

    _PREFIX = "dirrm_dataset"

    def __init__(self, prompt_features, response_features, pairs, bias=None):
        prompts = as_f32(prompt_features, "prompt_features")
        responses = as_f32(response_features, "response_features")
        index = as_i64(pairs, "pairs")
        if prompts.ndim != 2 or responses.ndim != 2 or index.ndim != 2 or index.shape[1:] != (3,):
            raise DirrmError(ERR_SHAPE, "expected prompt_features (P, dp), response_features (R, dr), pairs (N, 3)")
        b = None if bias is None else as_f32(bias, "bias").reshape(index.shape[0], -1)
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_dataset_create(
            prompts.shape[0], prompts.shape[1], ptr(prompts), responses.shape[0], responses.shape[1], ptr(responses),
            index.shape[0], ptr(index), 0 if b is None else b.shape[1], ptr(b), ctypes.byref(handle)))
        self._handle = handle

    @classmethod
    def _wrap(cls, handle):
        self = cls.__new__(cls)
        self._handle = handle
        return self

    @property
    def shape(self):
        """dict of num_prompts, prompt_dim, num_responses, response_dim, num_pairs, bias_dim."""
        values = [ctypes.c_int64() for _ in range(6)]
        self._call("shape", *(ctypes.byref(v) for v in values))
        names = ("num_prompts", "prompt_dim", "num_responses", "response_dim", "num_pairs", "bias_dim")
        return {name: v.value for name, v in zip(names, values)}

    def __len__(self):
        return self.shape["num_pairs"]

    def __getstate__(self):
        raise TypeError("a dirrm.Dataset is not picklable; keep the arrays it was made from")


def synth(kind="length", bias_ratio=0.8, num_prompts=2000, responses_per_prompt=4, prompt_dim=64, response_dim=64,
          seed=0):
    """Synthetic (train, test) datasets with a known ground truth (see dirrm.h, DIRRM_SYNTH_*)."""
    params = SynthParams()
    lib.dirrm_synth_params_init(ctypes.byref(params))
    params.kind = _choice(_SYNTH, kind, "kind")
    params.bias_ratio = float(bias_ratio)
    params.num_prompts = int(num_prompts)
    params.responses_per_prompt = int(responses_per_prompt)
    params.prompt_dim, params.response_dim = int(prompt_dim), int(response_dim)
    params.seed = int(seed) & (2**64 - 1)
    train, test = ctypes.c_void_p(), ctypes.c_void_p()
    check_call(lib.dirrm_synth_generate(ctypes.byref(params), ctypes.byref(train), ctypes.byref(test)))
    return Dataset._wrap(train), Dataset._wrap(test)


def _update(struct, options, name):
    for key, value in options.items():
        if key not in dict(struct._fields_):
            raise DirrmError(ERR_INVALID_ARGUMENT, f"{name}: unknown option {key!r}")
        setattr(struct, key, value)
        if isinstance(value, int) and getattr(struct, key) != value:  # ctypes wraps silently
            raise DirrmError(ERR_INVALID_ARGUMENT, f"{name}: {key} = {value} does not fit its C type")


class RewardModel(Handle):
    """The library's reward model: backbone with a prompt-response interaction, hidden state
    of size width, linear score head. Pickles through save/load."""

    _PREFIX = "dirrm_model"

    def __init__(self, prompt_dim, response_dim, width=128, depth=2, seed=0):
        params = ModelParams()
        lib.dirrm_model_params_init(ctypes.byref(params))
        params.prompt_dim, params.response_dim = int(prompt_dim), int(response_dim)
        params.width, params.depth = int(width), int(depth)
        params.seed = int(seed) & (2**64 - 1)
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_model_create(ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self._after_load()

    def _after_load(self):
        dims = [ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int32(), ctypes.c_int32()]
        self._call("shape", *(ctypes.byref(d) for d in dims))
        self.prompt_dim, self.response_dim, self.width, self.depth = (d.value for d in dims)

    def score(self, prompt_features, response_features, hidden=False):
        """Rewards of n (prompt, response) feature rows; with hidden=True also (n, width) states."""
        x = as_f32(prompt_features, "prompt_features")
        y = as_f32(response_features, "response_features")
        # The library cannot see an array's width: check it here.
        if x.ndim != 2 or x.shape[1] != self.prompt_dim:
            raise DirrmError(ERR_SHAPE, f"prompt_features has shape {x.shape}; the model takes (n, {self.prompt_dim})")
        if y.ndim != 2 or y.shape != (x.shape[0], self.response_dim):
            raise DirrmError(
                ERR_SHAPE, f"response_features has shape {y.shape}; the model takes ({x.shape[0]}, {self.response_dim})")
        rewards = np.empty(x.shape[0], np.float32)
        states = np.empty((x.shape[0], self.width), np.float32) if hidden else None
        self._call("score", x.shape[0], ptr(x), ptr(y), ptr(rewards), ptr(states))
        return (rewards, states) if hidden else rewards

    def fit(self, dataset, method="vanilla", epochs=None, batch_size=None, learning_rate=None, weight_decay=None,
            lam=None, bias_column=None, pf_prompts=None, seed=None, club=None, pf=None, prioritizer=None,
            progress=None):
        """Trains on dataset. method: "vanilla", "dir", "prompt_free" or "dir_prompt_free".
        Every option left None keeps dirrm_train_params_init's default (see dirrm.h).
        club, pf, prioritizer: dicts of fields of dirrm_club_params, dirrm_pf_params and
        dirrm_prioritizer_params. progress(step, total_steps, loss_pref, mi, threshold) may
        return True to stop. Returns the per-step records as a dict of arrays."""
        params = TrainParams()
        lib.dirrm_train_params_init(ctypes.byref(params))
        params.method = _choice(METHODS, method, "method")
        _update(params, {key: value for key, value in [
            ("epochs", epochs), ("batch_size", batch_size), ("learning_rate", learning_rate),
            ("weight_decay", weight_decay), ("lam", lam), ("bias_column", bias_column), ("pf_prompts", pf_prompts),
            ("seed", None if seed is None else int(seed) & (2**64 - 1))] if value is not None}, "fit")
        _update(params.club, club or {}, "club")
        _update(params.pf, pf or {}, "pf")
        _update(params.prioritizer, prioritizer or {}, "prioritizer")
        records = []
        failure = []

        def callback(_user, step, total, loss, mi, threshold):
            records.append((step, loss, mi, threshold))
            try:
                return 1 if progress is not None and progress(step, total, loss, mi, threshold) else 0
            except BaseException as error:  # never let an exception cross the C boundary
                failure.append(error)
                return 1

        self._call_train(dataset, params, PROGRESS_FN(callback))
        if failure:
            raise failure[0]
        columns = np.array(records, np.float64).reshape(-1, 4)
        return {"step": columns[:, 0], "loss_pref": columns[:, 1], "mi": columns[:, 2], "threshold": columns[:, 3]}

    def _call_train(self, dataset, params, callback):
        check_call(lib.dirrm_train(self._live(), dataset._live(), ctypes.byref(params), callback, None))

    def evaluate(self, dataset, bias_column=0):
        """Accuracy, mean gap, gap-bias correlations, and accuracy by the bias sign, as a dict."""
        report = EvalReport()
        report.struct_size = ctypes.sizeof(EvalReport)
        check_call(lib.dirrm_evaluate(self._live(), dataset._live(), int(bias_column), ctypes.byref(report)))
        return {name: getattr(report, name) for name, _ in EvalReport._fields_[1:]}
