"""hitl.Stream (hitl_stream): ask a person about items as they arrive, within
a labeling budget, with the rules of hitl.h's "Stream selection"."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, pool_range, enum_value
from ._enums import StreamKind, StreamInfo
from . import _arrays

__all__ = ["Stream", "Decisions"]

Decisions = collections.namedtuple("Decisions", "ask weight n_asked")
Decisions.__doc__ = """Decisions for n arriving items, in order: ask (bool:
ask a person), weight (float32: the weight an asked item enters the fit
with, 1/p for IWAL, 1 otherwise; 0 when not asked; None from decide_pool,
which writes it to the pool) and n_asked."""


class Stream(Params, Handle):
    """Stream selection under a budget (hitl_stream).

    Stream(kind="variable_uncertainty", seed=None, **params): kind is a
    hitl.StreamKind, its value or name (random, fixed_uncertainty,
    variable_uncertainty, randomized_uncertainty, split, quantile_filter,
    iwal); params are the STREAM_* hitl.Param names with or without the
    prefix (budget, threshold, step, delta, split, window, tolerance,
    mellowness, seed).  Decisions depend only on the items seen before, so
    deciding in batches of any size gives the same answers.
    Thread-safety: decide*, add_loss and set_param change the stream (one
    thread at a time); info, get_param and to_bytes are concurrent reads.
    Pickles as its saved record (to_bytes)."""
    _c_free = "hitl_stream_free"
    _c_set_param = "hitl_stream_set_param"
    _c_get_param = "hitl_stream_get_param"
    _param_prefix = "STREAM_"

    def __init__(self, kind=StreamKind.VARIABLE_UNCERTAINTY, seed=None, **params):
        kind = enum_value(StreamKind, kind, "stream kind")
        self._create("hitl_stream_create", kind)
        self.kind = kind
        if seed is not None:
            params["seed"] = seed
        self._configure(params)

    budget = property(lambda self: self.get_param("budget"),
                      lambda self, v: self.set_param("budget", v))

    def info(self, what):
        """One figure (hitl.StreamInfo member or name: seen, asked, rate,
        spending, threshold, weight_sum)."""
        v = ffi.new("double *")
        check(lib.hitl_stream_get_info(v, self._ptr,
                                       enum_value(StreamInfo, what, "stream info")))
        return v[0]

    def report(self):
        return {i.name.lower(): self.info(i) for i in StreamInfo}

    @staticmethod
    def _outputs(n):
        ask, pa = _arrays.out(n, np.uint8, "uint8_t")
        wt, pw = _arrays.out(n, np.float32, "float")
        return ask, wt, pa, pw

    def decide(self, proba):
        """Decide the rows of proba (n, K) in order: Decisions.  float32
        C-contiguous input is read in place, other input converted once."""
        a = proba if isinstance(proba, np.ndarray) else np.asarray(proba)
        p, pp = _arrays.table(a, None, "proba")
        n, K = p.shape
        ask, wt, pa, pw = self._outputs(n)
        c = ffi.new("size_t *")
        check(lib.hitl_stream_decide(c, pa, pw, self._ptr, pp, n, K))
        return Decisions(ask.view(np.bool_), wt, c[0])

    def decide_rows(self, model, X):
        """Score the rows of X (n, dim) with `model` on this thread and
        decide them: Decisions.  While the model is not fitted every item
        counts as maximally uncertain."""
        r = _arrays.rows(X, model._dim, "X")
        ask, wt, pa, pw = self._outputs(r.n)
        c = ffi.new("size_t *")
        check(lib.hitl_stream_decide_rows(c, pa, pw, self._ptr, model._ptr,
                                          r.ptr, r.n, r.stride), model)
        return Decisions(ask.view(np.bool_), wt, c[0])

    def decide_pool(self, model, pool, first=0, n=None):
        """Decide pool items first..first+n-1 (newly arrived), scored through
        the model's streaming scorer; asked items get their weight as pool
        weight.  Decisions with weight None."""
        first, n = pool_range(pool, first, n)
        ask, pa = _arrays.out(n, np.uint8, "uint8_t")
        c = ffi.new("size_t *")
        check(lib.hitl_stream_decide_pool(c, pa, self._ptr, model._ptr,
                                          pool._ptr, first, n), model)
        return Decisions(ask.view(np.bool_), None, c[0])

    def add_loss(self, loss, weight=1.0):
        """Report an asked item's loss in [0, 1] with its weight (IWAL)."""
        check(lib.hitl_stream_add_loss(self._ptr, float(loss), float(weight)))

    def to_bytes(self):
        """Kind, parameters and state in libhitl's checksummed format."""
        size = ffi.new("size_t *")
        check(lib.hitl_stream_save_size(size, self._ptr))
        buf = bytearray(size[0])
        written = ffi.new("size_t *")
        check(lib.hitl_stream_save(written, ffi.from_buffer(buf), len(buf),
                                   self._ptr))
        return bytes(buf[:written[0]])

    @classmethod
    def from_bytes(cls, data):
        """A stream from to_bytes() output; it decides as the saved one
        would have.  FormatError if corrupt or truncated."""
        buf = ffi.from_buffer(memoryview(data).cast("B"))
        out = ffi.new("hitl_stream **")
        check(lib.hitl_stream_load(out, buf, len(buf)))
        self = cls.__new__(cls)
        self._own(out[0])
        self.kind = StreamKind(int(round(_kind_of(data))))
        return self

    def __reduce__(self):
        return (Stream.from_bytes, (self.to_bytes(),))

    def _describe(self):
        return "%s budget=%g seen=%d" % (self.kind.name.lower(), self.budget,
                                         self.info("seen"))


def _kind_of(data):
    """The kind field of a stream record (after magic and version)."""
    return int.from_bytes(bytes(data[12:16]), "little")
