"""Bucket ids for numeric features and one-hot encoding.

``bucketize(values, boundaries)`` gives, for each value, the number of boundaries
that are <= it (as ``tf.raw_ops.Bucketize`` / Keras ``Discretization``): values
below the first boundary fall in bucket 0, values >= the last in bucket
``len(boundaries)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

# The lecture's distance buckets [0, 1, 2, 3, 4, 5-7, 8-15, 16-31, 32-63, 64+]
DISTANCE_BOUNDARIES: tuple[int, ...] = (1, 2, 3, 4, 5, 8, 16, 32, 64)
DISTANCE_BUCKET_NAMES: tuple[str, ...] = (
    "0", "1", "2", "3", "4", "5-7", "8-15", "16-31", "32-63", "64+",
)


def bucketize(values: ArrayLike, boundaries: Sequence[float] = DISTANCE_BOUNDARIES) -> np.ndarray:
    """Bucket id (int64, same shape as ``values``) for each value.

    ``boundaries`` must be strictly increasing; there are ``len(boundaries) + 1``
    buckets. With :data:`DISTANCE_BOUNDARIES`, 0 -> 0, 4 -> 4, 5..7 -> 5, 64+ -> 9
    (negative values go to bucket 0).
    """
    edges = np.asarray(boundaries, dtype=np.float64)
    if edges.ndim != 1 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"boundaries must be a strictly increasing 1-D sequence, got {boundaries}")
    return np.searchsorted(edges, np.asarray(values), side="right").astype(np.int64)


def one_hot(ids: ArrayLike, n: int, dtype: DTypeLike = "float32") -> np.ndarray:
    """One-hot rows: shape ``ids.shape + (n,)``; ids must be integers in ``[0, n)``."""
    ids = np.asarray(ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"ids must lie in [0, {n}), got range [{ids.min()}, {ids.max()}]")
    out = np.zeros((*ids.shape, n), dtype=dtype)
    np.put_along_axis(out, ids.astype(np.intp)[..., None], 1, axis=-1)
    return out
