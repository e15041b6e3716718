"""Agreement between annotators (hitl_agreement_*): Cohen's and Fleiss'
kappa, Krippendorff's alpha, per-annotator accuracy against a reference.

Ratings are parallel arrays (item, rater, label), as Feedback.answers()
returns them.  Labels are classes 0 .. n_classes-1; n_classes defaults to
1 + the largest label given (at least 2).  A statistic the data leave
undefined (e.g. every rating in one class) raises hitl.StateError.
Integer arrays are converted to the C types once (they are small).

Thread-safe: pure functions of their arguments (nothing is borrowed beyond
the call), callable from several threads at once.

>>> item, rater, label = [0, 0, 1, 1, 2, 2], [1, 2, 1, 2, 1, 2], [0, 0, 1, 1, 1, 0]
>>> round(hitl.krippendorff_alpha(item, rater, label), 4)
0.4444
"""
import numpy as np

from ._ffi import ffi, lib
from ._base import check, size_arg
from .errors import InvalidArgument
from . import _arrays

__all__ = ["cohen_kappa", "fleiss_kappa", "fleiss_kappa_counts",
           "krippendorff_alpha", "accuracy"]


def _classes(n_classes, *label_arrays):
    if n_classes is not None:
        return size_arg(n_classes, "n_classes")
    top = max((int(a.max()) for a in label_arrays if a.size), default=0)
    return max(2, top + 1)


def _ratings(item, rater, label):
    lab, pl = _arrays.ints(label, "int32_t", "label")
    it, pi = _arrays.ints(item, "uint64_t", "item", lab.shape[0])
    ra, pr = _arrays.ints(rater, "uint64_t", "rater", lab.shape[0])
    return (it, ra, lab), (pi, pr, pl), lab.shape[0]


def cohen_kappa(labels_a, labels_b, n_classes=None):
    """Cohen's kappa of two annotators' labels for the same items.

    >>> hitl.cohen_kappa([0, 1, 1, 0], [0, 1, 0, 0])
    0.5
    """
    a, pa = _arrays.ints(labels_a, "int32_t", "labels_a")
    b, pb = _arrays.ints(labels_b, "int32_t", "labels_b", a.shape[0])
    out = ffi.new("double *")
    check(lib.hitl_agreement_cohen_kappa(out, pa, pb, a.shape[0],
                                         _classes(n_classes, a, b)))
    return out[0]


def fleiss_kappa(item, rater, label, n_classes=None):
    """Fleiss' kappa of ratings where every item has the same number of
    ratings (>= 2).

    >>> round(hitl.fleiss_kappa([0, 0, 1, 1, 2, 2], [1, 2, 1, 2, 1, 2],
    ...                         [0, 0, 1, 1, 1, 0]), 4)
    0.3333
    """
    keep, (pi, pr, pl), n = _ratings(item, rater, label)
    out = ffi.new("double *")
    check(lib.hitl_agreement_fleiss_kappa(out, pi, pr, pl, n,
                                          _classes(n_classes, keep[2])))
    return out[0]


def fleiss_kappa_counts(counts):
    """Fleiss' kappa from an (items, classes) table of rating counts, the
    form of Fleiss' paper; every row must sum to the same m >= 2.

    >>> round(hitl.fleiss_kappa_counts([[2, 0], [0, 2], [1, 1]]), 4)
    0.3333
    """
    c = np.asarray(counts)
    if c.ndim != 2:
        raise InvalidArgument("counts must be 2-D (items, classes), got %s"
                              % (c.shape,))
    flat, pc = _arrays.ints(c.reshape(-1), "uint32_t", "counts")
    out = ffi.new("double *")
    check(lib.hitl_agreement_fleiss_kappa_counts(out, pc, c.shape[0], c.shape[1]))
    return out[0]


def krippendorff_alpha(item, rater, label, n_classes=None):
    """Krippendorff's alpha (nominal), any number of raters per item.

    >>> round(hitl.krippendorff_alpha([0, 0, 1, 1, 2], [1, 2, 1, 2, 3],
    ...                               [0, 0, 1, 1, 1]), 4)
    1.0
    """
    keep, (pi, pr, pl), n = _ratings(item, rater, label)
    out = ffi.new("double *")
    check(lib.hitl_agreement_krippendorff_alpha(out, pi, pr, pl, n,
                                                _classes(n_classes, keep[2])))
    return out[0]


def accuracy(annotators, item, rater, label, ref_item, ref_label,
             n_classes=None):
    """How often each annotator matches a reference labelling
    (ref_item[g] has class ref_label[g]).  Returns (accuracy float64 with NaN
    where an annotator rated no reference item, n_scored uintp).

    >>> hitl.accuracy([1, 2], item=[0, 0, 1, 1], rater=[1, 2, 1, 2],
    ...               label=[0, 1, 1, 1], ref_item=[0, 1], ref_label=[0, 1])
    (array([1. , 0.5]), array([2, 2], dtype=uint64))
    """
    ann, pa = _arrays.ints(annotators, "uint64_t", "annotators")
    keep, (pi, pr, pl), n = _ratings(item, rater, label)
    rl, prl = _arrays.ints(ref_label, "int32_t", "ref_label")
    ri, pri = _arrays.ints(ref_item, "uint64_t", "ref_item", rl.shape[0])
    acc, pacc = _arrays.out(ann.shape[0], np.float64, "double")
    scored, ps = _arrays.out(ann.shape[0], np.uintp, "size_t")
    check(lib.hitl_agreement_accuracy(pacc, ps, pa, ann.shape[0], pi, pr, pl, n,
                                      pri, prl, rl.shape[0],
                                      _classes(n_classes, keep[2], rl)))
    return acc, scored
