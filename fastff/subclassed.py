"""Subclassed models: ``class M(fastff.Model)`` with layers assigned in ``__init__`` and a
``call(inputs, training=None)`` written with layers and ``fastff.ops``.

``Model`` is Keras's base class: ``Model(inputs, outputs)`` gives the functional model
(``fastff.functional.Model``, a subclass registered here), anything else a subclassed model.
A subclassed model runs inside the ``Sequential`` machinery as *one* layer (``_CallLayer``),
as the functional graph does: its params are the tracked layers' params, packed into the
model's flat buffers; its ``forward`` runs ``call`` under ``fastff.ops.forward_call``, so the
backward pass replays the tape (built-in layers are single nodes whose VJP is their fused
``backprop`` closure). Training always takes the general path.

Layers are tracked by scanning the instance's attributes in assignment order (Layers, models,
and lists/tuples/dicts of them, recursively), so a layer appended to a list after ``__init__``
is tracked too. The model is built on first data (``fit``/``predict``/a call) or by
``build(input_shape)``: one eager call on one sample builds every layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fastff import _auto_config, _call_context
from fastff import _validation as V
from fastff.layers import Layer, Workspace
from fastff.layers.base import call_takes_training, is_device_array, to_host, unique_name
from fastff.metrics.base import snake_case
from fastff.models import Sequential

__all__ = ["Model", "register_functional"]

_FUNCTIONAL: list[type] = []  # the functional Model class, registered by fastff.functional
# attributes the machinery sets later that hold layers (those set by __init__ are recorded
# per instance in ``_internal_keys``)
_INTERNAL = frozenset(("_layers", "_call_layer", "_input_layer", "_graph", "_model_inputs",
                       "_step_layers", "_internal_keys"))


def register_functional(cls: type) -> type:
    """Record the functional Model class ``Model(inputs, outputs)`` constructs."""
    _FUNCTIONAL[:] = [cls]
    return cls


def _is_functional_init(args: tuple, kwargs: dict) -> bool:
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or (
        "inputs" in kwargs and "outputs" in kwargs)


def _layers_in(value: Any, seen: set[int]) -> Iterator[Any]:
    """Layers and models inside ``value`` (lists/tuples/dicts searched, in order)."""
    if isinstance(value, (Layer, Sequential)):
        if id(value) not in seen:
            seen.add(id(value))
            yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _layers_in(v, seen)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _layers_in(v, seen)


def _leaf_layers(model: Any, seen: set[int]) -> Iterator[Layer]:
    """Every Layer under ``model`` (nested models expanded), each once, in tracking order."""
    for item in model._tracked_layers() if isinstance(model, Model) and model._auto_track \
            else list(model.layers):
        if isinstance(item, Sequential):
            yield from _leaf_layers(item, seen)
        elif id(item) not in seen:
            seen.add(id(item))
            yield item


class _CallLayer(Layer):
    """A subclassed model's ``call`` as one layer of the ``Sequential`` machinery."""

    def __init__(self, model: Model):
        super().__init__(name=model.name)
        object.__setattr__(self, "model", model)
        self.out_shape: tuple[int, ...] | None = None
        self.added_penalty = 0.0

    # ---- weights, flags and ops of the tracked layers -----------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(_leaf_layers(self.model, set()))

    def _flags(self) -> list[tuple[Layer, bool]]:
        """Each leaf layer with whether its weights train (every enclosing model trainable)."""
        out: list[tuple[Layer, bool]] = []
        seen: set[int] = set()

        def walk(m: Any, on: bool) -> None:
            items = m._tracked_layers() if isinstance(m, Model) and m._auto_track \
                else list(m.layers)
            for it in items:
                if isinstance(it, Sequential):
                    walk(it, on and it.trainable)
                elif id(it) not in seen:
                    seen.add(id(it))
                    out.append((it, on))

        walk(self.model, self.model.trainable)
        return out

    @property
    def params(self) -> list:  # type: ignore[override]
        seen: set[int] = set()
        out = []
        for layer in self.layers:
            for p in layer.params:
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    @params.setter
    def params(self, value: list) -> None:  # Layer.__init__ assigns []
        pass

    @property
    def trainable_params(self) -> list:
        return [p for la, on in self._flags() if on for p in la.trainable_params]

    @property
    def non_trainable_params(self) -> list:
        return [p for la, on in self._flags()
                for p in (la.non_trainable_params if on else la.params)]

    @property
    def ops(self) -> Any:
        return Layer.ops.fget(self)

    @ops.setter
    def ops(self, value: Any) -> None:
        self._ops = value
        if "model" in self.__dict__:
            for layer in self.layers:
                layer.ops = value

    @property
    def step(self) -> int:
        return max((la.step for la in self.layers if hasattr(la, "step")), default=0)

    @step.setter
    def step(self, value: int) -> None:
        for la in self.layers:
            if hasattr(la, "step"):
                la.step = value

    def compute_output_shape(self, input_shape: Any) -> tuple[int, ...]:
        if self.out_shape is None:
            raise ValueError(f"model {self.name!r} is not built yet")
        return self.out_shape

    # ---- running ------------------------------------------------------------------------
    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        """``(y, backprop)``: ``call`` on the tape when training, eagerly otherwise."""
        model = self.model
        if is_device_array(x) or isinstance(x, _Nested) and any(map(is_device_array,
                                                                     x.arrays)):
            raise NotImplementedError(f"{type(model).__name__}: subclassed models run on the "
                                      "CPU only; create or move the model with device='cpu'")
        x = _structure_of(x)
        if not training:
            with _call_context.running(), _call_context.collecting() as added:
                y = _check_output(model, _run_call(model, x, False))
            self.added_penalty = _penalty(added)
            return y, _no_backprop
        from fastff.ops import forward_call

        def fn(inp: Any) -> Any:
            with _call_context.running(), _call_context.collecting() as added:
                y = _run_call(model, inp, True)
            return (y, list(added))  # the output, and the add_loss values (seeded with 1)

        (y, added), bp = forward_call(fn, x, self.trainable_params, True,
                                      name=f"{model.name}.call")
        y = _check_output(model, y)
        self.added_penalty = _penalty(added)
        if not added:
            return y, bp
        ones = [np.ones_like(a) for a in added]

        def backprop(dy: Any, need_dx: bool = True) -> Any:
            return bp((dy, ones), need_dx)

        return y, backprop


class _Nested:
    """Several input arrays in the structure ``call`` takes (a list, tuple or dict), cut and
    shuffled together (what the loops see as ``X``)."""

    def __init__(self, arrays: list[np.ndarray], kind: type, keys: list | None):
        self.arrays = arrays
        self.kind = kind
        self.keys = keys
        self.shape = (arrays[0].shape[0],)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, s: slice) -> _Nested:
        return _Nested([a[s] for a in self.arrays], self.kind, self.keys)

    def empty_like(self) -> _Nested:
        return _Nested([np.empty_like(a) for a in self.arrays], self.kind, self.keys)

    def take_into(self, perm: np.ndarray, out: _Nested) -> None:
        for a, o in zip(self.arrays, out.arrays):
            np.take(a, perm, axis=0, out=o)

    def structure(self, arrays: list | None = None) -> Any:
        """The arrays (or ``arrays``) in the user's structure."""
        arrs = self.arrays if arrays is None else arrays
        if self.kind is dict:
            return dict(zip(self.keys, arrs))
        return self.kind(arrs)

    @property
    def sample_shapes(self) -> Any:
        return self.structure([tuple(a.shape[1:]) for a in self.arrays])


def _structure_of(x: Any) -> Any:
    """What ``call`` receives for the loops' ``x``: an array, or the user's structure."""
    return x.structure() if isinstance(x, _Nested) else x


def _is_shape(s: Any) -> bool:
    return isinstance(s, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer))
                                                for d in s)


def _batched(shapes: Any) -> Any:
    """Per-sample shape(s) with the batch axis: ``(4,)`` → ``(None, 4)``; structures too."""
    if isinstance(shapes, dict):
        return {k: _batched(v) for k, v in shapes.items()}
    if _is_shape(shapes):
        return (None, *shapes)
    return type(shapes)(_batched(s) for s in shapes)


def _jsonable_shape(shapes: Any) -> Any:
    if isinstance(shapes, dict):
        return {k: _jsonable_shape(v) for k, v in shapes.items()}
    if _is_shape(shapes):
        return [None if d is None else int(d) for d in shapes]
    return [_jsonable_shape(s) for s in shapes]


def _no_backprop(dy: Any, need_dx: bool = True) -> None:
    raise RuntimeError("this forward pass ran with training=False: it has no backprop")


def _penalty(values: list) -> float:
    return float(sum(float(np.sum(np.asarray(v), dtype=np.float64)) for v in values))


def _run_call(model: Any, x: Any, training: Any) -> Any:
    """``model.call(x)``, with ``training=`` only when ``call`` accepts it (as Keras does)."""
    if call_takes_training(type(model)):
        return model.call(x, training=training)
    return model.call(x)


def _check_output(model: Any, y: Any) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{type(model).__name__}.call returned {type(y).__name__}, expected an "
                        "array (fastff subclassed models have one output)")
    if y.ndim == 0:
        raise ValueError(f"{type(model).__name__}.call returned a scalar; expected a batch "
                         "of outputs (samples first)")
    return y


def _built_output_shape(layer: Any) -> str:
    """``(None, ...)`` of what ``layer`` outputs for the inputs it was built for, or ``?``."""
    from fastff.summary import shape_str

    try:
        if isinstance(layer, Sequential):
            out = layer.output_shape
            return shape_str(out[1:] if isinstance(out, tuple) else None)
        if layer.built and layer.input_shape is not None:
            return shape_str(tuple(layer.compute_output_shape(layer.input_shape)))
    except Exception:  # noqa: BLE001 - a layer that cannot tell shows "?"
        pass
    return "?"


class Model(Sequential):
    """Keras's ``Model``: subclass it and define ``call(inputs, training=None)``, or call it as
    ``Model(inputs, outputs)`` for the functional API."""

    #: scan attributes for layers (the functional subclass keeps its own graph)
    _auto_track = True
    #: attributes holding the model's own machinery, never tracked layers
    _untracked = _INTERNAL

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Model and _is_functional_init(args, kwargs):
            if not _FUNCTIONAL:
                raise TypeError("Model(inputs, outputs): inputs must be fastff.Input objects "
                                "and outputs the result of calling layers on them")
            functional = _FUNCTIONAL[0]
            return functional.__new__(functional, *args, **kwargs)
        obj = object.__new__(cls)
        # Keras 3's auto config: a user subclass without get_config saves its __init__ arguments
        obj.__dict__["_init_args"] = _auto_config.capture(cls, Model.get_config, args, kwargs)
        return obj

    def __init__(self, *args: Any, name: str | None = None, dtype: Any = None,
                 trainable: bool = True, device: str | None = None, **kwargs: Any):
        if args:
            raise TypeError(f"{type(self).__name__}: Model.__init__ takes keyword arguments "
                            f"(name=, dtype=, trainable=), got {len(args)} positional")
        kwargs.pop("autocast", None)  # Keras's; fastff computes in the model dtype
        if self._auto_track and ("inputs" in kwargs or "outputs" in kwargs):
            raise TypeError(f"{type(self).__name__}: a subclass of fastff.Model that calls "
                            "super().__init__(inputs=..., outputs=...) is not supported; "
                            "define call(), or build fastff.Model(inputs, outputs) directly")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        if type(self).call is Model.call and self._auto_track:
            raise TypeError(f"{type(self).__name__} must define call(self, inputs, "
                            "training=None) (or use Model(inputs, outputs))")
        early = [k for k, v in self.__dict__.items() if any(_layers_in(v, set()))]
        if early and self._auto_track:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               f"assigning layers (assigned before it: {early})")
        Sequential.__init__(self, name=name or unique_name(snake_case(type(self).__name__)),
                            dtype=dtype, trainable=trainable)
        if self._auto_track:
            self._call_layer = _CallLayer(self)
            self._layers = [self._call_layer]
            self._eager_losses: list = []
            self._internal_keys = frozenset(self.__dict__)
        if device is not None:
            self.device = device

    def __getattr__(self, name: str) -> Any:  # only reached for missing attributes
        if name.startswith("_") and "_layers" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() at the start "
                                 f"of {type(self).__name__}.__init__ (missing {name!r})")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- the user's forward pass --------------------------------------------------------
    def call(self, inputs: Any, training: Any = None) -> Any:
        """The forward pass; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define call(inputs, training)")

    def add_loss(self, value: Any) -> None:
        """Add ``value`` (a scalar computed with ``fastff.ops``) to the training loss."""
        if not _call_context.add_loss(value):
            self.__dict__.setdefault("_eager_losses", []).append(value)

    @property
    def losses(self) -> list:
        """Losses added with ``add_loss`` outside training (Keras's ``model.losses``)."""
        return list(self.__dict__.get("_eager_losses", []))

    def _call_penalty(self) -> float:
        """The ``add_loss`` total of the last forward pass (added to the reported loss)."""
        return self._call_layer.added_penalty if self._auto_track else 0.0

    def __call__(self, x: Any, training: Any = False) -> Any:
        if not self._auto_track:
            return Sequential.__call__(self, x, training=bool(training))
        if _call_context.inside_call():  # nested in another model's call: on its tape
            return _run_call(self, x, training)
        if training:
            from fastff.training.general import forward

            return forward(self, x, training=True)
        return Sequential.__call__(self, x, training=False)

    # ---- tracking -----------------------------------------------------------------------
    def _tracked_layers(self) -> list:
        seen: set[int] = set()
        out: list = []
        internal = self.__dict__.get("_internal_keys", ())
        for key, value in self.__dict__.items():
            if key in _INTERNAL or key in internal or value is self:
                continue
            out.extend(_layers_in(value, seen))
        return out

    @property
    def layers(self) -> list:
        if not self._auto_track:
            return Sequential.layers.fget(self)
        return self._tracked_layers()

    def add(self, layer: Layer) -> None:
        raise TypeError(f"{type(self).__name__} is a subclassed Model: assign layers as "
                        "attributes in __init__ instead of add()")

    def pop(self) -> Layer:
        raise TypeError(f"{type(self).__name__} is a subclassed Model: it has no pop()")

    # ---- building -----------------------------------------------------------------------
    def build(self, input_shape: Any = None) -> None:
        """Build for ``input_shape`` (``(None, 784)`` or ``(784,)``): one eager call on zeros."""
        if not self._auto_track:
            return Sequential.build(self, input_shape)
        if input_shape is None:
            raise ValueError(f"{type(self).__name__}.build: pass input_shape, e.g. (None, 784)")
        self._build_on(self._zeros_for(input_shape))

    def _zeros_for(self, input_shape: Any) -> Any:
        """One zero sample for ``input_shape``: a shape, or a list/tuple/dict of shapes."""
        def one(shape: Any) -> np.ndarray:
            shape = tuple(shape)
            if shape and shape[0] is None:
                shape = shape[1:]
            return np.zeros((1, *(int(s) for s in shape)), dtype=self.dtype)

        if isinstance(input_shape, dict):
            return _Nested([one(s) for s in input_shape.values()], dict, list(input_shape))
        if isinstance(input_shape, (list, tuple)) and input_shape and \
                all(isinstance(s, (list, tuple)) for s in input_shape):
            return _Nested([one(s) for s in input_shape], type(input_shape), None)
        return one(input_shape)

    def _build_on(self, sample: Any) -> None:
        """Build every tracked layer by one eager call on ``sample`` (one row)."""
        if isinstance(sample, _Nested):
            self._input_shape = sample.sample_shapes
        else:
            self._set_input_shape(sample.shape[1:])
        for layer, _ in self._call_layer._flags():
            if not layer.built:  # (np.dtype("float64") == None is True: no comparison)
                layer.dtype = self.dtype
        from fastff.ops.tape import paused

        with paused(), _call_context.running(), _call_context.collecting():
            y = _check_output(self, _run_call(self, _structure_of(sample), False))
        self._call_layer.out_shape = tuple(int(s) for s in y.shape[1:])
        self._call_layer.built = True
        self._output_shape = self._call_layer.out_shape
        for m in self._nested_models():
            m.built = True
        self._pack()
        self.built = True

    def _nested_models(self) -> list:
        out, stack = [], list(self._tracked_layers())
        while stack:
            it = stack.pop()
            if isinstance(it, Sequential):
                out.append(it)
                if isinstance(it, Model) and it._auto_track:
                    stack.extend(it._tracked_layers())
        return out

    def _build_layers(self) -> None:
        if not self._auto_track:
            return Sequential._build_layers(self)
        if self._input_shape is None:
            return
        if not self.built:
            self._build_on(self._zeros_for(self._input_shape))
        else:
            self._pack()

    def _maybe_build(self, sample_shape: Any, sample: Any = None) -> None:
        """Build on first data: the user's ``build`` (if any), then one eager call on the
        first sample (``sample``, so integer ids stay ids) or on zeros."""
        if not self._auto_track:
            return Sequential._maybe_build(self, sample_shape)
        from fastff.layers.base import TRAINABLE_VERSION

        if not self.built:
            if type(self).build is not Model.build:  # the user's build(input_shape) first
                shapes = sample.sample_shapes if isinstance(sample, _Nested) else sample_shape
                self.build(_batched(shapes))
            if not self.built:
                self._build_on(sample if sample is not None else self._zeros_for(sample_shape))
        elif self._layout_version != TRAINABLE_VERSION[0]:
            self._pack()

    def _prepare_inputs(self, x: Any, name: str = "x") -> Any:
        """``x`` as one array, or a list/tuple/dict of arrays passed to ``call`` in that
        structure (integer ids kept, floats in the model dtype); builds on first data."""
        if isinstance(x, _Nested):
            return x
        if isinstance(x, (list, tuple, dict)):
            keys = list(x) if isinstance(x, dict) else None
            parts = list(x.values()) if isinstance(x, dict) else list(x)
            if not parts:
                raise ValueError(f"{name}: an empty {type(x).__name__} of inputs")
            labels = [f"{name}[{k!r}]" for k in (keys or range(len(parts)))]
            arrays = [self._one_input(a, lb) for a, lb in zip(parts, labels)]
            for a, lb in zip(arrays, labels):
                V.check_lengths(arrays[0].shape[0], a, lb, labels[0])
            X: Any = _Nested(arrays, dict if keys is not None else type(x), keys)
            self._maybe_build(None, X[:1])
            want = self._input_shape
            if not isinstance(want, (list, tuple, dict)) or len(want) != len(arrays) or (
                    isinstance(want, dict) != isinstance(x, dict)):
                raise ValueError(f"{name}: the model was built for inputs {want}, got "
                                 f"{X.sample_shapes}")
            for a, lb, s in zip(arrays, labels, list(want.values()) if isinstance(want, dict)
                                else list(want)):
                V.check_feature_shape(a, s, lb)
            return X
        X = self._one_input(x, name)
        self._maybe_build(X.shape[1:], X[:1])
        if isinstance(self._input_shape, (list, dict)) or (
                isinstance(self._input_shape, tuple) and self._input_shape
                and isinstance(self._input_shape[0], tuple)):
            raise ValueError(f"{name}: the model was built for inputs {self._input_shape}, "
                             "got one array")
        V.check_feature_shape(X, self._input_shape, name)
        return X

    def _one_input(self, x: Any, name: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind in "iu":
            if arr.ndim == 0 or arr.shape[0] == 0:
                raise ValueError(f"{name}: expected at least one sample")
            X = np.ascontiguousarray(arr)
        else:
            X = V.as_features(x, self.dtype, name, 1)
        return X.reshape(-1, 1) if X.ndim == 1 else X

    @property
    def input_shape(self) -> Any:
        if self._auto_track and self._input_shape is not None:
            return _batched(self._input_shape)
        return Sequential.input_shape.fget(self)

    @property
    def output_shape(self) -> Any:
        if not self._auto_track:
            return Sequential.output_shape.fget(self)
        out = self._call_layer.out_shape
        return None if out is None else (None, *out)

    # ---- weights, summary ---------------------------------------------------------------
    def summary_rows(self) -> list[tuple[str, str, str, str]]:
        """``(name, type, output shape, params)`` per tracked layer; the output shape is the
        one the layer was built for (Keras shows the shapes of the last call), ``?`` while
        the layer is unbuilt or cannot tell."""
        rows = []
        for layer in self.layers:
            n = layer.count_params() if layer.built or not isinstance(layer, Sequential) \
                else 0
            rows.append((layer.name, type(layer).__name__, _built_output_shape(layer),
                         f"{n:,}"))
        return rows

    def save(self, path: Any, **kwargs: Any) -> None:
        """fastff's format, or Keras 3's ``.keras`` (the class named by module and registered
        name, its config and the weights by attribute); loading either needs the class
        (``custom_objects`` or registration) and ``get_config`` (see ``get_config``)."""
        from fastff import keras_format

        if self._auto_track and keras_format.kind_of_path(path) == "keras":
            from fastff.keras_format.tracked import save_tracked_keras

            return save_tracked_keras(self, path)
        return Sequential.save(self, path, **kwargs)

    def save_weights(self, path: Any, **kwargs: Any) -> None:
        """fastff's format, or Keras 3's ``.weights.h5`` layout for subclassed models (each
        layer under the attribute that holds it; ``fastff.keras_format.tracked``)."""
        from fastff import keras_format

        if self._auto_track and keras_format.kind_of_path(path) == "keras_weights":
            from fastff.keras_format.tracked import save_tracked_weights

            return save_tracked_weights(self, path)
        return Sequential.save_weights(self, path, **kwargs)

    def load_weights(self, path: Any, **kwargs: Any) -> None:
        """fastff's format, or a Keras 3 ``.weights.h5``/``.keras`` file of a model with the
        same attributes (a file written by Keras for the same subclass, or by ``save_weights``)."""
        from fastff import keras_format

        if self._auto_track and keras_format.kind_of_file(path) is not None:
            from fastff.keras_format.tracked import load_tracked_weights

            return load_tracked_weights(self, path)
        return Sequential.load_weights(self, path, **kwargs)

    def get_config(self) -> dict:
        """The base config (``name``, ``trainable``, ``dtype``); a subclass adds its
        ``__init__`` arguments (``from_config`` calls ``cls(**config)``, as Keras)."""
        if not self._auto_track:
            return Sequential.get_config(self)
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.__dict__.get("_init_args") is not None:  # no get_config of its own
            cfg = _auto_config.auto_config(self, cfg)
        return cfg

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Any:
        if cls is Model:
            if _FUNCTIONAL and "inputs" in config:
                return _FUNCTIONAL[0].from_config(config, custom_objects)
            raise TypeError("Model.from_config: this config is not a functional model's; a "
                            "subclassed model loads through its own class")
        if _auto_config.capture(cls, Model.get_config, (), {}) is not None:
            config = _auto_config.revive(config)
        return cls(**config)

    def get_build_config(self) -> dict | None:
        """What ``build_from_config`` needs to rebuild the weights (the input shape)."""
        if not self._auto_track or self._input_shape is None:
            return None
        return {"input_shape": _jsonable_shape(_batched(self._input_shape))}

    def build_from_config(self, config: dict) -> None:
        shape = config.get("input_shape") if isinstance(config, dict) else None
        if shape is not None and not self.built:
            self.build(shape)

    def get_training_state(self) -> dict:
        """Shuffle seed and each Dropout's mask seed and step, by position among the leaf
        layers (a rebuilt model's layers get new generated names)."""
        if not self._auto_track:
            return Sequential.get_training_state(self)
        return {"shuffle_seed": self._shuffle_seed,
                "dropout_by_position": [[la._mask_seed, la.step] for la in
                                        self._call_layer.layers if hasattr(la, "_mask_seed")]}

    def set_training_state(self, state: dict) -> None:
        if not self._auto_track:
            return Sequential.set_training_state(self, state)
        seed = state.get("shuffle_seed")
        self._shuffle_seed = None if seed is None else int(seed)
        drops = [la for la in self._call_layer.layers if hasattr(la, "_mask_seed")]
        for la, (ms, step) in zip(drops, state.get("dropout_by_position") or []):
            la._mask_seed = None if ms is None else int(ms)
            la.step = int(step)

    def _weight_items(self) -> list[tuple[str, np.ndarray]]:
        """``(path, value)`` per weight, in ``get_weights`` order (for the savers)."""
        return [(p.path, to_host(p.value)) for p in self._call_layer.params]

    def __repr__(self) -> str:
        if not self._auto_track:
            return Sequential.__repr__(self)
        return (f"<{type(self).__name__} name={self.name!r} layers={len(self.layers)} "
                f"built={self.built}>")

