"""IntegerLookup, StringLookup and TextVectorization in Keras 3 files, both ways, with their
vocabularies as Keras's assets.

Keras's ``saving_lib`` gives every saveable with ``save_assets`` a folder of the archive's
``assets/`` at the same inner path as its weights (``assets/layers/integer_lookup``, a
nested model's ``assets/layers/sequential/layers/string_lookup``): ``IndexLookup.save_assets``
writes ``vocabulary.txt`` there, ``"\\n".join(str(token) for token in
get_vocabulary(include_special_tokens=True))`` (mask token and OOV tokens first), unless
the vocabulary was given in the config (``input_vocabulary``). ``TextVectorization``
delegates to its ``StringLookup``, which Keras then also visits as the attribute
``_lookup_layer``: the same vocabulary goes to ``<path>/vocabulary.txt`` and
``<path>/_lookup_layer/vocabulary.txt``, and the weights file gets an empty
``<path>/_lookup_layer/vars`` group. ``load_assets`` reads the lines (``splitlines``, trailing
empty lines dropped; ``int(line)`` for integers), and ``set_vocabulary`` drops the special
tokens when the file starts with exactly them; the ``_lookup_layer`` copy is read last, so
it wins.

fastff writes the vocabulary as an asset (the config's ``vocabulary`` null, as Keras writes
an adapted layer) and reads either form. Keras's lookup layers need TensorFlow, so these
files are checked against this layout as Keras's source gives it (tests build one by hand),
not against Keras itself on the torch backend. Reading is bounded: each asset at most
``MAX_ASSET`` bytes, a token at most ``MAX_TOKEN`` characters, integers within int64;
anything malformed is a ``FormatError``.
"""

from __future__ import annotations

import codecs
import contextvars
from typing import Any

from fastff.keras_format.fields import get, integer
from fastff.saving import FormatError

CLASSES = ("IntegerLookup", "StringLookup", "TextVectorization")
ASSETS_DIR = "assets"
VOCABULARY = "vocabulary.txt"
MAX_ASSET = 64 << 20      # bytes of one asset file
MAX_TOKEN = 1 << 16       # characters of one token
_INT64 = (-(1 << 63), (1 << 63) - 1)
_MODES = ("int", "one_hot", "multi_hot", "count")

#: the assets (``{zip name: bytes}``) of the ``.keras`` file being read
ASSETS: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "fastff_keras_assets", default=None)


def is_lookup(layer: Any) -> bool:
    return type(layer).__name__ in CLASSES and type(layer).__module__.startswith("fastff.")


# ------------------------------------------------------------------------------ writing
def _index_config(layer: Any) -> dict:
    return {"invert": layer.invert, "max_tokens": layer.max_tokens,
            "num_oov_indices": layer.num_oov_indices, "oov_token": layer.oov_token,
            "mask_token": layer.mask_token, "output_mode": layer.output_mode,
            "sparse": layer.sparse, "pad_to_max_tokens": layer.pad_to_max_tokens}


def write_config(layer: Any, base: dict) -> tuple[str, dict] | None:
    """(Keras class, Keras config) of a lookup layer (None: another class); the vocabulary
    goes to the assets (``vocabulary_assets``)."""
    if not is_lookup(layer):
        return None
    cls = type(layer).__name__
    if cls == "TextVectorization":
        lookup = layer._lookup_layer
        for key in ("standardize", "split"):
            if callable(getattr(layer, key)):
                raise ValueError(f"save_keras: layer {layer.name!r} (TextVectorization) has a "
                                 f"callable {key}, which a Keras config cannot hold (code)")
        ngrams = layer.ngrams
        return cls, {**base, "max_tokens": lookup.max_tokens, "standardize": layer.standardize,
                     "split": layer.split,
                     "ngrams": list(ngrams) if isinstance(ngrams, (tuple, list)) else ngrams,
                     "output_mode": layer.output_mode,
                     "output_sequence_length": layer.output_sequence_length,
                     "pad_to_max_tokens": lookup.pad_to_max_tokens, "sparse": lookup.sparse,
                     "ragged": False, "vocabulary": None, "idf_weights": None,
                     "encoding": layer.encoding, "vocabulary_size": layer.vocabulary_size()}
    cfg = {**base, **_index_config(layer)}
    if cls == "IntegerLookup":
        cfg["vocabulary_dtype"] = "int64"
    cfg.update(idf_weights=None, vocabulary=None, vocabulary_size=layer.vocabulary_size(),
               oov_method="floormod", salt=None)
    if cls == "StringLookup":
        cfg["encoding"] = layer.encoding
    return cls, cfg


def vocabulary_text(layer: Any) -> bytes:
    """``vocabulary.txt`` as Keras writes it (special tokens first)."""
    tokens = [str(t) for t in layer.get_vocabulary(include_special_tokens=True)]
    for t in tokens:
        if len(t.splitlines()) > 1 or t != t.strip("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
            raise ValueError(f"save_keras: layer {layer.name!r}: the token {t!r} holds a line "
                             "break, which Keras's vocabulary file (one token a line) cannot "
                             "hold")
    return "\n".join(tokens).encode("utf-8")


def assets(group: str, layer: Any) -> dict[str, bytes]:
    """``{zip member: bytes}`` of a lookup layer whose weights group is ``group``."""
    text = vocabulary_text(layer)
    out = {f"{ASSETS_DIR}/{group}/{VOCABULARY}": text}
    if type(layer).__name__ == "TextVectorization":  # its StringLookup, visited again
        out[f"{ASSETS_DIR}/{group}/_lookup_layer/{VOCABULARY}"] = text
    return out


def inner_groups(group: str, layer: Any) -> list[str]:
    """Weights groups Keras writes below a lookup layer's own (TextVectorization's
    ``_lookup_layer``, empty)."""
    return [f"{group}/_lookup_layer"] if type(layer).__name__ == "TextVectorization" else []


# ------------------------------------------------------------------------------ reading
def _token_field(cfg: dict, key: str, default: Any, strings: bool, path: str, what: str,
                 allow_none: bool) -> Any:
    v = cfg.get(key, default)
    if v is None and allow_none:
        return None
    if strings:
        if not isinstance(v, str) or len(v) > MAX_TOKEN:
            raise FormatError(f"{path}: {what}.{key} must be a string, got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, int) or not _INT64[0] <= v <= _INT64[1]:
        raise FormatError(f"{path}: {what}.{key} must be an int64 integer, got {v!r}")
    return v


def _config_vocabulary(cfg: dict, strings: bool, path: str, what: str) -> list | None:
    v = cfg.get("vocabulary")
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > 1 << 24:
        raise FormatError(f"{path}: {what}.vocabulary must be a list of tokens or null")
    for t in v:
        if strings and not (isinstance(t, str) and len(t) <= MAX_TOKEN) or not strings and (
                isinstance(t, bool) or not isinstance(t, int)
                or not _INT64[0] <= t <= _INT64[1]):
            raise FormatError(f"{path}: {what}.vocabulary holds {t!r}, not "
                              f"{'a string' if strings else 'an int64 integer'}")
    return v


def _common_index(cfg: dict, cls: str, path: str, what: str) -> dict:
    strings = cls != "IntegerLookup"
    mode = cfg.get("output_mode", "int")
    if mode == "tf_idf" or cfg.get("idf_weights") is not None:
        raise FormatError(f"{path}: {what}: output_mode='tf_idf' (idf_weights) is not "
                          "supported by fastff")
    if mode not in _MODES:
        raise FormatError(f"{path}: {what}.output_mode must be one of {_MODES}, got {mode!r}")
    out = {"max_tokens": integer(cfg, "max_tokens", None, path, what, low=2, allow_none=True),
           "num_oov_indices": integer(cfg, "num_oov_indices", 1, path, what),
           "mask_token": _token_field(cfg, "mask_token", None, strings, path, what, True),
           "oov_token": _token_field(cfg, "oov_token", "[UNK]" if strings else -1, strings,
                                     path, what, False),
           "invert": bool(get(cfg, "invert", bool, path, what, False)),
           "output_mode": mode,
           "sparse": bool(get(cfg, "sparse", bool, path, what, False)),
           "pad_to_max_tokens": bool(get(cfg, "pad_to_max_tokens", bool, path, what, False))}
    if out["pad_to_max_tokens"] and out["max_tokens"] is None:
        raise FormatError(f"{path}: {what}: pad_to_max_tokens needs max_tokens")
    method = cfg.get("oov_method", "floormod")
    if method not in ("floormod", "farmhash") or (method == "farmhash"
                                                  and out["num_oov_indices"] > 1):
        raise FormatError(f"{path}: {what}.oov_method={method!r} is not supported by fastff "
                          "(floormod only, or farmhash with at most one OOV index)")
    if cfg.get("salt") is not None and out["num_oov_indices"] > 1:
        raise FormatError(f"{path}: {what}: a salted OOV hash is not supported by fastff")
    return out


def _encoding(cfg: dict, path: str, what: str) -> str:
    enc = cfg.get("encoding", "utf-8")
    known = isinstance(enc, str) and len(enc) <= 64
    if known:
        try:
            codecs.lookup(enc)
        except LookupError:
            known = False
    if not known:
        raise FormatError(f"{path}: {what}.encoding {enc!r} is not a known codec")
    return enc


def build(cls: str, cfg: dict, path: str, what: str, common: dict) -> Any:
    """The fastff lookup layer of a Keras config (every field checked); its vocabulary from
    the config, or later from the assets (``read_assets``)."""
    from fastff import layers

    if cls == "TextVectorization":
        return _text_vectorization(cfg, path, what, common)
    args = _common_index(cfg, cls, path, what)
    strings = cls == "StringLookup"
    vocab = _config_vocabulary(cfg, strings, path, what)
    if strings:
        return _built(lambda: layers.StringLookup(
            **args, encoding=_encoding(cfg, path, what), **common), vocab, cfg, path, what)
    if cfg.get("vocabulary_dtype", "int64") not in ("int64", "int32"):
        raise FormatError(f"{path}: {what}.vocabulary_dtype must be int64, got "
                          f"{cfg.get('vocabulary_dtype')!r}")
    return _built(lambda: layers.IntegerLookup(
        **args, vocabulary_dtype=cfg.get("vocabulary_dtype", "int64"), **common),
        vocab, cfg, path, what)


def _built(make: Any, vocab: list | None, cfg: dict, path: str, what: str) -> Any:
    """``make()``'s layer with the config's vocabulary set; a constructor's refusal as a
    FormatError naming the layer."""
    try:
        layer = make()
        if vocab is not None:
            _set(layer, vocab, cfg, path, what, from_file=False)
    except (ValueError, TypeError, NotImplementedError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{path}: {what}: {e}") from None
    layer.__dict__["_keras_asset_vocabulary"] = vocab is None
    return layer


def _text_vectorization(cfg: dict, path: str, what: str, common: dict) -> Any:
    from fastff import layers
    from fastff.layers.text_vectorization import SPLIT, STANDARDIZE

    for key, options, default in (("standardize", STANDARDIZE, "lower_and_strip_punctuation"),
                                  ("split", SPLIT, "whitespace")):
        v = cfg.get(key, default)
        if v is not None and v not in options:
            raise FormatError(f"{path}: {what}.{key} must be null or one of {options}, got "
                              f"{v!r} (a serialized function is code, never loaded)")
    if cfg.get("ragged"):
        raise FormatError(f"{path}: {what}: ragged=True is not supported by fastff")
    if cfg.get("output_mode") == "tf_idf" or cfg.get("idf_weights") is not None:
        raise FormatError(f"{path}: {what}: output_mode='tf_idf' (idf_weights) is not "
                          "supported by fastff")
    ngrams = cfg.get("ngrams")
    if isinstance(ngrams, list):
        if len(ngrams) > 16:
            raise FormatError(f"{path}: {what}.ngrams lists more than 16 widths")
        ngrams = tuple(ngrams)
    vocab = _config_vocabulary(cfg, True, path, what)
    return _built(lambda: layers.TextVectorization(
            max_tokens=integer(cfg, "max_tokens", None, path, what, low=2, allow_none=True),
            standardize=cfg.get("standardize", "lower_and_strip_punctuation"),
            split=cfg.get("split", "whitespace"), ngrams=ngrams,
            output_mode=cfg.get("output_mode", "int"),
            output_sequence_length=integer(cfg, "output_sequence_length", None, path, what,
                                           low=1, allow_none=True),
            pad_to_max_tokens=bool(get(cfg, "pad_to_max_tokens", bool, path, what, False)),
            sparse=bool(get(cfg, "sparse", bool, path, what, False)),
            encoding=_encoding(cfg, path, what), **common), vocab, cfg, path, what)


def _set(layer: Any, tokens: list, cfg: dict, path: str, what: str, from_file: bool) -> None:
    """``set_vocabulary`` as Keras's: special tokens at the start of the list dropped when
    they are exactly the layer's; the size checked against the config's
    ``vocabulary_size``."""
    lookup = layer._lookup_layer if type(layer).__name__ == "TextVectorization" else layer
    special = ([lookup.mask_token] if lookup._use_mask else []) + \
        [lookup.oov_token] * lookup.num_oov_indices
    if special and tokens[:len(special)] == special:
        tokens = tokens[len(special):]
    try:
        lookup.set_vocabulary(tokens)
    except (ValueError, TypeError) as e:
        raise FormatError(f"{path}: {what}: the vocabulary"
                          f"{' file' if from_file else ''} is refused: {e}") from None
    size = cfg.get("vocabulary_size")
    if size is not None and size != lookup.vocabulary_size():
        raise FormatError(f"{path}: {what}: the vocabulary has {lookup.vocabulary_size()} "
                          f"entries, the config's vocabulary_size says {size!r}")


def _parse(data: bytes, strings: bool, name: str, path: str) -> list:
    """The lines of a vocabulary file as Keras's ``load_assets`` reads them."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: {name} is not UTF-8 text: {e}") from None
    lines = text.splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    if not strings:
        out = []
        for i, line in enumerate(lines):
            try:
                if len(line) > 24:
                    raise ValueError("too long")
                v = int(line)
            except ValueError:
                raise FormatError(f"{path}: {name} line {i + 1}: {line[:40]!r} is not an "
                                  "integer token") from None
            if not _INT64[0] <= v <= _INT64[1]:
                raise FormatError(f"{path}: {name} line {i + 1}: {v} is outside int64")
            out.append(v)
        return out
    for i, line in enumerate(lines):
        if len(line) > MAX_TOKEN:
            raise FormatError(f"{path}: {name} line {i + 1} is longer than {MAX_TOKEN} "
                              "characters")
    return lines


def read_assets(layer: Any, cfg: dict, group: str, path: str) -> None:
    """Set a lookup layer's vocabulary from the archive's assets when its config had none
    (Keras's ``load_assets``; TextVectorization's ``_lookup_layer`` copy wins)."""
    if not is_lookup(layer) or not layer.__dict__.pop("_keras_asset_vocabulary", False):
        return
    store = ASSETS.get() or {}
    what = f"layer {layer.name!r} ({type(layer).__name__})"
    names = [f"{ASSETS_DIR}/{group}/{VOCABULARY}"]
    if type(layer).__name__ == "TextVectorization":
        names.insert(0, f"{ASSETS_DIR}/{group}/_lookup_layer/{VOCABULARY}")
    name = next((n for n in names if n in store), None)
    if name is None:
        raise FormatError(f"{path}: {what} has no vocabulary: the config holds none and the "
                          f"archive has no {names[-1]}")
    strings = type(layer).__name__ != "IntegerLookup"
    _set(layer, _parse(store[name], strings, name, path), cfg, path, what, from_file=True)
