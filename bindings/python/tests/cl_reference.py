"""Confident learning in numpy, written from the paper, as the referee of
hitl_recheck (cleanlab cannot be installed here).

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 70 (2021): per-class thresholds (Eq. 2), the confident
joint (Eq. 1), its calibration (Eq. 3), prune by noise rate (Sec. 3.3), and
the ranking by self-confidence or normalised margin.  The tie rules and the
two additions cleanlab makes (a diagonal of at least 1 before calibrating;
an item whose label is its argmax is never flagged) follow hitl.h, section
"Labels to re-check".  Shares no code with the library: the pruning sorts
each cell's margins (the library selects them by radix passes).

    flagged, order, scores, info = find_label_issues(labels, pred_probs)

bench/bench_recheck.py imports this file too.
"""
import numpy as np


def thresholds(labels, pred_probs):
    """t_j = mean p_j over the items labeled j; +inf for an empty class."""
    K = pred_probs.shape[1]
    t = np.full(K, np.inf)
    for j in range(K):
        mask = labels == j
        if mask.any():
            t[j] = pred_probs[mask, j].astype(np.float64).sum() / mask.sum()
    return t


def confident_joint(labels, pred_probs, t):
    """C[i][j]: items labeled i whose confident class (largest p among the
    classes at or above their threshold, the lower on ties) is j."""
    K = pred_probs.shape[1]
    above = pred_probs.astype(np.float64) >= t[None, :]
    masked = np.where(above, pred_probs, -1.0)
    guess = masked.argmax(axis=1)               # first maximum: lower class
    has = above.any(axis=1)
    C = np.zeros((K, K))
    np.add.at(C, (labels[has], guess[has]), 1)
    return C


def calibrate(C, label_counts):
    """Rows scaled to the label counts (diagonal >= 1 first), rounded by the
    largest remainder (the lower column on ties) to keep each row sum."""
    K = C.shape[0]
    out = np.zeros_like(C)
    for i in range(K):
        n_i = label_counts[i]
        if n_i == 0:
            continue
        row = C[i].copy()
        row[i] = max(row[i], 1.0)
        x = row * n_i / row.sum()
        fl = np.floor(x)
        left = int(round(n_i - fl.sum()))
        order = np.lexsort((np.arange(K), -(x - fl)))
        fl[order[:left]] += 1
        out[i] = fl
    return out


def prune_by_noise_rate(labels, pred_probs, Ct):
    """Boolean mask: items chosen by some off-diagonal cell (i, j), which
    takes the Ct[i][j] items labeled i of largest p_j - p_i (float32), the
    lower index on ties."""
    n, K = pred_probs.shape
    mask = np.zeros(n, dtype=bool)
    for i in range(K):
        idx = np.flatnonzero(labels == i)
        for j in range(K):
            m = int(Ct[i, j])
            if i == j or m == 0:
                continue
            margin = (pred_probs[idx, j] - pred_probs[idx, i]).astype(np.float32)
            order = np.lexsort((idx, -margin.astype(np.float64)))
            mask[idx[order[:m]]] = True
    return mask


def scores_of(labels, pred_probs, rank_by):
    p = pred_probs.astype(np.float64)
    own = p[np.arange(len(labels)), labels]
    if rank_by == "self_confidence":
        return own
    other = p.copy()
    other[np.arange(len(labels)), labels] = -1.0
    return (own - other.max(axis=1) + 1.0) * 0.5


def find_label_issues(labels, pred_probs, rank_by="self_confidence"):
    """Returns (flagged row indices ranked most-probably-wrong first, their
    scores, info dict with thresholds, joint, calibrated, n_noisy)."""
    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=np.float32)
    K = pred_probs.shape[1]
    counts = np.bincount(labels, minlength=K).astype(np.float64)
    t = thresholds(labels, pred_probs)
    C = confident_joint(labels, pred_probs, t)
    Ct = calibrate(C, counts)
    mask = prune_by_noise_rate(labels, pred_probs, Ct)
    mask &= pred_probs.argmax(axis=1) != labels
    rows = np.flatnonzero(mask)
    s = scores_of(labels[rows], pred_probs[rows], rank_by)
    order = np.lexsort((rows, s))
    info = {"thresholds": np.where(np.isinf(t), np.nan, t), "joint": C,
            "calibrated": Ct, "n_noisy": Ct.sum() - np.trace(Ct)}
    return rows[order], s[order], info


def flip_labels(y, rate, K, rng, kind="symmetric"):
    """Labels with a share `rate` flipped: symmetric (to any other class,
    uniformly) or class-conditional (class c to (c + 1) mod K, or to a
    second fixed class for odd c, so the noise has structure).  Returns
    (noisy labels, boolean mask of the flipped items)."""
    y = np.asarray(y)
    n = len(y)
    flip = np.zeros(n, dtype=bool)
    flip[rng.choice(n, size=int(round(rate * n)), replace=False)] = True
    noisy = y.copy()
    if kind == "symmetric":
        shift = rng.integers(1, K, size=n)
        noisy[flip] = (y[flip] + shift[flip]) % K
    else:
        target = np.where(y % 2 == 0, (y + 1) % K, (y + 3) % K)
        noisy[flip] = target[flip]
    return noisy, flip
