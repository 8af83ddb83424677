"""DIR in Hugging Face TRL: DIRRewardTrainer, TRL's RewardTrainer with the CLUB penalty.

    pip install "dirrm[trl]"

    from dirrm.trl import DIRRewardTrainer
    trainer = DIRRewardTrainer(model=model, args=RewardConfig(...), train_dataset=pairs,
                               processing_class=tokenizer, dir_lambda=0.1)
    trainer.train()

The loss is TRL's own (Bradley-Terry with its margin and centering options) plus
dir_lambda times the CLUB bound of dirrm.torch.CLUBPenalty, whose estimator q is fitted on
every training batch. What the penalty reads:

- the hidden state: by default the input of the model's score head, one vector per
  sequence: for a decoder (a head named ``score``, as in *ForSequenceClassification of
  Llama, Qwen, GPT-2, ...) at the last non-padding token, for an encoder (a head named
  ``classifier``, BERT, RoBERTa, ...) what the head reads (BERT's pooled output) or
  position 0; pass ``hidden_fn`` to choose another;
- the bias: by default the length label 1[len(chosen) > len(rejected)] from the attention
  masks; pass ``bias_fn`` (it can read extra dataset columns when
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
from typing import Any, Callable, Optional, Union, cast

import torch
from trl.trainer.reward_trainer import RewardTrainer

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
    raise ValueError(f"{type(inner).__name__} has no `score` or `classifier` head; pass hidden_fn and hidden_dim")


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
    """The length label 1[len(chosen) > len(rejected)], shape (n,), float32."""
    lengths: torch.Tensor = inputs["attention_mask"].sum(-1)
    chosen, rejected = lengths.chunk(2)
    return (chosen > rejected).float()


class DIRRewardTrainer(RewardTrainer):
    """TRL's RewardTrainer with DIR's CLUB penalty (see the module notes).

    Parameters
    ----------
    *args, **kwargs
        Those of trl.RewardTrainer.
    dir_lambda : float
        Weight of the CLUB bound.
    club_options : dict, optional
        Options of dirrm.Club (bias_kind, bias_dim, q_hidden, fit_steps, learning_rate, ...);
        default categorical with 2 classes, as the length label needs.
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

    def __init__(self, *args: Any, dir_lambda: float = 0.1, club_options: Optional[dict[str, Any]] = None,
                 hidden_fn: Optional[HiddenFn] = None, bias_fn: Optional[BiasFn] = None,
                 hidden_dim: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dir_lambda = float(dir_lambda)
        self.hidden_fn: HiddenFn = hidden_fn or default_hidden
        self.bias_fn: BiasFn = bias_fn or default_bias
        self._head_name, head = _score_head(cast(torch.nn.Module, self.model))
        if hidden_dim is None:
            hidden_dim = getattr(head, "in_features", None)
            if hidden_dim is None:
                hidden_dim = int(cast(Any, self.model).config.get_text_config().hidden_size)
        self.club_penalty = CLUBPenalty(int(hidden_dim), **(club_options or {}))
        self._head = head

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Optional[Union[torch.Tensor, int]] = None) -> Any:
        captured: list[torch.Tensor] = []
        hook = self._head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
        try:
            loss, outputs = super().compute_loss(  # type: ignore[no-untyped-call]  # TRL is untyped
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        finally:
            hook.remove()
        hidden = self.hidden_fn(captured[-1], inputs, self._head_name)
        h_chosen, h_rejected = hidden.chunk(2)
        mi = self.club_penalty(h_chosen, h_rejected, self.bias_fn(inputs))
        loss = loss + self.dir_lambda * mi.to(loss.dtype)
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
