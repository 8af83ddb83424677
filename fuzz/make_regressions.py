#!/usr/bin/env python3
"""Writes fuzz/regressions/<target>/: hand-made inputs, each aimed at one crash family the
fuzzers found or the format allows (checksum-valid, so they reach the payload parser).
run.sh feeds every one to its target before fuzzing; once the library is fixed they guard
against the families coming back. Inputs are in the load harnesses' format: a mode byte
(0: frame the rest for me) and the payload. python3 fuzz/make_regressions.py"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "regressions")
INT64_MAX = 2**63 - 1


def write(target, name, payload):
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(b"\x00" + payload)


def prioritizer(count, counters=(0,) * 7, pool=(), deferred=(), place=None, step_values=(), open_=1,
                max_reinsertions=1):
    """A prioritizer payload (Sources/DirRMCore/PrioritizerCoding.swift's layout)."""
    p = struct.pack("<BffBQBQQf", 0, 0.9, 0.0, 0, max_reinsertions, 1, 0, count, 0.0)
    p += struct.pack("<4Q", 1, 2, 3, 4)  # xoshiro state, not all zero
    p += struct.pack("<7Q", *counters)
    p += struct.pack("<B", open_)
    p += struct.pack("<Q", len(pool)) + b"".join(struct.pack("<q", i) for i in pool)
    p += struct.pack("<Q", len(deferred)) + b"".join(struct.pack("<q", i) for i in deferred)
    if place is None:
        place = [0 if i in pool else 2 if i in deferred else 3 for i in range(count)]
    p += bytes(place)
    p += b"".join(struct.pack("<I", 0) for _ in range(count))
    p += struct.pack("<Q", len(step_values)) + b"".join(struct.pack("<f", v) for v in step_values)
    return p


# A count of 2^40 pairs in a payload of a few bytes: reserveCapacity before the bytes are
# known to exist.
write("prioritizer_load", "huge_count_reserve", struct.pack("<BffBQBQQf", 0, 0.9, 0, 0, 1, 1, 0, 1 << 40, 0)
      + struct.pack("<4Q", 1, 2, 3, 4) + bytes(7 * 8 + 1) + struct.pack("<QQ", 0, 0))
# One pair listed 256 times in the pool: the per-pair mark counter is a UInt8.
n = 300
write("prioritizer_load", "duplicate_pool_index_u8_overflow",
      prioritizer(n, pool=[0] * 256, place=[0] + [3] * (n - 1)))
# Counters at Int64.max load fine and overflow on the next propose / end_step.
write("prioritizer_load", "proposed_counter_at_int64_max",
      prioritizer(4, counters=(1, 0, INT64_MAX, 0, 0, 0, 0), pool=[0, 1, 2, 3]))
write("prioritizer_load", "step_counter_at_int64_max",
      prioritizer(4, counters=(1, INT64_MAX, 0, 0, 0, 0, 0), pool=[0, 1, 2, 3]))
write("prioritizer_load", "epoch_counter_at_int64_max",
      prioritizer(4, counters=(INT64_MAX, 0, 0, 0, 0, 0, 0), pool=[], open_=0))
# A step-value count of 2^31 - 1 with no values behind it.
write("prioritizer_load", "step_value_count_without_values",
      prioritizer(2, pool=[0, 1])[:-8] + struct.pack("<Q", 2**31 - 1))

# The estimator's AdamW step counter at Int64.max: the next fit adds one.
# Categorical C=2, d=1, linear q (Linear(1, 2): 4 values), 1 fit step; the standardization
# (format version 2: a count of 0 and no moments for a categorical bias); then weights, first
# and second moments.
club = struct.pack("<BQQBQQfffQQd", 0, 2, 1, 0, 0, 1, 1e-4, 0.01, 5.0, 0, INT64_MAX, 0.0)
club += struct.pack("<4f", 0.1, 0.1, 0.1, 0.1) * 3
write("club_load", "adamw_step_at_int64_max", club)

# A Gaussian estimator (m = 1, d = 1, linear q: two Linear(1, 1), 4 values) whose saved
# standardization is at the edge of what float bias values allow: a mean of -Float.max and
# the largest spread, so z of an ordinary bias overflows float32.
FLOAT_MAX = 3.4028234663852886e38
gaussian = struct.pack("<BQQBQQfffQQ", 1, 1, 1, 0, 0, 1, 1e-4, 0.01, 5.0, 0, 3)
gaussian += struct.pack("<3d", 2.0, -FLOAT_MAX, 2.0 * (2 * FLOAT_MAX) ** 2)
gaussian += struct.pack("<4f", 0.1, 0.1, 0.1, 0.1) * 3
write("club_load", "gaussian_standardization_at_float_max", gaussian)

# API programs (APISequenceFuzzer.swift's encoding), written without the mode byte.
def program(name, data):
    folder = os.path.join(OUT, "api_sequence")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(bytes(data))


# dirrm_prioritizer_create with num_samples = 2^40 (legal; OUT_OF_MEMORY is documented).
program("prioritizer_create_2p40", [9, 0, 2, 0, 0, 2, 3, 3, 1, 250, 0, 0])
# dirrm_prioritizer_create with num_samples = 2^34.
program("prioritizer_create_2p34", [9, 0, 2, 0, 0, 2, 3, 3, 1, 251, 0, 0])
# dirrm_pf_sample_prompts with num_prompts = 2^40, k = 3, n = 2.
program("sample_prompts_2p40_prompts", [27, 3, 0xF0, 2, 2, 2] + [0] * 8 + [0, 0])


def i32(v):
    """int32(around:)'s escape code 243 followed by the raw value."""
    return [243] + list(struct.pack("<i", v))


# dirrm_club_create with hidden_dim = q_hidden = 2^20 (each in range): 2^41 weights.
program("club_create_max_dims", [0, 0, 2, 3] + i32(1 << 20) + [2] + i32(1 << 20) + [2, 0, 0, 0, 0, 0, 0, 0])
# dirrm_model_create at the documented maxima: prompt and response dims 2^16, width 4096,
# depth 16 (about 2^30 parameters).
program("model_create_max_dims", [15, 0] + i32(1 << 16) + i32(1 << 16) + i32(4096) + i32(16) + [0, 0, 0])


def npy_header(text, version=1):
    """A .npy file's magic, version and header (padded as numpy pads it), no data."""
    body = text.encode() + b" " * ((64 - (len(text) + 11) % 64) % 64) + b"\n"
    size = struct.pack("<H", len(body)) if version == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


def numpy_file(name, data):
    folder = os.path.join(OUT, "numpy")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(b"\x00" + data)


# A shape whose element count fits in Int but whose byte count (count * 8) does not.
numpy_file("shape_bytes_overflow", npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }"))
# A 2-D shape whose element count overflows: caught, but the error message then multiplies
# the wrapped count by the item size.
numpy_file("shape_product_overflow", npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (5, 2305843009213693952), }"))
# A version-2 header length of 2^32 - 1 with a short file.
numpy_file("v2_header_length_huge", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}")
print("regressions written to", OUT)
