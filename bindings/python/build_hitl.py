#!/usr/bin/python3
"""Build hitl._hitl_cffi, the compiled half of the `hitl` Python package.

The declarations cffi needs (its "cdef") are not written by hand: they are
generated from include/hitl.h, so a function, enum value or constant added to
the header reaches Python by rebuilding, and cannot drift from it:

  1. The header goes through the C preprocessor (`CC -E -P -undef -nostdinc`)
     with every `#include <...>` it names replaced by an empty stub.  That
     drops the comments, the `extern "C"` guard and the export macro HITL_API
     (empty unless HITL_BUILDING is defined) and leaves plain C declarations
     that cffi parses; cffi already knows size_t, int32_t, uint64_t and the
     other standard types the stubs would have defined.
  2. The header's object-like HITL_* macros (`CC -E -dM`) become
     `#define NAME ...` (integer expressions), `static const double NAME;`
     (floating literals) or `static const char *const NAME;` (strings); the
     compiler supplies every value.  Function-like macros are skipped.
  3. Every callback type `typedef R (*hitl_X_fn)(ARGS);` gets a matching
     `extern "Python" R _hitl_py_X(ARGS);` so Python code can implement it
     with @ffi.def_extern (custom models); the signature is the header's.

cffi then builds in out-of-line API mode: the generated C source includes
hitl.h itself and calls every function through its real prototype, so the C
compiler checks each declaration (argument conversions that would lose
information are made errors below).

Compiler and linker flags for libhitl come from `pkg-config libhitl`: against
an installed library that is its libhitl.pc; in the build tree `make` points
PKG_CONFIG_PATH at bindings/python/libhitl-uninstalled.pc, which pkg-config
prefers by itself.  No run-time search path (rpath) is recorded: the module
finds libhitl.so.0 through the dynamic linker like any other program.

Usage:  build_hitl.py [--header include/hitl.h] [--outdir DIR] [--cc CC]
        build_hitl.py --print-cdef      (show the generated declarations)
The extension lands in DIR/hitl/ (DIR defaults to the current directory).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_HEADER = os.path.join(HERE, os.pardir, os.pardir, "include", "hitl.h")
MODULE = "hitl._hitl_cffi"

# Macros of the header that are not API values.
SKIP_MACROS = {"HITL_H", "HITL_API", "HITL_BUILDING"}

# The generated C is compiled with these: a header/cdef disagreement that C
# would only warn about becomes an error.
STRICT_FLAGS = [
    "-Werror=implicit-function-declaration",
    "-Werror=incompatible-pointer-types",
    "-Werror=int-conversion",
    "-Werror=discarded-qualifiers",
    "-Werror=return-type",
]


def _cc_command(cc):
    return shlex.split(cc or os.environ.get("CC") or "cc")


def _run_cpp(header, cc, extra):
    """Preprocess `header` alone: system includes resolve to empty stubs."""
    with open(header, encoding="utf-8") as f:
        text = f.read()
    with tempfile.TemporaryDirectory(prefix="hitl-cdef-") as stubs:
        for inc in set(re.findall(r'^\s*#\s*include\s*<([^>]+)>', text, re.M)):
            path = os.path.join(stubs, inc)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").close()
        cmd = _cc_command(cc) + ["-E", "-undef", "-nostdinc", "-std=c11",
                                 "-I", stubs] + extra + [header]
        res = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
    if res.returncode != 0:
        sys.exit("build_hitl.py: preprocessing %s failed:\n%s"
                 % (header, res.stderr))
    return res.stdout


def _macro_decls(header, cc):
    """cdef lines for the header's object-like HITL_* macros."""
    out = []
    for line in _run_cpp(header, cc, ["-dM"]).splitlines():
        m = re.match(r'#define (HITL_\w+) (.+)$', line)  # no '(' after name
        if not m or m.group(1) in SKIP_MACROS:
            continue
        name, value = m.group(1), m.group(2).strip()
        if value.startswith('"'):
            out.append("static const char *const %s;" % name)
        elif re.fullmatch(r'[-+]?(\d+\.\d*|\.\d+|\d+[eE][-+]?\d+|\d+\.\d*[eE][-+]?\d+)[fFlL]?',
                          value):
            out.append("static const double %s;" % name)
        elif re.fullmatch(r'[\w\s()+\-*/%<>|&~^]+', value):
            out.append("#define %s ..." % name)
    return sorted(out)


def _callback_externs(decls):
    """extern "Python" functions for the header's hitl_*_fn typedefs."""
    out = []
    for m in re.finditer(r'typedef\s+([^;()]+?)\s*\(\s*\*\s*hitl_(\w+)_fn\s*\)'
                         r'\s*\(([^;]*?)\)\s*;', decls):
        ret, name, args = m.group(1), m.group(2), " ".join(m.group(3).split())
        out.append('extern "Python" %s _hitl_py_%s(%s);' % (ret, name, args))
    return out


def generate_cdef(header=DEFAULT_HEADER, cc=None):
    """The full cdef for `header`: declarations, constants, callbacks."""
    decls = _run_cpp(header, cc, ["-P"])
    decls = "\n".join(line for line in decls.splitlines() if line.strip())
    parts = [decls, "", "/* macros of hitl.h */"] + _macro_decls(header, cc)
    parts += ["", "/* Python implementations of the callback types */"]
    parts += _callback_externs(decls)
    return "\n".join(parts) + "\n"


def _pkg_config(package):
    pc = os.environ.get("PKG_CONFIG") or "pkg-config"
    res = subprocess.run(shlex.split(pc) + ["--cflags", "--libs", package],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    if res.returncode != 0:
        sys.exit("build_hitl.py: pkg-config cannot find %s (install libhitl "
                 "or set PKG_CONFIG_PATH to the directory of libhitl.pc):\n%s"
                 % (package, res.stderr))
    kw = {"include_dirs": [], "library_dirs": [], "libraries": [],
          "extra_compile_args": [], "extra_link_args": []}
    for flag in shlex.split(res.stdout):
        if flag.startswith("-I"):
            kw["include_dirs"].append(flag[2:])
        elif flag.startswith("-L"):
            kw["library_dirs"].append(flag[2:])
        elif flag.startswith("-l"):
            kw["libraries"].append(flag[2:])
        elif flag.startswith("-Wl,-rpath") or flag == "-rpath":
            continue  # never bake a search path into the module
        else:
            kw["extra_link_args"].append(flag)
    return kw


def make_ffi(header=DEFAULT_HEADER, cc=None, package="libhitl"):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef(generate_cdef(header, cc))
    kw = _pkg_config(package)
    kw["extra_compile_args"] += STRICT_FLAGS
    ffi.set_source(MODULE, '#include "hitl.h"\n', **kw)
    return ffi


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header", default=DEFAULT_HEADER,
                    help="hitl.h to generate the declarations from")
    ap.add_argument("--outdir", default=".",
                    help="where the hitl/ package directory is built")
    ap.add_argument("--cc", default=None,
                    help="C compiler used as the preprocessor (default $CC or cc)")
    ap.add_argument("--print-cdef", action="store_true",
                    help="print the generated cdef and exit")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.print_cdef:
        sys.stdout.write(generate_cdef(args.header, args.cc))
        return 0
    ffi = make_ffi(args.header, args.cc)
    os.makedirs(os.path.join(args.outdir, "hitl"), exist_ok=True)
    so = ffi.compile(tmpdir=args.outdir, verbose=args.verbose)
    print("built %s" % os.path.relpath(so))
    return 0


if __name__ == "__main__":
    sys.exit(main())
