"""Issue 23: the demo's figures can be compared and its table says how much a seed matters.

Each pairs-<method>.svg draws the same seed's test pairs on the same axes (the frame's
data-x-min/-max and data-y-min/-max, which every chart carries), no point or line touches the
frame, the legends sit outside the frame, and the demo prints each metric's mean ± std over 3
seeds. A small demo (--prompt-count 100, one epoch) keeps this fast; `make demo` runs the
full one (test_readme_blocks.py)."""

import os
import re
from pathlib import Path

import pytest

from cli_helpers import CLI, run_cli

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")

METHODS = ["vanilla", "DIR", "prompt-free", "DIR-and-prompt-free"]
LABELS = ["vanilla", "DIR", "prompt-free", "DIR + prompt-free"]


def attributes(tag):
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def frame(svg):
    """The plot frame: its data ranges and its pixel box (left, top, right, bottom)."""
    tags = re.findall(r'<rect class="frame"[^>]*>', svg)
    assert len(tags) == 1, tags
    a = attributes(tags[0])
    ranges = tuple(float(a[k]) for k in ("data-x-min", "data-x-max", "data-y-min", "data-y-max"))
    x, y, w, h = (float(a[k]) for k in ("x", "y", "width", "height"))
    return ranges, (x, y, x + w, y + h)


def assert_strictly_inside(point, box, radius=0.0):
    px, py = point
    left, top, right, bottom = box
    assert left < px - radius and px + radius < right and top < py - radius and py + radius < bottom, (point, box)


def legend_left_edge(svg):
    group = re.search(r'<g class="legend">(.*?)</g>', svg, re.S)
    assert group, "no legend"
    xs = [float(a["x"]) for a in map(attributes, re.findall(r"<(?:rect|text)[^>]*>", group.group(1)))]
    assert xs
    return min(xs)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run = run_cli("demo", "--out", out, "--seeds", 3, "--epochs", 1, "--prompt-count", 100, timeout=300)
    assert run.returncode == 0, run.stderr
    return out, run.stdout


def test_the_pairs_figures_share_their_axes_and_keep_points_off_the_frame(demo):
    out, _ = demo
    shared = None
    for method in METHODS:
        svg = (Path(out) / f"pairs-{method}.svg").read_text(encoding="utf-8")
        ranges, box = frame(svg)
        assert ranges[0] < ranges[1] and ranges[2] < ranges[3], ranges
        shared = shared or (ranges, box)
        assert (ranges, box) == shared, (method, ranges, shared)
        circles = [attributes(tag) for tag in re.findall(r"<circle [^>]*>", svg)]
        assert len(circles) > 100, method
        for c in circles:
            assert_strictly_inside((float(c["cx"]), float(c["cy"])), box, float(c["r"]))
        assert legend_left_edge(svg) > box[2], method


def test_the_shared_axes_are_padded_around_every_method_s_points(demo):
    out, _ = demo
    xs, ys = [], []
    for method in METHODS:
        svg = (Path(out) / f"pairs-{method}.svg").read_text(encoding="utf-8")
        (x0, x1, y0, y1), (left, top, right, bottom) = frame(svg)
        for c in map(attributes, re.findall(r"<circle [^>]*>", svg)):
            # Back from pixels to data, through the frame's own mapping.
            xs.append(x0 + (float(c["cx"]) - left) / (right - left) * (x1 - x0))
            ys.append(y1 - (float(c["cy"]) - top) / (bottom - top) * (y1 - y0))
    # The range is the points' range and a margin on each side: no wider than needed.
    for low, high, values in [(x0, x1, xs), (y0, y1, ys)]:
        span = max(values) - min(values)
        assert low < min(values) and max(values) < high
        assert min(values) - low < 0.1 * span and high - max(values) < 0.1 * span


def test_the_loss_curves_stay_inside_and_the_legend_outside(demo):
    out, _ = demo
    svg = (Path(out) / "curves.svg").read_text(encoding="utf-8")
    _, box = frame(svg)
    lines = re.findall(r'<polyline [^>]*points="([^"]*)"', svg)
    assert len(lines) == 4
    for points in lines:
        for point in points.split():
            assert_strictly_inside(tuple(map(float, point.split(","))), box)
    assert legend_left_edge(svg) > box[2]
    legend = re.search(r'<g class="legend">(.*?)</g>', svg, re.S).group(1)
    assert re.findall(r">([^<]+)</text>", legend) == LABELS


def test_the_demo_prints_mean_and_std_over_three_seeds(demo):
    _, stdout = demo
    assert "Mean ± std over 3 seeds, library defaults except 100 prompts, epochs 1:" in stdout, stdout
    for label in LABELS:
        row = re.search(rf"^{re.escape(label)}\s+\|(.*)$", stdout, re.M)
        assert row, (label, stdout)
        cells = [c.strip() for c in row.group(1).split("|")]
        assert len(cells) == 5 and all(re.fullmatch(r"-?\d+\.\d{3} ± \d+\.\d{3}", c) for c in cells), cells
    by_seed = stdout[stdout.index("Test accuracy by seed:"):]
    assert re.search(r"^method\s+\| seed 0\s+\| seed 1\s+\| seed 2$", by_seed, re.M), by_seed
    # Whether the seeds agree on the methods' order, said either way.
    assert re.search(r"^(Every seed ranks|The seeds rank) the methods", by_seed, re.M), by_seed
