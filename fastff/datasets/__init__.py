"""Keras's small built-in datasets (``keras.datasets``): each module's ``load_data()``
downloads the file once into Keras's cache (``fastff.utils.get_file``; files Keras already
downloaded are reused) and returns NumPy arrays with Keras's shapes, dtypes and splits.

``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``boston_housing``,
``california_housing``, ``imdb``, ``reuters``.
"""

from __future__ import annotations

from . import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist",
           "imdb", "mnist", "reuters"]
