"""Python IntEnums for every enum type of hitl.h, built from the compiled cdef.

`typedef enum hitl_item_state {HITL_ITEM_UNLABELED = 0, ...} hitl_item_state;`
becomes `ItemState.UNLABELED == 0`: the class name is the type name without
`hitl_` in CamelCase, the member names lose the prefix they all share.  An
enum added to the header appears here after a rebuild, with no code change.
"""
import enum
import os

from ._ffi import ffi

__all__ = []


def _camel(typedef_name):
    return "".join(part.capitalize() for part in typedef_name[5:].split("_"))


def _member_prefix(names):
    prefix = os.path.commonprefix(list(names))
    return prefix[:prefix.rfind("_") + 1]


def _build():
    out = {}
    for name in ffi.list_types()[0]:
        if not name.startswith("hitl_"):
            continue
        ctype = ffi.typeof(name)
        if ctype.kind != "enum":
            continue
        elements = ctype.relements            # name -> value
        prefix = _member_prefix(elements) if len(elements) > 1 else "HITL_"
        members = {n[len(prefix):]: v
                   for n, v in sorted(elements.items(), key=lambda kv: kv[1])}
        cls = enum.IntEnum(_camel(name), members, module=__name__.rpartition(".")[0])
        cls.__doc__ = "Values of the C enum %s (hitl.h)." % name
        cls._c_type = name
        out[cls.__name__] = cls
    return out


ENUMS = _build()
globals().update(ENUMS)
__all__ += sorted(ENUMS)
