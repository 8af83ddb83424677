"""dirrm-cli's options: K prompts per pair of the prompt-free method is settable (--pf-prompts)
and reaches the trainer; --prompts stays the prompt feature file."""

import os

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
