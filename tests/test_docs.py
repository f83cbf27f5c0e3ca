"""Every ```python block of docs/*.md runs, so the documentation cannot drift from the code.

A file's blocks run in order in one namespace, in a temporary directory (``/tmp/`` in the
text becomes that directory). A block that is a sketch rather than a program (it names
undefined data, a GPU, MPI ranks) is marked on the line before its fence with
``<!-- docs-test: skip: <reason> -->``; a reason is required. A block that imports an
optional package which is not installed skips the file with that reason.
"""

from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).parents[1] / "docs"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b:?\s*(.*?)\s*-->\s*$")
# optional packages a docs example may need; missing → skip (anything else missing fails)
OPTIONAL = {"onnx", "onnxruntime", "sklearn", "h5py", "keras", "matplotlib", "mpi4py",
            "numba_cuda", "torch"}


def blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of each python block of ``text``."""
    out = []
    for m in _FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.search(before)
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1),
                    None if skip is None else skip.group(1)))
    return out


PAGES = sorted(p.name for p in DOCS.glob("*.md") if blocks(p.read_text()))


def test_blocks_parser():
    text = ("intro\n```python\nx = 1\n```\n\n<!-- docs-test: skip: needs MPI -->\n"
            "```python\nrun_on_ranks()\n```\n```sh\nls\n```\n")
    assert blocks(text) == [(3, "x = 1\n", None), (8, "run_on_ranks()\n", "needs MPI")]


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = blocks((DOCS / page).read_text())
    for line, _, reason in found:
        assert reason is None or reason, f"docs/{page}:{line}: a skip marker needs a reason"
    runnable = [(line, code) for line, code, reason in found if reason is None]
    if not runnable:
        pytest.skip(f"docs/{page}: every block is marked as a sketch")
    namespace: dict = {"__name__": f"docs_{page[:-3]}"}
    for line, code in runnable:
        # keep the page's line numbers in tracebacks
        source = "\n" * (line - 1) + code.replace("/tmp/", f"{tmp_path}/")
        try:
            exec(compile(source, f"docs/{page}", "exec"), namespace)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] in OPTIONAL:
                pytest.skip(f"docs/{page}:{line} needs the optional package {e.name!r}")
            raise
