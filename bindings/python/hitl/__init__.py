"""libhitl for Python: human-in-the-loop learning (active learning) over numpy.

    import numpy as np, hitl
    X = np.random.default_rng(0).normal(size=(1000, 16)).astype(np.float32)
    pool = hitl.Pool.from_array(X, borrow=True)      # zero-copy
    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin", pool)
    idx, ids, scores = learner.query(pool, k=10)     # ask a person about these
    learner.teach(ids, answers)                      # any labels; then refit
    learner.save("session.zip")                      # ActiveLearner.load() resumes

hitl.LogisticRegression is also a scikit-learn classifier (fit(X, y),
clone, Pipeline, GridSearchCV, cross_val_score), whose C is scikit-learn's.

Three lines that run (the tests run every example of help(hitl.X)):

    >>> X = np.random.default_rng(0).normal(size=(500, 4)); y = (X[:, 0] > X[:, 1]).astype(int)
    >>> pool = hitl.Pool.from_array(X); pool.set_labels(range(20), y[:20])
    >>> hitl.Strategy("margin").query(hitl.LogisticRegression(4, 2).fit(pool), pool, k=3).indices
    array([ 68, 319, 135])

Objects one to one with the C API (include/hitl.h is the reference manual):
Pool (hitl_pool), Model / LogisticRegression / CustomModel (hitl_model),
Strategy and query() (hitl_strategy, hitl_query, hitl_query_committee),
Committee and disagreement() (hitl_committee, hitl_disagreement), Feedback
(hitl_feedback: events, aggregation, consensus, journal), the agreement
metrics (cohen_kappa, fleiss_kappa, fleiss_kappa_counts, krippendorff_alpha,
accuracy), Router (hitl_router), Recheck and find_label_issues
(hitl_recheck: labels that are probably wrong), Stream (hitl_stream:
deciding arriving items within a labeling budget), Stopper (hitl_stopper:
when more labels stop paying); every C enum is an IntEnum here (Status,
Param, ItemState, Info, StrategyKind, EventKind, ...).  The raw cffi objects
are `hitl.ffi` and `hitl.lib`.

numpy: float32 arrays with contiguous rows are passed to C by pointer, and
results are written by C into new numpy arrays; other dtypes or layouts are
converted once (each function's docstring says), except Pool.borrow, which
refuses what it would have to copy.

Errors: a failed call raises hitl.Error's subclass for its status, with the
library's detail message (see hitl.errors).  An exception raised inside a
custom model's fit/predict_proba propagates unchanged out of the hitl call.

Lifetime: close() or `with` frees a handle at once; otherwise it is freed
when garbage-collected.  Objects keep alive what the library borrows (a
pool keeps its borrowed arrays, a feedback its pool, a custom model its
estimator).

Pickling: pickle and copy.deepcopy rebuild a Pool (its rows, copied out
even when borrowed, ids, states, labels, weights, class count), a Model (the
built-in one bit-exactly through its saved bytes, a CustomModel through its
estimator, which must pickle), a Strategy and a Router (their kind and
parameters; a router's last report is not kept), a Committee (parameters
and members).  A Feedback refuses: its journal is its saved form.

Borrowed: a Pool reads borrowed arrays in place and keeps them alive; a
Feedback writes its Pool for as long as it lives; a Committee keeps the
models given to it; a CustomModel keeps its estimator.  Everything else is
read only during a call.  Each class's help() says what it borrows.

Threads: calls into the library release the GIL, so several Python threads
can score or query at once.  No object is safe to change from two threads at
once: Pool (add, borrow, set_*), Model and Committee (fit, set_param, close),
Strategy (every query updates it: one Strategy per thread), Feedback (every
recording call also writes the pool), Router (calibrate, fit_temperature,
evaluate, set_param) and ActiveLearner need one thread at a time.  Reading calls (Model.predict_proba,
predict_proba_pool, Pool.find/item/len, queries sharing a model and pool,
Router.route)
may overlap when nothing changes those objects meanwhile.  Never close() an
object another thread is using.
"""
from ._ffi import ffi, lib, HEADER_VERSION as __version__, library_version
from ._enums import ENUMS as _ENUMS
from ._base import enum_value
from .errors import (Error, InvalidArgument, OutOfMemory, StateError,
                     NumericError, FileIOError, FormatError, CallbackError,
                     NotFound, error_class)
from .pool import Pool, Item
from .model import Model, LogisticRegression, CustomModel, NotFittedError
from .explain import Explanation, explain_proba
from .audit import Audit
from .strategy import Strategy, QueryResult, query
from .committee import Committee, disagreement
from .feedback import Feedback, Event, ItemConsensus, ItemSettlement
from .agreement import (cohen_kappa, fleiss_kappa, fleiss_kappa_counts,
                        krippendorff_alpha, accuracy)
from .router import Router, Routing
from .recheck import Recheck, RecheckJoint, find_label_issues
from .stream import Stream, Decisions
from .stopper import Stopper
from .learner import ActiveLearner
from .labels import LabelMap
from .evaluation import evaluate, Evaluation

globals().update(_ENUMS)

# C functions of hitl.h that no Python class wraps, on purpose.  The coverage
# test (tests/test_coverage.py) fails for any other hitl_ function of the
# header that the Python layer does not call.  They stay reachable through
# hitl.lib.
RAW_ONLY = {
    "hitl_set_allocator":
        "process-wide C allocator hook; allocators written in Python would "
        "run under the GIL from every library thread.  Call it from C.",
    "hitl_error_clear":
        "exceptions carry the detail message; nothing to clear in Python.",
    "hitl_model_create_custom_csr":
        "CustomModel drives Python estimators on dense rows; a custom model "
        "on CSR rows is made from C.",
}

__all__ = ["ffi", "lib", "library_version", "enum_value", "Error",
           "InvalidArgument", "OutOfMemory", "StateError", "NumericError",
           "FileIOError", "FormatError", "CallbackError", "NotFound",
           "error_class", "NotFittedError", "Pool", "Item", "Model", "LogisticRegression",
           "CustomModel", "Strategy", "QueryResult", "query", "Committee",
           "disagreement", "Feedback", "Event", "ItemConsensus", "ItemSettlement",
           "cohen_kappa", "fleiss_kappa", "fleiss_kappa_counts",
           "krippendorff_alpha", "accuracy", "Router", "Routing",
           "Recheck", "RecheckJoint", "find_label_issues", "Stream", "Decisions",
           "Stopper",
           "ActiveLearner", "LabelMap", "evaluate", "Evaluation",
           "Explanation", "explain_proba", "Audit"] + sorted(_ENUMS)
