#!/usr/bin/env python3
"""serve_page_test.py OCLIP TMPDIR -- `oclip serve --index DIR`: the search endpoints and the
page in a real browser (tests/cli_serve.sh runs it).

Python's standard library, plus Debian's chromium (headless) for the page. Builds a small
collection (tests/collection_check.py make: planted shapes in folders and a WebDataset tar),
embeds it with `oclip embed-dir` (the embedded demo model), starts the server on it and checks:
  - POST /v1/search: a text query ranks the rows as `oclip search` does (same rows, scores);
    "more like this" (row) and an image query rank as a brute-force scan of the shards' .npy
    files does, the query row / image first with score 1; every bad request gets its 4xx;
  - GET /v1/thumb?row=N: the bytes of the row's file or tar member; nothing but rows of the
    index (a path in the query is ignored or refused), 404 for a row whose file is gone;
  - --api-key: the page is open, the search and thumbnails are not; -m naming the index's
    model serves it once;
  - the page in headless Chromium: /?q=TEXT searches on load; its <img>s are the /v1/thumb
    URLs of the API's top rows, each loaded by the browser (naturalWidth), each URL 200;
    /?row=N shows row N first; a screenshot is saved as TMPDIR/page.png.
Without chromium it fails, unless SERVE_PAGE_BROWSER_OPTIONAL=1 (sanitizer / qemu runs), where
the browser part is skipped with a message.
"""
import atexit
import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request

OCLIP, TMP = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
fails = []
passes = 0


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        fails.append(what)
        print("serve_page_test: FAIL:", what, file=sys.stderr)


STARTED = []


@atexit.register
def _kill_servers():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()


class Server:
    """oclip serve --port 0 ARGS in the folder W (the index's relative paths are read from it)"""

    def __init__(self, *args):
        self.p = subprocess.Popen([OCLIP, "serve", "--port", "0", *args], cwd=W,
                                  stderr=subprocess.PIPE, text=True)
        STARTED.append(self.p)
        self.lines = []
        while True:
            line = self.p.stderr.readline()
            if not line:
                raise SystemExit("serve_page_test: the server did not start:\n" +
                                 "".join(self.lines))
            self.lines.append(line)
            if "listening on" in line:
                break
        self.port = int(line.rsplit(":", 1)[1])
        self.base = "http://127.0.0.1:%d" % self.port
        while "ready in" not in line:
            line = self.p.stderr.readline()
            if not line:
                raise SystemExit("serve_page_test: the server stopped:\n" + "".join(self.lines))
            self.lines.append(line)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def stop(self):
        self.p.terminate()
        self.p.wait(60)


def request(srv, method, path, body=None, key=None, raw=False, timeout=60):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(srv.base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            st, ct, b = r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        st, ct, b = e.code, e.headers.get("Content-Type"), e.read()
    if raw:
        return st, ct, b
    try:
        return st, ct, json.loads(b)
    except ValueError:
        return st, ct, b


def npy_f32(path):
    """a float32 [rows, cols] .npy as a list of rows (the format embed-dir writes)"""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:6] == b"\x93NUMPY"
    hl = struct.unpack("<H", b[8:10])[0] if b[6] == 1 else struct.unpack("<I", b[8:12])[0]
    off = (10 if b[6] == 1 else 12) + hl
    head = b[off - hl:off].decode("latin1")
    assert "'<f4'" in head and "False" in head, head
    rows, cols = map(int, re.search(r"\((\d+), (\d+)\)", head).groups())
    v = struct.unpack("<%df" % (rows * cols), b[off:off + 4 * rows * cols])
    return [list(v[r * cols:(r + 1) * cols]) for r in range(rows)]


# ---- the collection and its index (relative paths: the server reads them from W) ----
W = os.path.join(TMP, "page")
os.makedirs(W, exist_ok=True)
subprocess.run([sys.executable, os.path.join(HERE, "collection_check.py"), "make",
                os.path.join(ROOT, "tests/fixtures/default/heldout"), os.path.join(W, "c")],
               check=True)
subprocess.run([OCLIP, "embed-dir", "c/photos", "c/shard-000.tar", "--text", "--shard-size", "5",
                "-o", "idx"], cwd=W, check=True, stdout=subprocess.DEVNULL)
man = json.load(open(os.path.join(W, "idx/manifest.json")))
EMB, META = [], []
for k in range(man["shards"]):
    EMB += npy_f32(os.path.join(W, "idx/img_emb/img_emb_%04d.npy" % k))
    META += [json.loads(l) for l in open(os.path.join(W, "idx/metadata/metadata_%04d.jsonl" % k))]
ROWS = len(EMB)
check(ROWS == len(META) and ROWS > 20, "the index has its rows (%d)" % ROWS)


def brute(q, k):
    """rows by descending dot product, ties: earlier rows first (as the server ranks them)"""
    s = [(sum(a * b for a, b in zip(e, q)), r) for r, e in enumerate(EMB)]
    s.sort(key=lambda t: (-t[0], t[1]))
    return s[:k]


def where(m):
    return m["tar"] + ":" + m["key"] if "tar" in m else m["path"]


srv = Server("--index", "idx")

# ---- POST /v1/search ----
st, _, j = request(srv, "POST", "/v1/search", {"text": "a yellow star", "k": 5})
check(st == 200 and len(j["data"]) == 5 and j["rows"] == ROWS, "text search: 200, k rows")
cli = subprocess.run([OCLIP, "search", "idx", "a yellow star", "-k", "5"], cwd=W,
                     capture_output=True, text=True, check=True).stdout.split("\n")
cli = [l.split() for l in cli if l.strip()]
check([where(h) for h in j["data"]] == [c[2] for c in cli],
      "text search: the rows of `oclip search`: %s vs %s" % ([where(h) for h in j["data"]], cli))
check(all(abs(h["score"] - float(c[1])) < 6e-5 for h, c in zip(j["data"], cli)),
      "text search: the scores of `oclip search`")
check("star" in j["data"][0].get("path", j["data"][0].get("caption", "")),
      "text search: a star first")
check(all({k: v for k, v in h.items() if k not in ("row", "score")} ==
          {k: v for k, v in META[h["row"]].items() if k not in ("row", "index")}
          for h in j["data"]), "hits carry their row's metadata")

R = 7
st, _, j = request(srv, "POST", "/v1/search", {"row": R, "k": 6})
want = brute(EMB[R], 6)
check(st == 200 and [h["row"] for h in j["data"]] == [r for _, r in want],
      "more like this: the brute-force ranking %s, got %s" % (want, j.get("data")))
check(st == 200 and j["data"][0]["row"] == R and abs(j["data"][0]["score"] - 1) < 1e-5,
      "more like this: the row itself first, score 1")

# an image query: a file of the index is its own nearest row (embed-dir = embed-image)
img_row = next(r for r, m in enumerate(META) if "path" in m)
img = open(os.path.join(W, META[img_row]["path"]), "rb").read()
for form in (base64.b64encode(img).decode(),
             "data:image/png;base64," + base64.b64encode(img).decode()):
    st, _, j = request(srv, "POST", "/v1/search", {"image": form, "k": 3})
    check(st == 200 and j["data"][0]["row"] == img_row and abs(j["data"][0]["score"] - 1) < 1e-4,
          "image search: the image's own row first (%s)" % form[:12])
st, _, j = request(srv, "POST", "/v1/search", {"image": base64.b64encode(img).decode(),
                                                "text": "a star", "k": 2})
check(st == 200 and len(j["data"]) == 2, "text + image search")
st, _, j = request(srv, "POST", "/v1/search", {"row": 0, "k": 1000})
check(st == 200 and len(j["data"]) == ROWS, "k above the rows: every row")

for body, status, code in [
        (b"{", 400, "invalid_json"), (b"[1]", 400, "invalid_json"),
        ({}, 400, "missing_query"), ({"text": 3}, 400, "invalid_type"),
        ({"row": "1"}, 400, "invalid_type"), ({"text": "a", "k": 0}, 400, "invalid_k"),
        ({"text": "a", "k": 1001}, 400, "invalid_k"), ({"text": "a", "k": 2.5}, 400, "invalid_k"),
        ({"row": -1}, 404, "row_not_found"), ({"row": ROWS}, 404, "row_not_found"),
        ({"row": 1.5}, 404, "row_not_found"), ({"row": 1, "text": "a"}, 400, "invalid_query"),
        ({"image": "!!!not base64"}, 400, None), ({"image": base64.b64encode(b"GIF89a").decode()},
                                                  422, None),
        ({"text": "x" * (1 << 20 + 1)}, 413, "text_too_long")]:
    st, ct, j = request(srv, "POST", "/v1/search", body)
    check(st == status and ct == "application/json" and "error" in j and
          (code is None or j["error"].get("code") == code),
          "bad search %r: %d %s, got %d %s" % (str(body)[:40], status, code, st, j))
st, _, _ = request(srv, "GET", "/v1/search")
check(st == 405, "GET /v1/search: 405")

# ---- GET /v1/thumb ----
tar_row = next(r for r, m in enumerate(META) if "tar" in m)
with tarfile.open(os.path.join(W, META[tar_row]["tar"])) as t:
    member = t.extractfile(META[tar_row]["file"]).read()
st, ct, b = request(srv, "GET", "/v1/thumb?row=%d" % img_row, raw=True)
check(st == 200 and ct == "image/png" and b == img, "thumb of a file row: its bytes")
st, ct, b = request(srv, "GET", "/v1/thumb?row=%d" % tar_row, raw=True)
check(st == 200 and b == member, "thumb of a tar row: the member's bytes")
st, ct, b = request(srv, "GET", "/v1/thumb?row=%d&path=/etc/passwd" % img_row, raw=True)
check(st == 200 and b == img, "thumb: a path in the query is ignored")
for q, status in [("?path=/etc/passwd", 400), ("?row=/etc/passwd", 400), ("", 400),
                  ("?row=-1", 400), ("?row=1x", 400), ("?row=%2e%2e%2f", 400), ("?row=+1", 400),
                  ("?row=%d" % ROWS, 404), ("?row=99999999999999999999999", 400)]:
    st, ct, j = request(srv, "GET", "/v1/thumb" + q)
    check(st == status and ct == "application/json" and "error" in j,
          "thumb%s: %d, got %d" % (q, status, st))
gone = os.path.join(W, META[img_row]["path"])
os.rename(gone, gone + ".moved")
st, _, j = request(srv, "GET", "/v1/thumb?row=%d" % img_row)
os.rename(gone + ".moved", gone)
check(st == 404 and j["error"]["code"] == "image_unreadable", "thumb of a moved file: 404")
os.rename(gone, gone + ".moved")
os.mkfifo(gone)  # a FIFO where the file was: refused at once, not waited on
try:
    st, _, j = request(srv, "GET", "/v1/thumb?row=%d" % img_row, timeout=10)
except OSError as e:
    st, j = None, str(e)
os.remove(gone)
os.rename(gone + ".moved", gone)
check(st == 404, "thumb of a FIFO: 404 at once, got %s %s" % (st, j))

# ---- the page over HTTP; the API still there ----
st, ct, page = request(srv, "GET", "/", raw=True)
page = page.decode()
check(st == 200 and ct.startswith("text/html") and 'id="q"' in page and 'type="file"' in page,
      "GET /: the page")
check(not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(""", page),
      "the page loads nothing from elsewhere")
st, _, j = request(srv, "POST", "/v1/embeddings", {"input": "a star"})
check(st == 200 and len(j["data"][0]["embedding"]) == len(EMB[0]), "/v1/embeddings with --index")
st, _, j = request(srv, "GET", "/v1/models")
check(st == 200 and [m["id"] for m in j["data"]] == ["default"], "the index's model is served")


# ---- the page in headless Chromium ----
def chromium():
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def browse(url, *what):
    """chromium --headless: the DOM after the page's scripts ran (and its fetches ended)"""
    r = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--user-data-dir=" + os.path.join(TMP, "chromium"),
                        "--window-size=1100,720", "--hide-scrollbars",
                        "--virtual-time-budget=15000", *what, url],
                       capture_output=True, text=True, timeout=180)
    return r.stdout


BROWSER = chromium()
if not BROWSER:
    if os.environ.get("SERVE_PAGE_BROWSER_OPTIONAL") == "1":
        print("serve_page_test: chromium not found: the browser checks are skipped (install "
              "Debian's chromium: scripts/deps.sh)", file=sys.stderr)
    else:
        check(False, "chromium not found (scripts/deps.sh installs it)")
else:
    st, _, api = request(srv, "POST", "/v1/search", {"text": "a yellow star", "k": 6})
    dom = browse(srv.base + "/?q=a%20yellow%20star&k=6", "--dump-dom")
    imgs = re.findall(r"<img [^>]*>", dom)
    srcs = [(re.findall(r'src="([^"]*)"', i) or [None])[0] for i in imgs
            if 'class="thumb"' in i]
    check(srcs == ["/v1/thumb?row=%d" % h["row"] for h in api["data"]],
          "the page shows the API's top rows as thumbnails: %s" % srcs)
    check(len(imgs) == 6 and all(re.search(r'data-loaded="64x64"', i) for i in imgs),
          "the browser loaded every thumbnail: %s" % imgs)
    for s in filter(None, srcs):
        st, ct, _ = request(srv, "GET", s, raw=True)
        check(st == 200 and ct.startswith("image/"), "thumbnail %s: 200" % s)
    check(where(api["data"][0]) in dom and "%.4f" % api["data"][0]["score"] in dom,
          "the page shows the paths and scores")
    check(dom.count('class="more"') == 6, "a 'more like this' on each")
    dom = browse(srv.base + "/?row=%d&k=3" % R, "--dump-dom")
    rows = re.findall(r'class="card" data-row="(\d+)"', dom)
    check(rows == [str(r) for _, r in brute(EMB[R], 3)], "the page's more like this: %s" % rows)
    shot = os.path.join(TMP, "page.png")
    browse(srv.base + "/?q=a%20yellow%20star&k=10", "--screenshot=" + shot)
    ok = os.path.exists(shot)
    b = open(shot, "rb").read() if ok else b""
    check(b[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", b[16:24]) == (1100, 720) and
          len(b) > 20000, "a screenshot of the page: %s" % shot)
    print("serve_page_test: screenshot in", shot)
srv.stop()
check(srv.p.returncode == 0, "SIGTERM: exit 0")

# ---- --api-key: the page is open, the data is not; -m naming the index's model ----
key = "page-key-5678"
srv = Server("--index", "idx", "-m", "demo=default", "--api-key", key)
st, _, _ = request(srv, "GET", "/", raw=True)
check(st == 200, "--api-key: the page is open")
for m, p, b in [("POST", "/v1/search", {"row": 0}), ("GET", "/v1/thumb?row=0", None)]:
    st, _, _ = request(srv, m, p, b)
    check(st == 401, "--api-key: %s %s needs the key" % (m, p))
    st, _, _ = request(srv, m, p, b, key=key, raw=True)
    check(st == 200, "--api-key: %s %s with the key" % (m, p))
st, _, j = request(srv, "GET", "/v1/models", key=key)
check([m["id"] for m in j["data"]] == ["demo"], "-m naming the index's model: served once")
st, _, j = request(srv, "POST", "/v1/search", {"text": "a star"}, key=key)
check(st == 200 and j["model"] == "demo", "the search uses it")
srv.stop()

print("serve_page_test: %d passed, %d failed" % (passes, len(fails)))
sys.exit(1 if fails else 0)
