"""The tokenizer against OpenCLIP's ids (tests/fixtures/tokenizer: SimpleTokenizer.encode of
12,000 texts; context.json: rows at several context lengths)."""
import json

import numpy as np

import oclip
from conftest import fix, load_json

SOT, EOT = 49406, 49407


def rows_from_ids(ids, ctx):
    """OpenCLIP's tokenize(): [SOT] + ids + [EOT], cut to ctx with EOT in the last slot."""
    r = [SOT] + ids + [EOT]
    if len(r) > ctx:
        r = r[:ctx]
        r[-1] = EOT
    return r + [0] * (ctx - len(r))


def cases(categories):
    """Texts (not raw bytes) of the given categories; tests/test_tokenizer.c covers the rest
    (raw bytes, characters newer than the C library's Unicode tables)."""
    with open(fix("tokenizer", "cases.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [c for c in rows if c["c"] in categories and "t" in c]


def check_rows(tok, cs, key, ctx=77):
    got = tok([c["t"] for c in cs], context_length=ctx)
    want = np.array([rows_from_ids(c["ids"] if isinstance(c.get(key, 0), int) else c[key], ctx)
                     for c in cs], np.int64)
    assert got.dtype == np.int64 and got.shape == (len(cs), ctx)
    bad = np.nonzero((got != want).any(1))[0]
    assert len(bad) == 0, "%d texts differ, first %r" % (len(bad), cs[bad[0]]["t"])


def test_cases_ids():
    cs = cases({"imagenet", "caption", "long", "emoji"})
    assert len(cs) > 6000
    tok = oclip.get_tokenizer("ViT-B-32")
    assert tok.context_length == 77
    check_rows(tok, cs, "ids")


def test_clean_modes():
    """clean='whitespace' ('w') and 'canonicalize' ('z'): 0 in the fixture = the 'lower' ids."""
    cs = cases({"imagenet", "caption", "long", "emoji"})
    w, z = [c for c in cs if "w" in c], [c for c in cs if "z" in c]
    assert len(w) > 100 and len(z) > 100
    check_rows(oclip.Tokenizer(clean="whitespace"), w, "w")
    check_rows(oclip.Tokenizer(clean="canonicalize"), z, "z")


def test_context_lengths():
    tok = oclip.Tokenizer()
    for r in load_json("tokenizer", "context.json")["rows"]:
        ctx = int(r["ctx"])
        want = json.loads(r["row"]) if isinstance(r["row"], str) else r["row"]
        np.testing.assert_array_equal(tok(r["t"], context_length=ctx)[0], want)


def test_models_context_length():
    assert oclip.get_tokenizer().context_length == oclip.create_model().context_length
    assert oclip.get_tokenizer("ViT-B-32:openai").context_length == 77
    assert oclip.get_tokenizer(None, context_length=5)("a photo").shape == (1, 5)
    assert oclip.Tokenizer()([]).shape == (0, 77)
