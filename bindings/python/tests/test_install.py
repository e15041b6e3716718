"""The compiled module (the file `make install` copies) links libhitl.so.0 by
name and records no library search path, so no build path is baked in; the
installed copy itself is checked by `make installcheck`
(bindings/python/installcheck.py)."""
import os
import subprocess

import hitl
import hitl._hitl_cffi


def dynamic_section():
    so = hitl._hitl_cffi.__file__
    out = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    return so, out


def test_links_libhitl_by_soname_without_rpath():
    so, dyn = dynamic_section()
    assert "[libhitl.so.0]" in dyn
    assert "RPATH" not in dyn and "RUNPATH" not in dyn, dyn


def test_loaded_library_is_the_build_trees():
    # check-python puts lib/.libs first on LD_LIBRARY_PATH; make sure the
    # module really uses that library and not an installed one
    builddir = os.environ.get("HITL_TOP_BUILDDIR")
    if not builddir:
        return
    with open("/proc/self/maps") as f:
        maps = [line.split()[-1] for line in f if "libhitl.so" in line]
    want = os.path.realpath(os.path.join(builddir, "lib", ".libs"))
    assert maps and all(os.path.dirname(os.path.realpath(p)) == want
                        for p in maps), maps
