"""The AlpacaEval pairs over the cached embeddings (benchmarks/real/embed.py's cache)."""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from embed import read_jsonl, text_hash

REFERENCE_MODEL = "gpt4_1106_preview"

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass
class RealData:
    """The AlpacaEval pairs over the cached embeddings.

    Attributes
    ----------
    prompts : ndarray, shape (P, 384), float32
        Instruction embeddings, row i = instruction_ids[i].
    responses : ndarray, shape (R, 384), float32
        Rows 0..P-1: the reference output of prompt i; then every model output.
    response_len : ndarray, shape (R,), int64
        Length of each response in characters.
    response_prompt : ndarray, shape (R,), int64
        The prompt row each response answers.
    response_model : ndarray, shape (R,), int64
        Index into models, or -1 for a reference output.
    models : list of str
        The models with judgments (the reference model excluded).
    pairs : ndarray, shape (N, 3), int64
        (prompt, chosen, rejected) rows of the non-tied judgments.
    pair_model : ndarray, shape (N,), int64
        The judged model of each pair (index into models).
    pair_model_won : ndarray, shape (N,), bool
        Whether the judge preferred the model's output.
    ties : int
        Judgments dropped as exact 1.5 ties (the reference model's excluded).
    leaderboard : dict of str to dict of str to float
        Per model: win_rate, length_controlled_winrate (both %), avg_length.
    """

    prompts: F32
    responses: F32
    response_len: I64
    response_prompt: I64
    response_model: I64
    models: list[str]
    pairs: I64
    pair_model: I64
    pair_model_won: B
    ties: int
    leaderboard: dict[str, dict[str, float]]
    embedding_seconds: float = float("nan")
    encoder: dict[str, Any] = field(default_factory=dict)

    def pair_length_gap(self, rows: I64) -> F64:
        """len(chosen) - len(rejected) in characters of the given pairs, shape (n,), float64."""
        p = self.pairs[rows]
        return (self.response_len[p[:, 1]] - self.response_len[p[:, 2]]).astype(np.float64)


def load_data(data_dir: str, cache_dir: str) -> RealData:
    """Reads DATA_DIR's judgments and leaderboard and CACHE_DIR's embeddings (embed.py).

    Models whose outputs are not in the cache are left out (with a message); the cached texts
    are checked against the data by their SHA-256.

    Parameters
    ----------
    data_dir, cache_dir : str

    Returns
    -------
    RealData
    """
    with open(os.path.join(cache_dir, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    instructions = sorted(read_jsonl(os.path.join(data_dir, "instructions.jsonl.gz")),
                          key=lambda row: int(row["instruction_id"]))
    judgments = read_jsonl(os.path.join(data_dir, "judgments.jsonl.gz"))
    ids = [int(r["instruction_id"]) for r in instructions]
    for key, texts in (("instructions", [str(r["instruction"]) for r in instructions]),
                       ("references", [str(r["reference_output"]) for r in instructions])):
        if key not in index or index[key]["ids"] != ids or index[key]["sha256"] != text_hash(texts):
            raise SystemExit(f"run.py: {cache_dir} has no up-to-date {key}; run embed.py first")
    prompts = np.load(os.path.join(cache_dir, index["instructions"]["file"])).astype(np.float32)
    references = np.load(os.path.join(cache_dir, index["references"]["file"])).astype(np.float32)
    row_of_id = {i: k for k, i in enumerate(ids)}

    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in judgments:
        by_model.setdefault(str(row["model"]), []).append(row)
    models: list[str] = []
    blocks: list[F32] = [references]
    lengths: list[int] = [len(str(r["reference_output"])) for r in instructions]
    owners: list[int] = [-1] * len(ids)
    answered: list[int] = list(range(len(ids)))
    pairs: list[tuple[int, int, int]] = []
    pair_model: list[int] = []
    won: list[bool] = []
    ties = 0
    missing = []
    for name in sorted(by_model):
        if name == REFERENCE_MODEL:
            continue
        rows = sorted(by_model[name], key=lambda r: int(r["instruction_id"]))
        entry = index.get("outputs", {}).get(name)
        texts = [str(r["output"] or "") for r in rows]
        if entry is None or entry["ids"] != [int(r["instruction_id"]) for r in rows] \
                or entry["sha256"] != text_hash(texts):
            missing.append(name)
            continue
        m = len(models)
        models.append(name)
        base = sum(len(b) for b in blocks)
        blocks.append(np.load(os.path.join(cache_dir, entry["file"])).astype(np.float32))
        for k, r in enumerate(rows):
            prompt = row_of_id[int(r["instruction_id"])]
            response = base + k
            lengths.append(len(texts[k]))
            owners.append(m)
            answered.append(prompt)
            preference = float(r["judge_preference"])
            if preference == 1.5:
                ties += 1
                continue
            model_won = preference > 1.5
            pairs.append((prompt, response, prompt) if model_won else (prompt, prompt, response))
            pair_model.append(m)
            won.append(model_won)
    if missing:
        print(f"run.py: not in the cache (run embed.py), left out: {', '.join(missing)}", file=sys.stderr)

    leaderboard: dict[str, dict[str, float]] = {}
    with open(os.path.join(data_dir, "leaderboard.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            leaderboard[row["model"]] = {"win_rate": float(row["win_rate"]),
                                         "length_controlled_winrate": float(row["length_controlled_winrate"]),
                                         "avg_length": float(row["avg_length"])}
    timing = index.get("timing", {})
    return RealData(
        prompts=prompts, responses=np.concatenate(blocks).astype(np.float32),
        response_len=np.asarray(lengths, np.int64), response_prompt=np.asarray(answered, np.int64),
        response_model=np.asarray(owners, np.int64), models=models,
        pairs=np.asarray(pairs, np.int64).reshape(-1, 3), pair_model=np.asarray(pair_model, np.int64),
        pair_model_won=np.asarray(won, np.bool_), ties=ties, leaderboard=leaderboard,
        embedding_seconds=float(timing.get("seconds_embedding", float("nan"))),
        encoder=index.get("encoder_settings", {}))
