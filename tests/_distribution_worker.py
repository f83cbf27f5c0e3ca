"""Run by tests/test_distribution.py under ``mpirun -n 2``: data-parallel fits, then (rank 0)
the same fits in one process for reference. Writes ``result-<rank>.json`` into argv[1]."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import fastff
from fastff import callbacks, distribution, layers


def data(n=203, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    sw = rng.uniform(0.2, 2.0, size=n)
    return x, y, sw


def model(opt, dropout=0.0, loss="sparse_categorical_crossentropy"):
    fastff.config.set_seed(7)  # the same initial weights and shuffle order everywhere
    stack = [layers.Input((12,)), layers.Dense(16, activation="relu")]
    if dropout:
        stack.append(layers.Dropout(dropout))
    m = fastff.Sequential([*stack, layers.Dense(3, activation="softmax")], dtype="float64")
    m.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return m


def train(opt, weighted=False, dropout=0.0, cbs=None, epochs=3,
          loss="sparse_categorical_crossentropy"):
    x, y, sw = data()
    m = model(opt, dropout, loss)
    h = m.fit(x, y, batch_size=25, epochs=epochs, verbose=0, validation_split=0.2,
              sample_weight=sw if weighted else None, callbacks=cbs)
    ev = m.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    return m, h.history, ev


class StopOn(callbacks.Callback):
    """Sets stop_training on one rank only (epoch end, or a batch end)."""

    def __init__(self, rank, batch=None):
        super().__init__()
        self.rank, self.batch = rank, batch

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and batch == self.batch and distribution.rank() == self.rank:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.batch is None and distribution.rank() == self.rank:
            self.model.stop_training = True


def run_all(out, tag):
    res = {}
    clipped = fastff.optimizers.Adam(clipnorm=0.5)  # not elementwise: no sharded update
    for name, kw in {"sgd": dict(opt="sgd"), "adam": dict(opt="adam"),
                     "adam_weighted": dict(opt="adam", weighted=True),
                     "rmsprop": dict(opt="rmsprop"), "adam_clipnorm": dict(opt=clipped)}.items():
        m, hist, ev = train(**kw)
        state = {k: np.asarray(v).tolist() for k, v in m.optimizer.get_state().items()}
        res[name] = {"weights": m.params.tolist(), "history": hist, "evaluate": ev,
                     "optimizer": state}
    for reduction in ("sum", "mean_with_sample_weight"):  # each part weighted as in the whole
        loss = fastff.losses.SparseCategoricalCrossentropy(reduction=reduction)
        m, hist, ev = train("adam", weighted=True, loss=loss)
        res[f"adam_{reduction}"] = {"weights": m.params.tolist(), "history": hist,
                                    "evaluate": ev}
    dist = distribution.get_distribution()
    if dist is not None:  # the same fit with one Allreduce and full updates on every rank
        dist.shard_optimizer = False
        m, _, _ = train("adam")
        dist.shard_optimizer = True
        res["adam_unsharded"] = {"weights": m.params.tolist()}
    # an embedding table with lazy (row-sparse) Adam: every rank updates the union of rows
    ids = np.random.default_rng(5).integers(0, 30, size=(97, 5))
    fastff.config.set_seed(0)
    m = fastff.Sequential([layers.EmbeddingBag(30, 4, input_shape=(5,)),
                           layers.Dense(3, activation="softmax")], dtype="float64")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(ids, ids[:, 0] % 3, batch_size=16, epochs=2, verbose=0)
    res["embedding"] = {"weights": m.params.tolist(), "history": h.history,
                        "sparse": bool(m._sparse)}
    # train_on_batch: (x, y) is the global batch
    x, y, sw = data()
    m = model("adam")
    logs = [m.train_on_batch(x[i:i + 25], y[i:i + 25], sample_weight=sw[i:i + 25],
                             return_dict=True) for i in (0, 25, 50)]
    res["train_on_batch"] = {"weights": m.params.tolist(), "logs": logs}
    # dropout: reproducible for a given rank count, masks differ by rank
    m1, _, _ = train("adam", dropout=0.3)
    m2, _, _ = train("adam", dropout=0.3)
    res["dropout_repeat_diff"] = float(np.abs(m1.params - m2.params).max())
    res["dropout_seed"] = int(m1.layers[1]._mask_seed)
    # collective stopping: requested on one rank only
    _, h, _ = train("sgd", cbs=[StopOn(rank=1)])
    res["stop_epochs"] = len(h["loss"])
    _, h, _ = train("sgd", cbs=[StopOn(rank=0, batch=2)])
    res["stop_batch_epochs"] = len(h["loss"])
    # rank-0-only writes: each rank points its callbacks at its own directory
    rank = distribution.rank()
    d = os.path.join(out, f"{tag}-rank{rank}")
    _, h, _ = train("adam", epochs=2, cbs=[
        callbacks.ModelCheckpoint(os.path.join(d, "ckpt-{epoch}.fastff")),
        callbacks.CSVLogger(os.path.join(out, f"{tag}-log-{rank}.csv"))])
    return res


def main(out):
    distribution.set_distribution(distribution.DataParallel())
    rank = distribution.rank()
    res = run_all(out, "mpi")
    distribution.set_distribution(None)
    if rank == 0:  # the single-process references, same seeds, same global batch
        ref = run_all(out, "single")
        res["reference"] = {k: ref[k] for k in ("sgd", "adam", "adam_weighted", "rmsprop",
                                                "adam_clipnorm", "train_on_batch",
                                                "embedding", "adam_sum",
                                                "adam_mean_with_sample_weight")}
        res["reference_dropout_seed"] = ref["dropout_seed"]
    with open(os.path.join(out, f"result-{rank}.json"), "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main(sys.argv[1])
