"""Deterministic mutation fuzz of the model loader: every field of every header section and
of the array manifests is replaced by values of every JSON type and by hostile sizes; the file
keeps a valid checksum so only the content is hostile. Each load must give a model or a
``FormatError`` (the one documented exception), and cost memory in proportion to the file.
"""

from __future__ import annotations

import hashlib
import json
import struct
import tracemalloc

import numpy as np
import pytest

from fastff import layers, models, saving
from fastff.saving import FormatError

HOSTILE = [None, True, -1, 0, 2**63, 10**7, 1.5e308, -0.5, "x", "float32", [], [3, 2],
           [[1]], {}, {"class_name": "os.system", "config": {}}]
MAX_CASES = 900  # a deterministic sample: the whole fuzz stays at a few seconds


def _models():
    mlp = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="relu"),
                             layers.Dropout(0.5, seed=1), layers.Dense(2, activation="softmax")])
    mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32),
            np.arange(8) % 2, epochs=1, batch_size=4, verbose=0)
    bag = models.Sequential([layers.Input((5,)), layers.EmbeddingBag(10, 3, padding_id=0),
                             layers.Dense(2)])
    return [mlp, bag]


def _leaves(node, path=()):
    """Paths to every value (containers included) of a JSON document."""
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))


def _replaced(doc, path, value):
    doc = json.loads(json.dumps(doc))
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


def _pack(header: dict, data: bytes) -> bytes:
    """A fastff file around ``header`` (manifests included, as given) and ``data``."""
    head = json.dumps(header, separators=(",", ":")).encode()
    pre = struct.pack("<12sIQQ", saving.MAGIC, saving.FORMAT_VERSION, len(head), len(data))
    pad = b"\0" * (-(len(pre) + len(head)) % 64)
    body = pre + head + pad + data
    return body + hashlib.sha256(body).digest()


def _split(raw: bytes) -> tuple[dict, bytes]:
    _, _, hlen, dlen = struct.unpack_from("<12sIQQ", raw)
    start = -(-(32 + hlen) // 64) * 64
    return json.loads(raw[32:32 + hlen]), raw[start:start + dlen]


def _load_is_clean(path, raw: bytes) -> None:
    path.write_bytes(raw)
    try:
        saving.load_model(path)
    except FormatError:
        pass


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = []
    for i, model in enumerate(_models()):
        p = tmp_path_factory.mktemp("fuzz") / f"m{i}.fastff"
        saving.save_model(model, p)
        out.append(p.read_bytes())
    return out


def test_header_and_manifest_mutations(tmp_path, saved):
    rng = np.random.default_rng(15)
    cases = []
    for k, raw in enumerate(saved):
        header, data = _split(raw)
        for path in _leaves(header):
            for v in HOSTILE:
                cases.append((k, path, v))
    picked = rng.choice(len(cases), size=min(MAX_CASES, len(cases)), replace=False)
    # every manifest field and every section root is always included
    always = [i for i, (_, p, _) in enumerate(cases) if len(p) <= 1 or p[0] == "arrays"]
    for i in sorted(set(picked.tolist()) | set(always)):
        k, path, value = cases[i]
        header, data = _split(saved[k])
        try:
            _load_is_clean(tmp_path / "f.fastff", _pack(_replaced(header, path, value), data))
        except Exception as e:  # noqa: BLE001 - the point: nothing but FormatError escapes
            raise AssertionError(f"{path} = {value!r}: {type(e).__name__}: {e}") from e


def test_byte_mutations(tmp_path, saved):
    rng = np.random.default_rng(16)
    for raw in saved:
        for _ in range(40):
            b = bytearray(raw)
            for pos in rng.integers(0, len(b), size=rng.integers(1, 4)):
                b[pos] ^= int(rng.integers(1, 256))
            with pytest.raises(FormatError):
                saving.load_model(_write(tmp_path, bytes(b)))
        for cut in rng.integers(0, len(raw), size=20):
            with pytest.raises(FormatError):
                saving.load_model(_write(tmp_path, raw[:cut]))


def _write(tmp_path, raw):
    p = tmp_path / "b.fastff"
    p.write_bytes(raw)
    return p


@pytest.mark.parametrize("path, value", [
    (("model", "config", "layers", 0, "config", "units"), 10**6),
    (("model", "config", "layers", 0, "config", "units"), 10**12),
    (("model", "config", "input_shape"), [10**7]),
    (("model", "config", "input_shape"), [10**5, 10**5]),
])
def test_claimed_sizes_cost_what_the_file_weighs(tmp_path, saved, path, value):
    header, data = _split(saved[0])
    raw = _pack(_replaced(header, path, value), data)
    p = _write(tmp_path, raw)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError):
            saving.load_model(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * len(raw) + (2 << 20), f"{peak} bytes for a {len(raw)}-byte file"


def test_bag_padding_id_out_of_range_refused(tmp_path, saved):
    header, data = _split(saved[1])
    for v in (2**63, 10, -1):
        raw = _pack(_replaced(header, ("model", "config", "layers", 0, "config", "padding_id"),
                              v), data)
        with pytest.raises(FormatError, match="padding_id"):
            saving.load_model(_write(tmp_path, raw))


def test_load_weights_into_unbuilt_model_claiming_huge_input(tmp_path, saved):
    header, data = _split(saved[0])
    raw = _pack(_replaced(header, ("model", "config", "input_shape"), [10**12]), data)
    model = models.Sequential([layers.Dense(3), layers.Dropout(0.5), layers.Dense(2)])
    with pytest.raises(FormatError):
        saving.load_weights(model, _write(tmp_path, raw))
    assert not model.built


def test_wrong_json_types_in_manifest_are_format_errors(tmp_path, saved):
    header, data = _split(saved[0])
    for field in ("dtype", "shape", "name", "offset", "nbytes"):
        for v in (["<f4"], {"a": 1}, 1.5, None):
            bad = _replaced(header, ("arrays", "weights", 0, field), v)
            with pytest.raises(FormatError):
                saving.load_model(_write(tmp_path, _pack(bad, data)))
