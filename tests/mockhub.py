#!/usr/bin/env python3
"""mockhub.py — a small Hugging Face hub on 127.0.0.1 for tests/cli_pull.sh (standard library only).

    python3 tests/mockhub.py REPOS.json STATE_DIR

REPOS.json: {"ORG/NAME": {"files": {"name in repo": "path on disk", ...}, "gated": false,
             "renamed_from": "OLD-ORG/OLD-NAME" (optional)}, ...}
Binds port 0 and prints the port on stdout (one line), then serves until killed.

The HTTP conventions are the hub's (docs/HUB.md, with sources):
  HEAD|GET /ORG/NAME/resolve/REV/FILE
      LFS files (*.safetensors, *.bin, *.pt, *.pth): 302 to /cdn/<sha256> (an absolute URL, as
      the hub redirects to its CDN) with X-Repo-Commit, X-Linked-Etag: "<sha256>",
      X-Linked-Size, ETag: "<git blob sha1 of the pointer>"; other files: 200 with
      X-Repo-Commit and ETag: "<git blob sha1>".
      Errors carry X-Error-Code / X-Error-Message: unknown repo 401 RepoNotFound (the hub answers
      anonymous requests for missing and private repos alike), gated repo without the token
      401 GatedRepo, unknown revision 404 RevisionNotFound, unknown file 404 EntryNotFound.
      A renamed repo answers 307 with a relative Location to its new name.
  HEAD|GET /cdn/<sha256>   the bytes; "Range: bytes=N-" gives 206 with Content-Range.
  GET /api/models/ORG/NAME[/revision/REV]   {"id", "sha", "siblings": [{"rfilename"}], ...}
The token for gated repos is "hf_mocktoken" (Authorization: Bearer ...).

STATE_DIR/mode (re-read on every request) changes how /cdn/ behaves:
  normal   as above
  cut      a transfer that starts at byte 0 sends half the file, then drops the connection
  corrupt  one byte of the content is flipped (the announced SHA-256 no longer matches)
  norange  Range headers are ignored (200 with the whole file)
  badrange a resumed transfer announces the wrong Content-Range (starting at 0)
  long     100 bytes more than the hub announced
  relcdn   LFS redirects name the CDN by a relative Location ("/cdn/...")
Every request is appended to STATE_DIR/log as "METHOD PATH RANGE".
"""
import hashlib
import http.server
import json
import os
import socketserver
import sys
import threading

TOKEN = "hf_mocktoken"
LFS = (".safetensors", ".bin", ".pt", ".pth")


class Repo:
    def __init__(self, name, spec):
        self.name = name
        self.gated = bool(spec.get("gated"))
        self.files = {}
        for rname, path in sorted(spec["files"].items()):
            with open(path, "rb") as f:
                self.files[rname] = f.read()
        h = hashlib.sha1(name.encode())
        for rname, data in sorted(self.files.items()):
            h.update(rname.encode() + b"\0" + hashlib.sha256(data).digest())
        self.commit = h.hexdigest()


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (hashlib.sha256(data).hexdigest(), len(data))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mockhub/1"

    def log_message(self, *args):
        pass

    def mode(self):
        try:
            with open(os.path.join(self.server.state, "mode")) as f:
                return f.read().strip() or "normal"
        except OSError:
            return "normal"

    def record(self):
        with self.server.lock, open(os.path.join(self.server.state, "log"), "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-")))

    def reply(self, code, headers=(), body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, ecode, msg):
        self.reply(code, [("X-Error-Code", ecode), ("X-Error-Message", msg),
                          ("Content-Type", "application/json")],
                   json.dumps({"error": msg}).encode())

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.record()
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if parts[0] == "cdn" and len(parts) == 2:
            return self.cdn(parts[1])
        if parts[0] == "api" and len(parts) >= 4 and parts[1] == "models":
            return self.api(parts[2] + "/" + parts[3], parts[5] if len(parts) >= 6 else "main")
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
        self.error(404, "NotFound", "no such route")

    def find(self, name):
        """(repo, None) or (None, reply already sent)."""
        for r in self.server.renamed:
            if r[0] == name:
                self.reply(307, [("Location", self.path.replace("/" + name, "/" + r[1], 1))])
                return None, True
        repo = self.server.repos.get(name)
        if repo is None:
            self.error(401, "RepoNotFound", "Repository not found")
            return None, True
        if repo.gated and self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.error(401, "GatedRepo", "Access to model %s is restricted. You must have access "
                       "to it and be authenticated to access it. Please log in." % name)
            return None, True
        return repo, False

    def resolve(self, name, rev, fname):
        repo, done = self.find(name)
        if done:
            return
        if rev not in ("main", repo.commit):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        data = repo.files.get(fname)
        if data is None:
            return self.error(404, "EntryNotFound", "Entry not found")
        common = [("X-Repo-Commit", repo.commit), ("Accept-Ranges", "bytes")]
        if fname.endswith(LFS):
            sha = hashlib.sha256(data).hexdigest()
            host = "" if self.mode() == "relcdn" else "http://127.0.0.1:%d" % self.server.server_address[1]
            self.reply(302, common + [
                ("ETag", '"%s"' % git_blob_sha1(lfs_pointer(data))),
                ("X-Linked-Etag", '"%s"' % sha), ("X-Linked-Size", str(len(data))),
                ("Location", "%s/cdn/%s?repo=%s" % (host, sha, name))])
        else:
            self.reply(200, common + [("ETag", '"%s"' % git_blob_sha1(data)),
                                      ("Content-Type", "application/octet-stream")], data)

    def cdn(self, sha):
        data = self.server.blobs.get(sha)
        if data is None:
            return self.reply(404, [], b"no such blob")
        mode = self.mode()
        if mode == "corrupt":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        elif mode == "long":
            data = data + b"\0" * 100
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "norange":
            if not (rng.startswith("bytes=") and rng.endswith("-") and rng[6:-1].isdigit()):
                return self.reply(400, [], b"unsupported range")
            start = int(rng[6:-1])
            if start >= len(data):
                return self.reply(416, [("Content-Range", "bytes */%d" % len(data))])
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            first = 0 if mode == "badrange" else start
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, len(data) - 1, len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", '"%s"' % sha)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if mode == "cut" and start == 0:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def api(self, name, rev):
        repo, done = self.find(name)
        if done:
            return
        if rev not in ("main", repo.commit):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        body = json.dumps({"id": name, "modelId": name, "sha": repo.commit, "private": False,
                           "gated": "manual" if repo.gated else False,
                           "siblings": [{"rfilename": f} for f in sorted(repo.files)]}).encode()
        self.reply(200, [("Content-Type", "application/json")], body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = sys.argv[2]
    srv.lock = threading.Lock()
    srv.repos, srv.blobs, srv.renamed = {}, {}, []
    for name, s in spec.items():
        repo = Repo(name, s)
        srv.repos[name] = repo
        for data in repo.files.values():
            srv.blobs[hashlib.sha256(data).hexdigest()] = data
        if s.get("renamed_from"):
            srv.renamed.append((s["renamed_from"], name))
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
