"""The preference pairs of the fine-tuning benchmark, built from AlpacaEval 2 judge annotations.

Every AlpacaEval judgment compares one model's output with the reference model's output
(gpt4_1106_preview) on one of 805 instructions; ``judge_preference`` is 1 + the judge's
probability that the model's output is the better one. Two models' outputs for the same
instruction are compared through that common reference: the one with the higher
judge_preference is chosen. Only outputs the encoder sees whole are used (at most
``resp_tokens`` word pieces), so the model can read the length it is being debiased against;
the instruction is truncated to ``instr_tokens`` word pieces.

The pairs themselves and the split by model and instruction are in splits.py.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

REFERENCE_MODEL = "gpt4_1106_preview"
# Submissions built to game the judge (the data's README): their judge preferences say nothing
# about the answers' quality, so their outputs form no pair.
ADVERSARIAL = ("NullModel", "gpt4_gamed")
# A word piece covers at least one character and rarely more than 20; outputs longer than
# 20 characters per allowed word piece cannot fit the budget and are not tokenized.
_MAX_CHARS_PER_TOKEN = 20

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass
class Budget:
    """What the encoder sees of one pair's texts.

    Attributes
    ----------
    instr_tokens : int
        Word pieces of the instruction kept (the rest is cut).
    resp_tokens : int
        The longest response used, in word pieces; longer ones form no pair.
    min_pref_gap : float
        Pairs whose two judge preferences differ by less are near-ties and dropped.
    """

    instr_tokens: int = 24
    resp_tokens: int = 72

    min_pref_gap: float = 0.2

    @property
    def max_length(self) -> int:
        """The longest encoder input: [CLS] instruction [SEP] response [SEP]."""
        return self.instr_tokens + self.resp_tokens + 3


@dataclass
class Pairs:
    """A set of preference pairs over a shared table of responses.

    Attributes
    ----------
    chosen, rejected : ndarray of int64, shape (n,)
        Rows of the response table.
    instruction : ndarray of int64, shape (n,)
        The pairs' instruction (row of the instruction table).
    """

    chosen: I64
    rejected: I64
    instruction: I64

    def __len__(self) -> int:
        return int(self.chosen.size)

    def subset(self, rows: I64) -> "Pairs":
        """The pairs at ``rows``, in that order."""
        return Pairs(self.chosen[rows], self.rejected[rows], self.instruction[rows])


@dataclass
class Corpus:
    """Tokenized instructions and responses with everything the pairs refer to.

    Attributes
    ----------
    instr_ids : list of list of int
        Each instruction's word pieces, truncated to the budget (no special tokens).
    resp_ids : list of list of int
        Each usable response's word pieces (no special tokens), whole.
    resp_len : ndarray of int64
        len(resp_ids[i]), the length the benchmark debiases against (word pieces).
    resp_model : list of str
        The model that wrote each response.
    resp_pref : ndarray of float64
        Each response's judge_preference against the reference.
    resp_instruction : ndarray of int64
        Each response's instruction row.
    cls_id, sep_id, pad_id : int
        The tokenizer's special tokens.
    """

    instr_ids: list[list[int]]
    resp_ids: list[list[int]]
    resp_len: I64
    resp_model: list[str]
    resp_pref: F64
    resp_instruction: I64
    cls_id: int
    sep_id: int
    pad_id: int
    meta: dict[str, Any] = field(default_factory=dict)

    def length_gap(self, pairs: Pairs) -> F64:
        """len(chosen) - len(rejected) in word pieces, shape (n,)."""
        return (self.resp_len[pairs.chosen] - self.resp_len[pairs.rejected]).astype(np.float64)



def read_jsonl(path: str) -> list[dict[str, Any]]:
    """Reads a gzip-compressed JSON-lines file.

    Parameters
    ----------
    path : str

    Returns
    -------
    list of dict
    """
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]



def load_corpus(data_dir: str, budget: Budget, tokenizer: Any) -> Corpus:
    """Reads and tokenizes the annotations; keeps the responses that fit the budget.

    Parameters
    ----------
    data_dir : str
        Holds ``instructions.jsonl.gz`` and ``judgments.jsonl.gz``.
    budget : Budget
    tokenizer : transformers tokenizer
        all-MiniLM-L6-v2's (BERT word pieces).

    Returns
    -------
    Corpus
    """
    instructions = read_jsonl(os.path.join(data_dir, "instructions.jsonl.gz"))
    judgments = read_jsonl(os.path.join(data_dir, "judgments.jsonl.gz"))
    instructions.sort(key=lambda r: r["instruction_id"])
    row_of = {r["instruction_id"]: i for i, r in enumerate(instructions)}
    encoded = tokenizer([r["instruction"] for r in instructions], add_special_tokens=False)["input_ids"]
    instr_ids = [list(ids[:budget.instr_tokens]) for ids in encoded]
    candidates = [j for j in judgments
                  if j["model"] not in ADVERSARIAL and j["model"] != REFERENCE_MODEL and j.get("output")
                  and j.get("judge_preference") is not None
                  and len(j["output"]) <= _MAX_CHARS_PER_TOKEN * budget.resp_tokens]
    tokens = tokenizer([j["output"] for j in candidates], add_special_tokens=False)["input_ids"]
    keep = [(j, list(t)) for j, t in zip(candidates, tokens) if 0 < len(t) <= budget.resp_tokens]
    return Corpus(
        instr_ids=instr_ids,
        resp_ids=[t for _, t in keep],
        resp_len=np.array([len(t) for _, t in keep], np.int64),
        resp_model=[j["model"] for j, _ in keep],
        resp_pref=np.array([float(j["judge_preference"]) for j, _ in keep], np.float64),
        resp_instruction=np.array([row_of[j["instruction_id"]] for j, _ in keep], np.int64),
        cls_id=int(tokenizer.cls_token_id), sep_id=int(tokenizer.sep_token_id), pad_id=int(tokenizer.pad_token_id),
        meta={"judgments": len(judgments), "instructions": len(instructions),
              "responses_fitting": len(keep), "responses_considered": len(candidates)},
    )

