"""fit/evaluate/predict on a PyDataset, a generator or an iterable of batches
(fastff.data_adapters, fastff.utils.PyDataset)."""

import threading
import time

import numpy as np
import pytest

import fastff as keras
from fastff.utils import PyDataset
from fastff.utils.py_dataset import THREAD_PREFIX

rng = np.random.default_rng(5)
X = rng.standard_normal((40, 3))
Yc = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
BS = 8


def _model(seed=1):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Batches(PyDataset):
    def __init__(self, x, y, bs, sw=None, delay=0.0, fail_at=None, **kw):
        super().__init__(**kw)
        self.x, self.y, self.bs, self.sw = x, y, bs, sw
        self.delay, self.fail_at = delay, fail_at
        self.calls, self.epochs_ended, self.epochs_begun = [], 0, 0

    def __len__(self):
        return -(-len(self.x) // self.bs)

    def __getitem__(self, i):
        self.calls.append(i)
        if self.delay:
            time.sleep(self.delay * (1 + (i % 2)))  # out-of-order completion
        if i == self.fail_at:
            raise RuntimeError(f"bad batch {i}")
        s = slice(i * self.bs, (i + 1) * self.bs)
        if self.sw is not None:
            return self.x[s], self.y[s], self.sw[s]
        return self.x[s], self.y[s]

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


def _gen(x, y, bs, repeat=1):
    for _ in range(repeat):
        for s in range(0, len(x), bs):
            yield x[s:s + bs], y[s:s + bs]


def _workers_alive():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_pydataset_trains_as_arrays_unshuffled():
    ref = _model()
    h_ref = ref.fit(X, Yc, batch_size=BS, epochs=3, shuffle=False, verbose=0)
    ds = Batches(X, Yc, BS)
    m = _model()
    h = m.fit(ds, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-6)
    assert h.history["accuracy"] == pytest.approx(h_ref.history["accuracy"])
    assert ds.calls == list(range(5)) * 3
    assert ds.epochs_ended == 3 and ds.epochs_begun == 3
    np.testing.assert_allclose(m.predict(ds, verbose=0), ref.predict(X, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(m.evaluate(ds, verbose=0), ref.evaluate(X, Yc, verbose=0),
                               rtol=1e-6)


def test_pydataset_shuffles_batch_order_reproducibly():
    ds = Batches(X, Yc, BS)
    _model().fit(ds, epochs=2, verbose=0)  # shuffle=True: a permutation of batches per epoch
    first, second = ds.calls[:5], ds.calls[5:]
    assert sorted(first) == sorted(second) == list(range(5))
    assert first != list(range(5)) or second != list(range(5))
    ds2 = Batches(X, Yc, BS)
    _model().fit(ds2, epochs=2, verbose=0)  # same global seed: same shuffle seed
    assert ds2.calls == ds.calls


@pytest.mark.parametrize("max_queue_size", [1, 3, 10])
def test_workers_keep_order_and_match_single_thread(max_queue_size):
    ds1 = Batches(X, Yc, 4)
    m1 = _model()
    m1.fit(ds1, epochs=2, shuffle=False, verbose=0)
    ds3 = Batches(X, Yc, 4, delay=0.002, workers=3, max_queue_size=max_queue_size)
    m3 = _model()
    m3.fit(ds3, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m1.get_weights(), m3.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sorted(ds3.calls) == sorted(ds1.calls)
    assert not _workers_alive()


def test_worker_error_propagates_and_workers_stop():
    ds = Batches(X, Yc, 4, fail_at=3, workers=2, max_queue_size=4)
    with pytest.raises(RuntimeError, match="bad batch 3"):
        _model().fit(ds, shuffle=False, verbose=0)
    assert not _workers_alive()


def test_ctrl_c_stops_workers():
    ds = Batches(X, Yc, 4, delay=0.001, workers=2)

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _model().fit(ds, epochs=2, callbacks=[Interrupt()], verbose=0)
    assert not _workers_alive()


def test_generator_with_steps_per_epoch_and_validation_generator():
    ref = _model()
    h_ref = ref.fit(X, Yc, batch_size=BS, epochs=2, shuffle=False, verbose=0,
                    validation_data=(X[:16], Yc[:16]))
    m = _model()
    h = m.fit(_gen(X, Yc, BS, repeat=2), steps_per_epoch=5, epochs=2, verbose=0,
              validation_data=_gen(X[:16], Yc[:16], BS, repeat=2), validation_steps=2)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(h.history["val_loss"], h_ref.history["val_loss"], rtol=1e-6)
    assert h.history["val_accuracy"] == pytest.approx(h_ref.history["val_accuracy"])


def test_arrays_with_a_dataset_as_validation_data():
    ref = _model()
    h_ref = ref.fit(X, Yc, batch_size=BS, epochs=2, verbose=0, validation_data=(X, Yc))
    m = _model()
    h = m.fit(X, Yc, batch_size=BS, epochs=2, verbose=0, validation_data=Batches(X, Yc, 16))
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(h.history["val_loss"], h_ref.history["val_loss"], rtol=1e-6)


def test_generator_without_steps_runs_one_epoch_then_warns():
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(_gen(X, Yc, BS), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1
    with pytest.warns(UserWarning, match="ran out of data"):
        h = _model().fit(_gen(X, Yc, BS), steps_per_epoch=3, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 2  # 5 batches: 3, then 2 (short), then stop


class Reiterable:
    def __iter__(self):
        return _gen(X, Yc, BS)


def test_iterable_is_reiterated_each_epoch_and_sample_weights():
    h = _model().fit(Reiterable(), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3
    sw = rng.uniform(0.5, 2.0, len(X))
    ref = _model()
    ref.fit(X, Yc, sample_weight=sw, batch_size=BS, shuffle=False, verbose=0)
    m = _model()
    m.fit(Batches(X, Yc, BS, sw=sw), shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    loss_ref = ref.evaluate(X, Yc, sample_weight=sw, verbose=0)
    np.testing.assert_allclose(m.evaluate(Batches(X, Yc, 16, sw=sw), verbose=0), loss_ref,
                               rtol=1e-6)


def test_predict_on_generator_of_x_only_and_steps():
    m = _model()
    m.fit(X, Yc, verbose=0)
    want = m.predict(X, verbose=0)
    got = m.predict((X[s:s + 7] for s in range(0, 40, 7)), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    got = m.predict(((X[s:s + 10],) for s in range(0, 40, 10)), steps=2, verbose=0)
    np.testing.assert_allclose(got, want[:20], rtol=1e-6)


def test_bad_batches_name_the_batch():
    def bad_shape():
        yield X[:8], Yc[:8]
        yield X[:8, :2], Yc[:8]

    with pytest.raises(ValueError, match="batch 1"):
        _model().fit(bad_shape(), verbose=0)

    def no_targets():
        yield X[:8]

    with pytest.raises(ValueError, match="batch 0.*targets"):
        _model().fit(no_targets(), verbose=0)

    def too_long():
        yield X[:8], Yc[:8], None, None

    with pytest.raises(ValueError, match="batch 0.*4 items"):
        _model().fit(too_long(), verbose=0)

    def wrong_length():
        yield X[:8], Yc[:8]
        yield X[:8], Yc[:8]
        yield X[:8], Yc[:5]

    with pytest.raises(ValueError, match="batch 2: y"):
        _model().fit(wrong_length(), verbose=0)
    with pytest.raises(ValueError, match="`y` is not supported"):
        _model().fit(Batches(X, Yc, BS), Yc, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        _model().fit(Batches(X, Yc, BS), validation_split=0.2, verbose=0)


def test_pydataset_arguments_checked_and_progbar_unknown_total(capsys):
    with pytest.raises(ValueError, match="workers"):
        PyDataset(workers=0)
    with pytest.raises(ValueError, match="use_multiprocessing"):
        PyDataset(use_multiprocessing="yes")
    with pytest.raises(TypeError, match="max_queue_size"):
        PyDataset(max_queue_size=2.5)
    assert keras.utils.Sequence is PyDataset
    _model().fit(_gen(X, Yc, BS), epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert "5/5" not in out and "loss" in out


class Endless(PyDataset):
    def num_batches(self):
        return None

    num_batches = property(num_batches)

    def __getitem__(self, i):
        s = (i % 5) * BS
        return X[s:s + BS], Yc[s:s + BS]


def test_endless_pydataset_needs_steps():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        _model().fit(Endless(), verbose=0)
    h = _model().fit(Endless(workers=2), steps_per_epoch=7, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    assert not _workers_alive()


def test_real_sigint_stops_at_a_step_boundary_and_joins_workers():
    import signal

    class Interrupting(Batches):
        def __getitem__(self, i):
            if i == 2:
                signal.raise_signal(signal.SIGINT)  # handled in the main thread
            return super().__getitem__(i)

    ds = Interrupting(X, Yc, 4, workers=2, max_queue_size=2)
    m = _model()
    with pytest.raises(KeyboardInterrupt):
        m.fit(ds, epochs=3, shuffle=False, verbose=0)
    assert not _workers_alive()
    assert m.optimizer.iterations <= 10  # stopped within the first epoch


@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_ctrl_c_while_a_worker_is_being_started_joins_it(monkeypatch, use_multiprocessing):
    """A Ctrl-C landing right after a worker thread has started, before the pool has
    recorded it (where a ThreadPoolExecutor lost the thread from its join list), is held
    until the pool is complete, then raised; every started worker is joined."""
    import signal

    from fastff.utils.py_dataset import iterate_batches

    real_start = threading.Thread.start
    started = []

    def start(self):
        real_start(self)
        if self.name.startswith(THREAD_PREFIX):
            started.append(self)
            signal.raise_signal(signal.SIGINT)  # main thread: the handler runs right here

    monkeypatch.setattr(threading.Thread, "start", start)
    ds = Batches(X, Yc, 4, workers=2, max_queue_size=2, use_multiprocessing=use_multiprocessing)
    with pytest.raises(KeyboardInterrupt):
        iterate_batches(ds)
    assert len(started) == 2  # both were started (the interrupt did not cut the start)
    assert not any(t.is_alive() for t in started)
    assert not _workers_alive()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):  # and through fit, before its step window
        _model().fit(ds, shuffle=False, verbose=0)
    assert not _workers_alive()


def test_ctrl_c_during_close_does_not_skip_the_join():
    """A Ctrl-C delivered to the main thread while close() joins a worker (still in
    __getitem__) is raised only after the join."""
    import signal

    from fastff.utils.py_dataset import iterate_batches

    main = threading.main_thread().ident
    done = []

    class Slow(Batches):
        def __getitem__(self, i):
            if i == 1:  # wait for close() to hold SIGINT, then interrupt the main thread
                t0 = time.monotonic()
                while (signal.getsignal(signal.SIGINT) is signal.default_int_handler
                       and time.monotonic() - t0 < 5):
                    time.sleep(0.001)
                signal.pthread_kill(main, signal.SIGINT)
                time.sleep(0.05)
                done.append(i)
            return super().__getitem__(i)

    ds = Slow(X, Yc, 4, workers=2, max_queue_size=2)
    it = iterate_batches(ds, [0, 2, 1])
    assert next(it)[0] == 0
    time.sleep(0.01)
    with pytest.raises(KeyboardInterrupt):
        it.close()
    assert done == [1]  # the batch being computed was finished and its worker joined
    assert not _workers_alive()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    it.close()  # closing again is a no-op


def test_multi_output_model_on_a_generator_matches_arrays():
    L = keras.layers
    y1 = rng.standard_normal((40, 1))

    def make():
        keras.utils.set_random_seed(2)
        inp = keras.Input((3,))
        h = L.Dense(4, activation="relu")(inp)
        m = keras.Model(inp, [L.Dense(1, name="reg")(h),
                              L.Dense(2, activation="softmax", name="cls")(h)])
        m.compile("sgd", ["mse", "sparse_categorical_crossentropy"])
        return m

    def gen():
        for s in range(0, 40, BS):
            yield X[s:s + BS], [y1[s:s + BS], Yc[s:s + BS]]

    ref, m = make(), make()
    h_ref = ref.fit(X, [y1, Yc], batch_size=BS, shuffle=False, verbose=0)
    h = m.fit(gen(), verbose=0)
    assert list(h.history) == list(h_ref.history)
    for k in h.history:
        np.testing.assert_allclose(h.history[k], h_ref.history[k], rtol=1e-6)
    np.testing.assert_allclose(m.evaluate(gen(), verbose=0), ref.evaluate(X, [y1, Yc], verbose=0),
                               rtol=1e-6)
    got, want = m.predict(gen(), verbose=0), ref.predict(X, verbose=0)
    assert len(got) == 2
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_batch_sources_and_arrays_share_one_loop():
    """A generator trains, validates and evaluates as the same batches fed as arrays (one
    loop): same History, same weights, same evaluation; fit's validation fires the test hooks
    for either kind of input."""
    class Hooks(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.tests = 0

        def on_test_begin(self, logs=None):
            self.tests += 1

    runs = []
    for kind in ("arrays", "generator"):
        m = _model()
        hooks = Hooks()
        if kind == "arrays":
            h = m.fit(X, Yc, batch_size=BS, epochs=2, shuffle=False, verbose=0,
                      validation_data=(X[:16], Yc[:16]), callbacks=[hooks])
            ev = m.evaluate(X, Yc, batch_size=BS, verbose=0, return_dict=True)
        else:
            h = m.fit(_gen(X, Yc, BS, repeat=2), steps_per_epoch=5, epochs=2, verbose=0,
                      validation_data=_gen(X[:16], Yc[:16], BS, repeat=2),
                      validation_steps=2, callbacks=[hooks])
            ev = m.evaluate(_gen(X, Yc, BS), verbose=0, return_dict=True)
        runs.append((h.history, m.get_weights(), ev, hooks.tests))
    (h_a, w_a, ev_a, t_a), (h_g, w_g, ev_g, t_g) = runs
    assert h_a == h_g and ev_a == ev_g and t_a == t_g == 2
    for a, b in zip(w_a, w_g):
        np.testing.assert_array_equal(a, b)
