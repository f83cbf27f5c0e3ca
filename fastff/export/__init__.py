"""``model.export(filepath, format=...)``: write a model for serving outside fastff.

Formats: ``"onnx"`` (the default; ``fastff.export.onnx``, needs the optional ``onnx``
package) and ``"c"`` (self-contained C99 source and header; ``fastff.export.c``). Keras 3's
default, ``"tf_saved_model"``, needs TensorFlow and is not offered. The exporter modules
load only when used.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["FORMATS", "export_model"]

FORMATS = ("onnx", "c")


def export_model(model: Any, filepath: str | os.PathLike[str], format: str = "onnx",
                 verbose: bool | None = None, input_signature: Any = None,
                 **kwargs: Any) -> Any:
    """Write ``model`` at ``filepath`` in ``format``; what the exporter returns comes back.

    ``"onnx"`` takes ``input_names``, ``output_name`` (one output) or ``output_names``
    (one per output of a model of several) and ``opset`` (Keras's
    ``opset_version`` is accepted too); ``"c"`` takes ``name`` (the C prefix, default the
    file's stem). ``verbose`` (default on, as in Keras) prints where the file went.
    ``input_signature`` must be None: a built fastff model knows its input shapes.
    """
    if not isinstance(format, str) or format.lower() not in FORMATS:
        raise ValueError(f"export: unknown format {format!r}; supported formats: "
                         f"{', '.join(map(repr, FORMATS))} (Keras's 'tf_saved_model' and "
                         "'openvino' need TensorFlow / OpenVINO and are not offered)")
    if input_signature is not None:
        raise ValueError("export: input_signature is not supported; the built model's input "
                         "shapes and dtypes are used")
    if verbose is not None and not isinstance(verbose, bool):
        raise TypeError(f"export: verbose must be a bool or None, got {verbose!r}")
    fmt = format.lower()
    if fmt == "onnx":
        from fastff.export.onnx import export_onnx

        if "opset_version" in kwargs:
            if "opset" in kwargs:
                raise TypeError("export: give opset or opset_version, not both")
            kwargs["opset"] = kwargs.pop("opset_version")
        if kwargs.get("opset") is None:
            kwargs.pop("opset", None)
        result = export_onnx(model, filepath, **kwargs)
    else:
        from fastff.export.c import export_c

        result = export_c(model, filepath, **kwargs)
    if verbose is None or verbose:
        print(f"Saved artifact at '{os.fspath(filepath)}'.")
    return result
