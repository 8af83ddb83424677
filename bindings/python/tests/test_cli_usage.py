"""Issue 23: dirrm-cli's help and usage errors. No command, or an unknown one, prints the help
(never runs the demo) with the usage status 64; --help prints it with status 0; an unknown
method lists the valid ones; a negative number is read as a value and judged as one; every
message is in words, not Swift's spelling of an enum."""

import os
import re

import pytest

from cli_helpers import CLI, data_args, run_cli, small_dataset

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")

COMMANDS = ["demo", "train", "evaluate", "experiment"]
USAGE = 64   # sysexits.h's EX_USAGE, swift-argument-parser's status for a usage error


def assert_is_help(text):
    assert "USAGE: dirrm-cli <subcommand>" in text, text
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", text, re.M), (name, text)


def test_no_command_prints_the_help_and_fails(tmp_path):
    out = run_cli(timeout=10, cwd=tmp_path)
    assert out.returncode == USAGE and out.stdout == "", out
    assert_is_help(out.stderr)
    assert os.listdir(tmp_path) == []   # the demo did not run: it would have written out/


@pytest.mark.parametrize("word", ["nosuch", "Demo", "trian"])
def test_an_unknown_command_names_the_valid_ones(tmp_path, word):
    out = run_cli(word, "--out", "x", timeout=10, cwd=tmp_path)
    assert out.returncode == USAGE and out.stdout == "", out
    assert f"unknown command '{word}'; valid: demo, train, evaluate, experiment" in out.stderr, out.stderr
    assert_is_help(out.stderr)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_asked_for_help_succeeds(args):
    out = run_cli(*args, timeout=10)
    assert out.returncode == 0, out.stderr
    assert_is_help(out.stdout)
    assert "Exit status: 0 on success, 1 when a file or a value is refused, 64 for a usage error" in \
        " ".join(out.stdout.split())


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name):
    out = run_cli(name, "--help", timeout=10)
    assert out.returncode == 0 and f"USAGE: dirrm-cli {name}" in out.stdout, out.stderr


def test_an_unknown_method_lists_the_valid_ones(tmp_path):
    paths = small_dataset(str(tmp_path))
    out = run_cli("train", *data_args(paths), "--method", "DIR", "--output", tmp_path / "m.bin")
    assert out.returncode == USAGE, out.stderr
    assert "unknown method 'DIR'; valid: vanilla, dir, prompt-free, dir-prompt-free" in out.stderr, out.stderr
    # Those are the spellings train accepts.
    for method in ["vanilla", "dir", "prompt-free", "dir-prompt-free"]:
        ok = run_cli("train", *data_args(paths), "--method", method, "--epochs", 0, "--width", 8,
                     "--output", tmp_path / "m.bin")
        assert ok.returncode == 0, (method, ok.stderr)


@pytest.mark.parametrize("option, value, words", [
    ("--lambda", "-1", "invalid --lambda: dir.lambda = -1.0 must be >= 0"),
    ("--epochs", "-2", "invalid --epochs: epochs = -2 is outside"),
    ("--batch-size", "-5", "invalid --batch-size: batch_size = -5 is outside [1, "),
    ("--learning-rate", "-0.001", "invalid --learning-rate: learning_rate = -0.001 must be > 0"),
    ("--club-lr", "-1e-3", "invalid --club-lr: dir.club.learning_rate = -0.001 must be > 0"),
    ("--own-weight", "-0.5", "invalid --own-weight: pf.p = -0.5 is outside [0, 1]"),
    ("--width", "-1", "invalid --width: width = -1 is outside"),
])
def test_a_negative_value_is_judged_as_a_value(tmp_path, option, value, words):
    paths = small_dataset(str(tmp_path))
    # As two arguments: "-1" is the option's value, not an unknown option.
    out = run_cli("train", *data_args(paths), "--method", "dir", "--output", tmp_path / "m.bin", option, value)
    assert out.returncode == 1 and words in out.stderr, (out.returncode, out.stderr)
    assert "Missing value" not in out.stderr
    assert not (tmp_path / "m.bin").exists()


@pytest.mark.parametrize("args, words", [
    (["evaluate", "--bias-column", "-1"], "--bias-column -1: a column index, at least 0"),
    (["train", "--bias-column", "-1"], "--bias-column -1: a column index, at least 0"),
    (["experiment", "--seeds", "-1"], "--seeds -1: must be in 1...100"),
    (["demo", "--seeds", "-1"], "--seeds -1: must be in 1...100"),
    (["demo", "--prompt-count", "-5"], "--prompt-count -5: must be in 2...1000000"),
])
def test_a_negative_count_is_a_usage_error_in_words(tmp_path, args, words):
    paths = small_dataset(str(tmp_path))
    data = [*data_args(paths), "--model" if args[0] == "evaluate" else "--output", tmp_path / "m.bin"]
    out = run_cli(*args, *(data if args[0] in ("train", "evaluate") else []), timeout=20, cwd=tmp_path)
    assert out.returncode == USAGE and words in out.stderr, (out.returncode, out.stderr)
    assert "Missing value" not in out.stderr


def test_a_non_model_file_is_named_in_words(tmp_path):
    paths = small_dataset(str(tmp_path))
    out = run_cli("evaluate", *data_args(paths), "--model", paths["prompts"])
    assert out.returncode == 1, out.stderr
    assert f"{paths['prompts']} is not a dirrm model file (wrong magic bytes)" in out.stderr, out.stderr


def test_no_message_spells_a_swift_enum(tmp_path):
    paths = small_dataset(str(tmp_path))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 64)
    runs = [
        run_cli("evaluate", *data_args(paths), "--model", junk),
        run_cli("train", *data_args(paths), "--method", "dir", "--lambda", "nan", "--output", tmp_path / "m.bin"),
        run_cli("train", *data_args(paths), "--method", "dir", "--q-hidden", "1", "--output", tmp_path / "m.bin"),
        run_cli("train", *data_args(paths, bias=False), "--method", "dir", "--output", tmp_path / "m.bin"),
        run_cli("train", *data_args(paths), "--bias-column", "3", "--output", tmp_path / "m.bin"),
    ]
    for out in runs:
        assert out.returncode != 0 and out.stderr.startswith("Error: "), out.stderr
        # Swift's rendering of an enum case with a payload: corrupt("..."), overflow("...").
        assert not re.search(r"\b[a-z][A-Za-z]*\(\"", out.stderr), out.stderr
