"""fastff.ops: every op's VJP against central differences in float64 (broadcast shapes, axis
arguments, keepdims, 0-d), operator/NumPy dispatch, errors, and that the tape keeps nothing."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

from fastff import ops
from fastff.ops import tape as tape_mod
from tests._gradcheck import numeric_input_grads

RNG = np.random.default_rng(0)


def rnd(*shape, lo=None):
    a = RNG.standard_normal(shape)
    if lo is not None:  # keep away from kinks / out of domain
        a = np.abs(a) + lo
    return a


def check(f, *xs, tol=1e-6):
    """Tape gradients of ``sum(f(*xs) * r)`` against central differences, for every x."""
    xs = [np.array(x, dtype=np.float64) for x in xs]
    out = np.asarray(f(*xs))
    r = np.random.default_rng(1).standard_normal(out.shape)
    with ops.GradientTape() as t:
        ws = t.watch(xs)
        y = ops.sum(ops.multiply(f(*ws), r))
    grads = t.gradient(y, ws)
    numeric = numeric_input_grads(lambda arrs: float(np.sum(np.asarray(f(*arrs)) * r)), xs)
    for g, n, x in zip(grads, numeric, xs):
        assert g is not None
        assert g.shape == x.shape
        scale = max(np.abs(n).max(initial=0), np.abs(g).max(initial=0), 1e-3)
        assert np.abs(g - n).max(initial=0) / scale < tol, (g, n)


# (name, function, inputs)
CASES = [
    ("add_broadcast", ops.add, [rnd(3, 4), rnd(4)]),
    ("add_0d", ops.add, [rnd(), rnd(2, 3)]),
    ("subtract_col", ops.subtract, [rnd(3, 1), rnd(1, 4)]),
    ("multiply", ops.multiply, [rnd(2, 3, 4), rnd(3, 1)]),
    ("divide", ops.divide, [rnd(3, 4), rnd(4, lo=0.5)]),
    ("negative", ops.negative, [rnd(5)]),
    ("power_both", ops.power, [rnd(3, 2, lo=0.5), rnd(2)]),
    ("power_scalar", lambda x: ops.power(x, 3), [rnd(4)]),
    ("matmul_2d", ops.matmul, [rnd(3, 4), rnd(4, 2)]),
    ("matmul_batch_bcast", ops.matmul, [rnd(2, 3, 4), rnd(4, 5)]),
    ("matmul_vec_mat", ops.matmul, [rnd(4), rnd(4, 3)]),
    ("matmul_mat_vec", ops.matmul, [rnd(3, 4), rnd(4)]),
    ("matmul_batch_both", ops.matmul, [rnd(2, 1, 3, 4), rnd(3, 4, 2)]),
    ("dot_vec", ops.dot, [rnd(4), rnd(4)]),
    ("dot_mat", ops.dot, [rnd(3, 4), rnd(4, 2)]),
    ("dot_scalar", ops.dot, [rnd(), rnd(3)]),
    ("sum_all", ops.sum, [rnd(3, 4)]),
    ("sum_axis", lambda x: ops.sum(x, axis=1), [rnd(3, 4, 2)]),
    ("sum_axes_keep", lambda x: ops.sum(x, axis=(0, 2), keepdims=True), [rnd(3, 4, 2)]),
    ("sum_0d", ops.sum, [rnd()]),
    ("mean_neg_axis", lambda x: ops.mean(x, axis=-1), [rnd(3, 4)]),
    ("mean_keep", lambda x: ops.mean(x, axis=0, keepdims=True), [rnd(3, 4)]),
    ("max_axis", lambda x: ops.max(x, axis=1), [rnd(3, 5)]),
    ("max_all_keep", lambda x: ops.max(x, keepdims=True), [rnd(3, 5)]),
    ("min_axis", lambda x: ops.min(x, axis=0), [rnd(3, 5)]),
    ("var_axis", lambda x: ops.var(x, axis=1), [rnd(3, 5)]),
    ("var_all", ops.var, [rnd(3, 5)]),
    ("std_keep", lambda x: ops.std(x, axis=0, keepdims=True), [rnd(4, 3)]),
    ("square", ops.square, [rnd(3)]),
    ("sqrt", ops.sqrt, [rnd(3, 2, lo=0.3)]),
    ("exp", ops.exp, [rnd(3, 2)]),
    ("expm1", ops.expm1, [rnd(3)]),
    ("log", ops.log, [rnd(3, 2, lo=0.3)]),
    ("log1p", ops.log1p, [rnd(4, lo=0.1)]),
    ("abs", ops.abs, [rnd(3, 3, lo=0.1) * np.sign(rnd(3, 3))]),
    ("sign", lambda x: ops.multiply(ops.sign(x), x), [rnd(5, lo=0.1)]),
    ("clip", lambda x: ops.clip(x, -0.5, 0.5), [np.array([-1.0, -0.2, 0.1, 0.9, 0.3])]),
    ("maximum", ops.maximum, [rnd(3, 4), rnd(4)]),
    ("minimum", ops.minimum, [rnd(3, 1), rnd(3, 4)]),
    ("where", lambda a, b: ops.where(a > 0, a, b), [rnd(3, 4), rnd(4)]),
    ("erf", ops.erf, [rnd(4)]),
    ("norm", lambda x: ops.norm(x, axis=-1), [rnd(3, 4)]),
    ("norm_all", ops.norm, [rnd(3, 4)]),
    ("reciprocal", ops.reciprocal, [rnd(3, lo=0.5)]),
    ("relu", ops.relu, [rnd(3, 4, lo=0.05) * np.sign(rnd(3, 4))]),
    ("sigmoid", ops.sigmoid, [rnd(3, 4)]),
    ("tanh", ops.tanh, [rnd(3, 4)]),
    ("softplus", ops.softplus, [rnd(3, 4) * 3]),
    ("elu", ops.elu, [rnd(3, 4, lo=0.05) * np.sign(rnd(3, 4))]),
    ("selu", ops.selu, [rnd(3, 4, lo=0.05) * np.sign(rnd(3, 4))]),
    ("gelu_tanh", ops.gelu, [rnd(3, 4)]),
    ("gelu_exact", lambda x: ops.gelu(x, approximate=False), [rnd(3, 4)]),
    ("leaky_relu", ops.leaky_relu, [rnd(3, 4, lo=0.05) * np.sign(rnd(3, 4))]),
    ("silu", ops.silu, [rnd(3, 4)]),
    ("log_sigmoid", ops.log_sigmoid, [rnd(3, 4)]),
    ("softmax", ops.softmax, [rnd(3, 4)]),
    ("softmax_axis0", lambda x: ops.softmax(x, axis=0), [rnd(3, 4)]),
    ("log_softmax", ops.log_softmax, [rnd(3, 4)]),
    ("logsumexp", lambda x: ops.logsumexp(x, axis=1), [rnd(3, 4)]),
    ("logsumexp_all_keep", lambda x: ops.logsumexp(x, keepdims=True), [rnd(3, 4)]),
    ("concatenate", lambda a, b: ops.concatenate([a, b], axis=1), [rnd(2, 3), rnd(2, 1)]),
    ("stack", lambda a, b: ops.stack([a, b], axis=-1), [rnd(2, 3), rnd(2, 3)]),
    ("split", lambda x: ops.split(x, 2, axis=1)[1] * 2 + ops.split(x, [1], axis=1)[0].sum(),
     [rnd(3, 4)]),
    ("reshape", lambda x: ops.reshape(x, (4, -1)), [rnd(2, 6)]),
    ("transpose", lambda x: ops.transpose(x, (2, 0, 1)), [rnd(2, 3, 4)]),
    ("transpose_default", ops.transpose, [rnd(2, 3)]),
    ("expand_dims", lambda x: ops.expand_dims(x, 1), [rnd(3, 2)]),
    ("squeeze", lambda x: ops.squeeze(x, 1), [rnd(3, 1, 2)]),
    ("take_dup", lambda x: ops.take(x, np.array([0, 2, 2, 1]), axis=1), [rnd(2, 3)]),
    ("take_flat", lambda x: ops.take(x, np.array([[0, 5], [5, 3]])), [rnd(2, 3)]),
    ("take_along_axis", lambda x: ops.take_along_axis(x, np.array([[1], [0], [1]]), axis=1),
     [rnd(3, 2)]),
    ("getitem_slice", lambda x: x[1:, ::2], [rnd(3, 4)]),
    ("getitem_fancy_dup", lambda x: x[np.array([0, 0, 2])], [rnd(3, 2)]),
    ("getitem_bool", lambda x: x[np.array([True, False, True])], [rnd(3, 2)]),
    ("tile", lambda x: ops.tile(x, (2, 3)), [rnd(2, 2)]),
    ("repeat", lambda x: ops.repeat(x, 2, axis=0), [rnd(2, 3)]),
    ("einsum_matmul", lambda a, b: ops.einsum("ij,jk->ik", a, b), [rnd(2, 3), rnd(3, 4)]),
    ("einsum_batch", lambda a, b: ops.einsum("bij,bjk->bik", a, b), [rnd(2, 2, 3),
                                                                      rnd(2, 3, 2)]),
    ("einsum_implicit", lambda a, b: ops.einsum("ij,jk", a, b), [rnd(2, 3), rnd(3, 2)]),
    ("einsum_reduce", lambda a: ops.einsum("ij->j", a), [rnd(3, 4)]),
    ("einsum_dot", lambda a, b: ops.einsum("i,i->", a, b), [rnd(4), rnd(4)]),
    ("einsum_summed_only", lambda a, k: ops.einsum("ij,k->i", a, k), [rnd(2, 3), rnd(4)]),
    # elementwise
    ("sin", ops.sin, [rnd(3, 4)]),
    ("cos", ops.cos, [rnd(3, 4)]),
    ("tan", ops.tan, [rnd(3, 4) * 0.4]),
    ("arcsin", ops.arcsin, [rnd(3, 4) * 0.2]),
    ("arccos", ops.arccos, [rnd(3, 4) * 0.2]),
    ("arctan", ops.arctan, [rnd(3, 4)]),
    ("arctan2_bcast", ops.arctan2, [rnd(3, 4), rnd(4, lo=0.5)]),
    ("hypot", ops.hypot, [rnd(3, 1, lo=0.2), rnd(1, 4, lo=0.2)]),
    ("sinh", ops.sinh, [rnd(3, 4)]),
    ("cosh", ops.cosh, [rnd(3, 4)]),
    ("arcsinh", ops.arcsinh, [rnd(3, 4)]),
    ("arccosh", ops.arccosh, [rnd(3, 4, lo=1.2)]),
    ("arctanh", ops.arctanh, [rnd(3, 4) * 0.2]),
    ("log2", ops.log2, [rnd(3, 4, lo=0.3)]),
    ("log10", ops.log10, [rnd(3, 4, lo=0.3)]),
    ("exp2", ops.exp2, [rnd(3, 4)]),
    ("rsqrt", ops.rsqrt, [rnd(3, 4, lo=0.3)]),
    ("ceil", lambda x: ops.ceil(x) * x, [np.array([0.3, 1.6, -2.2])]),
    ("mod_bcast", ops.mod, [np.array([[2.3, -1.7], [5.2, 0.4]]), np.array([1.5, 0.7])]),
    ("floor_divide", lambda a, b: ops.floor_divide(a, b) * a,
     [np.array([2.3, -1.7, 5.2]), np.array([1.5, 0.7, 2.0])]),
    # reductions and scans
    ("prod_all", ops.prod, [rnd(3, 4) + 1]),
    ("prod_axis_zero", lambda x: ops.prod(x, axis=1), [np.array([[0.0, 2.0, 3.0],
                                                               [1.5, 0.0, 0.0]])]),
    ("prod_axes_keep", lambda x: ops.prod(x, axis=(0, 2), keepdims=True), [rnd(2, 3, 2)]),
    ("cumsum_flat", ops.cumsum, [rnd(3, 4)]),
    ("cumsum_axis", lambda x: ops.cumsum(x, axis=0), [rnd(3, 4)]),
    ("cumprod_axis", lambda x: ops.cumprod(x, axis=1), [rnd(2, 4)]),
    ("cumprod_zero", lambda x: ops.cumprod(x), [np.array([1.5, 0.0, -2.0, 0.7])]),
    ("sort", lambda x: ops.sort(x, axis=0), [rnd(4, 3)]),
    ("sort_flat", lambda x: ops.sort(x, axis=None), [rnd(2, 3)]),
    ("top_k", lambda x: ops.top_k(x, 2)[0], [rnd(3, 5)]),
    ("average_weights_1d", lambda x, w: ops.average(x, axis=1, weights=w),
     [rnd(3, 4), rnd(4, lo=0.5)]),
    ("average_weights_full", lambda x, w: ops.average(x, weights=w),
     [rnd(3, 4), rnd(3, 4, lo=0.5)]),
    ("moments", lambda x: ops.add(*ops.moments(x, axes=[0], keepdims=True)), [rnd(4, 3)]),
    # layout
    ("hstack", lambda a, b: ops.hstack([a, b]), [rnd(2, 3), rnd(2, 1)]),
    ("vstack_1d", lambda a, b: ops.vstack([a, b]), [rnd(3), rnd(2, 3)]),
    ("flip", lambda x: ops.flip(x, axis=1), [rnd(2, 3)]),
    ("slice", lambda x: ops.slice(x, (1, 0, 2), (2, -1, 2)), [rnd(3, 2, 5)]),
    ("roll_axis", lambda x: ops.roll(x, 2, axis=1), [rnd(2, 3)]),
    ("roll_flat", lambda x: ops.roll(x, -1), [rnd(2, 3)]),
    ("pad_constant", lambda x: ops.pad(x, ((1, 0), (2, 1)), constant_values=3.0), [rnd(2, 3)]),
    ("pad_reflect", lambda x: ops.pad(x, ((0, 1), (2, 2)), mode="reflect"), [rnd(2, 3)]),
    ("pad_symmetric", lambda x: ops.pad(x, 2, mode="symmetric"), [rnd(2, 3)]),
    ("pad_edge_wrap", lambda x: ops.pad(ops.pad(x, 1, mode="edge"), 1, mode="wrap"),
     [rnd(2, 3)]),
    ("broadcast_to", lambda x: ops.broadcast_to(x, (2, 3, 4)), [rnd(3, 1)]),
    ("ravel", ops.ravel, [rnd(2, 3)]),
    ("diag_1d", lambda x: ops.diag(x, k=-1), [rnd(3)]),
    ("diag_2d", lambda x: ops.diag(x, k=1), [rnd(3, 4)]),
    ("diagonal_3d", lambda x: ops.diagonal(x, 0, 1, 2), [rnd(2, 3, 3)]),
    ("trace", ops.trace, [rnd(3, 3)]),
    ("triu", lambda x: ops.triu(x, 1), [rnd(2, 3, 3)]),
    ("tril", ops.tril, [rnd(3, 4)]),
    ("outer", ops.outer, [rnd(3), rnd(2, 2)]),
    ("swapaxes", lambda x: ops.swapaxes(x, 0, 2), [rnd(2, 3, 4)]),
    # more nn
    ("hard_sigmoid", ops.hard_sigmoid, [np.array([-4.0, -1.0, 0.5, 2.0, 5.0])]),
    ("hard_silu", ops.hard_silu, [np.array([-4.0, -1.0, 0.5, 2.0, 5.0])]),
    ("softsign", ops.softsign, [rnd(3, 4)]),
    ("hard_tanh", ops.hard_tanh, [np.array([-2.0, -0.5, 0.3, 1.5])]),
    ("celu", lambda x: ops.celu(x, alpha=0.5), [rnd(3, 4, lo=0.05) * np.sign(rnd(3, 4))]),
    ("bce_probs", lambda t, p: ops.binary_crossentropy(t, p),
     [RNG.random((3, 2)), 0.1 + 0.8 * RNG.random((3, 2))]),
    ("bce_logits", lambda t, x: ops.binary_crossentropy(t, x, from_logits=True),
     [RNG.random((3, 2)), rnd(3, 2, lo=0.1) * np.sign(rnd(3, 2))]),
    ("cce_probs_axis0", lambda t, p: ops.categorical_crossentropy(t, p, axis=0),
     [RNG.random((3, 2)), 0.2 + RNG.random((3, 2))]),
    ("cce_logits", lambda t, x: ops.categorical_crossentropy(t, x, from_logits=True),
     [RNG.random((3, 4)), rnd(3, 4)]),
    ("scce_logits", lambda x: ops.sparse_categorical_crossentropy(
        np.array([2, 0, 1]), x, from_logits=True), [rnd(3, 4)]),
    ("scce_probs", lambda p: ops.sparse_categorical_crossentropy(
        np.array([[1], [0]]), p), [0.2 + RNG.random((2, 3))]),
    ("normalize_l2", ops.normalize, [rnd(3, 4)]),
    ("normalize_l1_axis0", lambda x: ops.normalize(x, axis=0, order=1),
     [rnd(3, 4, lo=0.1) * np.sign(rnd(3, 4))]),
    ("copy", ops.copy, [rnd(2, 3)]),
    ("nan_to_num", ops.nan_to_num, [rnd(2, 3)]),
    ("logaddexp_bcast", ops.logaddexp, [rnd(3, 4), rnd(4)]),
    ("divide_no_nan", ops.divide_no_nan, [rnd(2, 3), rnd(3, lo=0.5)]),
    ("diff_2", lambda x: ops.diff(x, n=2, axis=0), [rnd(4, 3)]),
    ("deg2rad", ops.deg2rad, [rnd(3)]),
    ("vdot", ops.vdot, [rnd(2, 3), rnd(3, 2)]),
    ("inner", ops.inner, [rnd(2, 3), rnd(4, 3)]),
    ("unstack", lambda x: ops.unstack(x, axis=1)[1] * 2 + ops.unstack(x, axis=1)[0],
     [rnd(2, 3)]),
    ("fmax_nan", ops.fmax, [rnd(3, 4), rnd(4)]),
    ("fmin", ops.fmin, [rnd(3, 1), rnd(3, 4)]),
    ("ptp", lambda x: ops.ptp(x, axis=1), [rnd(3, 4)]),
    ("fliplr_flipud", lambda x: ops.flipud(ops.fliplr(x)), [rnd(3, 4)]),
    ("hard_shrink", ops.hard_shrink, [np.array([-2.0, -0.7, -0.3, 0.4, 0.9, 1.5])]),
    ("soft_shrink", ops.soft_shrink, [np.array([-2.0, -0.7, -0.3, 0.4, 0.9, 1.5])]),
    ("tanh_shrink", ops.tanh_shrink, [rnd(3, 4)]),
    ("squareplus", ops.squareplus, [rnd(3, 4)]),
    ("sparse_plus", ops.sparse_plus, [np.array([-2.0, -0.7, -0.3, 0.4, 0.9, 1.5])]),
    ("threshold", lambda x: ops.threshold(x, 0.35, -1.0), [np.array([-2.0, 0.1, 0.4, 1.5])]),
    ("numpy_new_ufuncs", lambda x: np.sin(x) * np.cosh(x) + np.log2(np.abs(x) + 1)
     + np.cumsum(x, axis=1) + np.flip(np.prod(x, axis=0)), [rnd(2, 3)]),
    ("operators", lambda x, w, b: (-(x @ w) + b) ** 2 / 3.0 - 1 * x.sum(), [rnd(3, 4),
                                                                            rnd(4, 2), rnd(2)]),
    ("numpy_functions", lambda x: np.exp(np.concatenate([x, np.tanh(x)], axis=0)).mean(axis=0),
     [rnd(2, 3)]),
    ("methods", lambda x: x.T.reshape(-1).max() + x.var(axis=0).std() + x.clip(-0.3, 0.3).sum(),
     [rnd(3, 2)]),
]


@pytest.mark.parametrize("name,f,xs", CASES, ids=[c[0] for c in CASES])
def test_vjp_against_central_differences(name, f, xs):
    check(f, *xs)


def test_results_are_plain_arrays_outside_recording():
    x = rnd(3, 4)
    y = ops.relu(ops.add(x, 1.0))
    assert type(y) is np.ndarray
    assert type(ops.sum(x)) is np.ndarray and ops.sum(x).shape == ()
    np.testing.assert_array_equal(ops.softmax(np.zeros((1, 4))), np.full((1, 4), 0.25))
    assert ops.add(np.ones(2, np.float32), 2.0).dtype == np.float32  # weak Python scalars
    assert ops.zeros((2,)).dtype == np.float32 and ops.ones_like(x).dtype == np.float64
    np.testing.assert_array_equal(ops.one_hot(np.array([2, 0]), 3),
                                  [[0, 0, 1], [1, 0, 0]])
    assert ops.argmax(np.array([[1, 3, 2]]), axis=-1).tolist() == [1]


def test_keras_values():
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    np.testing.assert_allclose(ops.leaky_relu(x), [-0.4, -0.1, 0.0, 1.5])  # Keras: slope 0.2
    np.testing.assert_allclose(ops.elu(x), [np.expm1(-2), np.expm1(-0.5), 0, 1.5])
    np.testing.assert_allclose(ops.sigmoid(np.array([0.0, 800.0, -800.0])), [0.5, 1.0, 0.0])
    np.testing.assert_allclose(ops.softplus(np.array([0.0, 1000.0])), [np.log(2), 1000.0])
    np.testing.assert_allclose(ops.logsumexp(np.array([1000.0, 1000.0])), 1000 + np.log(2))
    np.testing.assert_allclose(ops.log_softmax(np.array([[0.0, 0.0]])), [[-np.log(2)] * 2])
    np.testing.assert_allclose(ops.gelu(np.array([1.0]), approximate=False), [0.8413447460685429])
    np.testing.assert_allclose(ops.var(np.array([1.0, 2.0, 3.0, 4.0])), 1.25)


def test_cast_passes_the_gradient_back_in_the_input_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    c = np.array([3.0, -1.0])
    with ops.GradientTape() as t:
        xw = t.watch(x)
        y = ops.sum(ops.cast(xw, "float64") * c)
        k = ops.cast(xw, "int32")
    g = t.gradient(y, xw)
    assert g.dtype == np.float32 and g.tolist() == [3.0, -1.0]
    assert type(k) is np.ndarray and k.dtype == np.int32


def test_max_ties_share_the_gradient():
    x = np.array([1.0, 3.0, 3.0])
    _, g = ops.value_and_grad(lambda a: ops.max(a))(x)
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])


def test_value_and_grad_and_params_as_sources():
    from fastff.layers import Param

    w = Param("w", np.array([1.0, -2.0]))
    with ops.GradientTape() as t:
        y = ops.sum(w * w) + ops.sum(np.array([3.0, 4.0]) @ w)
    (gw,) = t.gradient(y, [w])
    np.testing.assert_allclose(gw, [2 * 1 + 3, 2 * -2 + 4])
    v, g = ops.value_and_grad(lambda a, b: ops.sum(a * b), argnums=(0, 1))(
        np.array([1.0, 2.0]), np.array([3.0, 5.0]))
    assert float(v) == 13.0 and [x.tolist() for x in g] == [[3, 5], [1, 2]]


def test_unconnected_and_integer_results_have_no_gradient():
    x = np.array([1.0, 2.0])
    with ops.GradientTape(persistent=True) as t:
        xw = t.watch(x)
        c = ops.stop_gradient(xw * 2)
        y = ops.sum(c * xw)
        k = ops.argmax(xw)
    assert type(k) is np.ndarray and k.dtype.kind == "i"
    np.testing.assert_allclose(t.gradient(y, x), [2.0, 4.0])
    assert t.gradient(ops.sum(c), x) is None


def test_op_without_gradient_names_it():
    x = np.array([0.3, 0.7])
    with ops.GradientTape() as t:
        xw = t.watch(x)
        y = np.sum(np.cbrt(xw))  # NumPy ufunc that fastff.ops has no VJP for
    with pytest.raises(ops.NoGradientError, match="numpy.cbrt"):
        t.gradient(y, xw)
    with ops.GradientTape() as t:
        xw = t.watch(np.eye(2))
        y = ops.einsum("ii->", xw)  # a trace: computed, no gradient
    assert float(y) == 2.0
    with pytest.raises(ops.NoGradientError, match="einsum"):
        t.gradient(y, xw)


def test_unintercepted_ndarray_methods_do_not_drop_gradients_silently():
    x = np.arange(6.0).reshape(2, 3)
    with ops.GradientTape() as t:
        xw = t.watch(x)
        y = ops.sum(xw.swapaxes(0, 1) * 2.0)
    with pytest.raises(ops.NoGradientError, match="ndarray method"):
        t.gradient(y, xw)


def test_shape_mismatch_names_op_and_both_shapes():
    with pytest.raises(ops.OpsError, match=r"add: shapes \(3,\) and \(4,\)"):
        ops.add(np.ones(3), np.ones(4))
    with pytest.raises(ops.OpsError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        ops.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ops.OpsError, match=r"concatenate: shapes \(2, 3\) and \(3, 3\)"):
        ops.concatenate([np.ones((2, 3)), np.ones((3, 3))], axis=1)
    with pytest.raises(ops.OpsError, match="reshape: cannot reshape"):
        ops.reshape(np.ones(6), (4, 2))
    with pytest.raises(ops.OpsError, match="axis 2 is out of range"):
        ops.sum(np.ones((2, 3)), axis=2)


def test_object_and_string_arrays_refused():
    with pytest.raises(TypeError, match="exp: arrays of dtype object"):
        ops.exp(np.array([1, "a"], dtype=object))
    with pytest.raises(TypeError, match="add: arrays of dtype <U1"):
        ops.add(np.array(["a"]), 1)
    with pytest.raises(TypeError, match="expected an array or a number"):
        ops.relu("x")


def test_in_place_writes_on_recorded_tensors_refused():
    with ops.GradientTape():
        t = ops.tape.forward_call  # noqa: F841 (module is importable as an attribute)
    x = np.ones(3)
    with ops.GradientTape() as tp:
        xw = tp.watch(x)
        y = xw
        y += 1  # rebinds, as for an immutable tensor
        with pytest.raises(ops.OpsError, match="in place"):
            xw[0] = 5.0
        with pytest.raises(ops.OpsError, match="out="):
            np.add(xw, 1, out=np.empty(3))
    assert np.array_equal(x, np.ones(3)) and np.array_equal(y, np.full(3, 2.0))


def test_forward_call_contract():
    from fastff.layers import Param

    w = Param("w", np.array([[1.0, 2.0], [3.0, 4.0]]))
    unused = Param("u", np.ones(2))
    unused.grad[...] = 7.0  # stale: must be overwritten with zeros
    xs = {"a": np.array([[1.0, 1.0]]), "ids": np.array([0])}
    outs, bp = tape_mod.forward_call(lambda d: [d["a"] @ w, ops.sum(d["a"])], xs,
                                     [w, unused], training=True)
    assert isinstance(outs, list) and type(outs[0]) is np.ndarray
    np.testing.assert_allclose(outs[0], [[4.0, 6.0]])
    dx = bp([np.array([[1.0, 0.0]]), None])
    np.testing.assert_allclose(w.grad, [[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(unused.grad, 0.0)
    assert set(dx) == {"a", "ids"} and dx["ids"] is None
    np.testing.assert_allclose(dx["a"], [[1.0, 3.0]])
    with pytest.raises(TypeError, match="returned str, not an array"):
        tape_mod.forward_call(lambda x: "nope", np.ones(2))


def test_tape_keeps_nothing_after_backward_over_10000_steps():
    from fastff.layers import Param

    w = Param("w", np.ones((3, 2)))
    x = np.ones((4, 3))
    refs = []
    for i in range(10_000):
        y, bp = tape_mod.forward_call(lambda a: ops.tanh(a @ w) * 2.0, x, [w], True)
        if i % 2500 == 0:
            refs.append(weakref.ref(bp))
        bp(np.ones_like(y), True)
        del y, bp
    assert not tape_mod._stack() and not tape_mod._state.training
    gc.disable()  # freed by reference counting alone: nothing cyclic keeps a tape alive
    try:
        assert all(r() is None for r in refs)
    finally:
        gc.enable()
    with ops.GradientTape() as t:
        xw = t.watch(x)
        loss = ops.sum(xw @ w)
    t.gradient(loss, [w])
    assert not t._tape.nodes and not t._tape.keep


def test_tapes_are_per_thread():
    seen = []

    def worker():
        seen.append(tape_mod.is_recording())

    with ops.GradientTape():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert tape_mod.is_recording()
    assert seen == [False] and not tape_mod.is_recording()


def test_builtin_layer_in_a_gradient_tape_is_one_node():
    from fastff.layers import Dense

    d = Dense(3, activation="tanh", dtype="float64")
    x = rnd(4, 5)
    d.build_for((5,), "float64")
    with ops.GradientTape() as t:
        xw = t.watch(x)
        loss = ops.sum(d(xw) ** 2)
        names = [n.name for n in t._tape.nodes]
    assert names == ["leaf", "leaf", "leaf", "layer 'dense'" if d.name == "dense"
                     else f"layer {d.name!r}", "square", "sum"]
    gx, gk = t.gradient(loss, [xw, d.kernel])

    def f(arrs):
        d.kernel.value[...] = arrs[1]
        return float(np.sum(np.tanh(arrs[0] @ arrs[1] + d.bias.value) ** 2))

    k0 = d.kernel.value.copy()
    nx, nk = numeric_input_grads(f, [x.copy(), k0.copy()])
    np.testing.assert_allclose(gx, nx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gk, nk, rtol=1e-6, atol=1e-8)


def test_new_ops_values_match_keras():
    """Values computed once with Keras 3.15 (torch backend)."""
    x = np.array([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]])
    np.testing.assert_allclose(ops.normalize(x), [[0.8017837, 0.26726124, 0.5345225],
                                                  [0.12038585, -0.24077171, 0.9630868]],
                               rtol=1e-6)
    np.testing.assert_allclose(ops.hard_sigmoid(x), [[1.0, 2 / 3, 5 / 6], [7 / 12, 1 / 3, 1]])
    np.testing.assert_allclose(ops.binary_crossentropy(np.array([1.0, 0.0]),
                                                       np.array([0.7, 0.2])),
                               [0.35667494, 0.22314355], rtol=1e-7)
    np.testing.assert_allclose(ops.binary_crossentropy(np.array([1.0, 0.0]),
                                                       np.array([1.3, -0.2]), from_logits=True),
                               [0.24100845, 0.59813887], rtol=1e-6)
    p = np.array([[0.2, 0.5, 0.3]])
    np.testing.assert_allclose(ops.categorical_crossentropy(np.array([[0.0, 1.0, 0.0]]), p),
                               [0.6931472], rtol=1e-6)
    np.testing.assert_allclose(ops.sparse_categorical_crossentropy(np.array([1]), p),
                               [0.6931472], rtol=1e-6)
    np.testing.assert_allclose(ops.sparse_categorical_crossentropy(np.array([1]), p,
                                                                   from_logits=True),
                               [0.93983106], rtol=1e-6)
    vals, idx = ops.top_k(x, 2)
    assert vals.tolist() == [[3.0, 2.0], [4.0, 0.5]] and idx.tolist() == [[0, 2], [2, 0]]
    assert idx.dtype == np.int32
    assert float(ops.quantile(x, 0.3)) == 0.75
    assert ops.median(x, axis=1).tolist() == [2.0, 0.5]
    np.testing.assert_allclose(ops.average(x, axis=1, weights=np.array([1.0, 2.0, 3.0])),
                               [1.8333333, 1.75], rtol=1e-6)
    assert ops.linspace(0, 1, 5).dtype == np.float32
    assert int(ops.count_nonzero(x)) == 6 and ops.count_nonzero(x).dtype == np.int32
    assert [a.tolist() for a in ops.nonzero(x > 1)] == [[0, 0, 1], [0, 2, 2]]
    assert ops.argsort(x).tolist() == [[1, 2, 0], [1, 0, 2]]
    assert ops.any(x > 3).item() and not ops.all(x > 0).item()
    assert ops.all(x > -2, axis=0, keepdims=True).shape == (1, 3)
    np.testing.assert_array_equal(ops.mod(np.array([-3.0, 3.0]), 2.0), [1.0, 1.0])
    np.testing.assert_array_equal(ops.floor_divide(np.array([-3, 3]), 2), [-2, 1])
    np.testing.assert_array_equal(ops.isinf(np.array([np.inf, -np.inf, np.nan, 1.0])),
                                  [True, True, False, False])
    mean, var = ops.moments(x, axes=[1])
    np.testing.assert_allclose(mean, x.mean(axis=1))
    np.testing.assert_allclose(var, x.var(axis=1))
    assert ops.eye(2).dtype == np.float32 and ops.tri(3).dtype == np.float32


def test_ops_without_gradient_raise_naming_them():
    x = np.array([3.0, 1.0, 2.0])
    for name, f in [("median", ops.median), ("quantile", lambda a: ops.quantile(a, 0.2))]:
        with ops.GradientTape() as t:
            xw = t.watch(x)
            y = f(xw) * 2.0
        assert float(y) > 0
        with pytest.raises(ops.NoGradientError, match=name):
            t.gradient(y, xw)


def test_new_ops_argument_errors():
    with pytest.raises(ValueError, match="k must be"):
        ops.top_k(np.ones((2, 3)), 4)
    with pytest.raises(ValueError, match="mode must be"):
        ops.pad(np.ones(3), 1, mode="linear_ramp")
    with pytest.raises(ValueError, match="q must be in"):
        ops.quantile(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="order"):
        ops.normalize(np.ones(3), order=0)
    with pytest.raises(ValueError, match="same shape"):
        ops.binary_crossentropy(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="target ids"):
        ops.sparse_categorical_crossentropy(np.array([3]), np.ones((1, 3)))
    with pytest.raises(ops.OpsError, match="broadcast_to"):
        ops.broadcast_to(np.ones(3), (2, 4))
    with pytest.raises(ops.OpsError, match="axis 2 is out of range"):
        ops.cumsum(np.ones((2, 3)), axis=2)


def test_small_helpers_values():
    a = np.array([1.0, 0.0, np.nan, np.inf])
    np.testing.assert_array_equal(ops.nan_to_num(a), np.nan_to_num(a))
    np.testing.assert_array_equal(ops.divide_no_nan(np.array([1.0, 2.0]),
                                                    np.array([0.0, 4.0])), [0.0, 0.5])
    with ops.GradientTape() as t:  # no NaN gradient where the divisor is 0
        x = t.watch(np.array([1.0, 2.0]))
        y = ops.sum(ops.divide_no_nan(x, np.array([0.0, 4.0])))
    np.testing.assert_array_equal(t.gradient(y, x), [0.0, 0.25])
    assert ops.isclose(np.array([1.0]), np.array([1.0 + 1e-9])).tolist() == [True]
    assert bool(ops.allclose(np.ones(3), np.ones(3)))
    assert ops.ndim(np.ones((2, 3))) == 2 and ops.size(np.ones((2, 3))) == 6
    np.testing.assert_allclose(ops.logaddexp(np.array([1000.0]), np.array([1000.0])),
                               [1000 + np.log(2)])
    np.testing.assert_array_equal(ops.diff(np.array([1.0, 4.0, 9.0, 16.0])), [3.0, 5.0, 7.0])
    np.testing.assert_allclose(ops.inner(np.ones((2, 3)), np.ones((4, 3))), np.full((2, 4), 3))
    assert [u.shape for u in ops.unstack(np.ones((2, 3)), axis=1)] == [(2,)] * 3
    xs, ys = ops.meshgrid(np.arange(3.0), np.arange(2.0))
    assert xs.shape == ys.shape == (2, 3)
    assert ops.empty((2,)).dtype == np.float32
    np.testing.assert_array_equal(ops.heaviside(np.array([-1.0, 0.0, 2.0]), 0.5),
                                  [0.0, 0.5, 1.0])


def test_shrink_family_and_top_k_helpers_match_keras():
    x = np.array([-2.0, -0.7, -0.3, 0.0, 0.4, 0.9, 1.5])
    # Keras 3.15 (torch)
    np.testing.assert_allclose(ops.hard_shrink(x), [-2.0, -0.7, 0.0, 0.0, 0.0, 0.9, 1.5])
    np.testing.assert_allclose(ops.soft_shrink(x), [-1.5, -0.2, 0.0, 0.0, 0.0, 0.4, 1.0],
                               atol=1e-12)
    np.testing.assert_allclose(ops.tanh_shrink(x), [-1.0359724, -0.0956322, -0.0086874, 0.0,
                                                    0.020051, 0.1837021, 0.5948517],
                               atol=1e-7)
    np.testing.assert_allclose(ops.squareplus(x), [0.4142136, 0.709481, 0.8611874, 1.0,
                                                   1.2198039, 1.5465856, 2.0], atol=1e-7)
    np.testing.assert_allclose(ops.sparse_plus(x), [0.0, 0.0225, 0.1225, 0.25, 0.49, 0.9025,
                                                    1.5], atol=1e-12)
    np.testing.assert_array_equal(ops.threshold(x, 0.35, -1.0),
                                  [-1.0, -1.0, -1.0, -1.0, 0.4, 0.9, 1.5])
    assert ops.in_top_k(np.array([0, 2]), np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4]]),
                        1).tolist() == [False, True]
    np.testing.assert_array_equal(ops.multi_hot(np.array([[0, 2], [1, 1]]), 4),
                                  [[1, 0, 1, 0], [0, 1, 0, 0]])
    assert float(ops.percentile(np.array([1.0, 2.0, 3.0, 4.0]), 30)) == pytest.approx(1.9)
    assert ops.fmax(np.array([np.nan, 1.0]), np.array([2.0, np.nan])).tolist() == [2.0, 1.0]
    assert ops.isneginf(np.array([-np.inf, np.inf])).tolist() == [True, False]
    assert ops.isposinf(np.array([-np.inf, np.inf])).tolist() == [False, True]
    assert ops.is_tensor(np.ones(2)) and not ops.is_tensor([1.0])
