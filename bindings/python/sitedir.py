"""Print where `make install` puts the hitl package, relative to a prefix.

    python3 sitedir.py PREFIX   ->   e.g. lib/python3.11/dist-packages

configure runs it with the interpreter the bindings are built for and
installs into ${exec_prefix}/<that>.  The choice: a site-packages directory
that this interpreter already searches and that lies under PREFIX, so
`make install` makes `import hitl` work with no PYTHONPATH (Debian's
/usr/bin/python3: /usr/local/lib/python3.X/dist-packages for /usr/local,
/usr/lib/python3/dist-packages for /usr; a virtualenv's own site-packages for
its prefix).  Under a prefix the interpreter does not search (/opt/...), the
standard layout lib/python3.X/site-packages, to be added to PYTHONPATH.
Exit status 2 says "not searched" (the path is printed all the same).
"""
import os
import site
import sys
import sysconfig


def searched_dirs():
    dirs = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:          # old virtualenv
        pass
    dirs += [p for p in sys.path
             if os.path.basename(p) in ("site-packages", "dist-packages")]
    return [os.path.normpath(d) for d in dirs]


def sitedir(prefix):
    prefix = os.path.normpath(prefix)
    for d in searched_dirs():
        if d.startswith(prefix.rstrip(os.sep) + os.sep):
            rel = os.path.relpath(d, prefix)
            # /usr also contains /usr/local/lib/...: that one belongs to the
            # /usr/local prefix, so take only PREFIX/lib*/...
            if rel.split(os.sep)[0].startswith("lib"):
                return rel, True
    path = sysconfig.get_path("platlib", "posix_prefix",
                              vars={"base": prefix, "platbase": prefix})
    return os.path.relpath(path, prefix), False


if __name__ == "__main__":
    rel, searched = sitedir(sys.argv[1])
    print(rel)
    sys.exit(0 if searched else 2)
