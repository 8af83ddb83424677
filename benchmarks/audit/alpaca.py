"""The README's audit example: dirrm.audit on AlpacaEval 2 held-out pairs.

Audits, on the fine-tuning benchmark's held-out pairs (benchmarks/finetune: 14 held-out models
on held-out instructions, both responses within 72 word pieces, `--data-seed 0`):

- the judge's own labels, its preference for each response as the reward;
- all-MiniLM-L6-v2 fine-tuned on the natural training set (seed 0) as vanilla, as DIR with the
  library's defaults, and as DIR with the faster q that README recommends for a short
  fine-tune (q at 1e-3, 20 steps per batch).

Length is in word pieces; the hidden state is the encoder's mean-pooled output that the reward
head reads. Writes benchmarks/audit/RESULTS.md, benchmarks/audit/length-*.svg and the README
block between the audit markers (about 15 minutes on one core).

    make audit-example DATA=/path/to/alpaca_eval
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "finetune"))
sys.path.insert(0, os.path.join(HERE, ".."))

import dirrm  # noqa: E402
from readme_block import replace_block  # noqa: E402

FAST_Q = {"learning_rate": 1e-3, "fit_steps": 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the AlpacaEval annotations folder")
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--readme", default=None, help="write the summary into this file's audit block")
    parser.add_argument("--train-pairs", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    import methods as M
    from data import Budget
    from model import load_tokenizer
    from splits import make_splits

    torch.set_num_threads(1)
    started = time.time()
    splits = make_splits(args.data, Budget(), load_tokenizer(), args.train_pairs, 800, data_seed=0)
    corpus, test = splits.corpus, splits.test
    lengths = (corpus.resp_len[test.chosen], corpus.resp_len[test.rejected])
    audits = {"the judge's labels (its preference as the reward)": dirrm.audit(
        corpus.resp_pref[test.chosen], corpus.resp_pref[test.rejected], lengths=lengths)}
    hyper = M.Hyper()
    for label, method, options in (("vanilla", "vanilla", {}), ("DIR, library defaults", "dir", {}),
                                   ("DIR, q at 1e-3 for 20 steps", "dir", FAST_Q)):
        run = M.train_and_evaluate(M.Job(label, method, "natural", args.seed, options, hyper), splits,
                                   keep_outputs=True)
        out = run["_outputs"]
        audits[f"MiniLM fine-tuned: {label}"] = dirrm.audit(out["gap"], np.zeros_like(out["gap"]), lengths=lengths,
                                                            hidden=(out["hc"], out["hr"]))
        print(f"[{time.time() - started:5.0f} s] {label}: agreement {run['agreement']:.3f}, "
              f"Spearman {run['spearman']:+.3f}", flush=True)
    write(args, audits, len(test), time.time() - started)


def write(args: argparse.Namespace, audits: dict[str, dirrm.Audit], pairs: int, seconds: float) -> None:
    """RESULTS.md, one SVG per audited model, and the README block."""
    header = ["| reward | agreement | Spearman(reward gap, length gap) [95% interval] | \"longer wins\" baseline | "
              "agreement, chosen longer / shorter | balanced agreement | length-controlled agreement "
              "(coefficient per sd of the gap) | I(h; length), held out |",
              "|---|---|---|---|---|---|---|---|"]
    rows = []
    for name, audit in audits.items():
        a = audit["length"]
        mi = f"{a.mutual_information:.3f}" if np.isfinite(a.mutual_information) else "–"
        rows.append(f"| {name} | {a.agreement:.3f} | {a.spearman:+.3f} [{a.spearman_low:+.3f}, {a.spearman_high:+.3f}] "
                    f"| {a.attribute_baseline:.3f} | {a.agreement_larger:.3f} / {a.agreement_smaller:.3f} | "
                    f"{a.balanced_agreement:.3f} | {a.controlled_agreement:.3f} ({a.coefficient:+.2f}) | {mi} |")
    intro = (f"`make audit-example DATA=...` (benchmarks/audit/alpaca.py): `dirrm.audit` of {pairs} held-out "
             f"AlpacaEval 2 pairs (14 held-out models, both answers within 72 word pieces; length in word pieces), "
             f"for the judge's own labels and for all-MiniLM-L6-v2 fine-tuned on {args.train_pairs} natural pairs "
             f"(seed {args.seed}). One seed: a single fine-tune's audit, not a comparison of methods "
             f"(benchmarks/finetune has those).")
    block = [intro, ""] + header + rows
    lines = ["# Auditing reward models on AlpacaEval 2", "", f"Generated in {seconds / 60:.0f} min.", ""] + block + [
        "", "Agreement by quantile bucket of the length gap (chosen − rejected, word pieces):", ""]
    for k, (name, audit) in enumerate(audits.items()):
        svg = f"length-{k}.svg"
        with open(os.path.join(HERE, svg), "w", encoding="utf-8") as f:
            f.write(audit.svg("length").replace(">length:", f">{name}:", 1))
        buckets = ", ".join(f"[{b.lowest:+.0f}, {b.highest:+.0f}]: {b.agreement:.2f} ({b.pairs})"
                            for b in audit["length"].buckets)
        lines += [f"- {name}: {buckets} ([figure]({svg}))"]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    if args.readme:
        replace_block(args.readme, "audit", block)


if __name__ == "__main__":
    main()
