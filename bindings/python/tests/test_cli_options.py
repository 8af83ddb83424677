"""dirrm-cli's options: K prompts per pair of the prompt-free method is settable (--pf-prompts)
and reaches the trainer; --prompts stays the prompt feature file; train's --batch-size,
--learning-rate and --bias-column reach the trainer, with the library's defaults in the help."""

import ctypes
import json
import os
import re

import numpy as np
import pytest

from cli_helpers import CLI, run_cli, small_dataset

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")


def test_each_option_is_declared_once():
    usage = run_cli("train", "--help").stdout
    assert usage.count("--prompts <") == 2, usage  # the usage line and its description
    assert usage.count("--pf-prompts <") == 1, usage


def train_bytes(tmp_path, paths, method, *extra):
    model = tmp_path / "model.bin"
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                  "--pairs", paths["pairs"], "--method", method, "--width", 16, "--output", model, *extra)
    assert out.returncode == 0, out.stderr
    return model.read_bytes()


def test_pf_prompts_reaches_the_trainer(tmp_path):
    paths = small_dataset(str(tmp_path))
    default = train_bytes(tmp_path, paths, "prompt-free")
    three = train_bytes(tmp_path, paths, "prompt-free", "--pf-prompts", 3)
    assert three != default
    assert train_bytes(tmp_path, paths, "prompt-free", "--pf-prompts", 3) == three
    # Only the prompt-free method samples prompts, so K leaves vanilla training unchanged.
    assert train_bytes(tmp_path, paths, "vanilla", "--pf-prompts", 3) == train_bytes(tmp_path, paths, "vanilla")


def test_pf_max_rounds_reaches_the_trainer(tmp_path):
    paths = small_dataset(str(tmp_path))
    one = train_bytes(tmp_path, paths, "prompt-free", "--pf-max-rounds", 1)
    assert one != train_bytes(tmp_path, paths, "prompt-free")
    assert train_bytes(tmp_path, paths, "prompt-free", "--pf-max-rounds", 1) == one
    default = train_defaults().pf_max_rounds
    assert train_bytes(tmp_path, paths, "prompt-free", "--pf-max-rounds", default) == \
        train_bytes(tmp_path, paths, "prompt-free")


# Values the C API refuses once trapped in the CLI (they reached the core unchecked); they go
# through the core's validate() now, as the C API's structs do.
@pytest.mark.parametrize("option, value, field", [
    ("--epochs", -1, "epochs"),
    ("--q-hidden", -2, "club.q_hidden"),
    ("--fit-steps", -1, "club.fit_steps"),
    ("--pf-prompts", 0, "pf_prompts"),
    ("--pf-prompts", 5000, "pf_prompts"),
    ("--pf-max-rounds", 0, "pf_max_rounds"),
    ("--reinsertions", -3, "prioritizer.max_reinsertions"),
    ("--ema-weight", 1.5, "prioritizer.ema_weight"),
    ("--own-weight", -0.5, "pf.p"),
    ("--lambda", "nan", "lambda"),
    ("--club-lr", 0, "club.learning_rate"),
    ("--width", 0, "width"),
    ("--depth", 99, "depth"),
])
def test_out_of_range_options_are_messages_not_traps(tmp_path, option, value, field):
    paths = small_dataset(str(tmp_path))
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                  "--pairs", paths["pairs"], "--bias", paths["bias"], "--method", "dir-prompt-free",
                  "--output", tmp_path / "model.bin", f"{option}={value}")
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert field in out.stderr, out.stderr
    assert not (tmp_path / "model.bin").exists()


# ---- issue 23: --batch-size, --learning-rate and --bias-column on train -----------------------

def train_defaults():
    """dirrm_train_params_init's values: the library's defaults (Defaults.swift)."""
    from dirrm import _lib
    params = _lib.TrainParams()
    _lib.lib.dirrm_train_params_init(ctypes.byref(params))
    return params


def test_train_help_shows_the_library_defaults():
    usage = " ".join(run_cli("train", "--help").stdout.split())
    params = train_defaults()
    for option, value in [("--batch-size", params.batch_size), ("--learning-rate", np.float32(params.learning_rate)),
                          ("--bias-column", params.bias_column), ("--epochs", params.epochs),
                          ("--lambda", np.float32(params.dir.lam))]:
        # Swift prints a Float as its shortest round-trip decimal, as numpy does.
        # The option's own description: up to the next option ("--name <name>").
        shown = re.search(rf"{option} <[\w-]+> (?:(?! --[\w-]+ <).)*?\(default: ([^)]+)\)", usage)
        assert shown, (option, usage)
        assert np.float32(shown.group(1)) == np.float32(value), (option, shown.group(1), value)


def test_batch_size_and_learning_rate_reach_the_trainer(tmp_path):
    paths = small_dataset(str(tmp_path))
    params = train_defaults()
    default = train_bytes(tmp_path, paths, "vanilla")
    # The defaults spelled out train the same model; other values another one.
    assert train_bytes(tmp_path, paths, "vanilla", "--batch-size", params.batch_size,
                       "--learning-rate", repr(float(np.float32(params.learning_rate)))) == default
    assert train_bytes(tmp_path, paths, "vanilla", "--batch-size", 8) != default
    assert train_bytes(tmp_path, paths, "vanilla", "--learning-rate", 0.01) != default
    # Through --json: the settings the training ran with, and its step count.
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"], "--pairs",
                  paths["pairs"], "--batch-size", 8, "--learning-rate", 0.01, "--epochs", 2, "--width", 16,
                  "--output", tmp_path / "model.bin", "--json")
    report = json.loads(out.stdout)
    assert report["settings"]["batch_size"] == 8 and report["settings"]["learning_rate"] == 0.01
    assert report["steps"] == 2 * 32 // 8


def test_bias_column_picks_dir_s_attribute(tmp_path):
    paths = small_dataset(str(tmp_path))
    rng = np.random.default_rng(3)
    single = np.load(paths["bias"])
    # Column 1 of a two-column file is the single-column file's only column.
    two = tmp_path / "two.npy"
    np.save(two, np.stack([rng.standard_normal(len(single)).astype(np.float32), single], axis=1))
    reference = train_bytes(tmp_path, paths, "dir", "--bias", paths["bias"])
    assert train_bytes(tmp_path, paths, "dir", "--bias", two, "--bias-column", 1) == reference
    assert train_bytes(tmp_path, paths, "dir", "--bias", two) != reference   # column 0 by default
    assert train_bytes(tmp_path, paths, "dir", "--bias", two, "--bias-column", 0) == \
        train_bytes(tmp_path, paths, "dir", "--bias", two)
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"], "--pairs",
                  paths["pairs"], "--bias", two, "--method", "dir", "--bias-column", 2, "--output",
                  tmp_path / "m.bin")
    assert out.returncode == 1 and f"--bias-column 2: {two} has 2 column(s)" in out.stderr, out.stderr
