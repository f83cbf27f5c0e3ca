"""cffi build script for ``fastff._core`` (out-of-line API mode).

Used by ``setup.py`` (``cffi_modules=["csrc/build_core.py:ffibuilder"]``) and runnable by hand:
``python csrc/build_core.py`` builds the module next to the sources' package.

Environment variables read at build time:

* ``FASTFF_SANITIZE=1``  build with ``-fsanitize=address,undefined`` (debugging; see docs/gemm.md
  for how to run Python with the ASan runtime preloaded).
* ``FASTFF_NO_OPENMP=1`` build without OpenMP (for compilers that lack it); the core then runs
  single-threaded.
* ``FASTFF_REF_ONLY=1``  compile only the portable reference kernel (also automatic off x86).
* ``FASTFF_EXTRA_CFLAGS`` extra compiler flags, space separated.

Never ``-march=native``: the SIMD kernels use per-function ``target`` attributes and are chosen
at run time, so one build runs on any x86-64 CPU.
"""

from __future__ import annotations

import os
import platform
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(path: str) -> str:
    """setuptools wants source paths relative to the project root (the cwd of a build)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # different drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _cdef() -> str:
    """The declarations between the cdef markers of fastff.h."""
    with open(os.path.join(HERE, "fastff.h"), encoding="utf-8") as fh:
        text = fh.read()
    match = re.search(r"/\* cdef-begin \*/(.*)/\* cdef-end \*/", text, re.S)
    if match is None:
        raise RuntimeError("csrc/fastff.h lacks the cdef-begin/cdef-end markers")
    return match.group(1)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


SOURCES = [
    "dispatch.c",
    "driver.c",
    "sparse.c",
    "threads.c",
    "pool.c",
    "batch.c",
    "macrokernel.c",
    "pack.c",
    "epilogue.c",
    "ukr_ref.c",
]
X86_SOURCES = [
    "cpu_x86.c",
    "act_x86.c",
    "ukr_avx2_s.c",
    "ukr_avx2_d.c",
    "ukr_avx512_s.c",
    "ukr_avx512_d.c",
]


def _build_options() -> dict:
    cflags = ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-math-errno", "-Wall"]
    ldflags: list[str] = []
    libraries: list[str] = []
    macros: list[tuple[str, str | None]] = []
    sources = list(SOURCES)
    have_simd = all(os.path.exists(os.path.join(HERE, s)) for s in X86_SOURCES)
    if _is_x86() and have_simd and not _flag("FASTFF_REF_ONLY"):
        sources += X86_SOURCES
    else:
        macros.append(("FASTFF_REF_ONLY", "1"))
    if not _flag("FASTFF_NO_OPENMP"):
        cflags.append("-fopenmp")
        ldflags.append("-fopenmp")
        libraries.append("gomp")
    libraries.append("pthread")
    if _flag("FASTFF_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
        cflags = [f for f in cflags if f != "-O3"] + ["-O1"] + san
        ldflags += san
    cflags += os.environ.get("FASTFF_EXTRA_CFLAGS", "").split()
    return {
        "sources": [_rel(os.path.join(HERE, s)) for s in sources],
        "include_dirs": [_rel(HERE)],
        "extra_compile_args": cflags,
        "extra_link_args": ldflags,
        "libraries": libraries,
        "define_macros": macros,
    }


ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source("fastff._core", '#include "fastff.h"', **_build_options())

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "cffi"), verbose=True)
