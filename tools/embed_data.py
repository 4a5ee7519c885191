#!/usr/bin/env python3
"""Generates liboclip's built-in data from data/, so that it needs no data files at run time:
- src/model/builtin_data.c: OpenCLIP's model configs, pretrained-tag table and zero-shot metadata
  as C string data;
- src/text/text_data.c: the tokenizer's BPE merges as token-id pairs, the HTML entity tables of
  Python's `html` module (and ftfy's variant of them) and ftfy's single-byte decoding tables
  (the text layer's own file: src/text/ never depends on src/model/);
and for each a header (.h beside it) that declares every type and symbol the .c file defines (the
.c file includes it, so the compiler checks that both agree).

    python3 tools/embed_data.py            # rewrites the four files
    python3 tools/embed_data.py --check    # exits 1 if any is out of date

Python standard library only. The output is deterministic (configs sorted by name, JSON minified
with the key order of the source files), so regenerating unchanged data changes nothing.

Each JSON text is emitted as a NULL-terminated array of string literals ("pieces"), each at most
PIECE_BYTES bytes: ISO C only promises string literals of 4095 bytes, and gcc -Wpedantic warns
about longer ones. src/model/config.c and src/nn/zeroshot.c join the pieces before parsing.
"""
import argparse
import gzip
import html
import html.entities
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join("data", "model_configs")
PRETRAINED = os.path.join("data", "pretrained_tags_v3.3.0.json")
ZERO_SHOT = os.path.join("data", "zero_shot_metadata.json")
OUT = os.path.join("src", "model", "builtin_data.c")
OUT_H = os.path.join("src", "model", "builtin_data.h")
TEXT_OUT = os.path.join("src", "text", "text_data.c")
TEXT_OUT_H = os.path.join("src", "text", "text_data.h")
BPE = os.path.join("data", "bpe_simple_vocab_16e6.txt.gz")
N_MERGES = 49152 - 256 - 2  # OpenCLIP reads lines 1..48894 of the merges file (spec section 7.1)

PIECE_BYTES = 2000  # bytes of JSON text per string literal (well under C's 4095)
LINE_BYTES = 90     # bytes of JSON text per source line

# Sizes of the fixed buffers in include/oclip.h that these strings are copied into (with NUL).
NAME_MAX = 63        # oclip_model_config.name[64]
ARCH_TAG_MAX = 63    # oclip_pretrained.arch[64], .tag[64]
HF_HUB_MAX = 159     # oclip_pretrained.hf_hub[160]
URL_MAX = 255        # oclip_pretrained.url[256]


def minify(obj):
    # ensure_ascii: the C file stays 7-bit; the \uXXXX escapes are decoded again by cJSON.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def c_escape(s):
    """A C string-literal body for the ASCII text s. '?' is escaped so that no trigraph ("??=")
    can form; other non-printable bytes become 3-digit octal escapes (self-terminating)."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "?":
            out.append("\\?")
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif o < 0x80:
            out.append("\\%03o" % o)
        else:
            raise ValueError("non-ASCII character in minified JSON")
    return "".join(out)


def emit_pieces(lines, ident, text):
    """static const char *const IDENT[] = { "piece", ..., NULL }; splitting on raw bytes, so no
    escape sequence is ever cut in two."""
    lines.append("static const char *const %s[] = {" % ident)
    for p in range(0, len(text), PIECE_BYTES):
        piece = text[p:p + PIECE_BYTES]
        for q in range(0, len(piece), LINE_BYTES):
            chunk = piece[q:q + LINE_BYTES]
            end = "," if q + LINE_BYTES >= len(piece) else ""
            lines.append('    "%s"%s' % (c_escape(chunk), end))
    lines.append("    NULL};")


def load_configs():
    names = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, CONFIG_DIR)) if f.endswith(".json"))
    configs = []
    for name in names:
        if len(name) > NAME_MAX or "/" in name:
            raise SystemExit("%s: config name too long or invalid" % name)
        with open(os.path.join(ROOT, CONFIG_DIR, name + ".json"), encoding="utf-8") as f:
            obj = json.load(f)
        if not isinstance(obj, dict):
            raise SystemExit("%s: not a JSON object" % name)
        configs.append((name, minify(obj)))
    return configs


def load_pretrained():
    with open(os.path.join(ROOT, PRETRAINED), encoding="utf-8") as f:
        table = json.load(f)
    n = 0
    for arch, tags in table.items():
        for tag, e in tags.items():
            n += 1
            ok = (len(arch) <= ARCH_TAG_MAX and len(tag) <= ARCH_TAG_MAX
                  and len(e.get("hf_hub") or "") <= HF_HUB_MAX
                  and len(e.get("url") or "") <= URL_MAX)
            if not ok:
                raise SystemExit("%s:%s: a string is longer than oclip's buffers" % (arch, tag))
    return minify(table), len(table), n


def c_bytes(b):
    """A C string-literal body for arbitrary bytes (UTF-8 text): printable ASCII as is, the rest
    as 3-digit octal escapes, '?' escaped against trigraphs."""
    out = []
    for o in b:
        ch = chr(o)
        if ch in '\\"?':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            out.append("\\%03o" % o)
    return "".join(out)


def bytes_to_unicode():
    """OpenCLIP tokenizer.py: byte -> the character that stands for it in the vocab."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def load_merges():
    """The 48,894 merges as (left id, right id) pairs in the vocab OpenCLIP builds; the merged
    token of merge i has id 512 + i (checked: no two merges give the same string)."""
    with gzip.open(os.path.join(ROOT, BPE)) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:N_MERGES + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    encoder = {t: i for i, t in enumerate(vocab)}
    pairs = []
    for i, m in enumerate(merges):
        if len(m) != 2 or encoder["".join(m)] != 512 + i:
            raise SystemExit("merge %d: unexpected form %r" % (i, m))
        pairs.append((encoder[m[0]], encoder[m[1]]))
    return pairs


def ftfy_entities():
    """ftfy 6.3 chardata._build_html_entities: '&name;' for every HTML5 name with a semicolon,
    plus the all-uppercase spelling of all-lowercase names when html.unescape leaves that
    spelling alone (mapped to the uppercased value). Keys here omit the '&'."""
    ent = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";"):
            ent[name] = char
            if name == name.lower():
                up = name.upper()
                if html.unescape("&" + up) == "&" + up:
                    ent[up] = char.upper()
    return ent


def emit_entities(L, ident, table):
    """struct oc_entity IDENT[] = {{"name", "utf-8 value"}, ...}, sorted by the bytes of name."""
    L.append("const struct oc_entity %s[] = {" % ident)
    for name in sorted(table, key=lambda k: k.encode("utf-8")):
        L.append('    {"%s", "%s"},' % (c_bytes(name.encode("utf-8")),
                                         c_bytes(table[name].encode("utf-8"))))
    L.append("};")
    L.append("const size_t %s_n = %d;" % (ident, len(table)))



# ftfy 6.3 chardata.CHARMAP_ENCODINGS, in the order ftfy tries them. "sloppy-X" is ftfy's variant
# of codec X: bytes X leaves undefined decode as Latin-1, and byte 0x1A stands for U+FFFD.
FTFY_ENCODINGS = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
                  "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2",
                  "macroman", "cp437"]


def charmap(name):
    """The 256 characters bytes 0..255 decode to, with Python's codecs (ftfy bad_codecs/sloppy.py
    for the sloppy ones)."""
    allb = bytes(range(256))
    if not name.startswith("sloppy-"):
        return allb.decode(name)
    chars = list(allb.decode("latin-1"))
    for i, ch in enumerate(allb.decode(name[len("sloppy-"):], errors="replace")):
        if ch != "\ufffd":
            chars[i] = ch
    chars[0x1A] = "\ufffd"
    return "".join(chars)


def ftfy_charmaps(L):
    L.append("")
    L.append("/* Decoding tables of the single-byte encodings ftfy's mojibake repair tries, in its")
    L.append(" * order: %s. */" % ", ".join(FTFY_ENCODINGS))
    L.append("const unsigned short oc_ftfy_charmaps[%d][256] = {" % len(FTFY_ENCODINGS))
    for name in FTFY_ENCODINGS:
        m = charmap(name)
        if len(m) != 256 or any(ord(c) > 0xFFFF for c in m):
            raise SystemExit("%s: unexpected decoding table" % name)
        L.append("    /* %s */ {" % name)
        for k in range(0, 256, 12):
            L.append("        " + " ".join("0x%04X," % ord(c) for c in m[k:k + 12]))
        L.append("    },")
    L.append("};")


def tokenizer_data(L):
    pairs = load_merges()
    L.append("")
    L.append("/* %s: merge i joins token ids (left, right) = oc_bpe_merges[2i], [2i+1] into token"
             % BPE)
    L.append(" * 512 + i, in rank order (OpenCLIP reads the first %d merge lines). */" % N_MERGES)
    L.append("const unsigned short oc_bpe_merges[] = {")
    flat = [x for p in pairs for x in p]
    for k in range(0, len(flat), 16):
        L.append("    " + ",".join(str(x) for x in flat[k:k + 16]) + ",")
    L.append("};")
    L.append("const size_t oc_bpe_n_merges = %d;" % len(pairs))
    L.append("")
    L.append("/* Python %d.%d html.entities.html5 (names with and without ';'). */"
             % sys.version_info[:2])
    emit_entities(L, "oc_html5_entities", html.entities.html5)
    L.append("")
    L.append("/* ftfy 6.3 chardata.HTML_ENTITIES (see ftfy_entities in tools/embed_data.py). */")
    emit_entities(L, "oc_ftfy_entities", ftfy_entities())
    L.append("")
    L.append("/* Python html._invalid_charrefs: numeric references replaced (Windows-1252 for")
    L.append(" * 0x80-0x9F, as HTML5 does), and html._invalid_codepoints: references that")
    L.append(" * vanish. */")
    remap = sorted(html._invalid_charrefs.items())
    L.append("const unsigned oc_html_charref_remap[][2] = {")
    for k in range(0, len(remap), 6):
        L.append("    " + " ".join("{0x%X, 0x%X}," % (n, ord(c)) for n, c in remap[k:k + 6]))
    L.append("};")
    L.append("const size_t oc_html_charref_remap_n = %d;" % len(remap))
    inv = sorted(html._invalid_codepoints)
    L.append("const unsigned oc_html_invalid_codepoints[] = {")
    for k in range(0, len(inv), 10):
        L.append("    " + " ".join("0x%X," % n for n in inv[k:k + 10]))
    L.append("};")
    L.append("const size_t oc_html_invalid_codepoints_n = %d;" % len(inv))
    ftfy_charmaps(L)


def generate():
    configs = load_configs()
    pre_text, n_arch, n_tags = load_pretrained()
    L = []
    L.append("/*")
    L.append(" * builtin_data.c — GENERATED FILE, do not edit by hand.")
    L.append(" *")
    L.append(" * Generated by tools/embed_data.py from data/model_configs/ (%d OpenCLIP model configs)"
             % len(configs))
    L.append(" * and data/pretrained_tags_v3.3.0.json (OpenCLIP 3.3.0's pretrained-tag table,")
    L.append(" * %d names, %d tags); see data/PROVENANCE.md (MIT license). To regenerate after changing"
             % (n_arch, n_tags))
    L.append(" * data/, run from the repository root:  python3 tools/embed_data.py")
    L.append(" *")
    L.append(" * Each JSON text is minified and split into string-literal pieces of at most %d bytes"
             % PIECE_BYTES)
    L.append(" * (ISO C guarantees only 4095-byte literals); a NULL ends each piece list.")
    L.append(" * src/model/builtin_data.h, generated with this file, declares what it defines.")
    L.append(" */")
    L.append('#include "model/builtin_data.h"')
    L.append("")
    for i, (name, text) in enumerate(configs):
        L.append("/* %s */" % name)
        emit_pieces(L, "cfg_%d" % i, text)
    L.append("")
    L.append("/* Sorted by name (strcmp order), for binary search. */")
    L.append("const struct oc_builtin_config oc_builtin_configs[] = {")
    for i, (name, text) in enumerate(configs):
        L.append('    {"%s", cfg_%d, %d},' % (c_escape(name), i, len(text)))
    L.append("};")
    L.append("const size_t oc_builtin_configs_n = %d;" % len(configs))
    L.append("")
    L.append("/* data/pretrained_tags_v3.3.0.json: name -> tag -> {url, hf_hub, mean, std, interpolation,")
    L.append(" * resize_mode, quick_gelu?}, in OpenCLIP's order. */")
    body = []
    emit_pieces(body, "oc_pretrained_json_", pre_text)
    # The exported array is not static; rename the emitted declaration accordingly.
    body[0] = "const char *const oc_pretrained_json[] = {"
    L.extend(body)
    L.append("const size_t oc_pretrained_json_len = %d;" % len(pre_text))
    L.append("")
    L.append("/* data/zero_shot_metadata.json: OPENAI_IMAGENET_TEMPLATES (80), SIMPLE_IMAGENET_TEMPLATES (7),")
    L.append(" * IMAGENET_CLASSNAMES (1000), from OpenCLIP's zero_shot_metadata.py. */")
    with open(os.path.join(ROOT, ZERO_SHOT), encoding="utf-8") as f:
        zs_text = minify(json.load(f))
    body = []
    emit_pieces(body, "oc_zero_shot_json_", zs_text)
    body[0] = "const char *const oc_zero_shot_json[] = {"
    L.extend(body)
    L.append("const size_t oc_zero_shot_json_len = %d;" % len(zs_text.encode("utf-8")))
    return "\n".join(L) + "\n"


def generate_text():
    """src/text/text_data.c: the tokenizer's tables."""
    L = []
    L.append("/*")
    L.append(" * text_data.c — GENERATED FILE, do not edit by hand.")
    L.append(" *")
    L.append(" * Generated by tools/embed_data.py: the BPE merges of %s as id pairs," % BPE)
    L.append(" * the HTML entity tables of Python's html module (and ftfy's), and the decoding tables of")
    L.append(" * the single-byte encodings ftfy tries; see data/PROVENANCE.md. To regenerate, run from the")
    L.append(" * repository root:  python3 tools/embed_data.py")
    L.append(" * src/text/text_data.h, generated with this file, declares what it defines.")
    L.append(" */")
    L.append('#include "text/text_data.h"')
    tokenizer_data(L)
    return "\n".join(L) + "\n"


def generate_header():
    """src/model/builtin_data.h: the types and symbols builtin_data.c defines."""
    L = []
    L.append("/*")
    L.append(" * builtin_data.h — GENERATED FILE, do not edit by hand (tools/embed_data.py writes it with")
    L.append(" * builtin_data.c). What src/model/builtin_data.c defines: OpenCLIP's model configs and")
    L.append(" * pretrained-tag table and the zero-shot metadata as JSON text in string-literal pieces")
    L.append(" * (NULL-terminated; oc_join_pieces joins them). Internal.")
    L.append(" */")
    L.append("#ifndef OCLIP_BUILTIN_DATA_H")
    L.append("#define OCLIP_BUILTIN_DATA_H")
    L.append("")
    L.append("#include <stddef.h>")
    L.append("")
    L.append("struct oc_builtin_config {")
    L.append("    const char *name;         /* model_configs/<name>.json */")
    L.append("    const char *const *json;  /* minified JSON text in pieces, NULL-terminated */")
    L.append("    size_t len;               /* total bytes of the pieces */")
    L.append("};")
    L.append("")
    L.append("/* %s, sorted by name (strcmp order) */" % CONFIG_DIR)
    L.append("extern const struct oc_builtin_config oc_builtin_configs[];")
    L.append("extern const size_t oc_builtin_configs_n;")
    L.append("/* %s */" % PRETRAINED)
    L.append("extern const char *const oc_pretrained_json[];")
    L.append("extern const size_t oc_pretrained_json_len;")
    L.append("/* %s */" % ZERO_SHOT)
    L.append("extern const char *const oc_zero_shot_json[];")
    L.append("extern const size_t oc_zero_shot_json_len;")
    L.append("")
    L.append("#endif")
    return "\n".join(L) + "\n"


def generate_text_header():
    """src/text/text_data.h: the types and symbols text_data.c defines."""
    L = []
    L.append("/*")
    L.append(" * text_data.h — GENERATED FILE, do not edit by hand (tools/embed_data.py writes it with")
    L.append(" * text_data.c). The tokenizer's tables (src/text/tokenizer.c, ftfy.c, ftfy_encoding.c).")
    L.append(" * Internal.")
    L.append(" */")
    L.append("#ifndef OCLIP_TEXT_DATA_H")
    L.append("#define OCLIP_TEXT_DATA_H")
    L.append("")
    L.append("#include <stddef.h>")
    L.append("")
    L.append("struct oc_entity {")
    L.append("    const char *name;  /* without the leading '&' */")
    L.append("    const char *value; /* UTF-8 */")
    L.append("};")
    L.append("extern const unsigned short oc_bpe_merges[];")
    L.append("extern const size_t oc_bpe_n_merges;")
    L.append("extern const struct oc_entity oc_html5_entities[], oc_ftfy_entities[];")
    L.append("extern const size_t oc_html5_entities_n, oc_ftfy_entities_n;")
    L.append("extern const unsigned oc_html_charref_remap[][2], oc_html_invalid_codepoints[];")
    L.append("extern const size_t oc_html_charref_remap_n, oc_html_invalid_codepoints_n;")
    L.append("extern const unsigned short oc_ftfy_charmaps[%d][256];" % len(FTFY_ENCODINGS))
    L.append("")
    L.append("#endif")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="fail if a generated file is out of date")
    args = ap.parse_args()
    outputs = [(OUT, generate()), (OUT_H, generate_header()),
               (TEXT_OUT, generate_text()), (TEXT_OUT_H, generate_text_header())]
    if args.check:
        stale = []
        for rel, text in outputs:
            try:
                with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                stale.append(rel)
        for rel in stale:
            print("%s is out of date: run python3 tools/embed_data.py" % rel, file=sys.stderr)
        return 1 if stale else 0
    for rel, text in outputs:
        path = os.path.join(ROOT, rel)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
        print("wrote %s (%d bytes)" % (rel, len(text.encode("utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
