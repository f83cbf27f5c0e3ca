"""Dense: ``y = act(x W + b)``, forward as one fused GEMM+bias+activation call when possible."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import activations, constraints, initializers, regularizers
from fastff._validation import check_bool
from fastff.layers.base import Layer, Workspace, buffer


class Dense(Layer):
    """Fully connected layer on 2-D inputs ``(batch, features)``."""

    supports_masking = True  # as Keras: an input mask passes through

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = self.bias = None

    @property
    def output_activation(self) -> str | None:  # type: ignore[override]
        """The softmax/sigmoid a loss may fuse with (None when an activity regularizer
        needs the output itself)."""
        name = self.activation.name if self.activation.builtin else None
        if self.activity_regularizer is not None:
            return None
        return name if name in ("softmax", "sigmoid") else None

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 1:
            raise ValueError(f"Dense {self.name!r} expects 2-D inputs (batch, features); got "
                             f"per-sample shape {input_shape}. Add a Flatten layer first.")
        self.activation.check_features(self.units, f"Dense {self.name!r}")
        self.kernel = self.add_weight("kernel", (input_shape[0], self.units),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.activation.out_features(self.units),)

    def lower(self, builder: Any) -> bool:
        """One GEMM + bias + epilogue unit (without a bias, or with an activation the
        epilogue does not apply: inference only)."""
        return builder.dense(self, self.kernel, self.bias, self.activation)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        return self._forward(x, ws, apply_activation=True)

    def forward_logits(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        """Forward without the trailing softmax/sigmoid (the loss fuses it)."""
        return self._forward(x, ws, apply_activation=False)

    def _forward(self, x, ws, apply_activation):
        ops = self.ops
        kernel, bias = self.kernel, self.bias
        w = kernel.value
        b = bias.value if bias is not None else None
        act = self.activation if apply_activation else activations.linear
        shape = (x.shape[0], self.units)
        dt = w.dtype
        if act.fused:
            z = None
            y = ops.dense(x, w, b, act.name, act.param, out=buffer(ws, "y", shape, dt))
        else:
            z = ops.dense(x, w, b, "linear", 0.0, out=buffer(ws, "z", shape, dt))
            y = act.forward(ops, z, out=buffer(ws, "y", (shape[0], act.out_features(shape[1])),
                                               dt))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            dx = buffer(ws, "dx", x.shape, dt) if need_dx else False
            db = bias.grad if bias is not None else None
            if act.fused and not act.is_linear:
                # derivative from y, bias gradient and both GEMMs in one backend call
                out = ops.backprop_dense(dy, x, kernel.value, kernel.grad, db, dx=dx,
                                         activation=act.name, y=y, param=act.param,
                                         work=buffer(ws, "dz", shape, dt))
            else:
                dz = act.backward(ops, dy, z, y, out=buffer(ws, "dz", shape, dt))
                out = ops.backprop_dense(dz, x, kernel.value, kernel.grad, db, dx=dx)
            return out if need_dx else None

        return y, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
        )
        return cfg
