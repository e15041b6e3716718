"""Feedback at depth: events, retractions, gold, aggregation and consensus,
the journal, through the Python layer."""
import datetime

import numpy as np
import pytest

import hitl
from hitl import EventKind, Consensus
from conftest import blobs


@pytest.fixture
def fb():
    X, _ = blobs(20, 3, 3, seed=1)
    pool = hitl.Pool.from_array(X, ids=[100 + i for i in range(20)])
    f = hitl.Feedback(pool)
    yield f
    pool.close()


def test_events_round_trip(fb):
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    e0 = fb.record(101, "override", label=2, annotator=7, confidence=0.8,
                   shown_label=1, shown_confidence=0.65, timestamp=when,
                   reason="the model missed the second stroke ✓")
    e1 = fb.record(102, EventKind.CONFIRM, label=1, annotator=7, shown_label=1,
                   shown_confidence=0.9)
    e2 = fb.record(103, "skip", annotator=8)
    assert (e0, e1, e2) == (0, 1, 2) and len(fb) == 3
    ev = fb.event(e0)
    assert ev.kind is EventKind.OVERRIDE and ev.item_id == 101
    assert ev.annotator == 7 and ev.label == 2 and ev.shown_label == 1
    assert ev.confidence == 0.8 and ev.shown_confidence == 0.65
    assert ev.timestamp == 1714564800 * 10**6
    assert ev.reason == "the model missed the second stroke ✓"
    assert ev.target is None and ev.retracted_by is None
    ev2 = fb.event(e2)
    assert ev2.kind is EventKind.SKIP and ev2.label == -1 and ev2.reason is None
    assert ev2.confidence is None and ev2.shown_confidence is None
    now = datetime.datetime.now(datetime.timezone.utc).timestamp() * 1e6
    assert abs(ev2.timestamp - now) < 60e6           # HITL_TIME_NOW: the clock
    assert fb.pool.item(1) == (101, hitl.ItemState.LABELED, 2)
    assert fb.pool.item(3).state == hitl.ItemState.SKIPPED
    assert fb.overrides() == (2, 1)
    assert fb.overrides(shown_label=1) == (2, 1)
    assert fb.overrides(shown_label=0) == (0, 0)
    assert [e.id for e in fb.events()] == [0, 1, 2]


def test_retract_brings_back_the_previous_answer(fb):
    first = fb.record(105, label=1, annotator=3)
    second = fb.record(105, label=2, annotator=3)
    assert fb.pool.item(5).label == 2
    r = fb.retract(second, annotator=9, reason="mis-click")
    assert fb.pool.item(5).label == 1
    assert fb.event(r).kind is EventKind.RETRACT
    assert fb.event(r).target == second
    assert fb.event(second).retracted_by == r
    assert fb.event(first).retracted_by is None
    with pytest.raises(hitl.InvalidArgument):
        fb.retract(second)                               # already retracted
    with pytest.raises(hitl.NotFound):
        fb.retract(999)
    assert len(fb) == 3


def test_bad_events_record_nothing(fb):
    for call, err in ((lambda: fb.record(101, "label", label=-5), hitl.InvalidArgument),
                      (lambda: fb.record(101, "retract"), hitl.InvalidArgument),
                      (lambda: fb.record(101, "override", label=1), hitl.InvalidArgument),
                      (lambda: fb.record(101, "label", label=1, confidence=2.0),
                       hitl.InvalidArgument),
                      (lambda: fb.record(101, label=1, reason="x" * 5000),
                       hitl.InvalidArgument),
                      (lambda: fb.record(101, label=1, reason=b"\xff\xfe"),
                       hitl.InvalidArgument),
                      (lambda: fb.record(101, label=1, reason="a\0b"),
                       hitl.InvalidArgument),
                      (lambda: fb.record(5, label=1), hitl.NotFound),
                      (lambda: fb.record(101, "nonsense", label=1), hitl.InvalidArgument),
                      (lambda: fb.set_gold(101, 70000), hitl.InvalidArgument)):
        with pytest.raises(err):
            call()
    assert len(fb) == 0
    assert fb.pool.count(hitl.ItemState.LABELED) == 0


def test_consensus_and_pending(fb):
    fb.set_params(min_annotators=2, min_agreement=0.6)
    assert fb.get_param("min_annotators") == 2
    fb.label(100, 1, annotator=1)
    assert fb.item(100).status is Consensus.PENDING
    assert list(fb.pending()) == [100]
    assert fb.pool.item(0).state == hitl.ItemState.UNLABELED
    fb.label(100, 1, annotator=2)
    c = fb.item(100)
    assert c.status is Consensus.RESOLVED and c.label == 1
    assert c.agreement == 1.0 and c.n_labels == 2 and c.confidence == 1.0
    assert fb.pool.item(0) == (100, hitl.ItemState.LABELED, 1)
    fb.label(104, 0, annotator=1)
    fb.label(104, 2, annotator=2)
    assert fb.item(104).status is Consensus.PENDING      # agreement 0.5
    assert list(fb.pending()) == [104]
    assert np.isnan(fb.item(110).confidence)
    assert fb.item(110).status is Consensus.NONE
    items, annots, labels = fb.answers()
    assert items.tolist() == [100, 100, 104, 104]
    assert annots.tolist() == [1, 2, 1, 2] and labels.tolist() == [1, 1, 0, 2]
    assert fb.annotators().tolist() == [1, 2]
    assert fb.info("pending") == 1 and fb.info(hitl.FeedbackInfo.RESOLVED) == 1


def test_gold_scores_annotators(fb):
    fb.set_gold(100, 1)
    fb.set_gold(101, 2)
    fb.label(100, 1, annotator=5)
    fb.label(101, 0, annotator=5)
    assert fb.item(100).status is Consensus.GOLD
    assert fb.annotator_info(5, "gold_answers") == 2
    assert fb.annotator_info(5, hitl.AnnotatorInfo.GOLD_ACCURACY) == 0.5
    report = fb.annotator_report(5)
    assert report["labels"] == 2 and report["gold_accuracy"] == 0.5
    fb.set_gold(101, None)                               # cleared
    assert fb.item(101).status is Consensus.RESOLVED
    with pytest.raises(hitl.NotFound):
        fb.annotator_info(99, "labels")


def test_dawid_skene_through_python():
    rng = np.random.default_rng(4)
    n, K = 300, 3
    truth = rng.integers(0, K, n)
    X, _ = blobs(n, 2, K, seed=3)
    accuracy = {1: 0.9, 2: 0.75, 3: 0.4}
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool, n_classes=K) as fb:
        for i in range(n):
            for a, acc in accuracy.items():
                y = truth[i] if rng.random() < acc else rng.integers(0, K)
                fb.label(i, int(y), annotator=a)
        fb.set_param("aggregation", hitl.Aggregation.DAWID_SKENE)
        fb.aggregate()
        assert fb.info("em_classes") == K and fb.info("em_iterations") >= 1
        ds = np.array([fb.item(i).label for i in range(n)])
        est = {a: fb.annotator_info(a, "ds_accuracy") for a in accuracy}
        assert est[1] > est[2] > est[3]
        C = fb.confusion(1)
        assert C.shape == (K, K)
        np.testing.assert_allclose(C.sum(axis=1), 1, atol=1e-9)
        assert (ds == truth).mean() > 0.85
        # the pool holds the aggregated labels, weighted by confidence
        assert pool.item(7).label == ds[7]


def test_annotator_drift_through_python():
    rng = np.random.default_rng(9)
    n, K = 300, 3
    truth = rng.integers(0, K, n)
    X, _ = blobs(n, 2, K, seed=5)
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        fb.set_params(drift_window=40, drift_alpha=0.01)
        for i in range(n):
            for a in (1, 2, 3):
                acc = 0.4 if a == 3 and i >= 200 else 0.95
                y = truth[i] if rng.random() < acc else (truth[i] + 1) % K
                fb.label(i, int(y), annotator=a)
        assert fb.get_params()["drift_window"] == 40
        assert fb.annotator_info(3, "drift") == 1
        assert fb.annotator_info(1, "drift") == 0
        info = fb.annotator_report(3)
        assert info["drift_before"] > info["drift_after"]
        with pytest.raises(hitl.InvalidArgument, match="DRIFT_WINDOW"):
            fb.set_param("drift_window", 1)


def test_parameters_replay_from_the_journal(tmp_path):
    """A journal records parameter changes and aggregations: the reopened
    handle has them without being told."""
    path = tmp_path / "params.journal"
    X, _ = blobs(12, 2, 3, seed=2)
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        fb.open_journal(path, fsync_every=0)
        for i in range(12):
            for a in (1, 2, 3):
                fb.label(i, (i + (a == 3)) % 3, annotator=a)
        fb.set_params(aggregation="dawid_skene", min_agreement=0.6)
        live = [fb.item(i) for i in range(12)]
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        fb.open_journal(path)
        assert fb.get_param("aggregation") == hitl.Aggregation.DAWID_SKENE
        assert fb.get_param("min_agreement") == 0.6
        assert [fb.item(i) for i in range(12)] == live


def test_journal_replays(tmp_path):
    path = tmp_path / "audit.journal"
    X, _ = blobs(10, 2, 2, seed=0)
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        fb.open_journal(path, fsync_every=1)
        fb.label(1, 1, annotator=4)
        e = fb.record(2, "override", label=0, annotator=4, shown_label=1,
                      reason="wrong class")
        fb.retract(e, annotator=6)
        fb.skip(3, annotator=4)
        fb.sync()
        assert fb.info("journal_open") == 1
        events = fb.events()
    assert path.stat().st_size > 16
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        fb.open_journal(str(path))
        assert fb.info("journal_replayed") == 4
        assert fb.events() == events
        assert pool.item(1) == (1, hitl.ItemState.LABELED, 1)
        assert pool.item(3).state == hitl.ItemState.SKIPPED
        with hitl.Feedback(pool) as other:
            with pytest.raises(hitl.FileIOError):           # locked
                other.open_journal(path)
        fb.close_journal()
        assert fb.info("journal_open") == 0
    path.write_bytes(b"not a journal at all, sorry")
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        with pytest.raises(hitl.FormatError):
            fb.open_journal(path)
        assert len(fb) == 0
        with pytest.raises(hitl.StateError):
            fb.sync()                                     # no journal


# -- authority, settlement, the audit trail ----------------------------------
@pytest.mark.parametrize("aggregation", ["majority", "weighted", "dawid_skene"])
def test_reviewer_override_settles(aggregation):
    X, _ = blobs(12, 3, 3, seed=2)
    pool = hitl.Pool.from_array(X)
    fb = hitl.Feedback(pool, aggregation=aggregation)
    for a in (1, 2, 3):
        for i in range(12):
            fb.label(i, i % 3, annotator=a)
    fb.aggregate()
    assert fb.item(4).label == 1
    assert fb.settlement(4).how in (hitl.Settlement.VOTE, hitl.Settlement.MODEL)
    fb.set_role(9, "reviewer")
    assert fb.role(9) is hitl.Role.REVIEWER and fb.role(1) is hitl.Role.ANNOTATOR
    e = fb.record(4, "override", label=2, annotator=9, shown_label=1,
                  reason="the scan shows a 2")
    fb.aggregate()
    assert fb.item(4).label == 2 and pool.item(4).label == 2
    assert fb.item(4).status is Consensus.RESOLVED
    assert fb.settlement(4) == (hitl.Settlement.AUTHORITY, e)
    fb.set_role(9, 0)                      # demoted: the vote again
    assert fb.item(4).label == 1
    fb.set_role(9, 300)                    # a numeric level
    assert fb.role(9) == 300 and fb.item(4).label == 2
    with pytest.raises(hitl.InvalidArgument, match="authority 70000"):
        fb.set_role(9, 70000)
    with pytest.raises(hitl.InvalidArgument, match="unknown role 'boss'"):
        fb.set_role(9, "boss")
    pool.close()


def test_history_and_gold_reason(fb):
    e0 = fb.label(101, 1, annotator=1) or 0
    e1 = fb.record(101, "override", label=2, annotator=2, shown_label=1,
                   reason="second look")
    e2 = fb.retract(e0, annotator=2, reason="duplicate")
    e3 = fb.set_gold(101, 2, annotator=5, reason="from the ledger")
    fb.label(102, 0, annotator=1)
    trail = fb.history(101)
    assert [e.id for e in trail] == [e0, e1, e2, e3]
    assert [e.kind for e in trail] == [EventKind.LABEL, EventKind.OVERRIDE,
                                       EventKind.RETRACT, EventKind.GOLD]
    assert trail[0].retracted_by == e2 and trail[3].reason == "from the ledger"
    assert fb.settlement(101) == (hitl.Settlement.GOLD, e3)
    assert fb.history(103) == []
    with pytest.raises(hitl.NotFound):
        fb.history(5)


def test_pool_class_count_refuses_before_writing(fb):
    pool = fb.pool
    assert pool.n_classes == 0
    pool.n_classes = 3
    with pytest.raises(hitl.InvalidArgument, match="not below the pool's 3 classes"):
        pool.set_label(0, 3)
    with pytest.raises(hitl.InvalidArgument, match="label 3 is not below the pool's 3"):
        fb.label(100, 3, annotator=1)
    assert len(fb) == 0 and pool.item(0).label == -1
    fb.label(100, 2, annotator=1)
    assert pool.item(0).label == 2
    with pytest.raises(hitl.InvalidArgument, match="has label 2"):
        pool.n_classes = 2
    assert pool.n_classes == 3
