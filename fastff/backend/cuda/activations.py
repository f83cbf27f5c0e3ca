"""Elementwise activations and their derivatives as CUDA device functions and kernels.

The arithmetic of each element is ``backend/scalar_act.py``'s body for that activation (the
one the CPU kernels run), compiled here with ``cuda.jit(device=True)``. ``act_forward(code,
v, p)`` and ``act_backward(code, dy, x, y, p)`` pick the body of an integer code
(``ACT_CODES``, from ``backend/spec.py``) with one ``if code == c`` per code, generated from
the table when built; the flat kernels and the GEMM epilogue call them. Derivatives use the
output y except where the spec row says otherwise (gelu, silu: the input x). Everything is
built per dtype, so every constant (``t(c)`` in the bodies) has the array's precision.
NVVM may contract multiply-adds into FMAs, so CPU and GPU agree to rounding (docs/gpu.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastff.backend import scalar_act as S
from fastff.backend import spec
from fastff.backend.cuda._cuda import cuda
from fastff.backend.cuda._launch import scalar_type

ACT_CODES = spec.codes()  # the elementwise codes of backend/spec.py


def _switch(signature: str, call: str, env: dict) -> Any:
    """A device function ``signature`` returning ``call`` (``{B}`` naming the body of the
    code): one branch per code in ``spec.CODE_NAMES``, the last code taking the rest."""
    name = signature.split("(", 1)[0]
    lines = [f"def {signature}:"]
    last = len(spec.CODE_NAMES) - 1
    for k in range(last + 1):
        lead = "else" if k == last else f"{'if' if k == 0 else 'elif'} code == {k}"
        lines += [f"    {lead}:", f"        return {call.replace('{B}', f'_b{k}')}"]
    exec(compile("\n".join(lines) + "\n", __file__, "exec"), env)
    return cuda.jit(device=True)(env[name])


@cache
def device_functions(dtype: Any) -> tuple[Any, Any, Any]:
    """``(sigmoid(v), act_forward(code, v, p), act_backward(code, dy, x, y, p))`` for dtype."""
    t = scalar_type(dtype)
    fwd = {"__name__": __name__, "t": t}
    bwd = {"__name__": __name__, "t": t}
    for k, name in enumerate(spec.CODE_NAMES):
        fwd[f"_b{k}"] = cuda.jit(device=True)(S.FORWARD[name])
        bwd[f"_b{k}"] = cuda.jit(device=True)(S.GRAD[name])
    act_forward = _switch("act_forward(code, v, p)", "{B}(v, p, t)", fwd)
    act_backward = _switch("act_backward(code, dy, x, y, p)", "{B}(dy, x, y, p, t)", bwd)
    body = fwd[f"_b{spec.code('sigmoid')}"]
    zero = t(0)

    @cuda.jit(device=True)
    def sigmoid(v):
        return body(v, zero, t)

    return sigmoid, act_forward, act_backward


@cache
def kernels(dtype: Any) -> tuple[Any, Any]:
    """``(forward(x, out, code, p), backward(dy, x, y, out, code, p))`` over flat arrays."""
    _, act_forward, act_backward = device_functions(dtype)

    @cuda.jit
    def forward(x, out, code, p):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, x.size, stride):
            out[i] = act_forward(code, x[i], p)

    @cuda.jit
    def backward(dy, x, y, out, code, p):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, dy.size, stride):
            out[i] = act_backward(code, dy[i], x[i], y[i], p)

    return forward, backward
