#!/usr/bin/env python3
"""Fixtures for the Hugging Face tokenizer.json reader (src/text/hf_*.c, tests/test_hf_tokenizer.c).

    .venv/bin/python tools/fixtures_hftok.py

Real vocabularies cannot be downloaded here, so small ones are trained the way the real files
were made: SentencePiece models trained on a generated multilingual corpus, then converted by
transformers' slow->fast converters, and saved with save_pretrained:

  unigram.json    T5TokenizerFast from a SentencePiece Unigram model with the nmt_nfkc
                  normalization rule (so the Precompiled normalizer carries a real
                  precompiled_charsmap), as SigLIP's T5-style tokenizer; 10 extra ids
  gemma.json      GemmaTokenizerFast from a SentencePiece BPE model with byte_fallback, as
                  SigLIP 2's Gemma tokenizer
  llama.json      LlamaTokenizerFast(legacy=False) from the same BPE model: Metaspace with
                  prepend_scheme "first", no normalizer
  wordpiece.json  BertTokenizerFast (lowercase) from a WordPiece vocabulary trained with
                  `tokenizers`, as bert-base-uncased (CLIPA configs)
  bytelevel.json  RobertaTokenizerFast from a byte-level BPE trained with `tokenizers`, as
                  roberta-base
  mix_*.json      smaller tokenizers for the components the five above do not use: one T5-style
                  from a SentencePiece model with hand-written normalization rules (a small
                  charsmap with rules of several characters), five built with the `tokenizers`
                  API (build_mix); cases.jsonl holds their ids for every third string

  cases.jsonl     one JSON object per line: "t" the text (or "x": its UTF-8 bytes in hex when it
                  holds a NUL), "h": 1 for the held-out part, and one key per tokenizer above
                  (file name without .json) with Tokenizer.from_file(f).encode(text).ids
                  (add_special_tokens=True), or {"err": 1} when `tokenizers` raised
  openclip.jsonl  one object per line: "t"/"x", "tok" (file stem), "clean", "ctx", "sep"
                  (strip_sep_token), "row": open_clip.tokenizer.HFTokenizer(dir, context_length=ctx,
                  clean=clean, strip_sep_token=sep)([text])[0] with its trailing padding removed
                  ("pad" in manifest.json gives the pad id per tokenizer)
  codepoints.json per tokenizer, CRC-32s of Tokenizer.encode("a" + chr(c) + "b").ids for every
                  code point c (surrogates excluded) in blocks of 4096: for each c the
                  little-endian uint32s c, len(ids), ids... (or c, 0xFFFFFFFF when encode
                  raised), crc32 over a block's whole sequence; the blocks tell where a Unicode
                  property or normalization differs, the generator can then show the ids
  manifest.json   versions, counts, and per tokenizer what transformers takes from
                  tokenizer_config.json rather than tokenizer.json: pad and sep ids, padding and
                  truncation side

Expected values come only from `tokenizers` and OpenCLIP's HFTokenizer (which loads the saved
folder with transformers.AutoTokenizer). The corpus and the SentencePiece models are
deterministic (fixed seeds); the `tokenizers` trainers (WordPiece, BPE, WordLevel) break ties in
an order that can change from run to run, so a regeneration may change those vocabularies, and
their expected ids with them.

    .venv/bin/python tools/fixtures_hftok.py --seeds

writes the fuzz seed corpus tests/fuzz/hftok/ from the fixtures (run after the fixtures).

    .venv/bin/python tools/fixtures_hftok.py --tables

writes src/text/hf_unicode_tables.h instead: the character classes `tokenizers` 0.22 takes from
Rust crates with Unicode tables of their own, probed code point by code point through its
Python binding (the unicode_categories crate, frozen at an old Unicode version, for
is_punctuation, BertNormalizer's controls and non-spacing marks; Rust's std, newer than
utf8proc, for char::is_numeric and char::to_lowercase; the regex crate's \\w; the
unicode-normalization-alignments crate, older than utf8proc, for the characters NFD and NFKD
decompose and the combining marks).
"""
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata

OUT = os.path.join("tests", "fixtures", "hftok")

# ------------------------------------------------------------------------------------------------
# Corpus
# ------------------------------------------------------------------------------------------------
LATIN = "a b c d e f g h i j k l m n o p r s t u v w y z".split()
ACCENTED = list("àáâäãåæçèéêëìíîïñòóôöõøùúûüýÿœßğışłńśźżčďěňřšťůž")
CYR = list("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
GREEK = list("αβγδεζηθικλμνξοπρστυφχψω")
ARABIC = list("ابتثجحخدذرزسشصضطظعغفقكلمنهوي")
HEBREW = list("אבגדהוזחטיכלמנסעפצקרשת")
DEVA = ["क", "ख", "ग", "न", "म", "र", "स", "ह", "ा", "ि", "ी", "ु", "े", "्"]
THAI = list("กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮ")
HANGUL = [chr(c) for c in range(0xAC00, 0xAC00 + 400, 7)]
HIRA = [chr(c) for c in range(0x3041, 0x3097)]
KATA = [chr(c) for c in range(0x30A1, 0x30FB)]
CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 3000, 11)]
EMOJI = ["😀", "😂", "👍", "👍🏽", "🐱", "🐶", "❤️", "🇺🇸", "👨‍👩‍👧", "🎉", "🔥", "✨", "🙏", "🚀", "🌍"]
WORDS = ("a photo of the cat dog car tree house person people woman man child bird flower "
         "picture image small large big little red green blue yellow black white orange on in at "
         "with and or of by for from sitting standing running playing water beach mountain city "
         "street night day sky cloud snow rain food plate table chair room window door").split()
FOREIGN = ("café naïve résumé Zürich façade über straße Ærø Łódź año niño São Paulo "
           "Ελλάδα Москва Київ Беларусь Tōkyō 東京 北京 上海 猫 写真 こんにちは 世界 カメラ "
           "서울 사진 고양이 مرحبا العالم صورة שלום עולם नमस्ते भारत สวัสดี ประเทศไทย "
           "İstanbul ıi Ǆ ǅ ǆ ﬁ ﬂ Ⅻ ① ² ½ ＡＢＣ ａｂｃ １２３ ｶﾀｶﾅ").split()


def pseudo_word(rng, alphabet, lo=2, hi=7):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def train_lines(rng, n):
    alphabets = [LATIN, LATIN + ACCENTED, CYR, GREEK, ARABIC, HEBREW, DEVA, THAI, HANGUL, HIRA,
                 KATA, CJK]
    lines = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(3, 14)):
            r = rng.random()
            if r < 0.45:
                parts.append(rng.choice(WORDS))
            elif r < 0.6:
                parts.append(rng.choice(FOREIGN))
            elif r < 0.88:
                parts.append(pseudo_word(rng, rng.choice(alphabets)))
            elif r < 0.94:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 6))))
            else:
                parts.append(rng.choice(EMOJI))
        s = " ".join(parts)
        if rng.random() < 0.3:
            s = s[0].upper() + s[1:] + rng.choice([".", "!", "?", ",", ";", ":", "..."])
        lines.append(s)
    return lines


EDGE = [
    "", " ", "  ", "\t", "\n", "\r\n", " \t\n\r\x0b\x0c ", "\u3000", "\xa0", "\u2028", "\u2029",
    "\x85", "\u200b", "\u200d", "\ufeff", "\u180e", "\u2000\u2001\u200a", "\u202f\u205f",
    "a photo of a cat.", "A PHOTO OF A CAT.", "a  photo   of\ta\ncat", "  leading", "trailing  ",
    "  both  ", "a\xa0b", "a\u3000b", "x\u2009y", "tab\there", "new\nline", "cr\rlf", "a\x00b",
    "\x00", "\x01\x02\x03\x7f", "\x1b[31mred\x1b[0m", "\x80\x81\x9f", "\ufffd", "\ufffd\ufffd",
    "\ufffe\uffff", "\U0010ffff", "\U000e0001", "\u00ad", "soft\u00adhyphen", "\u200c\u200d",
    "\u2060", "\u061c", "\u200e\u200f", "</s>", "<pad>", "<unk>", "<s>", "<bos>", "<eos>",
    "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<mask>", "<extra_id_0>", "<extra_id_9>",
    "<extra_id_10>", "a</s>b", "a </s> b", "</s></s>", "<pad><pad>", "</s", "/s>", "<<pad>>",
    "<PAD>", "a <extra_id_1> b <extra_id_2>", "</s>hello", "hello</s>", " </s> ", "\t</s>\n",
    "[CLS] hello [SEP]", "[cls]", "hello[SEP]world", "<mask>x", " <mask> ", "x<mask>",
    "<0x41>", "<0xFF>", "▁", "▁▁", "▁hello", "hello▁world", " ▁ ", "##", "##ing", "Ġ", "Ġhello",
    "café", "cafe\u0301", "naïve", "nai\u0308ve", "ﬁnance ﬂower", "Ⅻ ① ² ½", "ＡＢＣ ａｂｃ １２３",
    "ｶﾀｶﾅ ﾊﾟ", "İstanbul", "I\u0307", "ΣΑΣ", "ὈΔΥΣΣΕΎΣ", "ß ẞ", "ǅ", "Å Å Å", "\u1e9b\u0323",
    "e\u0301\u0302\u0323", "a\u0300\u0301\u0302\u0303\u0304", "\u0301start", "Ａ\u0301", "ｶ\u3099",
    "が ｶﾞ", "\u0958", "\uf900", "\u2fa1d", "\u3131\u314f", "\u1100\u1161\u11a8", "한국어 텍스트",
    "0123456789", "3.14159", "1,000,000", "٠١٢٣", "१२३", "２０２４年", "x² + y²", "10^6",
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸🇯🇵", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣ #️⃣", "❤️", "❤", "a😀b", "🧑🏿‍🦱",
    "C++ and C# and F#", "user@example.com http://example.com/a?b=c&d=e", "hello_world foo-bar",
    "it's I'm you're we've they'll she'd don't", "IT'S I'M", "'s 't 're", "''s", "rock'n'roll",
    "!!!", "???", "...", "—–-", "«quoted» “double” ‘single’", "(parens) [brackets] {braces}",
    "#hashtag @mention $100 50% 3*4=12", "a.b.c", "e.g.", "U.S.A.", "~`!@#$%^&*()_+-=",
    "東京タワーの写真", "猫の写真", "一张猫的照片", "고양이 사진", "фотография кошки",
    "صورة قطة", "תמונה של חתול", "बिल्ली की तस्वीर", "รูปแมว", "Φωτογραφία γάτας",
    "mixed 中文 and English 日本語 テキスト", "Ελληνικά και English", "ab" * 40,
    "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 150, "a " * 120, "hello " * 30, "\u00e9" * 50, "猫" * 80, "😀" * 30, "\t" * 20,
    " " * 50, "\n\n\n", "a\n\nb", "word\u200bword", "zero\u200cwidth\u200djoin",
    "qx", "xqx", "qqx", "aqxb", "qxq", "quixotic qx", "``quoted''", "a [MASK] b", "x[MASK]",
    "a cat sat", "concat cat.", "cat", " xyz  xyz  b", "<eos>", "a <eos> b", "ÉTÉ été Été",
    "well-known 12-34", "a\u00a0-\u00a0b", "A [MASK]", "[MASK]  end", "cat-cat_cat",
    "a <sep>  b", "x<sep> y <sep>", "a  <cls> b", "<cls><sep>", " <sep> ",
    "\u200bhello", "\u200b\u200b a", "\u200b hello", " \u200bhello", "</s>\u200bhi", "\ufb01ne",
    "A\u0301bc", "\u3000x", "<extra_id_0>x", "x<extra_id_1> y",
]


def random_string(rng, pools):
    n = rng.randint(1, 24)
    return "".join(rng.choice(rng.choice(pools)) for _ in range(n))


def test_strings(rng):
    out = list(EDGE)
    pools = [LATIN, ACCENTED, CYR, GREEK, ARABIC, HEBREW, DEVA, THAI, HANGUL, HIRA, KATA, CJK,
             EMOJI, list(" \t\n\xa0\u3000\u2009"), list(".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`"),
             list("0123456789"), ["</s>", "<pad>", "<unk>", "[SEP]", "[CLS]", "<mask>", "<s>",
                                 "<bos>", "<extra_id_3>", "▁", "Ġ", "##"]]
    # captions like the training text, in several shapes
    for s in train_lines(rng, 450):
        r = rng.random()
        if r < 0.15:
            s = s.upper()
        elif r < 0.25:
            s = "  " + s.replace(" ", rng.choice(["  ", "\t", " \n ", "\xa0", "\u3000"])) + " "
        out.append(s)
    for _ in range(500):
        out.append(random_string(rng, pools))
    # code points from across the BMP and beyond (assigned in Python's database)
    for _ in range(300):
        cs = []
        while len(cs) < rng.randint(1, 10):
            c = rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0x300, 0x1FFF),
                            rng.randint(0x2000, 0x33FF), rng.randint(0x3400, 0xD7FF),
                            rng.randint(0xF900, 0xFFFD), rng.randint(0x10000, 0x1FAFF),
                            rng.randint(0x20000, 0x2FA1F)])
            if unicodedata.category(chr(c)) not in ("Cn", "Cs"):
                cs.append(chr(c))
        out.append("".join(cs))
    # long inputs: past every context length
    for _ in range(16):
        out.append(" ".join(train_lines(rng, rng.randint(5, 30))))
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


# ------------------------------------------------------------------------------------------------
# Tokenizers
# ------------------------------------------------------------------------------------------------
def build(tmp, rng):
    import sentencepiece as spm
    from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer
    from transformers import (BertTokenizerFast, GemmaTokenizerFast, LlamaTokenizerFast,
                              RobertaTokenizerFast, T5TokenizerFast)

    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(train_lines(rng, 20000)) + "\n")
    common = dict(input=corpus, hard_vocab_limit=False, num_threads=1, minloglevel=2)
    uni = os.path.join(tmp, "uni")
    spm.SentencePieceTrainer.train(model_prefix=uni, vocab_size=1500, model_type="unigram",
                                   normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
                                   unk_id=2, bos_id=-1, character_coverage=0.9995, **common)
    bpe = os.path.join(tmp, "bpe")
    spm.SentencePieceTrainer.train(model_prefix=bpe, vocab_size=1200, model_type="bpe",
                                   byte_fallback=True, normalization_rule_name="identity",
                                   add_dummy_prefix=False, remove_extra_whitespaces=False,
                                   split_digits=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
                                   character_coverage=0.98, **common)
    dirs = {}

    def save(name, tok):
        d = os.path.join(tmp, name)
        tok.save_pretrained(d)
        dirs[name] = d

    save("unigram", T5TokenizerFast(vocab_file=uni + ".model", extra_ids=10, legacy=True))
    # a small charsmap from hand-written rules, some of several characters (A + U+0301 -> Á):
    # the Precompiled normalizer's grapheme-level lookups
    rules = os.path.join(tmp, "rules.tsv")
    with open(rules, "w", encoding="utf-8") as f:
        f.write("41\t61\n42\t62\nFF21\t61\n3000\t20\n2160\t49\n41 301\tC1\n45 301\t45\n"
                "61 308\tE4 E4\nFB01\t66 69\n200B\t\nA0\t20\n1F600\t3A 29\n")
    rul = os.path.join(tmp, "rules")
    latin = os.path.join(tmp, "latin.txt")
    with open(corpus, encoding="utf-8") as f, open(latin, "w", encoding="utf-8") as g:
        g.writelines(l for l in f if all(ord(c) < 0x250 for c in l))
    spm.SentencePieceTrainer.train(model_prefix=rul, vocab_size=300, model_type="unigram",
                                   normalization_rule_tsv=rules, pad_id=0, eos_id=1, unk_id=2,
                                   bos_id=-1, character_coverage=0.9995,
                                   **dict(common, input=latin))
    save("mix_spmrules", T5TokenizerFast(vocab_file=rul + ".model", extra_ids=2, legacy=True))
    # the same with legacy=False: Metaspace "first" after a Precompiled normalizer that removes
    # characters (U+200B), where "first" depends on the alignments to the original text
    save("mix_spmfirst", T5TokenizerFast(vocab_file=rul + ".model", extra_ids=2, legacy=False,
                                         add_prefix_space=True, from_slow=True))
    save("gemma", GemmaTokenizerFast(vocab_file=bpe + ".model"))
    save("llama", LlamaTokenizerFast(vocab_file=bpe + ".model", legacy=False, from_slow=True,
                                     add_prefix_space=True, pad_token="<pad>"))
    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train([corpus], vocab_size=1500, min_frequency=2, show_progress=False)
    wp.save_model(tmp, "wp")
    save("wordpiece", BertTokenizerFast(vocab_file=os.path.join(tmp, "wp-vocab.txt"),
                                        do_lower_case=True))
    bl = ByteLevelBPETokenizer(add_prefix_space=False)
    bl.train([corpus], vocab_size=1200, min_frequency=2, show_progress=False,
             special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bl.save_model(tmp, "bl")
    save("bytelevel", RobertaTokenizerFast(vocab_file=os.path.join(tmp, "bl-vocab.json"),
                                           merges_file=os.path.join(tmp, "bl-merges.txt")))
    return dirs


def build_mix(lines):
    """Small tokenizers built with the `tokenizers` API itself, to reach the components the
    converted files above do not use."""
    from tokenizers import AddedToken, Tokenizer, models, processors, trainers
    from tokenizers import normalizers as N
    from tokenizers import pre_tokenizers as P

    out = {}
    # WordLevel; NFKD + StripAccents + Lowercase + Replace + Strip; WhitespaceSplit,
    # Punctuation (contiguous), Digits (individual); BertProcessing; lstrip/single_word/rstrip
    t = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    t.normalizer = N.Sequence([N.NFKD(), N.StripAccents(), N.Lowercase(), N.Replace("``", '"'),
                               N.Strip()])
    t.pre_tokenizer = P.Sequence([P.WhitespaceSplit(), P.Punctuation(behavior="contiguous"),
                                  P.Digits(individual_digits=True)])
    t.train_from_iterator(lines, trainers.WordLevelTrainer(
        vocab_size=700, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]))
    t.post_processor = processors.BertProcessing(("[SEP]", t.token_to_id("[SEP]")),
                                                 ("[CLS]", t.token_to_id("[CLS]")))
    t.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True)])
    t.add_tokens([AddedToken("cat", single_word=True, normalized=True),
                  AddedToken(" xyz ", normalized=False, rstrip=True)])
    out["mix_wordlevel"] = t
    # BPE with continuing_subword_prefix, end_of_word_suffix, fuse_unk false; NFC, Replace by
    # regex, Prepend, Replace; Split (merged_with_next, merged_with_previous, contiguous with
    # invert), Digits; a template with several special tokens
    t = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##",
                             end_of_word_suffix="</w>", fuse_unk=False))
    t.normalizer = N.Sequence([N.NFC(), N.Replace(Regex(" {2,}"), " "), N.Prepend("\u2581"),
                               N.Replace(" ", "\u2581")])
    t.pre_tokenizer = P.Sequence([P.Split("\u2581", "merged_with_next"),
                                  P.Split("-", "merged_with_previous"),
                                  P.Split("o", "contiguous", invert=True), P.Digits()])
    t.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=900, special_tokens=["[UNK]", "<s>", "</s>"], limit_alphabet=150,
        continuing_subword_prefix="##", end_of_word_suffix="</w>", show_progress=False))
    t.post_processor = processors.TemplateProcessing(
        single="<s> $A </s> </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    out["mix_bpe"] = t
    # WordPiece (max_input_chars_per_word 8); BertNormalizer keeping case and accents;
    # Whitespace + Split; added tokens stripped on both sides and a normalized one
    t = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=8))
    t.normalizer = N.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                    strip_accents=False, lowercase=False)
    t.pre_tokenizer = P.Sequence([P.Whitespace(), P.Split("-", "isolated")])
    t.train_from_iterator(lines, trainers.WordPieceTrainer(
        vocab_size=900, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    t.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    t.add_special_tokens([AddedToken("<eos>", lstrip=True, rstrip=True, special=True)])
    t.add_tokens([AddedToken("ÉTÉ", normalized=True)])
    out["mix_wordpiece"] = t
    # Unigram with byte_fallback; NFKC + Nmt + Lowercase; Metaspace (always, no split) then
    # BertPreTokenizer; RobertaProcessing; special tokens stripping on one side
    t = Tokenizer(models.Unigram())
    t.normalizer = N.Sequence([N.NFKC(), N.Nmt(), N.Lowercase()])
    t.pre_tokenizer = P.Sequence([P.Metaspace(prepend_scheme="always", split=False),
                                  P.BertPreTokenizer()])
    latin = [l for l in lines if all(ord(c) < 0x250 for c in l)]
    t.train_from_iterator(latin, trainers.UnigramTrainer(
        vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
        show_progress=False))
    js = json.loads(t.to_str())
    js["model"]["vocab"] += [["<0x%02X>" % b, -30.0] for b in range(256)]
    js["model"]["byte_fallback"] = True
    js["post_processor"] = json.loads(processors.RobertaProcessing(("</s>", 2), ("<s>", 1)).__getstate__())
    t = Tokenizer.from_str(json.dumps(js))
    t.add_special_tokens([AddedToken("<sep>", rstrip=True, special=True),
                          AddedToken("<cls>", lstrip=True, special=True)])
    out["mix_unigram"] = t
    # Unigram with positive scores, where Unigram's unknown-piece penalty decides the result
    vocab = [["<unk>", -2.0], ["qx", -2.0], ["x", 5.0], [" ", 0.5]]
    vocab += [[c, 1.0] for c in "abcdefghijklmnoprstuvwyz"]
    t = Tokenizer(models.Unigram([tuple(v) for v in vocab], unk_id=0))
    out["mix_unkpen"] = t
    return out


def main():
    import open_clip
    import tokenizers
    import transformers
    from open_clip.tokenizer import HFTokenizer
    from tokenizers import Tokenizer

    rng = random.Random(20240611)
    tmp = tempfile.mkdtemp(prefix="hftok")
    dirs = build(tmp, rng)
    texts = test_strings(random.Random(7))
    from tokenizers import Regex  # noqa: F401 - used by build_mix through globals
    globals()["Regex"] = Regex
    with open(os.path.join(tmp, "corpus.txt"), encoding="utf-8") as f:
        mix = build_mix([l.rstrip("\n") for l in f][:8000])
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))

    toks, hf = {}, {}
    manifest = {"generator": "tools/fixtures_hftok.py",
                "versions": {"python": sys.version.split()[0], "tokenizers": tokenizers.__version__,
                             "transformers": transformers.__version__,
                             "open_clip": open_clip.__version__},
                "tokenizers": {}}
    for name, d in dirs.items():
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            js = json.load(f)
        if name.startswith("mix_"):
            with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
                json.dump(js, f, ensure_ascii=False, separators=(",", ":"))
            toks[name] = Tokenizer.from_file(os.path.join(OUT, name + ".json"))
            continue
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(js, f, ensure_ascii=False, separators=(",", ":"))
        toks[name] = Tokenizer.from_file(os.path.join(OUT, name + ".json"))
        hf[name] = HFTokenizer(d, context_length=64)
        t = hf[name].tokenizer
        manifest["tokenizers"][name] = {"class": type(t).__name__, "pad": t.pad_token_id,
                                        "sep": t.sep_token_id, "vocab": t.vocab_size,
                                        "padding_side": t.padding_side,
                                        "truncation_side": t.truncation_side}

    for name, tk in mix.items():
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(json.loads(tk.to_str()), f, ensure_ascii=False, separators=(",", ":"))
        toks[name] = Tokenizer.from_file(os.path.join(OUT, name + ".json"))
    manifest["mix"] = sorted(mix)

    # held out: every 5th string (after the hand-written edge cases)
    n_edge = len(EDGE)
    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8") as f:
        for i, s in enumerate(texts):
            d = {"x": s.encode("utf-8").hex()} if "\x00" in s else {"t": s}
            if i >= n_edge and i % 5 == 0:
                d["h"] = 1
            for name, tk in toks.items():
                if name.startswith("mix_") and i % 3 and i >= n_edge:
                    continue
                try:
                    d[name] = tk.encode(s).ids
                except Exception:  # noqa: BLE001 - recorded as an expected failure
                    d[name] = {"err": 1}
            f.write(json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n")

    # OpenCLIP rows: SigLIP's settings (canonicalize, 64) for the SentencePiece tokenizers, CLIPA's
    # (whitespace, 32, strip_sep) for WordPiece, the default (whitespace, 77) for the rest, and
    # every clean mode and small context lengths on a sample
    rows = 0
    with open(os.path.join(OUT, "openclip.jsonl"), "w", encoding="utf-8") as f:
        def emit(name, s, clean, ctx, sep):
            nonlocal rows
            tk = HFTokenizer(dirs[name], context_length=ctx, clean=clean, strip_sep_token=sep)
            row = tk([s])[0].tolist()
            pad = manifest["tokenizers"][name]["pad"]
            while row and row[-1] == pad:
                row.pop()
            d = {"x": s.encode("utf-8").hex()} if "\x00" in s else {"t": s}
            d.update({"tok": name, "clean": clean, "ctx": ctx, "sep": int(sep), "row": row})
            f.write(json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n")
            rows += 1

        sample = texts[::6]
        for s in sample:
            emit("unigram", s, "canonicalize", 64, False)
            emit("gemma", s, "canonicalize", 64, False)
            emit("wordpiece", s, "whitespace", 32, True)
        for s in texts[1::23]:
            emit("bytelevel", s, "whitespace", 77, False)
            emit("llama", s, "lower", 16, False)
        for i, s in enumerate(texts[2::37]):
            for ctx in (1, 2, 3, 5):
                name = ["unigram", "gemma", "wordpiece", "bytelevel", "llama"][i % 5]
                sep = i % 2 == 0 and manifest["tokenizers"][name]["sep"] is not None
                emit(name, s, ["lower", "whitespace", "canonicalize"][i % 3], ctx, sep)
    # every code point between two letters, hashed per block of 4096
    import array
    import zlib
    cps = {}
    for name, tk in toks.items():
        crcs = []
        for blk in range(0x110000 // 4096):
            cs = [c for c in range(blk * 4096, (blk + 1) * 4096) if not 0xD800 <= c < 0xE000]
            if not cs:
                crcs.append(0)
                continue
            words = array.array("I")
            try:
                encs = tk.encode_batch(["a" + chr(c) + "b" for c in cs])
                for c, e in zip(cs, encs):
                    words.append(c)
                    words.append(len(e.ids))
                    words.extend(e.ids)
            except Exception:  # noqa: BLE001 - one at a time to find the failing ones
                words = array.array("I")
                for c in cs:
                    words.append(c)
                    try:
                        ids = tk.encode("a" + chr(c) + "b").ids
                        words.append(len(ids))
                        words.extend(ids)
                    except Exception:  # noqa: BLE001
                        words.append(0xFFFFFFFF)
            if sys.byteorder != "little":
                words.byteswap()
            crcs.append(zlib.crc32(words.tobytes()))
        cps[name] = crcs
    with open(os.path.join(OUT, "codepoints.json"), "w", encoding="utf-8") as f:
        json.dump(cps, f, separators=(",", ":"))
        f.write("\n")
    manifest["cases"] = len(texts)
    manifest["openclip_rows"] = rows
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    shutil.rmtree(tmp)
    total = sum(os.path.getsize(os.path.join(OUT, x)) for x in os.listdir(OUT))
    print("wrote %s: %d strings, %d OpenCLIP rows, %d bytes" % (OUT, len(texts), rows, total))


def write_seeds():
    """tests/fuzz/hftok/: the small fixture tokenizers, each with a few texts, as
    fuzz/fuzz_hftok.c reads its input (tokenizer.json, NUL, text)."""
    import hashlib
    out = os.path.join("tests", "fuzz", "hftok")
    os.makedirs(out, exist_ok=True)
    texts = ["", "a photo of a cat.", "\x01 caf\u00e9 \u732b </s> <pad> [SEP] [MASK] x\u0301",
             "A\u0301\uff21\u3000\ufb01\u200b \U0001F600 12 345 it's  \t\n",
             "\x2c" + "word " * 30]
    n = 0
    for f in sorted(os.listdir(OUT)):
        if not f.endswith(".json") or f in ("manifest.json", "codepoints.json", "unigram.json"):
            continue
        with open(os.path.join(OUT, f), "rb") as g:
            js = g.read()
        for t in texts if len(js) < 5000 else texts[3:4]:
            data = js + b"\0" + t.encode("utf-8")
            name = hashlib.sha1(data).hexdigest()
            with open(os.path.join(out, name), "wb") as g:
                g.write(data)
            n += 1
    print("wrote %d seeds to %s" % (n, out))


def write_tables():
    from tokenizers import normalizers as N
    from tokenizers import pre_tokenizers as P

    def ranges(pred):
        out, start = [], None
        for c in range(0x110001):
            v = c < 0x110000 and not 0xD800 <= c < 0xE000 and pred(c)
            if v and start is None:
                start = c
            if not v and start is not None:
                out.append((start, c - 1))
                start = None
        return out

    punct = P.Punctuation()
    clean = N.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                             lowercase=False)
    strip = N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                             lowercase=False)
    digits = P.Digits(individual_digits=True)
    ws = P.Whitespace()
    lower = N.Lowercase()
    strip_marks, nfd, nfkd = N.StripAccents(), N.NFD(), N.NFKD()
    tables = {
        # Punctuation / BertPreTokenizer: "a" c "b" splits in three
        "punct": ranges(lambda c: len(punct.pre_tokenize_str("a" + chr(c) + "b")) == 3),
        # BertNormalizer clean_text drops it (NUL and U+FFFD excepted: dropped by rule)
        "control": ranges(lambda c: c not in (0, 0xFFFD)
                          and clean.normalize_str("a" + chr(c) + "b") == "ab"),
        # BertNormalizer strip_accents removes all of NFD(c)
        "nonspacing": ranges(lambda c: strip.normalize_str(chr(c)) == ""),
        # Digits: "a" c "b" splits in three
        "numeric": ranges(lambda c: len(digits.pre_tokenize_str("a" + chr(c) + "b")) == 3),
        # Whitespace (\w+|[^\w\s]+): "a" c "b" stays one piece exactly when c is \w
        "word": ranges(lambda c: len(ws.pre_tokenize_str("a" + chr(c) + "b")) == 1),
        # StripAccents (unicode-normalization-alignments' is_combining_mark) drops it
        "mark": ranges(lambda c: strip_marks.normalize_str(chr(c)) == ""),
        # the characters NFD / NFKD change (that crate's Unicode version)
        "nfd": ranges(lambda c: nfd.normalize_str(chr(c)) != chr(c)),
        "nfkd": ranges(lambda c: nfkd.normalize_str(chr(c)) != chr(c)),
    }
    lows = []
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        l = lower.normalize_str(chr(c))
        if l != chr(c):
            lows.append((c, [ord(x) for x in l]))
    path = os.path.join("src", "text", "hf_unicode_tables.h")
    with open(path, "w", encoding="utf-8") as f:
        f.write("/* Generated by tools/fixtures_hftok.py --tables from tokenizers %s: do not edit.\n"
                " * Ranges [first, last] of the character classes named in hf_unicode.c. */\n"
                % __import__("tokenizers").__version__)
        for name, r in tables.items():
            f.write("static const uint32_t HF_%s[][2] = {\n" % name.upper())
            for i in range(0, len(r), 4):
                f.write("    " + " ".join("{0x%X, 0x%X}," % x for x in r[i:i + 4]) + "\n")
            f.write("};\n")
        f.write("/* char::to_lowercase where it changes the character: c, first, second (0) */\n")
        f.write("static const uint32_t HF_LOWER[][3] = {\n")
        for i in range(0, len(lows), 4):
            f.write("    " + " ".join("{0x%X, 0x%X, 0x%X}," % (c, l[0], l[1] if len(l) > 1 else 0)
                                      for c, l in lows[i:i + 4]) + "\n")
        f.write("};\n")
    print("wrote", path, {k: len(v) for k, v in tables.items()}, "lower", len(lows))


if __name__ == "__main__":
    if sys.argv[1:] == ["--tables"]:
        write_tables()
    elif sys.argv[1:] == ["--seeds"]:
        write_seeds()
    else:
        main()
