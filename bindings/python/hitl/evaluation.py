"""hitl.evaluate: which query strategy pays off on your data, measured by
simulation before any person is asked.

The simulated loop, per strategy and seed: a held-out test split (the same
for every strategy of a seed), the rest in a pool; ask the strategy for a
batch, let an oracle answer with the true labels, refit, measure test
accuracy; until the budget of labels is spent.  The first batch of every
strategy is its cold-start batch (nothing is labeled yet).
"""
import copy
import numbers
import sys
import time

import numpy as np

from ._ffi import lib
from ._base import check
from ._enums import StrategyKind
from ._plot import agg_figure, save
from .errors import InvalidArgument
from .model import Model, LogisticRegression, CustomModel
from .pool import Pool
from .strategy import Strategy

__all__ = ["evaluate", "Evaluation"]

# progress=None shows a bar from this many loop rounds on (and only if
# python3-tqdm is installed): below it a run takes a few seconds.
_LONG_RUN_ROUNDS = 200


def evaluate(X, y, strategies=("random", "margin", "default"), budget=200,
             batch=10, seeds=(0, 1, 2), test_size=0.25, model=None,
             target=None, progress=None):
    """Run the simulated active-learning loop; returns an Evaluation.

    X: (n, dim) real features; y: n labels of any hashable kind (mapped to
    classes 0..K-1 in sorted order).  strategies: names or
    hitl.StrategyKind members ("random", "margin", ...), or hitl.Strategy
    objects (copied for each run; their seed is set to the run's seed).
    budget: labels to spend per run; batch: labels per round.  seeds: one
    run per seed (the test split and the strategy's seed follow it).
    test_size: the held-out fraction (0 < test_size < 1), drawn per class.
    model: None (hitl.LogisticRegression(dim, K), libhitl's default), a
    hitl.Model (a copy of it per run), a scikit-learn classifier (cloned
    and wrapped in hitl.CustomModel per run) or a callable
    model(dim, n_classes) returning a hitl.Model.  target: the accuracy
    whose cost in labels Evaluation.labels_to_reach() reports; None: 95% of
    what the model reaches with every pool label (measured per seed).
    progress: True/False, or None for a python3-tqdm bar on long runs
    (200 rounds or more) when stderr is a terminal; without python3-tqdm
    there is no bar.

    Thread-safe: evaluate makes its own pools, models and strategies (a
    model or strategy you pass is copied), and only reads X and y, so runs
    may go on in several threads at once.

    >>> X, y = sklearn.datasets.load_digits(return_X_y=True)
    >>> result = hitl.evaluate(X, y, ["random", "margin"], budget=60, seeds=[0, 1])
    >>> print(result); result.plot("curves.png")    # doctest: +ELLIPSIS
    strategy ... labels to reach ...
    random ...
    margin ...
    'curves.png'
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise InvalidArgument("X must have shape (n, dim) with n > 0, got %s"
                              % (X.shape,))
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    if y.shape[0] != X.shape[0]:
        raise InvalidArgument("X has %d rows but y has %d labels"
                              % (X.shape[0], y.shape[0]))
    if len(classes) < 2:
        raise InvalidArgument("y must hold at least 2 classes, got %d"
                              % len(classes))
    if not 0 < test_size < 1:
        raise InvalidArgument("test_size must be in (0, 1), got %r" % (test_size,))
    for name, v in (("budget", budget), ("batch", batch)):
        if not isinstance(v, numbers.Integral) or v < 1:
            raise InvalidArgument("%s must be a positive integer, got %r" % (name, v))
    seeds = [int(s) for s in np.atleast_1d(seeds)]
    named = _named_strategies(strategies)
    make_model = _model_factory(model)
    rounds = -(-budget // batch)
    bar = _progress(progress, len(seeds) * len(named) * rounds)

    result = Evaluation(classes, list(named), seeds, batch, target)
    for seed in seeds:
        train, test = _split(y, test_size, seed)
        result.reference[seed] = _full_accuracy(make_model, X, y, train, test,
                                                len(classes))
        for name, proto in named.items():
            strategy = copy.deepcopy(proto)
            strategy.seed = seed
            labels, acc, secs = _run(strategy, make_model, X, y, train, test,
                                     len(classes), budget, batch, bar)
            result._add(name, seed, labels, acc, secs)
    if bar is not None:
        bar.close()
    return result


def _named_strategies(strategies):
    if isinstance(strategies, (str, Strategy, StrategyKind)):
        strategies = [strategies]
    named = {}
    for s in strategies:
        if not isinstance(s, Strategy):
            s = Strategy(s)
        name = s.kind.name.lower()
        while name in named:
            name += "'"
        named[name] = s
    if not named:
        raise InvalidArgument("strategies is empty")
    return named


def _model_factory(model):
    if model is None:
        return lambda dim, k: LogisticRegression(dim=dim, n_classes=k)
    if isinstance(model, Model):
        if model.closed:
            raise InvalidArgument("model is closed")
        return lambda dim, k: copy.deepcopy(model)
    if hasattr(model, "predict_proba") and hasattr(model, "fit"):
        from sklearn.base import clone      # a scikit-learn estimator
        return lambda dim, k: CustomModel(clone(model), dim, k)
    if callable(model):
        return model
    raise InvalidArgument("model must be None, a hitl.Model, a scikit-learn "
                          "classifier or a callable (dim, n_classes) -> "
                          "hitl.Model; got %r" % type(model).__name__)


def _split(y, test_size, seed):
    """Train and test indices: test_size of each class held out (at least
    one item when a class has two or more), after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    test = []
    for c in range(y.max() + 1):
        members = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_size * len(members)))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test.append(members[:n_test])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(y)), test)
    return train, test


def _fit(model, pool):
    # hitl_model_fit itself: the loop is pool-based whatever else a model
    # class's fit() accepts
    check(lib.hitl_model_fit(model._ptr, pool._ptr), model)


def _accuracy(model, X, y, test):
    predicted = np.argmax(model.predict_proba(X[test]), axis=1)
    return float(np.mean(predicted == y[test]))


def _full_accuracy(make_model, X, y, train, test, k):
    with Pool.from_array(X[train]) as pool:
        pool.set_labels(np.arange(len(train)), y[train])
        model = make_model(X.shape[1], k)
        _fit(model, pool)
        acc = _accuracy(model, X, y, test)
        model.close()
    return acc


def _run(strategy, make_model, X, y, train, test, k, budget, batch, bar):
    """One simulated loop; returns labels after each round, test accuracy
    after each round and the seconds each round took (query + fit)."""
    labels, acc, secs = [], [], []
    model = make_model(X.shape[1], k)
    with Pool.from_array(X[train], borrow=True) as pool:
        spent = 0
        while spent < budget and spent < len(train):
            t = time.perf_counter()
            r = strategy.query(model, pool, min(batch, budget - spent))
            if len(r.indices) == 0:
                break
            pool.set_labels(r.indices, y[train[r.indices]])   # the oracle
            _fit(model, pool)
            secs.append(time.perf_counter() - t)
            spent += len(r.indices)
            labels.append(spent)
            acc.append(_accuracy(model, X, y, test))
            if bar is not None:
                bar.update(1)
    model.close()
    return labels, acc, secs


def _progress(progress, total):
    if progress is None:    # a bar only where someone watches a long run
        progress = total >= _LONG_RUN_ROUNDS and sys.stderr.isatty()
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:            # optional: apt-get install python3-tqdm
        return None
    return tqdm(total=total, desc="hitl.evaluate", unit="round")


class Evaluation:
    """What hitl.evaluate measured.  Plain data: pickles, and is safe to
    read from several threads.

    strategies, seeds, classes (the label of each class index), batch;
    curves[strategy][seed] = (labels, accuracy) arrays, one entry a round;
    seconds[strategy][seed]: the time each round took (query + refit);
    reference[seed]: test accuracy with every pool label (the ceiling);
    target: the accuracy of labels_to_reach() (see evaluate).

    Methods: rows() (labels vs accuracy per strategy and seed, a list of
    dicts, ready for pandas.DataFrame), mean_curve(strategy),
    labels_to_reach(target), area(strategy), summary() (text), plot(path).
    """

    def __init__(self, classes, strategies, seeds, batch, target):
        self.classes, self.strategies, self.seeds = classes, strategies, seeds
        self.batch = batch
        self.curves = {s: {} for s in strategies}
        self.seconds = {s: {} for s in strategies}
        self.reference = {}
        self._target = target

    def _add(self, strategy, seed, labels, acc, secs):
        self.curves[strategy][seed] = (np.asarray(labels, np.int64),
                                       np.asarray(acc, np.float64))
        self.seconds[strategy][seed] = np.asarray(secs)

    @property
    def target(self):
        if self._target is not None:
            return float(self._target)
        return 0.95 * float(np.mean(list(self.reference.values())))

    def rows(self):
        """[{strategy, seed, labels, accuracy}] for every round of every run."""
        return [{"strategy": s, "seed": seed, "labels": int(n),
                 "accuracy": float(a)}
                for s in self.strategies for seed in self.seeds
                for n, a in zip(*self.curves[s][seed])]

    def mean_curve(self, strategy):
        """(labels, mean accuracy over seeds, min, max) at the label counts
        every seed reached."""
        runs = [self.curves[strategy][seed] for seed in self.seeds]
        n = min(len(labels) for labels, _ in runs)
        acc = np.array([a[:n] for _, a in runs])
        return runs[0][0][:n], acc.mean(axis=0), acc.min(axis=0), acc.max(axis=0)

    def labels_to_reach(self, target=None):
        """{strategy: [labels the run needed to first reach `target` test
        accuracy, or None if it never did, per seed]}."""
        target = self.target if target is None else target
        out = {}
        for s in self.strategies:
            out[s] = []
            for seed in self.seeds:
                labels, acc = self.curves[s][seed]
                hit = np.flatnonzero(acc >= target)
                out[s].append(int(labels[hit[0]]) if hit.size else None)
        return out

    def area(self, strategy):
        """Mean test accuracy over the rounds (area under the mean learning
        curve, divided by its length): one number to rank strategies."""
        return float(np.mean(self.mean_curve(strategy)[1]))

    def summary(self, target=None):
        """The table as text: mean accuracy per strategy at a few label
        counts, the area and the labels to reach the target."""
        target = self.target if target is None else target
        reach = self.labels_to_reach(target)
        labels = self.mean_curve(self.strategies[0])[0]
        picks = sorted(set(np.linspace(0, len(labels) - 1, min(6, len(labels)))
                           .round().astype(int)))
        head = "%-16s" % "strategy" + "".join(
            "%9s" % ("@%d" % labels[i]) for i in picks) + "%8s  %s" % (
            "area", "labels to reach %.3f (per seed)" % target)
        lines = [head]
        for s in self.strategies:
            _, mean, _, _ = self.mean_curve(s)
            cells = "".join("%9.4f" % mean[i] for i in picks if i < len(mean))
            need = " ".join("-" if r is None else str(r) for r in reach[s])
            lines.append("%-16s%s%8.4f  %s" % (s, cells, self.area(s), need))
        ref = np.mean(list(self.reference.values()))
        lines.append("(mean test accuracy over %d seeds; with every pool label: "
                     "%.4f)" % (len(self.seeds), ref))
        return "\n".join(lines)

    __str__ = summary

    def __repr__(self):
        return "<hitl.Evaluation strategies=%s seeds=%s>" % (self.strategies,
                                                             self.seeds)

    def plot(self, path, target=None, title=None):
        """Draw the learning curves (mean over seeds, the band from the
        worst to the best seed) and the target and full-data lines into a
        PNG at `path` with matplotlib's Agg backend (no display needed).
        Returns path.  Needs python3-matplotlib."""
        fig, ax = agg_figure()
        for s in self.strategies:
            labels, mean, lo, hi = self.mean_curve(s)
            line, = ax.plot(labels, mean, label="%s (area %.3f)"
                            % (s, self.area(s)), linewidth=1.8)
            if len(self.seeds) > 1:
                ax.fill_between(labels, lo, hi, color=line.get_color(),
                                alpha=0.15, linewidth=0)
        target = self.target if target is None else target
        ref = float(np.mean(list(self.reference.values())))
        ax.axhline(ref, color="0.3", linestyle="--", linewidth=1,
                   label="every pool label (%.3f)" % ref)
        ax.axhline(target, color="0.5", linestyle=":", linewidth=1,
                   label="target (%.3f)" % target)
        ax.set_xlabel("labels")
        ax.set_ylabel("test accuracy")
        ax.set_title(title or "learning curves: mean over %d seed%s, band "
                     "min..max" % (len(self.seeds),
                                   "" if len(self.seeds) == 1 else "s"))
        return save(fig, ax, path)
