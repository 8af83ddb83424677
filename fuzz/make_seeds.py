#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/: real states saved by the library (through
the Python binding), real .npy files from numpy, and short API programs. Re-run it after a
format change: python3 fuzz/make_seeds.py (needs `make build`)."""

import io
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))
import dirrm  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(bytes(data))


def load_seed(state):
    """A load harness's input for a saved state: mode byte 0 (frame it for me) + payload,
    i.e. the state without its 20-byte header and 8-byte checksum."""
    return b"\x00" + state[20:-8]


def clubs():
    rng = np.random.default_rng(0)
    h1, h2 = rng.standard_normal((2, 6, 3), dtype=np.float32)
    c = dirrm.Club(3, q_hidden=0, fit_steps=1)
    write("club_load", "categorical_linear", load_seed(c.save()))
    c.fit(h1, h2, np.array([0, 1, 0, 1, 1, 0], np.float32))
    write("club_load", "categorical_linear_fitted", load_seed(c.save()))
    c = dirrm.Club(3, bias_dim=3, q_hidden=4, fit_steps=2, pair_mode="concat")
    c.fit(h1, h2, np.array([0, 1, 2, 1, 2, 0], np.float32))
    write("club_load", "categorical_concat_hidden", load_seed(c.save()))
    c = dirrm.Club(2, bias_kind="gaussian", bias_dim=2, q_hidden=4, fit_steps=1)
    c.fit(h1[:, :2], h2[:, :2], rng.standard_normal((6, 2), dtype=np.float32))
    write("club_load", "gaussian_fitted", load_seed(c.save()))
    write("club_load", "raw_whole_state", b"\x0f" + c.save())


def prioritizers():
    q = dirrm.Prioritizer(5, seed=1)
    write("prioritizer_load", "fresh", load_seed(q.save()))
    idx = q.propose(3)
    q.decide(idx, np.array([-1, 2, 0.5], np.float32)[: len(idx)])
    write("prioritizer_load", "mid_step", load_seed(q.save()))
    q.end_step()
    write("prioritizer_load", "after_step", load_seed(q.save()))
    q = dirrm.Prioritizer(6, reinsertion="lazy", max_reinsertions=2, shuffle=False, cluster_method="otsu")
    for _ in range(3):
        idx = q.propose(2)
        if len(idx):
            q.decide(idx, np.array([5, -5], np.float32)[: len(idx)])
        q.end_step()
    write("prioritizer_load", "lazy_deferred", load_seed(q.save()))
    idx = q.propose(2)
    write("prioritizer_load", "lazy_pending", load_seed(q.save()))
    write("prioritizer_load", "raw_whole_state", b"\x0f" + q.save())


def models():
    m = dirrm.RewardModel(2, 3, width=4, depth=1)
    write("model_load", "tiny_depth1", load_seed(m.save()))
    m = dirrm.RewardModel(3, 2, width=3, depth=3, seed=5)
    write("model_load", "tiny_depth3", load_seed(m.save()))
    write("model_load", "raw_whole_state", b"\x0f" + m.save())


def npy(array, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array)
    else:
        np.lib.format.write_array(buf, array, version=version)
    return buf.getvalue()


def numpy_files():
    write("numpy", "f4_2d", b"\x00" + npy(np.arange(6, dtype=np.float32).reshape(2, 3)))
    write("numpy", "f8_1d", b"\x00" + npy(np.linspace(-1, 1, 5)))
    write("numpy", "i8_pairs", b"\x00" + npy(np.array([[0, 1, 2], [1, 0, 2]], np.int64)))
    write("numpy", "i4_1d", b"\x00" + npy(np.array([3, -4, 5], np.int32)))
    write("numpy", "u1_1d", b"\x00" + npy(np.array([1, 2, 255], np.uint8)))
    write("numpy", "i1_2d", b"\x00" + npy(np.array([[-1, 2]], np.int8)))
    write("numpy", "f4_v2_header", b"\x00" + npy(np.ones((2, 2), np.float32), version=(2, 0)))
    write("numpy", "f4_empty", b"\x00" + npy(np.zeros((0, 3), np.float32)))
    sep = b"\n@@\n"
    p = npy(np.ones((2, 2), np.float32))
    r = npy(np.arange(9, dtype=np.float32).reshape(3, 3))
    pairs = npy(np.array([[0, 0, 1], [1, 2, 0]], np.int64))
    bias = npy(np.array([0.5, -1], np.float32))
    write("numpy", "dataset", b"\x80" + p + sep + r + sep + pairs)
    write("numpy", "dataset_bias", b"\xc0" + p + sep + r + sep + pairs + sep + bias)


def api_programs():
    """Short programs in APISequenceFuzzer.swift's encoding. Operand bytes: int32(around:
    low, high) takes code v - low + 2; float takes 100 + 16 v; a count takes the count."""
    club_create = [0, 0, 2, 3, 5, 2, 6, 4, 0, 0, 0, 7, 0, 0, 0]  # categorical C=2, d=4, q 4, 2 steps
    batch = [0, 3] + [0, 116, 84, 100, 132] * 2 + [0, 1] + [0]  # slot 0, n=3, hc, hr, bias ids
    write("api_sequence", "club_fit_bound", club_create + [1] + batch + [4] + batch + [1, 1, 1] +
          [5] + batch + [116, 3, 1, 1, 1, 1, 1, 1, 1, 1] + [7, 0, 0, 0, 0, 0] + [6, 0, 2, 0, 0])
    queue_create = [9, 0, 2, 0, 0, 2, 3, 3, 1, 0, 8, 0, 0]  # 8 samples
    write("api_sequence", "prioritizer_round", queue_create + [10, 0, 4, 0, 0] + [11, 0, 0, 4, 0] +
          [116, 84, 100, 132, 0] + [12, 0, 1, 0, 0, 0] + [13, 0, 0, 0, 0, 0] + [10, 0, 16, 0, 0])
    model_create = [15, 0, 4, 5, 6, 3, 1, 0, 0]  # 3 x 4 features, width 5, depth 2
    write("api_sequence", "model_score_train", model_create + [16, 0, 2, 0, 116, 84, 0, 132, 100, 0, 0] +
          [20, 0, 3, 0, 8, 2, 4, 6, 1, 0, 0, 1] + [21, 0, 0, 0, 3, 3, 4, 0, 0, 0, 2, 2, 2, 3, 3, 2, 2, 2, 2, 0, 4, 1, 0] +
          [22, 0, 0, 0, 3, 0] + [17, 0, 0, 0, 0, 0])
    write("api_sequence", "stateless", [24, 4, 0, 116, 84, 0, 100, 132, 0, 0, 100, 0, 1, 1] +
          [25, 0, 3, 0, 2, 0, 20, 0, 0, 3, 2, 0, 116, 84, 100, 132, 0, 2, 3, 4, 0, 0, 0, 0, 1, 1] +
          [26, 6, 0, 116, 84, 200, 132, 2, 0] + [27, 3, 10, 2, 2, 3, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] +
          [28, 3] + [29, 5])


clubs()
prioritizers()
models()
numpy_files()
api_programs()
print("seeds written to", CORPUS)
