"""fastff model -> Keras 3 config, H5 weights and ``.keras`` zip (atomic writes)."""

from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile
from typing import Any, NamedTuple

import numpy as np

from fastff.keras_format import custom, lookups, more_layers
from fastff.keras_format.layout import (
    CONFIG_NAME,
    KERAS_VERSION,
    LAYER_CLASSES,
    METADATA_NAME,
    WEIGHTLESS,
    WEIGHTS_NAME,
    layer_paths,
    operation_order,
    optimizer_groups,
)
from fastff.keras_format.serial import keras_activation as _keras_activation
from fastff.keras_format.serial import keras_constraint as _keras_constraint
from fastff.keras_format.serial import keras_init as _keras_init
from fastff.keras_format.serial import keras_obj as _keras_obj
from fastff.keras_format.serial import keras_reg as _keras_reg
from fastff.keras_format.serial import policy as _policy


def _layer_config(layer: Any, dtype: np.dtype) -> tuple[str, dict]:
    """(Keras class name, Keras config) of a fastff layer; refuses what Keras lacks."""
    cls = type(layer).__name__
    base = {"name": layer.name, "trainable": bool(layer.trainable), "dtype": _policy(dtype)}
    extra = more_layers.write_config(layer, base) or lookups.write_config(layer, base)
    if extra is not None:
        return extra
    if cls == "Dense":
        return "Dense", {**base, "units": layer.units, "activation": _keras_activation(layer),
                         "use_bias": layer.use_bias,
                         "kernel_initializer": _keras_init(layer.kernel_initializer),
                         "bias_initializer": _keras_init(layer.bias_initializer),
                         "kernel_regularizer": _keras_reg(layer.kernel_regularizer),
                         "bias_regularizer": _keras_reg(layer.bias_regularizer),
                         "kernel_constraint": _keras_constraint(layer.kernel_constraint),
                         "bias_constraint": _keras_constraint(layer.bias_constraint),
                         "quantization_config": None}
    if cls == "Dropout":
        return "Dropout", {**base, "rate": layer.rate, "seed": layer.seed,
                           "noise_shape": None if layer.noise_shape is None
                           else list(layer.noise_shape)}
    if cls == "Activation":
        return "Activation", {**base, "activation": _keras_activation(layer)}
    if cls == "Flatten":
        return "Flatten", {**base, "data_format": "channels_last"}
    if cls == "ReLU":
        return "ReLU", {**base, "max_value": layer.max_value,
                        "negative_slope": layer.negative_slope, "threshold": layer.threshold}
    if cls == "LeakyReLU":
        return "LeakyReLU", {**base, "negative_slope": layer.negative_slope}
    if cls == "ELU":
        return "ELU", {**base, "alpha": layer.alpha}
    if cls == "Softmax":
        return "Softmax", {**base, "axis": layer.axis}
    if cls == "Embedding":
        return "Embedding", {
            **base, "input_dim": layer.input_dim, "output_dim": layer.output_dim,
            "embeddings_initializer": _keras_init(layer.embeddings_initializer),
            "embeddings_regularizer": _keras_reg(layer.embeddings_regularizer),
            "activity_regularizer": _keras_reg(layer.activity_regularizer),
            "embeddings_constraint": _keras_constraint(layer.embeddings_constraint),
            "mask_zero": layer.mask_zero, "quantization_config": None}
    if cls == "Concatenate":
        return "Concatenate", {**base, "axis": -1}
    if cls == "LayerNormalization":
        return "LayerNormalization", {
            **base, "axis": [layer.axis] if isinstance(layer.axis, int) else list(layer.axis),
            "epsilon": layer.epsilon, "center": layer.center, "scale": layer.scale,
            "rms_scaling": layer.rms_scaling,
            "beta_initializer": _keras_init(layer.beta_initializer),
            "gamma_initializer": _keras_init(layer.gamma_initializer),
            "beta_regularizer": _keras_reg(layer.beta_regularizer),
            "gamma_regularizer": _keras_reg(layer.gamma_regularizer),
            "beta_constraint": None, "gamma_constraint": None}
    if cls == "BatchNormalization":
        return "BatchNormalization", {
            **base, "axis": layer.axis, "momentum": layer.momentum, "epsilon": layer.epsilon,
            "center": layer.center, "scale": layer.scale,
            "beta_initializer": _keras_init(layer.beta_initializer),
            "gamma_initializer": _keras_init(layer.gamma_initializer),
            "moving_mean_initializer": _keras_init(layer.moving_mean_initializer),
            "moving_variance_initializer": _keras_init(layer.moving_variance_initializer),
            "beta_regularizer": _keras_reg(layer.beta_regularizer),
            "gamma_regularizer": _keras_reg(layer.gamma_regularizer),
            "beta_constraint": None, "gamma_constraint": None,
            "synchronized": layer.synchronized, "renorm": False, "renorm_clipping": None,
            "renorm_momentum": 0.99}
    raise ValueError(f"save_keras: layer {layer.name!r} ({cls}) has no Keras 3 equivalent; "
                     f"supported: {', '.join(LAYER_CLASSES[1:] + more_layers.CLASSES)}. "
                     "fastff's own format keeps every layer (custom ones too): use a name "
                     "without .keras/.weights.h5, "
                     "e.g. model.save('model.fastff') or save_weights('model.weights.fastff')")


def _layer_weights(layer: Any) -> list[np.ndarray]:
    """The layer's variables in Keras's order (an Embedding with ``mask_zero`` writes its
    padding row as zeros: fastff embeds padding to zeros, Keras looks the row up)."""
    from fastff.layers.base import to_host

    arrays = [np.array(to_host(p.value)) for p in layer.params]
    if type(layer).__name__ == "Embedding" and layer.mask_zero and arrays:
        arrays[0][0] = 0
    return more_layers.write_weights(layer, arrays)


def _dtype_name(dtype: Any) -> str:
    """Keras's dtype name (``"string"`` for fastff's object-dtype string inputs)."""
    dt = np.dtype(dtype)
    return "string" if dt.kind == "O" else dt.name


def _input_config(name: str, shape: tuple, dtype: np.dtype) -> dict:
    return {"batch_shape": [None, *map(int, shape)], "dtype": _dtype_name(dtype),
            "sparse": False, "ragged": False, "name": name, "optional": False}


def _is_nested(layer: Any) -> bool:
    return type(layer).__name__ == "NestedModel"


def _layer_spec(layer: Any, dtype: np.dtype) -> tuple[str, dict]:
    """(Keras class, the layer's Keras object): a model used as a layer is written as Keras
    writes it, its whole config inline."""
    if _is_nested(layer):
        inner = layer.model
        if layer._inner_graph is not None:
            return "Functional", _functional_doc(inner, dtype)[0]
        shape = inner._input_shape if inner._input_shape is not None else layer.input_shape
        return "Sequential", _sequential_doc(inner, dtype, tuple(shape))
    if custom.is_custom(layer):
        return type(layer).__name__, custom.write_spec(layer, dtype)
    cls, cfg = _layer_config(layer, dtype)
    if layer.activity_regularizer is not None:  # Keras's base config holds it when set
        cfg["activity_regularizer"] = _keras_reg(layer.activity_regularizer)
    return cls, _keras_obj("keras.layers", cls, cfg)


def _sequential_doc(model: Any, dtype: np.dtype, in_shape: tuple | None = None) -> dict:
    """A Sequential's Keras object (``in_shape``: its input shape when it was built as a
    layer of another model without an ``Input`` of its own)."""
    first = model._layers[0]
    in_dtype = np.dtype(getattr(first, "input_dtype", None) or dtype)
    inp = getattr(model, "_input_layer", None)
    in_shape = tuple(model._input_shape) if in_shape is None else in_shape
    layer_cfgs = [_keras_obj("keras.layers", "InputLayer", _input_config(
        inp.name if inp is not None else "input_layer", in_shape, in_dtype))]
    shape: Any = in_shape
    for layer in model._layers:
        cls, spec = _layer_spec(layer, dtype)
        if custom.is_custom(layer) or cls not in WEIGHTLESS and (
                cls not in more_layers.CLASSES or layer.params):
            spec["build_config"] = {"input_shape": [None, *shape]}
        layer_cfgs.append(spec)
        shape = layer.infer_output_shape(shape)
    config = {"name": model.name, "trainable": bool(model.trainable),
              "dtype": _policy(dtype), "layers": layer_cfgs,
              "build_input_shape": [None, *in_shape]}
    doc = _keras_obj("keras", "Sequential", config)
    doc["build_config"] = {"input_shape": [None, *in_shape]}
    return doc


class _View(NamedTuple):
    """A functional graph as Keras sees it: ``OutputPick`` nodes (output k of a call of a
    model of several outputs) are no operations, their values the call's k-th tensor."""

    sources: list
    nodes: list           # (layer, refs into this view)
    out_refs: list
    node_tensors: list
    orig: list            # per view node: its node index in the graph
    where: list           # per graph value: (view value, tensor index)


def _view(graph: Any) -> _View:
    k = len(graph.sources)
    where = [(i, 0) for i in range(k)]
    nodes, tensors, orig = [], [], []
    for i, (layer, refs) in enumerate(graph.nodes):
        if getattr(layer, "is_output_pick", False):
            where.append((where[refs[0]][0], layer.index))
            continue
        nodes.append((layer, [where[r][0] for r in refs]))
        tensors.append(graph.node_tensors[i])
        orig.append(i)
        where.append((k + len(nodes) - 1, 0))
    return _View(graph.sources, nodes, [where[r][0] for r in graph.out_refs], tensors, orig,
                 where)


def _functional_doc(model: Any, dtype: np.dtype) -> tuple[dict, list]:
    """A functional model's Keras object and its layers (Inputs included) in Keras's
    ``map_graph`` order: each layer once, a shared layer with one inbound node per call
    (in call order), a tensor named by ``[layer, call, output index]`` (the index is that of
    an output of a model of several outputs used as a layer, else 0)."""
    graph = model._graph
    view = _view(graph)
    k = len(graph.sources)
    shapes = [tuple(s.input_shape_decl) for s in graph.sources] + graph.node_shapes()
    dts = [np.dtype(s.input_dtype or dtype) for s in graph.sources]
    for layer, refs in graph.nodes:
        dts.append(np.dtype(np.result_type(*[dts[r] for r in refs]))
                   if type(layer).__name__ == "Concatenate" else dtype)
    order = operation_order(view)
    history: list[list] = [[s.name, 0, 0] for s in graph.sources] + [[]] * len(view.nodes)
    for _op, nodes in order:
        for call, i in enumerate(nodes):
            history[k + i] = [view.nodes[i][0].name, call, 0]

    def hist(r: int) -> list:  # the keras_history of graph value r
        v, index = view.where[r]
        return [history[v][0], history[v][1], index]

    def tensor(r: int) -> dict:
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [None, *map(int, shapes[r])], "dtype": _dtype_name(dts[r]),
                           "keras_history": hist(r)}}

    layer_cfgs = []
    ordered = []
    for op, nodes in order:
        if op < 0:
            i = -1 - op
            name = graph.sources[i].name
            spec = _keras_obj("keras.layers", "InputLayer",
                              _input_config(name, shapes[i], dts[i]))
            spec.update(name=name, inbound_nodes=[])
            ordered.append(graph.sources[i])
        else:
            layer = view.nodes[op][0]
            cls, spec = _layer_spec(layer, dtype)
            multi = bool(getattr(layer, "multi_input", False))
            inbound = []
            for i in nodes:
                refs = graph.nodes[view.orig[i]][1]
                args = [tensor(r) for r in refs]
                inbound.append({"args": [args] if multi else args, "kwargs": {}})
            refs = graph.nodes[view.orig[nodes[0]]][1]
            in_shapes = [[None, *shapes[r]] for r in refs]
            if cls != "Functional":  # Keras writes a nested Functional's as null
                spec["build_config"] = {"input_shape": in_shapes if multi else in_shapes[0]}
            spec.update(name=layer.name, inbound_nodes=inbound)
            ordered.append(layer)
        layer_cfgs.append(spec)
    config = {"name": model.name, "trainable": bool(model.trainable),
              "layers": layer_cfgs,
              "input_layers": [[s.name, 0, 0] for s in graph.sources]
              if k > 1 else [graph.sources[0].name, 0, 0],
              "output_layers": _output_layers(model, view, hist)}
    doc = _keras_obj("keras.src.models.functional", "Functional", config)
    doc["registered_name"] = "Functional"
    doc["build_config"] = {"input_shape": None}
    return doc, ordered


def _output_layers(model: Any, view: _View, hist: Any) -> Any:
    """Keras's ``output_layers``: one ``[name, call, index]``, a list of them, or a dict by
    output key (a model built with a dict of outputs). Keras counts a nested Functional's
    calls from 1 here (its own node comes first), from 0 in the inbound nodes."""
    k = len(view.sources)
    refs = []
    for r, v in zip(model._graph.out_refs, view.out_refs):
        ref = hist(r)
        if v >= k and _is_nested(view.nodes[v - k][0]) and \
                view.nodes[v - k][0]._inner_graph is not None:
            ref[1] += 1
        refs.append(ref)
    kind = getattr(model, "_output_kind", None)
    if kind == "dict":
        return dict(zip(model._output_names, refs))
    return refs if kind == "list" else refs[0]


def _inner_order(layer: Any) -> list:
    """The layers of a model used as a layer, in Keras's order (a functional one's Inputs
    included, as Keras's ``Functional.layers``)."""
    inner = layer.model
    if layer._inner_graph is not None:
        return _functional_doc(inner, np.dtype(inner.dtype))[1]
    return list(inner._layers)


def _stores(prefix: str, ordered: list, dtype: np.dtype, trainable: list,
            frozen: bool = False) -> list[tuple[str, list, Any]]:
    """``(H5 group, arrays, layer)`` per layer in Keras's order; a nested model's layers
    under ``<its group>/layers/...`` (an empty group for the model itself). Appends the
    trainable params, in Keras's order, to ``trainable``."""
    classes = ["InputLayer" if type(la).__name__ == "Input" else _layer_spec(la, dtype)[0]
               for la in ordered]
    out: list[tuple[str, list, Any]] = []
    for path, la in zip(layer_paths(classes), ordered):
        path = prefix + path
        if type(la).__name__ == "Input":
            out.append((path, [], la))
        elif _is_nested(la):
            out.append((path, [], None))
            out.extend(_stores(path + "/", _inner_order(la), dtype, trainable,
                               frozen or not la.trainable))
        elif custom.is_custom(la):  # its own variables, then its sublayers' groups
            from fastff.layers.base import to_host

            for sub, group in custom.groups(la, path, model_spec):
                out.append((sub, [np.array(to_host(p.value)) for p in group.params], group))
            if not frozen and la.trainable:
                trainable.extend(la.trainable_params)
        else:
            out.append((path, _layer_weights(la), la))
            out.extend((g, [], None) for g in lookups.inner_groups(path, la))
            if not frozen and la.trainable:
                trainable.extend(p for p in la.params if p.trainable)
    return out


def model_spec(model: Any) -> tuple[dict, list[tuple[str, list[np.ndarray], Any]], list]:
    """(config.json's document, [(H5 path, arrays, fastff layer or None)], trainable params
    in Keras's order)."""
    dtype = np.dtype(model.dtype)
    if getattr(model, "_graph", None) is None:
        doc = _sequential_doc(model, dtype)
        ordered = list(model._layers)
    else:
        doc, ordered = _functional_doc(model, dtype)
    trainable: list = []
    stores = _stores("", ordered, dtype, trainable, not model.trainable)
    return doc, stores, trainable


def _compile_config(model: Any) -> dict | None:
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    from fastff import optimizers

    spec = optimizers.serialize(opt)
    cfg = dict(spec["config"])
    if isinstance(cfg.get("learning_rate"), dict):
        lr = cfg["learning_rate"]
        cfg["learning_rate"] = _keras_obj("keras.optimizers.schedules", lr["class_name"],
                                          lr["config"])
    cfg.update(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
               loss_scale_factor=None, gradient_accumulation_steps=None)
    multi = getattr(model, "_multi", None)
    if multi is not None:  # several outputs: per-output losses, weights and metrics
        loss_cfg, weight, metrics = _per_output_compile(multi)
    else:
        loss = model.loss
        weight = None
        if getattr(loss, "base", None) is not None:  # multi_output.ScaledLoss: loss_weights
            loss, weight = loss.base, loss.weight
        loss_cfg = _keras_loss(loss)
        metrics = [m for m in getattr(model, "_metric_ids", []) if isinstance(m, str)] or None
    return {"optimizer": _keras_obj("keras.optimizers", spec["class_name"], cfg),
            "loss": loss_cfg, "loss_weights": weight, "metrics": metrics,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _keras_loss(loss: Any) -> dict | None:
    if loss is None:
        return None
    from fastff import losses

    ls = losses.serialize(loss)
    return _keras_obj("keras.losses", ls["class_name"], ls["config"])


def _per_output_compile(multi: Any) -> tuple[Any, Any, Any]:
    """``(loss, loss_weights, metrics)`` of a multi-output model as Keras writes them: dicts
    by output key (dict outputs) or lists in output order; string metric names only."""
    losses_ = [_keras_loss(lo) for lo in multi.losses]
    weights = None if all(w == 1.0 for w in multi.weights) else list(multi.weights)
    mets: list[list[str]] = [[] for _ in multi.names]
    for k, m in multi.metric_ids:
        if isinstance(m, str):
            mets[k].append(m)
    metrics = mets if any(mets) else None
    if multi.kind == "dict":
        keyed = dict(zip(multi.names, losses_))
        return (keyed, None if weights is None else dict(zip(multi.names, weights)),
                None if metrics is None else dict(zip(multi.names, metrics)))
    return losses_, weights, metrics


def _optimizer_vars(model: Any, trainable: list) -> list[np.ndarray]:
    """Keras's optimizer variables from fastff's flat state: iterations, learning_rate,
    then each group's per-variable slices (empty when not built or not mappable)."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return []
    groups = optimizer_groups(opt)
    if groups is None:
        warnings.warn(f"save_keras: the state of {type(opt).__name__} has no Keras layout; "
                      "the file holds its config only", stacklevel=3)
        return []
    state = opt.get_state()
    offsets = {id(p): o for p, o in model._placement}
    dt = np.dtype(model.dtype)
    out = [np.asarray(opt.iterations, dtype=np.int64)]
    if not callable(opt._learning_rate):
        out.append(np.asarray(opt.learning_rate, dtype=dt))
    for group in groups:
        for p in trainable:
            o = offsets[id(p)]
            for name in group:
                out.append(np.array(state[name][o:o + p.size].reshape(p.shape)))
    return out


def _write_h5(f: Any, stores: list[tuple[str, list[np.ndarray], Any]], root_name: str,
              optimizer: list[np.ndarray] | None, opt_name: str = "") -> None:
    import h5py

    h5 = h5py.File(f, "w")
    try:
        for path, arrays, _ in stores:
            group = h5.create_group(path).create_group("vars")
            group.attrs["name"] = path.rsplit("/", 1)[-1]
            for i, a in enumerate(arrays):
                group.create_dataset(str(i), data=a)
        if optimizer:
            group = h5.create_group("optimizer").create_group("vars")
            group.attrs["name"] = opt_name
            for i, a in enumerate(optimizer):
                group.create_dataset(str(i), data=a)
        h5.create_group("vars").attrs["name"] = root_name
    finally:
        h5.close()


def _h5_bytes(model: Any, with_optimizer: bool) -> tuple[dict, bytes, dict[str, bytes]]:
    """(config document, weights file bytes, ``{assets/ member: bytes}``)."""
    if not model.built:
        raise ValueError("save_keras: the model is not built; build it (or fit) first")
    doc, stores, trainable = model_spec(model)
    opt_vars = _optimizer_vars(model, trainable) if with_optimizer else []
    buf = io.BytesIO()
    opt = getattr(model, "optimizer", None)
    _write_h5(buf, stores, model.name, opt_vars, getattr(opt, "name", ""))
    assets: dict[str, bytes] = {}
    for group, _, la in stores:
        if lookups.is_lookup(la):
            assets.update(lookups.assets(group, la))
    return doc, buf.getvalue(), assets


def save_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (atomically): architecture, weights,
    compile config and optimizer state."""
    from fastff import distribution

    if not distribution.is_chief():
        return
    doc, weights, assets = _h5_bytes(model, with_optimizer=True)
    doc["compile_config"] = _compile_config(model)
    write_archive(path, doc, weights, assets)


def write_archive(path: str | os.PathLike[str], doc: dict, weights: bytes,
                  assets: dict[str, bytes] | None = None) -> None:
    """The ``.keras`` zip (metadata, config, weights, then the ``assets/`` files),
    written atomically."""
    from fastff._atomic import atomic_write

    meta = {"keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}

    def write(f: Any) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(METADATA_NAME, json.dumps(meta))
            z.writestr(CONFIG_NAME, json.dumps(doc, allow_nan=False))
            z.writestr(WEIGHTS_NAME, weights)
            for name, data in (assets or {}).items():
                z.writestr(name, data)

    atomic_write(path, write)


def save_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Write the weights as a Keras 3 ``.weights.h5`` file (atomically)."""
    from fastff import distribution
    from fastff._atomic import atomic_write

    if not distribution.is_chief():
        return
    _, weights, _ = _h5_bytes(model, with_optimizer=False)
    atomic_write(path, lambda f: f.write(weights))
