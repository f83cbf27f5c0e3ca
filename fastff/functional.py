"""The functional API: ``fastff.Model(inputs, outputs)`` over a graph of layers.

``x = Dense(8)(inp)`` on a ``fastff.Input`` (or on another call's output) records a node
instead of computing. ``Model`` then runs the graph as *one* layer (``_Graph``) inside the
``Sequential`` machinery, so fit / evaluate / predict / summary / save share the same loops,
flat parameter buffers and optimizer path. Several inputs arrive as a list (in ``inputs``
order) or a dict keyed by the ``Input`` names; ids inputs (``Input(dtype="int32")``) keep
their integer dtype. One output; each layer may be called once (no shared layers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import _validation as V
from fastff import saving
from fastff.layers import Input, Layer, Workspace
from fastff.layers import deserialize as deserialize_layer
from fastff.layers import serialize as serialize_layer
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


class _Graph(Layer):
    """The whole graph as one layer: forward runs the nodes in order, backprop in reverse."""

    def __init__(self, inputs: list[Input], output: SymbolicTensor, name: str):
        super().__init__(name=name)
        self.sources = inputs
        self.nodes: list[tuple[Layer, list[int]]] = []
        index: dict[int, int] = {id(t): i for i, t in enumerate(inputs)}
        seen: set[int] = set()

        def visit(t: Any) -> int:
            if id(t) in index:
                return index[id(t)]
            if isinstance(t, Input):
                raise ValueError(f"the output depends on Input {t.name!r}, which is not among "
                                 "the model's inputs")
            refs = [visit(s) for s in t.inputs]
            if id(t.layer) in seen:
                raise ValueError(f"layer {t.layer.name!r} is called more than once; shared "
                                 "layers are not supported")
            seen.add(id(t.layer))
            self.nodes.append((t.layer, refs))
            index[id(t)] = len(inputs) + len(self.nodes) - 1
            return index[id(t)]

        if not isinstance(output, SymbolicTensor):
            raise TypeError("Model: outputs must be the result of calling layers on Inputs")
        visit(output)
        self.out_shape = output.sample_shape

    # ---- the inner layers' weights, flags and ops --------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return [layer for layer, _ in self.nodes]

    @property
    def params(self) -> list:  # type: ignore[override]
        return [p for layer in self.layers for p in layer.params]

    @params.setter
    def params(self, value: list) -> None:  # Layer.__init__ assigns []
        pass

    @property
    def trainable_params(self) -> list:
        return [p for layer in self.layers for p in layer.trainable_params] \
            if self.trainable else []

    @property
    def non_trainable_params(self) -> list:
        if not self.trainable:
            return self.params
        return [p for layer in self.layers for p in layer.non_trainable_params]

    @property
    def ops(self) -> Any:
        return Layer.ops.fget(self)

    @ops.setter
    def ops(self, value: Any) -> None:
        self._ops = value
        for layer in getattr(self, "nodes", []):
            layer[0].ops = value

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
        return getattr(self.nodes[-1][0], "output_activation", None)

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
            shapes.append(tuple(layer.infer_output_shape(
                [shapes[r] for r in refs] if multi else shapes[refs[0]])))
        return shapes[len(self.sources):]

    # ---- running ------------------------------------------------------------------------
    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        return self._run(x, training, ws, logits=False)

    def forward_logits(self, x: Any, training: bool = False, ws: Workspace | None = None):
        return self._run(x, training, ws, logits=True)

    def _workspaces(self, ws: Workspace | None) -> list | None:
        if ws is None:
            return None
        kids = ws._bufs.get("__nodes__")  # per-node workspaces live in the model's one
        if kids is None:
            kids = ws._bufs["__nodes__"] = [Workspace(ws._alloc)  # type: ignore
                                            for _ in self.nodes]
        return kids  # type: ignore[return-value]

    def _run(self, x: Any, training: bool, ws: Workspace | None, logits: bool):
        k = len(self.sources)
        vals = list(x.arrays) if isinstance(x, _Inputs) else list(x)
        kids = self._workspaces(ws)
        last = len(self.nodes) - 1
        bps = []
        # a node needs backprop when it or anything upstream has trainable weights
        active = [False] * k
        for i, (layer, refs) in enumerate(self.nodes):
            inp = [vals[r] for r in refs] if getattr(layer, "multi_input", False) \
                else vals[refs[0]]
            w = None if kids is None else kids[i]
            if logits and i == last:
                y, bp = layer.forward_logits(inp, training, w)
            else:
                y, bp = layer.forward(inp, training, w)
            vals.append(y)
            bps.append(bp)
            active.append(bool(layer.trainable_params) or any(active[r] for r in refs))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> None:
            grads: list[Any] = [None] * len(vals)
            grads[-1] = dy
            for i in range(last, -1, -1):
                g = grads[k + i]
                if g is None or not active[k + i]:
                    continue
                layer, refs = self.nodes[i]
                need = any(active[r] for r in refs)
                dx = bps[i](g, need)
                if not need:
                    continue
                parts = dx if getattr(layer, "multi_input", False) else [dx]
                for r, d in zip(refs, parts):
                    if active[r]:
                        grads[r] = d if grads[r] is None else grads[r] + d
            return None

        return vals[-1], backprop


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
        if isinstance(outputs, (list, tuple)):
            if len(outputs) != 1:
                raise ValueError("Model: only one output is supported")
            outputs = outputs[0]
        self._model_inputs = ins
        self._graph = _Graph(ins, outputs, name=f"{self.name}_graph")
        self._layers = [self._graph]
        self._build_layers()
        if device is not None:
            self.device = device

    # ---- structure ----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return self._graph.layers

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
    def output_shape(self) -> tuple:
        return (None, *self._graph.out_shape)

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
            if t.input_dtype is not None:
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
        for (layer, _), shape in zip(self._graph.nodes, self._graph.node_shapes()):
            rows.append((layer.name, type(layer).__name__, _shape(shape),
                         f"{layer.count_params():,}"))
        return rows

    def get_config(self) -> dict:
        names = [t.name for t in self._model_inputs] + [la.name for la in self.layers]
        return {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable,
                "inputs": [serialize_layer(t) for t in self._model_inputs],
                "layers": [dict(serialize_layer(la), inbound=[names[r] for r in refs])
                           for la, refs in self._graph.nodes],
                "output": names[-1]}

    @classmethod
    def from_config(cls, cfg: dict, custom_objects: dict | None = None) -> Model:
        tensors: dict[str, Any] = {}
        ins = []
        for ic in cfg["inputs"]:
            t = deserialize_layer(ic, custom_objects)
            tensors[t.name] = t
            ins.append(t)
        for lc in cfg["layers"]:
            layer = deserialize_layer({"class_name": lc["class_name"], "config": lc["config"]},
                                      custom_objects)
            srcs = [tensors[n] for n in lc["inbound"]]
            multi = getattr(layer, "multi_input", False)
            tensors[layer.name] = layer(srcs if multi else srcs[0])
        return cls(ins, tensors[cfg["output"]], name=cfg.get("name"), dtype=cfg.get("dtype"),
                   trainable=cfg.get("trainable", True))

    def __repr__(self) -> str:
        return f"<Model name={self.name!r} layers={len(self.layers)} built={self.built}>"


saving.register_model_class(Model)
register_functional(Model)  # what the base class's Model(inputs, outputs) constructs


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"
