"""The Keras 3 file layout: constants, H5 group paths, optimizer-variable order, the order
of a functional model's layers (what both the writer and the reader of the format need)."""

from __future__ import annotations

import os
import re
from typing import Any

#: the Keras version written in ``metadata.json`` (the format this package follows)
KERAS_VERSION = "3.15.1"
ZIP_MAGIC = b"PK\x03\x04"
H5_MAGIC = b"\x89HDF\r\n\x1a\n"
CONFIG_NAME = "config.json"
METADATA_NAME = "metadata.json"
WEIGHTS_NAME = "model.weights.h5"
MAX_WEIGHTS = 8 << 30         # bytes of model.weights.h5 / a .weights.h5 file
MAX_PARAMS = 1 << 31          # elements of one weight array
FLOATS = {"float16", "float32", "float64"}
LAYER_CLASSES = ("InputLayer", "Dense", "Dropout", "Activation", "Flatten", "Embedding",
                 "Concatenate", "ReLU", "LeakyReLU", "ELU", "Softmax", "BatchNormalization",
                 "LayerNormalization")
#: weightless layers (no build_config, nothing in the weights file)
WEIGHTLESS = ("Dropout", "Activation", "Flatten", "ReLU", "LeakyReLU", "ELU", "Softmax")
#: the activation names a Keras 3 config holds that fastff reads (Keras's own names; not
#: "sparsemax": Keras 3.15 computes its threshold differently from the paper fastff follows,
#: so a Keras model using it would predict otherwise here)
ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu",
               "softplus", "selu", "softsign", "silu", "swish", "hard_sigmoid", "exponential",
               "log_softmax", "relu6", "mish", "hard_silu", "hard_swish", "hard_tanh",
               "log_sigmoid", "celu", "hard_shrink", "soft_shrink", "tanh_shrink",
               "sparse_plus", "sparse_sigmoid", "squareplus", "glu"}
#: aliases Keras writes under their function's name
KERAS_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def optimizer_groups(opt: Any) -> list[list[str]] | None:
    """Keras's optimizer variables after iterations (and learning_rate): groups of slot
    names, each made by one ``add_optimizer_variables`` call, interleaved per variable
    (None: no Keras layout corresponds)."""
    name = type(opt).__name__
    if name in ("Adam", "AdamW"):
        return [["momentum", "velocity"]] + ([["velocity_hat"]] if opt.amsgrad else [])
    if name == "SGD":
        return [["momentum"]] if opt.momentum != 0.0 else []
    if name == "RMSprop":
        return ([["velocity"]] + ([["momentum"]] if opt.momentum > 0.0 else [])
                + ([["average_gradient"]] if opt.centered else []))
    if name == "Adagrad":
        return [["accumulator"]]
    if name == "Adamax":
        return [["momentum", "norm"]]
    if name == "Adadelta":
        return [["accumulated_grad", "accumulated_delta_var"]]
    if name == "Lion":
        return [["momentum"]]
    if name == "Ftrl":
        return [["accumulator", "linear"]]
    return None  # Nadam: Keras adds its u_product variable, which fastff derives


def snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (the H5 group of a layer comes from its class)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def next_path(used: dict[str, int], cls: str) -> str:
    """The next ``layers/<snake class>[_k]`` of a container (``used`` counts per name)."""
    base = snake_case(cls)
    if base in used:
        used[base] += 1
        return f"layers/{base}_{used[base]}"
    used[base] = 0
    return f"layers/{base}"


def layer_paths(class_names: list[str]) -> list[str]:
    """``layers/<snake class>[_k]`` for each layer, in order (Keras's unique-name counter,
    one per container: a nested model's layers count under ``<its path>/layers``)."""
    used: dict[str, int] = {}
    return [next_path(used, cls) for cls in class_names]


def operation_order(graph: Any) -> list[tuple[int, list[int]]]:
    """Keras's ``map_graph`` order of the graph's operations: ``(-1-i, [])`` for the i-th
    input, ``(j, [node indices])`` for a layer (``j`` its first node; a shared layer's nodes
    in call order). Depth from the outputs descending (a shared layer: the deepest of its
    calls, passed on to its parents as Keras does), ties by the operation's first visit in
    the DFSs from the outputs (in the flattened output order: a dict's keys sorted, as
    ``out_refs`` holds them)."""
    k = len(graph.sources)
    parents = {i: [r - k if r >= k else -1 - r for r in refs]
               for i, (_, refs) in enumerate(graph.nodes)}
    op_of = {i: id(layer) for i, (layer, _) in enumerate(graph.nodes)}
    op_of.update({-1 - i: -1 - i for i in range(k)})
    index: dict[int, int] = {}
    post: list[int] = []
    done: set[int] = set()

    def visit(node: int) -> None:
        if node in done:
            return
        index.setdefault(op_of[node], len(index))
        for p in parents.get(node, []):
            visit(p)
        done.add(node)
        post.append(node)

    for r in getattr(graph, "out_refs", [k + len(graph.nodes) - 1]):
        visit(r - k if r >= k else -1 - r)
    node_depth: dict[int, int] = {}
    op_depth: dict[int, int] = {}
    for node in reversed(post):
        d = max(node_depth.setdefault(node, 0), op_depth.get(op_of[node], 0))
        op_depth[op_of[node]] = node_depth[node] = d
        for p in parents.get(node, []):
            node_depth[p] = max(d + 1, node_depth.get(p, 0))
    for i in range(k):  # an input nothing reads
        if -1 - i not in op_depth:
            op_depth[-1 - i], index[-1 - i] = 0, -1
    calls = call_order(graph)
    nodes_of: dict[int, list[int]] = {}
    for i in sorted(range(len(graph.nodes)), key=lambda i: calls[i]):
        nodes_of.setdefault(op_of[i], []).append(i)
    ops = sorted(op_depth, key=lambda op: (-op_depth[op], index[op]))
    return [(op, []) if op < 0 else (nodes_of[op][0], nodes_of[op]) for op in ops]


def call_order(graph: Any) -> list[tuple[int, int]]:
    """Per node, a key ordering a shared layer's calls as they were made (Keras numbers a
    layer's inbound nodes by call): the node's place in its layer's recorded symbolic calls
    (graph order where the graph holds no tensors)."""
    tensors = getattr(graph, "node_tensors", None)
    out = []
    for i, (layer, _) in enumerate(graph.nodes):
        calls = layer.__dict__.get("_symbolic_calls") or []
        t = tensors[i] if tensors is not None else None
        pos = next((j for j, (_, o) in enumerate(calls) if o is t), None) if t is not None \
            else None
        out.append((len(calls) if pos is None else pos, i))
    return out


def functional_order(graph: Any) -> list[int]:
    """Keras's ``map_graph`` order of the graph's operations (inputs are ``-1-i``, layers
    their first node)."""
    return [op for op, _ in operation_order(graph)]


def kind_of_path(path: Any) -> str | None:
    """``"keras"`` for a ``.keras`` name, ``"keras_weights"`` for ``.weights.h5``, else None
    (what a save writes)."""
    name = os.fspath(path).lower() if isinstance(path, (str, os.PathLike)) else ""
    if name.endswith(".keras"):
        return "keras"
    if name.endswith(".weights.h5"):
        return "keras_weights"
    return None


def kind_of_file(path: Any) -> str | None:
    """What a load reads: ``"keras"`` for a zip, ``"keras_weights"`` for an HDF5 file (by
    their magic bytes, whatever the name), None for anything else (fastff's own format,
    which recognises itself by its magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except (OSError, TypeError):
        return None
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head == H5_MAGIC:
        return "keras_weights"
    return None


def is_keras_zip(path: str | os.PathLike[str]) -> bool:
    """Does the file start with the zip magic (a ``.keras`` archive, whatever its name)?"""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ZIP_MAGIC
    except OSError:
        return False
