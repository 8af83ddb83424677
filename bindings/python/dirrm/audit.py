"""How much a reward model's preferences follow an attribute of the responses (dirrm_audit).

From what any trainer has: each pair's rewards in the labels' order (chosen, rejected), each
response's attributes (length, a flag, a format), and optionally the hidden states. See
dirrm.h section 2.4 for each number's definition; docs/mathematics.md §6 for the mathematics.
"""

from __future__ import annotations

import ctypes
import html
from dataclasses import asdict, dataclass
from typing import Any, Collection, Mapping, Optional, Sequence

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, ptr
from ._errors import ERR_INVALID_ARGUMENT, ERR_SHAPE, DirrmError
from ._lib import AuditParams, AuditReport, check_call, lib
from ._params import filled

__all__ = ["audit", "Audit", "AttributeAudit", "AuditBucket"]


@dataclass(frozen=True)
class AuditBucket:
    """One quantile bucket of the attribute gap (chosen − rejected)."""

    lowest: float
    highest: float
    pairs: int
    agreement: float


@dataclass(frozen=True)
class AttributeAudit:
    """The audit of one attribute (fields as dirrm_audit_report's; NaN where it says so)."""

    name: str
    pairs: int
    agreement: float
    spearman: float
    spearman_low: float
    spearman_high: float
    attribute_baseline: float
    agreement_larger: float
    agreement_smaller: float
    agreement_equal: float
    pairs_larger: int
    pairs_smaller: int
    pairs_equal: int
    balanced_agreement: float
    coefficient: float
    intercept: float
    controlled_agreement: float
    mutual_information: float
    buckets: tuple[AuditBucket, ...]


@dataclass(frozen=True)
class Audit:
    """The audit of every attribute, in the order given.

    Attributes
    ----------
    attributes : dict of str to AttributeAudit
        A categorical attribute ``a`` appears once per category ``k`` as ``"a=k"`` (the
        indicator 1[category = k]; for two categories, only the second in sorted order).
    """

    attributes: dict[str, AttributeAudit]

    def __getitem__(self, name: str) -> AttributeAudit:
        return self.attributes[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and lists (NaN and ±inf as None), for JSON."""

        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return value if np.isfinite(value) else None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return {name: clean(asdict(a)) for name, a in self.attributes.items()}

    def table(self) -> str:
        """A Markdown table: one row per attribute."""
        rows = ["| attribute | pairs | agreement | Spearman(reward gap, attribute gap) [interval] | "
                "\"larger wins\" baseline | agreement, chosen larger / smaller | balanced agreement | "
                "controlled agreement (coefficient) | I(h; attribute) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for a in self.attributes.values():
            rows.append(
                f"| {a.name} | {a.pairs} | {a.agreement:.3f} | {a.spearman:+.3f} [{a.spearman_low:+.3f}, "
                f"{a.spearman_high:+.3f}] | {a.attribute_baseline:.3f} | {a.agreement_larger:.3f} / "
                f"{a.agreement_smaller:.3f} | {a.balanced_agreement:.3f} | {a.controlled_agreement:.3f} "
                f"({a.coefficient:+.3f}) | {_number(a.mutual_information)} |")
        return "\n".join(rows) + "\n"

    def svg(self, name: Optional[str] = None, width: int = 520, height: int = 300) -> str:
        """Agreement against the attribute-gap buckets of one attribute (the first by default)."""
        a = self.attributes[name] if name is not None else next(iter(self.attributes.values()))
        left, right, top, bottom = 56, 16, 28, 64
        plot_w, plot_h = width - left - right, height - top - bottom
        k = max(len(a.buckets), 1)
        slot = plot_w / k

        def y_of(value: float) -> float:
            return top + plot_h * (1 - value)

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                 f'font-family="sans-serif" font-size="11">',
                 f'<text x="{left}" y="16" font-size="13">{html.escape(a.name)}: agreement by attribute-gap '
                 f'bucket (chosen − rejected)</text>',
                 f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>']
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
                         f'stroke="#ddd"/><text x="{left - 6}" y="{y_of(tick) + 4:.1f}" '
                         f'text-anchor="end">{tick:.2f}</text>')
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y_of(a.agreement):.1f}" '
                     f'y2="{y_of(a.agreement):.1f}" stroke="#d62728" stroke-dasharray="4 3"/>')
        for i, b in enumerate(a.buckets):
            x = left + i * slot + slot * 0.15
            parts.append(f'<rect x="{x:.1f}" y="{y_of(b.agreement):.1f}" width="{slot * 0.7:.1f}" '
                         f'height="{plot_h * b.agreement:.1f}" fill="#1f77b4"/>')
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                         f'{_number(b.lowest)} … {_number(b.highest)}</text>')
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h + 27}" text-anchor="middle" '
                         f'fill="#666">{b.pairs} pairs</text>')
        parts.append(f'<text x="{left}" y="{height - 10}" fill="#d62728">dashed: overall agreement '
                     f'{a.agreement:.3f}; "larger wins" agrees {a.attribute_baseline:.3f}</text>')
        parts.append("</svg>")
        return "\n".join(parts) + "\n"


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "–"
    return f"{value:.3g}"


def _pair(value: Any, name: str, n: Optional[int]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    try:
        chosen, rejected = value
    except (TypeError, ValueError):
        raise DirrmError(ERR_SHAPE, f"{name}: expected a (chosen, rejected) pair of arrays") from None
    c, r = np.asarray(chosen), np.asarray(rejected)
    if c.ndim != 1 or r.shape != c.shape or (n is not None and c.shape[0] != n):
        raise DirrmError(ERR_SHAPE, f"{name}: chosen {c.shape} and rejected {r.shape}; expected ({n},) each")
    return c, r


def audit(r_chosen: npt.ArrayLike, r_rejected: npt.ArrayLike,
          attributes: Optional[Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]] = None, *,
          lengths: Optional[tuple[npt.ArrayLike, npt.ArrayLike]] = None,
          texts: Optional[tuple[Sequence[str], Sequence[str]]] = None,
          categorical: Collection[str] = (),
          hidden: Optional[tuple[npt.ArrayLike, npt.ArrayLike]] = None,
          bootstrap: Optional[int] = None, level: Optional[float] = None, buckets: Optional[int] = None,
          club_steps: Optional[int] = None, club_batch: Optional[int] = None, q_hidden: Optional[int] = None,
          club_learning_rate: Optional[float] = None, seed: Optional[int] = None) -> Audit:
    """How much the rewards follow each attribute of the responses.

    Parameters
    ----------
    r_chosen, r_rejected : array_like, shape (n,), float32
        Each pair's rewards, the pair oriented by its label (chosen first).
    attributes : mapping of str to (chosen, rejected), optional
        Each attribute's value for the chosen and the rejected responses, shape (n,) each:
        numbers, or any labels for a name listed in ``categorical``.
    lengths : (chosen, rejected), optional
        Token counts, shape (n,) each: the attribute "length".
    texts : (chosen, rejected), optional
        The responses' texts, n strings each: "length" in characters (what AlpacaEval's
        length control uses), unless ``lengths`` is given.
    categorical : collection of str
        Names in ``attributes`` to audit one category at a time, as the indicator
        1[category = k], categories in sorted order (numbers numerically); with two
        categories, only the second (e.g. 1 of a 0/1 flag).
    hidden : (h_chosen, h_rejected), optional
        Hidden states, shape (n, d) float32 each, d <= 2^20 (q's input): adds the CLUB
        estimate of I(h; attribute).
    bootstrap, level, buckets, club_steps, club_batch, q_hidden, club_learning_rate, seed : optional
        dirrm_audit_params' fields; None: the library's default (see dirrm.h).

    Returns
    -------
    Audit
        One AttributeAudit per attribute (categorical ones per category).
    """
    rc, rr = as_f32(r_chosen, "r_chosen").reshape(-1), as_f32(r_rejected, "r_rejected").reshape(-1)
    if rc.shape != rr.shape:
        raise DirrmError(ERR_SHAPE, f"r_chosen has {rc.size} values but r_rejected has {rr.size}")
    n = rc.size
    columns: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
    if lengths is not None:
        lc, lr = _pair(lengths, "lengths", n)
        columns["length"] = (as_f32(lc, "lengths"), as_f32(lr, "lengths"))
    elif texts is not None:
        tc, tr = texts
        if len(tc) != n or len(tr) != n:
            raise DirrmError(ERR_SHAPE, f"texts: {len(tc)} chosen and {len(tr)} rejected for {n} pairs")
        columns["length"] = (np.array([len(t) for t in tc], np.float32), np.array([len(t) for t in tr], np.float32))
    unknown = set(categorical) - set(attributes or {})
    if unknown:
        raise DirrmError(ERR_INVALID_ARGUMENT, f"categorical names attributes not given: {sorted(unknown)}")
    for name, value in (attributes or {}).items():
        c, r = _pair(value, name, n)
        if name in categorical:
            values = set(c.tolist()) | set(r.tolist())
            try:
                levels = sorted(values)   # numbers in numeric order (as dirrm-cli audit sorts them)
            except TypeError:
                levels = sorted(values, key=str)
            for level_ in levels[1:] if len(levels) == 2 else levels:
                columns[f"{name}={level_}"] = ((c == level_).astype(np.float32), (r == level_).astype(np.float32))
        else:
            columns[name] = (as_f32(c, name), as_f32(r, name))
    if not columns:
        raise DirrmError(ERR_INVALID_ARGUMENT, "no attribute: give attributes, lengths or texts")
    hc = hr = None
    d = 0
    if hidden is not None:
        hc, hr = (as_f32(h, "hidden") for h in hidden)
        if hc.ndim != 2 or hr.shape != hc.shape or hc.shape[0] != n:
            raise DirrmError(ERR_SHAPE, f"hidden: chosen {hc.shape} and rejected {hr.shape}; expected ({n}, d) each")
        d = hc.shape[1]
    params = filled(AuditParams, bootstrap=bootstrap, level=level, buckets=buckets, club_steps=club_steps,
                    club_batch=club_batch, q_hidden=q_hidden, club_learning_rate=club_learning_rate, seed=seed)
    results = {}
    for name, (ac, ar) in columns.items():
        report = AuditReport(struct_size=ctypes.sizeof(AuditReport))
        size = max(int(params.buckets), 1)
        low, high = np.empty(size, np.float64), np.empty(size, np.float64)
        count, agree = np.empty(size, np.int64), np.empty(size, np.float64)
        try:
            check_call(lib.dirrm_audit(ctypes.byref(params), n, ptr(rc), ptr(rr), ptr(ac), ptr(ar), d, ptr(hc),
                                       ptr(hr), ctypes.byref(report), ptr(low), ptr(high), ptr(count), ptr(agree)))
        except DirrmError as error:
            raise DirrmError(error.status, f"attribute {name!r}: {error.message}") from None
        k = int(report.num_buckets)
        fields = {f: getattr(report, f) for f, _ in AuditReport._fields_ if f not in ("struct_size", "num_buckets")}
        results[name] = AttributeAudit(
            name=name, buckets=tuple(AuditBucket(float(low[i]), float(high[i]), int(count[i]), float(agree[i]))
                                     for i in range(k)), **fields)
    return Audit(results)
