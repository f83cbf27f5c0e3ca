"""General path == compiled path, bit for bit, over everything that has a compiled form.

The cases are generated, not listed: every registered optimizer (default settings and one
variant that switches its options on) × every activation with a C epilogue id (with a
non-default parameter where it has one), each pair once, with a loss the compiled path takes,
dropout or not, a normalization after the hidden layer or not (Batch- or LayerNormalization,
either one followed by an activation layer), a batch size (odd last batch, one batch, one
batch over 8192 rows) and shuffle or not.

The compiled step is built per (optimizer code, loss, normalization bits, dropout)
(``kernels.train_step.steps_kernel``), and each such variant costs a cold compile of
several seconds, so the cases are drawn from a covering set of variants instead of the
product: every (loss, normalized, dropout) triple once (16 variants), two per optimizer code,
the two with different losses and opposite normalization and dropout settings — so every
optimizer runs with and without a normalization and with and without dropout, every loss with
every normalization / dropout combination, and every triple with some optimizer
(``_GROUPS``). Each code's normalized variant has one kind of normalization (``NORM_KINDS``:
BatchNormalization, LayerNormalization, either with an activation layer after it), the kinds
spread so each meets two losses; within a kind the settings (momentum, no gamma/beta, rms
scaling) are run-time data, cycled freely, as are the activation, optimizer options, batch
size and shuffle. Each case trains twice and compares History, weights, optimizer state and
dropout counters with ``array_equal``; on a mismatch, ``_engine_check.where_they_differ``
names the first kernel call of one step that differs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastff
from fastff import activations as activations_mod
from fastff import config, layers, optimizers
from fastff.backend import spec
from fastff.training import compiled as fastpath
from tests._engine_check import RecordingOps, where_they_differ

#: option variants that switch on an optimizer's branches (a newly registered optimizer is
#: covered with its defaults without an entry here)
VARIANTS = {
    "sgd": dict(learning_rate=optimizers.schedules.ExponentialDecay(0.05, 3, 0.5),
                momentum=0.9, nesterov=True, clipvalue=0.5),
    "rmsprop": dict(momentum=0.5, centered=True, weight_decay=0.01),
    "adam": dict(amsgrad=True, clipvalue=0.1),
    "adamw": dict(learning_rate=0.01, amsgrad=True),
    "adagrad": dict(weight_decay=0.02, initial_accumulator_value=0.3),
}
#: the losses the compiled path takes: (loss, output activation or None = the hidden one,
#: target kind)
LOSSES = [("sparse_categorical_crossentropy", "softmax", "sparse"),
          ("categorical_crossentropy", "softmax", "onehot"),
          ("binary_crossentropy", "sigmoid", "binary"),
          ("mse", None, "real")]
#: (batch size, rows): odd last batch, a single batch, and one batch over 8192 rows
BATCHES = [(16, 203), (203, 203), (8500, 8700)]
#: a normalization after the hidden Dense layer, by the compiled variant it makes (its
#: ``steps_kernel`` norm bits): BatchNormalization (momentum 0.9; no gamma/beta),
#: LayerNormalization (Keras's default; rms scaling; gamma only), and either one after a
#: linear Dense with the case's activation as a layer after it ("post")
NORM_KINDS = [[("bn", {"momentum": 0.9}), ("bn", {"center": False, "scale": False})],
              [("ln", {}), ("ln", {"rms_scaling": True, "epsilon": 0.01}),
               ("ln", {"center": False})],
              [("bn", {}, "post")], [("ln", {}, "post")]]
NORMS = [None] + [n for kind in NORM_KINDS for n in kind]
NORM_IDS = ["", "-bn", "-bn0", "-ln", "-lnrms", "-lnnobeta", "-bnpost", "-lnpost"]
_NORM_LAYERS = {"bn": layers.BatchNormalization, "ln": layers.LayerNormalization}


def _norm_bits(norm) -> int:
    """The ``steps_kernel`` norm bits of a ``NORMS`` entry."""
    if norm is None:
        return 0
    return (fastpath._HAS_BN if norm[0] == "bn" else fastpath._HAS_LN) | \
        (fastpath._HAS_POST if norm[2:] == ("post",) else 0)


def _compiled_optimizers() -> dict[str, int]:
    """The registered optimizers with a compiled form, with their packed codes (Nadam's
    per-step constants have none: it trains on the general path, tests/test_optimizers.py)."""
    out = {}
    for name, cls in optimizers._BY_NAME.items():
        opt = cls()
        opt.build(1)
        packed = opt.packed()
        if packed is not None:
            out[name] = int(packed[0])
    return out


def _optimizer_cases() -> list[tuple[str, dict]]:
    out = []
    for name in sorted(_compiled_optimizers()):
        out.append((name, {}))
        if name in VARIANTS:
            out.append((name, VARIANTS[name]))
    return out


def _activation_cases() -> list[tuple[str, dict]]:
    out = []
    for name in sorted(spec.EPILOGUE_C_IDS):
        out.append((name, {}))
        param = spec.param_name(name)
        if param is not None:
            out.append((name, {param: 0.3}))
    return out


def _groups(n_losses: int) -> list[tuple[tuple[int, bool, bool], tuple[int, bool, bool]]]:
    """Pairs of (loss index, normalized, dropout) compiled variants, one pair per optimizer
    code: the 2 * n_losses pairs use every triple once; within a pair the losses differ and
    the normalization and dropout are each on in one variant and off in the other."""
    same = [((k, False, False), ((k + 1) % n_losses, True, True)) for k in range(n_losses)]
    crossed = [((k, False, True), ((k + 1) % n_losses, True, False)) for k in range(n_losses)]
    return same + crossed


_GROUPS = _groups(len(LOSSES))


def _cases() -> list[tuple]:
    codes = _compiled_optimizers()
    # Adam's code first: its first variant (sparse labels, no normalization or dropout)
    # is the one most other tests compile too
    order = sorted(set(codes.values()), key=lambda c: (c != codes.get("adam"), c))
    rank = {c: k for k, c in enumerate(order)}
    cases = []
    pairs = list(itertools.product(_optimizer_cases(), _activation_cases()))
    for i, ((opt, okw), (act, akw)) in enumerate(pairs):
        group = _GROUPS[rank[codes[opt]] % len(_GROUPS)]
        j = _activation_cases().index((act, akw))
        loss_k, has_norm, dropout = group[(j + bool(okw)) % 2]
        loss = LOSSES[loss_k]
        batch = BATCHES[i % len(BATCHES)]
        shuffle = (i // 2) % 2 == 0
        kind = NORM_KINDS[(rank[codes[opt]] + rank[codes[opt]] // len(NORM_KINDS))
                          % len(NORM_KINDS)]
        norm = kind[(i // 2) % len(kind)] if has_norm else None
        cases.append(pytest.param(opt, okw, act, akw, loss, dropout, batch, shuffle, norm,
                                  id=f"{i}-{opt}{'+' if okw else ''}-{act}"
                                     f"{'+' if akw else ''}-{loss[0][:6]}-"
                                     f"{'drop' if dropout else 'nodrop'}-b{batch[0]}-"
                                     f"{'shuf' if shuffle else 'noshuf'}"
                                     f"{NORM_IDS[NORMS.index(norm)]}"))
    return cases


def _variant(case, codes: dict[str, int]) -> tuple:
    """The compiled step a case builds: (optimizer code, loss, norm bits, dropout)."""
    opt, okw, act, akw, loss, dropout, batch, shuffle, norm = case.values
    return codes[opt], loss[0], _norm_bits(norm), dropout


def test_the_cases_cover_every_axis():
    cases = _cases()
    seen = [set() for _ in range(7)]
    for c in cases:
        opt, okw, act, akw, loss, dropout, batch, shuffle, norm = c.values
        for k, v in enumerate((opt, act, loss[0], dropout, batch, shuffle, repr(norm))):
            seen[k].add(v)
    assert seen[0] == set(_compiled_optimizers())
    assert set(optimizers._BY_NAME) - seen[0] == {"nadam"}
    assert seen[1] == set(spec.EPILOGUE_C_IDS)
    assert seen[2] == {lo[0] for lo in LOSSES}
    assert seen[3] == {False, True} and seen[5] == {False, True}
    assert seen[4] == set(BATCHES)
    assert seen[6] == {repr(n) for n in NORMS}
    by_name = _compiled_optimizers()
    variants = {_variant(c, by_name) for c in cases}
    codes = set(by_name.values())
    # every (loss, normalized, dropout) triple, with two variants per optimizer code
    assert {(v[1], v[2] != 0, v[3]) for v in variants} == set(itertools.product(
        [lo[0] for lo in LOSSES], (False, True), (False, True)))
    assert len(variants) <= 2 * len(codes)
    for code in codes:
        mine = [v for v in variants if v[0] == code]
        assert {v[2] != 0 for v in mine} == {False, True}
        assert {v[3] for v in mine} == {False, True}
        assert len({v[1] for v in mine}) == 2
    # every kind of normalization with two losses
    for kind in NORM_KINDS:
        assert len({v[1] for v in variants if v[2] == _norm_bits(kind[0])}) == 2


def _data(rows: int, d: int, kind: str, n_out: int):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, d)).astype(np.float32)
    if kind == "sparse":
        return x, rng.integers(0, n_out, rows)
    if kind == "onehot":
        return x, np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, rows)]
    if kind == "binary":
        return x, (rng.random((rows, n_out)) > 0.5).astype(np.float32)
    return x, rng.standard_normal((rows, n_out)).astype(np.float32)


def _factory(opt, okw, act, akw, loss, dropout, big, norm=None):
    hidden = activations_mod.get(act).with_param(**akw) if akw else act
    out = loss[1] or hidden
    d, n_out = (3, 2) if big else (6, 3)

    def make():
        config.set_seed(11)
        stack = [layers.Input((d,))]
        if dropout:
            stack.append(layers.Dropout(0.3))
        post = norm is not None and norm[2:] == ("post",)
        stack.append(layers.Dense(5, activation="linear" if post else hidden))
        if norm is not None:
            stack.append(_NORM_LAYERS[norm[0]](**norm[1]))
        if post:
            stack.append(layers.Activation(hidden))
        if dropout:
            stack.append(layers.Dropout(0.2))
        stack.append(layers.Dense(n_out, activation=out))
        model = fastff.Sequential(stack)
        model.compile(optimizer=optimizers._BY_NAME[opt](**okw), loss=loss[0])
        return model
    return make, d, n_out


@pytest.mark.parametrize("opt,okw,act,akw,loss,dropout,batch,shuffle,norm", _cases())
def test_general_equals_compiled(opt, okw, act, akw, loss, dropout, batch, shuffle, norm,
                                 monkeypatch):
    bs, rows = batch
    make, d, n_out = _factory(opt, okw, act, akw, loss, dropout, bs > 8192, norm)
    x, y = _data(rows, d, loss[2], n_out)
    runs = []
    for enabled in (True, False):
        monkeypatch.setattr(fastpath, "ENABLED", enabled)
        model = make()
        hist = model.fit(x, y, batch_size=bs, epochs=2, shuffle=shuffle, verbose=0)
        used = fastpath.train_plan(model, bs) is not None
        runs.append((model, hist.history, used))
    (fast, h_fast, used_fast), (slow, h_slow, used_slow) = runs
    assert used_fast and not used_slow
    monkeypatch.setattr(fastpath, "ENABLED", True)
    same = (h_fast == h_slow and np.array_equal(fast.params, slow.params)
            and [la.step for la in fast.layers if isinstance(la, layers.Dropout)]
            == [la.step for la in slow.layers if isinstance(la, layers.Dropout)])
    st_f, st_s = fast.optimizer.get_state(), slow.optimizer.get_state()
    same = same and st_f.keys() == st_s.keys() and all(
        np.array_equal(st_f[k], st_s[k]) for k in st_f)
    assert same, (f"general != compiled (History {h_slow} vs {h_fast}); "
                  + where_they_differ(make, x, y, min(bs, rows)))


def test_recording_ops_logs_one_general_step():
    make, d, n_out = _factory("adam", {}, "relu", {}, LOSSES[0], True, False)
    x, y = _data(32, d, "sparse", n_out)
    model = make()
    rec = RecordingOps()
    model.ops = rec
    model.fit(x, y, batch_size=32, epochs=1, shuffle=True, verbose=0)
    names = [c.name for c in rec.calls]
    assert names[0] == "permutation"
    assert names.count("dense") == 2 and names.count("dropout_mask") == 2
    assert names.count("softmax_xent_sparse") == 1 and names.count("backprop_dense") == 2
    assert names.count("optimizer_step") == 1 and names[-1] == "sum_f64"
    opt = rec.calls[names.index("optimizer_step")]
    assert opt.summary.startswith("3, float32[")  # Adam's code, the flat trainable prefix
    assert "one step agrees" in where_they_differ(make, x, y, 32)


@pytest.mark.parametrize("broken,expect", [("dense", "kernel call dense #1"),
                                           ("optimizer_step", "kernel call optimizer_step")])
def test_a_divergence_names_the_kernel_call(broken, expect, monkeypatch):
    """A general-path kernel made to differ in the last bit is found and named (the
    compiled step does not go through ``CpuOps`` methods, so patching one breaks only the
    general side)."""
    from fastff.backend.cpu_ops import CpuOps

    make, d, n_out = _factory("sgd", {}, "tanh", {}, LOSSES[3], False, False)
    x, y = _data(24, d, "real", n_out)
    real = getattr(CpuOps, broken)

    def off_by_a_bit(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        target = out if broken == "dense" else args[1]
        if broken == "optimizer_step" or target.shape[1] == n_out:
            target.reshape(-1)[0] = np.nextafter(target.reshape(-1)[0], np.inf)
        return out

    monkeypatch.setattr(CpuOps, broken, off_by_a_bit)
    assert where_they_differ(make, x, y, 24).startswith(expect)


@pytest.mark.parametrize("norm", [layers.BatchNormalization, layers.LayerNormalization])
def test_normalization_lowering_rules(norm):
    """Batch- and LayerNormalization lower after a hidden Dense unit (BatchNormalization in
    training mode): a frozen one, one after the output unit, one with a regularizer or two on
    one unit stay on the general engine."""
    def plan(*mid, out="softmax", loss="sparse_categorical_crossentropy", tail=()):
        config.set_seed(1)
        model = fastff.Sequential([layers.Input((4,)), layers.Dense(5, activation="relu"), *mid,
                                   layers.Dense(3, activation=out), *tail])
        model.compile("adam", loss)
        y = np.arange(8) % 3 if loss.startswith("sparse") else np.ones((8, 3), np.float32)
        model.fit(np.ones((8, 4), np.float32), y, epochs=1, verbose=0)
        return fastpath.train_plan(model, 8)

    assert plan(norm()) is not None
    assert plan(norm(), layers.Dense(4, activation="tanh"), norm()) is not None
    frozen = norm()
    frozen.trainable = False
    assert plan(frozen) is None
    assert plan(norm(gamma_regularizer="l2")) is None
    assert plan(norm(beta_regularizer="l1")) is None
    assert plan(norm(axis=1)) is not None  # the last axis by its index
    assert plan(norm(), norm()) is None
    assert plan(layers.BatchNormalization(), layers.LayerNormalization()) is None
    assert plan(out="linear", loss="mse", tail=(norm(),)) is None
    # an activation layer right after the normalization lowers; after a dropout, a second
    # one, or a softmax there does not
    assert plan(norm(), layers.ReLU(), layers.Activation("linear")) is not None
    assert plan(norm(), layers.Activation("gelu")) is not None
    assert plan(norm(), layers.Dropout(0.5, seed=1), layers.ReLU()) is None
    assert plan(norm(), layers.ReLU(), layers.Activation("tanh")) is None
    assert plan(norm(), layers.Softmax()) is None


@pytest.mark.parametrize("kind,method", [("bn", "batch_norm_train"), ("ln", "layer_norm")])
def test_a_normalization_divergence_is_named(kind, method, monkeypatch):
    """The divergence finder also checks a normalization's output, kernel by kernel."""
    from fastff.backend.cpu_ops import CpuOps

    make, d, n_out = _factory("sgd", {}, "relu", {}, LOSSES[0], False, False, (kind, {}))
    x, y = _data(24, d, "sparse", n_out)
    real = getattr(CpuOps, method)

    def off_by_a_bit(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        out[0].reshape(-1)[0] = np.nextafter(out[0].reshape(-1)[0], np.inf)
        return out

    assert "one step agrees" in where_they_differ(make, x, y, 24)
    monkeypatch.setattr(CpuOps, method, off_by_a_bit)
    assert where_they_differ(make, x, y, 24).startswith(f"kernel call {method} #0")
