"""CoNLL-U reader and GUM coreference parsing: real UD EWT/GUM files and synthetic input."""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path

import pytest

from fastff.data import (
    coref_stats,
    iter_conllu,
    load_gum,
    load_ud_ewt,
    parse_feats,
    read_conllu,
    read_conllu_documents,
    syntactic_head,
)

DATA = Path(os.environ.get("FASTFF_DATA", Path(__file__).parents[1] / ".." / "shared" / "data"))
GUM = "ud_english_gum/en_gum-ud-{}.conllu.gz"
EWT = {"train": "ud_english_ewt/en_ewt-ud-train.conllu.gz",
       "dev": "ud_english_ewt/en_ewt-ud-dev.conllu",
       "test": "ud_english_ewt/en_ewt-ud-test.conllu"}


def need(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not found (set FASTFF_DATA to the shared data directory)")
    return path


@pytest.fixture(scope="module")
def gum():
    """GUM documents per split, parsed once (about 2 s for all three)."""
    cache: dict[str, list] = {}

    def get(split: str):
        if split not in cache:
            cache[split] = read_conllu_documents(need(GUM.format(split)))
        return cache[split]

    return get


# ------------------------------------------------------------------ real data: EWT
@pytest.mark.parametrize(("split", "n_sent", "n_tok"),
                         [("train", 12544, 204577), ("dev", 2001, 25147), ("test", 2077, 25094)])
def test_ewt_counts(split, n_sent, n_tok):
    sentences = read_conllu(need(EWT[split]))
    assert len(sentences) == n_sent
    assert sum(len(s) for s in sentences) == n_tok
    upos = Counter(u for s in sentences for u in s.upos)
    assert len(upos) == 17 and "_" not in upos
    if split == "dev":
        first = sentences[0]
        assert first.sent_id.endswith("-0001") and first.text == "From the AP comes this story :"
        assert first.forms == ["From", "the", "AP", "comes", "this", "story", ":"]
        assert first.upos[:3] == ["ADP", "DET", "PROPN"] and first.heads[:4] == [3, 3, 4, 0]
        assert first.metadata["newdoc id"].startswith("weblog-blogspot.com_nominations")


def test_ewt_skips_multiword_tokens_and_empty_nodes():
    need(EWT["dev"])
    sentences = load_ud_ewt("dev", DATA)
    for s in sentences:
        assert s.ids == list(range(1, len(s) + 1))
    # "didn't" is the multiword token 29-30 in dev: its words are kept, the range line is not
    s = next(s for s in sentences if "didn't" in (s.text or ""))
    assert "did" in s.forms and "n't" in s.forms and "didn't" not in s.forms


# ------------------------------------------------------------------ real data: GUM coref
SOURCES_TABLE = {  # SOURCES.md, counted there independently
    "train": dict(docs=177, sentences=10224, words=177410, mentions=49649, entities=25758,
                  chains=7008, mentions_in_chains=30899, singletons=18750,
                  split_antecedents=284, bridges=1537),
    "dev": dict(docs=30, sentences=1575, words=28119, mentions=7897, entities=3940, chains=1102,
                mentions_in_chains=5059, singletons=2838, split_antecedents=33, bridges=232),
    "test": dict(docs=30, sentences=1464, words=28397, mentions=7927, entities=4319,
                 chains=1094, mentions_in_chains=4702, singletons=3225, split_antecedents=54,
                 bridges=241),
}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_gum_coref_counts_match_sources(gum, split):
    docs = gum(split)
    assert coref_stats(docs) == SOURCES_TABLE[split]
    for doc in docs:
        assert doc.id.startswith("GUM_")
        assert doc.metadata["global.Entity"].startswith("GRP-etype-infstat")
        for m in doc.mentions:
            assert 0 <= m.start <= m.end < len(doc.sentences[m.sent])
            assert all(m.start <= h <= m.end for h in m.heads)
            assert m.link in {"coref", "ana", "appos", "cata", "disc", "pred", "sgl"}
            assert m.identity is None or "(" not in m.identity


def test_gum_every_bracket_closes(gum):
    """Every '(' opened in the raw Entity values is one mention, every 'eid)' closes one."""
    import re

    for split in ("dev", "test"):
        opens = closes = singles = 0
        for sent in iter_conllu(need(GUM.format(split))):
            for misc in sent.misc:
                for item in misc.split("|"):
                    if item.startswith("Entity="):
                        value = item[len("Entity="):]
                        singles += len(re.findall(r"\([^()]+\)", value))
                        opens += value.count("(")
                        closes += value.count(")")
        n = SOURCES_TABLE[split]["mentions"]
        assert opens == n and closes - singles == n - singles


def test_gum_spot_checks(gum):
    doc = gum("dev")[0]
    assert doc.id == "GUM_academic_exposure"
    s1 = doc.sentences[1]
    assert s1.sent_id == "GUM_academic_exposure-2"
    spans = {(m.sent, m.start, m.end, m.eid): m for m in doc.mentions[:12]}
    # (1-abstract-new-nnnnn-cf1-1-sgl) on the one-word sentence "Introduction"
    intro = spans[(0, 0, 0, "1")]
    assert (intro.etype, intro.infstat, intro.link, intro.minspan) == ("abstract", "new", "sgl",
                                                                         (1,))
    # "Research on adult - learned second language ( L2 )" opens at word 0, closes at ")"
    research = spans[(1, 0, 9, "2")]
    assert doc.words(research)[:3] == ["Research", "on", "adult"] and doc.words(research)[-1] == ")"
    # "adult-learned second language", head (minspan 5) "language"; "(L2)" its apposition
    lang = spans[(1, 2, 6, "3")]
    assert [s1.forms[h] for h in lang.heads] == ["language"]
    assert syntactic_head(s1, lang.start, lang.end) == 6
    appos = spans[(1, 8, 8, "3")]
    assert (appos.infstat, appos.link) == ("giv:act", "appos")
    # "(7-...(3-...)" on "L2" and "7)6)5)4)" on "grammar": nested mentions ending together
    assert doc.words(spans[(1, 24, 25, "7")]) == ["L2", "grammar"]
    assert (1, 24, 24, "3") in spans
    assert doc.words(spans[(1, 12, 25, "4")])[:2] == ["considerable", "insight"]
    minspans = spans[(1, 19, 25, "6")].heads
    assert [s1.forms[h] for h in minspans] == ["learning", "processing"]
    # mentions are sorted by sentence, start, then longer first
    keys = [(m.sent, m.start, -m.end) for m in doc.mentions]
    assert keys == sorted(keys)


def test_loaders_check_split_and_file(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_ud_ewt("validation", tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_gum("valid", tmp_path)
    with pytest.raises(FileNotFoundError, match="en_gum-ud-test.conllu.gz.*FASTFF_DATA"):
        load_gum("test", tmp_path)


def test_gum_identity_and_links(gum):
    docs = gum("dev")
    named = [m for d in docs for m in d.mentions if m.identity]
    assert named and named[0].identity == "Digital_humanities"
    link = docs[0].bridges[0]
    assert (link.antecedent, link.anaphor) == ("23", "28")
    eids = {m.eid for m in docs[0].mentions}
    assert all(b.antecedent in eids and b.anaphor in eids for b in docs[0].bridges)


# ------------------------------------------------------------------ synthetic input
def row(i, form, head=0, misc="_", upos="NOUN"):
    return f"{i}\t{form}\t{form.lower()}\t{upos}\tNN\t_\t{head}\tdep\t_\t{misc}"


def write(tmp_path, lines, name="x.conllu"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_synthetic_structure(tmp_path):
    multiword = "1-2\tKim's" + "\t_" * 8
    empty_node = "2.1\tgo\tgo\tVERB\t_\t_\t_\t_\t0:root\t_"
    lines = [
        "# sent_id = s0", "# text = Loose one", row(1, "Loose"), row(2, "one", 1), "",
        "# newdoc id = d1", "# global.Entity = eid-etype-minspan",
        "# sent_id = s1", "# newpar", multiword,
        row(1, "Kim", 2, "Entity=(1-person-1)"), row(2, "'s", 0), empty_node,
        row(3, "cat", 2, "Entity=(2-animal-2(1-person-1)|SpaceAfter=No"),
        row(4, "food", 3, "Entity=2)|Bridge=1<2,3<2"), "",
        "# newdoc", row(1, "Hi", 0, "_", "INTJ"),  # no blank line at end of file
    ]
    path = write(tmp_path, lines)
    sentences = read_conllu(path)
    assert [len(s) for s in sentences] == [2, 4, 1]
    assert sentences[1].forms == ["Kim", "'s", "cat", "food"]
    assert sentences[1].ids == [1, 2, 3, 4] and sentences[1].word_lines == [11, 12, 14, 15]
    assert sentences[1].metadata["newpar"] == "" and sentences[1].sent_id == "s1"
    gz = tmp_path / "x.conllu.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    docs = read_conllu_documents(gz)
    assert [d.id for d in docs] == [None, "d1", None]
    assert [len(d.sentences) for d in docs] == [1, 1, 1]
    d1 = docs[1]
    got = [(m.start, m.end, m.eid, m.etype, m.minspan, m.line) for m in d1.mentions]
    assert got == [(0, 0, "1", "person", (1,), 11), (2, 3, "2", "animal", (2,), 14),
                   (2, 2, "1", "person", (1,), 14)]
    assert [(b.antecedent, b.anaphor, b.word) for b in d1.bridges] == [("1", "2", 3),
                                                                       ("3", "2", 3)]
    assert d1.entities()["1"][1].start == 2
    assert docs[2].sentences[0].upos == ["INTJ"]


def test_same_eid_nested_closes_most_recent(tmp_path):
    lines = ["# newdoc id = d", row(1, "a", 0, "Entity=(1-x"), row(2, "b", 1, "Entity=(1-y"),
             row(3, "c", 1, "Entity=1)"), row(4, "d", 1, "Entity=1)"), ""]
    (doc,) = read_conllu_documents(write(tmp_path, lines))
    assert [(m.start, m.end, m.etype) for m in doc.mentions] == [(0, 3, "x"), (1, 2, "y")]
    # no global.Entity: CorefUD default field names eid-etype-head-other
    assert doc.mentions[0].attrs == {"etype": "x"}


def test_parse_feats():
    assert parse_feats("Case=Acc|Number=Sing") == {"Case": "Acc", "Number": "Sing"}
    assert parse_feats("_") == {}


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ([row(1, "a"), "2\tb\tb\tX"], 2, "10 tab-separated columns"),
        ([row(1, "a"), row(3, "b")], 2, "word id '3', expected 2"),
        ([row(1, "a"), row("x", "b")], 2, "word id 'x'"),
        ([row(1, "a", head="h")], 1, "head 'h' is not an integer"),
        ([row(1, "a"), "# late comment"], 2, "comment after the words"),
        (["# sent_id = 1", "", row(1, "a")], 2, "comments but no words"),
        (["# newdoc id = d", row(1, "a", 0, "Entity=(1-x"), row(2, "b"), "", row(1, "c")], 2,
         "entity '1' is not closed"),
        (["# newdoc id = d", row(1, "a"), row(2, "b", 1, "Entity=1)")], 3,
         r"closing bracket '1\)' without an open mention"),
        (["# newdoc id = d", row(1, "a", 0, "Entity=(1-x)junk")], 2, "malformed Entity"),
        (["# newdoc id = d", row(1, "a", 0, "Entity=(1-x)|Bridge=12")], 2, "malformed link"),
        (["# newdoc id = d", row(1, "a", 0, "Entity=(-x)")], 2, "empty entity id"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, lines, line, message):
    path = write(tmp_path, lines, "bad.conllu")
    with pytest.raises(ValueError, match=rf"bad.conllu:{line}: .*{message}"):
        read_conllu_documents(path)
