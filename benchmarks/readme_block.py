"""Writing a generated table into README.md between <!-- NAME:begin --> and <!-- NAME:end -->,
for the benchmark scripts that keep a README table current."""

from __future__ import annotations


def replace_block(path: str, name: str, lines: list[str]) -> None:
    """Replaces what stands between the file's one pair of `name` markers with `lines`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(f"{path}: expected one {begin} ... {end} pair")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + begin + "\n" + "\n".join(lines).strip() + "\n" + end + tail)
