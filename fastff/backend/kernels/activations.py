"""Elementwise activations and their derivatives over flat arrays (one code per activation).

The arithmetic of each element is ``backend/scalar_act.py``'s body for that activation,
compiled inline here; this module only adds the loops, and the spec table
(``backend/spec.py``) says which body a code runs. The code is chosen outside the element
loop, so each loop stays simple enough to vectorise and one compiled function serves every
activation (one compile per dtype keeps first-call latency low). Range kernels slice their
arrays to ``[lo, hi)`` and loop from 0, so indices are provably non-negative. Derivatives use
the output y except where the spec row says otherwise (gelu, silu: the input x).

Each kernel is one ``if code == c`` branch per code around a loop template, generated from
the table when this module loads (``_switch``): the bodies are then plain global calls that
Numba inlines before typing, so a kernel compiles as one function, as if written out by hand.
The generated functions carry this file's name, so Numba's on-disk cache keeps them; a body
edited in ``scalar_act.py`` needs the cache cleared (``*.nbi``/``*.nbc``), as any callee does.
"""

from __future__ import annotations

from numba import njit

from fastff.backend import scalar_act as S
from fastff.backend import spec
from fastff.backend.kernels import NJIT

_INLINE = {"inline": "always", "error_model": "numpy"}
#: the activations ``act_backward_bias`` runs: what a Dense layer fuses (``spec.EPILOGUE``)
#: but linear
_FUSED = tuple(n for n in spec.CODE_NAMES if n in spec.EPILOGUE and n != "linear")


def _switch(header: str, loop: str, names: tuple[str, ...], tail: str = "") -> object:
    """A jitted function: ``header`` (its signature and prologue), then for each activation
    in ``names`` a branch ``if code == <its code>:`` running ``loop`` with ``{F}`` / ``{G}``
    naming its compiled forward / derivative body, then ``tail``."""
    env = {"__name__": __name__}
    lines = [header.rstrip()]
    for k, name in enumerate(names):
        env[f"_f{k}"] = njit(**_INLINE)(S.FORWARD[name])
        env[f"_g{k}"] = njit(**_INLINE)(S.GRAD[name])
        body = loop.replace("{F}", f"_f{k}").replace("{G}", f"_g{k}")
        lines.append(f"    {'if' if k == 0 else 'elif'} code == {spec.code(name)}:")
        lines.append(body.rstrip("\n"))
    lines.append(tail.rstrip())
    fname = header.split("def ", 1)[1].split("(", 1)[0]
    exec(compile("\n".join(lines) + "\n", __file__, "exec"), env)
    return njit(**NJIT)(env[fname])


act_forward_range = _switch('''
def act_forward_range(x, out, code, p, lo, hi):
    """out[lo:hi] = act(x[lo:hi]) for the activation ``code`` with parameter ``p``."""
    x = x[lo:hi]
    out = out[lo:hi]
    t = x.dtype.type
''', '''
        for i in range(hi - lo):
            out[i] = {F}(x[i], p, t)
''', spec.CODE_NAMES)


act_backward_range = _switch('''
def act_backward_range(dy, x, y, out, code, p, lo, hi):
    """out[lo:hi] = dy * act'(.) from y (or x where the spec row needs the input)."""
    dy = dy[lo:hi]
    x = x[lo:hi]
    y = y[lo:hi]
    out = out[lo:hi]
    t = dy.dtype.type
''', '''
        for i in range(hi - lo):
            out[i] = {G}(dy[i], x[i], y[i], p, t)
''', spec.CODE_NAMES)


act_backward_bias = _switch('''
def act_backward_bias(dy, y, out, db, code, p):
    """Fused dense-backward prologue on 2-D (n, c) arrays: out = dy * act'(y) and
    db = column sums of out (rows added in order: deterministic) in one pass.

    Loops for the activations a Dense layer fuses (``spec.EPILOGUE`` but linear); returns
    False (nothing done) for any other code, which the caller then runs as the elementwise
    kernel plus the column sums. (Compiling only those bodies here keeps this function's
    first-call compile short.)
    """
    n, c = dy.shape
    t = dy.dtype.type
    for j in range(c):
        db[j] = t(0)
''', '''
        for i in range(n):
            for j in range(c):
                v = {G}(dy[i, j], y[i, j], y[i, j], p, t)
                out[i, j] = v
                db[j] += v
''', _FUSED, '''
    else:
        return False
    return True
''')


@njit(**NJIT)
def act_forward(x, out, code, p):
    act_forward_range(x, out, code, p, 0, x.size)


@njit(**NJIT)
def act_backward(dy, x, y, out, code, p):
    act_backward_range(dy, x, y, out, code, p, 0, dy.size)
