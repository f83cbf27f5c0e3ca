"""LayerNormalization (Keras 3): normalize each sample over ``axis`` (default the features).

``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` with the biased variance over
``axis``; ``rms_scaling=True`` gives ``x / sqrt(var + epsilon) * gamma`` (no beta), Keras's
formula. One fused kernel forward (``ops.layer_norm``) and one backward. After a hidden
Dense over its features it lowers to the compiled training step and predict (``lower``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import initializers, regularizers
from fastff.layers._axes import normalize_axes, rows_for
from fastff.layers._host import require_host
from fastff.layers.base import Layer, Workspace, buffer
from fastff.layers.batch_normalization import check_no_constraint


class LayerNormalization(Layer):
    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, rms_scaling: bool = False, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        check_no_constraint("LayerNormalization", beta_constraint=beta_constraint,
                            gamma_constraint=gamma_constraint)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNormalization: epsilon must be a number > 0, got {epsilon!r}")
        normalize_axes(axis, 64, "LayerNormalization")  # type check now, range at build
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else [int(a) for a in axis]
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = None
        self.supports_masking = True

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._axes = normalize_axes(self.axis, len(input_shape) + 1, "LayerNormalization")
        shape = tuple(input_shape[a - 1] for a in self._axes)
        if self.scale or self.rms_scaling:  # as Keras: rms scaling always has gamma
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer)

    def lower(self, builder: Any) -> bool:
        """After a Dense unit, over its features (2-D inputs, ``axis`` the last; rms scaling
        too): the compiled training step and predict run the same ``kernels.normalization``
        calls as ``forward``/``backprop``."""
        if self._axes != (1,) or not hasattr(builder, "layer_norm"):
            return False
        return builder.layer_norm(self, self.gamma, self.beta, self.epsilon, self.rms_scaling)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        require_host(x, self)
        ops = self.ops
        rows = rows_for(self, x.shape, self._axes)
        x2 = rows.to_rows(x)
        gamma, beta = self.gamma, self.beta
        g = None if gamma is None else gamma.value.reshape(-1)
        b = None if beta is None else beta.value.reshape(-1)
        out = buffer(ws, "y", x2.shape, x2.dtype) if not rows.moved else None
        y2, mean, inv = ops.layer_norm(x2, g, b, self.epsilon, self.rms_scaling, out=out)
        rms = self.rms_scaling

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            dg = None if gamma is None else gamma.grad.reshape(-1)
            db = None if beta is None else beta.grad.reshape(-1)
            dx_buf = (buffer(ws, "dx", x2.shape, x2.dtype) if not rows.moved else None) \
                if need_dx else False
            dx2 = ops.backprop_layer_norm(rows.to_rows(dy), x2, None if gamma is None
                                          else gamma.value.reshape(-1), mean, inv, dg, db,
                                          dx_buf, rms)
            return rows.back(dx2) if need_dx else None

        return rows.back(y2), backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            rms_scaling=self.rms_scaling,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=None, gamma_constraint=None)
        return cfg
