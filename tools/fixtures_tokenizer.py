"""Tokenizer fixtures: OpenCLIP's own token ids for about 10,000 strings, and Python's answers for
every code point on the Unicode properties the tokenizer uses.

    .venv/bin/python tools/gen_fixtures.py tokenizer

writes tests/fixtures/tokenizer/
  cases.jsonl     one JSON object per line:
                    "c"     category (imagenet, caption, edge, html-entity, emoji, unicode-random,
                            bytes-random, mojibake, long, ascii-soup, ...)
                    "t"     the text, or "b": its bytes in hex (texts holding NUL, and byte strings
                            that are not UTF-8: expected ids are those of
                            bytes.decode('utf-8', errors='replace'), as `oclip tokenize` reads
                            files)
                    "ids"   open_clip.get_tokenizer('ViT-B-32').encode(text) (no SOT/EOT, no limit)
                    "w", "z"  the same with SimpleTokenizer(clean='whitespace' / 'canonicalize')
                            (for a subset of the cases; 0 when equal to "ids")
                    "nofe"  the ids with ftfy's fix_encoding (mojibake repair) switched off, present
                            only when they differ from "ids": the cases oclip is known to differ on
                    "k"     the cleaned text (clean_fn), for messages; only when it differs from
                            the input (and not for the plain-English categories)
  context.json    tokenizer(texts, context_length=N) rows for N in 1, 2, 3, 5, 16, 77, 100
  codepoints.json Python's answers for every code point (surrogates excluded):
                    isspace   code points c where chr(c).isspace()
                    lower     [c, lower(chr(c)) code points] where str.lower changes c
                    nfc       [c, NFC(chr(c))] where NFC changes c
                    ftfy      [c, fix_text(chr(c))] where that changes c
                    sigma     run-length [start, kind]: kind 0 neither, 1 case-ignorable, 2 cased
                              (and not ignorable), as str.lower's final-sigma rule sees them
                    pretok    run-length [start, kind]: what the pre-tokenizer pattern
                              (regex module, IGNORECASE) does with the character alone:
                              0 skipped, 1 letter run, 2 single number, 3 other run
                    py_unassigned  run-length [start, 0/1]: 1 where unicodedata says Cn (Python's
                              Unicode version), to tell version differences from bugs
                    ftfy_classes  the members (code points) of ftfy's character classes:
                              badness.MOJIBAKE_CATEGORIES then chardata.UTF8_CLUES, as names + lists
                    charmaps  bytes 0..255 decoded by each of chardata.CHARMAP_ENCODINGS
  mojibake.jsonl  {"t": text, "fix": ftfy.fix_encoding(text), "bad": badness.is_bad(text)} for
                  ~4,000 strings: real mojibake (UTF-8 read in each single-byte encoding ftfy
                  knows, twice, with lost bytes and spaces for U+00A0) and random strings of the
                  characters mojibake is made of
  manifest.json   versions, counts per category
"""
import binascii
import html
import html.entities
import json
import os
import random
import unicodedata

import gen_fixtures

OUT = os.path.join("tests", "fixtures", "tokenizer")
META = os.path.join("data", "zero_shot_metadata.json")

# ------------------------------------------------------------------------------------------------
# Hand-picked edge cases (Python literals with escapes, so every byte is visible here)
# ------------------------------------------------------------------------------------------------
EDGE = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r\x0b\x0c ", "\u3000", "\u2028", "\u2029", "\x85",
    "\xa0", "\u200b", "\u180e", "\u2000\u2001\u200a", "\u202f\u205f", "\x1c\x1d\x1e\x1f",
    "a photo of a cat.", "A PHOTO OF A CAT.", "it's 2024", "naïve", "café", "cafe\u0301",
    "a\tb\nc\rd\x0be\x0cf", "line one\nline two", "line one\r\nline two", "a\u2028b", "a\u2029b",
    "a\x85b", "tab\there", "x\u3000y", "  leading and trailing  ",
    "I'm, you're, we've, they'll, she'd, it's, don't", "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T",
    "'s 't 're 've 'm 'll 'd", "''s", "'sam", "rock'n'roll", "o'clock", "'", "''", "'''",
    "\u2019s curly apostrophe\u2019s",
    "\u2018single\u2019 \u201cdouble\u201d \u201a\u201b\u201e\u201f", "\u02bcn", "\u0149",
    "don\u2019t", "<start_of_text>", "<end_of_text>", "<START_OF_TEXT>",
    "a <start_of_text> b <end_of_text> c", "<start_of_text><end_of_text>", "!<start_of_text>",
    "<\u017ftart_of_text>", "'\u017f", "<|startoftext|>", "<|endoftext|>",
    "\ufb01nance \ufb02ower \ufb00 \ufb03 \ufb04 \ufb05 \ufb06",
    "\u0132\u0133 \u01c4\u01c5\u01c6 \u01c7\u01c8\u01c9 \u01ca\u01cb\u01cc \u01f1\u01f2\u01f3",
    "\uff21\uff22\uff23 \uff41\uff42\uff43 \uff10\uff11\uff12 \uff01\uff1f",
    "\uff76\uff80\uff76\uff85 \uff8a\uff9f",
    "\uffe0\uffe1\uffe2\uffe3\uffe4\uffe5\uffe6 \uffe8\uffe9\uffea\uffeb\uffec\uffed\uffee",
    "\u0130stanbul", "\u0130", "I\u0307", "\u0131", "DIYARBAKIR", "i\u0307",
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03a3", "\u03a3\u03a3", "A\u03a3",
    "\u0391\u03a3.", "\u0391\u03a3.\u0392", "\u0391\u03a3'", "\u0391\u03a3'\u0392",
    "\u0391\u0301\u03a3", "\u0391\u03a3\u0301", "\u0391\u03a3\u0301\u0392", "\u03b1\u03a3 \u03b2",
    "\u03a3\u03b1", "\u1f08\u03a3", "\u0391\u00ad\u03a3", "\u0391\u03a3\u00ad", "\u0391:\u03a3",
    "a\u03a3", "1\u03a3", "\u00aa\u03a3", "\u02b0\u03a3", "\U0001f130\u03a3", "\u24b6\u03a3",
    "\u2160\u03a3", "\u0345", "\u03b1\u0345", "!\u0345!", "a\u0345b", "\u0345\u0345",
    "\u00df \u1e9e \ufb00 \u0149", "\u01c5", "\u1f88", "\u2126 \u212a \u212b", "0123456789",
    "3.14159", "1,000,000", "\u0660\u0661\u0662", "\u00bd \u00bc \u2155", "\u2160\u2161\u2162",
    "\u2460\u2461", "\u00b2\u00b3", "x\u00b2+y\u00b2", "\U0001d7ce\U0001d7cf",
    "\u4e00\u4e8c\u4e09", "\u732b\u306e\u5199\u771f", "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\u1100\u1161\u11a8",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627", "\u05e9\u05dc\u05d5\u05dd",
    "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0915\u094d\u0937",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0422\u0415\u041a\u0421\u0422",
    "\u0391\u03b8\u03ae\u03bd\u03b1", "\U0001f600", "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5",
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "1\ufe0f\u20e3 #\ufe0f\u20e3", "\u2764\ufe0f", "\u2764", "a\U0001f600b",
    "\U0001f9d1\U0001f3ff\u200d\U0001f9b1", "e\u0301\u0302\u0323",
    "a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307", "\u0301start", "z\u0335\u0336\u0337",
    "\u212b", "A\u030a", "\u1e9b\u0323", "\u0958", "\uf900", "\u2fa1d", "&amp;", "&amp",
    "&lt;b&gt;", "<b>&amp;</b>", "&amp;amp;", "&amp;amp;amp;lt;", "&#39;", "&#x27;", "&#X27;",
    "&#128;", "&#x80;", "&#150;", "&#0;", "&#13;", "&#1;", "&#65;&#66", "&#x110000;", "&#55296;",
    "&#xD800;", "&#99999999999999999999;", "&#xfffe;", "&#xFDD0;", "&#x1F600;", "&#59;", "&#x3b;",
    "&nbsp;", "&nbsp", "&copy", "&copy;", "&notin;", "&notit;", "&noti", "&amplifier", "&ampamp;",
    "&AMP;", "&NTILDE;", "&Ntilde;", "&ntilde;", "&SZLIG;", "&szlig;", "&EACUTE;", "&hellip;",
    "&mdash;&ndash;", "&quot;quoted&quot;", "&apos;", "&unknown;", "&;", "&", "&&", "& amp;",
    "&#;", "&#x;", "&#a;", "&#12a;", "&x", "&lt", "&gt&lt", "&LT;", "&Lt;", "&aacute&eacute",
    "&" + "a" * 40 + ";", "&thinsp;x&zwnj;y&zwj;z&lrm;", "a&nbsp;b", "&macr;\\_(\u30c4)_/&macr;",
    "<p>&amp;</p>", "line&amp;\n<br>&amp;\nthird&amp;", "x\n<\n&amp;", "&amp;\n<\n&amp;",
    "&NotNestedGreaterGreater;", "&acE;", "&fjlig;", "\x00", "a\x00b", "\x01\x02\x03\x7f",
    "\x1b[31mred\x1b[0m", "\x1b[1;32;40mgreen", "\x1b[\u0661m", "\x1b]0;title\x07",
    "\x80\x81\x8d\x8f\x90\x9d\x9f", "price \x80100", "\x93quoted\x94", "\ufeffbom", "a\ufeffb",
    "\u206a\u206b\u206c\u206d\u206e\u206f", "\ufff9\ufffa\ufffb\ufffc", "\ufffd", "\ufffd\ufffd",
    "\ufffe\uffff", "\U0010ffff", "\U000e0001", "\u00ad", "soft\u00adhyphen", "zero\u200bwidth",
    "\u200c\u200d", "\u2060", "\u180e", "\u061c", "\u200e\u200f", "A" * 300, "a " * 100,
    "abc" * 50, "supercalifragilisticexpialidocious",
    "Pneumonoultramicroscopicsilicovolcanoconiosis", "x" * 1000, "hello_world foo-bar baz.qux",
    "C++ and C# and F#", "user@example.com http://example.com/a?b=c&d=e",
    "#hashtag @mention $100 50% 3*4=12 [brackets] {braces} (parens) <angle>",
    "~`!@#$%^&*()_+-={}|[]\\:\";'<>?,./", "...", "!!!", "?!?!", "--", "\u2014\u2013", "\u2026",
    "\u00bf\u00a1", "\u00ab\u00bb", "\u201e\u201c", "caf\u00c3\u00a9", "\u00c3\u00a9",
    "\u00e2\u20ac\u2122", "\u00e2\u20ac\u0153hello\u00e2\u20ac\u009d", "\u00c3\u00a0 la mode",
    "voil\u00c3\u00a0 le travail", "\u00c2\u00a0", "\u00e2\u0153\u201d No problems",
    "&macr;\\_(\u00e3\u0083\u0084)_/&macr;", "s\u00c3\u00b3", "\u00c3\u00b1", "Ã",
]


def _rng_text(rng, pools, lo, hi):
    n = rng.randint(lo, hi)
    return "".join(rng.choice(rng.choice(pools)) for _ in range(n))


def _pools():
    """Character pools for random strings: ranges of code points by kind."""
    def rng_chars(a, b):
        return [chr(c) for c in range(a, b + 1) if not (0xD800 <= c <= 0xDFFF)]
    return [
        rng_chars(0x20, 0x7E) * 3,                       # ASCII printable (weighted)
        list(" \t\n\r\x0b\x0c\x85\xa0\u2028\u2029\u3000"),
        rng_chars(0x00, 0x1F) + rng_chars(0x7F, 0x9F),   # C0, C1
        rng_chars(0xA0, 0x24F),                          # Latin-1, Latin Extended
        rng_chars(0x300, 0x36F),                         # combining marks
        rng_chars(0x370, 0x3FF) + rng_chars(0x400, 0x4FF),
        rng_chars(0x590, 0x6FF),                         # Hebrew, Arabic
        rng_chars(0x900, 0x97F),                         # Devanagari
        rng_chars(0x1E00, 0x1FFF),                       # Latin Extended Additional, Greek ext.
        rng_chars(0x2000, 0x206F),                       # punctuation, format chars
        rng_chars(0x2100, 0x24FF),                       # letterlike, numbers, arrows, enclosed
        rng_chars(0x3000, 0x30FF),                       # CJK punctuation, kana
        rng_chars(0x4E00, 0x4FFF),                       # CJK
        rng_chars(0xAC00, 0xAD00),                       # Hangul
        rng_chars(0xFB00, 0xFB4F) + rng_chars(0xFE00, 0xFFFF),  # ligatures, width forms
        rng_chars(0x1F300, 0x1F6FF) + rng_chars(0x1F900, 0x1F9FF),  # emoji
        ["\u200d", "\ufe0f", "\U0001f3fb", "\U0001f3ff", "&", ";", "#", "<", "'", "\u03a3",
         "\u0130", "\u0345", "\x1b", "[", "&amp;", "&lt", "&#x41;", "\u00c3", "\u00a9"],
    ]


def _any_codepoint(rng):
    while True:
        c = rng.randrange(0x110000)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def _captions(rng):
    subj = ["a man", "a woman", "two dogs", "the cat", "a group of people", "an old car", "a child",
            "three birds", "a red bus", "the chef", "a surfer", "a young girl", "an elephant"]
    verb = ["riding", "sitting on", "standing next to", "looking at", "holding", "eating",
            "walking along", "jumping over", "playing with", "painting"]
    obj = ["a horse", "the beach", "a wooden bench", "a large pizza", "the river", "a snowy hill",
           "a laptop", "an umbrella", "the city street", "a frisbee", "a birthday cake"]
    tail = ["", " at sunset", " in the rain", ", smiling", " on a sunny day",
            " near the old bridge", " while it's snowing", " (black and white)", " - 1920s photo",
            "!!", "...", " #nofilter"]
    out = []
    for _ in range(400):
        s = "%s %s %s%s." % (rng.choice(subj), rng.choice(verb), rng.choice(obj), rng.choice(tail))
        r = rng.random()
        if r < 0.2:
            s = s.upper()
        elif r < 0.4:
            s = s.capitalize()
        elif r < 0.5:
            s = "  " + s.replace(" ", "  ") + " \n"
        out.append(s)
    return out


def _mojibake(rng):
    words = ["café", "naïve", "résumé", "crème brûlée", "São Paulo", "Zürich", "piñata", "façade",
             "smörgåsbord", "Ærøskøbing", "jalapeño", "Łódź", "Ελληνικά", "Москва", "日本語",
             "“quoted”", "it’s", "10 €", "— dash", "naïve café", "Straße", "voilà le travail",
             "à la mode", "✔ done", "😀 smile", "señor", "coöperate", "Crème fraîche"]
    out = []
    for w in words:
        b = w.encode("utf-8")
        for enc in ("latin-1", "windows-1252", "windows-1251", "macroman", "cp437"):
            try:
                out.append("The %s is here" % b.decode(enc))
            except UnicodeDecodeError:
                pass
        try:
            out.append(b.decode("windows-1252").encode("utf-8").decode("windows-1252"))
        except UnicodeDecodeError:
            pass
    rng.shuffle(out)
    return out


def _emoji(rng):
    base = ["\U0001f44d", "\U0001f44b", "\U0001f9d1", "\U0001f468", "\U0001f469", "\U0001f476"]
    tones = ["", "\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"]
    out = []
    for b in base:
        for t in tones:
            out.append("%s%s thumbs" % (b, t))
    zwj = ["\U0001f468\u200d\U0001f4bb", "\U0001f469\u200d\U0001f52c",
           "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f441\ufe0f\u200d\U0001f5e8\ufe0f",
           "\U0001f415\u200d\U0001f9ba", "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1",
           "\u2764\ufe0f\u200d\U0001f525", "\U0001f62e\u200d\U0001f4a8", "\U0001f408\u200d\u2b1b"]
    out += ["family %s ok" % z for z in zwj]
    flags = "US GB FR DE JP CN IN BR ZA UA".split()
    for f in flags:
        out.append("flag " + "".join(chr(0x1F1E6 + ord(ch) - ord("A")) for ch in f))
    for _ in range(60):
        out.append("".join(chr(rng.randrange(0x1F300, 0x1FAFF)) for _ in range(rng.randint(1, 6))))
    return out


def build_cases():
    rng = random.Random(20240501)
    with open(META, encoding="utf-8") as f:
        meta = json.load(f)
    classes, templates = meta["IMAGENET_CLASSNAMES"], meta["OPENAI_IMAGENET_TEMPLATES"]
    cases = []
    # every class name in 5 templates, every template with 10 class names
    for i, c in enumerate(classes):
        for k in range(5):
            cases.append(("imagenet", templates[(i * 7 + k * 17) % len(templates)].format(c)))
    for t in templates + meta["SIMPLE_IMAGENET_TEMPLATES"]:
        for c in rng.sample(classes, 10):
            cases.append(("imagenet", t.format(c)))
    cases += [("caption", s) for s in _captions(rng)]
    cases += [("edge", s) for s in EDGE]
    # every HTML5 entity name, in text, and ftfy's uppercase spellings
    for name in sorted(html.entities.html5):
        cases.append(("html-entity", "x&%s y" % name))
    for name in sorted(html.entities.html5):
        if name.endswith(";") and name == name.lower() and rng.random() < 0.15:
            cases.append(("html-entity", "&%s" % name.upper()))
    for _ in range(150):
        n = rng.choice([rng.randrange(0, 300), rng.randrange(0, 0x110000)])
        fmt = rng.choice(["&#%d;", "&#%d", "&#x%x;", "&#X%X", "&#x%X;x"])
        cases.append(("html-numeric", "a" + fmt % n + "b"))
    cases += [("emoji", s) for s in _emoji(rng)]
    cases += [("mojibake", s) for s in _mojibake(rng)]
    pools = _pools()
    for _ in range(1500):
        cases.append(("unicode-random", _rng_text(rng, pools, 0, 40)))
    for _ in range(300):
        n = rng.randint(1, 12)
        cases.append(("codepoint-random", "".join(_any_codepoint(rng) for _ in range(n))))
    soup = "abcXYZ012 '\".,;:!?-_()[]{}<>&#@$%^*+=/\\|~`\t\n"
    for _ in range(300):
        cases.append(("ascii-soup", "".join(rng.choice(soup) for _ in range(rng.randint(0, 60)))))
    words = [w for c in classes for w in c.split()]
    for _ in range(60):
        cases.append(("long", " ".join(rng.choice(words) for _ in range(rng.randint(60, 200)))))
    # long single pieces (BPE on more than 24 symbols takes oclip's heap path)
    lower_words = [w.lower() for w in words if w.isalpha()]
    scripts = ["abcdefghijklmnopqrstuvwxyz", "aeiou" * 3 + "bcdfghlmnprst",
               "àáâãäåæçèéêëìíîïñòóôõöùúûüýÿ", "абвгдежзийклмнопрстуфхцчшщъыьэюя",
               "αβγδεζηθικλμνξοπρστυφχψω", "的一是不了人我在有他这为之大来以个中上们",
               "가나다라마바사아자차카타파하한국어", "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"]
    for k in range(400):
        r = k % 4
        if r == 0:
            w = "".join(rng.choice(lower_words) for _ in range(rng.randint(3, 30)))
        elif r == 1:
            sc = rng.choice(scripts)
            w = "".join(rng.choice(sc) for _ in range(rng.randint(9, 120)))
        elif r == 2:
            unit = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 4)))
            w = unit * rng.randint(8, 80)
        else:
            w = "".join(rng.choice(lower_words) for _ in range(rng.randint(2, 8))).upper()
        cases.append(("long-word", w))
    byte_cases = []
    for _ in range(300):
        b = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        byte_cases.append(("bytes-random", b))
    for b in [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xed\xa0\x80\xed\xb0\x80", b"\xe2\x82",
              b"\xe2\x82a", b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80", b"\xf4\x90\x80\x80", b"\xf5",
              b"\x80\x80\x80", b"caf\xe9", b"a\xc3", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
              b"\xc2\xa0x", b"a\x00b"]:
        byte_cases.append(("bytes-edge", b))
    return cases, byte_cases


# ------------------------------------------------------------------------------------------------

def _rle(values):
    out, prev = [], None
    for c, v in values:
        if v != prev:
            out.append([c, v])
            prev = v
    return out


def _codepoints():
    import ftfy
    import regex
    from open_clip.tokenizer import SimpleTokenizer
    pat = SimpleTokenizer().pat
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    isspace, lower, nfc, fx, sigma, pretok, unassigned = [], [], [], [], [], [], []
    pL = regex.compile(r"[\p{L}]+", regex.I)
    pN = regex.compile(r"[\p{N}]", regex.I)
    for c in cps:
        ch = chr(c)
        if ch.isspace():
            isspace.append(c)
        lo = ch.lower()
        if lo != ch:
            lower.append([c, [ord(x) for x in lo]])
        n = unicodedata.normalize("NFC", ch)
        if n != ch:
            nfc.append([c, [ord(x) for x in n]])
        p1 = ("\u0391\u03a3" + ch).lower()[1] == "\u03c2"        # ignorable or not cased
        p3 = ("\u0391" + ch + "\u03a3").lower()[-1] == "\u03c2"  # ignorable or cased
        sigma.append((c, 1 if (p1 and p3) else (2 if p3 else 0)))
        m = regex.findall(pat, ch)
        if not m:
            k = 0
        elif pL.fullmatch(ch):
            k = 1
        elif pN.fullmatch(ch):
            k = 2
        else:
            k = 3
        pretok.append((c, k))
        unassigned.append((c, 1 if unicodedata.category(ch) == "Cn" else 0))
    # ftfy per character: only where the character could be touched (cheap pre-filter: fix_text
    # is slow); characters outside these never change under fix_text except by NFC, listed above
    for c in cps:
        ch = chr(c)
        if c < 0xA0 or 0x2000 <= c <= 0x2070 or 0x3000 == c or 0xFB00 <= c <= 0xFB06 or \
                0xFE00 <= c <= 0xFFFF or 0x130 <= c <= 0x1F5 or c == 0x2BC or \
                unicodedata.normalize("NFC", ch) != ch:
            f = ftfy.fix_text(ch)
            if f != ch:
                fx.append([c, [ord(x) for x in f]])
    import re
    import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-* codecs)
    from ftfy import badness, chardata
    classes = [(k, badness.MOJIBAKE_CATEGORIES[k]) for k in (
        "common", "c1", "bad", "law", "currency", "start_punctuation", "end_punctuation", "numeric",
        "kaomoji", "upper_accented", "lower_accented", "upper_common", "lower_common", "box")]
    classes += [(k, chardata.UTF8_CLUES[k]) for k in (
        "utf8_first_of_2", "utf8_first_of_3", "utf8_first_of_4", "utf8_continuation",
        "utf8_continuation_strict")]
    ftfy_classes = []
    for name, text in classes:
        rx = re.compile("[%s]" % text)
        ftfy_classes.append([name, [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF
                                    and rx.match(chr(c))]])
    charmaps = [[name, [ord(ch) for ch in bytes(range(256)).decode(name)]]
                for name in chardata.CHARMAP_ENCODINGS]
    return {"isspace": isspace, "lower": lower, "nfc": nfc, "ftfy": fx, "sigma": _rle(sigma),
            "pretok": _rle(pretok), "py_unassigned": _rle(unassigned),
            "ftfy_classes": ftfy_classes, "charmaps": charmaps}


def _mojibake_strings(rng):
    """Strings for fix_encoding: real mojibake in every encoding ftfy tries, damaged in the ways
    ftfy repairs, and random strings of mojibake characters."""
    from ftfy import chardata
    import ftfy.bad_codecs  # noqa: F401
    words = ["café", "naïve", "résumé", "crème brûlée", "São Paulo", "Zürich", "piñata",
             "smörgåsbord", "Łódź", "Ελληνικά", "Москва", "日本語", "“quoted”", "it’s", "10 €",
             "— dash", "Straße", "voilà le travail", "à la mode", "✔ done", "😀 smile", "señor",
             "Ærøskøbing", "ça va", "fútbol", "Ångström", "über", "€100", "½ cup", "©2024",
             "Dvořák", "Şişli", "Čeština", "ĳs", "ﬁne", "Ωmega", "ŉ", "…and", "•item", "№5",
             "à", "às", "àquele", "à quelle", "fà cil", "Ã", "ÿ", "\u00a0nbsp", "tab\there",
             "مرحبا", "हिन्दी", "สวัสดี", "ツ", "한국어", "\U0001f44d\U0001f3fd"]
    encs = chardata.CHARMAP_ENCODINGS + ["windows-1252", "windows-1251"]
    out = []
    for _ in range(2500):
        w = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            w = rng.choice(["The ", "a ", "", "x"]) + w + rng.choice([".", " end", "", "!"])
        b = w.encode("utf-8")
        enc = rng.choice(encs)
        try:
            m = b.decode(enc)
        except UnicodeDecodeError:
            m = b.decode(enc, errors="replace")
        r = rng.random()
        if r < 0.15:
            m = m.replace("\xa0", " ")
        elif r < 0.25:
            m = "".join(("?" if rng.random() < 0.1 else ch) for ch in m)
        elif r < 0.32:
            m = "".join(("\ufffd" if rng.random() < 0.1 else ch) for ch in m)
        elif r < 0.42:
            try:
                m = m.encode("utf-8").decode(rng.choice(encs))
            except UnicodeDecodeError:
                pass
        elif r < 0.5:
            m = m + " " + w  # mojibake beside good text
        out.append(m)
    pool = [chr(c) for c in range(0xA0, 0x100)] * 2 + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ") + \
        [chr(c) for c in range(0x80, 0xA0)] + [chr(c) for c in range(0x401, 0x460)] + \
        [chr(c) for c in range(0x384, 0x3CF)] + list("╔═╗║╚╝│┌┐└┘├┤┬┴┼▀▄█▌▐░▒▓√≈∂∆∏∑∞∫≠≤≥") + \
        list("ăĂąĄćĆčČďĎđĐęĘěĚğĞİıĺĹľĽłŁńŃňŇőŐřŘśŚşŞšŠţŢťŤůŮűŰźŹżŻžŽāĀēĒīĪūŪ") + \
        list("abcdefghijklmnopqrstuvwxyzABCXYZ      0123456789.,!?'\"-") + ["\ufffd", "\x1a", "\n"]
    for _ in range(1500):
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 16))))
    return out


def generate(vers):
    import ftfy
    import open_clip
    from open_clip import tokenizer as T

    gen_fixtures.fresh_dir(OUT)
    tok = open_clip.get_tokenizer("ViT-B-32")
    assert isinstance(tok, T.SimpleTokenizer)
    tok_w = T.SimpleTokenizer(clean="whitespace")
    tok_z = T.SimpleTokenizer(clean="canonicalize")
    # the same tokenizer with ftfy's mojibake repair off: tells which cases depend on it
    tok_nofe = T.SimpleTokenizer()

    def basic_clean_nofe(text):
        text = ftfy.fix_text(text, fix_encoding=False)
        text = html.unescape(html.unescape(text))
        return text.strip()
    tok_nofe.clean_fn = lambda x: T.whitespace_clean(basic_clean_nofe(x)).lower()

    cases, byte_cases = build_cases()
    rng = random.Random(7)
    counts = {}
    lines = []

    def emit(cat, text, raw=None):
        ids = tok.encode(text)
        obj = {"c": cat}
        if raw is not None:
            obj["b"] = raw.hex()
        elif "\x00" in text:
            obj["b"] = text.encode("utf-8").hex()
        else:
            obj["t"] = text
        obj["ids"] = ids
        if cat not in ("imagenet", "long") or rng.random() < 0.05:
            w, z = tok_w.encode(text), tok_z.encode(text)
            obj["w"] = 0 if w == ids else w  # 0: the same as "ids"
            obj["z"] = 0 if z == ids else z
        nofe = tok_nofe.encode(text)
        if nofe != ids:
            obj["nofe"] = nofe
        k = tok.clean_fn(text)
        if k != text and cat not in ("imagenet", "caption", "long"):
            obj["k"] = k
        lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        counts[cat] = counts.get(cat, 0) + 1

    for cat, text in cases:
        emit(cat, text)
    for cat, b in byte_cases:
        emit(cat, b.decode("utf-8", errors="replace"), raw=b)
    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")

    # __call__ with other context lengths: truncation forcing EOT, padding
    ctx_texts = [t for c, t in cases if c == "long"][:6] + ["a photo of a cat.", "", "x " * 80,
                                                            "\U0001f600" * 40]
    rows = []
    for text in ctx_texts:
        for n in (1, 2, 3, 5, 16, 77, 100):
            rows.append({"t": text, "ctx": n, "row": tok([text], context_length=n)[0].tolist()})
    gen_fixtures.write_json(os.path.join(OUT, "context.json"), {"rows": rows})

    from ftfy.badness import is_bad
    mrng = random.Random(99)
    with open(os.path.join(OUT, "mojibake.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for t in _mojibake_strings(mrng):
            f.write(json.dumps({"t": t, "fix": ftfy.fix_encoding(t), "bad": is_bad(t)},
                               ensure_ascii=False, separators=(",", ":")) + "\n")

    cp = _codepoints()
    with open(os.path.join(OUT, "codepoints.json"), "w") as f:
        json.dump(cp, f, separators=(",", ":"))
        f.write("\n")

    import regex
    v = dict(vers)
    v.update({"ftfy": ftfy.__version__, "regex": regex.__version__,
              "unicodedata": unicodedata.unidata_version})
    n_nofe = sum(1 for l in lines if '"nofe":' in l)
    gen_fixtures.write_json(os.path.join(OUT, "manifest.json"), {
        "generator": "tools/gen_fixtures.py tokenizer", "versions": v,
        "tokenizer": "open_clip.get_tokenizer('ViT-B-32')", "cases": len(lines),
        "per_category": counts, "cases_needing_fix_encoding": n_nofe})
    print("wrote %d cases (%d depend on ftfy's fix_encoding) to %s" % (len(lines), n_nofe, OUT))
