"""The bindings cover the whole public header.

"Lack" is defined as follows.  A hitl_ function declared in include/hitl.h is
covered when BOTH
  1. the compiled cffi module exports it (hitl.lib has it: the cdef was
     generated from the header and compiled against it), AND
  2. the Python layer calls it: some module of the hitl package refers to
     `lib.<name>` (or names it in a class attribute `_c_* = "<name>"` that a
     shared method calls, e.g. _c_free), or it is listed in
     hitl.RAW_ONLY with the reason it is deliberately left to hitl.lib.
A header function failing either is lacking, and this test fails naming it.
The header is parsed here independently of build_hitl.py (a regex over the
comment-stripped text), so a declaration the generator dropped is caught too.
Likewise every enum, status code, callback type and constant of the header
must reach Python.
"""
import ast
import os
import re

import pytest

import hitl
from hitl import ffi, lib
from conftest import HEADER


def _header_text():
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_functions():
    names = re.findall(r"\bHITL_API\b[^;{}]*?\b(hitl_\w+)\s*\(", _header_text())
    assert len(names) > 40, "could not parse the header's functions"
    return set(names)


def header_enums():
    """{typedef name: {member: value}} of the header's enums."""
    out = {}
    for m in re.finditer(r"typedef\s+enum\s+\w*\s*\{(.*?)\}\s*(hitl_\w+)\s*;",
                         _header_text(), re.S):
        members = {}
        for item in m.group(1).split(","):
            if item.strip():
                name, _, value = item.partition("=")
                members[name.strip()] = int(value.strip(), 0)
        out[m.group(2)] = members
    return out


def python_calls():
    """Names of lib functions the hitl package's source uses."""
    pkg = os.path.dirname(hitl.__file__)
    used = set()
    for fname in os.listdir(pkg):
        if not fname.endswith(".py"):
            continue
        with open(os.path.join(pkg, fname), encoding="utf-8") as f:
            tree = ast.parse(f.read(), fname)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "lib" and node.attr.startswith("hitl_")):
                used.add(node.attr)
            # class attributes naming the C function a shared method calls:
            # _c_free = "hitl_pool_free", _c_set_param = "...", ...
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id.startswith("_c_")
                    for t in node.targets):
                for const in ast.walk(node.value):
                    if isinstance(const, ast.Constant) and \
                            str(const.value).startswith("hitl_"):
                        used.add(const.value)
            # self._create("hitl_X_create", ...): Handle._create calls it
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "_create" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                used.add(node.args[0].value)
    return used


def test_every_header_function_is_compiled_and_wrapped():
    declared = header_functions()
    compiled = {n for n in dir(lib) if n.startswith("hitl_")}
    wrapped = python_calls() | set(hitl.RAW_ONLY)
    not_compiled = sorted(declared - compiled)
    not_wrapped = sorted(declared - wrapped)
    assert not not_compiled, "absent from the compiled cffi module: %s" % not_compiled
    assert not not_wrapped, ("declared in hitl.h but not wrapped by the Python "
                             "layer (nor in hitl.RAW_ONLY): %s" % not_wrapped)


def test_raw_only_is_current():
    stale = sorted(set(hitl.RAW_ONLY) - header_functions())
    assert not stale, "hitl.RAW_ONLY names functions the header lacks: %s" % stale
    for name in hitl.RAW_ONLY:
        assert callable(getattr(lib, name))


def test_python_calls_exist():
    # a typo in the Python layer (lib.hitl_pol_add) would only fail when run
    missing = sorted(python_calls() - set(dir(lib)))
    assert not missing, missing


def test_every_enum_is_an_intenum():
    enums = header_enums()
    assert "hitl_status" in enums and "hitl_param" in enums
    for cname, members in enums.items():
        cls = next((c for c in vars(hitl).values()
                    if getattr(c, "_c_type", None) == cname), None)
        assert cls is not None, "no hitl IntEnum for %s" % cname
        assert {m.value for m in cls} == set(members.values()), cname
        for name, value in members.items():
            assert getattr(lib, name) == value
            assert any(name.endswith("_" + m.name) or name == "HITL_" + m.name
                       for m in cls if m.value == value), (cname, name)


def test_every_status_has_its_exception():
    for name, value in header_enums()["hitl_status"].items():
        if value == 0:
            continue
        cls = hitl.errors.STATUS_CLASSES.get(value)
        assert cls is not None, "no explicit exception class for %s" % name
        assert issubclass(cls, hitl.Error) and cls is not hitl.Error
        assert getattr(hitl, cls.__name__) is cls
    assert len(set(hitl.errors.STATUS_CLASSES.values())) == \
        len(hitl.errors.STATUS_CLASSES)


def test_every_callback_type_has_a_python_implementation():
    fns = re.findall(r"typedef[^;]*?\(\s*\*\s*(hitl_(\w+)_fn)\s*\)", _header_text())
    assert fns
    for typedef, stem in fns:
        impl = getattr(lib, "_hitl_py_" + stem)
        assert ffi.typeof(impl) is ffi.typeof(typedef), typedef


def test_integer_constants_reach_python():
    for name, value in re.findall(r"#define\s+(HITL_\w+)\s+(\d+)\s*$",
                                  _header_text(), re.M):
        assert getattr(lib, name) == int(value), name
    assert hitl.__version__ == ffi.string(lib.HITL_VERSION_STRING).decode()
    assert hitl.library_version() == ffi.string(lib.hitl_version()).decode()
    assert lib.hitl_version_number() == lib.HITL_VERSION_NUMBER


def test_cdef_generator_matches_header():
    """build_hitl.py's output declares exactly the header's functions."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(HEADER), "..",
                                    "bindings", "python"))
    try:
        import build_hitl
    finally:
        sys.path.pop(0)
    cdef = build_hitl.generate_cdef(HEADER)
    generated = set(re.findall(r"\b(hitl_\w+)\s*\(", cdef))
    assert header_functions() <= generated
    assert "HITL_API" not in cdef and 'extern "C"' not in cdef


@pytest.mark.parametrize("name", sorted(header_functions()))
def test_function_is_reachable(name):
    assert callable(getattr(lib, name))
