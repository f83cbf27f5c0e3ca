"""``python -m fastff demo`` end to end in a fresh process, as the README runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FASTFF_DATA", ROOT / ".." / "shared" / "data"))


def _run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "fastff", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _check_run(proc: subprocess.CompletedProcess, out: Path, target: float) -> float:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    match = re.search(r"Test accuracy: ([0-9.]+)", text)
    assert match, text[-2000:]
    accuracy = float(match.group(1))
    assert accuracy >= target
    assert 'Model: "demo_mlp"' in text and "Total params:" in text  # the summary
    assert re.search(r"Epoch 1/\d+\n\d+/\d+ - ", text)  # progress (plain lines: no TTY)
    assert "bitwise identical" in text
    assert (out / "demo_mlp.fastff").stat().st_size > 0
    assert (out / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return accuracy


def test_demo_digits(tmp_path):
    out = tmp_path / "out"
    proc = _run("demo", "--out", str(out), cwd=tmp_path)
    _check_run(proc, out, 0.97)


@pytest.mark.data
def test_demo_mnist(tmp_path):
    if not (DATA / "mnist_idx" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found under {DATA} (set FASTFF_DATA)")
    out = tmp_path / "out"
    proc = _run("demo", "--data", str(DATA), "--epochs", "2", "--verbose", "2", "--out",
                str(out), cwd=tmp_path)
    _check_run(proc, out, 0.90)
    assert "MNIST" in proc.stdout and "10000 test samples" in proc.stdout


def test_demo_exits_nonzero_when_the_target_is_missed(tmp_path, capsys):
    from fastff import demo

    data = demo.load_digits_data(seed=0)
    data.epochs = 1  # far too short to reach 0.97
    assert demo.run(data, str(tmp_path), verbose=0) == 1
    out = capsys.readouterr().out
    assert "MISSED" in out and "FAILED" in out and "bitwise identical" in out


def test_cli_errors(tmp_path):
    proc = _run("demo", "--epochs", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--epochs" in proc.stderr
    proc = _run("demo", "--data", str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2 and "cannot load the data" in proc.stderr
    proc = _run("fly", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown command 'fly'" in proc.stderr
    proc = _run(cwd=tmp_path)
    assert proc.returncode == 2 and "usage" in proc.stdout
    proc = _run("--help", cwd=tmp_path)
    assert proc.returncode == 0 and "demo" in proc.stdout
