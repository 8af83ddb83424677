"""The repository carries its own documentation (docs/) and refers to nothing outside itself.

Over the tracked files (git ls-files):
  (a) no file names the old specification file or a path into the folder beside the checkout
      that held it, nor hard-codes an absolute path beside the checkout;
  (b) every citation of a docs file, with or without a section sign, names a tracked docs file
      and, with one, a numbered section of it; the docs files number their sections 1, 2, ...;
  (c) every repository path that docs/*.md cite in backticks, and every relative link of a
      tracked Markdown file, is a tracked file or folder;
  (d) the types and functions docs/*.md name next to a file appear in that file, and the tests
      they name exist, so that a rename shows up here rather than as a stale page.

The patterns below are written so that this file's own text does not match them: no exemption
is needed.
"""

import fnmatch
import os
import re
import subprocess

import pytest

from conftest import REPO

# (a) The specification used to live beside the checkout: its file name, and a path into the
# folder that held it, written relatively or absolutely. A character class keeps this source
# from containing the folder name followed by a slash.
OUTSIDE = [
    (re.compile(r"\bspec\.md\b", re.I), "names the specification file kept outside the repository"),
    (re.compile(r"\bSPEC\b"), "refers to the specification kept outside the repository"),
    (re.compile(r"(?<![\w.$-])(?:\.\./)+shared\b"), "a relative path into the folder beside the checkout"),
    (re.compile(r"(?<![\w.$-])shared[/]"), "a path into the folder beside the checkout"),
]

# (b) docs/<name>.md, optionally followed (after a closing bracket or parenthesis of a Markdown
# link) by a section sign and a section number such as 2 or 2.3.
DOCS_CITATION = re.compile(r"\bdocs/([\w-]+)\.md[)\]]*(?:\s*§\s*(\d+(?:\.\d+)?))?")
# Inside docs/: a relative Markdown link to a sibling page followed by a section sign.
SIBLING_CITATION = re.compile(r"\]\(([\w-]+)\.md\)\s*§\s*(\d+(?:\.\d+)?)")
SECTION = re.compile(r"^## (\d+)\. \S", re.M)
SUBSECTION = re.compile(r"^### (\d+\.\d+) \S", re.M)

# (c) and (d)
BACKTICKED = re.compile(r"`([^`\n]+)`")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
CITED_WITH_NAMES = re.compile(
    r"`(?P<path>[\w.+-]+(?:/[\w.+-]+)+)`"
    r"(?:\s*\((?P<paren>[^()]*)\)|(?P<list>(?:,\s*`[A-Za-z_][\w.]*`)+))"
)
IDENTIFIER = re.compile(r"`([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)`")
TEST_NAME = re.compile(r"`(test_\w+)`")


def tracked_files():
    try:
        out = subprocess.run(
            ["git", "-C", REPO, "ls-files", "-z"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return sorted(p for p in out.decode().split("\0") if p)


FILES = None


def files():
    global FILES
    if FILES is None:
        FILES = tracked_files()
    return FILES


def folders():
    out = set()
    for path in files():
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def text_of(path):
    """The file's text, or None for a binary file (fuzz corpora) or one missing from the
    working tree."""
    try:
        with open(os.path.join(REPO, path), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def texts():
    for path in files():
        text = text_of(path)
        if text is not None:
            yield path, text


def docs_pages():
    return [p for p in files() if re.fullmatch(r"docs/[\w-]+\.md", p)]


def sections(page):
    text = text_of(page) or ""
    return {m.group(1) for m in SECTION.finditer(text)} | {m.group(1) for m in SUBSECTION.finditer(text)}


def line_of(text, index):
    return text.count("\n", 0, index) + 1


def test_docs_pages_exist_and_number_their_sections_from_one():
    pages = docs_pages()
    assert "docs/mathematics.md" in pages, pages
    for page in pages:
        numbers = [int(m.group(1)) for m in SECTION.finditer(text_of(page) or "")]
        assert numbers == list(range(1, len(numbers) + 1)), (page, numbers)
    numbers = [int(m.group(1)) for m in SECTION.finditer(text_of("docs/mathematics.md"))]
    assert numbers == [1, 2, 3, 4, 5, 6], numbers


def test_nothing_refers_outside_the_repository():
    patterns = list(OUTSIDE)
    # An absolute path into the folder that holds the checkout hard-codes this machine's
    # layout (where the old specification sat), whatever it names there.
    parent = os.path.dirname(REPO.rstrip("/"))
    if len(parent) > 1:
        patterns.append(
            (re.compile(r"(?<![\w.-])" + re.escape(parent) + r"/"), f"an absolute path under {parent}")
        )
    found = []
    for path, text in texts():
        for pattern, why in patterns:
            for m in pattern.finditer(text):
                found.append(f"{path}:{line_of(text, m.start())}: {m.group(0)!r}: {why}")
    assert not found, "\n".join(found)


def test_every_docs_citation_names_a_page_and_a_section():
    pages = set(docs_pages())
    bad = []
    for path, text in texts():
        citations = [(f"docs/{m.group(1)}.md", m.group(2), m.start()) for m in DOCS_CITATION.finditer(text)]
        if path.startswith("docs/"):
            citations += [(f"docs/{m.group(1)}.md", m.group(2), m.start()) for m in SIBLING_CITATION.finditer(text)]
        for page, section, at in citations:
            where = f"{path}:{line_of(text, at)}"
            if page not in pages:
                bad.append(f"{where}: {page} is not a tracked docs page")
            elif section is not None and section not in sections(page):
                bad.append(f"{where}: {page} has no section {section}")
    assert not bad, "\n".join(bad)


def test_every_path_the_docs_cite_exists():
    tracked = set(files())
    dirs = folders()
    top = {p.split("/")[0] for p in tracked}
    path_token = re.compile(r"(?<![\w.$/-])((?:" + "|".join(map(re.escape, sorted(top))) + r")(?:/[\w.*+-]+)*/?)(?![\w-])")

    def exists(candidate):
        candidate = candidate.rstrip("/")
        if "*" in candidate:
            return any(fnmatch.fnmatch(p, candidate) for p in tracked)
        return candidate in tracked or candidate in dirs

    bad = []
    for page in docs_pages():
        text = text_of(page)
        for span in BACKTICKED.finditer(text):
            for m in path_token.finditer(span.group(1)):
                token = m.group(1)
                # A bare top-level name is a path only when it is a file (`Makefile`) or a
                # folder written with its slash (`scripts/`); `make`, `docs` and the like are words.
                if "/" not in token and token not in tracked:
                    continue
                if not exists(token):
                    bad.append(f"{page}:{line_of(text, span.start())}: `{token}` is not tracked")
    for path in tracked:
        if not path.endswith(".md"):
            continue
        text = text_of(path)
        if text is None:
            continue
        for m in MARKDOWN_LINK.finditer(text):
            target = m.group(1).split("#")[0]
            if not target or re.match(r"[a-z][a-z+.-]*:", target):
                continue  # an anchor in the same page, or a URL
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
            if resolved.startswith("..") or not exists(resolved):
                bad.append(f"{path}:{line_of(text, m.start())}: link to {target} is not a tracked file")
    assert not bad, "\n".join(bad)


def test_names_the_docs_give_next_to_a_file_are_in_it():
    tracked = set(files())
    test_sources = "\n".join(
        text_of(p) or "" for p in sorted(tracked) if p.startswith("Tests/") or "/tests/" in p
    )
    bad = []
    for page in docs_pages():
        text = text_of(page)
        for m in CITED_WITH_NAMES.finditer(text):
            path = m.group("path")
            if path not in tracked:
                continue  # reported by test_every_path_the_docs_cite_exists
            source = text_of(path) or ""
            names = IDENTIFIER.findall(m.group("paren") or m.group("list") or "")
            for name in names:
                missing = [part for part in name.split(".") if not re.search(r"\b" + re.escape(part) + r"\b", source)]
                if missing:
                    bad.append(f"{page}:{line_of(text, m.start())}: `{name}` is not in {path}")
        for m in TEST_NAME.finditer(text):
            if not re.search(r"\b(def|func) " + re.escape(m.group(1)) + r"\b", test_sources):
                bad.append(f"{page}:{line_of(text, m.start())}: no test named {m.group(1)}")
    assert not bad, "\n".join(bad)


def test_no_file_keeps_a_merge_conflict():
    """A conflict resolved by `git add` on the wrong file once left markers in the README."""
    marker = re.compile(r"^(<{7} |={7}$|>{7} )", re.M)
    stuck = [path for path, text in texts() if marker.search(text)]
    assert not stuck, stuck
