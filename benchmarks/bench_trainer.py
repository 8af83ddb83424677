"""benchmarks/bench.py's trainer rows: dirrm's trainer against the same trainer in torch
(bench_trainer_ref.py), vanilla and DIR, time per epoch after checking both take the same steps."""

import numpy as np
import torch

import bench_trainer_ref as ref
import dirrm
from bench_data import synth_length
from bench_report import check
from timing import alternate


def trainer_rows(report, repeat):
    train, _ = synth_length()
    dataset = dirrm.Dataset(train["prompts"], train["responses"], train["pairs"], train["bias"])
    pairs = len(train["pairs"])
    model = dirrm.RewardModel(train["prompts"].shape[1], train["responses"].shape[1], seed=0)
    shape = (model.prompt_dim, model.response_dim, model.width, model.depth)
    flat = ref.model_parameters(model)
    q_hidden = 64  # dirrm_train_params_init's Gaussian estimator
    q_flat = dirrm.Club(model.width, bias_kind="gaussian", bias_dim=1, q_hidden=q_hidden, seed=0).weights

    x = train["prompts"][train["pairs"][:256, 0]]
    y = train["responses"][train["pairs"][:256, 1]]
    with torch.no_grad():
        tr, th = ref.TorchRewardModel(flat, *shape)(torch.tensor(x), torch.tensor(y))
    dr, dh = model.score(x, y, hidden=True)
    check("trainer: rewards at initialization", dr, tr.numpy(), 1e-4, 1e-6)
    check("trainer: hidden states at initialization", dh, th.numpy(), 1e-4, 1e-6)

    full_steps = 6
    for method in ("vanilla", "dir"):
        # Full-batch steps: the shuffle cannot matter, so both trainers take the same steps.
        m = dirrm.RewardModel(*shape[:2], seed=0)
        records = m.fit(dataset, method=method, epochs=full_steps, batch_size=pairs)
        t = ref.TorchTrainer(train, flat, shape, method, q_flat=q_flat, q_hidden=q_hidden, batch_size=pairs)
        steps = np.array([t.step(torch.arange(pairs)) for _ in range(full_steps)])
        check(f"trainer {method}: loss per full-batch step", records["loss_pref"], steps[:, 0], 1e-5, 1e-7)
        if method == "dir":
            check("trainer dir: bound per full-batch step", records["mi"], steps[:, 1], 0, 1e-5)
            active = int((steps[:, 1] > 0).sum())

        def ours():
            dirrm.RewardModel(*shape[:2], seed=0).fit(dataset, method=method, epochs=1)

        def theirs():
            ref.TorchTrainer(train, flat, shape, method, q_flat=q_flat, q_hidden=q_hidden).epoch()

        ours_t, theirs_t = alternate(ours, theirs, max(repeat // 4, 3) if method == "dir" else max(repeat // 3, 5),
                                     warmup=1)
        rate = lambda t: f"{pairs / np.median(t) / 1e3:.1f}K" if not np.isnan(t).any() else "–"  # noqa: E731
        checked = f"{full_steps} full-batch steps: loss rtol 1e-5"
        if method == "dir":
            checked += f", bound atol 1e-5 (positive, so penalizing, on {active} of them)"
        checked += "; initial rewards and hidden states rtol 1e-4"
        shapes = (f"{pairs:,} pairs, 1 epoch, batch 64, {shape[0]}+{shape[1]} features, width {shape[2]}, depth {shape[3]}"
                  + (f"; Gaussian q {q_hidden}, 5 fit steps, λ 1" if method == "dir" else ""))
        report.row(f"trainer {method}", f"trainer, {method} (time per epoch)", shapes, ours_t,
                   f"torch trainer, {method}", theirs_t, checked,
                   f"pairs/s: dirrm {rate(ours_t)}, torch {rate(theirs_t)} (ratio = dirrm pairs/s / torch pairs/s)")
