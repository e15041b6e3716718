"""hitl.Audit (hitl_audit): are groups of people treated differently by the
loop?  Per group: items seen, shares auto-accepted and sent to review, the
model's error rate on reviewed items, the override rate, annotator
agreement and the share of the model's errors caught in review, each with
a Wilson interval; the largest between-group differences, Holm-corrected
two-proportion tests; a CSV / JSON Lines report."""
import io
import json

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, enum_value
from ._enums import AuditMetric, ReportFormat
from . import _arrays

__all__ = ["Audit"]

_INT64_MIN = -(1 << 63)


class Audit(Params, Handle):
    """Audit(n_attributes=1, **params): params level, alpha, min_gap (the
    AUDIT_* hitl.Param names without the prefix).

    Groups may be any hashable in Python (ints pass through; other values
    get codes in the order first seen, per attribute).

        audit = hitl.Audit(1)
        audit.set_groups(ids, ["north", "south", ...])
        audit.set_decisions(ids, routing.accept, routing.labels)
        audit.run(feedback)
        print(audit.report())          # CSV; report("jsonl"), to_frame()

    Thread-safety: figure()/gap()/report() are concurrent reads."""
    _c_free = "hitl_audit_free"
    _c_set_param = "hitl_audit_set_param"
    _c_get_param = "hitl_audit_get_param"
    _param_prefix = "AUDIT_"

    def __init__(self, n_attributes=1, **params):
        self._create("hitl_audit_create", size_arg(n_attributes, "n_attributes"))
        self._codes = [dict() for _ in range(n_attributes)]
        self._names = [dict() for _ in range(n_attributes)]
        self._configure(params)

    def _code(self, attribute, g):
        if isinstance(g, (int, np.integer)) and not isinstance(g, bool):
            return int(g)
        codes = self._codes[attribute]
        if g not in codes:
            c = len(codes) + 1
            codes[g] = -c          # negative codes: no clash with a caller's ints
            self._names[attribute][-c] = g
        return codes[g]

    def _name(self, attribute, code):
        return self._names[attribute].get(code, code)

    def set_groups(self, item_ids, groups, attribute=0):
        """Item item_ids[i] belongs to groups[i] of `attribute`."""
        groups = list(groups)
        ids, pi = _arrays.ids(item_ids, len(groups))
        codes = np.array([self._code(attribute, g) for g in groups], dtype=np.int64)
        if codes.size and codes.min() == _INT64_MIN:
            raise ValueError("group INT64_MIN is reserved")
        check(lib.hitl_audit_set_groups(self._ptr, attribute, pi,
                                        ffi.from_buffer("int64_t[]", codes), len(groups)))
        return self

    def set_decisions(self, item_ids, accept, labels):
        """The router's decisions (hitl.Routing's accept and labels)."""
        acc = np.ascontiguousarray(np.asarray(accept).astype(np.uint8).reshape(-1))
        ids, pi = _arrays.ids(item_ids, acc.shape[0])
        lab, pl = _arrays.ints(labels, "int32_t", "labels", acc.shape[0])
        check(lib.hitl_audit_set_decisions(self._ptr, pi, ffi.from_buffer("uint8_t[]", acc),
                                           pl, acc.shape[0]))
        return self

    def run(self, feedback, first=0, end=None):
        """Audit events first..end-1 of the feedback (end None: all)."""
        check(lib.hitl_audit_run(self._ptr, feedback._ptr, first,
                                 (1 << 64) - 1 if end is None else end))
        return self

    def groups(self, attribute=0):
        count = ffi.new("size_t *")
        check(lib.hitl_audit_groups(count, ffi.NULL, 0, self._ptr, attribute))
        out = np.empty(count[0], dtype=np.int64)
        check(lib.hitl_audit_groups(count, ffi.from_buffer("int64_t[]", out), len(out),
                                    self._ptr, attribute))
        return [self._name(attribute, int(g)) for g in out]

    def figure(self, group, metric, attribute=0):
        """(value, lower, upper, n) of a metric (hitl.AuditMetric or name)."""
        v, lo, hi = ffi.new("double *"), ffi.new("double *"), ffi.new("double *")
        n = ffi.new("size_t *")
        check(lib.hitl_audit_figure(v, lo, hi, n, self._ptr, attribute,
                                    self._code(attribute, group),
                                    enum_value(AuditMetric, metric, "metric")))
        return v[0], lo[0], hi[0], n[0]

    def gap(self, metric, attribute=0):
        """The largest difference of a metric between two groups: dict of
        group_a, group_b, difference, p_adjusted, flagged."""
        a, b = ffi.new("int64_t *"), ffi.new("int64_t *")
        d, p, f = ffi.new("double *"), ffi.new("double *"), ffi.new("int *")
        check(lib.hitl_audit_gap(a, b, d, p, f, self._ptr, attribute,
                                 enum_value(AuditMetric, metric, "metric")))
        return {"group_a": self._name(attribute, a[0]),
                "group_b": self._name(attribute, b[0]),
                "difference": d[0], "p_adjusted": p[0], "flagged": bool(f[0])}

    def caught_flag(self, group, attribute=0):
        """(flagged, p_adjusted) of the equal-opportunity check of a group."""
        f, p = ffi.new("int *"), ffi.new("double *")
        check(lib.hitl_audit_caught_flag(f, p, self._ptr, attribute,
                                         self._code(attribute, group)))
        return bool(f[0]), p[0]

    def report(self, format="csv"):
        """The report as text: "csv" or "jsonl" (group codes as in C)."""
        fmt = enum_value(ReportFormat, format.upper() if isinstance(format, str)
                         else format, "format")
        n = ffi.new("size_t *")
        check(lib.hitl_audit_report(n, ffi.NULL, 0, self._ptr, fmt))
        buf = ffi.new("char[]", n[0] + 1)
        check(lib.hitl_audit_report(n, buf, n[0] + 1, self._ptr, fmt))
        return ffi.string(buf).decode("utf-8")

    def records(self):
        """The report's lines as dicts, groups by their Python names."""
        out = []
        for line in io.StringIO(self.report("jsonl")):
            r = json.loads(line)
            for key in ("group", "group_a", "group_b"):
                if key in r:
                    r[key] = self._name(r["attribute"], r[key])
            out.append(r)
        return out

    def to_frame(self):
        """records() as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame.from_records(self.records())
