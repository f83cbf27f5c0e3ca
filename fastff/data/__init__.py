"""Data readers and preprocessing for fastff (pure Python + NumPy; no Numba).

Files
    ``read_idx``, ``write_idx``           IDX arrays (MNIST), gzip or plain
    ``load_mnist``, ``load_mnist_5k``, ``load_mnist_test``, ``read_mnist_csv``
    ``read_labeled``, ``read_blind``, ``attach_labels``, ``load_sst2``, ``tokenize``
                                        ``label<TAB|space>sentence`` sentiment files
    ``read_conllu``, ``iter_conllu``, ``read_conllu_documents``, ``parse_feats``,
    ``syntactic_head``, ``coref_stats``, ``load_ud_ewt``, ``load_gum``;
    ``Sentence``, ``Document``, ``Mention``, ``Link``
                                        CoNLL-U with ``Entity=`` coreference brackets
    ``load_glove``, ``embedding_matrix``, ``Coverage``   GloVe text vectors
    ``data_root``, ``data_file``          the data directory (argument, ``FASTFF_DATA``,
                                        or ``../shared/data``)

Preprocessing
    ``Vocabulary`` (PAD=0, UNK=1), ``pad_sequences``, ``windows``, ``word_shape``,
    ``suffix``, ``bucketize``, ``one_hot``, ``DISTANCE_BOUNDARIES``
"""

from .bucketize import DISTANCE_BOUNDARIES, DISTANCE_BUCKET_NAMES, bucketize, one_hot
from .conllu import (
    Document,
    Link,
    Mention,
    Sentence,
    coref_stats,
    iter_conllu,
    load_gum,
    load_treebank,
    load_ud_ewt,
    parse_feats,
    read_conllu,
    read_conllu_documents,
    syntactic_head,
    treebank_files,
)
from .glove import Coverage, TextCoverage, embedding_matrix, load_glove, text_coverage
from .idx import read_idx, write_idx
from .mnist import load_mnist, load_mnist_5k, load_mnist_test, read_mnist_csv
from .paths import data_file, data_root
from .sequences import pad_sequences, suffix, windows, word_shape
from .text import attach_labels, load_sst2, read_blind, read_labeled, tokenize
from .vocab import PAD_ID, UNK_ID, Vocabulary

__all__ = [
    "DISTANCE_BOUNDARIES",
    "DISTANCE_BUCKET_NAMES",
    "PAD_ID",
    "UNK_ID",
    "Coverage",
    "TextCoverage",
    "text_coverage",
    "Document",
    "Link",
    "Mention",
    "Sentence",
    "Vocabulary",
    "attach_labels",
    "bucketize",
    "coref_stats",
    "data_file",
    "data_root",
    "embedding_matrix",
    "iter_conllu",
    "load_treebank",
    "treebank_files",
    "load_glove",
    "load_gum",
    "load_mnist",
    "load_mnist_5k",
    "load_mnist_test",
    "load_sst2",
    "load_ud_ewt",
    "one_hot",
    "pad_sequences",
    "parse_feats",
    "read_blind",
    "read_conllu",
    "read_conllu_documents",
    "read_idx",
    "read_labeled",
    "read_mnist_csv",
    "suffix",
    "syntactic_head",
    "tokenize",
    "windows",
    "word_shape",
    "write_idx",
]
