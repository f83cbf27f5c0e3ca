"""The functional API: ``fastff.Model(inputs, outputs)`` over a graph of layers.

``x = Dense(8)(inp)`` on a ``fastff.Input`` (or on another call's output) records a node
instead of computing. ``Model`` then runs the graph as *one* layer (``_Graph``) inside the
``Sequential`` machinery, so fit / evaluate / predict / summary / save share the same loops,
flat parameter buffers and optimizer path. Several inputs arrive as a list (in ``inputs``
order) or a dict keyed by the ``Input`` names; ids inputs (``Input(dtype="int32")``) keep
their integer dtype. Several outputs (a list or dict) are compiled and trained per output by
``fastff.multi_output``. A layer may be called on several tensors (shared layers: one set of
weights, the gradients of its calls summed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import _validation as V
from fastff import multi_output, saving
from fastff._call_context import regularize_output
from fastff.data_adapters import is_batch_source
from fastff.layers import Input, Layer, Workspace
from fastff.layers import deserialize as deserialize_layer
from fastff.layers import serialize as serialize_layer
from fastff.layers.base import lowers
from fastff.layers.composite import Composite
from fastff.layers.masking import forward_masked, makes_masks, output_mask
from fastff.layers.symbolic import SymbolicTensor, call_symbolic, is_symbolic
from fastff.subclassed import Model as BaseModel
from fastff.subclassed import register_functional

__all__ = ["Model", "BaseModel", "SymbolicTensor", "is_symbolic", "call_symbolic"]


class _Inputs:
    """Several input arrays cut and shuffled together (what the loops see as ``X``)."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays
        self.shape = (arrays[0].shape[0],)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, s: slice) -> _Inputs:
        return _Inputs([a[s] for a in self.arrays])

    def empty_like(self) -> _Inputs:
        return _Inputs([np.empty_like(a) for a in self.arrays])

    def take_into(self, perm: np.ndarray, out: _Inputs) -> None:
        for a, o in zip(self.arrays, out.arrays):
            np.take(a, perm, axis=0, out=o)


class _Graph(Composite):
    """The whole graph as one layer: forward runs the nodes in order, backprop in reverse.

    ``outputs`` is one tensor or a list (then ``forward`` returns a list and ``backprop``
    takes one gradient, or None, per output). A layer called on several tensors (a shared
    layer) is one node per call over one set of weights; its gradient is the sum over calls.
    """

    #: set when the graph is a layer of an outer model (``fastff.nested``): backprop then
    #: returns the gradient with respect to its inputs
    inputs_need_grad = False

    def __init__(self, inputs: list[Input], output: Any, name: str):
        super().__init__(name=name)
        self.sources = inputs
        self.nodes: list[tuple[Layer, list[int]]] = []
        #: the symbolic tensor each node computes (what orders a shared layer's calls)
        self.node_tensors: list[SymbolicTensor] = []
        index: dict[int, int] = {id(t): i for i, t in enumerate(inputs)}

        def visit(t: Any) -> int:
            if id(t) in index:
                return index[id(t)]
            if isinstance(t, Input):
                raise ValueError(f"the output depends on Input {t.name!r}, which is not among "
                                 "the model's inputs")
            refs = [visit(s) for s in t.inputs]
            self.nodes.append((t.layer, refs))
            self.node_tensors.append(t)
            index[id(t)] = len(inputs) + len(self.nodes) - 1
            return index[id(t)]

        outs = output if isinstance(output, list) else [output]
        for o in outs:  # an Input may be an output itself (passed through, as in Keras)
            if not isinstance(o, (SymbolicTensor, Input)):
                raise TypeError("Model: outputs must be Inputs or the result of calling "
                                "layers on Inputs")
        self.multi = isinstance(output, list)
        self.out_refs = [visit(o) for o in outs]
        self.out_shapes = [tuple(o.input_shape_decl) if isinstance(o, Input) else o.sample_shape
                           for o in outs]
        self.out_shape = self.out_shapes[0]
        self._mask_flow = any(makes_masks(layer) for layer, _ in self.nodes)
        uses: dict[int, int] = {}
        for layer, _ in self.nodes:
            uses[id(layer)] = uses.get(id(layer), 0) + 1
        self._uses = uses
        self._shared = {lid for lid, n in uses.items() if n > 1}
        for layer, _ in self.nodes:
            if uses[id(layer)] > 1 and any(p.sparse for p in layer.params):
                raise NotImplementedError(f"layer {layer.name!r} has row-sparse weights and is "
                                          "called more than once; shared embedding layers "
                                          "are not supported")
        consumed = {r for _, refs in self.nodes for r in refs}
        k = len(inputs)
        #: output positions whose node may hand a loss its logits: read by nothing else,
        #: one output only, and its layer called once
        self.fusable = [r >= k and r not in consumed and self.out_refs.count(r) == 1
                        and uses[id(self.nodes[r - k][0])] == 1 for r in self.out_refs]

    def lower(self, builder: Any) -> bool:
        """A plain chain (one input, one output, each node reading the one before, no shared
        layer, no masks) lowers as its layers do, in order."""
        if len(self.sources) != 1 or self.multi or self._shared or self._mask_flow:
            return False
        if self.out_refs != [len(self.nodes)]:
            return False
        for i, (layer, refs) in enumerate(self.nodes):
            if refs != [i] or getattr(layer, "multi_input", False):
                return False
            if not lowers(layer) or not layer.lower(builder):
                return False
        return True

    def output_layers(self) -> list[Layer]:
        """The layer that makes each output."""
        k = len(self.sources)
        return [self.nodes[r - k][0] if r >= k else self.sources[r] for r in self.out_refs]

    @property
    def simple(self) -> bool:
        """One output and no shared layers (what the Keras/ONNX writers handle)."""
        return not self.multi and len(self.layers) == len(self.nodes)

    # ---- the inner layers' weights, flags and ops --------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """Each layer once, in first-call order (an inner model's ``OutputPick`` nodes are
        not layers)."""
        seen: set[int] = set()
        out = []
        for layer, _ in self.nodes:
            if id(layer) not in seen and not getattr(layer, "is_output_pick", False):
                seen.add(id(layer))
                out.append(layer)
        return out

    @property
    def inner_layers(self) -> list[Layer]:
        return self.layers

    @property
    def step(self) -> int:
        return max((la.step for la in self.layers if hasattr(la, "step")), default=0)

    @step.setter
    def step(self, value: int) -> None:
        for la in self.layers:
            if hasattr(la, "step"):
                la.step = value

    @property
    def output_activation(self) -> str | None:  # type: ignore[override]
        if self.multi or not self.fusable[0]:
            return None
        return getattr(self.nodes[-1][0], "output_activation", None)

    def output_activations(self) -> list[str | None]:
        """Per output: the activation a loss may fuse with (None where it may not)."""
        k = len(self.sources)
        return [getattr(self.nodes[r - k][0], "output_activation", None) if f else None
                for r, f in zip(self.out_refs, self.fusable)]

    def build_all(self, dtype: Any) -> None:
        shapes: list[Any] = [tuple(s.input_shape_decl) for s in self.sources]
        for layer, refs in self.nodes:
            if layer.dtype is not None and layer.dtype != dtype and not layer.built:
                layer.dtype = dtype
            if getattr(layer, "multi_input", False):
                shapes.append(layer.build_for([shapes[r] for r in refs], dtype))
            else:
                shapes.append(layer.build_for(shapes[refs[0]], dtype))
        self.dtype = np.dtype(dtype)
        self.built = True

    def node_shapes(self) -> list[tuple[int, ...]]:
        """Per-sample output shape of every node."""
        shapes: list[Any] = [tuple(s.input_shape_decl) for s in self.sources]
        for layer, refs in self.nodes:
            multi = getattr(layer, "multi_input", False)
            out = layer.infer_output_shape([shapes[r] for r in refs] if multi
                                           else shapes[refs[0]])
            # (a list of shapes for a model of several outputs used as a layer)
            shapes.append(list(out) if isinstance(out, list) else tuple(out))
        return shapes[len(self.sources):]

    # ---- running ------------------------------------------------------------------------
    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        return self._run(x, training, ws, ())

    def forward_logits(self, x: Any, training: bool = False, ws: Workspace | None = None):
        return self._run(x, training, ws, (len(self.nodes) - 1,))

    def forward_outputs(self, x: Any, training: bool, ws: Workspace | None,
                        logits: list[bool]) -> tuple[list, Any]:
        """Every output (logits where ``logits[i]``) and the backprop taking a list."""
        k = len(self.sources)
        nodes = tuple(r - k for r, f in zip(self.out_refs, logits) if f)
        return self._run(x, training, ws, nodes)

    def _workspaces(self, ws: Workspace | None) -> list | None:
        if ws is None:
            return None
        kids = ws._bufs.get("__nodes__")  # per-node workspaces live in the model's one
        if kids is None:
            kids = ws._bufs["__nodes__"] = [Workspace(ws._alloc)  # type: ignore
                                            for _ in self.nodes]
        return kids  # type: ignore[return-value]

    def _run(self, x: Any, training: bool, ws: Workspace | None, logit_nodes: tuple):
        k = len(self.sources)
        vals = list(x.arrays) if isinstance(x, _Inputs) else list(x)
        kids = self._workspaces(ws)
        bps = []
        # a node needs backprop when it or anything upstream has trainable weights
        active = [self.inputs_need_grad] * k
        masks = [None] * k if self._mask_flow else None  # Keras's masks, node by node
        calls: dict[int, int] = {}
        for i, (layer, refs) in enumerate(self.nodes):
            multi = getattr(layer, "multi_input", False)
            inp = [vals[r] for r in refs] if multi else vals[refs[0]]
            w = None if kids is None else kids[i]
            seed = None
            if training and id(layer) in self._shared:
                j = calls.get(id(layer), 0)
                calls[id(layer)] = j + 1
                seed = getattr(layer, "_mask_seed", None) if j else None
                if seed is not None:  # a shared Dropout: a new mask for each call, as Keras
                    object.__setattr__(layer, "_mask_seed", (seed + j * 1_000_003) % (2**31))
            if masks is not None:
                m = [masks[r] for r in refs] if multi else masks[refs[0]]
                masks.append(None if i in logit_nodes else output_mask(layer, inp, m))
            try:
                if i in logit_nodes:
                    y, bp = layer.forward_logits(inp, training, w)
                elif masks is not None:
                    y, bp = forward_masked(layer, inp, training, w, m)
                else:
                    y, bp = layer.forward(inp, training, w)
            finally:
                if seed is not None:
                    object.__setattr__(layer, "_mask_seed", seed)
            if layer.activity_regularizer is not None:
                y, bp = regularize_output(layer, y, bp)
            vals.append(y)
            bps.append(bp)
            active.append(bool(layer.trainable_params) or any(active[r] for r in refs))
        out_refs = self.out_refs
        shared = self._shared

        def backprop(dy: Any, need_dx: bool = True) -> None:
            grads: list[Any] = [None] * len(vals)
            for r, d in zip(out_refs, dy if self.multi else [dy]):
                if d is not None:
                    grads[r] = d if grads[r] is None else grads[r] + d
            done: dict[int, list] = {}  # layer id -> its summed weight gradients so far
            for i in range(len(self.nodes) - 1, -1, -1):
                g = grads[k + i]
                if g is None or not active[k + i]:
                    continue
                layer, refs = self.nodes[i]
                need = any(active[r] and (r >= k or need_dx) for r in refs)
                dx = bps[i](g, need)
                if id(layer) in shared:
                    tp = layer.trainable_params
                    prev = done.get(id(layer))
                    if prev is not None:  # a shared layer: gradients of its calls add up
                        for p, s in zip(tp, prev):
                            p.grad += s
                    done[id(layer)] = [p.grad.copy() for p in tp]
                else:
                    done[id(layer)] = []
                if not need:
                    continue
                parts = dx if getattr(layer, "multi_input", False) else [dx]
                for r, d in zip(refs, parts):
                    if active[r] and (r >= k or need_dx):
                        grads[r] = d if grads[r] is None else grads[r] + d
            if self.multi and len(done) != len(self._uses):  # no loss reached: zero grad
                for layer in self.layers:
                    if id(layer) not in done:
                        for p in layer.trainable_params:
                            p.grad[...] = 0
            if need_dx and self.inputs_need_grad:  # nested: d loss / d inputs
                return grads[:k] if k > 1 else grads[0]
            return None

        if self.multi:
            return [vals[r] for r in out_refs], backprop
        return vals[out_refs[0]], backprop


class Model(BaseModel):
    """A network of layers with several inputs (Keras functional API), trained like
    ``Sequential``: ``Model(inputs=[a, b], outputs=y)``. A subclass of Keras's base
    ``fastff.Model`` (``fastff.subclassed``), which constructs it for ``Model(inputs, outputs)``."""

    _auto_track = False  # the graph, not attribute scanning, says what the layers are

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, dtype: Any = None,
                 trainable: bool = True, device: str | None = None):
        from fastff.layers.base import unique_name

        super().__init__(name=name or unique_name("functional"), dtype=dtype,
                         trainable=trainable)
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not ins or not all(isinstance(t, Input) for t in ins):
            raise TypeError("Model: inputs must be fastff.Input objects (or a list of them)")
        outputs, self._output_names, self._output_kind = multi_output.output_structure(outputs)
        self._model_outputs = outputs if isinstance(outputs, list) else [outputs]
        self._multi: Any = None  # the compiled per-output losses (fastff.multi_output)
        self._model_inputs = ins
        self._graph = _Graph(ins, outputs, name=f"{self.name}_graph")
        if self._output_kind is not None:
            self._output_names = multi_output.output_names(
                self._output_names, [la.name for la in self._graph.output_layers()])
        self._layers = [self._graph]
        self._build_layers()
        if device is not None:
            self.device = device

    # ---- structure ----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The model's ``Input`` layers, then each layer once in first-call order (Keras 3
        lists a functional model's ``InputLayer``s too, so ``layers[1]`` is the first
        ``Dense`` after one input)."""
        return [*self._model_inputs, *self._graph.layers]

    def add(self, layer: Layer) -> None:
        raise TypeError("Model (functional) has a fixed graph; use Sequential to add layers")

    def pop(self) -> Layer:
        raise TypeError("Model (functional) has a fixed graph; use Sequential to pop layers")

    def _build_layers(self) -> None:
        self._graph.build_all(self.dtype)
        self._output_shape = self._graph.out_shape
        self._pack()
        self.built = True

    def _maybe_build(self, sample_shape: Any = None) -> None:
        from fastff.layers.base import TRAINABLE_VERSION

        if not self.built or self._layout_version != TRAINABLE_VERSION[0]:
            self._build_layers()

    @property
    def input_shape(self) -> Any:
        shapes = [(None, *t.input_shape_decl) for t in self._model_inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [(None, *s) for s in self._graph.out_shapes]
        if self._output_kind == "dict":
            return dict(zip(self._output_names, shapes))
        return shapes if self._output_kind == "list" else shapes[0]

    @property
    def outputs(self) -> list:
        """The output tensors, as a flat list (dict outputs in sorted-key order), as Keras."""
        return list(self._model_outputs)

    @property
    def output_names(self) -> list[str]:
        """Keras's output names: the output layers' names (for dict outputs in sorted-key
        order; the logs and per-output arguments use the keys)."""
        return [la.name for la in self._graph.output_layers()]

    # ---- several outputs (fastff.multi_output) ------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, **kwargs: Any) -> None:
        """As ``Sequential.compile``; with several outputs ``loss``, ``loss_weights`` and
        ``metrics`` may be lists or dicts per output (``fastff.multi_output``)."""
        if self._output_kind is None:  # one output: a list of one or a dict by its name too
            self._multi = None
            names = self.output_names
            loss = multi_output.unwrap_single(loss, names, "loss")
            metrics = multi_output.unwrap_single(metrics, names, "metrics")
            return super().compile(optimizer, loss, metrics, loss_weights, **kwargs)
        if loss is None:
            raise ValueError("compile: loss is required, e.g. loss='mse', a list with one "
                             f"loss per output or a dict keyed by {self._output_names}")
        spec = multi_output.MultiSpec(self, loss, loss_weights, metrics)
        super().compile(optimizer, spec.losses[next(
            i for i, lo in enumerate(spec.losses) if lo is not None)], **kwargs)
        self._multi = spec
        self._metric_ids = []
        self.compiled_metrics = list(spec.metric_names)

    def _fused(self) -> bool:
        return False if self._multi is not None else super()._fused()

    def _new_metrics(self) -> list:
        return self._multi.new_metrics() if self._multi is not None else super()._new_metrics()

    @property
    def metrics_names(self) -> list[str]:
        return self._multi.metrics_names if self._multi is not None else super().metrics_names

    def get_compile_config(self) -> dict | None:
        if self._multi is None or self.optimizer is None:
            return super().get_compile_config()
        from fastff import losses, optimizers
        from fastff import metrics as metrics_mod

        def ser(kind: str, v: Any) -> Any:
            if isinstance(v, dict):
                return {k: ser(kind, x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [ser(kind, x) for x in v]
            if v is None or isinstance(v, (str, int, float)):
                return v
            if kind == "loss":
                return losses.serialize(losses.get(v))
            return metrics_mod.serialize(metrics_mod.get(v))

        loss, weights, mets = self._multi.args
        return {"optimizer": optimizers.serialize(self.optimizer), "loss": ser("loss", loss),
                "loss_weights": weights, "metrics": ser("metric", mets)}

    def compile_from_config(self, cfg: dict, custom_objects: dict | None = None) -> None:
        if self._output_kind is None:
            return super().compile_from_config(cfg, custom_objects)
        from fastff import losses, optimizers
        from fastff import metrics as metrics_mod

        def de(kind: str, v: Any) -> Any:
            if isinstance(v, dict) and "class_name" not in v:
                return {k: de(kind, x) for k, x in v.items()}
            if isinstance(v, list):
                return [de(kind, x) for x in v]
            if v is None or isinstance(v, (int, float)):
                return v
            if kind == "loss":
                return losses.deserialize(v, custom_objects)
            return metrics_mod.deserialize(v, custom_objects)

        self.compile(optimizer=optimizers.deserialize(cfg["optimizer"], custom_objects),
                     loss=de("loss", cfg["loss"]), loss_weights=cfg.get("loss_weights"),
                     metrics=de("metric", cfg.get("metrics")))

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: Any = None, callbacks: Any = None) -> Any:
        """Outputs for ``x``: an array, or a list/dict of arrays for several outputs."""
        if self._output_kind is None or is_batch_source(x):  # a generator: data_adapters
            return super().predict(x, batch_size, verbose, steps, callbacks)
        return multi_output.predict(self, x, batch_size, verbose, callbacks)

    def predict_on_batch(self, x: Any) -> Any:
        if self._output_kind is None:
            return super().predict_on_batch(x)
        return multi_output.predict(self, x, None, 0, None, single_batch=True)

    def __call__(self, x: Any, training: bool = False) -> Any:
        if self._output_kind is None or is_symbolic(x) or (
                isinstance(x, (list, tuple)) and x and is_symbolic(x[0])):
            return super().__call__(x, training)
        return multi_output.predict(self, x, None, 0, None, single_batch=True,
                                    training=bool(training))

    @property
    def inputs(self) -> list[Input]:
        return list(self._model_inputs)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self._model_inputs]

    # ---- data ----------------------------------------------------------------------------
    def _prepare_inputs(self, x: Any, name: str = "x") -> _Inputs:
        """``x`` (one array, a list in ``inputs`` order, or a dict by Input name) checked."""
        ins = self._model_inputs
        if isinstance(x, _Inputs):
            return x
        if isinstance(x, dict):
            missing = [t.name for t in ins if t.name not in x]
            if missing:
                raise ValueError(f"{name}: missing input(s) {missing}; got keys {sorted(x)}")
            arrays = [x[t.name] for t in ins]
        elif isinstance(x, (list, tuple)) and len(ins) > 1:
            arrays = list(x)
        else:
            arrays = [x]
        if len(arrays) != len(ins):
            raise ValueError(f"{name}: the model has {len(ins)} inputs "
                             f"({', '.join(self.input_names)}), got {len(arrays)} arrays")
        out = []
        for t, a in zip(ins, arrays):
            label = f"{name}[{t.name!r}]"
            a = V.adjust_rank(a, t.input_shape_decl)
            if t.input_dtype is not None and t.input_dtype.kind == "O":  # strings
                arr = V.as_tokens(a, label)
            elif t.input_dtype is not None:
                arr = np.asarray(a)
                if arr.dtype.kind not in "iu":
                    raise TypeError(f"{label}: expected integer ids, got dtype {arr.dtype}")
                arr = np.ascontiguousarray(arr)
                if arr.ndim == 0 or arr.shape[0] == 0:
                    raise ValueError(f"{label}: expected at least one sample")
            else:
                arr = V.as_features(a if np.ndim(a) >= 2 or t.input_shape_decl else
                                    np.reshape(a, (-1, 1)), self.dtype, label)
            V.check_feature_shape(arr, t.input_shape_decl, label)
            out.append(arr)
        n = out[0].shape[0]
        for t, a in zip(ins, out):
            V.check_lengths(n, a, f"{name}[{t.name!r}]", f"{name}[{ins[0].name!r}]")
        self._maybe_build()
        return _Inputs(out)

    # ---- state, summary, config ---------------------------------------------------------
    def get_training_state(self) -> dict:
        return {"shuffle_seed": self._shuffle_seed,
                "dropout": {la.name: [la._mask_seed, la.step] for la in self.layers
                            if hasattr(la, "_mask_seed")}}

    def set_training_state(self, state: dict) -> None:
        seed = state.get("shuffle_seed")
        self._shuffle_seed = None if seed is None else int(seed)
        drop = state.get("dropout") or {}
        for la in self.layers:
            if la.name in drop and hasattr(la, "_mask_seed"):
                ms, step = drop[la.name]
                la._mask_seed = None if ms is None else int(ms)
                la.step = int(step)

    def summary_rows(self) -> list[tuple[str, str, str, str]]:
        """``(name, type, output shape, params)`` per Input and layer, for ``summary``."""
        rows = [(t.name, "InputLayer", _shape(t.input_shape_decl), "0")
                for t in self._model_inputs]
        seen: set[int] = set()
        for (layer, _), shape in zip(self._graph.nodes, self._graph.node_shapes()):
            if id(layer) in seen or getattr(layer, "is_output_pick", False):
                continue  # a shared layer: one row, as Keras; an inner model's output pick
            seen.add(id(layer))
            kind = getattr(layer, "type_name", type(layer).__name__)
            text = ("[" + ", ".join(_shape(s) for s in shape) + "]"
                    if isinstance(shape, list) else _shape(shape))
            rows.append((layer.name, kind, text, f"{layer.count_params():,}"))
        return rows

    def _tensor_names(self) -> list[str]:
        """A name per graph value: the inputs', then per node its layer's name (``name:k``
        for the k-th further call of a shared layer)."""
        names = [t.name for t in self._model_inputs]
        calls: dict[int, int] = {}
        for la, refs in self._graph.nodes:
            if getattr(la, "is_output_pick", False):  # output k of a call: "inner[k]"
                names.append(f"{names[refs[0]]}[{la.index}]")
                continue
            k = calls.get(id(la), 0)
            calls[id(la)] = k + 1
            names.append(la.name if k == 0 else f"{la.name}:{k}")
        return names

    def get_config(self) -> dict:
        names = self._tensor_names()
        graph = self._graph
        first: dict[int, list[int]] = {}
        for la, refs in graph.nodes:
            first.setdefault(id(la), refs)
        cfg = {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable,
               "inputs": [serialize_layer(t) for t in self._model_inputs],
               "layers": [dict(serialize_layer(la), inbound=[names[r] for r in first[id(la)]],
                               **({"list_input": True} if "multi_input" in la.__dict__
                                  and la.multi_input else {}))
                          for la in graph.layers],
               "output": names[graph.out_refs[0]]}
        if not graph.simple or self._output_kind is not None:
            cfg["nodes"] = [[la.name, [names[r] for r in refs]] for la, refs in graph.nodes
                            if not getattr(la, "is_output_pick", False)]
            cfg["outputs"] = [names[r] for r in graph.out_refs]
            cfg["output_keys"] = self._output_names if self._output_kind == "dict" else None
        return cfg

    @classmethod
    def from_config(cls, cfg: dict, custom_objects: dict | None = None) -> Model:
        tensors: dict[str, Any] = {}
        ins = []
        for ic in cfg["inputs"]:
            t = deserialize_layer(ic, custom_objects)
            tensors[t.name] = t
            ins.append(t)
        by_name: dict[str, Layer] = {}
        for lc in cfg["layers"]:
            layer = saving.deserialize_layer_or_model(
                {k: lc[k] for k in ("class_name", "config", "registered_name") if k in lc},
                custom_objects)
            if lc.get("list_input") is True:  # a custom layer called on a list
                layer.multi_input = True
            by_name[layer.name] = layer
            if "nodes" not in cfg:
                srcs = [tensors[n] for n in lc["inbound"]]
                multi = getattr(layer, "multi_input", False)
                tensors[layer.name] = layer(srcs if multi else srcs[0])
        outputs: Any = tensors.get(cfg["output"])
        if "nodes" in cfg:  # several outputs or shared layers: every call, in order
            calls: dict[str, int] = {}
            for lname, inbound in cfg["nodes"]:
                layer = by_name[lname]
                srcs = [tensors[n] for n in inbound]
                j = calls.get(lname, 0)
                calls[lname] = j + 1
                multi = getattr(layer, "multi_input", False)
                tname = lname if j == 0 else f"{lname}:{j}"
                out = layer(srcs if multi else srcs[0])
                if isinstance(out, dict):  # a model of several outputs: "inner[k]" each
                    out = [out[key] for key in sorted(out)]
                if isinstance(out, list):
                    tensors.update((f"{tname}[{i}]", t) for i, t in enumerate(out))
                else:
                    tensors[tname] = out
            outs = [tensors[n] for n in cfg["outputs"]]
            keys = cfg.get("output_keys")
            outputs = dict(zip(keys, outs)) if keys else (outs if len(outs) > 1 else outs[0])
        return cls(ins, outputs, name=cfg.get("name"), dtype=cfg.get("dtype"),
                   trainable=cfg.get("trainable", True))

    def __repr__(self) -> str:
        return f"<Model name={self.name!r} layers={len(self.layers)} built={self.built}>"


saving.register_model_class(Model)
register_functional(Model)  # what the base class's Model(inputs, outputs) constructs


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"
