"""dirrm-cli audit: the same numbers as dirrm.audit (and so dirrm_audit) on the same inputs, per
pair and per response, text, JSON and figures; test_audit.py checks those numbers against numpy,
scipy and scikit-learn."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import dirrm
from cli_helpers import run_cli


def data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 80, (n, 2))
    rewards = np.stack([rng.normal(size=n) + 0.03 * (lengths[:, 0] - lengths[:, 1]), np.zeros(n)], 1)
    fmt = rng.integers(0, 3, (n, 2))           # three categories
    flag = rng.integers(0, 2, (n, 2))          # two: audited as flag=1
    return rewards.astype(np.float32), lengths, fmt, flag


def test_per_pair_audit_equals_the_python_binding(tmp_path):
    rewards, lengths, fmt, flag = data()
    for name, array in (("r", rewards), ("len", lengths), ("fmt", fmt), ("flag", flag)):
        np.save(tmp_path / f"{name}.npy", array)
    out = run_cli("audit", "--rewards", tmp_path / "r.npy", "--lengths", tmp_path / "len.npy",
                  "--attribute", f"format={tmp_path / 'fmt.npy'}", "--attribute", f"flag={tmp_path / 'flag.npy'}",
                  "--categorical", "format", "--categorical", "flag", "--bootstrap", 300, "--seed", 4, "--json",
                  "--svg", tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = dirrm.audit(rewards[:, 0], rewards[:, 1], {"format": (fmt[:, 0], fmt[:, 1]), "flag": (flag[:, 0], flag[:, 1])},
                       lengths=(lengths[:, 0], lengths[:, 1]), categorical=["format", "flag"], bootstrap=300, seed=4)
    assert got["pairs"] == len(rewards)
    assert list(got["attributes"]) == ["length", "format=0", "format=1", "format=2", "flag=1"]
    assert got["attributes"] == want.to_dict()
    for name in got["attributes"]:
        root = ET.parse(tmp_path / f"audit-{name}.svg").getroot()
        assert root.tag.endswith("svg")
    text = run_cli("audit", "--rewards", tmp_path / "r.npy", "--lengths", tmp_path / "len.npy")
    assert text.returncode == 0 and "Spearman(reward gap, attribute gap)" in text.stdout and not text.stderr


def test_per_response_audit_with_hidden_states_equals_the_python_binding(tmp_path):
    rng = np.random.default_rng(1)
    responses, n, d = 500, 300, 6
    reward = rng.normal(size=responses).astype(np.float32)
    length = rng.integers(1, 60, responses)
    hidden = rng.normal(size=(responses, d)).astype(np.float32)
    hidden[:, 0] += length / 30
    pairs = np.stack([rng.integers(0, 40, n), rng.integers(0, responses, n), rng.integers(0, responses, n)], 1)
    for name, array in (("r", reward), ("len", length), ("h", hidden), ("p", pairs)):
        np.save(tmp_path / f"{name}.npy", array)
    out = run_cli("audit", "--pairs", tmp_path / "p.npy", "--rewards", tmp_path / "r.npy", "--lengths",
                  tmp_path / "len.npy", "--hidden", tmp_path / "h.npy", "--club-steps", 200, "--json")
    assert out.returncode == 0, out.stderr
    c, r = pairs[:, 1], pairs[:, 2]
    want = dirrm.audit(reward[c], reward[r], lengths=(length[c], length[r]), hidden=(hidden[c], hidden[r]),
                       club_steps=200)
    assert json.loads(out.stdout)["attributes"] == want.to_dict()
    assert json.loads(out.stdout)["attributes"]["length"]["mutual_information"] > 0.1


@pytest.mark.parametrize("args, words", [
    (["--rewards", "R"], "at least one attribute"),
    (["--rewards", "R", "--attribute", "length"], "NAME=FILE"),
    (["--rewards", "R", "--lengths", "L", "--hidden", "H"], "--pairs"),
    (["--rewards", "R", "--lengths", "L", "--categorical", "nope"], "no attribute of that name"),
    (["--rewards", "R", "--lengths", "L", "--level", "1.5"], "level"),
    (["--rewards", "R", "--lengths", "L", "--bootstrap", "-1"], "bootstrap"),
    (["--rewards", "L", "--lengths", "L"], "got"),                 # a (n, 3) file where (n, 2) is expected
    (["--rewards", "R", "--lengths", "NaN"], "nan"),
])
def test_refusals_say_what_is_wrong(tmp_path, args, words):
    rewards, lengths, _, _ = data(20)
    np.save(tmp_path / "R.npy", rewards)
    np.save(tmp_path / "L.npy", np.concatenate([lengths, lengths[:, :1]], 1) if args[1] == "L" else lengths)
    bad = lengths.astype(np.float64)
    bad[3, 0] = np.nan
    np.save(tmp_path / "NaN.npy", bad)
    paths = [str(tmp_path / f"{a}.npy") if a in ("R", "L", "H", "NaN") else a for a in args]
    out = run_cli("audit", *paths)
    assert out.returncode in (1, 64), out
    assert words.lower() in out.stderr.lower(), out.stderr
    assert "Error" not in out.stdout
