"""Command line: ``python -m fastff demo [...]`` and ``python -m fastff info [...]``."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]

_USAGE = """usage: python -m fastff <command> [options]

commands:
  demo   train an MLP on a real data set with a live progress bar, save and reload it
         (python -m fastff demo --help)
  info   print the version, CPU features, GEMM kernel, threads, Numba and CUDA status
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(_USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from fastff.demo import main as run
    elif command == "info":
        from fastff.info import main as run
    else:
        sys.stderr.write(f"fastff: unknown command {command!r}\n\n{_USAGE}")
        return 2
    try:
        return int(run(rest) or 0)
    except BrokenPipeError:  # e.g. `python -m fastff info | head`: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("\nfastff: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
