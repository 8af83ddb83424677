"""DIR in Hugging Face TRL: DIRRewardTrainer, TRL's RewardTrainer with the CLUB penalty.

    pip install "./bindings/python[trl]"   (from a dirrm checkout)

    from dirrm.trl import DIRRewardTrainer
    trainer = DIRRewardTrainer(model=model, args=RewardConfig(...), train_dataset=pairs,
                               processing_class=tokenizer)
    trainer.train()

The loss is TRL's own (Bradley-Terry with its margin and centering options) plus DIR's
penalty, dirrm.torch.CLUBPenalty under DIR's policy (dirrm_dir_params: the same lambda,
estimator, clip and cap as dirrm_train), whose estimator q is fitted on every training
batch and whose gradient is capped at the gradient of TRL's loss on the score head's input.
What the penalty reads:

- the hidden state: by default the input of the model's score head, one vector per
  sequence: for a decoder (a head named ``score``, as in *ForSequenceClassification of
  Llama, Qwen, GPT-2, ...) at the last non-padding token, for an encoder (a head named
  ``classifier``, BERT, RoBERTa, ...) what the head reads (BERT's pooled output) or
  position 0; pass ``hidden_fn`` to choose another;
- the bias: by default the length gap len(chosen) - len(rejected) in tokens, from the
  attention masks (1[gap > 0] for a categorical estimator); pass ``bias_fn`` (it can read extra dataset columns when
  ``remove_unused_columns=False`` and a collator that keeps them).

q (weights and AdamW state) is saved as ``dirrm_club.pt`` in every checkpoint and in
``save_model``'s folder, and restored by ``train(resume_from_checkpoint=...)``. The mean
bound of the logged steps is logged as ``club_mi`` next to TRL's metrics.

Multi-process (``accelerate launch`` or ``torchrun``): the penalty fits q on the all-gathered
pairs of every process and uses the all-reduced bias statistics (see dirrm.torch), so q is
identical everywhere and the penalty's gradient after DDP's averaging is exactly that of the
global batch, also for uneven last batches. TRL's Bradley-Terry term is each process's mean,
which averages to the global mean when every process has the same batch size (accelerate's
default ``even_batches``).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Optional, Union, cast

import numpy as np
import numpy.typing as npt
import torch
from trl.trainer.reward_trainer import RewardTrainer

from ._errors import ERR_CORRUPT, ERR_INVALID_ARGUMENT, DirrmError
from ._lib import TrainParams
from ._params import defaults
from .audit import Audit, audit
from .torch import CLUBPenalty, PromptFreeBatchSampler, prompt_free_score_fn

__all__ = ["DIRRewardTrainer", "PromptFreeRewardTrainer", "audit_model", "CLUB_FILE", "default_bias",
           "default_hidden"]

CLUB_FILE = "dirrm_club.pt"

HiddenFn = Callable[[torch.Tensor, dict[str, Any], str], torch.Tensor]
BiasFn = Callable[[dict[str, Any]], torch.Tensor]


def _score_head(model: torch.nn.Module) -> tuple[str, torch.nn.Module]:
    """The model's score head and its attribute name ("score" or "classifier")."""
    inner = getattr(model, "module", model)   # DDP's wrapper
    for name in ("score", "classifier"):
        head = getattr(inner, name, None)
        if isinstance(head, torch.nn.Module):
            return name, head
    for path, module in inner.named_modules():   # nested, e.g. inside a PEFT wrapper
        name = path.rsplit(".", 1)[-1]
        if name in ("score", "classifier"):
            return name, module
    raise DirrmError(ERR_INVALID_ARGUMENT, f"{type(inner).__name__} has no `score` or `classifier` head; pass hidden_fn and hidden_dim")


def default_hidden(head_input: torch.Tensor, inputs: dict[str, Any], head_name: str) -> torch.Tensor:
    """One hidden state per sequence from the score head's input.

    Parameters
    ----------
    head_input : Tensor, shape (2n, d) or (2n, T, d)
        What the head received (chosen sequences first, as TRL's collator orders them).
    inputs : dict
        The batch (``attention_mask`` of shape (2n, T)).
    head_name : str
        "score" (a decoder: the last non-padding token) or "classifier" (an encoder:
        position 0).

    Returns
    -------
    Tensor, shape (2n, d)
    """
    if head_input.ndim == 2:
        return head_input
    if head_name != "score":
        return head_input[:, 0]
    mask = inputs["attention_mask"]
    # The last 1 of each row (right or left padding): the first position where the running
    # count reaches its maximum.
    last: torch.Tensor = mask.long().cumsum(-1).argmax(-1)
    rows = torch.arange(head_input.shape[0], device=head_input.device)
    picked: torch.Tensor = head_input[rows, last.to(head_input.device)]
    return picked


def default_bias(inputs: dict[str, Any]) -> torch.Tensor:
    """The length gap len(chosen) - len(rejected) in tokens, shape (n,), float32."""
    lengths: torch.Tensor = inputs["attention_mask"].sum(-1)
    chosen, rejected = lengths.chunk(2)
    return (chosen - rejected).float()


class DIRRewardTrainer(RewardTrainer):
    """TRL's RewardTrainer with DIR's CLUB penalty (see the module notes).

    Parameters
    ----------
    *args, **kwargs
        Those of trl.RewardTrainer.
    dir_lambda : float, optional
        Weight of the CLUB bound. None: the library's default (see dirrm.h), DIR's policy's
        (dirrm_dir_params).
    dir_options : dict, optional
        The policy's protections, "clip" and "cap" (bools); left out: the policy's (on).
    club_options : dict, optional
        Options of dirrm.Club (bias_kind, bias_dim, q_hidden, fit_steps, learning_rate, ...);
        left out: the policy's estimator (a Gaussian q of width 64 on the length gap).
    hidden_fn : callable, optional
        hidden_fn(head_input, inputs, head_name) -> (2n, d) tensor, chosen rows first; see
        default_hidden.
    bias_fn : callable, optional
        bias_fn(inputs) -> the bias of the n pairs (see dirrm.torch.CLUBPenalty); default
        default_bias.
    hidden_dim : int, optional
        d; by default the head's in_features or the model config's hidden_size.

    Attributes
    ----------
    club_penalty : dirrm.torch.CLUBPenalty
    """

    club_penalty: CLUBPenalty

    def __init__(self, *args: Any, dir_lambda: Optional[float] = None,
                 dir_options: Optional[dict[str, Any]] = None, club_options: Optional[dict[str, Any]] = None,
                 hidden_fn: Optional[HiddenFn] = None, bias_fn: Optional[BiasFn] = None,
                 hidden_dim: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_fn: HiddenFn = hidden_fn or default_hidden
        self._label_bias = bias_fn is None
        self.bias_fn: BiasFn = bias_fn or default_bias
        self._head_name, head = _score_head(cast(torch.nn.Module, self.model))
        if hidden_dim is None:
            hidden_dim = getattr(head, "in_features", None)
            if hidden_dim is None:
                hidden_dim = int(cast(Any, self.model).config.get_text_config().hidden_size)
        self.club_penalty = CLUBPenalty(int(hidden_dim), lam=dir_lambda, **(dir_options or {}),
                                        **(club_options or {}))
        self.dir_lambda = self.club_penalty.lam
        self._head = head
        self._use_penalty = True

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Optional[Union[torch.Tensor, int]] = None) -> Any:
        if not self._use_penalty:
            return super().compute_loss(  # type: ignore[no-untyped-call]  # TRL is untyped
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        captured: list[torch.Tensor] = []
        hook = self._head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
        try:
            loss, outputs = super().compute_loss(  # type: ignore[no-untyped-call]  # TRL is untyped
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        finally:
            hook.remove()
        head_input = captured[-1]
        hidden = self.hidden_fn(head_input, inputs, self._head_name)
        h_chosen, h_rejected = hidden.chunk(2)
        bias = self.bias_fn(inputs)
        if self._label_bias and self.club_penalty.club.bias_kind == "categorical":
            bias = (bias > 0).float()   # the trainer's rule: a categorical q sees 1[gap > 0]
        # The cap measures TRL's loss's gradient where it reaches the hidden states: the head's input.
        penalty = self.club_penalty(h_chosen, h_rejected, bias, pref=loss, cap_wrt=(head_input,))
        loss = loss + penalty.to(loss.dtype)
        mode = "train" if cast(torch.nn.Module, self.model).training else "eval"
        self._metrics[mode]["club_mi"].append(float(self.club_penalty.last_mi or 0.0))
        return (loss, outputs) if return_outputs else loss

    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        """The model (TRL's save_model), and q as dirrm_club.pt next to it."""
        super().save_model(output_dir, _internal_call=_internal_call)
        folder = str(output_dir if output_dir is not None else self.args.output_dir)
        if self.args.should_save:
            os.makedirs(folder, exist_ok=True)
            torch.save(self.club_penalty.state_dict(), os.path.join(folder, CLUB_FILE))

    def load_club(self, folder: str) -> None:
        """Restores q from a checkpoint or save_model folder."""
        state = torch.load(os.path.join(folder, CLUB_FILE), map_location="cpu", weights_only=True)
        self.club_penalty.load_state_dict(state)

    def _load_optimizer_and_scheduler(self, checkpoint: Optional[str]) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and os.path.exists(os.path.join(checkpoint, CLUB_FILE)):
            self.load_club(checkpoint)


class _ResumableBatchSampler(torch.utils.data.Sampler[list[int]]):
    """PromptFreeBatchSampler as the Trainer's batch sampler. The Trainer resumes mid-epoch by
    dropping the epoch's first k batches (accelerate's SkipBatchSampler); the restored sampler
    already stands after them, so it first yields k placeholders for the Trainer to drop."""

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
    PROMPT_FREE method, TRL's loss alone (q is not fitted, club_mi not logged); None is
    DIR_PROMPT_FREE under DIR's policy (its lambda, estimator, clip and cap); another value
    sets the policy's lambda.

    The training set must be in TRL's explicit-prompt standard format, string columns
    "prompt", "chosen" and "rejected" (the completions without the prompt). Each step scores
    its candidates under their own prompt and k - 1 others of the set's distinct prompts
    (the reward of prompt_j + completion, tokenized as TRL does), computes dr2
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
        # Tensors and numbers only, so that resuming loads it with weights_only=True.
        state["prioritizer"] = torch.frombuffer(bytearray(state["prioritizer"]), dtype=torch.uint8)
        torch.save(state, self._sampler_file(folder))

    def _load_optimizer_and_scheduler(self, checkpoint: Optional[str]) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and os.path.exists(self._sampler_file(checkpoint)):
            # weights_only: a checkpoint is data, never code (a crafted pickle raises here).
            state = torch.load(self._sampler_file(checkpoint), map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not isinstance(state.get("prioritizer"), torch.Tensor):
                raise DirrmError(ERR_CORRUPT, f"{self._sampler_file(checkpoint)} is not a dirrm sampler state")
            state["prioritizer"] = bytes(state["prioritizer"].numpy().tobytes())
            self.pf_sampler.load_state_dict(state)
            # The Trainer drops the epoch's first k batches (k = steps done in the epoch): the
            # restored sampler already stands after them.
            if not self.args.ignore_data_skip:
                self._pf_batches.placeholders = self.pf_sampler.state_dict()["step_in_epoch"] % len(self.pf_sampler)


@torch.no_grad()
def audit_model(model: torch.nn.Module, tokenizer: Any, dataset: Any, *,
                attributes: Optional[dict[str, tuple[str, str]]] = None, categorical: tuple[str, ...] = (),
                hidden: bool = True, batch_size: int = 16, max_length: Optional[int] = None,
                **audit_options: Any) -> Audit:
    """dirrm.audit of a transformers reward model on a dataset of texts.

    Parameters
    ----------
    model : transformers model with a ``score`` or ``classifier`` head and one output
        Run in eval mode without gradients (its mode is restored).
    tokenizer : the model's tokenizer
    dataset : datasets.Dataset or a sequence of dicts
        Columns ``chosen`` and ``rejected`` (strings), and ``prompt`` if the texts do not
        contain it: each response is scored as prompt + response + EOS, as TRL's RewardTrainer
        trains on it.
    attributes : dict of str to (chosen column, rejected column), optional
        Attributes beyond length, read from the dataset (``categorical`` names the ones to
        audit per category).
    hidden : bool
        Whether to estimate I(h; attribute) from the score head's input (one vector per
        sequence, as DIRRewardTrainer reads it).
    batch_size, max_length : int
        Sequences per forward pass; truncation (None: the tokenizer's limit).
    **audit_options
        dirrm.audit's keywords (bootstrap, level, buckets, club_steps, ...).

    Returns
    -------
    dirrm.Audit
        "length" (in tokens, from the attention masks) first, then ``attributes``.
    """
    rows = [dataset[i] for i in range(len(dataset))]
    prompts = [row.get("prompt", "") or "" for row in rows]
    head_name, head = _score_head(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rewards: dict[str, list[torch.Tensor]] = {"chosen": [], "rejected": []}
    states: dict[str, list[torch.Tensor]] = {"chosen": [], "rejected": []}
    lengths: dict[str, list[torch.Tensor]] = {"chosen": [], "rejected": []}
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    try:
        for side in ("chosen", "rejected"):
            # As TRL's RewardTrainer tokenizes for training: prompt + response + EOS.
            eos = getattr(tokenizer, "eos_token", None) or ""
            texts = [t if t.endswith(eos) else t + eos for t in (p + row[side] for p, row in zip(prompts, rows))]
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt").to(device)
                captured.clear()
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                rewards[side].append(logits.reshape(-1).float().cpu())
                lengths[side].append(batch["attention_mask"].sum(-1).float().cpu())
                if hidden:
                    states[side].append(default_hidden(captured[-1], dict(batch), head_name).float().cpu())
    finally:
        hook.remove()
        model.train(was_training)
    extra = {name: ([row[c] for row in rows], [row[r] for row in rows]) for name, (c, r) in (attributes or {}).items()}
    return audit(torch.cat(rewards["chosen"]).numpy(), torch.cat(rewards["rejected"]).numpy(), extra,
                 lengths=(torch.cat(lengths["chosen"]).numpy(), torch.cat(lengths["rejected"]).numpy()),
                 categorical=categorical,
                 hidden=(torch.cat(states["chosen"]).numpy(), torch.cat(states["rejected"]).numpy()) if hidden else None,
                 **audit_options)
