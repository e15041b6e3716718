"""hitl.Feedback: what people answered (hitl_feedback): events, aggregation
over several annotators, consensus control and the journal (audit trail)."""
import collections
import datetime
import math
import os

import numpy as np

from ._ffi import ffi, lib
from ._base import (Handle, Params, check, size_arg, int_arg, u64_arg,
                    i32_arg, float_arg, path_arg, enum_value)
from ._enums import (Aggregation, EventKind, Consensus, AnnotatorInfo,
                     FeedbackInfo, Role, Settlement)
from .errors import InvalidArgument
from . import _arrays

__all__ = ["Feedback", "Event", "ItemConsensus", "ItemSettlement"]

Event = collections.namedtuple(
    "Event", "id kind item_id annotator label confidence shown_label "
             "shown_confidence timestamp reason target retracted_by")
Event.__doc__ = """One recorded event (hitl_feedback_event, _event_links,
_event_reason).  confidence/shown_confidence are None when not given,
label/shown_label -1, timestamp is microseconds since the Unix epoch,
reason a str or None, target/retracted_by event ids or None."""

ItemConsensus = collections.namedtuple(
    "ItemConsensus", "status label confidence agreement n_labels")
ItemConsensus.__doc__ = """An item's aggregation (hitl_feedback_item):
status (hitl.Consensus), label (-1 for NONE), confidence and agreement
(NaN without labels), n_labels."""

ItemSettlement = collections.namedtuple("ItemSettlement", "how event_id")
ItemSettlement.__doc__ = """How an item's label was settled
(hitl_feedback_settlement): how (hitl.Settlement: NONE, VOTE, MODEL,
AUTHORITY, GOLD) and the deciding event's id (AUTHORITY, GOLD) or None."""

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _nan(x, name):
    return math.nan if x is None else float_arg(x, name)


def _none_if_nan(x):
    return None if math.isnan(x) else x


def _timestamp(ts):
    """None -> HITL_TIME_NOW; a datetime (naive = UTC) or int microseconds."""
    if ts is None:
        return lib.HITL_TIME_NOW
    if isinstance(ts, datetime.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=datetime.timezone.utc)
        return (ts - _EPOCH) // datetime.timedelta(microseconds=1)
    return int_arg(ts, "timestamp", -2 ** 63, 2 ** 63 - 1)


def _reason(reason):
    if reason is None:
        return ffi.NULL
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    if not isinstance(reason, (bytes, bytearray)):
        raise InvalidArgument("reason must be str or bytes, got %r"
                              % type(reason).__name__)
    if b"\0" in reason:
        raise InvalidArgument("reason must not contain NUL bytes")
    return ffi.new("char[]", bytes(reason))


class Feedback(Params, Handle):
    """A record of human answers about the items of a pool, an append-only
    log of events that keeps the pool (states, labels, weights) in step.
    See hitl.h ("Feedback") for aggregation, consensus and the journal.

    Feedback(pool, **params): params are the 40x hitl.Param names
    (aggregation, min_annotators, min_agreement, min_confidence, n_classes,
    em_max_iter, em_tol, confidence_weights, drift_window, drift_alpha,
    ds_prior).  The aggregation defaults to "recommended" (HITL_AGGREGATE_
    RECOMMENDED: majority vote, one coin or Dawid-Skene chosen by the
    evidence, constant annotators left out; see hitl.h, "Aggregation"), so
    fb.get_params()["aggregation"] is Aggregation.RECOMMENDED unless set.
    Until the first aggregation (aggregate(), a parameter change that calls
    for a fit, open_journal) items are decided by majority vote; the fit
    then costs a second or two on 100,000 items.  A journal written before
    RECOMMENDED was the default, that never set a method, still replays
    under "majority".

    Borrowed: the pool, for the Feedback's whole life: every answer also
    writes the pool's state, label and weight.  The Feedback keeps its pool
    alive; closing the pool closes the Feedback first.  It does not pickle:
    its journal (open_journal) is its saved form.

    Not thread-safe: one thread at a time, and the pool must not be
    used elsewhere while answers are recorded or aggregated.

    >>> pool = hitl.Pool.from_array(np.zeros((4, 2)), ids=[10, 11, 12, 13])
    >>> fb = hitl.Feedback(pool); fb.label(11, 1, annotator=1); fb.label(11, 1, annotator=2)
    >>> len(fb), pool.item(pool.find(11))
    (2, Item(id=11, state=<ItemState.LABELED: 1>, label=1))
    """
    _c_free = "hitl_feedback_free"
    _c_set_param = "hitl_feedback_set_param"
    _c_get_param = "hitl_feedback_get_param"
    journal_path = None     # the open journal's path, set by open_journal

    def __init__(self, pool, **params):
        # The pool's C handle must outlive ours, even when both become garbage
        # together: the destructor's closure holds it.
        self._create("hitl_feedback_create", pool._ptr, keep=(pool._h,))
        self.pool = pool
        pool._add_dependent(self)
        self._configure(params)

    def close(self):
        """Close the journal (if open; raising FileIOError if its last sync
        fails) and free the handle; the pool keeps its labels."""
        err = None
        if self._h is not None and not self.closed:
            try:
                self.close_journal()
            except BaseException as exc:     # freed below all the same
                err = exc
        super().close()
        if err is not None:
            raise err

    # -- recording ------------------------------------------------------------
    def record(self, item_id, kind=EventKind.LABEL, label=-1, annotator=0,
               confidence=None, shown_label=-1, shown_confidence=None,
               timestamp=None, reason=None, shown=None):
        """Record an answer (hitl_feedback_record): kind LABEL, OVERRIDE,
        CONFIRM or SKIP (a hitl.EventKind, value or name) about item
        `item_id`, or GOLD (its known answer; label -1 clears it).  confidence / shown_confidence: None for none;
        shown_label: the model's pre-annotation or -1; timestamp: None for
        now, a datetime, or microseconds since the epoch; reason: text;
        shown: the explanation shown with the pre-annotation, as (feature,
        contribution) pairs (at most 16; hitl_feedback_record_shown), e.g.
        a row of Model.explain's toward_predicted.
        Returns the event id."""
        ev = ffi.new("uint64_t *")
        if shown is not None:
            pairs = list(shown)
            feats = np.array([int(f) for f, _ in pairs], dtype=np.int32)
            vals = np.array([float(v) for _, v in pairs], dtype=np.float32)
            check(lib.hitl_feedback_record_shown(
                ev, self._ptr, enum_value(EventKind, kind, "event kind"),
                u64_arg(item_id, "item_id"), u64_arg(annotator, "annotator"),
                i32_arg(label, "label"), _nan(confidence, "confidence"),
                i32_arg(shown_label, "shown_label"),
                _nan(shown_confidence, "shown_confidence"),
                ffi.from_buffer("int32_t[]", feats), ffi.from_buffer("float[]", vals),
                len(pairs), _timestamp(timestamp), _reason(reason)))
            return ev[0]
        check(lib.hitl_feedback_record(
            ev, self._ptr, enum_value(EventKind, kind, "event kind"),
            u64_arg(item_id, "item_id"), u64_arg(annotator, "annotator"),
            i32_arg(label, "label"), _nan(confidence, "confidence"),
            i32_arg(shown_label, "shown_label"),
            _nan(shown_confidence, "shown_confidence"),
            _timestamp(timestamp), _reason(reason)))
        return ev[0]

    def label(self, item_id, label, annotator=0):
        """Annotator `annotator` says item `item_id` (a caller id) has class
        `label` (>= 0).  NotFound for an unknown id."""
        check(lib.hitl_feedback_label(self._ptr, u64_arg(item_id, "item_id"),
                                      u64_arg(annotator, "annotator"),
                                      i32_arg(label, "label")))

    def label_many(self, item_ids, labels, annotator=0):
        """label() for each (id, label) pair.  Every id and label is checked
        first, so a bad one raises before anything is recorded."""
        ids = np.asarray(item_ids).reshape(-1)
        labs = np.asarray(labels).reshape(-1)
        if ids.shape != labs.shape:
            raise InvalidArgument("%d item ids but %d labels"
                                  % (ids.size, labs.size))
        if labs.size and labs.dtype.kind not in "iu":
            raise InvalidArgument("labels must be integers, got dtype %s"
                                  % labs.dtype)
        pairs = [(u64_arg(i, "item_id"), i32_arg(y, "label"))
                 for i, y in zip(ids.tolist(), labs.tolist())]
        annotator = u64_arg(annotator, "annotator")
        for item_id, y in pairs:
            if y < 0:
                raise InvalidArgument("label must be >= 0, got %d (item %d)"
                                      % (y, item_id))
            self.pool.find(item_id)            # NotFound before any change
        for item_id, y in pairs:
            self.label(item_id, y, annotator)

    def skip(self, item_id, annotator=0):
        """Annotator `annotator` declines to answer item `item_id`."""
        check(lib.hitl_feedback_skip(self._ptr, u64_arg(item_id, "item_id"),
                                     u64_arg(annotator, "annotator")))

    def retract(self, event_id, annotator=0, timestamp=None, reason=None):
        """Withdraw answer event `event_id`; returns the RETRACT event's id."""
        ev = ffi.new("uint64_t *")
        check(lib.hitl_feedback_retract(ev, self._ptr,
                                        u64_arg(event_id, "event_id"),
                                        u64_arg(annotator, "annotator"),
                                        _timestamp(timestamp), _reason(reason)))
        return ev[0]

    def set_gold(self, item_id, label, annotator=0, timestamp=None,
                 reason=None):
        """Declare item `item_id`'s known answer (None or -1 clears it),
        with an optional reason.  Returns the GOLD event's id."""
        if reason is not None:
            return self.record(item_id, EventKind.GOLD,
                               -1 if label is None else label, annotator,
                               timestamp=timestamp, reason=reason)
        ev = ffi.new("uint64_t *")
        check(lib.hitl_feedback_set_gold(
            ev, self._ptr, u64_arg(item_id, "item_id"),
            -1 if label is None else i32_arg(label, "label"),
            u64_arg(annotator, "annotator"), _timestamp(timestamp)))
        return ev[0]

    # -- the log ---------------------------------------------------------------
    def __len__(self):
        n = ffi.new("size_t *")
        check(lib.hitl_feedback_count(n, self._ptr))
        return n[0]

    count = property(__len__, doc="Events recorded (of every kind).")

    def event(self, event_id):
        """Event `event_id` with its links and reason (see hitl.Event)."""
        eid = u64_arg(event_id, "event_id")
        kind = ffi.new("hitl_event_kind *")
        item, annot = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        label, shown = ffi.new("int32_t *"), ffi.new("int32_t *")
        conf, sconf = ffi.new("double *"), ffi.new("double *")
        ts = ffi.new("int64_t *")
        check(lib.hitl_feedback_event(kind, item, annot, label, conf, shown,
                                      sconf, ts, self._ptr, eid))
        target, by = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        check(lib.hitl_feedback_event_links(target, by, self._ptr, eid))
        reason = ffi.new("const char **")
        check(lib.hitl_feedback_event_reason(reason, self._ptr, eid))
        none = lib.HITL_NO_EVENT
        return Event(eid, EventKind(kind[0]), item[0], annot[0], label[0],
                     _none_if_nan(conf[0]), shown[0], _none_if_nan(sconf[0]),
                     ts[0],
                     None if reason[0] == ffi.NULL else
                     ffi.string(reason[0]).decode("utf-8"),
                     None if target[0] == none else target[0],
                     None if by[0] == none else by[0])

    def event_shown(self, event_id):
        """The explanation recorded with event `event_id`: (feature,
        contribution) pairs, [] for none."""
        eid = u64_arg(event_id, "event_id")
        n = ffi.new("size_t *")
        feats, vals = ffi.new("int32_t[16]"), ffi.new("float[16]")
        check(lib.hitl_feedback_event_shown(n, feats, vals, 16, self._ptr, eid))
        return [(feats[i], vals[i]) for i in range(n[0])]

    def events(self):
        """Every event, in id order."""
        return [self.event(i) for i in range(len(self))]

    def overrides(self, shown_label=-1):
        """(shown, overridden): answers shown a pre-annotation (of class
        shown_label, or any with -1), and those that differ from it."""
        shown, over = ffi.new("size_t *"), ffi.new("size_t *")
        check(lib.hitl_feedback_overrides(shown, over, self._ptr,
                                          i32_arg(shown_label, "shown_label")))
        return shown[0], over[0]

    # -- aggregation ------------------------------------------------------------
    def aggregate(self):
        """Re-estimate (weights, Dawid-Skene) and re-aggregate every item, and
        write the pool.  Returns self."""
        check(lib.hitl_feedback_aggregate(self._ptr))
        return self

    def item(self, item_id):
        """ItemConsensus(status, label, confidence, agreement, n_labels)."""
        status = ffi.new("hitl_consensus *")
        label = ffi.new("int32_t *")
        conf, agree = ffi.new("double *"), ffi.new("double *")
        n = ffi.new("size_t *")
        check(lib.hitl_feedback_item(status, label, conf, agree, n, self._ptr,
                                     u64_arg(item_id, "item_id")))
        return ItemConsensus(Consensus(status[0]), label[0], conf[0],
                             agree[0], n[0])

    def settlement(self, item_id):
        """ItemSettlement(how, event_id): how the item's label was settled
        (by a vote, a model of the annotators, an authority or gold) and by
        which event."""
        how, ev = ffi.new("hitl_settlement *"), ffi.new("uint64_t *")
        check(lib.hitl_feedback_settlement(how, ev, self._ptr,
                                           u64_arg(item_id, "item_id")))
        return ItemSettlement(Settlement(how[0]),
                              None if ev[0] == lib.HITL_NO_EVENT else ev[0])

    def history(self, item_id):
        """The audit trail of item `item_id`: every event about it (answers,
        retractions, gold), oldest first, as hitl.Event records (who:
        annotator, when: timestamp, what: kind and label, why: reason, and
        retracted_by).

        >>> fb = hitl.Feedback(hitl.Pool.from_array(np.zeros((5, 2))))
        >>> fb.label(3, 1, annotator=1); _ = fb.set_role(7, "reviewer")
        >>> fb.record(3, "override", label=2, annotator=7, shown_label=1,
        ...           reason="the invoice says refund")
        1
        >>> [(e.annotator, e.kind.name, e.label) for e in fb.history(3)]
        [(1, 'LABEL', 1), (7, 'OVERRIDE', 2)]
        """
        count = ffi.new("size_t *")
        iid = u64_arg(item_id, "item_id")
        check(lib.hitl_feedback_history(count, ffi.NULL, 0, self._ptr, iid))
        ids = ffi.new("uint64_t[]", max(count[0], 1))
        check(lib.hitl_feedback_history(count, ids, count[0], self._ptr, iid))
        return [self.event(ids[i]) for i in range(count[0])]

    def set_role(self, annotator, role):
        """Give `annotator` an authority level: a hitl.Role ("annotator",
        "reviewer", "adjudicator") or an int in [0, 65535].  An answer of
        the highest level above 0 among an item's labels settles it,
        whatever the votes say; the annotator's items are re-decided now.
        Returns self."""
        if isinstance(role, str):
            role = enum_value(Role, role, "role")
        check(lib.hitl_feedback_set_role(self._ptr, u64_arg(annotator, "annotator"),
                                         i32_arg(role, "role")))
        return self

    def role(self, annotator):
        """The authority level of `annotator`: a hitl.Role when it is one of
        the named levels, else the int (0 for anyone never given a role)."""
        level = ffi.new("int32_t *")
        check(lib.hitl_feedback_role(level, self._ptr,
                                     u64_arg(annotator, "annotator")))
        try:
            return Role(level[0])
        except ValueError:
            return level[0]

    def _list(self, fn, *arrays):
        """Call a count/capacity function twice: size, then fill."""
        count = ffi.new("size_t *")
        check(fn(count, *([ffi.NULL] * len(arrays)), 0, self._ptr))
        n = count[0]
        outs = [_arrays.out(n, dtype, ctype) for dtype, ctype in arrays]
        check(fn(count, *[p for _, p in outs], n, self._ptr))
        return [a[:min(n, count[0])] for a, _ in outs]

    def pending(self):
        """Caller ids of the items that need another annotator (uint64)."""
        return self._list(lib.hitl_feedback_pending, (np.uint64, "uint64_t"))[0]

    def answers(self):
        """Every current label as arrays (item_ids, annotators, labels): the
        input of the agreement metrics (hitl.fleiss_kappa, ...)."""
        return tuple(self._list(lib.hitl_feedback_answers,
                                (np.uint64, "uint64_t"), (np.uint64, "uint64_t"),
                                (np.int32, "int32_t")))

    def annotators(self):
        """The annotators that have answered, in order of first answer."""
        return self._list(lib.hitl_feedback_annotators, (np.uint64, "uint64_t"))[0]

    def annotator_info(self, annotator, info):
        """A figure about an annotator (hitl.AnnotatorInfo member or name)."""
        v = ffi.new("double *")
        check(lib.hitl_feedback_annotator_info(
            v, self._ptr, u64_arg(annotator, "annotator"),
            enum_value(AnnotatorInfo, info, "annotator info")))
        return v[0]

    def annotator_report(self, annotator):
        """{name: value} of every AnnotatorInfo figure of `annotator`."""
        return {i.name.lower(): self.annotator_info(annotator, i)
                for i in AnnotatorInfo}

    def confusion(self, annotator, n_classes=None):
        """The last Dawid-Skene fit's confusion matrix of `annotator`,
        (K, K) float64: [k, l] = P(answers l | true class k)."""
        if n_classes is None:
            n_classes = int(self.info(FeedbackInfo.EM_CLASSES))
        n_classes = size_arg(n_classes, "n_classes")
        m, pm = _arrays.out((n_classes, n_classes), np.float64, "double")
        check(lib.hitl_feedback_confusion(pm, self._ptr,
                                          u64_arg(annotator, "annotator"),
                                          n_classes))
        return m

    def aggregation_used(self):
        """The hitl.Aggregation in force: the one set, or what RECOMMENDED
        chose at the last aggregation (MAJORITY, ONE_COIN or DAWID_SKENE;
        MAJORITY before its first)."""
        return Aggregation(int(self.info(FeedbackInfo.AGGREGATION_USED)))

    def info(self, what):
        """A figure about the handle (hitl.FeedbackInfo member or name)."""
        v = ffi.new("double *")
        check(lib.hitl_feedback_get_info(
            v, self._ptr, enum_value(FeedbackInfo, what, "feedback info")))
        return v[0]

    # -- journal -----------------------------------------------------------------
    def open_journal(self, path, fsync_every=1):
        """Attach the journal file at `path`: replay it if it has records,
        else write the events held so far.  fsync_every: 0 never, 1 every
        event, N every N-th.  Returns self.  journal_path then names the
        file (a saved learner session copies it)."""
        check(lib.hitl_feedback_open_journal(
            self._ptr, path_arg(path),
            int_arg(fsync_every, "fsync_every", 0, 2 ** 32 - 1)))
        self.journal_path = os.fspath(path)
        return self

    def sync(self):
        """fsync the journal now."""
        check(lib.hitl_feedback_sync(self._ptr))

    def close_journal(self):
        """Sync (unless the policy is 0) and close the journal."""
        check(lib.hitl_feedback_close_journal(self._ptr))
        self.journal_path = None

    def __reduce__(self):
        raise TypeError(
            "hitl.Feedback cannot be pickled or copied: it is an append-only "
            "log bound to one Pool, which it keeps writing, and to the "
            "journal file it appends to; a copy would either write the same "
            "journal twice or lose the link.  Its journal is its saved form: "
            "open_journal(path) on the live handle, then to resume, "
            "hitl.Feedback(copy_of_pool).open_journal(path) replays it "
            "(copy_of_pool: the pool as it was before the first answer)")

    def _describe(self):
        return "events=%d" % len(self)
