"""The Python examples at a tiny size: examples/python/torch_dir.py (plain torch loop),
ddp_dir.py (2 gloo workers under torchrun: exact against one process; prompt-free thresholds
identical on both ranks) and trl_dir.py (TRL's RewardTrainer with DIR, checkpoint and resume)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dirrm
from conftest import REPO

torch = pytest.importorskip("torch")

EXAMPLES = os.path.join(REPO, "examples", "python")


@pytest.fixture(autouse=True)
def float32_default():
    # test_club.py sets float64 as the default dtype at import; the examples build float32 models.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(previous)


def run(args, timeout):
    """Runs a Python program in its own session; on timeout kills the whole session (torchrun's
    workers included). Returns (output, seconds)."""
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(dirrm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{args} did not finish in {timeout} s:\n{out[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # stragglers of the session, if any
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-5000:]
    return out, time.monotonic() - start


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_example_compares_three_methods():
    out, seconds = run([os.path.join(EXAMPLES, "torch_dir.py"), "--epochs", "2", "--pairs", "1024"], 120)
    results = json.loads(out.strip().splitlines()[-1])
    print(f"\n{out}({seconds:.1f} s)")
    assert set(results) == {"vanilla", "dir", "prompt_free"}
    assert all(r["accuracy"] > 0.7 for r in results.values()), results
    # The length cue is what DIR removes: its reward gap is less length-correlated.
    assert abs(results["dir"]["gap_length_corr"]) < abs(results["vanilla"]["gap_length_corr"]), results


def test_ddp_two_gloo_workers_equal_one_process(tmp_path):
    steps = 5
    out, seconds = run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        os.path.join(EXAMPLES, "ddp_dir.py"), "--steps", str(steps), "--out", str(tmp_path)], 180)
    print(f"\n{out}(torchrun: {seconds:.1f} s)")
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    example = load_example("ddp_dir")
    # "tokens": a Gaussian bias of raw token-count gaps, standardized by each rank's estimator
    # from the gathered batch, so the ranks' maps and results agree with one process.
    # "async": fit="async", against one process on the same one-step-stale schedule.
    for name in ("equal", "uneven", "tokens", "async"):
        split = ranks[0][f"{name}_split"].tolist()
        got = ranks[0][f"{name}_weights"]
        assert np.array_equal(got, ranks[1][f"{name}_weights"])   # the ranks stay in sync
        want = example.reference_weights(split, steps, name == "tokens",   # one process, whole batches
                                         "async" if name == "async" else True)
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        moved = float(np.abs(want - example.flat_weights(example.build(False)[0])).max())
        print(f"{name} shards {split}: max relative difference to one process {rel:.2e} (weights moved {moved:.2e})")
        assert rel <= 1e-5 and moved > 1e-2, (rel, moved)
    # Prompt-free: both ranks hold the same threshold after every step.
    t0, t1 = ranks[0]["thresholds"], ranks[1]["thresholds"]
    assert len(t0) == steps and np.array_equal(t0, t1), (t0, t1)
    assert len(set(t0.tolist())) > 1   # it moved
    assert np.array_equal(ranks[0]["sizes"], ranks[1]["sizes"])   # even_batches: TRL/accelerate can gather


def test_trl_example_trains_logs_and_resumes_exactly(tmp_path):
    pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
    out, seconds = run([os.path.join(EXAMPLES, "trl_dir.py"), "--out", str(tmp_path), "--steps", "6"], 300)
    summary = json.loads(out.strip().splitlines()[-1])
    print(f"\n{summary} ({seconds:.1f} s)")
    assert len(summary["club_mi"]) == 3 and all(np.isfinite(summary["club_mi"]))
    assert summary["q_in_checkpoint"]
    assert summary["resume_max_abs_weight_diff"] == 0.0 and summary["resume_same_q"], summary
    # PromptFreeRewardTrainer: the sampler's state is in the checkpoint, the resumed run draws
    # the same batches and ends with the same weights and threshold.
    assert summary["pf_steps"] == 6 and summary["pf_resume_max_abs_weight_diff"] == 0.0, summary
    assert summary["pf_thresholds"][0] == summary["pf_thresholds"][1] != 1.0, summary


def test_trl_example_under_torchrun_two_processes(tmp_path):
    """Both trainers on 2 gloo processes (accelerate's multi-process path): q and the
    prompt-free threshold are global (identical summaries on both ranks), and resuming from
    the middle checkpoint (per-rank sampler states) ends where the uninterrupted run did."""
    pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
    out, seconds = run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        os.path.join(EXAMPLES, "trl_dir.py"), "--out", str(tmp_path), "--steps", "4"], 300)
    summaries = [json.loads((tmp_path / f"summary_rank{r}.json").read_text()) for r in range(2)]
    print(f"\n{summaries[0]} (torchrun: {seconds:.1f} s)")
    assert summaries[0] == summaries[1]
    assert os.path.exists(tmp_path / "pf" / "checkpoint-2" / "dirrm_sampler_rank1.pt")
    assert summaries[0]["resume_max_abs_weight_diff"] == 0.0 and summaries[0]["resume_same_q"]
    assert summaries[0]["pf_resume_max_abs_weight_diff"] == 0.0
    assert summaries[0]["pf_thresholds"][0] == summaries[0]["pf_thresholds"][1]


def test_trl_default_hidden_state_is_what_the_score_head_reads():
    pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
    from dirrm.trl import default_bias, default_hidden

    example = load_example("trl_dir")
    tok = example.tokenizer()
    model = example.model(tok).eval()
    chosen = tok(["the answer is clear and so", "the answer is kind"])["input_ids"]
    rejected = tok(["the answer is rude", "the answer is vague then also well"])["input_ids"]
    width = max(map(len, chosen + rejected))
    ids = torch.tensor([row + [tok.pad_token_id] * (width - len(row)) for row in chosen + rejected])
    inputs = {"input_ids": ids, "attention_mask": (ids != tok.pad_token_id).long()}
    captured = []
    hook = model.score.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    with torch.no_grad():
        logits = model(**inputs).logits
    hook.remove()
    hidden = default_hidden(captured[0], inputs, "score")
    assert hidden.shape == (4, model.config.hidden_size)
    with torch.no_grad():
        assert torch.allclose(model.score(hidden), logits, rtol=1e-5, atol=1e-6)   # the reward's own input
    lengths = [len(row) for row in chosen + rejected]
    assert default_bias(inputs).tolist() == [lengths[0] - lengths[2], lengths[1] - lengths[3]]   # the length gap


def test_trl_default_hidden_state_when_the_pad_token_is_eos():
    # TRL pads with EOS when a tokenizer has no pad token, and ends every response with EOS:
    # the head reads the last token that is not the pad id, before the EOS, not the last
    # attended one. DIRRewardTrainer passes the model's pad_token_id so the two agree.
    pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
    from transformers import GPT2Config, GPT2ForSequenceClassification
    from dirrm.trl import default_hidden

    eos = 9
    config = GPT2Config(vocab_size=10, n_embd=8, n_layer=1, n_head=2, num_labels=1, pad_token_id=eos,
                        eos_token_id=eos)
    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(config).eval()
    ids = torch.tensor([[1, 2, 3, eos, eos], [4, 5, eos, eos, eos]])
    inputs = {"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])}
    captured = []
    hook = model.score.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    with torch.no_grad():
        logits = model(**inputs).logits
    hook.remove()
    with torch.no_grad():
        read = model.score(default_hidden(captured[0], inputs, "score", pad_token_id=eos))
        by_mask = model.score(default_hidden(captured[0], inputs, "score"))
    assert torch.allclose(read, logits, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(by_mask, logits, rtol=1e-5, atol=1e-6)   # the attended EOS is another vector


def test_trl_default_hidden_state_of_an_encoder():
    pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
    from transformers import BertConfig, BertForSequenceClassification

    from dirrm.trl import _score_head, default_hidden

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32,
                                                     num_labels=1)).eval()
    name, head = _score_head(model)
    assert (name, head) == ("classifier", model.classifier)
    ids = torch.tensor([[2, 5, 6, 0], [2, 7, 0, 0]])
    inputs = {"input_ids": ids, "attention_mask": (ids != 0).long()}
    captured = []
    hook = head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    with torch.no_grad():
        logits = model(**inputs).logits
    hook.remove()
    hidden = default_hidden(captured[0], inputs, name)   # BERT's pooled output (from position 0)
    assert hidden.shape == (2, 16)
    with torch.no_grad():
        assert torch.allclose(head(hidden), logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("heading", ["### DIR in a PyTorch trainer", "### Prompt-free decomposition and prioritized training"])
def test_readme_torch_snippets_run(heading, tmp_path, monkeypatch):
    """The README's dirrm.torch snippets are runnable as written."""
    text = open(os.path.join(REPO, "README.md")).read()
    section = text[text.index(heading):]
    section = section[: section.index("\n### ", 1)]
    blocks = [b.split("```")[0] for b in section.split("```python\n")[1:]]
    blocks = [b for b in blocks if "dirrm.torch" in b]
    assert blocks, heading
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, f"README.md {heading}", "exec"), {"__name__": "readme"})
