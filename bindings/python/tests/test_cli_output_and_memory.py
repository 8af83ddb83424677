"""Issue 21 #7 and #8: dirrm-cli never replaces what is not a regular file, keeps its temporary
file name within NAME_MAX, and reports (status 1, a message) instead of aborting when an input
or the model it is asked to build does not fit in memory."""

import os
import resource
import stat

import pytest

from cli_helpers import run_cli, small_dataset


def train_args(paths, output, *extra):
    return ("train", "--prompts", paths["prompts"], "--responses", paths["responses"], "--pairs", paths["pairs"],
            "--bias", paths["bias"], "--epochs", 1, "--output", output, *extra)


def limited(gigabytes):
    """preexec_fn: an address-space limit for the child only (run it with unpreloaded())."""
    def apply():
        limit = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def unpreloaded():
    """The environment without LD_PRELOAD: make asan/tsan preload a sanitizer runtime into the
    tests, whose shadow memory needs terabytes of address space; the child here is the
    (unsanitized) CLI, and the limit is about its own allocations."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def test_output_refuses_a_symlink_a_fifo_and_a_device(tmp_path):
    paths = small_dataset(str(tmp_path))
    target = tmp_path / "real.bin"
    target.write_bytes(b"keep")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = [(link, "symbolic link"), (fifo, "FIFO")]
    device = tmp_path / "null"   # a private /dev/null (as root): a failing CLI destroys only this one
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        cases.append((device, "not a regular file"))
    except PermissionError:
        pass
    for path, word in cases:
        out = run_cli(*train_args(paths, path))
        assert out.returncode == 1 and word in out.stderr, (path, out.stderr)
    assert os.path.islink(link) and target.read_bytes() == b"keep"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    if len(cases) == 3:
        assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_255_byte_output_name_is_written(tmp_path):
    paths = small_dataset(str(tmp_path))
    name = tmp_path / ("m" * 251 + ".bin")
    out = run_cli(*train_args(paths, name))
    assert out.returncode == 0, out.stderr
    assert name.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_endless_or_oversized_input_is_an_error_not_an_abort(tmp_path):
    paths = small_dataset(str(tmp_path))
    out = run_cli(*train_args({**paths, "prompts": "/dev/zero"}, tmp_path / "m.bin"))
    assert out.returncode == 1 and "/dev/zero" in out.stderr and "magic" in out.stderr, out.stderr
    big = tmp_path / "big.npy"
    with open(big, "wb") as f:   # sparse: 3 GiB of apparent size, under a 2 GiB address space
        f.truncate(3 * 2**30)
    out = run_cli(*train_args({**paths, "prompts": big}, tmp_path / "m.bin"), preexec_fn=limited(2), env=unpreloaded())
    assert out.returncode == 1 and "not enough memory" in out.stderr, out.stderr


@pytest.mark.parametrize("extra", [("--width", 4096, "--depth", 16), ("--method", "dir", "--q-hidden", 1048576)])
def test_a_model_too_large_for_memory_is_an_error_not_an_abort(tmp_path, extra):
    paths = small_dataset(str(tmp_path))
    out = run_cli(*train_args(paths, tmp_path / "m.bin", *extra), preexec_fn=limited(1.5), env=unpreloaded())
    assert out.returncode == 1 and "not enough memory" in out.stderr, (out.returncode, out.stderr[-500:])
    assert not (tmp_path / "m.bin").exists()


def test_a_non_model_file_is_reported_in_words(tmp_path):
    paths = small_dataset(str(tmp_path))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model at all")
    out = run_cli("evaluate", "--prompts", paths["prompts"], "--responses", paths["responses"], "--pairs",
                  paths["pairs"], "--model", junk)
    assert out.returncode == 1 and "not a dirrm model file" in out.stderr and "corrupt(" not in out.stderr
