"""fastff.info() / python -m fastff info: names the kernel, never fails."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import fastff
from fastff import linalg


def test_info_prints_kernel_and_threads():
    buf = io.StringIO()
    fastff.info(file=buf)
    text = buf.getvalue()
    assert "kernel" in text and linalg.kernel_name() in text
    for label in ("cpu features", "threads", "numba", "cuda", "fastff"):
        assert label in text


def test_info_callable_even_after_submodule_import(capsys):
    import fastff.info as info_module  # the module or, once resolved lazily, the function

    buf = io.StringIO()
    info_module(file=buf)
    assert "kernel" in buf.getvalue()
    assert info_module.main(["--json"]) == 0
    assert fastff.info.main([]) == 0
    assert "kernel" in capsys.readouterr().out


def test_cli_json():
    out = subprocess.run([sys.executable, "-c",
                          "import sys, fastff.info as i; sys.exit(i.main(['--json']))"],
                         capture_output=True, text=True, check=True).stdout
    facts = json.loads(out)
    assert facts["kernel"] in ("ref", "avx2", "avx512")
    assert int(facts["threads"]) >= 1
    assert facts["threading"].startswith(("worker pool", "openmp"))
