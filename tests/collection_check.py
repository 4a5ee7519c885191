"""collection_check.py — helpers of tests/cli_collection.sh (python3 standard library only).

  make SRC DIR             builds the test collection in DIR from the PNGs of SRC: a folder tree
                           with planted broken, truncated and non-image files, a WebDataset tar,
                           a truncated tar, a list file
  rows OUT DIR             for the rows of the embed-dir output OUT: DIR/paths.txt (one image
                           file a row; tar members extracted into DIR/members/), DIR/captions.txt
                           (the captions, in row order, of the rows that have one),
                           DIR/img.npy and DIR/txt.npy (all shards' rows concatenated; the text
                           rows of captioned rows only)
  errors OUT               prints "path|tar:key" of each errors.jsonl line, sorted
  same_rows A B            A.npy and B.npy hold the same float32 rows, byte for byte
"""
import io
import json
import os
import shutil
import struct
import sys
import tarfile
import ast


def npy_load(path):
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY", path
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    assert h["descr"] == "<f4" and not h["fortran_order"], h
    assert (10 + n) % 64 == 0, "header not padded to 64 bytes"
    return h["shape"], b[10 + n:]


def npy_save(path, rows, cols, data):
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    pad = (64 - (10 + len(d) + 1) % 64) % 64
    hdr = d + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data)


def make(src, out):
    pngs = sorted(p for p in os.listdir(src) if p.endswith(".png"))
    folder = os.path.join(out, "photos")
    os.makedirs(os.path.join(folder, "b", "deep"))
    os.makedirs(os.path.join(folder, "a"))
    for i, p in enumerate(pngs[:24]):
        sub = ["", "a", "b", os.path.join("b", "deep")][i % 4]
        shutil.copy(os.path.join(src, p), os.path.join(folder, sub, p))
    # a caption beside an image
    with open(os.path.join(folder, "a", pngs[1][:-4] + ".txt"), "w") as f:
        f.write("a caption from a sidecar file\n")
    good = open(os.path.join(src, pngs[30]), "rb").read()
    # planted faults: corrupt data, a truncated file, a text file named .jpg; ignored files
    bad = bytearray(good)
    for i in range(60, len(bad) - 20):
        bad[i] = (bad[i] * 7 + 13) & 0xFF
    open(os.path.join(folder, "broken.png"), "wb").write(bytes(bad))
    open(os.path.join(folder, "b", "truncated.png"), "wb").write(good[: len(good) // 3])
    open(os.path.join(folder, "a", "notanimage.jpg"), "w").write("<html>not an image</html>\n")
    open(os.path.join(folder, "README.md"), "w").write("not an image extension: ignored\n")
    open(os.path.join(folder, ".hidden.png"), "wb").write(good)
    # a WebDataset shard: KEY.png + KEY.txt / KEY.json, a sample without image
    with tarfile.open(os.path.join(out, "shard-000.tar"), "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for i, p in enumerate(pngs[24:36]):
            key = "%06d" % i
            add(key + ".png", open(os.path.join(src, p), "rb").read())
            if i % 3 == 0:
                add(key + ".txt", ("a %s" % p[4:-4].replace("_", " ")).encode())
            elif i % 3 == 1:
                add(key + ".json", json.dumps({"caption": "json " + p[4:-4], "url": "x"}).encode())
        add("000099.json", b'{"caption": "no image here"}')
    data = open(os.path.join(out, "shard-000.tar"), "rb").read()
    open(os.path.join(out, "cut.tar"), "wb").write(data[: len(data) // 2 + 700])
    # a list: paths, a caption after a TAB, a missing file
    with open(os.path.join(out, "list.txt"), "w") as f:
        for p in pngs[36:40]:
            f.write(os.path.join(src, p) + "\n")
        f.write(os.path.join(src, pngs[40]) + "\ta caption from the list\n\n")
        f.write(os.path.join(out, "missing.png") + "\n")


def tar_members(path):
    """name -> bytes of the members a tar holds whole (it may be cut short)"""
    res = {}
    try:
        with tarfile.open(path, "r|") as t:
            for ti in t:
                if ti.isfile():
                    res[ti.name] = t.extractfile(ti).read()
    except (tarfile.ReadError, EOFError, OSError):
        pass
    return res


def rows(out, d):
    man = json.load(open(os.path.join(out, "manifest.json")))
    shards = man["shards"]
    os.makedirs(os.path.join(d, "members"), exist_ok=True)
    paths, caps, img, txt = [], [], [], []
    cols = man["settings"]["model"]["embed_dim"]
    tars = {}
    for s in range(shards):
        (n, e), data = npy_load(os.path.join(out, "img_emb", "img_emb_%04d.npy" % s))
        assert e == cols
        img.append(data)
        tdata = None
        if man["settings"]["text"]:
            (tn, _), tdata = npy_load(os.path.join(out, "text_emb", "text_emb_%04d.npy" % s))
            assert tn == n
        lines = open(os.path.join(out, "metadata", "metadata_%04d.jsonl" % s)).read().splitlines()
        assert len(lines) == n, (s, len(lines), n)
        for r, line in enumerate(lines):
            m = json.loads(line)
            assert m["row"] == r
            if "path" in m:
                paths.append(m["path"])
            else:
                if m["tar"] not in tars:
                    tars[m["tar"]] = tar_members(m["tar"])
                dst = os.path.join(d, "members", "%d_%s" % (len(paths), m["file"]))
                open(dst, "wb").write(tars[m["tar"]][m["file"]])
                paths.append(dst)
            if "caption" in m:
                caps.append(m["caption"])
                if tdata is not None:
                    txt.append(tdata[r * cols * 4:(r + 1) * cols * 4])
            elif tdata is not None:
                assert tdata[r * cols * 4:(r + 1) * cols * 4] == bytes(cols * 4), "zero row"
    open(os.path.join(d, "paths.txt"), "w").write("".join(p + "\n" for p in paths))
    open(os.path.join(d, "captions.txt"), "w").write("".join(c + "\n" for c in caps))
    npy_save(os.path.join(d, "img.npy"), len(paths), cols, b"".join(img))
    npy_save(os.path.join(d, "txt.npy"), len(txt), cols, b"".join(txt))
    c = man["counts"]
    assert c["images"] == len(paths) and c["captions"] == len(caps), c
    assert c["items"] == c["images"] + c["errors"], c


def errors(out):
    res = []
    for line in open(os.path.join(out, "errors.jsonl")):
        e = json.loads(line)
        assert e["error"], e
        res.append(e.get("path") or "%s:%s" % (e["tar"], e.get("key", "")))
    for r in sorted(res):
        print(r)


def same_rows(a, b):
    sa, da = npy_load(a)
    sb, db = npy_load(b)
    assert sa == sb, (sa, sb)
    assert da == db, "rows differ"


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3])
    elif cmd == "rows":
        rows(sys.argv[2], sys.argv[3])
    elif cmd == "errors":
        errors(sys.argv[2])
    elif cmd == "same_rows":
        same_rows(sys.argv[2], sys.argv[3])
