"""One DIR wherever it is called: every entry point built with only its required arguments
carries DIR's policy (dirrm_dir_params_init: lambda, the estimator, the clip and the cap); a
negative bound adds nothing to any path's loss or gradient; and the torch path's cap holds
against a pure-torch reference."""

import ctypes
import os
import subprocess

import numpy as np
import pytest

import dirrm
from dirrm import _lib
from dirrm._params import defaults

torch = pytest.importorskip("torch")
import dirrm.torch as dt  # noqa: E402

from test_torch_modules import club_reference, float32_default  # noqa: E402,F401  (the fixture applies here too)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CLI = os.path.join(REPO, ".build", "release", "dirrm-cli")
FIELDS = ("bias_kind", "bias_dim", "pair_mode", "q_hidden", "fit_steps", "learning_rate", "weight_decay",
          "logvar_bound", "seed")


def policy_of_struct(p):
    """(lam, clip, cap, estimator fields) of a dirrm_dir_params, hidden_dim left out."""
    return (p.lam, bool(p.clip), bool(p.cap), tuple(getattr(p.club, f) for f in FIELDS))


def policy_of_penalty(penalty):
    params = _lib.ClubParams()
    params.struct_size = ctypes.sizeof(params)
    _lib.check_call(_lib.lib.dirrm_club_get_params(penalty.club._live(), ctypes.byref(params)))
    return (penalty.lam, penalty.clip, penalty.cap, tuple(getattr(params, f) for f in FIELDS))


POLICY = policy_of_struct(defaults(_lib.DirParams))


def tiny_gpt2_trainer(tmp_path, cls, **options):
    pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast
    from trl import RewardConfig

    words = "the a good bad answer is very long short reply question"
    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[EOS]"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(GPT2Config(
        vocab_size=len(tok), n_embd=16, n_layer=2, n_head=2, n_positions=32, num_labels=1,
        pad_token_id=tok.pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    chosen = [" a good answer is very good", " good", " the good answer", " a very long good answer is good"]
    rejected = [" bad reply", " a bad reply is very bad", " bad", " the short bad answer"]
    data = Dataset.from_dict({"prompt": ["the question is"] * 4 + ["a question"] * 4,
                              "chosen": chosen * 2, "rejected": rejected * 2})
    args = RewardConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, report_to="none",
                        disable_tqdm=True, use_cpu=True, save_strategy="no")
    return cls(model=model, args=args, train_dataset=data, processing_class=tok, **options)


# ---- acceptance: the same policy everywhere ----------------------------------------------------

def test_the_trainer_and_the_c_policy_are_one():
    train = defaults(_lib.TrainParams)
    assert policy_of_struct(train.dir) == POLICY
    # The policy, as documented: lambda 1, clip and cap on, a Gaussian q of width 64 on one
    # attribute (dirrm.h); dirrm_club_params_init keeps DIR's paper settings for the bare estimator.
    assert POLICY[:3] == (1.0, True, True)
    assert POLICY[3][:2] == (1, 1) and POLICY[3][3] == 64
    bare = defaults(_lib.ClubParams)
    assert (bare.bias_kind, bare.q_hidden) == (0, 1024)


def test_every_python_entry_point_carries_the_policy(tmp_path):
    from dirrm.trl import DIRRewardTrainer, PromptFreeRewardTrainer

    assert policy_of_penalty(dt.CLUBPenalty(8)) == POLICY
    assert policy_of_penalty(dt.DIRLoss(8).penalty) == POLICY
    assert dirrm.dir_policy() == dirrm.DirPolicy(*POLICY[:3])
    dir_trainer = tiny_gpt2_trainer(tmp_path / "dir", DIRRewardTrainer)
    assert policy_of_penalty(dir_trainer.club_penalty) == POLICY and dir_trainer.dir_lambda == POLICY[0]
    # PromptFreeRewardTrainer: dir_lambda 0 (its default) is the prompt-free method alone;
    # None is DIR + prompt-free under the policy.
    both = tiny_gpt2_trainer(tmp_path / "pf", PromptFreeRewardTrainer, dir_lambda=None)
    assert policy_of_penalty(both.club_penalty) == POLICY and both._use_penalty
    alone = tiny_gpt2_trainer(tmp_path / "pf0", PromptFreeRewardTrainer)
    assert not alone._use_penalty


def test_the_cli_and_numpy_dir_loss_use_the_policy():
    help_text = subprocess.run([CLI, "train", "--help"], capture_output=True, text=True, check=True).stdout
    assert f"default: {POLICY[0]}" in " ".join(help_text.split())   # --lambda, from Trainer.Settings
    rng = np.random.default_rng(0)
    n, d = 32, 6
    hc, hr = rng.normal(size=(2, n, d)).astype(np.float32)
    rc, rr = rng.normal(size=(2, n)).astype(np.float32)
    b = (40 * (hc[:, 0] - hr[:, 0])).astype(np.float32)
    club = dirrm.Club.for_dir(d, learning_rate=1e-2)
    out = dirrm.dir_loss(club, rc, rr, hc, hr, b)   # lam and clip: the policy's
    assert out.total == pytest.approx(out.pref + POLICY[0] * max(out.mi, 0.0), rel=1e-6)


# ---- acceptance: a negative bound adds nothing ------------------------------------------------

def anti_fitted(d, hc, hr, b):
    """A q fitted on the opposite bias: on (hc, hr, b) its bound is negative."""
    club = dirrm.Club.for_dir(d, learning_rate=1e-2, fit_steps=300, seed=1)
    club.fit(hc, hr, -b)
    return club


def negative_batch(n=64, d=6, seed=3):
    rng = np.random.default_rng(seed)
    hc, hr = rng.normal(size=(2, n, d)).astype(np.float32)
    b = (40 * (hc[:, 0] - hr[:, 0]) + rng.normal(0, 5, n)).astype(np.float32)
    return hc, hr, b


def test_a_negative_bound_adds_nothing_to_numpy_torch_or_trl_losses(tmp_path):
    hc, hr, b = negative_batch()
    d = hc.shape[1]
    club = anti_fitted(d, hc, hr, b)
    saved = club.save()
    assert club.bound(hc, hr, b, grad=False) < -0.1

    # dirrm.dir_loss (dirrm_dir_loss): the total is the BT loss and the hidden gradient zero.
    rc, rr = np.linspace(-1, 1, 64, dtype=np.float32), np.zeros(64, np.float32)
    out = dirrm.dir_loss(dirrm.Club.load(saved), rc, rr, hc, hr, b, fit_first=False)
    bt, gc, gr = dirrm.bt_loss(rc, rr)
    assert out.mi < 0 and out.total == bt and out.pref == bt
    assert not out.grad_h_chosen.any() and not out.grad_h_rejected.any()
    np.testing.assert_array_equal(out.grad_r_chosen, gc)

    # DIRLoss and CLUBPenalty: the same loss and gradients as Bradley-Terry alone.
    head = torch.nn.Linear(d, 1)
    for module in (dt.DIRLoss(d, fit=False), dt.CLUBPenalty(d, fit=False)):
        penalty = module.penalty if isinstance(module, dt.DIRLoss) else module
        penalty.club = dirrm.Club.load(saved)
        h = [torch.tensor(a, requires_grad=True) for a in (hc, hr)]
        r = [head(x).squeeze(1) for x in h]
        pref = torch.nn.functional.softplus(r[1] - r[0]).mean()
        if isinstance(module, dt.DIRLoss):
            total = module(r[0], r[1], h[0], h[1], b)
        else:
            total = pref + module(h[0], h[1], b, pref=pref)
        assert penalty.last_mi < 0
        grads = torch.autograd.grad(total, h, retain_graph=True)
        want = torch.autograd.grad(pref, h)
        assert total.item() == pytest.approx(pref.item(), abs=1e-7)
        for g, w in zip(grads, want):
            torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-9)

    # DIRRewardTrainer: TRL's loss alone, value and gradients, when the bound is negative.
    from dirrm.trl import DIRRewardTrainer, default_hidden
    from trl.trainer.reward_trainer import RewardTrainer

    trainer = tiny_gpt2_trainer(tmp_path, DIRRewardTrainer)
    model = trainer.model
    inputs = next(iter(trainer.get_train_dataloader()))
    captured = []
    hook = model.score.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    with torch.no_grad():
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    hook.remove()
    hidden = default_hidden(captured[0], inputs, "score").numpy()
    gap = trainer.bias_fn(inputs).numpy()
    h_c, h_r = hidden[:4], hidden[4:]
    anti = dirrm.Club.for_dir(hidden.shape[1], learning_rate=1e-2, fit_steps=300, seed=1)
    anti.fit(h_c, h_r, -gap)
    trainer.club_penalty.club = anti
    trainer.club_penalty.fit = False
    trainer.bias_fn = lambda _inputs: torch.tensor(gap)

    def loss_and_grads(compute):
        model.zero_grad()
        loss = compute(model, inputs)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    with_dir = loss_and_grads(trainer.compute_loss)
    assert trainer.club_penalty.last_mi < 0
    plain = loss_and_grads(lambda m, i: RewardTrainer.compute_loss(trainer, m, i))
    assert with_dir[0] == pytest.approx(plain[0], abs=1e-7)
    for a, w in zip(with_dir[1], plain[1]):
        torch.testing.assert_close(a, w, rtol=1e-6, atol=1e-9)


# ---- acceptance: the cap in the torch path ----------------------------------------------------

@pytest.mark.parametrize("lam", [0.01, 50.0])
def test_the_cap_holds_against_a_pure_torch_reference(lam):
    rng = np.random.default_rng(4)
    n, d = 48, 6
    x = rng.normal(size=(2, n, 10)).astype(np.float32)
    torch.manual_seed(0)
    encoder, head = torch.nn.Linear(10, d), torch.nn.Linear(d, 1)
    cfg = dict(bias_kind="gaussian", bias_dim=1, q_hidden=64)
    module = dt.DIRLoss(d, lam=lam, learning_rate=1e-2, seed=2)
    h = [encoder(torch.tensor(a)) for a in x]
    b = (30 * (x[0][:, 1] - x[1][:, 1])).astype(np.float32)
    total = module(head(h[0]).squeeze(1), head(h[1]).squeeze(1), h[0], h[1], b)
    got = [g.double() for g in torch.autograd.grad(total, h)]   # total's gradient on the hidden states

    # The reference: pure torch in float64 on the same inputs and q (after the module's fit).
    hd = [torch.tensor(t.detach().numpy(), dtype=torch.float64, requires_grad=True) for t in h]
    w, c = head.weight.detach().double(), head.bias.detach().double()
    pref = torch.nn.functional.softplus(-((hd[0] @ w.T + c) - (hd[1] @ w.T + c))).mean()
    mi = club_reference(module.club.weights, cfg, d, hd[0], hd[1], torch.tensor(b, dtype=torch.float64))
    g_pref = torch.autograd.grad(pref, hd, retain_graph=True)
    g_pen = torch.autograd.grad(lam * mi.clamp(min=0), hd)
    pen_norm = torch.sqrt(sum((g ** 2).sum() for g in g_pen)).item()
    pref_norm = torch.sqrt(sum((g ** 2).sum() for g in g_pref)).item()
    scale = min(1.0, pref_norm / pen_norm) if pen_norm > 0 else 1.0
    assert mi.item() > 0
    assert module.penalty.last_cap_scale == pytest.approx(scale, rel=1e-4)
    if lam > 1:
        assert scale < 0.5   # the cap binds
    else:
        assert scale == 1.0
    for g, gp, gq in zip(got, g_pref, g_pen):
        want = gp + scale * gq
        assert float((g - want).abs().max() / want.abs().max()) <= 1e-4
    # The capped penalty's gradient on h is at most the preference gradient's norm there.
    penalty_part = [g - gp for g, gp in zip(got, g_pref)]
    assert torch.sqrt(sum((g ** 2).sum() for g in penalty_part)).item() <= pref_norm * (1 + 1e-4)


def test_the_cap_says_so_when_it_cannot_apply():
    module = dt.CLUBPenalty(4)
    hc, hr = (torch.randn(8, 4, requires_grad=True) for _ in range(2))
    b = torch.randn(8)
    with pytest.warns(RuntimeWarning, match="pass pref="):
        module(hc, hr, b)
    assert module.last_cap_scale is None
    other = dt.CLUBPenalty(4)
    unrelated = torch.randn(3, requires_grad=True).sum()   # no path to the hidden states
    with pytest.warns(RuntimeWarning, match="no gradient on the hidden states"):
        other(hc, hr, b, pref=unrelated)


def test_dir_cap_scales_to_the_preference_norm():
    rng = np.random.default_rng(5)
    pc, pr, gc, gr = rng.normal(size=(4, 5, 3)).astype(np.float32)
    gc, gr = gc * 10, gr * 10
    cc, cr, s = dirrm.dir_cap(pc, pr, gc, gr)
    want = np.sqrt((pc.astype(np.float64) ** 2).sum() + (pr.astype(np.float64) ** 2).sum()) / np.sqrt(
        (gc.astype(np.float64) ** 2).sum() + (gr.astype(np.float64) ** 2).sum())
    assert s == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(cc, gc * np.float32(s), rtol=1e-6)
    _, _, one = dirrm.dir_cap(gc, gr, pc, pr)   # a smaller penalty is left as it is
    assert one == 1.0
    with pytest.raises(dirrm.DirrmError, match="pref_grad_h_chosen"):
        dirrm.dir_cap(pc * np.nan, pr, gc, gr)


def test_the_cap_finds_slices_of_one_hidden_state():
    """h = encoder(both); r = head(h); dir_loss(r[:n], r[n:], h[:n], h[n:], gap): the rewards
    reach the slices only through h, which the cap finds by itself (no warning)."""
    import warnings

    torch.manual_seed(0)
    encoder, head = torch.nn.Linear(10, 6), torch.nn.Linear(6, 1)
    x = torch.randn(32, 10)
    module = dt.DIRLoss(6, lam=50.0, learning_rate=1e-2)
    h = encoder(x)
    r = head(h).squeeze(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module(r[:16], r[16:], h[:16], h[16:], x[:16, 1] - x[16:, 1])
    assert module.penalty.last_cap_scale is not None and module.penalty.last_cap_scale < 1
    assert "q_hidden=64" in repr(module.club) and module.club.options["learning_rate"] == pytest.approx(1e-2)


def test_prompt_free_scoring_cuts_sequences_longer_than_the_model(tmp_path):
    # A completion under another pair's prompt can be longer than any sequence TRL kept: scored
    # as is, it would index past the model's 32 positions. A decoder keeps its end (the EOS the
    # head reads), losing the start of the prompt.
    from dirrm.trl import PromptFreeRewardTrainer

    trainer = tiny_gpt2_trainer(tmp_path, PromptFreeRewardTrainer)
    long = " ".join(["the question is very long"] * 10) + " a good answer"
    tok, model = trainer.processing_class, trainer.model.eval()
    with torch.no_grad():
        got = trainer._rewards([long])
        ids = tok([long + tok.eos_token])["input_ids"][0]
        assert len(ids) > 32
        want = model(input_ids=torch.tensor([ids[-32:]])).logits.reshape(-1)
    torch.testing.assert_close(got, want.float())
