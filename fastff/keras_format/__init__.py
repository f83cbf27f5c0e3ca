"""Keras 3 ``.keras`` model files and ``.weights.h5`` weight files, both ways.

A ``.keras`` file is a zip of ``metadata.json`` (``keras_version``, ``date_saved``),
``config.json`` (the serialized model: ``module``/``class_name``/``config``/
``registered_name``, ``build_config``, ``compile_config``), the lookup layers' vocabularies
under ``assets/`` (``lookups``) and ``model.weights.h5``, whose
layout is Keras's ``H5IOStore``: ``layers/<path>/vars/<i>`` per layer and
``optimizer/vars/<i>``, where ``<path>`` is the snake-cased *class* name made unique by a
counter in ``model.layers`` order (``dense``, ``dense_1``, ``input_layer``...), not the
layer's name. A ``.weights.h5`` file is that H5 file alone.

Layer configs are mapped explicitly (``layout.LAYER_CLASSES`` in the reader and writer,
``more_layers.CLASSES`` for the merge, shaping, preprocessing, noise, pooling and masking
layers, models used as layers, Keras's serialized masks in ``mask_ops``; shared layers
with one inbound node per call; custom layers in ``custom``, their classes from
``custom_objects`` or the registry); anything else, and every Lambda, function or unknown
class, is refused with a message naming it: nothing in a file is imported or executed. Reading is
hostile-file safe: the zip's declared sizes and compression ratios are checked before
anything is extracted, JSON and HDF5 are parsed from bounded in-memory copies, every
array's dtype and shape is checked against the config, and the total declared array bytes
must fit in the file, before any model is built. Every problem raises
``fastff.saving.FormatError``."""

from __future__ import annotations

from typing import Any

from fastff.keras_format.layout import KERAS_VERSION, is_keras_zip, kind_of_file, kind_of_path

__all__ = ["save_keras", "load_keras", "save_keras_weights", "load_keras_weights",
           "kind_of_path", "kind_of_file", "is_keras_zip", "KERAS_VERSION"]


def __getattr__(name: str) -> Any:
    # the writer and reader (h5py, numpy, fastff's layers) load on first use
    if name in ("save_keras", "save_keras_weights"):
        from fastff.keras_format import writer

        return getattr(writer, name)
    if name in ("load_keras", "load_keras_weights"):
        from fastff.keras_format import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'fastff.keras_format' has no attribute {name!r}")
