"""Check an installed copy of the hitl package (run by `make installcheck`).

    installcheck.py --sitedir DIR --libdir DIR --readme README [--destdir D]

In a fresh interpreter started outside the build tree, with PYTHONPATH=DIR
only and LD_LIBRARY_PATH=libdir only: `import hitl` must load the installed
package, whose extension must link libhitl.so.0 by name without any RPATH or
RUNPATH (nothing of the build tree baked in) and load the installed library;
the README's Python example must run.  Also says whether the install
directory (without DESTDIR) is one the interpreter searches by itself.
"""
import argparse
import os
import re
import subprocess
import sys
import textwrap

CHECK = r'''
import glob, os, subprocess, sys
import hitl
sitedir, libdir = sys.argv[1], sys.argv[2]
pkg = os.path.dirname(os.path.realpath(hitl.__file__))
assert pkg == os.path.realpath(os.path.join(sitedir, "hitl")), pkg
so, = glob.glob(os.path.join(pkg, "_hitl_cffi*.so"))
dyn = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE,
                     universal_newlines=True, check=True).stdout
assert "[libhitl.so.0]" in dyn, dyn
assert "RPATH" not in dyn and "RUNPATH" not in dyn, dyn
with open("/proc/self/maps") as f:
    libs = {l.split()[-1] for l in f if "libhitl.so" in l}
assert libs and all(os.path.dirname(os.path.realpath(p)) ==
                    os.path.realpath(libdir) for p in libs), libs
print("installed module:", so)
print("loaded library:  ", ", ".join(sorted(libs)))
'''


def readme_example(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^Python\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", text, re.S | re.M)
    block = re.search(r"((?:^    \S.*\n)+)", m.group(1), re.M)
    return textwrap.dedent(block.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sitedir", required=True)
    ap.add_argument("--libdir", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--destdir", default="")
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD",
                        "PYTHONHOME")}
    env["PYTHONPATH"] = a.sitedir
    env["LD_LIBRARY_PATH"] = a.libdir
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    run = lambda code, *args: subprocess.run(
        [sys.executable, "-c", code] + list(args), cwd="/", env=env)
    if run(CHECK, a.sitedir, a.libdir).returncode != 0:
        sys.exit("installcheck: the installed hitl package is broken")
    if run(readme_example(a.readme)).returncode != 0:
        sys.exit("installcheck: the README example fails with the installed package")
    final = a.sitedir[len(a.destdir):] if a.destdir else a.sitedir
    searched = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.argv[1] in sys.path)",
         os.path.normpath(final)], stdout=subprocess.PIPE,
        universal_newlines=True, env={k: v for k, v in env.items()
                                      if k != "PYTHONPATH"}).stdout.strip()
    print("%s %s %s by itself" % (sys.executable, "searches" if searched == "True"
                                  else "does NOT search (set PYTHONPATH)", final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
