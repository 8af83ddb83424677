"""The fine-tuning benchmark's pair sets: every judged pair of two models' outputs on one
instruction, and the split by model and by instruction.

The split is by model and by instruction: the test pairs compare two held-out models' outputs
on held-out instructions, the training pairs two other models' outputs on the other
instructions, so the test measures generalization to new systems and new prompts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from data import Budget, Corpus, Pairs, load_corpus
from stats import spearman

# Variants of one system (same weights, other length instructions or another host) are held out
# together, so no held-out system has a sibling in training.
_FAMILY_SUFFIX = re.compile(r"(_concise|_verbose|-togetherai)$")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass
class Splits:
    """The data of one benchmark run.

    Attributes
    ----------
    corpus : Corpus
    train_natural, train_skewed, train_balanced, test : Pairs
    test_models, train_models : list of str
    info : dict
        Pool sizes, the judge's length bias, the chosen-longer shares (for the report).
    """

    corpus: Corpus
    train_natural: Pairs
    train_skewed: Pairs
    train_balanced: Pairs
    test: Pairs
    test_models: list[str]
    train_models: list[str]
    info: dict[str, Any]


def family(model: str) -> str:
    """A model's system: its name without a _concise / _verbose / -togetherai suffix."""
    return _FAMILY_SUFFIX.sub("", model)


def split_models(models: list[str], share: float, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Holds out whole families until at least ``share`` of the models are held out.

    Parameters
    ----------
    models : list of str
    share : float
        Fraction of the models to hold out.
    rng : numpy.random.Generator

    Returns
    -------
    (train_models, test_models) : tuple of list of str, each sorted
    """
    families = sorted({family(m) for m in models})
    order = rng.permutation(len(families))
    held: list[str] = []
    for i in order:
        if len(held) >= share * len(models):
            break
        held += [m for m in models if family(m) == families[i]]
    return sorted(set(models) - set(held)), sorted(held)


def build_pool(corpus: Corpus, models: set[str], instructions: set[int], min_pref_gap: float) -> Pairs:
    """Every pair of two models' outputs on one instruction, labelled by the judge.

    Parameters
    ----------
    corpus : Corpus
    models : set of str
        Both outputs must come from these models.
    instructions : set of int
        Instruction rows allowed.
    min_pref_gap : float
        Near-ties (judge preferences closer than this) are dropped, and so are pairs of equal
        length (in word pieces) or of identical text, which say nothing about length.

    Returns
    -------
    Pairs
        chosen = the output with the higher judge_preference.
    """
    by_instruction: dict[int, list[int]] = {}
    for i, (m, ins) in enumerate(zip(corpus.resp_model, corpus.resp_instruction.tolist())):
        if m in models and ins in instructions:
            by_instruction.setdefault(int(ins), []).append(i)
    chosen: list[int] = []
    rejected: list[int] = []
    owner: list[int] = []
    for ins in sorted(by_instruction):
        rows = by_instruction[ins]
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                i, j = rows[a], rows[b]
                gap = corpus.resp_pref[i] - corpus.resp_pref[j]
                if abs(gap) < min_pref_gap or corpus.resp_len[i] == corpus.resp_len[j]:
                    continue
                if corpus.resp_ids[i] == corpus.resp_ids[j]:
                    continue
                c, r = (i, j) if gap > 0 else (j, i)
                chosen.append(c)
                rejected.append(r)
                owner.append(ins)
    return Pairs(np.array(chosen, np.int64), np.array(rejected, np.int64), np.array(owner, np.int64))


def skewed_sample(longer: I64, n: int, share: float, shorter: I64, rng: np.random.Generator) -> I64:
    """``round(share * n)`` rows of ``longer`` and the rest of ``shorter``, shuffled."""
    k = int(round(share * n))
    if k > longer.size or n - k > shorter.size:
        raise SystemExit(f"the training pool has {longer.size} chosen-longer and {shorter.size} chosen-shorter "
                         f"pairs; a skewed set of {n} needs {k} and {n - k}")
    rows = np.concatenate([rng.choice(longer, k, replace=False), rng.choice(shorter, n - k, replace=False)])
    return rng.permutation(rows)


def judge_length_bias(corpus: Corpus, pool: Pairs) -> dict[str, float]:
    """The judge's own length preference on a pool of pairs.

    Returns
    -------
    dict
        ``chosen_longer``: share of pairs whose chosen output is longer; ``spearman``:
        Spearman(judge preference difference, length difference), each pair oriented by
        response row (not by the label, which would make both differences positive-skewed);
        ``pairs``: pool size.
    """
    gap = corpus.length_gap(pool)
    a = np.minimum(pool.chosen, pool.rejected)
    b = np.maximum(pool.chosen, pool.rejected)
    pref_diff = corpus.resp_pref[a] - corpus.resp_pref[b]
    len_diff = (corpus.resp_len[a] - corpus.resp_len[b]).astype(np.float64)
    return {"pairs": float(len(pool)), "chosen_longer": float(np.mean(gap > 0)),
            "spearman": spearman(pref_diff, len_diff)}


def make_splits(data_dir: str, budget: Budget, tokenizer: Any, n_train: int, n_test: int, skew: float = 0.8,
                test_model_share: float = 0.25, test_instruction_share: float = 0.4, data_seed: int = 0) -> Splits:
    """Builds the corpus, the model and instruction split, and the four pair sets.

    Parameters
    ----------
    data_dir : str
    budget : Budget
    tokenizer : transformers tokenizer
    n_train : int
        Pairs in each training set (natural, skewed and balanced: the same size).
    n_test : int
        Test pairs drawn from the held-out pool (all of it if it is smaller).
    skew : float
        Chosen-longer share of the skewed training set.
    test_model_share, test_instruction_share : float
        Fractions of the models (whole families) and of the instructions held out.
    data_seed : int
        Seed of the split and the subsampling (fixed across training seeds).

    Returns
    -------
    Splits
    """
    rng = np.random.default_rng(data_seed)
    corpus = load_corpus(data_dir, budget, tokenizer)
    models = sorted(set(corpus.resp_model))
    train_models, test_models = split_models(models, test_model_share, rng)
    n_instr = len(corpus.instr_ids)
    held_instr = rng.permutation(n_instr)[:int(round(test_instruction_share * n_instr))]
    test_instr = set(int(i) for i in held_instr)
    train_instr = set(range(n_instr)) - test_instr
    train_pool = build_pool(corpus, set(train_models), train_instr, budget.min_pref_gap)
    test_pool = build_pool(corpus, set(test_models), test_instr, budget.min_pref_gap)
    gap = corpus.length_gap(train_pool)
    if n_train > len(train_pool):
        raise SystemExit(f"the training pool has {len(train_pool)} pairs; {n_train} were asked for")
    natural = train_pool.subset(rng.choice(len(train_pool), n_train, replace=False))
    skewed = train_pool.subset(skewed_sample(np.flatnonzero(gap > 0), n_train, skew, np.flatnonzero(gap < 0), rng))
    balanced = train_pool.subset(skewed_sample(np.flatnonzero(gap > 0), n_train, 0.5, np.flatnonzero(gap < 0), rng))
    test = test_pool.subset(np.sort(rng.choice(len(test_pool), min(n_test, len(test_pool)), replace=False)))
    info = {
        **corpus.meta,
        "train_models": len(train_models), "test_models": len(test_models),
        "train_instructions": len(train_instr), "test_instructions": len(test_instr),
        "train_pool": len(train_pool), "test_pool": len(test_pool),
        "judge_train_pool": judge_length_bias(corpus, train_pool),
        "judge_test_pool": judge_length_bias(corpus, test_pool),
        "chosen_longer": {name: float(np.mean(corpus.length_gap(p) > 0))
                          for name, p in (("natural", natural), ("skewed", skewed), ("balanced", balanced),
                                          ("test", test))},
        "mean_tokens": {name: float(np.mean(corpus.resp_len[np.concatenate([p.chosen, p.rejected])]))
                        for name, p in (("natural", natural), ("skewed", skewed), ("balanced", balanced),
                                        ("test", test))},
        "longer_wins_test": float(np.mean(corpus.length_gap(test) > 0)),
        "train_pairs": n_train, "test_pairs": len(test),
    }
    return Splits(corpus, natural, skewed, balanced, test, test_models, train_models, info)
