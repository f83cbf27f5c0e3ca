"""Read CoNLL-U files (plain or gzip) into sentences and documents, with coreference.

Sentences are stored column-wise (``forms``, ``upos``, ``heads`` ... one list per
column), which is what taggers and feature extractors consume. Multiword-token
lines (``1-2``) and empty nodes (``1.1``) are skipped, so ``ids`` run 1..n and
word ``i`` of a sentence (0-based) has CoNLL-U id ``i + 1``.

Coreference follows the CorefUD / UD English GUM ``Entity=`` notation in MISC:
``(eid-attrs...`` opens a mention on its first word, ``eid)`` closes it on its
last word, ``(eid-attrs...)`` is a one-word mention, and one word may carry
several brackets (``Entity=7)6)5)4)``). A closing ``eid)`` closes the most recent
open mention with that eid. The attribute names come from the document's
``# global.Entity = ...`` comment (GUM: ``GRP-etype-infstat-salience-centering-
minspan-link-identity``). Mentions must open and close within one sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._io import PathLike, read_lines, where
from .paths import data_file

# CorefUD's documented default when a document has no global.Entity comment
DEFAULT_ENTITY_FIELDS = ("eid", "etype", "head", "other")

# file names in the shared data directory (see SOURCES.md); EWT train alone is gzipped
UD_EWT_FILES = {"train": "ud_english_ewt/en_ewt-ud-train.conllu.gz",
                "dev": "ud_english_ewt/en_ewt-ud-dev.conllu",
                "test": "ud_english_ewt/en_ewt-ud-test.conllu"}
UD_GUM_FILES = {split: f"ud_english_gum/en_gum-ud-{split}.conllu.gz"
                for split in ("train", "dev", "test")}

_BRACKET = re.compile(r"\(([^()]+)\)|\(([^()]+)|([^()]+)\)")


@dataclass
class Sentence:
    """One sentence, column-wise; ``heads`` are ints (0 = root, -1 where ``_``)."""

    ids: list[int] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    lemmas: list[str] = field(default_factory=list)
    upos: list[str] = field(default_factory=list)
    xpos: list[str] = field(default_factory=list)
    feats: list[str] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    deprels: list[str] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    misc: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    word_lines: list[int] = field(default_factory=list)  # 1-based line number of each word

    def __len__(self) -> int:
        return len(self.forms)

    @property
    def sent_id(self) -> str | None:
        return self.metadata.get("sent_id")

    @property
    def text(self) -> str | None:
        return self.metadata.get("text")


@dataclass
class Mention:
    """A coreference mention: words ``start..end`` (0-based, inclusive) of sentence ``sent``.

    ``sent`` indexes ``Document.sentences``; ``attrs`` holds the bracket's fields
    after the entity id, named by the document's ``global.Entity`` comment.
    """

    doc_id: str | None
    sent: int
    start: int
    end: int
    eid: str
    attrs: dict[str, str]
    line: int  # line of the opening bracket

    def __len__(self) -> int:
        return self.end - self.start + 1

    @property
    def etype(self) -> str | None:
        return self.attrs.get("etype")

    @property
    def infstat(self) -> str | None:
        return self.attrs.get("infstat")

    @property
    def link(self) -> str | None:
        return self.attrs.get("link")

    @property
    def identity(self) -> str | None:
        return self.attrs.get("identity")

    @property
    def minspan(self) -> tuple[int, ...]:
        """1-based offsets of the head word(s) within the mention (GUM ``minspan``)."""
        raw = self.attrs.get("minspan", self.attrs.get("head", ""))
        return tuple(int(x) for x in raw.split(",") if _is_small_int(x))

    @property
    def heads(self) -> tuple[int, ...]:
        """Sentence word indices (0-based) of the ``minspan`` head words."""
        return tuple(self.start + k - 1 for k in self.minspan)


@dataclass
class Link:
    """A ``Bridge=`` or ``SplitAnte=`` pair ``antecedent<anaphor`` found at a word."""

    antecedent: str
    anaphor: str
    sent: int
    word: int


@dataclass
class Document:
    """Sentences of one ``# newdoc``, with coreference mentions and links."""

    id: str | None
    sentences: list[Sentence] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    mentions: list[Mention] = field(default_factory=list)
    bridges: list[Link] = field(default_factory=list)
    split_antecedents: list[Link] = field(default_factory=list)

    def entities(self) -> dict[str, list[Mention]]:
        """Mentions grouped by entity id, each list in document order."""
        out: dict[str, list[Mention]] = {}
        for m in self.mentions:
            out.setdefault(m.eid, []).append(m)
        return out

    def words(self, mention: Mention) -> list[str]:
        """Word forms of ``mention``."""
        return self.sentences[mention.sent].forms[mention.start : mention.end + 1]


def _is_small_int(text: str) -> bool:
    """ASCII decimal digits only, at most 9 (``int`` of thousands of digits is slow and
    raises without a line number)."""
    return 0 < len(text) <= 9 and text.isascii() and text.isdecimal()


def _parse_comment(line: str) -> tuple[str, str]:
    body = line[1:].strip()
    key, sep, value = body.partition(" = ")
    if not sep:
        key, sep, value = body.partition("=")
    return key.strip(), value.strip()


def iter_conllu(path: PathLike) -> Iterator[Sentence]:
    """Yield the sentences of a CoNLL-U file one at a time.

    Raises ``ValueError`` naming file and line for a line without 10 tab-separated
    columns, a bad or out-of-order word id, a non-integer head, or a comment after
    the words of a sentence.
    """
    sent = Sentence()
    for lineno, line in read_lines(path, "CoNLL-U"):
        if not line.strip():
            if sent.forms:
                yield sent
            elif sent.metadata:
                raise ValueError(f"{where(path, lineno)}: sentence has comments but no words")
            sent = Sentence()
            continue
        if line.startswith("#"):
            if sent.forms:
                raise ValueError(f"{where(path, lineno)}: comment after the words of a sentence"
                                 " (missing blank line?)")
            key, value = _parse_comment(line)
            sent.metadata[key] = value
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise ValueError(f"{where(path, lineno)}: expected 10 tab-separated columns, "
                             f"got {len(cols)}")
        wid = cols[0]
        if "-" in wid or "." in wid:  # multiword token range or empty node
            continue
        if not _is_small_int(wid) or int(wid) != len(sent.forms) + 1:
            raise ValueError(f"{where(path, lineno)}: word id {wid[:20]!r}, expected "
                             f"{len(sent.forms) + 1}")
        head = cols[6]
        if head == "_":
            head_id = -1
        elif _is_small_int(head):
            head_id = int(head)
        else:
            raise ValueError(f"{where(path, lineno)}: head {head[:20]!r} is not an integer "
                             "(expected a word id, 0 for the root, or '_')")
        sent.ids.append(int(wid))
        sent.forms.append(cols[1])
        sent.lemmas.append(cols[2])
        sent.upos.append(cols[3])
        sent.xpos.append(cols[4])
        sent.feats.append(cols[5])
        sent.heads.append(head_id)
        sent.deprels.append(cols[7])
        sent.deps.append(cols[8])
        sent.misc.append(cols[9])
        sent.word_lines.append(lineno)
    if sent.forms:
        yield sent
    elif sent.metadata:
        raise ValueError(f"{path}: file ends with comments but no words")


def read_conllu(path: PathLike) -> list[Sentence]:
    """All sentences of a CoNLL-U file (see :func:`iter_conllu`)."""
    return list(iter_conllu(path))


def parse_feats(feats: str) -> dict[str, str]:
    """``"Case=Acc|Number=Sing"`` -> ``{"Case": "Acc", "Number": "Sing"}``; ``"_"`` -> ``{}``."""
    if feats in ("_", ""):
        return {}
    return dict(item.partition("=")[::2] for item in feats.split("|"))


def read_conllu_documents(path: PathLike, coref: bool = True) -> list[Document]:
    """Sentences grouped per ``# newdoc``; with ``coref``, parse Entity/Bridge/SplitAnte.

    Sentences before the first ``# newdoc`` form a document with id ``None``.
    Document metadata holds the first sentence's ``newdoc``, ``global.*`` and
    ``meta::*`` comments. Malformed coreference annotation raises ``ValueError``
    naming file and line.
    """
    docs: list[Document] = []
    for sent in iter_conllu(path):
        meta = sent.metadata
        if "newdoc id" in meta or "newdoc" in meta or not docs:
            doc_meta = {k: v for k, v in meta.items()
                        if k.startswith(("newdoc", "global.", "meta::"))}
            docs.append(Document(id=meta.get("newdoc id"), metadata=doc_meta))
        docs[-1].sentences.append(sent)
    if coref:
        for doc in docs:
            _parse_coref(doc, path)
    return docs


def _entity_fields(doc: Document) -> tuple[str, ...]:
    header = doc.metadata.get("global.Entity")
    return tuple(header.split("-")) if header else DEFAULT_ENTITY_FIELDS


def _parse_links(value: str, sent: int, word: int, loc: str) -> list[Link]:
    links = []
    for pair in value.split(","):
        antecedent, sep, anaphor = pair.partition("<")
        if not sep or not antecedent or not anaphor:
            raise ValueError(f"{loc}: malformed link {pair!r} (expected 'antecedent<anaphor')")
        links.append(Link(antecedent, anaphor, sent, word))
    return links


def _parse_coref(doc: Document, path: PathLike) -> None:
    fields = _entity_fields(doc)
    n_fields = len(fields)
    mentions: list[Mention] = []
    for s_idx, sent in enumerate(doc.sentences):
        open_mentions: dict[str, list[tuple[int, dict[str, str], int]]] = {}
        for w, misc in enumerate(sent.misc):
            if "Entity=" not in misc and "Bridge=" not in misc and "SplitAnte=" not in misc:
                continue
            lineno = sent.word_lines[w]
            for item in misc.split("|"):
                key, _, value = item.partition("=")
                if key == "Bridge":
                    doc.bridges.extend(_parse_links(value, s_idx, w, where(path, lineno)))
                elif key == "SplitAnte":
                    doc.split_antecedents.extend(
                        _parse_links(value, s_idx, w, where(path, lineno)))
                elif key == "Entity":
                    _parse_entity_value(value, doc.id, s_idx, w, lineno, fields, n_fields,
                                        open_mentions, mentions, path)
        for eid, stack in open_mentions.items():
            if stack:
                raise ValueError(f"{where(path, stack[-1][2])}: mention of entity {eid!r} "
                                 "is not closed before the end of its sentence")
    mentions.sort(key=lambda m: (m.sent, m.start, -m.end))
    doc.mentions = mentions


def _parse_entity_value(
    value: str,
    doc_id: str | None,
    s_idx: int,
    w: int,
    lineno: int,
    fields: tuple[str, ...],
    n_fields: int,
    open_mentions: dict[str, list[tuple[int, dict[str, str], int]]],
    mentions: list[Mention],
    path: PathLike,
) -> None:
    """Parse one ``Entity=`` value at word ``w``: open, close or add mentions."""
    pos = 0
    for match in _BRACKET.finditer(value):
        if match.start() != pos:
            break
        pos = match.end()
        single, opening, closing = match.groups()
        if closing is not None:
            stack = open_mentions.get(closing)
            if not stack:
                raise ValueError(f"{where(path, lineno)}: closing bracket '{closing})' "
                                 "without an open mention of that entity in this sentence")
            start, attrs, open_line = stack.pop()
            mentions.append(Mention(doc_id, s_idx, start, w, closing, attrs, open_line))
            continue
        parts = (single if single is not None else opening).split("-", n_fields - 1)
        eid = parts[0]
        if not eid:
            raise ValueError(f"{where(path, lineno)}: empty entity id in {value!r}")
        attrs = dict(zip(fields[1:], parts[1:]))
        if single is not None:
            mentions.append(Mention(doc_id, s_idx, w, w, eid, attrs, lineno))
        else:
            open_mentions.setdefault(eid, []).append((w, attrs, lineno))
    if pos != len(value):
        raise ValueError(f"{where(path, lineno)}: malformed Entity annotation {value!r} "
                         f"at character {pos}")


def syntactic_head(sentence: Sentence, start: int, end: int) -> int:
    """0-based index of the word in ``start..end`` whose head lies outside the span.

    When several words do (the span is not one subtree), the first is returned.
    """
    for i in range(start, end + 1):
        if not start + 1 <= sentence.heads[i] <= end + 1:
            return i
    return start


def coref_stats(docs: list[Document]) -> dict[str, int]:
    """Counts as in SOURCES.md: mentions, entities (distinct eids per document), chains
    (entities with >= 2 mentions), mentions in chains, singletons, split-antecedent
    and bridging links."""
    stats = dict.fromkeys(("docs", "sentences", "words", "mentions", "entities", "chains",
                           "mentions_in_chains", "singletons", "split_antecedents",
                           "bridges"), 0)
    for doc in docs:
        stats["docs"] += 1
        stats["sentences"] += len(doc.sentences)
        stats["words"] += sum(len(s) for s in doc.sentences)
        stats["mentions"] += len(doc.mentions)
        for chain in doc.entities().values():
            stats["entities"] += 1
            if len(chain) >= 2:
                stats["chains"] += 1
                stats["mentions_in_chains"] += len(chain)
            else:
                stats["singletons"] += 1
        stats["split_antecedents"] += len(doc.split_antecedents)
        stats["bridges"] += len(doc.bridges)
    return stats


def load_ud_ewt(split: str, data_dir: PathLike | None = None) -> list[Sentence]:
    """Sentences of UD English-EWT ``split`` ("train", "dev" or "test") from the data directory."""
    if split not in UD_EWT_FILES:
        raise ValueError(f"split must be one of {sorted(UD_EWT_FILES)}, got {split!r}")
    return read_conllu(data_file(UD_EWT_FILES[split], data_dir))


def load_gum(split: str, data_dir: PathLike | None = None) -> list[Document]:
    """Documents (with coreference) of UD English-GUM ``split`` from the data directory."""
    if split not in UD_GUM_FILES:
        raise ValueError(f"split must be one of {sorted(UD_GUM_FILES)}, got {split!r}")
    return read_conllu_documents(data_file(UD_GUM_FILES[split], data_dir))


_UD_SPLIT = re.compile(r"^[A-Za-z0-9_]+-ud-(train|dev|test)\.conllu(\.gz)?$")


def treebank_files(directory: PathLike) -> dict[str, Path]:
    """``{"train": path, "dev": path, "test": path}`` of a Universal Dependencies treebank
    folder, found by UD's file naming (``<lang>_<name>-ud-<split>.conllu``, plain or
    ``.gz``); a split the folder lacks is left out. Two files for one split are an error."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"treebank: {root} is not a directory")
    found: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        m = _UD_SPLIT.match(p.name)
        if m is None or not p.is_file():
            continue
        split = m.group(1)
        if split in found:
            raise ValueError(f"treebank: two {split} files in {root}: {found[split].name} and "
                             f"{p.name}")
        found[split] = p
    if "train" not in found:
        raise FileNotFoundError(f"treebank: no *-ud-train.conllu[.gz] file in {root}")
    return found


def load_treebank(directory: PathLike, split: str) -> list[Sentence]:
    """Sentences of ``split`` ("train", "dev" or "test") of the UD treebank in ``directory``."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be 'train', 'dev' or 'test', got {split!r}")
    files = treebank_files(directory)
    if split not in files:
        raise FileNotFoundError(f"treebank: no *-ud-{split}.conllu[.gz] file in {directory}")
    return read_conllu(files[split])
