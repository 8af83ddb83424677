"""Issue 23: `train`, `evaluate` and `experiment` take --json and then print their metrics as one
JSON object on stdout, and nothing else there; the numbers are the ones the text output shows."""

import json
import math
import os
import re
from typing import Optional

import numpy as np
import pytest

from cli_helpers import CLI, data_args, run_cli, small_dataset

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")

EVAL_FIELDS = ["pairs", "accuracy", "mean_gap", "bias_column", "gap_bias_pearson", "gap_bias_spearman",
               "accuracy_bias_positive", "accuracy_bias_negative"]


def only_json(out):
    """The one JSON object that is the whole of stdout."""
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n") and out.stdout.count("\n") == 1, out.stdout
    value = json.loads(out.stdout)
    assert isinstance(value, dict)
    return value


def test_train_and_evaluate_json(tmp_path):
    paths = small_dataset(str(tmp_path))
    # A name JSON must escape: a quote, a backslash, a tab.
    model = tmp_path / 'model "a\\b\t".bin'
    train = only_json(run_cli("train", *data_args(paths), "--method", "dir", "--width", 16, "--epochs", 2,
                              "--batch-size", 8, "--output", model, "--json"))
    assert model.exists()
    assert train["command"] == "train" and train["output"] == str(model) and train["method"] == "dir"
    assert train["pairs"] == 32 and train["steps"] == 2 * 4
    assert train["settings"]["epochs"] == 2 and train["settings"]["batch_size"] == 8
    assert train["settings"]["bias_column"] == 0 and train["settings"]["width"] == 16
    assert isinstance(train["settings"]["learning_rate"], float)
    assert math.isfinite(train["last_epoch"]["loss_pref"]) and math.isfinite(train["last_epoch"]["mi"])

    evaluate = only_json(run_cli("evaluate", *data_args(paths), "--model", model, "--json"))
    assert evaluate["command"] == "evaluate" and evaluate["model"] == str(model)
    assert [k for k in evaluate if k not in ("command", "model")] == EVAL_FIELDS
    # The training report evaluates the trained model on its training data: as evaluate does.
    assert train["train_evaluation"] == {k: evaluate[k] for k in EVAL_FIELDS}
    # The text output shows the same numbers, rounded.
    text = run_cli("evaluate", *data_args(paths), "--model", model)
    assert text.returncode == 0, text.stderr
    shown = dict(re.findall(r"^(accuracy|mean gap|Spearman\(gap, bias\)) (\S+)$", text.stdout, re.M))
    assert float(shown["accuracy"]) == pytest.approx(evaluate["accuracy"], abs=5e-5)
    assert float(shown["mean gap"]) == pytest.approx(evaluate["mean_gap"], abs=5e-5)
    assert float(shown["Spearman(gap, bias)"]) == pytest.approx(evaluate["gap_bias_spearman"], abs=5e-5)


def test_evaluate_json_without_bias_has_null_bias_statistics(tmp_path):
    paths = small_dataset(str(tmp_path))
    model = tmp_path / "model.bin"
    assert run_cli("train", *data_args(paths, bias=False), "--width", 8, "--output", model).returncode == 0
    report = only_json(run_cli("evaluate", *data_args(paths, bias=False), "--model", model, "--json"))
    assert report["bias_column"] is None and report["gap_bias_spearman"] is None
    assert 0 <= report["accuracy"] <= 1


def test_experiment_json(tmp_path):
    out = run_cli("experiment", "--seeds", 2, "--epochs", 1, "--prompt-count", 100, "--json", timeout=120)
    report = only_json(out)
    assert report["command"] == "experiment" and report["seeds"] == 2
    assert report["changed_options"] == ["100 prompts", "epochs 1"]
    assert list(report["length"]) == ["vanilla on unbiased data (oracle)", "vanilla", "DIR", "prompt-free",
                                      "DIR + prompt-free"]
    assert list(report["length"]["DIR"]) == ["accuracy", "accuracy_chosen_shorter", "gap_length_spearman",
                                             "club_estimate", "chosen_longer_share_trained"]
    assert list(report["sycophancy"]) == ["vanilla", "DIR"]
    assert list(report["adversarial"]) == ["original", "vanilla", "prompt-free"]
    cells = [cell for table in ("length", "sycophancy") for row in report[table].values() for cell in row.values()]
    cells += list(report["adversarial"].values())
    for cell in cells:
        values = np.array(cell["values"], dtype=float)
        assert len(values) == 2
        assert cell["mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert cell["std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert cell["standard_error"] == pytest.approx(values.std(ddof=1) / np.sqrt(2), abs=1e-12)
    # Two seeds are too few for a verdict: the estimates alone.
    for name, check in report["targets"].items():
        assert check["estimate"] == pytest.approx(target_statistics(report)[name](np.arange(2)), abs=1e-12)
        assert check["low"] is None and check["high"] is None and check["verdict"] == "not decided by 2 seeds"
    # The text table of the same run shows the same means, ± their standard errors.
    text = run_cli("experiment", "--seeds", 2, "--epochs", 1, "--prompt-count", 100, timeout=120)
    assert text.returncode == 0, text.stderr
    row = re.search(r"^\| vanilla with the duplicates \| (\S+) ± (\S+) \|$", text.stdout, re.M)
    assert float(row.group(1)) == pytest.approx(report["adversarial"]["vanilla"]["mean"], abs=5e-4)
    assert float(row.group(2)) == pytest.approx(report["adversarial"]["vanilla"]["standard_error"], abs=5e-4)


def target_statistics(report: dict) -> dict:
    """Each target's statistic as a function of the seed indices of a sample, from the JSON's
    per-seed values: the reference for the CLI's estimates and intervals."""
    def values(table: str, row: str, column: Optional[str] = None) -> np.ndarray:
        cell = report[table][row] if column is None else report[table][row][column]
        return np.array(cell["values"], dtype=float)

    acc = {row: values("length", row, "accuracy") for row in report["length"]}
    rho = {row: values("length", row, "gap_length_spearman") for row in ("DIR", "vanilla")}
    gap = {row: values("sycophancy", row, "gap") for row in ("DIR", "vanilla")}
    flip = {row: values("adversarial", row) for row in report["adversarial"]}

    def ratio(a: float, b: float) -> float:
        return a / b if abs(b) > 1e-12 else np.nan

    def recovered(method: np.ndarray, base: np.ndarray, best: np.ndarray):
        return lambda s: ratio(method[s].mean() - base[s].mean(), best[s].mean() - base[s].mean())

    return {
        "dir_spearman_ratio": lambda s: ratio(rho["DIR"][s].mean(), rho["vanilla"][s].mean()),
        "dir_accuracy_gain": lambda s: acc["DIR"][s].mean() - acc["vanilla"][s].mean(),
        "prompt_free_recovery": recovered(acc["prompt-free"], acc["vanilla"],
                                          acc["vanilla on unbiased data (oracle)"]),
        "combined_gain": lambda s: acc["DIR + prompt-free"][s].mean() - max(acc["DIR"][s].mean(),
                                                                           acc["prompt-free"][s].mean()),
        "sycophancy_gap_ratio": lambda s: ratio(gap["DIR"][s].mean(), gap["vanilla"][s].mean()),
        "adversarial_recovery": recovered(flip["prompt-free"], flip["vanilla"], flip["original"]),
    }


# What each target asks of its statistic: (lowest, highest) allowed.
TARGETS = {"dir_spearman_ratio": (0.0, 0.5), "dir_accuracy_gain": (-0.010, np.inf),
           "prompt_free_recovery": (0.30, np.inf), "combined_gain": (0.0, np.inf),
           "sycophancy_gap_ratio": (0.0, 0.5), "adversarial_recovery": (0.30, np.inf)}


def test_experiment_judges_each_target_on_a_bootstrap_interval():
    seeds = 5
    report = only_json(run_cli("experiment", "--seeds", seeds, "--epochs", 1, "--prompt-count", 100, "--json",
                               timeout=120))
    statistics = target_statistics(report)
    assert list(report["targets"]) == list(TARGETS)
    # Every one of the 5^5 resamples of five seeds: the exact bootstrap distribution, which the
    # CLI's 10,000 random resamples estimate. Its 2.5% and 97.5% points must fall within the
    # exact 2–3% and 97–98% quantiles (a 90% or a normal interval would not).
    grid = np.stack(np.meshgrid(*[np.arange(seeds)] * seeds, indexing="ij"), -1).reshape(-1, seeds)
    for name, check in report["targets"].items():
        statistic = statistics[name]
        exact = np.array([statistic(s) for s in grid])
        estimate = statistic(np.arange(seeds))
        if np.isnan(exact).any():
            # Undefined on some resamples: no interval, and no verdict but undecided.
            assert check["low"] is None and check["high"] is None, name
            assert check["verdict"].startswith("undecided"), name
            continue
        assert check["estimate"] == pytest.approx(estimate, abs=1e-12), name
        lows, highs = np.quantile(exact, [0.02, 0.03]), np.quantile(exact, [0.97, 0.98])
        assert lows[0] - 1e-12 <= check["low"] <= lows[1] + 1e-12, (name, check, lows)
        assert highs[0] - 1e-12 <= check["high"] <= highs[1] + 1e-12, (name, check, highs)
        # The verdict follows from the interval: met inside the target, missed wholly outside.
        least, most = TARGETS[name]
        lo, hi = check["low"], check["high"]
        if least <= lo and hi <= most:
            assert check["verdict"] == "met", name
        elif hi < least or lo > most:
            assert check["verdict"] == "missed", name
        else:
            assert check["verdict"] == "undecided", name


def test_experiment_without_training_leaves_its_ratios_undecided():
    # No epochs: every method is the initial model, so the recoveries divide by a gap of 0.
    out = run_cli("experiment", "--seeds", 5, "--epochs", 0, "--prompt-count", 100, "--json", timeout=120)
    report = only_json(out)
    checks = report["targets"]
    for name in ("prompt_free_recovery", "adversarial_recovery"):
        assert checks[name]["estimate"] is None and checks[name]["low"] is None, checks[name]
        assert checks[name]["verdict"].startswith("undecided"), checks[name]
    text = run_cli("experiment", "--seeds", 5, "--epochs", 0, "--prompt-count", 100, timeout=120)
    assert text.returncode == 0 and "n/a%" not in text.stdout, text.stdout


def test_experiment_json_and_row_are_one_or_the_other():
    out = run_cli("experiment", "--json", "--row", "x", timeout=20)
    assert out.returncode == 64 and "--json" in out.stderr and out.stdout == "", out.stderr
