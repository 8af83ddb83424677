"""PromptFreeBatchSampler: the prompt-free paper's Alg. 2 as a torch DataLoader batch sampler,
driving the library's Prioritizer (its threshold, its EMA) the way dirrm_train does."""

from __future__ import annotations

import warnings

from typing import Any, Callable, Iterator, Optional

import numpy as np
import numpy.typing as npt
import torch

from dirrm._lib import TrainParams
from dirrm._params import defaults, name_of
from dirrm.prompt_free import _CLUSTER, _REINSERT, Prioritizer
from dirrm.torch._distributed import _Group
from dirrm.torch._tensors import ArrayOrTensor, _host32
from dirrm._errors import DirrmError, ERR_INVALID_ARGUMENT, ERR_SHAPE, ERR_VERSION


class PromptFreeBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Alg. 2 of the prompt-free paper as a torch DataLoader batch_sampler.

    A step is one training step, one yielded batch, filled in rounds: each round proposes
    candidates, scores them with score_fn, decides them (accepting dr2 < threshold) and ends
    the prioritizer's step, so the threshold follows the EMA of the two-cluster boundary of
    that round's dr2; rounds repeat until the batch holds batch_size accepted pairs or
    max_rounds rounds were made. This is dirrm_train's rule, run by the same code: the
    library's Prioritizer (dirrm.Prioritizer) holds the pool, the decisions, the threshold
    and its EMA. Its epochs roll over as its pool runs dry, so batches stay full across its
    epoch boundaries.

        sampler = dirrm.torch.PromptFreeBatchSampler(len(data), 64, score_fn)
        loader = torch.utils.data.DataLoader(data, batch_sampler=sampler)
        for epoch in range(3):
            for batch in loader:   # len(loader) == len(sampler)
                ...

    The keywords left None take the library's defaults for dirrm_train, those of
    dirrm_train_params_init (pf_max_rounds, and its prioritizer: no reinsertion, where
    dirrm_prioritizer_params_init allows one).

    One iteration (one DataLoader epoch) is len(self) steps. A step that accepts nothing in
    max_rounds rounds yields no batch, so len() is an upper bound, reached unless the
    threshold rejects nearly everything. The steps are taken lazily: score_fn sees the model
    as trained on every earlier batch when the DataLoader has num_workers=0 (with workers,
    the DataLoader prefetches batches and scores them with a slightly older model).

    Parameters
    ----------
    num_samples : int
        Size of the dataset; indices are in [0, num_samples).
    batch_size : int
    score_fn : callable
        score_fn(indices: int64 array (m,)) -> their dr2 (array or tensor, m values, finite);
        see prompt_free_score_fn.
    max_rounds : int, optional
        Rounds of proposals per step at most. None: the library's default (see dirrm.h),
        dirrm_train_params_init's pf_max_rounds.
    cluster_method : {"kmeans", "otsu"}, optional
        None: the library's default (see dirrm.h).
    ema_weight : float, optional
        alpha, the weight the threshold's EMA keeps on its old value after each round (the
        update is the library's, dirrm_prioritizer_end_step). None: the library's
        default (see dirrm.h).
    initial_threshold : float, optional
        None: the library's default (see dirrm.h).
    reinsertion : {"immediate", "lazy"}, optional
        None: the library's default (see dirrm.h).
    max_reinsertions : int, optional
        Second chances per pair and prioritizer epoch. None: the library's default (see
        dirrm.h).
    shuffle : bool, optional
        None: the library's default (see dirrm.h).
    seed : int, optional
        None: the library's default (see dirrm.h).
    process_group, distributed
        As CLUBPenalty's. Distributed, rank r draws its candidates from its own shard
        [r, r + world, r + 2 world, ...] of the pool (as DistributedSampler) with its own
        prioritizer. The ranks take their rounds together: after each, they all-gather the
        dr2 they decided, and each passes the other ranks' values to its prioritizer
        (Prioritizer.observe) before ending the round, so every rank clusters the union and
        holds the same threshold, the one a single prioritizer that decided the union would
        hold; a rank whose batch is full takes part with no values, and the rounds stop when
        every batch is full (or after max_rounds). The union of the batches is not the batch
        one process would draw (each rank fills its own batch from its own shard), and a step
        is skipped on every rank when any rank accepted nothing. Whether
        to communicate is decided when the sampler is created (create it after
        init_process_group).
    even_batches : bool
        Distributed: every rank yields the same batch size in a step, the smallest any rank
        filled (the others drop their extra accepted pairs, which count as decided); trainers
        that gather per-sample tensors across ranks (TRL, accelerate's gather) need this.
        False: each rank yields what it accepted (DIRLoss and BTLoss are exact either way).

    Attributes
    ----------
    epoch : int
        Completed or started iterations.
    """

    epoch: int

    def __init__(self, num_samples: int, batch_size: int,
                 score_fn: Callable[[npt.NDArray[np.int64]], ArrayOrTensor], max_rounds: Optional[int] = None,
                 cluster_method: Optional[str] = None, ema_weight: Optional[float] = None,
                 initial_threshold: Optional[float] = None, reinsertion: Optional[str] = None,
                 max_reinsertions: Optional[int] = None, shuffle: Optional[bool] = None, seed: Optional[int] = None,
                 process_group: Any = None, distributed: Optional[bool] = None, even_batches: bool = True) -> None:
        train = defaults(TrainParams)   # dirrm_train's round limit and prioritizer
        library = train.prioritizer
        max_rounds = train.pf_max_rounds if max_rounds is None else max_rounds
        cluster_method = name_of(_CLUSTER, library.cluster_method) if cluster_method is None else cluster_method
        ema_weight = library.ema_weight if ema_weight is None else ema_weight
        initial_threshold = library.initial_threshold if initial_threshold is None else initial_threshold
        reinsertion = name_of(_REINSERT, library.reinsertion) if reinsertion is None else reinsertion
        max_reinsertions = library.max_reinsertions if max_reinsertions is None else max_reinsertions
        shuffle = bool(library.shuffle) if shuffle is None else shuffle
        seed = library.seed if seed is None else seed
        if int(num_samples) < 1 or int(batch_size) < 1 or int(max_rounds) < 1:
            raise DirrmError(ERR_INVALID_ARGUMENT, f"num_samples ({num_samples}), batch_size ({batch_size}) and max_rounds "
                             f"({max_rounds}) must be >= 1")
        if not 0.0 <= float(ema_weight) <= 1.0:
            raise DirrmError(ERR_INVALID_ARGUMENT, f"ema_weight = {ema_weight} is not in [0, 1]")
        self.num_samples, self.batch_size, self.max_rounds = int(num_samples), int(batch_size), int(max_rounds)
        self.score_fn = score_fn
        self.cluster_method = cluster_method
        self.even_batches = bool(even_batches)
        self._group = _Group(process_group, distributed)
        self._world, self._rank = (self._group.world(), self._group.rank()) if self._group.active() else (1, 0)
        self._shard = np.arange(self._rank, self.num_samples, self._world, dtype=np.int64)
        if self._shard.size == 0:
            raise DirrmError(ERR_INVALID_ARGUMENT, f"num_samples ({num_samples}) is smaller than the world size ({self._world})")
        self._prioritizer = Prioritizer(int(self._shard.size), cluster_method=cluster_method, ema_weight=ema_weight,
                                        initial_threshold=initial_threshold, reinsertion=reinsertion,
                                        max_reinsertions=max_reinsertions, shuffle=shuffle,
                                        seed=int(seed) + 1000003 * self._rank)
        # The prioritizer's settings, which a loaded state brings with it (load_state_dict).
        self._settings: dict[str, Any] = {
            "cluster_method": str(cluster_method), "ema_weight": float(ema_weight),
            "initial_threshold": float(initial_threshold), "reinsertion": str(reinsertion),
            "max_reinsertions": int(max_reinsertions), "shuffle": bool(shuffle), "seed": int(seed)}
        self._steps = self._count_steps()
        self._step_in_epoch = 0
        self.epoch = 0

    @property
    def threshold(self) -> float:
        """The current threshold on dr2, the library prioritizer's (identical on every rank)."""
        return self._prioritizer.threshold

    def _count_steps(self) -> int:
        largest_shard = -(-self.num_samples // self._world)
        return -(-largest_shard * (1 + int(self._settings["max_reinsertions"])) // self.batch_size)

    def __len__(self) -> int:
        """Steps per iteration: ceil(ceil(num_samples / world) * (1 + max_reinsertions) / batch_size),
        an upper bound on the batches (see the class notes)."""
        return self._steps

    def _step(self) -> npt.NDArray[np.int64]:
        """One step's rounds, each ending the prioritizer's step; returns the accepted shard
        positions. Distributed, every rank takes the same number of rounds."""
        accepted: list[npt.NDArray[np.int64]] = []
        count = rounds = 0
        exhausted = False
        while rounds < self.max_rounds:
            dr2 = np.zeros(0, np.float32)
            if count < self.batch_size and not exhausted:
                candidates = self._prioritizer.propose(self.batch_size - count)
                if candidates.size == 0:   # the prioritizer's epoch ended: the next propose starts one
                    candidates = self._prioritizer.propose(self.batch_size - count)
                exhausted = candidates.size == 0
                if not exhausted:
                    raw = self.score_fn(self._shard[candidates])
                    dr2 = _host32(raw) if isinstance(raw, torch.Tensor) else np.ascontiguousarray(raw, np.float32)
                    dr2 = dr2.reshape(-1)
                    if dr2.size != candidates.size or not np.all(np.isfinite(dr2)):
                        raise DirrmError(ERR_SHAPE, f"score_fn returned {dr2.size} values for {candidates.size} "
                                         "candidates (they must be as many, and finite)")
                    accept = self._prioritizer.decide(candidates, dr2)
                    accepted.append(candidates[accept])
                    count += int(accept.sum())
            rounds += 1
            more = count < self.batch_size and not exhausted
            if self._world > 1:
                parts = self._group.all_gather_rows(dr2.reshape(-1, 1))
                others = [part.reshape(-1) for rank, part in enumerate(parts) if rank != self._rank]
                self._prioritizer.observe(np.concatenate(others))
                decided_any = any(part.size for part in parts)
                more = float(self._group.all_reduce([1.0 if more else 0.0])[0]) > 0
            else:
                decided_any = dr2.size > 0
            if decided_any:   # as dirrm_train: a round that decided nothing ends no step
                self._prioritizer.end_step()
            if not more:
                break
        return np.concatenate(accepted) if accepted else np.zeros(0, np.int64)

    def _kept(self, accepted: int) -> int:
        """How many accepted pairs to yield (0: skip the step on every rank)."""
        if self._world == 1:
            return accepted
        counts = self._group.all_gather_rows(np.array([[accepted]], np.float32))
        smallest = int(min(float(c[0, 0]) for c in counts))
        return 0 if smallest == 0 else smallest if self.even_batches else accepted

    def __iter__(self) -> Iterator[list[int]]:
        if self._step_in_epoch >= self._steps:
            self._step_in_epoch = 0
            self.epoch += 1
        while self._step_in_epoch < self._steps:
            accepted = self._step()
            keep = self._kept(accepted.size)
            self._step_in_epoch += 1
            if keep:
                yield [int(i) for i in self._shard[accepted[:keep]]]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where the last yielded batch left off.

        Returns
        -------
        dict
            "prioritizer" (bytes: the library prioritizer, its threshold and settings included),
            "epoch", "step_in_epoch", "rank", "world" (int), "settings" (dict: the prioritizer's
            settings by keyword, str, float, int and bool values).
        """
        return {"prioritizer": self._prioritizer.save(), "epoch": self.epoch, "step_in_epoch": self._step_in_epoch,
                "rank": self._rank, "world": self._world, "settings": dict(self._settings)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores state_dict()'s result; the next iteration continues the saved one.

        Raises
        ------
        InvalidArgumentError, FormatError
            A state of another rank or world size (InvalidArgumentError), or one saved by an earlier dirrm.torch,
            whose sampler kept the threshold beside the prioritizer (the state has a
            "threshold" entry): its prioritizer does not hold the threshold or the EMA, so it
            cannot continue; start the sampler afresh (FormatError, DIRRM_ERR_VERSION). Both
            are ValueErrors.
        """
        if "threshold" in state:
            raise DirrmError(ERR_VERSION, "the state was saved by an older dirrm.torch, whose sampler kept its threshold "
                             "outside the library prioritizer; it cannot be continued")
        if (int(state["rank"]), int(state["world"])) != (self._rank, self._world):
            raise DirrmError(ERR_INVALID_ARGUMENT, f"the state is rank {state['rank']} of {state['world']}; this sampler is rank "
                             f"{self._rank} of {self._world}")
        prioritizer = Prioritizer.load(state["prioritizer"])
        if prioritizer.num_samples != self._shard.size:
            raise DirrmError(ERR_INVALID_ARGUMENT, f"the state's pool has {prioritizer.num_samples} pairs; this shard has {self._shard.size}")
        self._prioritizer = prioritizer
        saved = state.get("settings")
        if isinstance(saved, dict) and set(saved) == set(self._settings) and saved != self._settings:
            changed = {key: (saved[key], self._settings[key]) for key in saved if saved[key] != self._settings[key]}
            warnings.warn(f"dirrm PromptFreeBatchSampler: the loaded state continues with its own prioritizer "
                          f"settings, not this sampler's (saved, given): {changed}", RuntimeWarning, stacklevel=2)
            self._settings = dict(saved)
            self._steps = self._count_steps()
        self.epoch = int(state["epoch"])
        self._step_in_epoch = int(state["step_in_epoch"])
