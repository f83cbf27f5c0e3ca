"""A model used as a layer of another model (Keras: a ``Model`` is a ``Layer``).

``Sequential([Input((8,)), encoder, Dense(3)])``, ``encoder(x)`` on a symbolic tensor and
``Sequential.add(model)`` put a ``NestedModel`` node in the outer model: one layer whose
forward runs the inner model's layers (a ``Sequential``'s stack or a functional model's graph)
and whose backprop runs theirs in reverse. The weights are the inner layers' own ``Param``
objects, so the outer model packs them into its flat buffers like any layer's (the inner model
re-packs before its own next use, as for shared layers) and trains them — unless the inner
model is frozen (``inner.trainable = False``), which freezes all of them. In ``model.layers``
and ``get_layer`` the node stands for the inner model: its public attributes (``layers``,
``get_layer``, ``predict``, ``summary``...) are the inner model's.
"""

from __future__ import annotations

from typing import Any

from fastff.layers import Layer, Workspace
from fastff.layers.composite import Composite
from fastff.layers.masking import forward_chain

__all__ = ["NestedModel", "OutputPick", "as_layer"]


class _Parts:
    """The gradients reaching a node of several outputs: one per output (None where none
    came); ``+`` adds them output by output, as the graph sums a value's gradients."""

    __slots__ = ("parts",)

    def __init__(self, parts: list) -> None:
        self.parts = parts

    def __add__(self, other: Any) -> _Parts:
        if not isinstance(other, _Parts):
            return NotImplemented
        return _Parts([b if a is None else a if b is None else a + b
                       for a, b in zip(self.parts, other.parts)])


class OutputPick(Layer):
    """Output ``index`` of one call of a model of several outputs used as a layer: the node
    that a symbolic ``inner(x)`` hands out per output (Keras's tensor index in
    ``keras_history``). It holds no weights, is no layer of the model (``model.layers``,
    ``summary`` and the file formats leave it out) and is named after the inner model, as
    Keras names such an output."""

    is_output_pick = True

    def __init__(self, source: NestedModel, index: int, n: int) -> None:
        super().__init__(name=source.name)
        self.source, self.index, self.n = source, int(index), int(n)

    def build_for(self, input_shape: Any, dtype: Any = None) -> Any:
        self.dtype = self.source.dtype if dtype is None else dtype
        self.input_shape = input_shape
        self.built = True
        return tuple(input_shape[self.index])

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[self.index])

    def infer_output_shape(self, input_shape: Any) -> Any:
        return self.compute_output_shape(input_shape)

    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        k, n = self.index, self.n

        def backprop(dy: Any, need_dx: bool = True) -> Any:
            if not need_dx:
                return None
            parts: list = [None] * n
            parts[k] = dy
            return _Parts(parts)

        return x[k], backprop

    def get_config(self) -> dict:
        raise TypeError("an OutputPick is part of a model's graph, not a layer to save")


class NestedModel(Composite):
    """The node of an inner ``model`` in an outer model (see the module docstring). An inner
    functional model of several outputs (a list or a dict) gives one value per output; its
    symbolic call hands out ``OutputPick`` nodes, as a list or a dict like its outputs."""

    def __init__(self, model: Any) -> None:
        super().__init__(name=model.name)
        object.__setattr__(self, "model", model)
        inputs = getattr(model, "_model_inputs", None)  # a functional model's Inputs
        self._inner_graph = model._layers[0] if inputs is not None else None
        self.multi_input = inputs is not None and len(inputs) > 1
        if self._inner_graph is not None:
            self._inner_graph.inputs_need_grad = True  # it may sit after other layers now

    @property
    def n_outputs(self) -> int:
        """How many outputs the inner model has (1 unless a functional one has several)."""
        graph = self.__dict__.get("_inner_graph")
        return len(graph.out_refs) if graph is not None and graph.multi else 1

    def split_outputs(self, node: Any) -> Any:
        """The symbolic outputs of one call (``node``: the call's own tensor), one
        ``OutputPick`` each, as a list or a dict (keys sorted) like the inner model's."""
        from fastff.layers.symbolic import SymbolicTensor

        n = self.n_outputs
        picks = [SymbolicTensor(OutputPick(self, k, n), [node], tuple(shape))
                 for k, shape in enumerate(node.out_shapes)]
        if self.model._output_kind == "dict":
            return dict(zip(self.model._output_names, picks))
        return picks

    @property
    def _declared_input_shape(self) -> tuple | None:  # type: ignore[override]
        """The per-sample input shape the inner model declares (None: any)."""
        model = self.__dict__.get("model")
        if model is None:
            return None
        inputs = getattr(model, "_model_inputs", None)
        if inputs is not None:
            return tuple(inputs[0].input_shape_decl) if len(inputs) == 1 else None
        return None if model._input_shape is None else tuple(model._input_shape)

    @_declared_input_shape.setter
    def _declared_input_shape(self, value: Any) -> None:  # Layer.__init__ assigns None
        pass

    @property
    def type_name(self) -> str:
        """What ``summary`` shows as the layer type (Keras: ``Sequential``/``Functional``)."""
        name = self.model._config_class_name()
        return "Functional" if name == "Model" else name

    def __getattr__(self, name: str) -> Any:
        """The inner model's public attributes (``layers``, ``get_layer``, ``summary``...)."""
        if name.startswith("_") or name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    # ---- structure ------------------------------------------------------------------------
    @property
    def inner_layers(self) -> list[Layer]:
        """The inner model's own layers (a functional model: its one graph layer)."""
        return list(self.__dict__["model"]._layers)

    @property
    def trainable(self) -> bool:  # type: ignore[override]
        return bool(self.model.trainable)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if hasattr(self, "model"):  # Layer.__init__ sets the flag before the model is known
            self.model.trainable = value

    @property
    def output_activation(self) -> str | None:  # type: ignore[override]
        layers = self.inner_layers
        return getattr(layers[-1], "output_activation", None) if layers else None

    @property
    def losses(self) -> list:
        return [v for la in self.inner_layers for v in getattr(la, "losses", [])]

    def build_for(self, input_shape: Any, dtype: Any = None) -> Any:
        inner = self.model
        declared = self._declared_input_shape
        shape = tuple(input_shape) if not isinstance(input_shape, list) else input_shape
        if declared is not None and not isinstance(shape, list) and tuple(declared) != shape:
            raise ValueError(f"model {inner.name!r} expects inputs of shape "
                             f"{(None, *declared)}, got {(None, *shape)}")
        if self._inner_graph is not None:  # a functional model builds from its own Inputs
            inner._build_layers() if not inner.built else None
            self.dtype = inner.dtype
            self.input_shape = input_shape
            self.built = True
            return self.compute_output_shape(input_shape)
        self.dtype = inner.dtype if dtype is None else dtype
        for la in self.inner_layers:
            if la.dtype is not None and dtype is not None and la.dtype != dtype \
                    and not la.built:
                la.dtype = dtype
            shape = la.build_for(shape, dtype)
        self.input_shape = input_shape
        self.built = True
        return shape

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output's per-sample shape (a list of them for several outputs)."""
        if self._inner_graph is not None:
            if self.n_outputs > 1:
                return [tuple(s) for s in self._inner_graph.out_shapes]
            return tuple(self._inner_graph.out_shape)
        shape = input_shape
        for la in self.inner_layers:
            shape = la.infer_output_shape(shape)
        return shape

    def infer_output_shape(self, input_shape: Any) -> Any:
        return self.compute_output_shape(input_shape)

    def count_params(self) -> int:
        return sum(int(p.size) for p in self.params)

    # ---- running --------------------------------------------------------------------------
    def _kids(self, ws: Workspace | None) -> list | None:
        if ws is None:
            return None
        kids = ws._bufs.get("__inner__")  # the inner layers' workspaces live in this one's
        if kids is None:
            kids = ws._bufs["__inner__"] = [Workspace(ws._alloc)  # type: ignore
                                            for _ in self.inner_layers]
        return kids  # type: ignore[return-value]

    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        return self._run(x, training, ws, False)

    def forward_logits(self, x: Any, training: bool = False, ws: Workspace | None = None):
        return self._run(x, training, ws, True)

    def _run(self, x: Any, training: bool, ws: Workspace | None, logits_last: bool):
        layers = self.inner_layers
        if self._inner_graph is not None and not isinstance(x, list):
            x = [x]  # the graph takes one array per Input
        h, bps = forward_chain(layers, x, training, self._kids(ws), logits_last)
        # backprop stops at the first inner layer with trainable weights unless dx is asked
        first = next((i for i, la in enumerate(layers) if la.trainable_params), None) \
            if self.trainable else None

        def backprop(dy: Any, need_dx: bool = True) -> Any:
            if isinstance(dy, _Parts):  # several outputs: the inner graph takes the list
                dy = dy.parts
            stop = 0 if need_dx else first
            if stop is None:
                return None
            for i in range(len(bps) - 1, stop - 1, -1):
                dy = bps[i](dy, i > stop or need_dx)
            return dy if need_dx else None

        return h, backprop

    # ---- config ---------------------------------------------------------------------------
    def serialized(self) -> dict:
        """``{"class_name", "config"}`` of the inner model (what Keras writes for it)."""
        return {"class_name": self.model._config_class_name(), "config":
                self.model.get_config()}

    def get_config(self) -> dict:
        return self.serialized()["config"]

    def __repr__(self) -> str:
        return f"<NestedModel of {self.model!r}>"


def as_layer(obj: Any) -> Any:
    """``obj`` as a layer of an outer model: a model's (cached) ``NestedModel`` node, one per
    inner model so that every use shares its weights; anything else unchanged."""
    if isinstance(obj, Layer) or not hasattr(obj, "_config_class_name"):
        return obj
    node = obj.__dict__.get("_nested_node")
    if node is None:
        node = NestedModel(obj)
        obj.__dict__["_nested_node"] = node
    return node
