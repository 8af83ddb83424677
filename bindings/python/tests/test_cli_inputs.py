"""dirrm-cli on malformed .npy files and bad options: status 1 (or the usage status 64) with a
message naming the file, never a signal."""

import os

import numpy as np
import pytest

from cli_helpers import CLI, raw_npy, run_cli, small_dataset

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")

F4 = np.float32(1).tobytes()


def features_with(value, at=(3, 1), dtype=np.float32):
    array = np.ones((8, 4), dtype)
    array[at] = value
    return array


def save(array):
    return lambda path: np.save(path, array)


def raw(**kwargs):
    return lambda path: raw_npy(path, **kwargs)


def truncated(path):
    np.save(path, np.ones((8, 4), np.float32))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 5)


def trailing(path):
    np.save(path, np.ones((8, 4), np.float32))
    with open(path, "ab") as f:
        f.write(b"\0" * 4)


def pairs_u8(value):
    array = np.zeros((32, 3), np.uint64)
    array[5, 2] = value
    return save(array)


def pairs_i8(value):
    array = np.array([[i % 8, (2 * i) % 16, (2 * i + 1) % 16] for i in range(32)], np.int64)
    array[7, 1] = value
    return save(array)


CASES = [
    # (role, writer, text the message must hold)
    ("prompts", raw(shape="(%d,)" % 2**61), "needs more bytes than any file can hold"),
    ("prompts", raw(shape="(%d, %d)" % (2**40, 2**40)), "needs more bytes than any file can hold"),
    ("prompts", raw(descr="<f8", shape="(%d, %d)" % (2**31, 2**31)), "needs more bytes than any file can hold"),
    ("prompts", raw(shape="(%d, 4)" % 2**62), "needs more bytes than any file can hold"),
    ("responses", raw(shape="(%d, 0)" % 2**62), "with 1 to 65536 columns"),
    ("prompts", raw(shape="(-1, 4)"), "bad shape"),
    ("prompts", raw(shape="(99999999999999999999999, 4)"), "bad shape"),
    ("prompts", raw(shape="(2, 2, 2)", data=F4 * 8), "1-D or 2-D"),
    ("prompts", raw(shape="()", data=F4), "1-D or 2-D"),
    ("prompts", raw(shape="(8, 4)", data=F4 * 31), "needs 128 bytes of data, the file holds 124"),
    ("prompts", truncated, "needs 128 bytes of data, the file holds 123 (truncated?)"),
    ("prompts", trailing, "the file holds 132"),
    ("prompts", raw(shape="(8, 4)", length=60000), "header length 60000 runs past the end"),
    ("prompts", raw(shape="(8, 4)", version=2, length=0xFFFFFFFF), "header length 4294967295 runs past"),
    ("prompts", raw(shape="(8, 4)", version=3, length=0xFFFFFFFF), "runs past the end"),
    ("prompts", raw(shape="(8, 4)", version=4), "unsupported format version 4"),
    ("prompts", lambda path: open(path, "wb").write(b"\x93NUMPY\x01"), "wrong magic bytes"),
    ("prompts", lambda path: open(path, "wb").write(b"\x93NUMPY\x02\x00\x10\x00\x00"), "truncated header"),
    ("prompts", lambda path: open(path, "wb").write(b"PK\x03\x04" + b"\0" * 60), "wrong magic bytes"),
    ("prompts", raw(descr=">f4", shape="(8, 4)", data=F4 * 32), "dtype >f4 is not supported"),
    ("prompts", raw(header="{'descr': '<f4', 'fortran_order': True, 'shape': (8, 4), }", data=F4 * 32), "Fortran"),
    ("prompts", raw(header="{'fortran_order': False, 'shape': (8, 4), }", data=F4 * 32), "no dtype"),
    ("prompts", raw(header="{'descr': '<f4', 'fortran_order': False, }", data=F4 * 32), "no shape"),
    ("prompts", save(np.ones((8, 4), np.int64)), "expected a float array"),
    ("prompts", save(np.ones((8, 2**16 + 1), np.float32)), "with 1 to 65536 columns"),
    ("prompts", save(features_with(np.nan)), "element [3, 1] is nan"),
    ("responses", save(np.ones((16, 4), np.float32) * np.float32(np.inf)), "element [0, 0] is inf"),
    ("prompts", save(features_with(-np.inf, dtype=np.float64)), "element [3, 1] is -inf"),
    ("prompts", save(features_with(1e300, dtype=np.float64)), "element [3, 1] = 1e+300 is outside the float32 range"),
    ("pairs", pairs_u8(2**63), "element [5, 2] = 9223372036854775808 is past the largest Int64"),
    ("pairs", pairs_u8(2**64 - 1), "element [5, 2] = 18446744073709551615"),
    ("pairs", pairs_i8(-1), "pairs[7][1] = -1"),
    ("pairs", pairs_i8(-(2**63)), "pairs[7][1] = -9223372036854775808"),
    ("pairs", pairs_i8(16), "pairs[7][1] = 16"),
    ("pairs", save(np.zeros((32, 3), np.float32)), "expected an integer array (num_pairs, 3)"),
    ("pairs", save(np.zeros((32, 2), np.int64)), "expected an integer array (num_pairs, 3)"),
    ("pairs", save(np.zeros((0, 3), np.int64)), "expected an integer array (num_pairs, 3)"),
    ("bias", save(np.zeros(31, np.float32)), "for 32 pairs"),
    ("bias", save(np.zeros((32, 0), np.float32)), "for 32 pairs"),
    ("bias", save(np.full(32, np.nan, np.float32)), "element [0] is nan"),
    ("bias", raw(shape="(%d,)" % 2**61, descr="|u1"), "needs 2305843009213693952 bytes of data, the file holds 0"),
    ("bias", lambda path: os.mkdir(path), "is a folder"),
    ("bias", lambda path: None, "cannot open"),
]


@pytest.mark.parametrize("role,writer,needle", CASES)
def test_malformed_file_is_refused_with_its_name(tmp_path, role, writer, needle):
    paths = small_dataset(str(tmp_path))
    bad = str(tmp_path / ("bad-" + role + ".npy"))
    writer(bad)
    paths[role] = bad
    output = tmp_path / "model.bin"
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                  "--pairs", paths["pairs"], "--bias", paths["bias"], "--output", output)
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert bad in out.stderr and needle in out.stderr, out.stderr
    assert not output.exists()


def test_int_and_unsigned_dtypes_are_read(tmp_path):
    paths = small_dataset(str(tmp_path))
    pairs = np.load(paths["pairs"])
    for dtype in (np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.uint64):
        np.save(paths["pairs"], pairs.astype(dtype))
        np.save(paths["bias"], np.arange(32).astype(dtype).reshape(32, 1))
        out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                      "--pairs", paths["pairs"], "--bias", paths["bias"], "--width", 8,
                      "--output", tmp_path / "model.bin")
        assert out.returncode == 0, (dtype, out.stderr)


def test_float64_features_are_read(tmp_path):
    paths = small_dataset(str(tmp_path))
    np.save(paths["prompts"], np.load(paths["prompts"]).astype(np.float64))
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                  "--pairs", paths["pairs"], "--width", 8, "--output", tmp_path / "model.bin")
    assert out.returncode == 0, out.stderr


@pytest.fixture
def trained(tmp_path):
    paths = small_dataset(str(tmp_path))
    model = tmp_path / "model.bin"
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                  "--pairs", paths["pairs"], "--bias", paths["bias"], "--width", 8, "--output", model)
    assert out.returncode == 0, out.stderr
    return paths, model


def evaluate(paths, model, *extra):
    return run_cli("evaluate", "--prompts", paths["prompts"], "--responses", paths["responses"],
                   "--pairs", paths["pairs"], "--bias", paths["bias"], "--model", model, *extra)


def test_evaluate_refuses_a_truncated_model(trained, tmp_path):
    paths, model = trained
    cut = tmp_path / "cut.bin"
    cut.write_bytes(model.read_bytes()[:-3])
    out = evaluate(paths, cut)
    assert out.returncode == 1 and str(cut) in out.stderr, out.stderr


@pytest.mark.parametrize("column,status,needle", [("-1", 64, "--bias-column"), ("1", 1, "1 column")])
def test_evaluate_refuses_a_bias_column_out_of_range(trained, column, status, needle):
    paths, model = trained
    out = evaluate(paths, model, "--bias-column=" + column)
    assert out.returncode == status and needle in out.stderr, (out.returncode, out.stderr)


@pytest.mark.parametrize("seeds", ["0", "-1", "101"])
def test_experiment_refuses_seed_counts_out_of_range(seeds):
    # A valid count would run the whole experiment; these must be refused at once.
    out = run_cli("experiment", "--seeds=" + seeds, timeout=20)
    assert out.returncode == 64 and "--seeds" in out.stderr, (out.returncode, out.stderr)
