"""Find the shared data directory.

Examples take ``--data DIR``; tests and scripts may set ``FASTFF_DATA`` instead.
Without either, the conventional checkout layout ``<repo>/../shared/data`` is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._io import PathLike

ENV_VAR = "FASTFF_DATA"
_HINT = f"set the environment variable {ENV_VAR} or pass --data DIR to select the data directory"


def _candidates(data_dir: PathLike | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env)]
    repo_root = Path(__file__).resolve().parents[2]
    return [Path.cwd() / ".." / "shared" / "data", repo_root / ".." / "shared" / "data"]


def data_root(data_dir: PathLike | None = None) -> Path:
    """Return the data directory.

    Order of precedence: the ``data_dir`` argument; else the environment variable
    ``FASTFF_DATA``; else ``../shared/data`` relative to the current directory, then
    relative to the repository checkout that holds this package (so running from
    the repo root works). Raises ``FileNotFoundError`` when the chosen directory does
    not exist.
    """
    candidates = _candidates(data_dir)
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(f"data directory not found (tried {tried}); {_HINT}")


def data_file(relative: PathLike, data_dir: PathLike | None = None) -> Path:
    """Path of ``relative`` inside the data directory; ``FileNotFoundError`` naming it if absent."""
    root = data_root(data_dir)
    path = root / relative
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}; {_HINT}")
    return path
