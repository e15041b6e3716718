"""A whole ActiveLearner session in one file: save, stop, resume.

    learner.save("triage.hitl-session")
    learner = hitl.ActiveLearner.load("triage.hitl-session")
    learner.query(k=10)          # the same items the saved learner would pick

The file is a zip archive (written to a temporary name, fsynced and renamed
into place, so a crash leaves the old file or the new one) holding:

  manifest.json   format "hitl-session", FORMAT_VERSION, the library
                  version, and the SHA-256 of every other member (checked
                  on load, besides zip's own CRC-32: FormatError if any
                  differs, or the version is newer than this code reads)
  learner.json    the strategy (kind, parameters: its seed is its whole
                  random state, a query draws from (seed, item)), the
                  annotator, the class bound, the model's kind and
                  scikit-learn parameters, the label map and the id map
                  (labels and ids as tagged JSON: str, int, float, bool,
                  bytes, None and tuples of these)
  pool.npz        the pool's ids, states, labels, weights and declared
                  class count, and its rows (float32) unless saved with
                  rows=False: then only their SHA-256 is kept and load()
                  needs X=, the same rows, checked against it
  journal.bin     the feedback journal (hitl.h, "The journal"): every
                  answer, retraction, role and parameter of the feedback
  model.hitl      the built-in model in hitl_model_save's format (not for
                  a CustomModel: load(model=estimator) refits a fresh
                  estimator on the labeled items; Committees are not saved)

Loading rebuilds the pool, replays the journal into a new Feedback, puts
back the pool's states/labels/weights as saved (so labels set on the pool
directly survive too), and loads the model: a resumed session gives the
same next query as the saved one.  load(journal=path) keeps the journal
going in a file of yours (which must not exist yet); otherwise the
resumed feedback has no journal open.
"""
import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from ._enums import ItemState, StrategyKind
from ._ffi import ffi, lib, library_version
from ._base import check
from .errors import FormatError, InvalidArgument
from .feedback import Feedback
from .labels import LabelMap, IdMap
from .model import Model, LogisticRegression, CustomModel, _restore_logreg
from .committee import Committee
from .pool import Pool
from .strategy import Strategy

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "hitl-session"
FORMAT_VERSION = 1


# -- labels and ids as tagged JSON --------------------------------------------
def _tag(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": v.hex()}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, tuple):
        return {"tuple": [_tag(x) for x in v]}
    raise InvalidArgument("a label or id of type %s cannot be saved in a "
                          "session (str, int, float, bool, bytes, None and "
                          "tuples of them can)" % type(v).__name__)


def _untag(v):
    if not isinstance(v, dict):
        return v
    (kind, x), = v.items()
    return {"int": int, "float": float.fromhex, "bytes": bytes.fromhex,
            "tuple": lambda t: tuple(_untag(y) for y in t)}[kind](x)


# -- what the archive holds -----------------------------------------------
def _pool_arrays(pool, with_rows):
    n, p = len(pool), pool._ptr
    ids = np.empty(n, np.uint64)
    states = np.empty(n, np.int8)
    labels = np.empty(n, np.int32)
    weights = np.empty(n, np.float32)
    rows = np.empty((n, pool.dim), np.float32)
    iid, st = ffi.new("uint64_t *"), ffi.new("hitl_item_state *")
    lab, w, row = ffi.new("int32_t *"), ffi.new("float *"), ffi.new("const float **")
    nbytes = 4 * pool.dim
    for i in range(n):
        check(lib.hitl_pool_item(iid, st, lab, p, i))
        check(lib.hitl_pool_weight(w, p, i))
        check(lib.hitl_pool_row(row, p, i))
        ids[i], states[i], labels[i], weights[i] = iid[0], st[0], lab[0], w[0]
        rows[i] = np.frombuffer(ffi.buffer(row[0], nbytes), np.float32)
    out = {"ids": ids, "states": states, "labels": labels, "weights": weights,
           "n_classes": np.array(pool.n_classes, np.int64),
           "dim": np.array(pool.dim, np.int64)}
    if with_rows:
        out["rows"] = rows
    return out, _rows_digest(rows)


def _rows_digest(rows):
    a = np.ascontiguousarray(rows, dtype=np.float32)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def _journal_bytes(feedback):
    """The feedback's journal: its own file when one is open, else written
    to a temporary file (the handle writes every event to a new journal)."""
    if feedback.journal_path is not None:
        feedback.sync()
        with open(feedback.journal_path, "rb") as f:
            return f.read()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "journal")
        feedback.open_journal(path, fsync_every=0)
        feedback.close_journal()
        with open(path, "rb") as f:
            return f.read()


def _model_state(learner):
    m = learner.model
    if isinstance(m, Committee):
        raise InvalidArgument("a learner with a Committee cannot be saved yet "
                              "(save its members' models one by one)")
    if isinstance(m, CustomModel):
        return {"kind": "custom"}, None
    if isinstance(m, LogisticRegression):
        params = m.get_params()
        return ({"kind": "logreg", "params": params,
                 "fitted": m._h is not None and m.fitted},
                m.to_bytes() if m._h is not None else None)
    if isinstance(m, Model):
        return {"kind": "model"}, m.to_bytes()
    raise InvalidArgument("cannot save a model of type %s" % type(m).__name__)


def save(learner, path, rows=True):
    """Store `learner`'s whole session at `path` (see the module help).
    rows=False stores a fingerprint of the pool's rows instead of the rows:
    load() then needs them as X=."""
    if learner.pool is None:
        raise InvalidArgument("nothing to save: the learner has no pool yet")
    arrays, digest = _pool_arrays(learner.pool, rows)
    model_json, model_bytes = _model_state(learner)
    s = learner.strategy
    meta = {
        "strategy": {"kind": s.kind.name, "params": s.get_params()},
        "annotator": _tag(learner.annotator),
        "fixed_classes": learner._fixed_k,
        "threads": learner._threads,
        "model": model_json,
        "classes": [_tag(c) for c in learner.labels.keys()],
        "item_ids": (None if learner.item_ids is None else
                     [_tag(i) for i in learner.item_ids.keys()]),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    members = {"learner.json": json.dumps(meta, indent=1).encode(),
               "pool.npz": buf.getvalue(),
               "journal.bin": _journal_bytes(learner.feedback)}
    if model_bytes is not None:
        members["model.hitl"] = model_bytes
    manifest = {"format": FORMAT, "version": FORMAT_VERSION,
                "library": library_version(),
                "rows": "stored" if rows else "reference",
                "rows_sha256": digest,
                "sha256": {k: hashlib.sha256(v).hexdigest()
                           for k, v in members.items()}}
    _write_atomically(path, dict(members, **{
        "manifest.json": json.dumps(manifest, indent=1).encode()}))


def _write_atomically(path, members):
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".hitl-session-")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
                for name in ["manifest.json"] + sorted(set(members) - {"manifest.json"}):
                    z.writestr(name, members[name])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- loading --------------------------------------------------------------
def _read(path):
    try:
        with zipfile.ZipFile(os.fspath(path)) as z:
            members = {n: z.read(n) for n in z.namelist()}
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise FormatError("%s is not a hitl session (%s)" % (path, exc)) from None
    try:
        manifest = json.loads(members.pop("manifest.json"))
    except (KeyError, ValueError):
        raise FormatError("%s has no readable manifest.json" % path) from None
    if manifest.get("format") != FORMAT:
        raise FormatError("%s is not a hitl session" % path)
    if not isinstance(manifest.get("version"), int) or \
            manifest["version"] > FORMAT_VERSION:
        raise FormatError("%s is a session of format version %r; this hitl "
                          "reads up to %d" % (path, manifest.get("version"),
                                              FORMAT_VERSION))
    sums = manifest.get("sha256", {})
    if set(sums) != set(members):
        raise FormatError("%s: members %s, but the manifest lists %s"
                          % (path, sorted(members), sorted(sums)))
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != sums[name]:
            raise FormatError("%s: %s fails its checksum" % (path, name))
    return manifest, members


def _rebuild_pool(manifest, arrays, X):
    dim = int(arrays["dim"])
    if "rows" in arrays:
        rows = arrays["rows"]
    elif X is None:
        raise InvalidArgument("this session was saved with rows=False: pass "
                              "the same rows as load(path, X=rows)")
    else:
        rows = np.asarray(X, dtype=np.float32)
        if _rows_digest(rows) != manifest["rows_sha256"]:
            raise InvalidArgument("X differs from the rows the session was "
                                  "saved with (their SHA-256 differs)")
    pool = Pool(dim)
    if len(rows):
        pool.add(rows, arrays["ids"])
    pool.n_classes = int(arrays["n_classes"])
    return pool


def _restore_pool_state(pool, arrays):
    """Put back the saved states, labels and weights where the journal's
    replay left something else (labels set on the pool directly)."""
    p = pool._ptr
    st, lab, w = ffi.new("hitl_item_state *"), ffi.new("int32_t *"), ffi.new("float *")
    for i, (s, y, wt) in enumerate(zip(arrays["states"].tolist(),
                                       arrays["labels"].tolist(),
                                       arrays["weights"].tolist())):
        check(lib.hitl_pool_item(ffi.NULL, st, lab, p, i))
        if s == ItemState.LABELED and (st[0] != s or lab[0] != y):
            check(lib.hitl_pool_set_label(p, i, y))
        elif s != ItemState.LABELED and st[0] != s:
            check(lib.hitl_pool_set_state(p, i, s))
        check(lib.hitl_pool_weight(w, p, i))
        if w[0] != wt:
            check(lib.hitl_pool_set_weight(p, i, wt))


def _replay(feedback, data, journal):
    if journal is not None:
        if os.path.exists(journal):
            raise InvalidArgument("journal %s exists: give a new path (the "
                                  "session's journal is copied there)" % journal)
        with open(journal, "wb") as f:
            f.write(data)
        feedback.open_journal(journal)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "journal")
        with open(path, "wb") as f:
            f.write(data)
        feedback.open_journal(path, fsync_every=0)
        feedback.close_journal()


def _rebuild_model(meta, members, learner, estimator, threads, K, dim):
    kind = meta["model"]["kind"]
    if kind == "custom":
        if estimator is None:
            raise InvalidArgument("this session's model was a CustomModel: "
                                  "pass a fresh estimator as load(path, "
                                  "model=estimator); it is refitted on the "
                                  "labeled items")
        learner._estimator = estimator
        learner.model = CustomModel(estimator, dim, K, threads=threads)
        learner._owned.append(learner.model)
        return True
    data = members.get("model.hitl")
    if kind == "logreg":
        learner.model = _restore_logreg(meta["model"]["params"], data, {})
        if data is not None and learner.model.fitted:
            learner.model._fitted_as_pool_model()
    else:
        learner.model = Model.from_bytes(data)
    learner._owned.append(learner.model)
    return False


def load(cls, path, X=None, model=None, journal=None):
    """An ActiveLearner (of class `cls`) from a file written by save()."""
    manifest, members = _read(path)
    meta = json.loads(members["learner.json"])
    with np.load(io.BytesIO(members["pool.npz"])) as npz:
        arrays = {k: npz[k] for k in npz.files}
    self = cls.__new__(cls)
    self._owned = []
    self._threads = meta["threads"]
    self._estimator = None
    self._fixed_k = meta["fixed_classes"]
    self.annotator = _untag(meta["annotator"])
    self.labels = LabelMap(_untag(c) for c in meta["classes"])
    ids = meta["item_ids"]
    self.item_ids = None if ids is None else IdMap(_untag(i) for i in ids)
    try:
        self.pool = _rebuild_pool(manifest, arrays, X)
        self._owned.append(self.pool)
        self.feedback = Feedback(self.pool)
        self._owned.append(self.feedback)
        _replay(self.feedback, members["journal.bin"], journal)
        _restore_pool_state(self.pool, arrays)
        st = meta["strategy"]
        self.strategy = Strategy(StrategyKind[st["kind"]])
        self._owned.append(self.strategy)
        for name, value in st["params"].items():
            self.strategy.set_param(name, value)
        refit = _rebuild_model(meta, members, self, model, self._threads,
                               self._n_model_classes(), self.pool.dim)
        if refit and self.pool.count(ItemState.LABELED):
            self.fit()
    except BaseException:
        self.close()
        raise
    return self
