"""audit_model: dirrm.audit of a transformers reward model on a dataset of texts (see
dirrm.trl, which exports it)."""

from __future__ import annotations

from typing import Any, Optional

import torch

from ._trl_reward import _pad_token_id, _score_head, default_hidden
from .audit import Audit, audit

__all__ = ["audit_model"]


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
    pad = _pad_token_id(model)
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
                    states[side].append(default_hidden(captured[-1], dict(batch), head_name, pad).float().cpu())
    finally:
        hook.remove()
        model.train(was_training)
    extra = {name: ([row[c] for row in rows], [row[r] for row in rows]) for name, (c, r) in (attributes or {}).items()}
    return audit(torch.cat(rewards["chosen"]).numpy(), torch.cat(rewards["rejected"]).numpy(), extra,
                 lengths=(torch.cat(lengths["chosen"]).numpy(), torch.cat(lengths["rejected"]).numpy()),
                 categorical=categorical,
                 hidden=(torch.cat(states["chosen"]).numpy(), torch.cat(states["rejected"]).numpy()) if hidden else None,
                 **audit_options)
