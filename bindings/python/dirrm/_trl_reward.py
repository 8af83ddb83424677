"""DIRRewardTrainer: TRL's RewardTrainer with DIR's CLUB penalty (see dirrm.trl, which
exports it), and the score head's input it reads."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union, cast

import torch
from transformers.trainer_utils import get_last_checkpoint
from trl.trainer.reward_trainer import RewardTrainer

from ._errors import ERR_INVALID_ARGUMENT, DirrmError
from .torch import CLUBPenalty

__all__ = ["DIRRewardTrainer", "CLUB_FILE", "default_bias", "default_hidden"]

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


def default_hidden(head_input: torch.Tensor, inputs: dict[str, Any], head_name: str,
                   pad_token_id: Optional[int] = None) -> torch.Tensor:
    """One hidden state per sequence from the score head's input: the vector the head reads.

    Parameters
    ----------
    head_input : Tensor, shape (2n, d) or (2n, T, d)
        What the head received (chosen sequences first, as TRL's collator orders them).
    inputs : dict
        The batch (``input_ids`` and ``attention_mask``, shape (2n, T)).
    head_name : str
        "score" (a decoder) or "classifier" (an encoder: position 0).
    pad_token_id : int, optional
        The model's ``config.pad_token_id``. Given, a decoder's state is the one
        ``*ForSequenceClassification`` reads: the rightmost token that is not padding by id. TRL
        pads with EOS when a tokenizer has no pad token and ends every response with EOS, so
        the head then reads the token before the EOS, not the last attended one. None: the last
        attended token (the same whenever the pad token is not otherwise used).
        DIRRewardTrainer and audit_model pass the model's.

    Returns
    -------
    Tensor, shape (2n, d)
    """
    if head_input.ndim == 2:
        return head_input
    if head_name != "score":
        return head_input[:, 0]
    ids = inputs.get("input_ids")
    if pad_token_id is not None and isinstance(ids, torch.Tensor):
        # transformers' rule: the largest index whose token is not the pad token (0 if none).
        positions = torch.arange(ids.shape[-1], device=ids.device)
        last = (positions * (ids != pad_token_id).long()).argmax(-1)
    else:
        # The last 1 of each row (right or left padding): the first position where the running
        # count reaches its maximum.
        last = inputs["attention_mask"].long().cumsum(-1).argmax(-1)
    rows = torch.arange(head_input.shape[0], device=head_input.device)
    picked: torch.Tensor = head_input[rows, last.to(head_input.device)]
    return picked


def _pad_token_id(model: torch.nn.Module) -> Optional[int]:
    """The pad token id the model's sequence-classification head reads past, if any."""
    config = getattr(getattr(model, "module", model), "config", None)
    value = getattr(config, "pad_token_id", None)
    return int(value) if isinstance(value, int) else None


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
        hidden_fn(head_input, inputs, head_name) -> (2n, d) tensor, chosen rows first. None:
        default_hidden with the model's config.pad_token_id (the vector the head reads).
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
        pad = _pad_token_id(cast(torch.nn.Module, self.model))
        self.hidden_fn: HiddenFn = hidden_fn or (lambda h, batch, name: default_hidden(h, batch, name, pad))
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
        self._use_penalty = True
        self._club_mi: dict[str, list[float]] = {"train": [], "eval": []}

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Optional[Union[torch.Tensor, int]] = None) -> Any:
        if not self._use_penalty:
            return super().compute_loss(  # type: ignore[no-untyped-call]  # TRL is untyped
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        captured: list[torch.Tensor] = []
        # The head of the model being trained, looked up each step: with model_init (a
        # hyperparameter search) the Trainer replaces the model after __init__.
        _, head = _score_head(model)
        hook = head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
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
        self._club_mi[self._mode()].append(float(self.club_penalty.last_mi or 0.0))
        return (loss, outputs) if return_outputs else loss

    def _mode(self) -> str:
        # TRL's rule for which of its metrics a step or a log belongs to.
        return "train" if cast(torch.nn.Module, self.model).training else "eval"

    def log(self, logs: dict[str, float], start_time: Optional[float] = None) -> None:
        """TRL's log, with club_mi (eval_club_mi in an evaluation): the mean bound of the steps
        since the last log."""
        mode = self._mode()
        values = self._club_mi[mode]
        if values:
            logs["club_mi" if mode == "train" else "eval_club_mi"] = sum(values) / len(values)
            values.clear()
        super().log(logs, start_time)

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

    def train(self, resume_from_checkpoint: Optional[Union[str, bool]] = None, *args: Any, **kwargs: Any) -> Any:
        """TRL's train; resuming from a checkpoint restores what this trainer saved there too."""
        checkpoint = resume_from_checkpoint
        if checkpoint is True:
            # As the Trainer resolves it (it raises itself when there is none).
            checkpoint = get_last_checkpoint(self.args.output_dir)  # type: ignore[no-untyped-call]  # untyped
        if isinstance(checkpoint, str):
            self._restore(checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _restore(self, checkpoint: str) -> None:
        """Loads this trainer's state from a checkpoint folder: q, if the folder holds it."""
        if os.path.exists(os.path.join(checkpoint, CLUB_FILE)):
            self.load_club(checkpoint)
