"""Builds the oclip Python package: liboclip's C sources (src/) compiled with the Makefile's own
flags (-std=c11, the same warnings, -fvisibility=hidden), the embedded default model
(src/model/default_model.c with OC_DEFAULT_MODEL_DIR = the absolute path of models/default, as the
Makefile's rule for that object), and the binding python/oclip/_oclip.c, linked into one
extension module oclip._oclip. Libraries come from pkg-config, as in the Makefile.

Environment: CC (the compiler; default: the one Python was built with), OCLIP_OPT (default
"-O2 -g", the Makefile's OPT), OCLIP_JOBS (parallel compiles; default: the CPU count).
"""
import glob
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
# the Makefile's PKGS, WARN and BASE
PKGS = ["libcjson", "libutf8proc", "libjpeg", "libpng", "libwebp", "libtiff-4"]
WARN = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wvla", "-Wstrict-prototypes",
        "-Wmissing-prototypes"]
DEFAULT_MODEL = os.path.join(ROOT, "models", "default")


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("oclip: pkg-config not found; install the build dependencies: make deps "
                 "(scripts/deps.sh)")
    except subprocess.CalledProcessError as e:
        sys.exit("oclip: pkg-config %s failed:\n%s\nhint: install the build dependencies: "
                 "make deps (scripts/deps.sh)" % (" ".join(args), e.stderr.strip()))
    return shlex.split(out.stdout)


class BuildExt(build_ext):
    """Compiles src/**/*.c with the Makefile's flags (not Python's CFLAGS: -fwrapv, -O3 ...),
    in parallel, then lets setuptools compile and link the binding with those objects."""

    def build_extension(self, ext):
        cc = os.environ.get("CC") or self.compiler.compiler_so[0]
        opt = shlex.split(os.environ.get("OCLIP_OPT", "-O2 -g"))
        # libcurl: its headers only; src/hub/curl.c loads libcurl.so.4 on the first download
        cppflags = ["-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "src")]
        cppflags += pkg_config("--cflags", *PKGS, "libcurl")
        base = ["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-fPIC"] + opt + WARN
        if any(c in DEFAULT_MODEL for c in '"\\\n'):
            sys.exit("oclip: the path of models/default holds a quote, backslash or newline, "
                     "which the assembler's .incbin cannot name: build from another folder")
        srcs = sorted(glob.glob(os.path.join(ROOT, "src", "*.c")) +
                      glob.glob(os.path.join(ROOT, "src", "*", "*.c")))
        hdrs = (glob.glob(os.path.join(ROOT, "src", "*.h")) +
                glob.glob(os.path.join(ROOT, "src", "*", "*.h")) +
                [os.path.join(ROOT, "include", "oclip.h")])
        newest_hdr = max(os.path.getmtime(h) for h in hdrs)
        objdir = os.path.join(self.build_temp, "liboclip")
        jobs = []
        for src in srcs:
            rel = os.path.relpath(src, os.path.join(ROOT, "src"))
            obj = os.path.join(objdir, rel[:-2] + ".o")
            flags = list(base)
            deps = [src]
            if rel == os.path.join("model", "default_model.c"):
                flags.append('-DOC_DEFAULT_MODEL_DIR="%s"' % DEFAULT_MODEL)
                deps += [os.path.join(DEFAULT_MODEL, "open_clip_model.safetensors"),
                         os.path.join(DEFAULT_MODEL, "open_clip_config.json")]
            cmd = [cc] + flags + ["-fvisibility=hidden"] + cppflags + ["-c", src, "-o", obj]
            fresh = (os.path.exists(obj) and os.path.getmtime(obj) >= newest_hdr and
                     all(os.path.getmtime(obj) >= os.path.getmtime(d) for d in deps))
            jobs.append((cmd, obj, fresh))

        def compile_one(job):
            cmd, obj, fresh = job
            if fresh and not self.force:
                return obj
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            print(" ".join(shlex.quote(c) for c in cmd), flush=True)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.stdout or r.stderr:
                sys.stderr.write(r.stdout + r.stderr)
            if r.returncode != 0:
                raise RuntimeError("compiling %s failed" % cmd[-3])
            return obj

        n = int(os.environ.get("OCLIP_JOBS", "0")) or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=n) as pool:
            objs = list(pool.map(compile_one, jobs))
        ext.extra_objects = objs
        ext.include_dirs = [os.path.join(ROOT, "include")] + ext.include_dirs
        libs = pkg_config("--libs", *PKGS) + ["-lgif", "-ldl", "-lpthread", "-lm"]
        # the module exports PyInit__oclip only: liboclip's OCLIP_API functions stay inside it
        vs = os.path.join(self.build_temp, "oclip.map")
        os.makedirs(self.build_temp, exist_ok=True)
        with open(vs, "w") as f:
            f.write("{ global: PyInit__oclip; local: *; };\n")
        ext.extra_link_args = libs + ["-Wl,--version-script=" + vs]
        super().build_extension(ext)


setup(
    ext_modules=[
        Extension(
            "oclip._oclip",
            sources=["python/oclip/_oclip.c"],
            # the binding: the same standard and warnings, everything but PyInit__oclip hidden
            extra_compile_args=["-std=c11"] + WARN + ["-fvisibility=hidden"],
            depends=["include/oclip.h"],
        )
    ],
    cmdclass={"build_ext": BuildExt},
    # beside the Makefile's objects (build/obj), not among them
    options={"build": {"build_base": "build/python"}},
)
