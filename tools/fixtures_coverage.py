#!/usr/bin/env python3
"""The pretrained list of OpenCLIP 3.3.0, for tests/test_coverage.c (the coverage table).

    .venv/bin/python tools/fixtures_coverage.py

tests/fixtures/coverage/pretrained.json: {"versions": ..., "pretrained": [[arch, tag, hf_hub, url,
has_config], ...]} in open_clip.list_pretrained() order, with get_pretrained_cfg(arch, tag)'s
hf_hub and url ("" when absent) and whether open_clip.get_model_config(arch) knows the
architecture. Nothing is downloaded.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_fixtures as gf  # noqa: E402


def main():
    import open_clip
    rows = []
    for arch, tag in open_clip.list_pretrained():
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        rows.append([arch, tag, cfg.get("hf_hub", "") or "", cfg.get("url", "") or "",
                     open_clip.get_model_config(arch) is not None])
    vers = gf.versions()
    vers["open_clip"] = open_clip.__version__
    out = os.path.join(gf.ROOT, "tests", "fixtures", "coverage")
    os.makedirs(out, exist_ok=True)
    gf.write_json(os.path.join(out, "pretrained.json"),
                  {"generator": "tools/fixtures_coverage.py", "versions": vers, "pretrained": rows})
    print("%d (architecture, tag) pairs, %d architectures" % (len(rows), len({r[0] for r in rows})))


if __name__ == "__main__":
    main()
