"""The reward model, datasets, synthetic data, training and evaluation (docs/mathematics.md §5), through
the Python binding, the C example and the command-line program."""

import os
import copy  # the pickle protocol (__getstate__/__setstate__), without unpickling any bytes
import subprocess

import numpy as np
import pytest
from scipy import stats

import dirrm
from dirrm import _lib
from conftest import REPO

CLI = os.path.join(REPO, ".build", "release", "dirrm-cli")


def small(kind="length", seed=0, prompts=150):
    return dirrm.synth(kind, num_prompts=prompts, prompt_dim=8, response_dim=16, seed=seed)


def arrays(rng, prompts=20, responses=40, pairs=60, dp=4, dr=6):
    x = rng.normal(size=(prompts, dp)).astype(np.float32)
    y = rng.normal(size=(responses, dr)).astype(np.float32)
    index = np.stack([rng.integers(0, prompts, pairs), rng.integers(0, responses, pairs),
                      rng.integers(0, responses, pairs)], axis=1)
    bias = rng.normal(size=pairs).astype(np.float32)
    return x, y, index, bias


def test_synthetic_sets_follow_their_construction():
    for kind in ("unbiased", "length", "sycophancy", "adversarial"):
        train, test = dirrm.synth(kind, num_prompts=400, seed=1)
        s, t = train.shape, test.shape
        assert s["prompt_dim"] == 64 and s["response_dim"] == 64 and s["bias_dim"] == 1
        # The sycophancy test set holds every pair twice: plain and prefixed.
        assert t["num_prompts"] == 100 and t["num_pairs"] == 100 * 6 * (2 if kind == "sycophancy" else 1)
    # The length-biased and unbiased sets have about one size (the issue's oracle comparison).
    a, _ = dirrm.synth("length", seed=2)
    b, _ = dirrm.synth("unbiased", seed=2)
    assert abs(len(a) - len(b)) < 0.05 * len(a)
    # Bad parameters.
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.synth("length", bias_ratio=0.3)
    assert info.value.status == _lib.ERR_INVALID_ARGUMENT and "bias_ratio" in info.value.message
    with pytest.raises(dirrm.DirrmError):
        dirrm.synth("length", num_prompts=1)


def test_dataset_rejects_pairs_past_the_features():
    rng = np.random.default_rng(0)
    x, y, index, bias = arrays(rng)
    dirrm.Dataset(x, y, index, bias)
    for column, value, needle in ((0, 20, "prompt index"), (1, 40, "chosen index"), (2, -1, "rejected index")):
        bad = index.copy()
        bad[5, column] = value
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.Dataset(x, y, bad, bias)
        assert info.value.status == _lib.ERR_INVALID_ARGUMENT and f"pairs[5][{column}]" in info.value.message
        assert needle in info.value.message
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Dataset(np.full_like(x, np.nan), y, index, bias)
    assert info.value.status == _lib.ERR_NONFINITE


def test_dataset_arrays_return_what_it_was_made_from():
    rng = np.random.default_rng(3)
    prompts, responses = rng.normal(size=(4, 3)), rng.normal(size=(6, 2))
    pairs, bias = np.array([[0, 1, 2], [3, 5, 4], [1, 0, 5]]), rng.normal(size=(3, 2))
    arrays = dirrm.Dataset(prompts, responses, pairs, bias).arrays()
    for got, want in zip(arrays, (prompts, responses, pairs, bias)):
        assert got.dtype == (np.int64 if want is pairs else np.float32)
        np.testing.assert_array_equal(got, want.astype(got.dtype))
    plain = dirrm.Dataset(prompts, responses, pairs).arrays()
    assert plain.bias.shape == (3, 0)
    assert dirrm.Dataset(*plain).shape["bias_dim"] == 0  # arrays() round-trips without bias too
    # The C call refuses a bias buffer for a dataset without bias columns, and a NULL handle.
    d = dirrm.Dataset(*plain)
    out = np.empty(4, np.float32)
    assert _lib.lib.dirrm_dataset_copy(d._handle, None, None, None, out.ctypes.data_as(_lib._f32p)) == _lib.ERR_INVALID_ARGUMENT
    assert _lib.lib.dirrm_dataset_copy(None, None, None, None, None) != 0


def test_evaluation_matches_numpy_and_scipy():
    rng = np.random.default_rng(1)
    x, y, index, bias = arrays(rng)
    data = dirrm.Dataset(x, y, index, bias)
    model = dirrm.RewardModel(4, 6, width=16, seed=3)
    rc = model.score(x[index[:, 0]], y[index[:, 1]])
    rr = model.score(x[index[:, 0]], y[index[:, 2]])
    gap = rc.astype(np.float64) - rr
    report = model.evaluate(data)
    assert report["pairs"] == 60
    assert report["accuracy"] == pytest.approx(np.mean(gap > 0), abs=1e-6)
    assert report["mean_gap"] == pytest.approx(gap.mean(), rel=1e-5, abs=1e-6)
    assert report["gap_bias_pearson"] == pytest.approx(stats.pearsonr(gap, bias)[0], abs=1e-5)
    assert report["gap_bias_spearman"] == pytest.approx(stats.spearmanr(gap, bias)[0], abs=1e-5)
    assert report["accuracy_bias_positive"] == pytest.approx(np.mean(gap[bias > 0] > 0), abs=1e-6)
    assert report["accuracy_bias_negative"] == pytest.approx(np.mean(gap[bias <= 0] > 0), abs=1e-6)


@pytest.mark.parametrize("method", ["vanilla", "dir", "prompt_free", "dir_prompt_free"])
def test_training_is_deterministic_and_learns(method):
    train, test = small()
    scores = []
    for _ in range(2):
        model = dirrm.RewardModel(8, 16, width=32, seed=5)
        log = model.fit(train, method=method, epochs=2, seed=7, club=dict(q_hidden=32))
        scores.append(model.evaluate(test))
    assert scores[0] == scores[1]
    trained = np.isfinite(log["loss_pref"])
    assert trained.any()
    if method in ("dir", "dir_prompt_free"):
        assert np.isfinite(log["mi"][trained]).all()
    else:
        assert np.isnan(log["mi"]).all()
    assert np.isfinite(log["threshold"]).all() == (method in ("prompt_free", "dir_prompt_free"))
    other = dirrm.RewardModel(8, 16, width=32, seed=5)
    other.fit(train, method=method, epochs=2, seed=8, club=dict(q_hidden=32))
    assert other.evaluate(test) != scores[0], "another seed trains differently"


def test_training_learns_the_ground_truth():
    train, test = dirrm.synth("unbiased", num_prompts=400, prompt_dim=8, response_dim=16, seed=0)
    model = dirrm.RewardModel(8, 16, width=32, seed=5)
    before = model.evaluate(test)["accuracy"]
    model.fit(train, epochs=6)
    after = model.evaluate(test)["accuracy"]
    assert before < 0.55 and after > 0.62, (before, after)


def test_progress_can_stop_training():
    train, _ = small()
    model = dirrm.RewardModel(8, 16, width=16)
    seen = []
    log = model.fit(train, progress=lambda step, total, *_: seen.append(step) or step >= 4)
    assert len(log["step"]) == 5 and seen == [0, 1, 2, 3, 4]
    # A callback that raises leaves the model as it was before fit (issue 21: it was half trained).
    before = model.save()
    with pytest.raises(ZeroDivisionError):
        model.fit(train, progress=lambda step, *_: 1 / 0 if step == 3 else None)
    assert model.save() == before


def test_save_load_score_is_bit_identical():
    rng = np.random.default_rng(2)
    train, _ = small()
    model = dirrm.RewardModel(8, 16, width=24, depth=3, seed=1)
    model.fit(train, epochs=1)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    y = rng.normal(size=(50, 16)).astype(np.float32)
    r, h = model.score(x, y, hidden=True)
    assert h.shape == (50, 24)
    clone = copy.deepcopy(model)
    assert (clone.prompt_dim, clone.response_dim, clone.width, clone.depth) == (8, 16, 24, 3)
    np.testing.assert_array_equal(clone.score(x, y), r)
    data = model.save()
    for cut in (3, len(data) // 2, len(data) - 1):
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.RewardModel.load(data[:cut])
        assert info.value.status == _lib.ERR_CORRUPT


def test_training_arguments_are_checked():
    train, _ = small()
    model = dirrm.RewardModel(8, 16, width=16)
    other = dirrm.RewardModel(9, 16, width=16)
    cases = [
        (lambda: other.fit(train), _lib.ERR_SHAPE, "features"),
        (lambda: model.fit(train, batch_size=0), _lib.ERR_INVALID_ARGUMENT, "p->batch_size"),
        (lambda: model.fit(train, batch_size=2**30), _lib.ERR_INVALID_ARGUMENT, "p->batch_size"),
        (lambda: model.fit(train, method="prompt_free", pf_prompts=10**6), _lib.ERR_INVALID_ARGUMENT, "p->pf_prompts"),
        (lambda: model.fit(train, method="prompt_free", pf_max_rounds=0), _lib.ERR_INVALID_ARGUMENT,
         "p->pf_max_rounds"),
        (lambda: model.fit(train, learning_rate=float("nan")), _lib.ERR_NONFINITE, "p->learning_rate"),
        (lambda: model.fit(train, method="dir", bias_column=3), _lib.ERR_INVALID_ARGUMENT, "p->bias_column"),
        (lambda: model.fit(train, method="dir", club=dict(q_hidden=-1)), _lib.ERR_INVALID_ARGUMENT, "p->dir.club.q_hidden"),
        (lambda: model.fit(train, method="prompt_free", pf=dict(p=2.0)), _lib.ERR_INVALID_ARGUMENT, "p->pf.p"),
        (lambda: model.fit(train, method="prompt_free", prioritizer=dict(ema_weight=-1.0)),
         _lib.ERR_INVALID_ARGUMENT, "p->prioritizer.ema_weight"),
        (lambda: model.fit(train, club=dict(struct_size=3)), _lib.ERR_VERSION, "p->dir.club.struct_size"),
        (lambda: model.fit(train, epochs=2**32 + 1), _lib.ERR_INVALID_ARGUMENT, "epochs"),
        (lambda: model.fit(train, club=dict(q_hidden=-2**40)), _lib.ERR_INVALID_ARGUMENT, "q_hidden"),
        (lambda: model.evaluate(train, bias_column=4), _lib.ERR_INVALID_ARGUMENT, "bias_column"),
        (lambda: model.score(np.zeros((2, 8)), np.zeros((2, 15))), _lib.ERR_SHAPE, "response_features"),
    ]
    for call, status, needle in cases:
        with pytest.raises(dirrm.DirrmError) as info:
            call()
        assert info.value.status == status and needle in info.value.message, (needle, info.value.message)


def test_fit_without_options_uses_the_library_defaults():
    train, _ = small(prompts=60)
    defaults = _lib.TrainParams()
    _lib.lib.dirrm_train_params_init(defaults)
    explicit, implicit = dirrm.RewardModel(8, 16, width=16), dirrm.RewardModel(8, 16, width=16)
    explicit.fit(train, method="dir", epochs=defaults.epochs, batch_size=defaults.batch_size,
                 learning_rate=defaults.learning_rate, weight_decay=defaults.weight_decay, lam=defaults.dir.lam,
                 bias_column=defaults.bias_column, pf_prompts=defaults.pf_prompts,
                 pf_max_rounds=defaults.pf_max_rounds, seed=defaults.seed)
    implicit.fit(train, method="dir")
    x = np.random.default_rng(0).normal(size=(5, 8))
    y = np.random.default_rng(1).normal(size=(5, 16))
    assert np.array_equal(explicit.score(x, y), implicit.score(x, y))
    explicit.fit(train, method="dir", lam=defaults.dir.lam + 1)
    implicit.fit(train, method="dir")
    assert not np.array_equal(explicit.score(x, y), implicit.score(x, y))


def test_option_dicts_take_the_names_the_classes_take():
    # RewardModel.fit's club / pf / prioritizer dicts fill the same structs as dirrm.Club,
    # dirrm.prompt_free_gap and dirrm.Prioritizer, so they take the same enum names; a name
    # and its C constant train the same model, and a wrong name or type is the library's error.
    train, _ = small(prompts=60)
    x = np.random.default_rng(0).normal(size=(5, 8))
    y = np.random.default_rng(1).normal(size=(5, 16))
    scores = []
    for club, pf, prioritizer, policy in (
            ({"bias_kind": "categorical", "bias_dim": 2, "pair_mode": "concat"}, {"solver": "bisection"},
             {"cluster_method": "otsu", "reinsertion": "lazy"}, {"lambda": 2.0}),
            ({"bias_kind": 0, "bias_dim": 2, "pair_mode": 1}, {"solver": 1},
             {"cluster_method": 1, "reinsertion": 1}, {"lam": 2.0})):
        model = dirrm.RewardModel(8, 16, width=16)
        model.fit(train, method="dir_prompt_free", epochs=1, club=club, pf=pf, prioritizer=prioritizer,
                  dir_options=policy)
        scores.append(model.score(x, y))
    assert np.array_equal(scores[0], scores[1])
    model = dirrm.RewardModel(8, 16, width=16)
    default_scores = model.score(x, y)
    model.fit(train, method="dir_prompt_free", epochs=1)
    assert not np.array_equal(model.score(x, y), scores[0])   # the options above acted
    for options, needle in (({"club": {"bias_kind": "gaussan"}}, "bias_kind"),
                            ({"prioritizer": {"cluster_method": 2.5}}, "cluster_method"),
                            ({"pf": {"tolerance": "small"}}, "tolerance")):
        fresh = dirrm.RewardModel(8, 16, width=16)
        with pytest.raises(dirrm.DirrmError) as info:
            fresh.fit(train, method="dir", epochs=1, **options)
        assert info.value.status == _lib.ERR_INVALID_ARGUMENT and needle in info.value.message
        assert np.array_equal(fresh.score(x, y), default_scores)


def test_evaluate_defaults_to_no_bias_on_data_without_bias_columns():
    rng = np.random.default_rng(3)
    x, y, index, _ = arrays(rng)
    plain = dirrm.Dataset(x, y, index)
    model = dirrm.RewardModel(4, 6, width=8)
    report = model.evaluate(plain)
    np.testing.assert_equal(report, model.evaluate(plain, bias_column=-1))   # NaN equals NaN here
    assert report["pairs"] == 60 and np.isnan(report["gap_bias_spearman"])
    train, _ = small(prompts=60)
    model = dirrm.RewardModel(8, 16, width=8)
    assert model.evaluate(train) == model.evaluate(train, bias_column=0)


def test_c_example_trains_through_the_c_api():
    out = subprocess.run([os.path.join(REPO, ".build", "examples", "train_rm")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DIR " in out.stdout and "== " in out.stdout and ": yes" in out.stdout


def write_npy_dataset(folder, rng):
    x, y, index, bias = arrays(rng, prompts=30, responses=60, pairs=200)
    paths = {}
    for name, array in (("prompts", x), ("responses", y), ("pairs", index), ("bias", bias)):
        paths[name] = str(folder / f"{name}.npy")
        np.save(paths[name], array)
    return paths


def run_cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)


def test_cli_train_and_evaluate_on_npy(tmp_path):
    paths = write_npy_dataset(tmp_path, np.random.default_rng(3))
    data = [f"--{k}={v}" for k, v in paths.items()]
    model = str(tmp_path / "model.bin")
    out = run_cli("train", *data, "--method", "dir", "--epochs", "1", "--width", "16", "--output", model)
    assert out.returncode == 0, out.stderr
    out = run_cli("evaluate", *data, "--model", model)
    assert out.returncode == 0 and "accuracy" in out.stdout and "Spearman" in out.stdout, out.stderr


@pytest.mark.parametrize("damage,needle", [
    ("magic", "wrong magic"),
    ("dtype", "not supported"),
    ("shape", "expected a float array"),
    ("truncated", "truncated"),
    ("pairs", "outside"),
    ("missing", "cannot open"),
])
def test_cli_reports_malformed_npy_files(tmp_path, damage, needle):
    paths = write_npy_dataset(tmp_path, np.random.default_rng(4))
    target = paths["prompts"]
    if damage == "magic":
        open(target, "r+b").write(b"\x00")
    elif damage == "dtype":
        np.save(target, np.zeros((30, 4), np.complex64))
    elif damage == "shape":
        np.save(target, np.zeros((30, 4, 2), np.float32))
        needle = "1-D or 2-D"
    elif damage == "truncated":
        data = open(target, "rb").read()
        open(target, "wb").write(data[:-7])
    elif damage == "pairs":
        index = np.load(paths["pairs"])
        index[3, 1] = 10_000
        np.save(paths["pairs"], index)
    else:
        paths["prompts"] = str(tmp_path / "nope.npy")
    data = [f"--{k}={v}" for k, v in paths.items()]
    out = run_cli("train", *data, "--output", str(tmp_path / "m.bin"))
    assert out.returncode not in (0,) and out.returncode > 0, (out.returncode, out.stderr)
    assert needle in out.stderr, out.stderr


@pytest.mark.parametrize("method, reinsertions", [("vanilla", 0), ("prompt_free", 2), ("dir_prompt_free", 1)])
def test_progress_total_is_the_steps_taken(method, reinsertions):
    train, _ = dirrm.synth("length", num_prompts=60, seed=1)
    n, batch = len(train), 64
    calls = []
    model = dirrm.RewardModel(train.shape["prompt_dim"], train.shape["response_dim"], width=16)
    model.fit(train, method=method, epochs=2, batch_size=batch, prioritizer={"max_reinsertions": reinsertions},
              progress=lambda step, total, *rest: calls.append((step, total)))
    steps = 2 * -(-n // batch)
    assert [c[0] for c in calls] == list(range(steps))
    assert {c[1] for c in calls} == {steps}, "one total, the steps taken, on every call"
