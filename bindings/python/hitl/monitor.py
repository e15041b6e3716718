"""hitl.DriftMonitor (hitl_drift_monitor): has the world a deployed model
sees changed?  Page-Hinkley, ADWIN and the population stability index on
the routed items' confidences and on the reviewed items' errors."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, enum_value
from ._enums import DriftInfo, DriftEventInfo, DriftDetector, DriftStream

__all__ = ["DriftMonitor", "DriftEvent"]

DriftEvent = collections.namedtuple(
    "DriftEvent", "index detector stream at change_at before after "
                  "statistic threshold harmful")
DriftEvent.__doc__ = """One detection: detector (hitl.DriftDetector), stream
(hitl.DriftStream), at (items of that stream seen when it fired), change_at
(the estimated change point), before/after (the stream's mean on each side),
statistic and threshold (it fired because statistic > threshold), harmful
(confidence fell or errors rose: it raised the alert)."""


class DriftMonitor(Params, Handle):
    """Change detectors on a deployed model's confidences and on the errors
    its reviewers find (see "Drift in deployment" in hitl.h).

    DriftMonitor(router=None, **params): params are the MONITOR_* hitl.Param
    names with or without the prefix (detectors, ph_delta, ph_lambda,
    ph_alpha, ph_min, adwin_delta, adwin_buckets, adwin_clock, psi_window,
    psi_bins, psi_threshold, psi_alpha).  With a router, a harmful event
    puts it on alert (its param route_alert): it routes with the larger of
    its threshold and route_alert_threshold until calibrated again.

    Borrowed: the router, kept alive by the monitor while linked.  Arrays
    are read only during observe().

    Pickling: pickle and copy.deepcopy copy the whole state (to_bytes), not
    the router link.

    Thread-safety: one thread at a time; observe() also changes the linked
    router, which no other thread may use meanwhile.  events()/info() are
    concurrent reads.

    >>> m = hitl.DriftMonitor(detectors="adwin")
    >>> rng = np.random.default_rng(0)
    >>> ok = np.r_[rng.random(3000) > 0.05, rng.random(3000) > 0.4]
    >>> m.observe(correct=ok) >= 1, m.alert
    (True, True)
    >>> e = m.events()[0]
    >>> e.stream.name, e.at > 3000, round(e.before, 2) < round(e.after, 2)
    ('ERROR', True, True)
    """
    _c_free = "hitl_drift_monitor_free"
    _c_set_param = "hitl_drift_monitor_set_param"
    _c_get_param = "hitl_drift_monitor_get_param"
    _param_prefix = "MONITOR_"

    def __init__(self, router=None, **params):
        if isinstance(params.get("detectors"), str):
            params["detectors"] = self._detectors(params["detectors"])
        self._create("hitl_drift_monitor_create")
        self._router = None
        self._configure(params, *([lambda: setattr(self, "router", router)]
                                  if router is not None else []))

    @staticmethod
    def _detectors(names):
        """'adwin' or 'page_hinkley+psi' as the sum of DriftDetector bits."""
        return sum(int(enum_value(DriftDetector, n, "drift detector"))
                   for n in names.replace(",", "+").split("+"))

    @property
    def router(self):
        """The linked hitl.Router (None); assign one, or None to unlink."""
        return self._router

    @router.setter
    def router(self, router):
        check(lib.hitl_drift_monitor_set_router(
            self._ptr, ffi.NULL if router is None else router._ptr))
        self._router = router

    def observe(self, confidence=None, correct=None):
        """Feed confidences (e.g. Router.route(...).confidence) and then
        reviewed outcomes (True where the model's label was right); returns
        the number of events this call logged."""
        c = np.ascontiguousarray([] if confidence is None else confidence,
                                 dtype=np.float32).ravel()
        r = np.ascontiguousarray([] if correct is None else correct,
                                 dtype=np.uint8).ravel()
        n = ffi.new("size_t *")
        check(lib.hitl_drift_monitor_observe(
            n, self._ptr, ffi.from_buffer("float[]", c) if len(c) else ffi.NULL,
            len(c), ffi.from_buffer("uint8_t[]", r) if len(r) else ffi.NULL,
            len(r)))
        return n[0]

    def reset(self):
        """After refitting and recalibrating: clear the alert, restart the
        detectors, take a new PSI reference.  Returns self."""
        check(lib.hitl_drift_monitor_reset(self._ptr))
        return self

    def info(self, what):
        """One figure (hitl.DriftInfo member or name)."""
        v = ffi.new("double *")
        check(lib.hitl_drift_monitor_get_info(
            v, self._ptr, enum_value(DriftInfo, what, "drift info")))
        return v[0]

    alert = property(lambda self: bool(self.info(DriftInfo.ALERT)),
                     doc="True after a harmful event, until reset().")

    def event(self, index):
        """Event `index` (0: the first since creation) as a DriftEvent;
        hitl.NotFound for one not in the log (the last 1024 are kept)."""
        v = ffi.new("double *")
        vals = []
        for f in DriftEventInfo:
            check(lib.hitl_drift_monitor_event(v, self._ptr, index, f))
            vals.append(v[0])
        det, stream, at, change_at, before, after, stat, thr, harm = vals
        return DriftEvent(index, DriftDetector(int(det)), DriftStream(int(stream)),
                          int(at), int(change_at), before, after, stat, thr,
                          bool(harm))

    def events(self, first=0):
        """The logged events from index `first` on (those still kept)."""
        n = int(self.info(DriftInfo.EVENTS))
        first = max(first, n - 1024, 0)
        return [self.event(i) for i in range(first, n)]

    def to_bytes(self):
        """The monitor's whole state (parameters, detectors, counts, alert,
        kept events; not the router) as bytes: DriftMonitor.from_bytes
        restores it, and the restored monitor goes on exactly as this one."""
        size = ffi.new("size_t *")
        check(lib.hitl_drift_monitor_save_size(size, self._ptr))
        buf = ffi.new("unsigned char[]", size[0])
        check(lib.hitl_drift_monitor_save(size, buf, size[0], self._ptr))
        return bytes(ffi.buffer(buf, size[0]))

    @classmethod
    def from_bytes(cls, data, router=None):
        """A monitor from to_bytes() output (hitl.FormatError if corrupt),
        linked to `router` if given."""
        out = ffi.new("hitl_drift_monitor **")
        check(lib.hitl_drift_monitor_load(out, data, len(data)))
        self = cls.__new__(cls)
        self._own(out[0])
        self._router = None
        if router is not None:
            self.router = router
        return self

    def __reduce__(self):
        # pickle/deepcopy: the state, not the router link
        return (DriftMonitor.from_bytes, (self.to_bytes(),))

    def _describe(self):
        return "events=%d alert=%s" % (self.info(DriftInfo.EVENTS), self.alert)
