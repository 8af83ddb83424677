"""DIR and prompt-free prioritization in Hugging Face TRL: dirrm.trl.DIRRewardTrainer and
PromptFreeRewardTrainer on a tiny Llama built from a config, with a word-level tokenizer
trained here (nothing is downloaded).

    python examples/python/trl_dir.py [--out DIR] [--steps 8]

Each trainer trains `steps` steps with checkpoints every steps/2 (DIRRewardTrainer logs
club_mi next to TRL's metrics), then a fresh trainer resumes from the middle checkpoint
(model, optimizer, q, the prompt-free sampler) and must end where the uninterrupted run
ended. Prints a JSON summary as its last line (with --out, also DIR/summary_rank{r}.json).
Runs under `accelerate launch` / `torchrun` as well.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")            # no model hub
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # TRL pings the hub otherwise

import numpy as np  # noqa: E402
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402
from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast  # noqa: E402
from trl import RewardConfig  # noqa: E402

from dirrm.trl import CLUB_FILE, DIRRewardTrainer, PromptFreeRewardTrainer  # noqa: E402

GOOD = ["helpful", "correct", "clear", "kind", "precise"]
BAD = ["rude", "wrong", "vague", "lazy", "sloppy"]
FILLER = ["and", "so", "then", "also", "well", "very", "really"]


def pairs(n: int, seed: int = 0, prompts: int = 0) -> Dataset:
    """Chosen answers say something good; they are also longer 80% of the time (the bias).
    With prompts > 0, in TRL's explicit-prompt format: a "prompt" column ("question k so")
    and the completions without it."""
    rng = np.random.default_rng(seed)
    chosen, rejected, prompt = [], [], []
    for _ in range(n):
        prompt.append(f"question {rng.integers(prompts)} so " if prompts else "")
        good = f"the answer is {rng.choice(GOOD)}"
        bad = f"the answer is {rng.choice(BAD)}"
        long, short = rng.integers(3, 7), rng.integers(0, 3)
        pad_good, pad_bad = (long, short) if rng.uniform() < 0.8 else (short, long)
        chosen.append(" ".join([good, *rng.choice(FILLER, pad_good)]))
        rejected.append(" ".join([bad, *rng.choice(FILLER, pad_bad)]))
    if prompts:
        return Dataset.from_dict({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return Dataset.from_dict({"chosen": chosen, "rejected": rejected})


def tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    words = " ".join(["the answer is question", *GOOD, *BAD, *FILLER, *map(str, range(10))])
    tok.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[EOS]"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")


def model(tok: PreTrainedTokenizerFast) -> LlamaForSequenceClassification:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         num_labels=1, pad_token_id=tok.pad_token_id)
    return LlamaForSequenceClassification(config)


def config(out: str, steps: int, batch_size: int = 8) -> RewardConfig:
    return RewardConfig(output_dir=out, max_steps=steps, save_steps=max(steps // 2, 1), logging_steps=2,
                        per_device_train_batch_size=batch_size, learning_rate=3e-3, seed=0, report_to="none",
                        disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, save_only_model=False)


def trainer(out: str, steps: int, tok: PreTrainedTokenizerFast) -> DIRRewardTrainer:
    return DIRRewardTrainer(model=model(tok), args=config(out, steps), train_dataset=pairs(64), processing_class=tok,
                            dir_lambda=1.0, club_options={"q_hidden": 32, "learning_rate": 1e-2})


def prompt_free_trainer(out: str, steps: int, tok: PreTrainedTokenizerFast) -> PromptFreeRewardTrainer:
    """Prompt-free prioritization over 5 prompts, each pair scored under 3 of them."""
    return PromptFreeRewardTrainer(model=model(tok), args=config(out, steps, batch_size=4),
                                   train_dataset=pairs(32, prompts=5), processing_class=tok, pf_prompts=3,
                                   pf_options={"initial_threshold": 1.0})


def flat(t: DIRRewardTrainer) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1).cpu() for p in t.model.parameters()]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = args.out or tempfile.mkdtemp(prefix="trl_dir_")
    tok = tokenizer()

    straight = trainer(os.path.join(out, "straight"), args.steps, tok)
    straight.train()
    logs = [entry for entry in straight.state.log_history if "club_mi" in entry]
    for entry in logs:
        print(f"step {entry['step']}: loss {entry['loss']:.4f} club_mi {entry['club_mi']:.4f} "
              f"accuracy {entry['accuracy']:.3f}")

    middle = os.path.join(out, "straight", f"checkpoint-{max(args.steps // 2, 1)}")
    resumed = trainer(os.path.join(out, "resumed"), args.steps, tok)
    resumed.train(resume_from_checkpoint=middle)

    weights_diff = float(np.abs(flat(straight) - flat(resumed)).max())
    same_q = straight.club_penalty.club.save() == resumed.club_penalty.club.save()

    pf = prompt_free_trainer(os.path.join(out, "pf"), args.steps, tok)
    pf.train()
    pf_resumed = prompt_free_trainer(os.path.join(out, "pf_resumed"), args.steps, tok)
    pf_resumed.train(resume_from_checkpoint=os.path.join(out, "pf", f"checkpoint-{max(args.steps // 2, 1)}"))
    print(f"prompt-free: threshold {pf.pf_sampler.threshold:.4f}, accuracy of the logged steps "
          f"{[round(e['accuracy'], 3) for e in pf.state.log_history if 'accuracy' in e]}")

    summary = {"club_mi": [entry["club_mi"] for entry in logs], "checkpoint": middle,
               "q_in_checkpoint": os.path.exists(os.path.join(middle, CLUB_FILE)),
               "resume_max_abs_weight_diff": weights_diff, "resume_same_q": same_q,
               "pf_resume_max_abs_weight_diff": float(np.abs(flat(pf) - flat(pf_resumed)).max()),
               "pf_thresholds": [pf.pf_sampler.threshold, pf_resumed.pf_sampler.threshold],
               "pf_steps": pf.state.global_step}
    print(json.dumps(summary))
    if args.out:   # one file per process (under torchrun the processes' output interleaves)
        with open(os.path.join(out, f"summary_rank{os.environ.get('RANK', '0')}.json"), "w") as f:
            json.dump(summary, f)
    # Under torchrun, leaving the gloo group to the interpreter's exit can abort a process
    # ("terminate called without an active exception") after the work is done; so can a gloo
    # thread still releasing the last collective's tensors then (see ddp_dir.py's end).
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        time.sleep(0.2)


if __name__ == "__main__":
    main()
