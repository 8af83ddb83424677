"""PromptFreeRewardTrainer: TRL's RewardTrainer on the pairs prompt-free prioritization accepts
(see dirrm.trl, which exports it)."""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional, cast

import numpy as np
import numpy.typing as npt
import torch
import transformers

from ._errors import ERR_CORRUPT, ERR_INVALID_ARGUMENT, DirrmError
from ._lib import TrainParams
from ._params import defaults
from ._trl_reward import DIRRewardTrainer
from .torch import PromptFreeBatchSampler, prompt_free_score_fn

__all__ = ["PromptFreeRewardTrainer"]


class _ResumableBatchSampler(torch.utils.data.Sampler[list[int]]):
    """PromptFreeBatchSampler as the Trainer's batch sampler. A Trainer without
    get_resumed_dataloader (transformers 4) resumes mid-epoch by dropping the epoch's first k
    batches (accelerate's SkipBatchSampler); the restored sampler already stands after them, so
    it first yields k placeholders for the Trainer to drop."""

    def __init__(self, sampler: PromptFreeBatchSampler) -> None:
        self.sampler = sampler
        self.placeholders = 0

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.placeholders):
            yield [0]
        self.placeholders = 0
        yield from self.sampler


class PromptFreeRewardTrainer(DIRRewardTrainer):
    """TRL's RewardTrainer trained on the pairs prompt-free prioritization accepts (Alg. 2),
    optionally with DIR's penalty too: dir_lambda 0 (the default) is dirrm_train's
    PROMPT_FREE method, TRL's loss alone (q is not fitted, club_mi not logged); None adds
    DIR's penalty under DIR's policy (its lambda, estimator, clip and cap); another value
    sets the policy's lambda. Unlike dirrm_train's DIR_PROMPT_FREE, which penalizes every
    candidate a step scored, the penalty covers the accepted batch only (the pairs TRL's step
    runs forward with gradients; the rejected ones were scored without).

    The training set must be in TRL's explicit-prompt standard format, string columns
    "prompt", "chosen" and "rejected" (the completions without the prompt). Each step scores
    its candidates under their own prompt and k - 1 others of the set's distinct prompts
    (the reward of prompt_j + completion, tokenized as TRL does; one longer than max_length or
    the model's positions loses the start of its prompt for a decoder, its end for an encoder),
    computes dr2
    (dirrm.torch.prompt_free_score_fn) and lets dirrm.torch.PromptFreeBatchSampler fill a batch
    of per_device_train_batch_size accepted pairs. Under accelerate/torchrun each process
    samples from its own shard (see PromptFreeBatchSampler); the data loader is not passed to
    accelerate's sharding.

    The sampler's state is saved per process as dirrm_sampler_rank{r}.pt in every checkpoint and
    restored on resume, so a resumed run draws the same batches as an uninterrupted one.

    Parameters
    ----------
    *args, **kwargs
        Those of DIRRewardTrainer (train_dataset must be given by keyword).
    pf_prompts : int, optional
        k, prompts per pair (own + k - 1 others), at most the number of distinct prompts.
        None: the library's default (see dirrm.h), dirrm_train_params_init's pf_prompts.
    pf_p : float, optional
        The own prompt's weight (0: dr2 measures the other prompts only). None: the library's
        default (see dirrm.h), dirrm_train_params_init's pf.p.
    pf_options : dict, optional
        Options of PromptFreeBatchSampler (max_rounds, ema_weight, initial_threshold,
        reinsertion, max_reinsertions, cluster_method, shuffle, seed).
    score_batch_size : int
        Sequences per forward when scoring.
    dir_lambda : float or None
        0 (this class's default, not the library's): no DIR penalty; None: DIR's policy's
        lambda (see dirrm.h); another value: that lambda. See above.

    Attributes
    ----------
    pf_sampler : dirrm.torch.PromptFreeBatchSampler
    """

    pf_sampler: PromptFreeBatchSampler

    def __init__(self, *args: Any, pf_prompts: Optional[int] = None, pf_p: Optional[float] = None,
                 pf_options: Optional[dict[str, Any]] = None, score_batch_size: int = 64,
                 dir_lambda: Optional[float] = 0.0, **kwargs: Any) -> None:
        raw = kwargs.get("train_dataset")
        columns = set(getattr(raw, "column_names", None) or [])
        if not {"prompt", "chosen", "rejected"} <= columns:
            raise DirrmError(ERR_INVALID_ARGUMENT, "PromptFreeRewardTrainer needs train_dataset= with string columns "
                             f"prompt, chosen and rejected (TRL's explicit-prompt format); got columns {sorted(columns)}")
        assert raw is not None
        prompts_of_pairs = [str(p) for p in raw["prompt"]]
        self._pf_prompts = sorted(set(prompts_of_pairs))
        self._pf_chosen = [str(c) for c in raw["chosen"]]
        self._pf_rejected = [str(r) for r in raw["rejected"]]
        super().__init__(*args, dir_lambda=dir_lambda, **kwargs)
        prepared = len(cast(Any, self.train_dataset))
        if prepared != len(prompts_of_pairs):
            raise DirrmError(ERR_INVALID_ARGUMENT, f"TRL's preparation kept {prepared} of {len(prompts_of_pairs)} pairs "
                             "(max_length?); filter the dataset first so that indices stay aligned")
        lookup = {p: i for i, p in enumerate(self._pf_prompts)}
        own = np.array([lookup[p] for p in prompts_of_pairs], np.int64)
        self._score_batch_size = int(score_batch_size)
        k = defaults(TrainParams).pf_prompts if pf_prompts is None else int(pf_prompts)
        score_fn = prompt_free_score_fn(self._gaps, own, len(self._pf_prompts), k=min(k, len(self._pf_prompts)),
                                        p=pf_p)
        self.pf_sampler = PromptFreeBatchSampler(prepared, self.args.per_device_train_batch_size,
                                                 score_fn, **(pf_options or {}))
        self._pf_batches = _ResumableBatchSampler(self.pf_sampler)
        self._use_penalty = self.dir_lambda != 0   # dir_lambda = 0: TRL's loss alone, no q to fit

    def _rewards(self, texts: list[str]) -> torch.Tensor:
        tokenizer = cast(Any, self.processing_class)
        eos = tokenizer.eos_token or ""
        texts = [t if t.endswith(eos) else t + eos for t in texts]
        ids = tokenizer(texts)["input_ids"]
        model = cast(torch.nn.Module, self.model)
        # TRL kept only pairs within max_length under their own prompt; under another prompt a
        # sequence can be longer than that, or than the model's positions. Cut it on the side
        # the head does not read: a decoder's start, an encoder's end.
        config = getattr(getattr(model, "module", model), "config", None)
        # (The tokenizer's own limit too: RoBERTa's 514 positions hold 512 tokens.)
        limits = [getattr(self.args, "max_length", None), getattr(config, "max_position_embeddings", None),
                  getattr(tokenizer, "model_max_length", None)]
        limit = min((int(v) for v in limits if isinstance(v, int) and 0 < v < 2**31), default=None)
        if limit is not None:
            ids = [row[-limit:] if self._head_name == "score" else row[:limit] for row in ids]
        out = []
        for start in range(0, len(ids), self._score_batch_size):
            chunk = ids[start: start + self._score_batch_size]
            # The preference collator pads a list of (chosen, rejected); use it on (text, text).
            batch = self.data_collator([{"chosen_ids": row, "rejected_ids": row} for row in chunk])
            half = len(chunk)
            inputs = {key: value[:half].to(self.args.device) for key, value in batch.items()
                      if key in ("input_ids", "attention_mask")}
            out.append(model(**inputs).logits.reshape(-1).float().cpu())
        return torch.cat(out)

    def _gaps(self, pairs: npt.NDArray[np.int64], prompt_ids: npt.NDArray[np.int64]) -> torch.Tensor:
        model = cast(torch.nn.Module, self.model)
        was_training = model.training
        model.eval()
        try:
            chosen = [self._pf_prompts[j] + self._pf_chosen[i] for i, row in zip(pairs, prompt_ids) for j in row]
            rejected = [self._pf_prompts[j] + self._pf_rejected[i] for i, row in zip(pairs, prompt_ids) for j in row]
            gaps = self._rewards(chosen) - self._rewards(rejected)
        finally:
            model.train(was_training)
        return gaps.reshape(len(pairs), -1)

    def get_train_dataloader(self) -> torch.utils.data.DataLoader[Any]:
        dataset = cast(Any, self.train_dataset)
        if self.args.remove_unused_columns:
            # The Trainer's private method: the one TRL depends on (its signature columns, which
            # RewardTrainer sets), the reason pyproject.toml pins the TRL versions tested.
            dataset = self._remove_unused_columns(dataset, description="training")
        return torch.utils.data.DataLoader(dataset, batch_sampler=self._pf_batches, collate_fn=self.data_collator,
                                           num_workers=0, pin_memory=self.args.dataloader_pin_memory)

    def _sampler_file(self, folder: str) -> str:
        return os.path.join(folder, f"dirrm_sampler_rank{self.args.process_index}.pt")

    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        """save_model of DIRRewardTrainer, and this process's sampler state."""
        super().save_model(output_dir, _internal_call=_internal_call)
        folder = str(output_dir if output_dir is not None else self.args.output_dir)
        os.makedirs(folder, exist_ok=True)
        state = self.pf_sampler.state_dict()
        # Tensors, numbers and strings only, so that resuming loads it with weights_only=True.
        state["prioritizer"] = torch.frombuffer(bytearray(state["prioritizer"]), dtype=torch.uint8)
        torch.save(state, self._sampler_file(folder))

    def _restore(self, checkpoint: str) -> None:
        """DIRRewardTrainer's, and this process's sampler state."""
        super()._restore(checkpoint)
        if os.path.exists(self._sampler_file(checkpoint)):
            # weights_only: a checkpoint is data, never code (a crafted pickle raises here).
            state = torch.load(self._sampler_file(checkpoint), map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not isinstance(state.get("prioritizer"), torch.Tensor):
                raise DirrmError(ERR_CORRUPT, f"{self._sampler_file(checkpoint)} is not a dirrm sampler state")
            state["prioritizer"] = bytes(state["prioritizer"].numpy().tobytes())
            self.pf_sampler.load_state_dict(state)
            # The restored sampler already stands after the batches it yielded. A Trainer with
            # get_resumed_dataloader (transformers 5) is told not to skip any (below); an older
            # one drops the epoch's first k batches, k its steps done in the epoch, so k
            # placeholders go first (exact unless a step of the epoch accepted nothing).
            if not self.args.ignore_data_skip and not hasattr(transformers.Trainer, "get_resumed_dataloader"):
                self._pf_batches.placeholders = self.pf_sampler.state_dict()["step_in_epoch"] % len(self.pf_sampler)

    def get_resumed_dataloader(self, dataloader: Any, num_batches: int) -> Any:
        """The loader as it is: the restored sampler continues after the batches it yielded,
        which the Trainer's count of trained steps (global_step modulo its epoch length) does
        not match once a step accepted nothing."""
        return dataloader
