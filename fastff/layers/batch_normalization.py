"""BatchNormalization (Keras 3): batch statistics in training, moving statistics at inference.

Training (``training=True`` and the layer trainable) normalizes with the batch mean and biased
variance and updates the non-trainable ``moving_mean`` / ``moving_variance`` in the forward
pass: ``moving = moving * momentum + batch * (1 - momentum)``. A frozen layer
(``trainable=False``) always runs in inference mode, as Keras. Forward and backward are one
fused kernel each: ``ops.batch_norm_train`` (statistics, moving update, normalize: two memory
passes) or ``ops.batch_norm`` at inference, and ``ops.backprop_batch_norm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import initializers, regularizers
from fastff.layers._axes import normalize_axes, rows_for
from fastff.layers._host import require_host
from fastff.layers.base import Layer, Workspace, buffer


def check_no_constraint(owner: str, **constraints: Any) -> None:
    """fastff has no weight constraints: accept only None (the Keras default)."""
    for arg, value in constraints.items():
        if value is not None:
            raise NotImplementedError(f"{owner}: {arg} is not supported (fastff has no "
                                      f"weight constraints), got {value!r}")


class BatchNormalization(Layer):
    def __init__(self, axis: Any = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, synchronized: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        check_no_constraint("BatchNormalization", beta_constraint=beta_constraint,
                            gamma_constraint=gamma_constraint)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"BatchNormalization: axis must be an int, got {axis!r}")
        for arg, v in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"BatchNormalization: {arg} must be a number, got {v!r}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self.supports_masking = True

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._axes = normalize_axes(self.axis, len(input_shape) + 1, "BatchNormalization")
        ax = self._axes[0]
        shape = (input_shape[ax - 1],)
        # the per-sample feature axis; rows are everything else (batch included)
        self._feature = (ax,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer,
                                               trainable=False)

    def lower(self, builder: Any) -> bool:
        """After a Dense unit, over its features (2-D inputs, ``axis`` the last): the compiled
        step runs the same ``kernels.batch_norm`` calls as ``forward``/``backprop``."""
        if self._axes != (1,) or not hasattr(builder, "batch_norm"):
            return False
        return builder.batch_norm(self, self.gamma, self.beta, self.moving_mean,
                                  self.moving_variance, self.epsilon, self.momentum)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        require_host(x, self)
        ops = self.ops
        rows = rows_for(self, x.shape, self._feature)
        x2 = rows.to_rows(x)
        gamma, beta = self.gamma, self.beta
        g = None if gamma is None else gamma.value
        b = None if beta is None else beta.value
        batch_stats = bool(training) and self.trainable
        out = buffer(ws, "y", x2.shape, x2.dtype) if not rows.moved else None
        if batch_stats:
            y2, mean, var = ops.batch_norm_train(x2, g, b, self.moving_mean.value,
                                                 self.moving_variance.value, self.momentum,
                                                 self.epsilon, out=out)
        else:
            mean = self.moving_mean.value.copy()
            var = self.moving_variance.value.copy()
            y2 = ops.batch_norm(x2, g, b, mean, var, self.epsilon, out=out)
        eps = self.epsilon

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            dg = gamma.grad if gamma is not None and gamma.trainable else None
            db = beta.grad if beta is not None and beta.trainable else None
            dx_buf = (buffer(ws, "dx", x2.shape, x2.dtype) if not rows.moved else None) \
                if need_dx else False
            dx2 = ops.backprop_batch_norm(rows.to_rows(dy), x2, None if gamma is None
                                          else gamma.value, mean, var, eps, dg, db, dx_buf,
                                          batch_stats)
            return rows.back(dx2) if need_dx else None

        return rows.back(y2), backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
            scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(
                self.moving_variance_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=None, gamma_constraint=None, synchronized=self.synchronized)
        return cfg
