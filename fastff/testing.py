"""``check_grads``: a public central-difference gradient check in float64.

It clones the layer or model in float64 (the original is not touched), computes analytic
gradients with one forward/backprop, then perturbs every parameter element and every input
element by ±eps and compares. For a layer, or a model given no ``y``, the objective is
``Σ r ⊙ output`` with a fixed random ``r``; for a compiled model given ``y`` it is the model's loss
(fused output activation and regularizers included). Dropout keeps one fixed mask throughout.
A subclassed model (``class M(fastff.Model)``) has no config to clone from, so it is checked in
place: it must have ``dtype="float64"``; its weights are restored after each perturbation (its
gradient buffer is overwritten).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_grads"]


def _clone_state(src: Any, dst: Any) -> None:
    for attr in ("_mask_seed", "step"):
        if hasattr(src, attr):
            setattr(dst, attr, getattr(src, attr))


def _custom_objects(layers: list) -> dict:
    """Classes a config round trip must resolve: the layers' own and custom activations."""
    out = {}
    for layer in layers:
        out[type(layer).__name__] = type(layer)
        act = getattr(layer, "activation", None)
        if act is not None and not getattr(act, "builtin", True):
            out[type(act).__name__] = type(act)
    return out


def _clone_layer(layer: Any, input_shape: tuple[int, ...], ops: Any) -> Any:
    from fastff.layers import deserialize, serialize

    spec = serialize(layer)
    spec["config"] = dict(spec["config"], dtype="float64")
    clone = deserialize(spec, _custom_objects([layer]))
    clone.build_for(input_shape, "float64")
    if layer.built:
        clone.set_weights(layer.get_weights())
    _clone_state(layer, clone)
    clone.ops = ops
    return clone


def _clone_model(model: Any, input_shape: tuple[int, ...], ops: Any) -> Any:
    from fastff.models import Sequential

    cfg = dict(model.get_config())
    cfg["dtype"] = "float64"
    for lc in cfg["layers"]:
        lc["config"] = dict(lc["config"], dtype="float64")
    clone = Sequential.from_config(cfg, _custom_objects(model.layers))
    clone.build((None, *input_shape))  # batch axis explicit: (4, 3) is not (None, 3)
    if model.built:
        clone.set_weights(model.get_weights())
    for a, b in zip(model.layers, clone.layers):
        _clone_state(a, b)
    clone.loss = model.loss
    clone.ops = ops
    return clone


def check_grads(layer_or_model: Any, x: Any, y: Any = None, *, eps: float = 1e-6,
                tol: float = 1e-6, training: bool = True, seed: int = 0,
                ops: Any = None) -> float:
    """Max relative error between analytic and central-difference gradients.

    The error of each array (every parameter, and the input) is
    ``max|analytic − numeric| / max(max|analytic|, max|numeric|, 1e-3)``. Raises AssertionError
    naming the worst array and element when it exceeds ``tol``.
    """
    from fastff.backend import get_ops
    from fastff.layers import Layer
    from fastff.training import general as tr

    ops = ops or get_ops()
    x64 = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    rng = np.random.default_rng(seed)
    is_layer = isinstance(layer_or_model, Layer)
    subclassed = getattr(layer_or_model, "_auto_track", False)
    if is_layer:
        net = _clone_layer(layer_or_model, x64.shape[1:], ops)
        params = list(net.params)
    elif subclassed:
        net = layer_or_model
        if net.dtype != np.float64:
            raise ValueError(f"check_grads: a subclassed model is checked in place; create it "
                             f"with dtype='float64' (it has {net.dtype})")
        net._maybe_build(x64.shape[1:])
        net.ops = ops
        params = list(net._call_layer.params)
    else:
        net = _clone_model(layer_or_model, x64.shape[1:], ops)
        params = [p for layer in net.layers for p in layer.params]
    use_loss = not is_layer and y is not None
    if use_loss:
        if net.loss is None:
            raise ValueError("check_grads: compile the model (a loss) to check it against y")
        Y = net.loss.prepare_targets(np.asarray(y), np.dtype(np.float64))

    def run_layers(inp):
        h, bps = inp, []
        for layer in ([net] if is_layer else net._layers if subclassed else net.layers):
            h, bp = layer.forward(h, training)
            bps.append(bp)
        return h, bps

    if use_loss:
        def objective(inp):
            per_row, pen, _, _ = tr.forward_backward(net, inp, Y, None, None, need_dx=True)
            return float(per_row.mean()) + pen

        for p in params:
            p.grad[...] = 0
        _, _, _, dx = tr.forward_backward(net, x64, Y, None, None, need_dx=True)
        analytic = [p.grad.copy() for p in params]
        analytic_x = np.array(dx, copy=True)
    else:
        out, bps = run_layers(x64)
        r = rng.standard_normal(out.shape)

        def objective(inp):
            return float(np.sum(run_layers(inp)[0] * r))

        for p in params:
            p.grad[...] = 0
        d = r
        for bp in reversed(bps):
            d = bp(d, True)
        analytic = [p.grad.copy() for p in params]
        analytic_x = np.array(d, copy=True).reshape(x64.shape)

    def numeric(arr, f_inp):
        g = np.zeros(arr.shape)
        flat = arr.reshape(-1)
        gf = g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            fp = f_inp()
            flat[i] = old - eps
            fm = f_inp()
            flat[i] = old
            gf[i] = (fp - fm) / (2 * eps)
        return g

    worst = (0.0, "", None, 0.0, 0.0)
    results = []
    for p, a in zip(params, analytic):
        results.append((f"param {p.path}", a, numeric(p.value, lambda: objective(x64))))
    xin = x64.copy()
    results.append(("input x", analytic_x, numeric(xin, lambda: objective(xin))))
    for name, a, n in results:
        if a.size == 0:
            continue
        scale = max(float(np.abs(a).max()), float(np.abs(n).max()), 1e-3)
        diff = np.abs(a - n)
        err = float(diff.max()) / scale
        if err >= worst[0]:
            idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
            worst = (err, name, idx, float(a[idx]), float(n[idx]))
    err, name, idx, av, nv = worst
    if not err <= tol:
        raise AssertionError(f"check_grads: relative error {err:.3e} > tol {tol:.1e} in {name} "
                             f"at {idx}: analytic {av:.10g}, numeric {nv:.10g}")
    return err
