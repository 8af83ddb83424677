"""One DIR wherever it is called, measured: the same tiny length-biased preference problem trained
through dirrm_train (RewardModel.fit), a plain torch loop with dirrm.torch.DIRLoss, and
dirrm.trl.DIRRewardTrainer (a 2-layer GPT-2 built from a config) debiases alike.

The problem. A response is 4 content words, each "good" or "bad", plus 0 to 8 filler words, in a
random order; its quality is its number of good words. The training labels follow the quality
(Bradley-Terry, P(a preferred) = sigmoid(good_a - good_b)), but 80% of the chosen responses are
the longer one, so length is a shortcut; on the test pairs the better response is chosen and
length is independent of it (50% chosen-longer). Every path reads the same pairs: dirrm_train and
the torch loop as bag-of-words counts (which carry the length), TRL as the word sequences (plus
TRL's EOS); the bias is the length gap len(chosen) - len(rejected) in words, which is also the
token-length gap TRL's default bias reads, since both responses carry 4 content words and one EOS.

What is compared. Per path and seed, vanilla (dirrm_train's "vanilla", BTLoss, TRL's
RewardTrainer) and DIR (each entry point with only its required arguments, i.e. DIR's policy)
train on the same pairs from the same initialization, on dirrm_train's budget (3 epochs in
batches of 64); on the test pairs we take Spearman(reward gap, length gap) and the ratio
DIR / vanilla. The three paths' mean ratios must agree within their seed-to-seed noise.

Measured (the numbers this file prints, one CPU thread; mean ± s.e. over seeds):

    path                   seeds  DIR / vanilla Spearman  vanilla Spearman  accuracy DIR - vanilla  bound > 0
    dirrm_train              12   0.598 ± 0.020           +0.77             +0.10                   97% of steps
    torch DIRLoss            12   0.571 ± 0.033           +0.75             +0.10                   96%
    TRL DIRRewardTrainer      6   0.586 ± 0.064           +0.74             +0.11                   55%

Longer runs (scratch measurements, same problem): dirrm_train 0.585 ± 0.021 and torch DIRLoss
0.563 ± 0.031 over 16 seeds; TRL 0.621 ± 0.055 over 8 seeds at GPT2_WIDTH 48 and 0.625 ± 0.047
over 16 seeds at 64. The tolerance is built from the per-seed spread: standard deviations of about
0.08 (dirrm_train), 0.12 (torch) and 0.16 (TRL). The two feature-based paths run the same model:
started from dirrm_train's initial weights and batch order, the torch loop follows its DIR run
(the same bound to 1e-3 for the first 58 steps, then float rounding; final Spearman within 0.01 on
4 seeds). TRL spreads most: the clip at Î = 0 makes the trajectory chaotic. DIRRewardTrainer
and the same Trainer with DIRLoss on the same hidden states agree to float rounding for 9 to 57
steps and then drift apart.

The GPT-2's width matters. At GPT2_WIDTH 32 the TRL ratio is 0.84 ± 0.03 (10 seeds), not within
noise of the other two. The same Trainer on the same GPT-2 with DIRLoss on the same hidden states
in place of DIRRewardTrainer's penalty gives 0.75 ± 0.06 on those seeds (paired difference
0.09 ± 0.07), also well above 0.58: it is the model, not the entry point. On 32 LayerNorm'd
features the bound is positive on only 25-46% of the steps, and the clip turns the penalty off on
the rest. From 48 up the GPT-2 debiases like the library's model, and 48 fits the time budget.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")            # nothing is downloaded
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

import dirrm  # noqa: E402

pytest.importorskip("torch")
pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
import dirrm.torch as dt  # noqa: E402
import torch  # noqa: E402
from datasets import Dataset as HFDataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402
from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast  # noqa: E402
from trl.trainer.reward_config import RewardConfig  # noqa: E402
from trl.trainer.reward_trainer import RewardTrainer  # noqa: E402

from dirrm.trl import DIRRewardTrainer  # noqa: E402

GOOD = ("good", "right", "clear", "kind")
BAD = ("bad", "wrong", "vague", "rude")
FILLER = ("and", "so", "then", "also", "well", "very")
VOCAB = GOOD + BAD + FILLER
CONTENT_WORDS = 4          # per response, each good or bad
LONG_FILLER = (3, 8)       # the longer response's filler words, inclusive
SHORT_FILLER = (0, 4)      # the shorter one's (never equal to the longer one's)
NUM_TRAIN, NUM_TEST = 2000, 1000
CHOSEN_LONGER = 0.8        # share of chosen-longer training pairs (the bias)
PATHS = ("dirrm_train", "torch DIRLoss", "TRL DIRRewardTrainer")
# Seeds per path: the two feature-based paths take about 2 s a seed (vanilla and DIR), TRL 15 s.
SEEDS = {"dirrm_train": 12, "torch DIRLoss": 12, "TRL DIRRewardTrainer": 6}
# dirrm_train's defaults (dirrm_train_params_init): 3 epochs of AdamW at 1e-3, batches of 64,
# hidden width 128.
EPOCHS, BATCH, WIDTH = 3, 64, 128
GPT2_WIDTH = 48            # n_embd of the TRL path's GPT-2 (see the module notes for 32)
# Pairwise differences of the mean ratios may reach this many combined standard errors.
TOLERANCE_SE = 2.5

Tokens = list[str]
FloatArray = npt.NDArray[np.float64]


# ---- the problem -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pairs:
    """Preference pairs of word sequences, chosen first.

    Attributes
    ----------
    chosen, rejected : list of list of str
        The two responses of each pair.
    """

    chosen: list[Tokens]
    rejected: list[Tokens]

    def __len__(self) -> int:
        return len(self.chosen)

    @property
    def length_gap(self) -> npt.NDArray[np.float32]:
        """len(chosen) - len(rejected) in words, shape (n,), float32."""
        return np.array([len(c) - len(r) for c, r in zip(self.chosen, self.rejected)], np.float32)

    def counts(self, side: str) -> npt.NDArray[np.float32]:
        """Bag-of-words counts over VOCAB of one side ("chosen" or "rejected"), shape (n, |VOCAB|)."""
        index = {word: i for i, word in enumerate(VOCAB)}
        rows = np.zeros((len(self), len(VOCAB)), np.float32)
        for row, words in zip(rows, getattr(self, side)):
            for word in words:
                row[index[word]] += 1
        return rows

    def texts(self, side: str) -> list[str]:
        """The responses of one side ("chosen" or "rejected") as space-separated text."""
        return [" ".join(words) for words in getattr(self, side)]


def make_pairs(n: int, chosen_longer: float, seed: int, noisy_labels: bool) -> Pairs:
    """Pairs whose preference is the content and whose length is a shortcut.

    Parameters
    ----------
    n : int
        Number of pairs.
    chosen_longer : float
        Probability that the chosen response gets the longer filler, independent of the content.
    seed : int
    noisy_labels : bool
        True: the chosen one is drawn by Bradley-Terry on the good-word counts (training);
        False: the one with more good words is chosen (the ground truth, for testing).

    Returns
    -------
    Pairs
        The two responses of a pair never have the same number of good words, nor the same length.
    """
    rng = np.random.default_rng(seed)

    def response(good: int, filler: int) -> Tokens:
        words = [*rng.choice(GOOD, good), *rng.choice(BAD, CONTENT_WORDS - good), *rng.choice(FILLER, filler)]
        rng.shuffle(words)
        return [str(w) for w in words]

    chosen, rejected = [], []
    for _ in range(n):
        a, b = (int(g) for g in rng.choice(CONTENT_WORDS + 1, 2, replace=False))
        a_wins = rng.uniform() < 1 / (1 + np.exp(b - a)) if noisy_labels else a > b
        good_c, good_r = (a, b) if a_wins else (b, a)
        long, short = 0, 0
        while long == short:
            long = int(rng.integers(LONG_FILLER[0], LONG_FILLER[1] + 1))
            short = int(rng.integers(SHORT_FILLER[0], SHORT_FILLER[1] + 1))
        filler_c, filler_r = (long, short) if rng.uniform() < chosen_longer else (short, long)
        chosen.append(response(good_c, filler_c))
        rejected.append(response(good_r, filler_r))
    return Pairs(chosen, rejected)


# ---- the three paths -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Trained:
    """What one training run leaves for the checks.

    Attributes
    ----------
    gaps : ndarray, shape (len(test),), float64
        The test pairs' reward gaps r(chosen) - r(rejected).
    bounds : ndarray, shape (steps,), float64
        The CLUB bound Î of every training step (empty for vanilla).
    uncapped_steps : int or None
        DIR steps on which the penalty's gradient was not capped (None: the path does not report
        it; dirrm_train caps inside the library).
    """

    gaps: FloatArray
    bounds: FloatArray
    uncapped_steps: Optional[int]


def _history(penalty: dt.CLUBPenalty) -> tuple[FloatArray, int]:
    """A CLUBPenalty's bounds per step and its number of uncapped steps."""
    entries = list(penalty.history)
    bounds = np.array([e["mi"] for e in entries], np.float64)
    return bounds, sum(1 for e in entries if np.isnan(e["cap_scale"]))


def train_library(train: Pairs, test: Pairs, method: str, seed: int) -> Trained:
    """dirrm_train through RewardModel.fit, all at the library's defaults (width 128, depth 2,
    3 epochs, batches of 64; for "dir", DIR's policy on bias column 0, the length gap).

    Parameters
    ----------
    train, test : Pairs
    method : {"vanilla", "dir"}
    seed : int
        The model's initialization and the training's shuffling.

    Returns
    -------
    Trained
    """
    n = len(train)
    responses = np.concatenate([train.counts("chosen"), train.counts("rejected")])
    index = np.stack([np.zeros(n, np.int64), np.arange(n), n + np.arange(n)], 1)   # one prompt
    data = dirrm.Dataset(np.ones((1, 1), np.float32), responses, index, train.length_gap)
    model = dirrm.RewardModel(1, len(VOCAB), seed=seed)
    records = model.fit(data, method=method, seed=seed)
    prompt = np.ones((len(test), 1), np.float32)
    gaps = model.score(prompt, test.counts("chosen")) - model.score(prompt, test.counts("rejected"))
    bounds = records["mi"] if method == "dir" else np.empty(0)
    return Trained(gaps.astype(np.float64), bounds, None)


class LibraryShapedModel(torch.nn.Module):
    """dirrm's reward model (Sources/DirRMCore/RewardModel.swift) in torch, for one constant prompt
    feature x = 1: h1 = relu(W1 [x; y] + b1 + (P x) * (Q y)), h = relu(W2 h1 + b2), r = v.h + c.

    Parameters
    ----------
    response_dim, width : int
    """

    def __init__(self, response_dim: int, width: int) -> None:
        super().__init__()
        self.w1 = torch.nn.Linear(1 + response_dim, width)
        self.p = torch.nn.Linear(1, width, bias=False)
        self.q = torch.nn.Linear(response_dim, width, bias=False)
        self.w2 = torch.nn.Linear(width, width)
        self.head = torch.nn.Linear(width, 1)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rewards, shape (n,), and hidden states h, shape (n, width), of response features y."""
        x = torch.ones(y.shape[0], 1)
        h1 = torch.relu(self.w1(torch.cat([x, y], 1)) + self.p(x) * self.q(y))
        h = torch.relu(self.w2(h1))
        return self.head(h).squeeze(-1), h


def train_torch(train: Pairs, test: Pairs, method: str, seed: int) -> Trained:
    """A plain torch loop with dirrm_train's model, optimizer and budget: BTLoss (vanilla) or
    DIRLoss(width) with its defaults, the length gap as the bias. Each side's rewards come from
    its own hidden states, so DIRLoss's cap sees the preference gradient on them.

    Parameters
    ----------
    train, test : Pairs
    method : {"vanilla", "dir"}
    seed : int
        torch's seed for the initialization; the order's generator's seed.

    Returns
    -------
    Trained
    """
    torch.manual_seed(seed)
    model = LibraryShapedModel(len(VOCAB), WIDTH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    dir_loss, bt_loss = dt.DIRLoss(WIDTH), dt.BTLoss()
    chosen, rejected = torch.as_tensor(train.counts("chosen")), torch.as_tensor(train.counts("rejected"))
    bias = torch.as_tensor(train.length_gap)
    order = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(train), generator=order).split(BATCH):
            r_c, h_c = model(chosen[batch])
            r_r, h_r = model(rejected[batch])
            loss = dir_loss(r_c, r_r, h_c, h_r, bias[batch]) if method == "dir" else bt_loss(r_c, r_r)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        gaps = model(torch.as_tensor(test.counts("chosen")))[0] - model(torch.as_tensor(test.counts("rejected")))[0]
    if method != "dir":
        return Trained(gaps.double().numpy(), np.empty(0), None)
    bounds, uncapped = _history(dir_loss.penalty)
    return Trained(gaps.double().numpy(), bounds, uncapped)


def word_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over VOCAB with [PAD], [UNK] and [EOS], trained here."""
    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator([" ".join(VOCAB)], trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[EOS]"]))
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")


def tiny_gpt2(tokenizer: PreTrainedTokenizerFast, seed: int) -> GPT2ForSequenceClassification:
    """A 2-layer GPT-2 reward model (n_embd GPT2_WIDTH, no dropout) built from a config."""
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    return GPT2ForSequenceClassification(GPT2Config(
        vocab_size=len(tokenizer), n_embd=GPT2_WIDTH, n_layer=2, n_head=2, n_positions=32, num_labels=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=eos, eos_token_id=eos,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0))


def train_trl(train: Pairs, test: Pairs, method: str, seed: int) -> Trained:
    """TRL's RewardTrainer (vanilla) or dirrm.trl.DIRRewardTrainer with its defaults (DIR's
    policy, the token-length gap as the bias, the score head's input at the last token as the
    hidden state) on dirrm_train's budget, 3 epochs in batches of 64, with TRL's optimizer
    (AdamW, linearly decayed from 3e-3, gradients clipped at norm 1) in float32 (RewardConfig
    trains in bfloat16 by default, 2.5 times slower here on CPU).

    Parameters
    ----------
    train, test : Pairs
    method : {"vanilla", "dir"}
    seed : int
        torch's seed for the initialization; the Trainer's seed.

    Returns
    -------
    Trained
    """
    tokenizer = word_tokenizer()
    model = tiny_gpt2(tokenizer, seed)
    data = HFDataset.from_dict({"chosen": train.texts("chosen"), "rejected": train.texts("rejected")})
    trainer_class: Callable[..., RewardTrainer] = DIRRewardTrainer if method == "dir" else RewardTrainer
    with tempfile.TemporaryDirectory() as out:
        args = RewardConfig(output_dir=out, num_train_epochs=EPOCHS, per_device_train_batch_size=BATCH,
                            learning_rate=3e-3, seed=seed, report_to="none", disable_tqdm=True, use_cpu=True,
                            save_strategy="no", logging_strategy="no", gradient_checkpointing=False, bf16=False,
                            dataloader_num_workers=0)
        trainer = trainer_class(model=model, args=args, train_dataset=data, processing_class=tokenizer)
        trainer.train()
    model.eval()

    def rewards(texts: list[str]) -> torch.Tensor:
        batch = tokenizer([t + tokenizer.eos_token for t in texts], return_tensors="pt", padding=True)
        with torch.no_grad():
            scores: torch.Tensor = model(**batch).logits.squeeze(-1)
        return scores

    gaps = (rewards(test.texts("chosen")) - rewards(test.texts("rejected"))).double().numpy()
    if not isinstance(trainer, DIRRewardTrainer):
        return Trained(gaps, np.empty(0), None)
    bounds, uncapped = _history(trainer.club_penalty)
    return Trained(gaps, bounds, uncapped)


TRAINERS: dict[str, Callable[[Pairs, Pairs, str, int], Trained]] = {
    "dirrm_train": train_library, "torch DIRLoss": train_torch, "TRL DIRRewardTrainer": train_trl}


# ---- measuring -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PathResult:
    """One path's per-seed measurements on the test pairs.

    Attributes
    ----------
    spearman_vanilla, spearman_dir : ndarray, shape (seeds,)
        Spearman(reward gap, length gap).
    accuracy_vanilla, accuracy_dir : ndarray, shape (seeds,)
        Share of test pairs with a positive reward gap (the better response preferred).
    positive_bound_share : ndarray, shape (seeds,)
        Share of DIR's training steps whose bound Î was above 0 (where the clip lets it act).
    uncapped_steps : list of (int or None)
        Per seed, DIR steps whose penalty gradient was not capped (None: not reported).
    """

    spearman_vanilla: FloatArray
    spearman_dir: FloatArray
    accuracy_vanilla: FloatArray
    accuracy_dir: FloatArray
    positive_bound_share: FloatArray
    uncapped_steps: list[Optional[int]]

    @property
    def ratios(self) -> FloatArray:
        """DIR / vanilla Spearman per seed (signed)."""
        return self.spearman_dir / self.spearman_vanilla

    @property
    def ratio_mean(self) -> float:
        return float(self.ratios.mean())

    @property
    def ratio_se(self) -> float:
        """Standard error of ratio_mean over the seeds."""
        return float(self.ratios.std(ddof=1) / np.sqrt(len(self.ratios)))

    def summary(self, name: str) -> str:
        """One line: the ratio as mean ± s.e., the mean Spearman and accuracy of both methods,
        and how often DIR's bound was positive."""
        return (f"{name}: ratio {self.ratio_mean:.3f} ± {self.ratio_se:.3f} over {len(self.ratios)} seeds (per seed "
                f"{np.round(self.ratios, 3).tolist()}); Spearman vanilla {self.spearman_vanilla.mean():+.3f}, "
                f"DIR {self.spearman_dir.mean():+.3f}; accuracy vanilla {self.accuracy_vanilla.mean():.3f}, "
                f"DIR {self.accuracy_dir.mean():.3f}; bound > 0 on {self.positive_bound_share.mean():.0%} of "
                "DIR's steps")


def spearman_and_accuracy(gaps: FloatArray, length_gap: npt.NDArray[np.float32]) -> tuple[float, float]:
    """Spearman(gaps, length_gap) (ties averaged) and the share of positive gaps."""
    return float(stats.spearmanr(gaps, length_gap).statistic), float(np.mean(gaps > 0))


def measure_path(name: str, seeds: int) -> PathResult:
    """Trains one path's vanilla and DIR on seeds 0 .. seeds-1 (seed s: training pairs 1000 + s,
    test pairs 2000 + s, initialization and order s, the same for every path) and evaluates them.

    Parameters
    ----------
    name : str
        A key of TRAINERS.
    seeds : int

    Returns
    -------
    PathResult
    """
    rows: list[tuple[float, float, float, float, float]] = []
    uncapped: list[Optional[int]] = []
    for seed in range(seeds):
        train = make_pairs(NUM_TRAIN, CHOSEN_LONGER, 1000 + seed, noisy_labels=True)
        test = make_pairs(NUM_TEST, 0.5, 2000 + seed, noisy_labels=False)
        vanilla = TRAINERS[name](train, test, "vanilla", seed)
        debiased = TRAINERS[name](train, test, "dir", seed)
        rho_v, acc_v = spearman_and_accuracy(vanilla.gaps, test.length_gap)
        rho_d, acc_d = spearman_and_accuracy(debiased.gaps, test.length_gap)
        rows.append((rho_v, rho_d, acc_v, acc_d, float(np.mean(debiased.bounds > 0))))
        uncapped.append(debiased.uncapped_steps)
    rho_v, rho_d, acc_v, acc_d, positive = np.array(rows, np.float64).T
    return PathResult(rho_v, rho_d, acc_v, acc_d, positive, uncapped)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """torch and dirrm on one thread, float32 by default (test_club.py sets float64); restored after."""
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    dirrm_threads = int(dirrm.build_info()["threads"])
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    dirrm.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    dirrm.set_num_threads(dirrm_threads)


@pytest.fixture(scope="module")
def results(one_thread: None) -> dict[str, PathResult]:
    """Every path, vanilla and DIR, over SEEDS[path] seeds."""
    out = {name: measure_path(name, SEEDS[name]) for name in PATHS}
    for name in PATHS:
        print(out[name].summary(name))
    return out


def report(results: dict[str, PathResult]) -> str:
    """Every path's summary, one per line (for assertion messages)."""
    return "\n".join(results[name].summary(name) for name in PATHS)


# ---- the acceptance checks -----------------------------------------------------------------------

def test_the_problem_is_length_biased_in_training_and_not_in_testing() -> None:
    train = make_pairs(NUM_TRAIN, CHOSEN_LONGER, 1000, noisy_labels=True)
    test = make_pairs(NUM_TEST, 0.5, 2000, noisy_labels=False)
    assert abs(float(np.mean(train.length_gap > 0)) - CHOSEN_LONGER) < 0.03
    assert abs(float(np.mean(test.length_gap > 0)) - 0.5) < 0.05
    assert not np.any(train.length_gap == 0)
    # The content decides the test pairs; their length says nothing about it.
    quality = np.array([sum(w in GOOD for w in c) - sum(w in GOOD for w in r)
                        for c, r in zip(test.chosen, test.rejected)])
    assert np.all(quality > 0)
    assert abs(stats.spearmanr(quality, test.length_gap).statistic) < 0.1
    # TRL's default bias (attention-mask lengths, one EOS on each side) is this length gap.
    tokenizer = word_tokenizer()
    lengths = [len(tokenizer(t + tokenizer.eos_token)["input_ids"]) for t in train.texts("chosen")[:50]]
    assert lengths == [len(words) + 1 for words in train.chosen[:50]]


def test_vanilla_learns_the_shortcut_on_every_path(results: dict[str, PathResult]) -> None:
    for r in results.values():
        assert np.all(r.spearman_vanilla > 0.4), report(results)


def test_every_dir_run_penalized_with_the_cap(results: dict[str, PathResult]) -> None:
    # The penalty acted (a positive bound on some steps) and, where the path reports it, its
    # gradient was capped on every step: a silently uncapped penalty would not be DIR's policy.
    for r in results.values():
        assert np.all(r.positive_bound_share > 0.1), report(results)
        assert all(u in (None, 0) for u in r.uncapped_steps), report(results)


def test_dir_reduces_the_length_correlation_on_every_path(results: dict[str, PathResult]) -> None:
    # Decided beyond noise: the mean ratio is below 1 by more than 2.5 standard errors, with
    # vanilla's sign (DIR must not overshoot into preferring the shorter response).
    for r in results.values():
        assert r.ratio_mean + 2.5 * r.ratio_se < 1.0, report(results)
        assert r.ratio_mean > 0.0, report(results)


def test_the_three_paths_debias_alike(results: dict[str, PathResult]) -> None:
    # Every pairwise difference of the mean ratios within TOLERANCE_SE combined standard errors
    # (with the measured spreads: 0.096 between the two feature-based paths, 0.17 and 0.18
    # between them and TRL; the measured differences are 0.027, 0.012 and 0.015).
    problems = []
    for i, a in enumerate(PATHS):
        for b in PATHS[i + 1:]:
            ra, rb = results[a], results[b]
            tolerance = TOLERANCE_SE * float(np.hypot(ra.ratio_se, rb.ratio_se))
            if abs(ra.ratio_mean - rb.ratio_mean) > tolerance:
                problems.append(f"{a} vs {b}: {ra.ratio_mean:.3f} vs {rb.ratio_mean:.3f}, tolerance {tolerance:.3f}")
    assert not problems, "\n".join(problems) + "\n" + report(results)


def test_dir_costs_no_accuracy(results: dict[str, PathResult]) -> None:
    # Against the ground truth on the unbiased test pairs: on average at most 3 points below vanilla.
    for r in results.values():
        assert float(np.mean(r.accuracy_dir - r.accuracy_vanilla)) > -0.03, report(results)
