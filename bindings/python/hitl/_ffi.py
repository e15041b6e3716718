"""Loads the compiled cffi module and checks it against the running library."""

try:
    from ._hitl_cffi import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the installation
    if "libhitl" in str(exc):
        raise ImportError(
            "hitl: the dynamic linker cannot load libhitl.so.0 (%s).  After "
            "`make install` run `ldconfig` (as root) so the linker sees the "
            "new library, or add its directory to LD_LIBRARY_PATH." % exc
        ) from exc
    if "undefined symbol: hitl_" in str(exc):
        raise ImportError(
            "hitl: the libhitl.so.0 that was loaded is older than the hitl.h "
            "the module was built against (%s): install the matching "
            "library, or check LD_LIBRARY_PATH." % exc) from exc
    raise

__all__ = ["ffi", "lib", "HEADER_VERSION", "library_version"]

# The header the module was compiled against, and the library that is running.
HEADER_VERSION = ffi.string(lib.HITL_VERSION_STRING).decode()


def library_version():
    return ffi.string(lib.hitl_version()).decode()


if lib.hitl_version_number() // 10000 != lib.HITL_VERSION_NUMBER // 10000:
    raise ImportError(
        "hitl: the module was built against libhitl %s but libhitl %s is "
        "loaded; their major versions differ, so rebuild the bindings"
        % (HEADER_VERSION, library_version()))
