"""``Sequential``: a stack of layers with one flat parameter buffer, trained by ``fit``.

After the layers are built, every ``Param`` is moved into one flat ``params`` buffer and one flat
``grads`` buffer (trainable params first, each slot 64-byte aligned), so an optimizer step is
one kernel over the trainable prefix. The loops live in ``fastff.training``; this module holds the
structure: building, weights, compile state, configs. Keras's ``Model`` (subclassed, in
``fastff.subclassed``, and functional, a graph of layers in ``fastff.functional``) is trained
by the same machinery.

Where fastff deliberately differs from Keras:
- ``Input(shape)`` is both the first position of a ``Sequential`` (a layer, not counted among
  ``model.layers``) and, called on by layers, the source of a functional graph;
- gradients come from each built-in layer's fused ``backprop``; a custom layer's ``call``
  written with ``fastff.ops`` is differentiated by the tape (``fastff.ops``, docs/ops.md), but
  a custom *activation* subclasses ``fastff.activations.CustomActivation`` and gives its
  gradient (a plain callable is refused); ``shuffle="batch"`` shuffles like ``True``;
  ``compile``'s ``run_eagerly``, ``jit_compile``, ``steps_per_execution`` are accepted and
  ignored (``loss_weights`` scales the loss and its
  gradient, as Keras; such a model trains on the general path);
- ``predict`` without ``batch_size`` runs up to ``fastff.config.PREDICT_BATCH_SIZE`` (1024) rows
  per call, not 32: the outputs agree to float rounding and large inputs go ~2-3x faster;
- a metric given as a string is logged under that string (``"mse"`` → ``"mse"``);
- Ctrl-C inside ``fit`` takes effect at the end of the current step, so weights and
  optimizer state always match; fit/evaluate before ``compile`` raise ``NotCompiledError``
  (both a RuntimeError, as in Keras, and a ValueError);
- ``model.metrics_names`` of a several-output model holds the per-output loss names from
  ``compile`` on (Keras 3 adds them at the first fit/evaluate);
- ``BackupAndRestore`` restores before ``fit``'s loop (Keras: in ``on_train_begin``) and also
  restores the shuffle seed and dropout counters, so a resumed run is bitwise the uninterrupted
  one; it deletes only its own files (Keras removes ``backup_dir``);
- models trained with ``Nadam`` (per-step constants) or with weight constraints run the
  general path, not the compiled one (same results, more Python per step).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from fastff import _call_context, config, saving
from fastff.layers import Input, Layer, Workspace
from fastff.layers import serialize as serialize_layer
from fastff.layers.base import TRAINABLE_VERSION, is_device_array, to_host
from fastff.layers.chain import Chain
from fastff.layers.masking import makes_masks
from fastff.metrics import compiled as compiled_metrics
from fastff.nested import as_layer
from fastff.training import loop as _training

__all__ = ["Sequential", "load_model"]

_ALIGN = 64  # bytes: each parameter slot starts on a cache line


class Sequential:
    """A linear stack of layers with Keras's ``Sequential`` API."""

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None,
                 dtype: Any = None, trainable: bool = True, device: str | None = None):
        from fastff.layers.base import unique_name

        self.name = name or unique_name("sequential")
        self.dtype = config.standardize_dtype(dtype)
        self._trainable = bool(trainable)
        self._layers: list[Layer] = []
        self._input_shape: tuple[int, ...] | None = None
        self._input_layer: Input | None = None
        self._graph_view: tuple | None = None  # (key, Input, layer outputs), see _symbolic
        self.built = False
        self.params: np.ndarray | None = None
        self.grads: np.ndarray | None = None
        self._layout: tuple | None = None
        self._placement: list = []  # (Param, offset into the flat buffers), see _pack
        self._views: list = []  # the arrays _pack gave each placed Param (still ours?)
        self._layout_version = -1
        self._n_trainable = 0
        self._slots: list[tuple[int, int]] = []
        self._sparse: list = []  # (row-sparse Param, offset) pairs, see _pack
        self._n_dense = 0
        self._ops: Any = None
        self._device: str | None = None
        # compile state
        self.optimizer: Any = None
        self.loss: Any = None
        self._metric_ids: list[Any] = []
        self.compiled_metrics: list[str] = []
        self.stop_training = False
        self.history: Any = None
        self._shuffle_seed: int | None = None
        self._fused_flag = False
        self._regularized: list = []
        self._step_layers: list = []
        self._mask_flow = False  # some layer makes masks: the loops thread them
        self._first_grad: int | None = None
        # per-batch-size workspaces (training: owned by the model; predict: per thread)
        self._train_ws: dict[int, list[Workspace]] = {}
        self._local = threading.local()
        self._fast_stack = None  # fastff.training.compiled's stack description (cached)
        self._network: Chain | None = None
        if device is not None:
            self.device = device
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        TRAINABLE_VERSION[0] += 1

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Any:
        """A layer by name or by index into ``layers`` (Keras's errors when there is none)."""
        if name is not None and index is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"get_layer: index must be an integer, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in [*(getattr(self, "_model_inputs", None) or []), *layers]:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[la.name for la in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    @property
    def network(self) -> Chain:
        """The network the training loop runs: a ``Chain`` over this model's layers (a
        functional Model's: its graph, as one layer)."""
        net = self._network
        if net is None or net.layers is not self._layers or net.mask_flow is not self._mask_flow:
            net = self._network = Chain(self._layers, self._mask_flow)
        return net

    def add(self, layer: Layer) -> None:
        """Append a layer (an ``Input`` first sets the input shape; a model is one layer)."""
        if layer is self:
            raise ValueError(f"Sequential.add: model {self.name!r} cannot contain itself")
        layer = as_layer(layer)
        if getattr(layer, "n_outputs", 1) > 1:
            raise ValueError(f"Sequential.add: model {layer.name!r} has several outputs; all "
                             "layers in a Sequential model should have a single output tensor "
                             "(use the functional API for several outputs), as in Keras")
        if isinstance(layer, Input):
            if self._layers:
                raise ValueError("Sequential.add: an Input must come before the other layers")
            self._input_layer = layer
            self._set_input_shape(layer.input_shape_decl)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a fastff Layer, got {type(layer).__name__}")
        if not self._layers and self._input_shape is None and layer._declared_input_shape:
            self._set_input_shape(layer._declared_input_shape)
        self._layers.append(layer)
        self._invalidate()
        if self._input_shape is not None:
            self._build_layers()

    def pop(self) -> Layer:
        if not self._layers:
            raise ValueError("Sequential.pop: the model has no layers")
        layer = self._layers.pop()
        self._invalidate()
        if self._input_shape is not None and self._layers:
            self._build_layers()
        return layer

    def _set_input_shape(self, shape: tuple[int, ...]) -> None:
        self._input_shape = tuple(int(s) for s in shape)

    def _invalidate(self) -> None:
        self.built = False
        self._layout = None
        self._train_ws.clear()
        self._local = threading.local()
        self._fast_stack = None

    def build(self, input_shape: Any = None) -> None:
        """Build for ``input_shape``: Keras style with a batch axis, ``(None, 784)``, or the
        per-sample shape ``(784,)``."""
        if input_shape is not None:
            shape = tuple(input_shape)
            if len(shape) >= 2 or (shape and shape[0] is None):
                shape = shape[1:]
            self._set_input_shape(shape)
        if self._input_shape is None:
            raise ValueError("Sequential.build: the input shape is unknown; pass "
                             "input_shape=(None, features) or start the model with Input(shape)")
        self._build_layers()

    def _build_layers(self) -> None:
        shape = self._input_shape
        for layer in self._layers:
            if layer.dtype is not None and layer.dtype != self.dtype and not layer.built:
                layer.dtype = self.dtype
            shape = layer.build_for(shape, self.dtype)
        self._output_shape = shape
        self._pack()
        self.built = bool(self._layers)
        if type(self) is Sequential and self._layers:
            self._symbolic()

    def _maybe_build(self, sample_shape: tuple[int, ...]) -> None:
        if not self.built or self._layout_version != TRAINABLE_VERSION[0]:
            if self._input_shape is None:
                self._set_input_shape(sample_shape)
            self._build_layers()

    # ------------------------------------------------------------------ flat buffers
    def _all_params(self) -> tuple[list, list]:
        train, frozen = [], []
        for layer in self._layers:
            train += layer.trainable_params if self.trainable else []
            frozen += layer.non_trainable_params if self.trainable else layer.params
        return train, frozen

    def _layout_key(self) -> tuple:
        train, frozen = self._all_params()
        return tuple(id(p) for p in train), tuple(id(p) for p in frozen)

    def _pack(self) -> None:
        """Move every Param into the flat buffers (trainable first), keeping values."""
        self._layout_version = TRAINABLE_VERSION[0]
        key = self._layout_key()
        if key == self._layout and self.params is not None and all(
                p.value is v for (p, _), v in zip(self._placement, self._views)):
            return
        train, frozen = self._all_params()
        # row-sparse tables last among the trainable params: the dense optimizer pass stops
        # before them (n_dense) and they get row updates (Optimizer.apply_rows)
        train = [p for p in train if not p.sparse] + [p for p in train if p.sparse]
        step = max(1, _ALIGN // self.dtype.itemsize)
        offsets, off = [], 0
        for p in train + frozen:
            offsets.append(off)
            off += -(-p.size // step) * step
        n_train = offsets[len(train)] if frozen else off
        params = _aligned_zeros(max(off, 1), self.dtype)
        grads = _aligned_zeros(max(off, 1), self.dtype)
        self._slots = []
        self._views = []
        for p, o in zip(train + frozen, offsets):
            view = params[o:o + p.size].reshape(p.shape)
            view[...] = to_host(p.value)
            p.value = view
            self._views.append(view)
            p.grad = grads[o:o + p.size].reshape(p.shape)
            if len(self._slots) < len(train):
                self._slots.append((o, p.size))
        self.params, self.grads = params, grads
        self._placement = list(zip(train + frozen, offsets))
        self._train_params = self._all_params()[0]  # ``trainable_weights``, in its order
        self._n_trainable = n_train if train else 0
        self._sparse = [(p, o) for p, o in zip(train, offsets) if p.sparse]
        self._n_dense = self._sparse[0][1] if self._sparse else self._n_trainable
        self._layout = key
        # as Keras 3: penalties of trainable weights only
        self._regularized = [p for p in train if p.regularizer is not None]
        self._step_layers = [la for la in self._layers if hasattr(la, "step")]
        self._mask_flow = any(makes_masks(la) for la in self._layers)
        # backprop stops at the first layer with trainable weights (None: no backprop at all)
        self._first_grad = next((i for i, la in enumerate(self._layers)
                                 if self.trainable and la.trainable_params), None)
        if self.optimizer is not None and getattr(self.optimizer, "built", False):
            if self.optimizer.n_params != self._n_trainable:
                self.optimizer.built = False
        # the weights now live in this model's buffers: another model sharing these layers
        # (an encoder or feature extractor built from them) re-packs before its next use
        TRAINABLE_VERSION[0] += 1
        self._layout_version = TRAINABLE_VERSION[0]

    @property
    def n_trainable(self) -> int:
        """Length of the trainable prefix of ``params`` (padding included)."""
        return self._n_trainable

    # ------------------------------------------------------------------ ops
    @property
    def device(self) -> str | None:
        """This model's device (``"cpu"``, ``"cuda"``), or None: the process default
        (``fastff.get_device()``) when the model first runs."""
        return self._device

    @device.setter
    def device(self, name: str | None) -> None:
        from fastff.backend import get_ops, resolve_device

        if name is None:
            self._device = None
            return
        key = str(name).lower()
        ops = get_ops(resolve_device(key))  # "auto" is decided here, once
        self._device = getattr(ops, "device", key)
        self.ops = ops

    @property
    def ops(self) -> Any:
        if self._ops is None:
            from fastff.backend import get_ops

            self.ops = get_ops()
        return self._ops

    @ops.setter
    def ops(self, value: Any) -> None:
        self._ops = value
        for layer in self._layers:
            layer.ops = value
        if self.optimizer is not None and hasattr(self.optimizer, "ops"):
            self.optimizer.ops = value

    @property
    def on_device(self) -> bool:
        """True when the weights live on an accelerator (the model's ops are not the CPU's)."""
        return self.params is not None and is_device_array(self.params)

    def _place(self, ops: Any) -> None:
        """Keep the flat buffers, the optimizer state and the workspaces where ``ops`` computes:
        on the device for a device backend (moved once, then they stay there across batches and
        calls), on the host otherwise. Nothing moves when they are already in place."""
        if self.params is None:
            return
        want = getattr(ops, "device", "cpu") != "cpu"
        if want == is_device_array(self.params):
            return
        if want:
            params = ops.to_device(self.params)
            grads = ops.to_device(self.grads)
        else:
            params = _aligned_zeros(self.params.size, self.dtype)
            grads = _aligned_zeros(self.grads.size, self.dtype)
            params[...] = self.params.copy_to_host()
            grads[...] = self.grads.copy_to_host()
        self._views = []
        for p, o in self._placement:
            p.value = params[o:o + p.size].reshape(p.shape)
            p.grad = grads[o:o + p.size].reshape(p.shape)
            self._views.append(p.value)
        self.params, self.grads = params, grads
        opt = self.optimizer
        bufs = getattr(opt, "_buffers", None)
        if bufs:
            for k, v in list(bufs.items()):
                bufs[k] = ops.to_device(v) if want else np.ascontiguousarray(to_host(v))
        self._train_ws.clear()
        self._local = threading.local()

    def _new_workspace(self) -> Workspace:
        ops = self.ops
        return Workspace(ops.alloc if getattr(ops, "device", "cpu") != "cpu" else None)

    def _workspaces(self, batch: int) -> list[Workspace]:
        """The training workspaces for this batch size (a couple of sizes are kept)."""
        ws = self._train_ws.get(batch)
        if ws is None:
            if len(self._train_ws) >= 4:
                self._train_ws.clear()
            ws = [self._new_workspace() for _ in range(len(self._layers) + 1)]
            self._train_ws[batch] = ws
        return ws

    def _predict_workspaces(self, batch: int) -> list[Workspace]:
        """Per-thread inference workspaces, so concurrent ``predict`` calls never share."""
        cache = getattr(self._local, "ws", None)
        if cache is None:
            cache = self._local.ws = {}
        ws = cache.get(batch)
        if ws is None:
            if len(cache) >= 4:
                cache.clear()
            ws = cache[batch] = [self._new_workspace() for _ in range(len(self._layers) + 1)]
        return ws

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: Any = None,
                steps_per_execution: Any = None, jit_compile: Any = None,
                auto_scale_loss: Any = None) -> None:
        """Set optimizer, loss and metrics (Keras's extra arguments are accepted and ignored;
        ``loss_weights``, a number, scales the loss)."""
        from fastff import losses, multi_output, optimizers
        from fastff import metrics as metrics_mod

        if loss is None:
            raise ValueError(
                "compile: loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, dict)) or not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        self._metric_ids = list(metrics)
        self._weighted_metric_ids = _metric_list(weighted_metrics, "weighted_metrics")
        # resolve now so unknown names fail at compile time, as in Keras
        self.compiled_metrics = compiled_metrics.log_names(
            [metrics_mod.get(m, self.loss).name for m in self._metric_ids],
            [metrics_mod.get(m, self.loss).name for m in self._weighted_metric_ids])
        if loss_weights is not None:
            names = getattr(self, "output_names", None) or [
                self._layers[-1].name if self._layers else "output"]
            w = multi_output.single_loss_weight(loss_weights, names)
            if w != 1.0:
                self.loss = multi_output.ScaledLoss(self.loss, w)
        if self._ops is not None:
            self.optimizer.ops = self._ops
        if self.built:
            self._pack()

    def _new_metrics(self) -> list:
        """Fresh metric objects with their log names (``fastff.metrics.compiled``); the
        latest are what ``model.metrics`` shows."""
        out = compiled_metrics.build(self._metric_ids,
                                     getattr(self, "_weighted_metric_ids", []), self.loss)
        self.__dict__["_last_metrics"] = out
        return out

    @property
    def metrics(self) -> list:
        """Keras 3's ``[loss tracker, CompileMetrics]`` with the last loop's values
        (``fastff.metrics.tracking``)."""
        from fastff.metrics.tracking import model_metrics

        return model_metrics(self)

    def get_metrics_result(self) -> dict[str, float]:
        """Keras's ``get_metrics_result``: the current value of every metric in
        ``model.metrics`` (the loss, then each compiled metric) as a dict of Python floats."""
        out: dict[str, float] = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return {k: float(v) if np.ndim(v) == 0 else np.asarray(v)
                for k, v in sorted(out.items())}  # Keras 3 sorts the keys

    @property
    def metrics_names(self) -> list[str]:
        """Keras 3's: the names of ``model.metrics`` once compiled — ``["loss"]``, plus
        ``"compile_metrics"`` when metrics were compiled ([] before ``compile``). (The names
        of ``evaluate``'s values are the keys of ``evaluate(..., return_dict=True)``.)"""
        if self.loss is None:
            return []
        return ["loss", *(["compile_metrics"] if self.compiled_metrics else [])]

    def _fused(self) -> bool:
        """Does the loss take the last layer's logits (fused softmax/sigmoid + cross-entropy)?"""
        if self.loss is None or not self._layers:
            return False
        return self.loss.fused_with(getattr(self._layers[-1], "output_activation", None))

    def _build_optimizer(self) -> None:
        """Build the optimizer over the trainable prefix (once; kept across fit calls)."""
        if not self.built:
            raise ValueError("the model must be built before its optimizer")
        self._pack()
        opt = self.optimizer
        if opt is not None and not (opt.built and opt.n_params == self._n_trainable
                                    and opt.dtype == self.dtype):
            opt.build(self._n_trainable, self.dtype, self._slots)
        if opt is not None:
            # Keras's variable paths, for ``optimizer.variables``: what they are made from
            # (the trainable prefix of the layout ``_pack`` just checked), read only there
            prefix = f"{self.name}/" if type(self) is Sequential else ""
            opt._keras_layout = (prefix, self._placement, len(self._slots))
            # Keras: constraints project the trainable weights after a step (re-read every
            # fit: a Param's constraint may be assigned at any time)
            opt.constraints = [(p, p.constraint) for p in self._train_params
                               if p.constraint is not None]

    def get_compile_config(self) -> dict | None:
        from fastff import losses, optimizers
        from fastff import metrics as metrics_mod

        if self.optimizer is None:
            return None
        def ser(ids: list) -> list:  # a metric function: its (registered) name
            return [m if isinstance(m, str) else
                    metrics_mod.serialize(metrics_mod.get(m, self.loss)) for m in ids]

        base = getattr(self.loss, "base", None)  # multi_output.ScaledLoss: loss_weights
        cfg = {"optimizer": optimizers.serialize(self.optimizer),
               "loss": losses.serialize(self.loss if base is None else base),
               "metrics": ser(self._metric_ids)}
        if base is not None:
            cfg["loss_weights"] = self.loss.weight
        if getattr(self, "_weighted_metric_ids", None):
            cfg["weighted_metrics"] = ser(self._weighted_metric_ids)
        return cfg

    def compile_from_config(self, cfg: dict, custom_objects: dict | None = None) -> None:
        from fastff import losses, optimizers
        from fastff import metrics as metrics_mod

        self.compile(optimizer=optimizers.deserialize(cfg["optimizer"], custom_objects),
                     loss=losses.deserialize(cfg["loss"], custom_objects),
                     metrics=[metrics_mod.deserialize(m, custom_objects)
                              for m in cfg.get("metrics") or []],
                     weighted_metrics=[metrics_mod.deserialize(m, custom_objects)
                                       for m in cfg.get("weighted_metrics") or []] or None,
                     loss_weights=cfg.get("loss_weights"))

    def get_training_state(self) -> dict:
        """What a resumed run needs beyond weights and optimizer state (JSON-able)."""
        return {"shuffle_seed": self._shuffle_seed,
                "dropout": {la.name: [la._mask_seed, la.step] for la in self._layers
                            if hasattr(la, "_mask_seed")}}

    def set_training_state(self, state: dict) -> None:
        seed = state.get("shuffle_seed")
        self._shuffle_seed = None if seed is None else int(seed)
        drop = state.get("dropout") or {}
        for la in self._layers:
            if la.name in drop and hasattr(la, "_mask_seed"):
                ms, step = drop[la.name]
                la._mask_seed = None if ms is None else int(ms)
                la.step = int(step)

    # ------------------------------------------------------------------ loops
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, class_weight: Any = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: Any = None,
            validation_steps: Any = None, validation_batch_size: int | None = None,
            validation_freq: Any = 1) -> Any:
        """Train for ``epochs`` epochs; returns the ``History`` (see ``fastff.training.loop``;
        ``x`` may be arrays, a PyDataset, a generator or an iterable of batches)."""
        from fastff.metrics.tracking import note_loss

        if callbacks:  # a BackupAndRestore backup: its state back, and the epoch to resume at
            from fastff.callbacks.backup_and_restore import resume_epoch

            initial_epoch = resume_epoch(self, callbacks, initial_epoch)
        return note_loss(self, _training.fit(
            self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle, class_weight=class_weight,
            sample_weight=sample_weight, initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
            validation_batch_size=validation_batch_size, validation_freq=validation_freq),
            prefer_val=True)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: Any = None,
                 callbacks: Any = None, return_dict: bool = False) -> Any:
        """Loss (and metrics) on ``(x, y)``: a float, a list ``[loss, *metrics]`` or a dict."""
        from fastff.metrics.tracking import note_loss

        return note_loss(self, _training.evaluate(
            self, x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
            steps=steps, callbacks=callbacks, return_dict=return_dict))

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: Any = None, callbacks: Any = None) -> np.ndarray:
        """Outputs for ``x`` (a new array of the model dtype)."""
        return _training.predict(self, x, batch_size, verbose, callbacks, steps=steps)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        from fastff.layers.symbolic import call_symbolic, is_symbolic

        if is_symbolic(x) or (isinstance(x, (list, tuple)) and x and is_symbolic(x[0])):
            return call_symbolic(as_layer(self), x)  # a model used as a layer (Keras)
        if _call_context.inside_call():  # inside a subclassed model's call: part of it
            return self._call_layers(x, training)
        if training:
            return _training.forward(self, x, training=True)
        return _training.predict(self, x, batch_size=None, verbose=0, callbacks=None,
                                 single_batch=True)

    def _call_layers(self, x: Any, training: Any) -> Any:
        """Run the layers one by one through ``Layer.__call__`` (so an enclosing model's tape
        records them and the weights stay in the enclosing model's buffers)."""
        if getattr(self, "_graph", None) is not None:  # the graph as one recorded node
            return as_layer(self)(x, training=training)
        h = x
        for layer in self._layers:
            h = layer(h, training=training)
        return h

    def predict_on_batch(self, x: Any) -> np.ndarray:
        return _training.predict(self, x, batch_size=None, verbose=0, callbacks=None,
                                 single_batch=True)

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                       class_weight: Any = None, return_dict: bool = False) -> Any:
        return _training.train_on_batch(self, x, y, sample_weight=sample_weight,
                                        class_weight=class_weight, return_dict=return_dict)

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        first = x
        if isinstance(x, dict) and x:  # a functional Model's inputs by name
            first = next(iter(x.values()))
        elif isinstance(x, (list, tuple)) and len(getattr(self, "_model_inputs", ())) > 1:
            first = x[0]
        return self.evaluate(x, y, batch_size=max(len(np.asarray(first)), 1), verbose=0,
                             sample_weight=sample_weight, return_dict=return_dict)

    # ------------------------------------------------------------------ weights
    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{what}: the model is not built yet; call model.build(input_shape), "
                             "start it with Input(shape), or train/predict once")

    @property
    def weights(self) -> list:
        return [p for layer in self._layers for p in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return self._all_params()[0] if self._layers else []

    @property
    def non_trainable_weights(self) -> list:
        return self._all_params()[1] if self._layers else []

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, layer by layer (as Keras)."""
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: list[Any]) -> None:
        self._require_built("set_weights")
        expected = sum(len(layer.params) for layer in self._layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights: the model has {expected} weight arrays, got "
                             f"{len(weights)}")
        i = 0
        for layer in self._layers:
            k = len(layer.params)
            layer.set_weights(list(weights[i:i + k]))
            i += k

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._layers)

    @property
    def input_shape(self) -> tuple | None:
        return None if self._input_shape is None else (None, *self._input_shape)

    @property
    def output_shape(self) -> tuple | None:
        if self._input_shape is None or not self._layers:
            return None
        shape = self._input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return (None, *shape)

    def _symbolic(self) -> tuple[Any, Any] | None:
        """``(Input, output tensor)`` of this stack seen as a graph, as Keras's Sequential is
        one: each layer's ``input``/``output`` is defined, and ``Model(model.inputs,
        model.layers[i].output)`` builds a feature extractor sharing the weights. Built
        again only when the layers or the input shape change. None: no input shape yet."""
        if self._input_shape is None or not self._layers or \
                type(self)._build_layers is not Sequential._build_layers:
            return None  # not a stack of layers (a subclassed model runs its own call)
        ids = tuple(id(la) for la in self._layers)
        old = self._graph_view
        if old is not None and old[0] == (ids, self._input_shape):
            return old[1], old[2][-1]
        from fastff.layers.symbolic import call_symbolic

        inp = self._input_layer
        tensors: list = []
        if old is not None and tuple(old[1].input_shape_decl) == self._input_shape and (
                inp is None or inp is old[1]):
            # layers added later: the earlier ones keep their tensors (one node each, as Keras)
            inp = old[1]
            for i, lid in enumerate(old[0][0][:len(ids)]):
                if lid != ids[i]:
                    break
                tensors.append(old[2][i])
        elif inp is None or tuple(inp.input_shape_decl) != self._input_shape:
            first = self._layers[0]
            int_in = first.input_dtype is not None and np.dtype(first.input_dtype).kind in "iu"
            inp = Input(shape=self._input_shape, name=f"{first.name}_input",
                        dtype=first.input_dtype if int_in else None)
        t = tensors[-1] if tensors else inp
        for layer in self._layers[len(tensors):]:
            t = call_symbolic(layer, t)
            tensors.append(t)
        self._graph_view = ((ids, self._input_shape), inp, tensors)
        return inp, t

    @property
    def inputs(self) -> list | None:
        """The symbolic inputs (one ``Input``), None while the input shape is unknown."""
        g = self._symbolic()
        return None if g is None else [g[0]]

    @property
    def outputs(self) -> list | None:
        """The symbolic outputs (one tensor), None while the input shape is unknown."""
        g = self._symbolic()
        return None if g is None else [g[1]]

    @property
    def input(self) -> Any:
        """The one symbolic input (Keras's ``model.input``)."""
        ins = self.inputs
        if ins is None:
            raise AttributeError(f"{self.name} has no defined input: its input shape is not "
                                 "known yet (start it with keras.Input(shape))")
        return ins[0] if len(ins) == 1 else ins

    @property
    def output(self) -> Any:
        """The symbolic output (a list for several outputs), as Keras's ``model.output``."""
        outs = self.outputs
        if outs is None:
            raise AttributeError(f"{self.name} has no defined output: its input shape is not "
                                 "known yet (start it with keras.Input(shape))")
        return outs[0] if len(outs) == 1 else outs

    # ------------------------------------------------------------------ delegation
    def summary(self, print_fn: Any = None, line_length: int | None = None, **_: Any) -> None:
        from fastff.summary import summary

        summary(self, print_fn=print_fn, line_length=line_length)

    def save(self, path: Any, **_: Any) -> None:
        """fastff's format; a ``.keras`` name gets Keras 3's (``fastff.keras_format``)."""
        from fastff import keras_format

        if keras_format.kind_of_path(path) == "keras":
            return keras_format.save_keras(self, path)
        from fastff.saving import save_model

        save_model(self, path)

    def save_weights(self, path: Any, **_: Any) -> None:
        """fastff's format; a ``.weights.h5`` name gets Keras 3's."""
        from fastff import keras_format

        if keras_format.kind_of_path(path) == "keras_weights":
            return keras_format.save_keras_weights(self, path)
        from fastff.saving import save_weights

        save_weights(self, path)

    def load_weights(self, path: Any, **_: Any) -> None:
        """fastff's format, or Keras 3's (by its magic bytes or a ``.weights.h5`` name)."""
        from fastff import keras_format

        if keras_format.kind_of_file(path) is not None:
            return keras_format.load_keras_weights(self, path)
        from fastff.saving import load_weights

        load_weights(self, path)

    def export(self, filepath: Any, format: str = "onnx", verbose: bool | None = None,
               input_signature: Any = None, **kwargs: Any) -> Any:
        """Keras 3's ``export``: ``"onnx"`` (default) or ``"c"`` source (``fastff.export``)."""
        from fastff.export import export_model

        return export_model(self, filepath, format=format, verbose=verbose,
                            input_signature=input_signature, **kwargs)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable,
                "input_shape": None if self._input_shape is None else list(self._input_shape),
                "layers": [serialize_layer(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, cfg: dict, custom_objects: dict | None = None) -> Sequential:
        model = cls(name=cfg.get("name"), dtype=cfg.get("dtype"),
                    trainable=cfg.get("trainable", True))
        shape = cfg.get("input_shape")
        if shape is not None:
            model._set_input_shape(tuple(shape))
        for lc in cfg.get("layers", []):
            model.add(saving.deserialize_layer_or_model(lc, custom_objects))
        return model

    def _config_class_name(self) -> str:
        """The class name a config of this model carries (what ``load_model`` looks up)."""
        return _model_class_name(self)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON (Keras's ``to_json``; ``model_from_json`` reads it back):
        no weights, no compile state. ``kwargs`` go to ``json.dumps``."""
        import json

        return json.dumps({"class_name": _model_class_name(self), "config": self.get_config()},
                          **kwargs)

    @property
    def losses(self) -> list[float]:
        """Keras's ``model.losses``: the regularization penalty of each regularized trainable
        weight (what training adds to the loss), then the layers' ``add_loss`` values."""
        out: list[Any] = []
        if self.trainable:
            for layer in self.layers:
                out += [float(p.regularizer(to_host(p.value))) for p in layer.trainable_params
                        if p.regularizer is not None]
        for layer in self.layers:
            out += list(getattr(layer, "losses", []))
        return out

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"


saving.register_model_class(Sequential)


def __getattr__(name: str) -> Any:
    if name == "Model":  # keras.models.Model (fastff.functional imports this module)
        return saving.model_class("Model")
    raise AttributeError(f"module 'fastff.models' has no attribute {name!r}")


def _model_class_name(model: Any) -> str:
    for name in ("Sequential", "Model"):
        if type(model) is saving.model_class(name):
            return name
    return type(model).__name__


def _from_spec(name: str, config: Any, custom_objects: dict | None, what: str) -> Any:
    from fastff.saving import _with_registered

    custom_objects = dict(_with_registered(custom_objects) or {})
    if name == "Functional":
        name = "Model"
    cls = saving.model_class(name) or custom_objects.get(name)
    if cls is None or not hasattr(cls, "from_config"):
        raise ValueError(f"{what}: unknown model class {name!r} (pass it in custom_objects)")
    if not isinstance(config, dict):
        raise ValueError(f"{what}: the model config must be an object, got {config!r}")
    return cls.from_config(config, custom_objects=custom_objects)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Any:
    """A new, uncompiled model from ``model.to_json()`` (fresh weights), as Keras."""
    import json

    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not a JSON model description: {e}") from e
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError("model_from_json: expected an object with 'class_name' and 'config'")
    return _from_spec(spec["class_name"], spec.get("config"), custom_objects, "model_from_json")


def clone_model(model: Any, input_tensors: Any = None, clone_function: Any = None,
                **kwargs: Any) -> Any:
    """Keras's ``clone_model``: a new model with the same architecture and *newly
    initialized* weights (copy them with ``clone.set_weights(model.get_weights())``);
    uncompiled. ``input_tensors``, ``clone_function`` and the other options are refused."""
    if input_tensors is not None or clone_function is not None or kwargs:
        given = [k for k, v in (("input_tensors", input_tensors),
                                ("clone_function", clone_function)) if v is not None]
        raise NotImplementedError(f"clone_model: {', '.join(given + sorted(kwargs))} not "
                                  "supported; fastff clones the whole model from its config")
    if not hasattr(model, "get_config"):
        raise TypeError(f"clone_model: expected a fastff model, got {type(model).__name__}")
    clone = _from_spec(_model_class_name(model), model.get_config(), None, "clone_model")
    if not clone.built and getattr(model, "_input_shape", None) is not None \
            and isinstance(model._input_shape, tuple):
        clone.build((None, *model._input_shape))
    return clone


def _metric_list(metrics: Any, name: str) -> list:
    """``compile``'s metrics argument as a list (one metric, a list or None)."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, (list, tuple)):
        return [metrics]
    return list(metrics)


def _aligned_zeros(n: int, dtype: np.dtype) -> np.ndarray:
    """Zeros whose first element sits on a 64-byte boundary."""
    raw = np.zeros(n * dtype.itemsize + _ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype)


def load_model(path: Any, custom_objects: dict | None = None, compile: bool = True) -> Any:
    """Load a model written by ``model.save``: fastff's format (``fastff.saving``), or a
    Keras 3 ``.keras`` zip (``fastff.keras_format``), told apart by their magic bytes."""
    from fastff import keras_format

    if keras_format.kind_of_file(path) == "keras":
        return keras_format.load_keras(path, custom_objects=custom_objects, compile=compile)
    from fastff.saving import load_model as _load

    return _load(path, custom_objects=custom_objects, compile=compile)

