"""What every wrapper shares: owned handles, status checks, argument checks."""
import operator
import os
import sys
import weakref

from ._ffi import ffi, lib
from ._enums import ENUMS, Param, Status
from .errors import InvalidArgument, StateError, raise_status


def enum_value(cls, value, what):
    """`value` as a member of `cls`: a member, its int value or its name
    (case-insensitive, '-' or ' ' for '_').  Unknown values raise the
    library's InvalidArgument."""
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        if key in cls.__members__:
            return cls[key]
        raise InvalidArgument("unknown %s %r; known: %s"
                              % (what, value, ", ".join(m.name.lower() for m in cls)))
    try:
        return cls(value)
    except (ValueError, TypeError):
        raise InvalidArgument("unknown %s %r; known: %s"
                              % (what, value, ", ".join(m.name.lower() for m in cls))) from None


_ECALLBACK = int(Status.ECALLBACK)
_SIZE_MAX = 2 ** (8 * ffi.sizeof("size_t")) - 1


def check(status, *sources):
    """Raise for a negative status.  `sources` are the wrappers whose Python
    callbacks the call may have run: when the status is HITL_ECALLBACK and one
    of them recorded an exception, that original exception is raised."""
    if status >= 0:
        return status
    if status == _ECALLBACK:
        for src in sources:
            for cb in src._callback_states():
                exc = cb.take()
                if exc is not None:
                    raise exc
    raise_status(status)


def _destroy(free, keep):
    # The closure holds `keep` until cffi drops the destructor, which happens
    # right after it ran: borrowed memory outlives the C handle.
    def destructor(ptr, _keep=keep):
        free(ptr)
    return destructor


class Handle:
    """An owned libhitl handle.  close() (or leaving a `with` block) frees it
    at once; if neither happens, ffi.gc frees it when the object is collected.
    Freeing happens exactly once either way.  Anything in `keep` (borrowed
    arrays, other handles it borrows, callback state) stays alive until the
    C handle has been freed."""

    _c_free = None      # name of the lib function that frees this handle
    _h = None
    _owner = None       # set for a handle borrowed from another one

    def _own(self, ptr, keep=()):
        self._h = ffi.gc(ptr, _destroy(getattr(lib, self._c_free), keep))
        self._dependents = weakref.WeakSet()

    def _create(self, create, *args, keep=()):
        """Own the handle that lib.<create>(out, *args) makes; the out
        type is the handle's name, from create (hitl_X_create: hitl_X **)."""
        out = ffi.new(create[:-len("_create")] + " **")
        check(getattr(lib, create)(out, *args))
        self._own(out[0], keep)

    def _configure(self, params, *steps):
        """A new handle's set_params(**params), then each step; if any
        fails, close the handle before raising, so a rejected constructor
        leaves no half-made handle waiting for the collector."""
        try:
            self.set_params(**params)
            for step in steps:
                step()
        except BaseException:
            self.close()
            raise

    def _borrow(self, ptr, owner):
        """Wrap a handle that `owner` frees (e.g. a committee's member): it
        is usable while the owner is open and close() only forgets it."""
        self._h = ptr
        self._owner = owner
        self._dependents = weakref.WeakSet()

    @property
    def _ptr(self):
        h = self._h
        if h is None or (self._owner is not None and self._owner.closed):
            raise StateError("%s is closed" % type(self).__name__,
                             Status.ESTATE)
        return h

    def _callback_states(self):
        return ()

    @property
    def closed(self):
        return self._h is None or (self._owner is not None and self._owner.closed)

    def close(self):
        """Free the C handle now (idempotent).  Handles that borrow this one
        (e.g. a Feedback on a Pool) are closed first."""
        for dep in list(getattr(self, "_dependents", ())):
            dep.close()
        h, self._h = self._h, None
        if h is not None and self._owner is None:
            ffi.release(h)

    def _add_dependent(self, other):
        self._dependents.add(other)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else self._describe()
        return "<hitl.%s %s>" % (type(self).__name__, state)

    def _describe(self):
        return "open"

    def __reduce__(self):
        raise TypeError("hitl.%s objects cannot be pickled or copied"
                        % type(self).__name__)


class Params:
    """set_param/get_param/set_params/get_params for a handle kind whose C
    functions are named by _c_set_param/_c_get_param.  Parameters are
    hitl.Param members, values or names; in set_params keywords the
    handle's own prefix may be left out (Router: threshold= for
    route_threshold)."""
    _c_set_param = _c_get_param = None
    _param_prefix = ""

    def _param(self, key):
        if isinstance(key, str) and self._param_prefix:
            full = self._param_prefix + key.upper()
            if full in Param.__members__:
                return Param[full]
        return enum_value(Param, key, "parameter")

    def set_param(self, param, value):
        """Set a hitl.Param of this handle; InvalidArgument when out of range
        or another handle kind's.  A parameter whose values are a C enum
        (cold_start, aggregation, base) also takes a member name."""
        param = self._param(param)
        if isinstance(value, str):
            value = _param_enum_value(param, value)
        check(getattr(lib, self._c_set_param)(
            self._ptr, param, float_arg(value, "value")))

    def get_param(self, param):
        v = ffi.new("double *")
        check(getattr(lib, self._c_get_param)(v, self._ptr, self._param(param)))
        return v[0]

    def set_params(self, **params):
        """set_param for each keyword (lower-case Param names).  Returns self."""
        for key, value in params.items():
            self.set_param(key, value)
        return self

    def get_params(self):
        """{name: value} of every parameter this handle has."""
        get = getattr(lib, self._c_get_param)
        v = ffi.new("double *")
        out = {}
        for p in Param:
            if get(v, self._ptr, p) == 0:
                name = p.name.lower()
                if self._param_prefix and name.startswith(self._param_prefix.lower()):
                    name = name[len(self._param_prefix):]
                out[name] = v[0]
        return out


# Parameters whose values are an enum not named after them.
_PARAM_ENUM_TYPES = {"BASE": "StrategyKind", "HYBRID_SELECT": "ColdStart"}


def _param_enum_value(param, name):
    """The value of enum member `name` for a parameter taking that enum:
    the enum named like the parameter (COLD_START: ColdStart) or listed
    above."""
    cls = ENUMS.get(_PARAM_ENUM_TYPES.get(param.name) or "".join(
        part.capitalize() for part in param.name.split("_")))
    if cls is None:
        raise InvalidArgument("parameter %s takes a number, got %r"
                              % (param.name.lower(), name))
    return int(enum_value(cls, name, param.name.lower()))


def size_arg(value, name):
    """A non-negative integer that fits size_t."""
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidArgument("%s must be an integer, got %r"
                              % (name, type(value).__name__)) from None
    if v < 0 or v > _SIZE_MAX:
        raise InvalidArgument("%s must be in [0, %d], got %d"
                              % (name, _SIZE_MAX, v))
    return v


def pool_range(pool, first, n):
    """(first, n) for "items first..first+n-1", n None meaning "to the end"."""
    first = size_arg(first, "first")
    if n is None:
        n = max(len(pool) - first, 0)
    return first, size_arg(n, "n")


def int_arg(value, name, lo, hi):
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidArgument("%s must be an integer, got %r"
                              % (name, type(value).__name__)) from None
    if not lo <= v <= hi:
        raise InvalidArgument("%s must be in [%d, %d], got %d"
                              % (name, lo, hi, v))
    return v


def u64_arg(value, name):
    return int_arg(value, name, 0, 2 ** 64 - 1)


def i32_arg(value, name):
    return int_arg(value, name, -2 ** 31, 2 ** 31 - 1)


def float_arg(value, name):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidArgument("%s must be a number, got %r"
                              % (name, value)) from None


def path_arg(path):
    return ffi.new("char[]", os.fsencode(path))


if sys.version_info >= (3, 11):
    def add_note(exc, note):
        exc.add_note(note)
else:  # pragma: no cover
    def add_note(exc, note):
        pass
