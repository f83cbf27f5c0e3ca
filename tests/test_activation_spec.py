"""backend/spec.py is the one activation table, and each name means one formula on every path.

Paths compared: ``NumpyOps.activation`` (the reference), ``CpuOps.activation``,
``CpuOps.dense`` / ``linalg.gemm`` with the activation in the C epilogue, and the public
``fastff.activations.get(name)`` objects. "gelu" is the exact erf form everywhere (Keras's
default); the tanh approximation is "gelu_tanh", a C-epilogue-only name.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastff import activations, linalg
from fastff._core import lib
from fastff.backend import spec
from fastff.backend.cpu_ops import _C_FUSED, CpuOps
from fastff.backend.kernels import ACT_CODES
from fastff.backend.numpy_ops import NumpyOps

REF = NumpyOps()
CPU = CpuOps()
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-6, np.float64: 1e-13}
ELEMENTWISE = [n for n in spec.NAMES if n not in spec.ROWWISE]


def _close(got: np.ndarray, want: np.ndarray, dtype, what: str) -> None:
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=TOL[dtype] * 8, atol=TOL[dtype] * 8 * scale,
                               err_msg=what)


def _param(name: str) -> float:
    return spec.param_default(name)


# ---------------------------------------------------------------- the table itself
def test_c_ids_come_from_the_c_header() -> None:
    for name, row in spec.ACTIVATIONS.items():
        if row.c_act is not None:
            assert spec.c_id(name) == getattr(lib, row.c_act)
    assert spec.c_id("gelu_tanh") == lib.FASTFF_ACT_GELU_TANH
    assert spec.c_id("gelu") == lib.FASTFF_ACT_GELU != lib.FASTFF_ACT_GELU_TANH
    assert spec.c_id("selu") is None


def test_every_table_is_derived_from_the_spec() -> None:
    from fastff.backend.cuda import activations as cuda_act
    from fastff.training import compiled as fastpath

    assert ACT_CODES == cuda_act.ACT_CODES == spec.codes()
    assert {n: linalg.ACTIVATIONS[n] for n in linalg.ACTIVATIONS if n != "none"} == spec.c_ids()
    assert dict(_C_FUSED) == dict(fastpath._C_IDS) == spec.c_ids(spec.EPILOGUE)
    assert fastpath._CODES == spec.codes(spec.EPILOGUE)
    assert spec.NEEDS_INPUT == {"gelu", "silu", "swish", "mish", "hard_silu", "hard_swish",
                                "hard_shrink", "soft_shrink", "tanh_shrink", "sparse_plus",
                                "squareplus", "glu"}
    assert spec.EPILOGUE == {"linear", "relu", "leaky_relu", "elu", "tanh", "sigmoid"}
    for name, act in activations._BUILTINS.items():
        assert name in spec.ACTIVATIONS
        assert act.param == spec.param_default(name)
        assert act.fused == (name in spec.EPILOGUE)


def test_every_code_has_one_pair_of_bodies() -> None:
    from fastff.backend import scalar_act

    # codes 0..n-1, each owned by its first row; every owner has a forward and a derivative
    assert [spec.code(n) for n in spec.CODE_NAMES] == list(range(len(spec.CODE_NAMES)))
    assert set(spec.CODE_NAMES) == {n for n in ELEMENTWISE if n not in ("swish", "hard_swish")}
    assert set(scalar_act.FORWARD) == set(scalar_act.GRAD) == set(spec.CODE_NAMES)


def test_fuses_only_where_y_tells_the_sign_of_x() -> None:
    assert spec.fuses("relu", 0.0) and spec.fuses("tanh", 0.0)
    assert spec.fuses("leaky_relu", 0.2) and spec.fuses("leaky_relu", 0.0)
    assert not spec.fuses("leaky_relu", -0.5)  # y < 0 for x > 0 too
    assert spec.fuses("elu", 1.0) and not spec.fuses("elu", 0.0)
    assert not spec.fuses("gelu", 0.0) and not spec.fuses("selu", 0.0)
    assert not activations.leaky_relu.with_param(negative_slope=-0.5).fused
    assert activations.elu.with_param(alpha=2.0).fused


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown activation 'gelu_tanh'"):
        spec.canonical("gelu_tanh")  # C-epilogue only: the Ops backends have no kernel
    with pytest.raises(ValueError, match="activation must be None or one of"):
        linalg.gemm(np.ones((2, 2)), np.ones((2, 2)), activation="selu")
    assert spec.canonical(None) == "linear" and spec.canonical("ReLU") == "relu"


# ---------------------------------------------------------------- one formula per name
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_elementwise_name_agrees_on_numpy_and_cpu_ops(dtype) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((7, 14)) * 3).astype(dtype)  # (an even width, for glu)
    for name in spec.NAMES:
        p = _param(name) or 0.3
        want = REF.activation(name, x, None, p)
        _close(CPU.activation(name, x, None, p), want, dtype, name)
        y = want
        dy = rng.standard_normal(y.shape).astype(dtype)
        gx = REF.backprop_activation(name, dy, x, y, None, p)
        _close(CPU.backprop_activation(name, dy, x, y, None, p), gx, dtype, f"d {name}")
        if spec.ACTIVATIONS[name].grad_from_output:
            # the derivative from y alone (no x), as a fused Dense layer computes it
            _close(CPU.backprop_activation(name, dy, None, y, None, p), gx, dtype,
                   f"d {name} from y")


@pytest.mark.parametrize("dtype", DTYPES)
def test_c_epilogue_computes_the_same_formula(dtype) -> None:
    """linalg.gemm(activation=name) and CpuOps.dense == GEMM, then NumpyOps.activation."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 11)).astype(dtype)
    b = (rng.standard_normal((11, 17)) * 0.8).astype(dtype)
    bias = rng.standard_normal(17).astype(dtype)
    z = linalg.gemm(a, b, bias=bias)
    for name in (n for n in spec.NAMES if spec.c_id(n) is not None):
        want = REF.activation(name, z, None, _param(name))
        _close(linalg.gemm(a, b, bias=bias, activation=name), want, dtype, f"gemm {name}")
        got = CPU.dense(a, b, bias, activation=name, param=_param(name))
        _close(got, want, dtype, f"CpuOps.dense {name}")
        _close(REF.dense(a, b, bias, activation=name, param=_param(name)), want, dtype,
               f"NumpyOps.dense {name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_public_activation_objects_match_the_backends(dtype) -> None:
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((5, 4)) * 2).astype(dtype)
    for name, act in activations._BUILTINS.items():
        want = REF.activation(name, x, None, act.param)
        _close(activations.get(name)(x), want, dtype, name)


def test_gelu_is_exact_and_gelu_tanh_is_the_approximation() -> None:
    x = np.array([[-3.0, -1.0, -0.1, 0.0, 0.5, 2.0, 4.0]])
    exact = np.array([[0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x[0]]])
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    eye = np.eye(7)
    np.testing.assert_allclose(linalg.gemm(x, eye, activation="gelu"), exact, rtol=1e-15,
                               atol=1e-16)
    np.testing.assert_allclose(linalg.gemm(x, eye, activation="gelu_tanh"), tanh_form,
                               rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(activations.gelu(x), exact, rtol=1e-15, atol=1e-16)
    assert np.max(np.abs(exact - tanh_form)) > 1e-4  # they are two different functions


def test_linalg_parameter_defaults_are_kerass() -> None:
    x = np.array([[-2.0, 3.0]])
    eye = np.eye(2)
    np.testing.assert_array_equal(linalg.gemm(x, eye, activation="leaky_relu"), [[-0.4, 3.0]])
    np.testing.assert_allclose(linalg.gemm(x, eye, activation="elu"),
                               [[math.expm1(-2.0), 3.0]], rtol=1e-15)


NEWLY_PUBLIC = ["selu", "softsign", "silu", "swish", "hard_sigmoid", "exponential",
                "log_softmax"]


def test_every_spec_row_is_a_public_activation() -> None:
    assert set(activations._BUILTINS) == set(spec.NAMES)
    for name in NEWLY_PUBLIC:
        assert getattr(activations, name) is activations.get(name)
        assert activations.serialize(activations.get(name)) == name


@pytest.mark.parametrize("name", spec.NAMES)
def test_every_activation_has_correct_gradients(name) -> None:
    """Dense and Activation with every spec row pass float64 central differences."""
    from fastff import layers as L
    from fastff.testing import check_grads

    x = np.random.default_rng(0).standard_normal((5, 4))
    assert check_grads(L.Dense(4, activation=name), x) < 1e-6
    assert check_grads(L.Activation(name), x) < 1e-6
