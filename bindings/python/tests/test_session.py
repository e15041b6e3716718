"""Labels and ids of any kind through the ActiveLearner, atomic teach, a
learner on an existing Feedback, and whole sessions saved and resumed."""
import os
import subprocess
import textwrap
import zipfile

import numpy as np
import pytest

import hitl
from conftest import blobs

NAMES = np.array(["ham", "spam", "eggs"])


def _docs(n=300, k=3, seed=0):
    X, y = blobs(n, 5, k, seed=seed)
    return X, NAMES[y], ["doc-%d" % i for i in range(n)]


def _snapshot(learner, journal=None):
    pool, p = learner.pool, []
    for i in range(len(pool)):
        p.append((pool.item(i), pool.weight(i)))
    data = open(journal, "rb").read() if journal else None
    return p, len(learner.feedback), data, learner.classes_.tolist()


def test_string_labels_and_ids_end_to_end():
    X, y, ids = _docs()
    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin",
                                 pool=X, ids=ids, seed=1)
    assert learner.pool.dim == 5                 # inferred from the rows
    r = learner.query(k=6)                       # cold start: no model yet
    assert all(isinstance(i, str) for i in r.ids)
    rows = [ids.index(i) for i in r.ids]
    np.testing.assert_array_equal(rows, r.indices)
    # two classes first; the third arrives later and the model grows
    first = [i for i in range(len(y)) if y[i] != "eggs"][:8]
    learner.teach([ids[i] for i in first], y[first])
    assert learner.classes_.tolist() == list(dict.fromkeys(y[first]))
    assert learner.model.n_features_in_ == 5 and learner.model._n_classes == 2
    for _ in range(10):
        r = learner.query(k=10)
        learner.teach(r.ids, y[r.indices])
    assert sorted(learner.classes_) == ["eggs", "ham", "spam"]
    assert learner.model._n_classes == 3
    pred = learner.predict(X)
    assert pred.dtype.kind == "U" and np.mean(pred == y) > 0.8
    assert learner.score(X, y) == np.mean(pred == y)
    P = learner.predict_proba(X)
    assert P.shape == (300, 3)
    np.testing.assert_array_equal(learner.classes_[np.argmax(P, axis=1)], pred)
    # numpy, float and bool labels of one class are one key
    assert learner.labels.encode([np.str_("ham")], grow=False)[0].tolist() == \
        [learner.labels.index("ham")]
    learner.close()


def test_labels_of_any_kind():
    m = hitl.LabelMap()
    idx, new = m.encode([3.0, np.int64(3), 7, True, 1], grow=True)
    assert idx.tolist() == [0, 0, 1, 2, 2] and new == [3, 7, True]
    assert len(m) == 0                       # encode plans, commit records
    m.commit(new)
    assert m.classes_.tolist() == [3, 7, True]
    for bad in ([np.nan], [2.5], [None], [[1, 2]]):
        with pytest.raises(hitl.InvalidArgument):
            m.encode(bad)


def test_fixed_k_models_take_their_classes_only():
    X, y = blobs(200, 4, 3, seed=2)
    with hitl.ActiveLearner(hitl.LogisticRegression(4, 3), "margin", pool=X) as learner:
        assert learner.classes_.tolist() == [0, 1, 2]
        learner.teach([0, 1, 2, 3], y[:4])
        with pytest.raises(hitl.InvalidArgument, match="label 3 is not a class"):
            learner.teach([4], [3])
        with pytest.raises(hitl.InvalidArgument, match="'x' is not a class"):
            learner.teach([4], ["x"])


def test_rejected_teach_changes_nothing(tmp_path):
    X, y, ids = _docs(120, 2)
    journal = str(tmp_path / "j")
    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "entropy",
                                 pool=X, ids=ids)
    learner.feedback.open_journal(journal)
    learner.teach(ids[:6], y[:6])
    before = _snapshot(learner, journal)
    bad_calls = [
        (ids[6:8] + ["no such doc"], list(y[6:9])),     # an unknown id
        (ids[6:9], list(y[6:8]) + [float("nan")]),      # a missing label
        (ids[6:9], list(y[6:8]) + [[1]]),               # an unhashable one
        (ids[6:9], list(y[6:8])),                       # lengths differ
        (X[6:9], list(y[6:9])),                         # rows, not ids
    ]
    for bad_ids, bad_labels in bad_calls:
        with pytest.raises((hitl.InvalidArgument, hitl.NotFound)):
            learner.teach(bad_ids, bad_labels)
        assert _snapshot(learner, journal) == before
    with hitl.ActiveLearner(hitl.LogisticRegression(5, 2), "margin",
                            feedback=learner.feedback) as fixed:
        with pytest.raises(hitl.InvalidArgument, match="not a class"):
            fixed.teach([6, 7], [1, 2])              # 2 is not a class
        assert _snapshot(learner, journal) == before
    learner.teach(ids[6:9], y[6:9])                  # and it goes on
    assert len(learner.feedback) == 9
    learner.close()


def test_learner_on_an_existing_feedback(tmp_path):
    X, y = blobs(100, 4, 2, seed=6)
    pool = hitl.Pool.from_array(X)
    fb = hitl.Feedback(pool, min_annotators=1)
    fb.open_journal(str(tmp_path / "j"))
    fb.label(0, int(y[0]), annotator=3)
    learner = hitl.ActiveLearner(hitl.LogisticRegression(4, 2), "margin",
                                 feedback=fb)
    assert learner.feedback is fb and learner.pool is pool
    r = learner.query(k=3)
    learner.teach(r.ids, y[r.indices])
    assert len(fb) == 4 and learner.model.n_train == 4
    learner.close()
    assert not fb.closed and fb.journal_path == str(tmp_path / "j")
    with pytest.raises(hitl.InvalidArgument, match="differ"):
        hitl.ActiveLearner(hitl.LogisticRegression(4, 2), feedback=fb,
                           pool=hitl.Pool.from_array(X))
    fb.close()


def _session(tmp_path):
    X, y, ids = _docs(250, 3, seed=4)
    learner = hitl.ActiveLearner(hitl.LogisticRegression(C=0.5), "density",
                                 pool=X, ids=ids, seed=7)
    for _ in range(4):
        r = learner.query(k=8)
        learner.teach(r.ids, y[r.indices])
    learner.pool.set_weight(3, 2.5)
    return learner, X, y


def test_session_round_trip_in_a_fresh_interpreter(tmp_path):
    learner, X, y = _session(tmp_path)
    path = str(tmp_path / "s.hitl-session")
    learner.save(path)
    expected = learner.query(k=7)
    code = textwrap.dedent("""
        import sys, hitl
        learner = hitl.ActiveLearner.load(sys.argv[1])
        r = learner.query(k=7)
        print(" ".join(r.ids))
        print(" ".join(map(str, learner.classes_)))
        print(learner.pool.weight(3), len(learner.feedback))
    """)
    env = dict(os.environ)
    res = subprocess.run(["/usr/bin/python3", "-c", code, path], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got_ids, classes, last = res.stdout.splitlines()
    assert got_ids.split() == list(expected.ids)
    assert classes.split() == list(learner.classes_)
    assert last.split() == ["2.5", str(len(learner.feedback))]
    learner.close()


def test_session_resumes_with_a_journal_and_rows_by_reference(tmp_path):
    learner, X, y = _session(tmp_path)
    path = tmp_path / "s"
    learner.save(path, rows=False)
    with pytest.raises(hitl.InvalidArgument, match="X="):
        hitl.ActiveLearner.load(path)
    with pytest.raises(hitl.InvalidArgument, match="differs"):
        hitl.ActiveLearner.load(path, X=X + 1)
    journal = str(tmp_path / "resumed.journal")
    again = hitl.ActiveLearner.load(path, X=X, journal=journal)
    a, b = learner.query(k=5), again.query(k=5)
    assert list(a.ids) == list(b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    again.teach(b.ids, y[b.indices])                 # the journal goes on
    assert again.feedback.journal_path == journal
    np.testing.assert_array_equal(again.model.get_params()["C"], 0.5)
    again.close()
    learner.close()


def test_damaged_sessions_are_refused(tmp_path):
    learner, X, y = _session(tmp_path)
    path = str(tmp_path / "s")
    learner.save(path)
    learner.close()
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    journal = bytearray(members["journal.bin"])
    journal[-3] ^= 1
    members["journal.bin"] = bytes(journal)
    bad = str(tmp_path / "bad")
    with zipfile.ZipFile(bad, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    with pytest.raises(hitl.FormatError, match="checksum"):
        hitl.ActiveLearner.load(bad)
    with open(bad, "wb") as f:
        f.write(b"not a session")
    with pytest.raises(hitl.FormatError):
        hitl.ActiveLearner.load(bad)


def test_an_estimator_grows_its_classes_and_resumes(tmp_path):
    from sklearn.linear_model import LogisticRegression as SkLR
    X, y, ids = _docs(200, 3, seed=8)
    learner = hitl.ActiveLearner(SkLR(), "margin", pool=X, ids=ids)
    two = [i for i in range(200) if y[i] != "eggs"][:6]
    learner.teach([ids[i] for i in two], y[two])
    assert learner.model.n_classes == 2
    eggs = [i for i in range(200) if y[i] == "eggs"][:3]
    learner.teach([ids[i] for i in eggs], y[eggs])
    assert isinstance(learner.model, hitl.CustomModel) and learner.model.n_classes == 3
    path = tmp_path / "s"
    learner.save(path)
    with pytest.raises(hitl.InvalidArgument, match="model=estimator"):
        hitl.ActiveLearner.load(path)
    again = hitl.ActiveLearner.load(path, model=SkLR())
    assert list(again.query(k=4).ids) == list(learner.query(k=4).ids)
    assert list(again.predict(X[:20])) == list(learner.predict(X[:20]))
    again.close()
    learner.close()


def test_a_pool_says_where_string_ids_go():
    with pytest.raises(hitl.InvalidArgument, match="ActiveLearner"):
        hitl.Pool.from_array(np.zeros((2, 3), np.float32), ids=["a", "b"])


def test_feedback_parameters_and_pending_answers_resume(tmp_path):
    X, y = blobs(60, 3, 2, seed=1)
    fb = hitl.Feedback(hitl.Pool.from_array(X), min_annotators=2)
    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin", feedback=fb)
    learner.teach([1, 2], ["a", "b"])         # one answer each: not labeled yet
    assert fb.pool.count("labeled") == 0 and not learner.model.fitted
    learner.save(tmp_path / "s")
    again = hitl.ActiveLearner.load(tmp_path / "s")
    assert again.feedback.get_param("min_annotators") == 2
    assert len(again.feedback) == 2 and again.classes_.tolist() == ["a", "b"]
    again.teach([1, 2], ["a", "b"], annotator=5)     # the second annotator
    assert again.pool.count("labeled") == 2 and again.model.fitted
    again.close()
    learner.close()
    fb.close()


def test_a_pool_declaring_more_classes_keeps_the_warm_start():
    X, y = blobs(120, 3, 2, seed=3)
    pool = hitl.Pool.from_array(X)
    pool.n_classes = 5
    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin", pool)
    learner.teach([0, 1, 2, 3], ["x", "y", "x", "y"])
    model_handle = learner.model._h
    learner.teach([4, 5], ["y", "x"])
    assert learner.model._h is model_handle          # not rebuilt
    assert learner.predict_proba(X).shape == (120, 2)
    assert set(learner.predict(X)) <= {"x", "y"}
    learner.close()
    pool.close()


def test_a_bad_annotator_is_refused_before_anything_changes():
    X, y = blobs(30, 3, 2, seed=2)
    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin", pool=X)
    learner.teach([0, 1], ["a", "b"])
    before = _snapshot(learner), learner.pool.n_classes
    with pytest.raises(hitl.InvalidArgument, match="annotator"):
        learner.teach([2], ["c"], annotator=-1)     # a new class, refused
    assert (_snapshot(learner), learner.pool.n_classes) == before
    learner.close()
