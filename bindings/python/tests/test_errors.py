"""Every bad input returns its status with a message naming the argument; nothing crashes."""

import ctypes
import pickle
import threading

import numpy as np
import pytest

import dirrm
from dirrm import _lib
from dirrm._lib import lib

f32p = ctypes.POINTER(ctypes.c_float)


def p(array):
    return array.ctypes.data_as(f32p)


def raw_bt(n=3, rc="ok", rr="ok", margin=None, weight=None, center=0.0, out="ok", gc=None, gr=None):
    good = np.ones(3, np.float32)
    out_loss = np.zeros(1, np.float32)
    arg = lambda v: p(good) if isinstance(v, str) else (None if v is None else p(v))
    status = lib.dirrm_bt_loss(
        n, arg(rc), arg(rr), arg(margin), arg(weight), center,
        p(out_loss) if out == "ok" else None, arg(gc), arg(gr),
    )
    return status, lib.dirrm_last_error().decode()


BAD = np.array([1.0, 2.0, np.nan], np.float32)


@pytest.mark.parametrize(
    "kwargs,status,needle",
    [
        (dict(rc=None), _lib.ERR_NULL_POINTER, "r_chosen is NULL"),
        (dict(rr=None), _lib.ERR_NULL_POINTER, "r_rejected is NULL"),
        (dict(out=None), _lib.ERR_NULL_POINTER, "out_loss is NULL"),
        (dict(n=0), _lib.ERR_SHAPE, "n = 0"),
        (dict(n=-5), _lib.ERR_SHAPE, "n = -5"),
        (dict(n=2**62), _lib.ERR_SHAPE, "exceeds"),
        (dict(rc=BAD), _lib.ERR_NONFINITE, "r_chosen[2] is nan"),
        (dict(rr=np.array([np.inf, 0, 0], np.float32)), _lib.ERR_NONFINITE, "r_rejected[0] is inf"),
        (dict(margin=np.array([0, -np.inf, 0], np.float32)), _lib.ERR_NONFINITE, "margin[1] is -inf"),
        (dict(weight=BAD), _lib.ERR_NONFINITE, "weight[2] is nan"),
        (dict(weight=np.array([1, -0.5, 1], np.float32)), _lib.ERR_INVALID_ARGUMENT, "weight[1] = -0.5 is negative"),
        (dict(weight=np.zeros(3, np.float32)), _lib.ERR_INVALID_ARGUMENT, "weight is zero everywhere"),
        (dict(center=-1.0), _lib.ERR_INVALID_ARGUMENT, "center_coef"),
        (dict(center=float("nan")), _lib.ERR_NONFINITE, "center_coef is nan"),
        (dict(center=3e38, rc=np.full(3, 3e38, np.float32)), _lib.ERR_NONFINITE, "does not fit in float32"),
    ],
)
def test_bad_input_returns_status_and_names_argument(kwargs, status, needle):
    got, message = raw_bt(**kwargs)
    assert got == status, message
    assert message.startswith("dirrm_bt_loss: ") and needle in message, message
    assert lib.dirrm_status_string(got).decode() not in ("", "unknown status")


def test_failure_writes_no_output():
    gc = np.full(3, 7.0, np.float32)
    status, _ = raw_bt(rc=BAD, gc=gc)
    assert status == _lib.ERR_NONFINITE and np.all(gc == 7.0)


def test_python_wrapper_raises_dirrm_error():
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.bt_loss([1.0, 2.0], [0.0, np.nan])
    assert info.value.status == _lib.ERR_NONFINITE and "r_rejected[1]" in info.value.message
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.bt_loss([1.0, 2.0], [0.0])
    assert info.value.status == _lib.ERR_SHAPE
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.bt_loss([], [])
    assert info.value.status == _lib.ERR_SHAPE
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.set_num_threads(0)
    assert info.value.status == _lib.ERR_INVALID_ARGUMENT and "num_threads" in info.value.message


def test_each_thread_reads_its_own_error():
    barrier = threading.Barrier(2)
    seen = {}

    def fail(name, kwargs, needle):
        ok = True
        for _ in range(2000):
            barrier.wait()
            _, _ = raw_bt(**kwargs)
            barrier.wait()  # the other thread has failed too before this one reads
            ok &= needle in lib.dirrm_last_error().decode()
        seen[name] = ok

    threads = [
        threading.Thread(target=fail, args=("a", dict(rc=None), "r_chosen is NULL")),
        threading.Thread(target=fail, args=("b", dict(n=0), "n = 0")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": True, "b": True}


def test_status_strings():
    for code in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99):
        assert lib.dirrm_status_string(code).decode() != "unknown status"
    assert lib.dirrm_status_string(12345).decode() == "unknown status"
    assert lib.dirrm_status_string(-1).decode() == "unknown status"


def test_a_failing_dir_loss_leaves_q_as_it_was():
    """Issue 21 #6: dirrm_dir_loss(fit_first=1) fitted q, then failed on rewards whose loss
    overflows, and returned an error with q changed. Nothing may change on failure."""
    rng = np.random.default_rng(0)
    hc, hr = rng.normal(size=(2, 16, 4)).astype(np.float32)
    b = rng.normal(size=16).astype(np.float32)
    club = dirrm.Club.for_dir(4, learning_rate=1e-2)
    club.fit(hc, hr, b)
    saved = club.save()
    rewards = np.where(np.arange(16) % 2 == 0, 3.4e38, -3.4e38).astype(np.float32)
    with pytest.raises(dirrm.DirrmError) as error:
        dirrm.dir_loss(club, -rewards, rewards, hc, hr, b, fit_first=True)
    assert error.value.status == 4
    assert club.save() == saved


# The Python error convention (docs/abi.md §2, "In Python"): each status raises its class, and
# the classes for a caller's mistake in the arguments are ValueErrors too.
CONVENTION = [
    (_lib.ERR_NULL_POINTER, dirrm.InvalidArgumentError, ValueError),
    (_lib.ERR_INVALID_ARGUMENT, dirrm.InvalidArgumentError, ValueError),
    (_lib.ERR_SHAPE, dirrm.ShapeError, ValueError),
    (_lib.ERR_BUFFER_TOO_SMALL, dirrm.ShapeError, ValueError),
    (_lib.ERR_NONFINITE, dirrm.NonFiniteError, ValueError),
    (_lib.ERR_OUT_OF_MEMORY, dirrm.OutOfMemoryError, MemoryError),
    (_lib.ERR_MISUSE, dirrm.MisuseError, RuntimeError),
    (_lib.ERR_NOT_CONVERGED, dirrm.NotConvergedError, RuntimeError),
    (_lib.ERR_CORRUPT, dirrm.FormatError, ValueError),
    (_lib.ERR_VERSION, dirrm.FormatError, ValueError),
    (_lib.ERR_IO, dirrm.DirrmError, RuntimeError),
    (_lib.ERR_INTERNAL, dirrm.DirrmError, RuntimeError),
    (12345, dirrm.DirrmError, RuntimeError),
]


@pytest.mark.parametrize("status,cls,builtin", CONVENTION)
def test_each_status_raises_its_class(status, cls, builtin):
    with pytest.raises(cls) as info:
        _lib.check_call(status)
    error = info.value
    assert type(error) is cls and isinstance(error, dirrm.DirrmError) and isinstance(error, builtin)
    assert error.status == status and str(error).startswith(f"[{status}] ")
    # The Python layer's own checks build the same class from the same code.
    assert type(dirrm.DirrmError(status, "x")) is cls
    if builtin is not ValueError:
        assert not isinstance(error, ValueError)
    # Pickling keeps the class, the status and the message (errors cross to DataLoader workers).
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls and (again.status, again.message, str(again)) == (status, error.message, str(error))


def test_every_code_of_the_header_has_a_documented_class():
    codes = {value for name, value in vars(_lib).items() if name.startswith("ERR_")}
    assert codes == {status for status, _, _ in CONVENTION if status != 12345}


@pytest.mark.parametrize("call,cls,status", [
    # The library's checks ...
    (lambda: dirrm.bt_loss([1.0, 2.0], [0.0, np.nan]), dirrm.NonFiniteError, _lib.ERR_NONFINITE),
    (lambda: dirrm.set_num_threads(0), dirrm.InvalidArgumentError, _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.Club.load(b"not a club"), dirrm.FormatError, _lib.ERR_CORRUPT),
    # ... and the Python layer's, with the same classes and codes.
    (lambda: dirrm.Club(4).fit(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2)), dirrm.ShapeError, _lib.ERR_SHAPE),
    (lambda: dirrm.Club(4, bias_kind="poisson"), dirrm.InvalidArgumentError, _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.dir_policy(lam=-1.0), dirrm.InvalidArgumentError, _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.bt_loss("abc", "def"), dirrm.ShapeError, _lib.ERR_SHAPE),
])
def test_the_library_and_the_python_layer_raise_the_same_classes(call, cls, status):
    with pytest.raises(ValueError) as info:   # every one of these is a caller's mistake
        call()
    assert type(info.value) is cls and info.value.status == status


def test_a_closed_handle_is_a_misuse_error():
    club = dirrm.Club(4)
    club.close()
    with pytest.raises(dirrm.MisuseError) as info:
        club.fit(np.zeros((2, 4)), np.zeros((2, 4)), np.zeros(2))
    assert info.value.status == _lib.ERR_MISUSE and not isinstance(info.value, ValueError)


def test_dirrm_torch_follows_the_same_convention():
    """dirrm.torch's own checks raise the numpy layer's classes and codes (still ValueErrors)."""
    torch = pytest.importorskip("torch")
    import dirrm.torch as dt

    loss = dt.DIRLoss(8)
    rc, rr = torch.zeros(4), torch.zeros(3)
    h = torch.zeros(4, 8)
    with pytest.raises(dirrm.ShapeError) as info:
        loss(rc, rr, h, h, torch.zeros(4))
    assert info.value.status == _lib.ERR_SHAPE and isinstance(info.value, ValueError)
    with pytest.raises(dirrm.ShapeError):
        dt.CLUBPenalty(8)(torch.zeros(4, 7), torch.zeros(4, 7), torch.zeros(4))
    with pytest.raises(dirrm.InvalidArgumentError) as bad:
        dt.PromptFreeBatchSampler(10, 2, lambda i: np.zeros(len(i), np.float32), ema_weight=2.0)
    assert bad.value.status == _lib.ERR_INVALID_ARGUMENT
