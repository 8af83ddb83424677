"""DIR off the critical path: dirrm_club_fit_begin/_finish and CLUBPenalty(fit="async") give the
same bits as the synchronous schedule "bound(t), then fit(t)", and every misuse while a fit runs
in the background is an error, never a crash (fork included)."""

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import dirrm
import dirrm.torch
from dirrm import _lib

D = 48


def batch(rng, n=32, gaussian=False):
    hc, hr = rng.normal(size=(2, n, D)).astype(np.float32)
    b = (rng.normal(size=n) * 50 + 10) if gaussian else rng.integers(0, 2, n)
    return hc, hr, b.astype(np.float32)


def club(gaussian):
    kind = dict(bias_kind="gaussian", bias_dim=1) if gaussian else {}
    return dirrm.Club(D, q_hidden=32, fit_steps=4, learning_rate=1e-2, seed=5, **kind)


@pytest.mark.parametrize("gaussian", [False, True])
def test_begin_finish_is_fit_bit_for_bit(gaussian):
    rng = np.random.default_rng(0)
    sync, background = club(gaussian), club(gaussian)
    for _ in range(4):
        hc, hr, b = batch(rng, gaussian=gaussian)
        want_bound = sync.bound(hc, hr, b)
        want_nll = sync.fit(hc, hr, b)
        got_bound = background.bound(hc, hr, b)
        background.fit_begin(hc, hr, b)
        hc[:], b[:] = 0, 0   # the batch was copied: the caller may reuse its buffers at once
        got_nll = background.fit_finish()
        assert got_bound[0] == want_bound[0] and np.array_equal(got_bound[1], want_bound[1])
        assert got_nll == want_nll
    assert background.save() == sync.save()


def test_calls_during_a_background_fit_wait_for_it_and_any_thread_may_finish():
    rng = np.random.default_rng(1)
    c, reference = (dirrm.Club(D, q_hidden=256, fit_steps=50, seed=1) for _ in range(2))
    hc, hr, b = batch(rng, n=256)
    with pytest.raises(dirrm.MisuseError, match="no fit running"):
        c.fit_finish()
    want = reference.fit(hc, hr, b)
    c.fit_begin(hc, hr, b)
    assert c.fit_pending
    # In Python every method waits for the fit first (C returns MISUSE: hostile_calls.c);
    # pickling and repr too.
    assert c.save() == reference.save() and repr(c) == repr(reference)
    assert pickle.loads(pickle.dumps(c)).save() == reference.save()
    assert c.fit_pending   # the result waits for fit_finish
    done = []
    finisher = threading.Thread(target=lambda: done.append(c.fit_finish()))
    finisher.start()
    finisher.join()
    assert done == [want] and not c.fit_pending


def test_the_process_limit_on_background_fits_is_an_error():
    rng = np.random.default_rng(6)
    hc, hr, b = batch(rng, n=8)
    clubs = [dirrm.Club(D, q_hidden=4, fit_steps=2000, seed=6) for _ in range(40)]
    begun = 0
    with pytest.raises(dirrm.MisuseError, match="32 fits already run in the background"):
        for c in clubs:
            c.fit_begin(hc, hr, b)
            begun += 1
    assert begun == 32
    for c in clubs[:begun]:
        assert np.isfinite(c.fit_finish())
    clubs[begun].fit_begin(hc, hr, b)   # room again
    assert np.isfinite(clubs[begun].fit_finish())


EXIT_WITH_PENDING_FITS = """
import sys, threading, time, numpy as np, dirrm
def train():
    rng = np.random.default_rng(0)
    clubs = [dirrm.Club(64, q_hidden=256, fit_steps=300, seed=1) for _ in range(3)]
    for c in clubs:
        hc, hr = rng.normal(size=(2, 512, 64)).astype(np.float32)
        c.fit_begin(hc, hr, rng.integers(0, 2, 512).astype(np.float32))
    started.set()
    time.sleep(100)
started = threading.Event()
threading.Thread(target=train, daemon=True).start()
started.wait()
time.sleep(float(sys.argv[1]))
"""


def test_exit_with_fits_running_waits_for_them():
    # The daemon thread's clubs are never freed: exit itself must wait for their fits (a fit
    # still inside OpenBLAS at exit crashed in OpenBLAS's exit-time cleanup).
    for delay in ("0", "0.01", "0.05"):
        out = subprocess.run([sys.executable, "-c", EXIT_WITH_PENDING_FITS, delay], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, (delay, out.returncode, out.stderr[-2000:])


def test_free_waits_for_the_fit():
    rng = np.random.default_rng(2)
    for _ in range(20):
        c = dirrm.Club(D, q_hidden=128, fit_steps=20, seed=2)
        c.fit_begin(*batch(rng, n=128))
        c.close()


def test_a_failed_background_fit_is_reported_by_finish_as_fit_would():
    rng = np.random.default_rng(11)
    cfg = dict(bias_kind="gaussian", bias_dim=1, pair_mode="difference", q_hidden=0)
    sync, background = (dirrm.Club(2, fit_steps=50, learning_rate=1e30, **cfg) for _ in range(2))
    hc, hr = rng.normal(size=(2, 20, 2)).astype(np.float32)
    b = rng.normal(size=20).astype(np.float32)
    with pytest.raises(dirrm.NonFiniteError) as want:
        sync.fit(hc * 1e30, hr, b * 1e18)
    background.fit_begin(hc * 1e30, hr, b * 1e18)
    with pytest.raises(dirrm.NonFiniteError) as got:
        background.fit_finish()
    assert got.value.message.split(": ", 1)[1] == want.value.message.split(": ", 1)[1]
    assert background.save() == sync.save()   # q kept finite, as fit keeps it


def test_a_child_forked_during_a_background_fit_refuses_the_handle_and_can_free_it():
    rng = np.random.default_rng(3)
    c = dirrm.Club(D, q_hidden=512, fit_steps=200, seed=3)
    hc, hr, b = batch(rng, n=512)
    reference = dirrm.Club(D, q_hidden=512, fit_steps=200, seed=3)
    reference.fit(hc, hr, b)
    c.fit_begin(hc, hr, b)
    pid = os.fork()
    if pid == 0:   # the child: the fitting thread does not exist here
        code = 1
        try:
            try:
                c.fit_finish()
            except dirrm.MisuseError as error:
                code = 0 if "forked" in error.message else 2
            c.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    c.fit_finish()
    assert c.save() == reference.save()


def train(fit, steps=6, seed=0):
    """A linear encoder trained with DIRLoss; fit="stale" is the synchronous reference of
    fit="async": no fit in forward, then q fitted on the same batch after it."""
    torch.manual_seed(seed)
    encoder = torch.nn.Linear(16, D, dtype=torch.float32)   # (test_club.py makes float64 the default)
    loss_fn = dirrm.torch.DIRLoss(D, fit=False if fit == "stale" else fit, q_hidden=32, learning_rate=1e-2, seed=4)
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    rng = np.random.default_rng(seed)
    losses, states = [], []
    for step in range(steps):
        xc, xr = torch.tensor(rng.normal(size=(2, 24, 16)).astype(np.float32))
        bias = torch.tensor(rng.normal(size=24).astype(np.float32))
        hc, hr = encoder(xc), encoder(xr)
        loss = loss_fn(hc.sum(1), hr.sum(1), hc, hr, bias)
        if fit == "stale":
            loss_fn.club.fit(hc.detach().numpy(), hr.detach().numpy(), bias.numpy())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step == 2:   # state_dict waits for the running fit
            states.append(bytes(loss_fn.state_dict()["penalty._extra_state"].numpy()))
    loss_fn.finish()
    return losses, torch.cat([p.detach().reshape(-1) for p in encoder.parameters()]), loss_fn.club.save(), states


def test_club_penalty_async_equals_the_stale_schedule_bit_for_bit():
    got, want, synchronous = train("async"), train("stale"), train(True)
    assert got[0] == want[0]
    assert torch.equal(got[1], want[1])
    assert got[2] == want[2] and got[3] == want[3]
    assert got[0] != synchronous[0]   # one step stale is a different schedule from DIR's


def test_fit_mode_is_checked_and_eval_waits():
    with pytest.raises(dirrm.InvalidArgumentError, match="fit"):
        dirrm.torch.CLUBPenalty(D, fit="later")
    penalty = dirrm.torch.CLUBPenalty(D, fit="async", q_hidden=32)
    rng = np.random.default_rng(4)
    hc, hr, b = (torch.tensor(a) for a in batch(rng, gaussian=True))
    penalty(hc, hr, b)
    assert penalty.finish() is not None
    assert penalty.finish() is None   # nothing running any more
    penalty(hc, hr, b)
    penalty.eval()
    with torch.no_grad():
        penalty(hc, hr, b)   # waits for the training forward's fit, starts none
    assert penalty.finish() is None
    assert _lib.lib.dirrm_club_fit_finish(None, None) == _lib.ERR_NULL_POINTER


def test_a_fit_finished_by_state_dict_is_still_logged_by_the_next_forward():
    # Saving a checkpoint waits for the background fit; its NLL is the next forward's last_nll,
    # as if the forward had waited itself.
    rng = np.random.default_rng(5)
    hc, hr, b = (torch.tensor(a) for a in batch(rng, gaussian=True))
    logged = []
    for save_between in (False, True):
        penalty = dirrm.torch.CLUBPenalty(D, fit="async", q_hidden=32)
        penalty(hc, hr, b)
        if save_between:
            penalty.state_dict()
        penalty(hc, hr, b)
        logged.append((penalty.last_nll, penalty.history[-1]["nll"]))
        penalty.finish()
    assert logged[0] == logged[1] and logged[0][0] is not None
