"""help() says what is thread-safe and what is borrowed, and its examples
run: every >>> example in the docstrings of these modules is a doctest."""
import doctest

import numpy as np
import pytest
import sklearn.datasets

import hitl
import hitl.session

MODULES = [hitl, hitl.pool, hitl.strategy, hitl.committee, hitl.feedback,
           hitl.router, hitl.agreement, hitl.evaluation, hitl.model,
           hitl.learner, hitl.labels, hitl.session]

# help() of each: what is thread-safe, what is borrowed, an example
DOCUMENTED = [hitl, hitl.Pool, hitl.Strategy, hitl.Committee, hitl.Feedback,
              hitl.Router, hitl.agreement, hitl.evaluate]
# Model, LogisticRegression, CustomModel, ActiveLearner: test_estimator.py
AGREEMENT = [hitl.cohen_kappa, hitl.fleiss_kappa, hitl.fleiss_kappa_counts,
             hitl.krippendorff_alpha, hitl.accuracy]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)            # examples may write files
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"hitl": hitl, "np": np, "sklearn": sklearn}
    tests = [t for t in finder.find(module, module.__name__, globs=globs)
             if t.examples]
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, "%d doctest failures in %s (see output)" % (
        runner.failures, module.__name__)


@pytest.mark.parametrize("obj", DOCUMENTED, ids=lambda o: o.__name__)
def test_help_covers_threads_borrowing_example(obj):
    doc = obj.__doc__
    assert "thread" in doc.lower(), "no word on threads"
    assert "borrow" in doc.lower() or obj is hitl.evaluate
    assert doc.count(">>> ") >= 1, "no example"


@pytest.mark.parametrize("fn", AGREEMENT, ids=lambda f: f.__name__)
def test_agreement_functions_have_examples(fn):
    assert ">>> " in fn.__doc__
