"""A writer SIGKILLed mid-save leaves no temporary file next to the model (O_TMPFILE on
Linux; elsewhere, or where O_TMPFILE is unavailable, the next save removes the temporary
files of dead writers), and the previous file stays intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastff import saving

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# the child writes a file and blocks in fsync (the data is written, the rename not done)
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from fastff import saving
    if sys.argv[2] == "named":
        os.O_TMPFILE = 0  # force the named-temporary-file path
        del os.O_TMPFILE
    def slow_fsync(fd):
        print("writing", flush=True)
        time.sleep(120)
    os.fsync = slow_fsync
    saving.write_file(sys.argv[1], {"kind": "weights"},
                      {"weights": [("w", np.ones(1 << 18, np.float32))]})
""")


def _kill_mid_save(path, how):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), how],
                             stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline().strip() == b"writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    return child.pid


def _others(directory, keep):
    return sorted(n for n in os.listdir(directory) if n != keep)


@pytest.mark.parametrize("how", ["auto", "named"])
def test_sigkill_mid_save_leaves_nothing(tmp_path, how):
    path = tmp_path / "model.fastff"
    saving.write_file(path, {"kind": "weights"}, {"weights": [("w", np.zeros(3))]})
    before = path.read_bytes()
    pid = _kill_mid_save(path, how)
    assert path.read_bytes() == before  # the previous file is intact
    left = _others(tmp_path, "model.fastff")
    if how == "named" or not saving._tmpfile_linkable(str(tmp_path)):
        assert left and all(f".{pid}." in n for n in left)  # the dead writer's file ...
    else:
        assert left == []  # O_TMPFILE: nothing was ever named
    saving.write_file(path, {"kind": "weights"}, {"weights": [("w", np.ones(3))]})
    assert _others(tmp_path, "model.fastff") == []  # ... is gone after the next save
    _, arrays = saving.read_file(path)
    np.testing.assert_array_equal(arrays["weights"][0][1], np.ones(3))


def test_live_writers_temp_file_kept(tmp_path):
    """A temporary file whose pid is running (a concurrent writer) is not removed."""
    live = tmp_path / f".model.fastff.{os.getppid()}.abcdef.tmp"
    live.write_bytes(b"partial")
    saving.write_file(tmp_path / "model.fastff", {"kind": "weights"}, {"weights": []})
    assert live.exists()
