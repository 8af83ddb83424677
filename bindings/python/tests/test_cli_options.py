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


# Values the C API refuses once trapped in the CLI (they reached the core unchecked); they go
# through the core's validate() now, as the C API's structs do.
@pytest.mark.parametrize("option, value, field", [
    ("--epochs", -1, "epochs"),
    ("--q-hidden", -2, "club.q_hidden"),
    ("--fit-steps", -1, "club.fit_steps"),
    ("--pf-prompts", 0, "pf_prompts"),
    ("--pf-prompts", 5000, "pf_prompts"),
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
