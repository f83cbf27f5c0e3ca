"""fastff's own exception types in one namespace (docs/errors.md says when each is raised).

Each class lives with the code that raises it; this module only re-exports them, loading
the defining module on first access (PEP 562), so ``import fastff.errors`` stays cheap.
Every one also derives from a built-in type (``ValueError``, ``RuntimeError``,
``TypeError``, ``ImportError``, ``OSError``), so ``except ValueError`` code keeps working.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> defining module
_WHERE = {
    "FormatError": "fastff.saving",
    "NotCompiledError": "fastff._validation",
    "GemmError": "fastff.linalg",
    "MissingMPIError": "fastff.distribution._mpi",
    "DisagreementError": "fastff.distribution._mpi",
    "OpsError": "fastff.ops.tape",
    "NoGradientError": "fastff.ops.tape",
    "DownloadError": "fastff.utils.file_utils",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'fastff.errors' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
