"""Models that the C and the ONNX exporter tests both check against ``predict``."""

from __future__ import annotations

import numpy as np

import fastff
from fastff.layers import Concatenate, Dense, Dot, Flatten, Input, Masking


def masking_case() -> tuple[fastff.Sequential, np.ndarray]:
    """Masking before a Dense; rows with whole masked steps and one with a lone match."""
    model = fastff.Sequential([Input(shape=(4, 3)), Masking(mask_value=0.5), Flatten(),
                               Dense(2)])
    x = np.random.default_rng(6).standard_normal((5, 4, 3)).astype(np.float32)
    x[0, 1] = 0.5
    x[2, 3] = 0.5
    x[3, 0, 0] = 0.5  # one feature only: kept
    return model, x


def dot_case() -> tuple[fastff.Model, dict[str, np.ndarray]]:
    """Every kind of ``Dot`` (axes, normalize, 2-D and 3-D inputs) of two named inputs."""
    fastff.utils.set_random_seed(8)
    a, b = Input(shape=(4,), name="a"), Input(shape=(3, 4), name="b")
    u, v = Dense(4)(a), Dense(4)(a)
    parts = [Dot(axes=1)([u, v]), Dot(axes=1, normalize=True)([u, v]),
             Dot(axes=(1, 2))([u, b]), Flatten()(Dot(axes=(2, 2), normalize=True)([b, b])),
             Flatten()(Dot(axes=(1, 1))([b, b]))]
    model = fastff.Model([a, b], Concatenate()(parts))
    rng = np.random.default_rng(8)
    feeds = {"a": rng.standard_normal((5, 4)).astype(np.float32),
             "b": rng.standard_normal((5, 3, 4)).astype(np.float32)}
    return model, feeds
