"""hitl.DriftMonitor: events equal an independent Python coding of
Page-Hinkley, ADWIN2 and PSI on a recorded stream; the router's alert;
parameters and errors."""
import math

import numpy as np
import pytest

import hitl


def stream(seed=7, n=6000):
    rng = np.random.default_rng(seed)
    half = n // 2
    conf = np.r_[1 - 0.5 * rng.random(half) ** 4,
                 1 - 0.5 * rng.random(n - half) ** 1.5].astype(np.float32)
    ok = np.r_[rng.random(half) >= 0.1, rng.random(n - half) >= 0.3]
    return conf, ok


def ref_page_hinkley(x, delta=0.005, lam=50, alpha=0.9999, min_n=30):
    fired, t, mean, m, mmin = [], 0, 0.0, 0.0, 0.0
    for i, v in enumerate(x):
        t += 1
        mean += (v - mean) / t
        m = alpha * m + (v - mean - delta)
        mmin = min(mmin, m)
        if t >= min_n and m - mmin > lam:
            fired.append(i + 1)
            t, mean, m, mmin = 0, 0.0, 0.0, 0.0
    return fired


def ref_adwin(x, delta=0.002, M=5, clock=32):
    """Buckets as [n, sum, ssd] lists, oldest first; the window's variance
    from the items themselves (numpy) rather than from the buckets."""
    buckets, items, fired = [], [], []
    for i, v in enumerate(x):
        buckets.append([1, float(v), 0.0])
        items.append(float(v))
        size = 1
        while True:
            idx = [j for j, b in enumerate(buckets) if b[0] == size]
            if len(idx) <= M:
                break
            a, b = buckets[idx[0]], buckets[idx[0] + 1]
            d = a[1] / a[0] - b[1] / b[0]
            buckets[idx[0]] = [a[0] + b[0], a[1] + b[1],
                               a[2] + b[2] + a[0] * b[0] * d * d / (a[0] + b[0])]
            del buckets[idx[0] + 1]
            size *= 2
        if (i + 1) % clock:
            continue
        cut = False
        while True:
            W = sum(b[0] for b in buckets)
            if W <= 10:
                break
            S = sum(b[1] for b in buckets)
            var = float(np.var(np.asarray(items[-W:])))
            dd = math.log(2 * math.log(W) / delta)
            n0 = s0 = 0
            found = False
            for b in buckets[:-1]:
                n0 += b[0]
                s0 += b[1]
                n1 = W - n0
                if n0 <= 6 or n1 <= 6:
                    continue
                mm = 1 / (n0 - 4) + 1 / (n1 - 4)
                eps = math.sqrt(2 * mm * var * dd) + 2 / 3 * dd * mm
                if abs(s0 / n0 - (S - s0) / n1) > eps:
                    found = True
                    break
            if not found:
                break
            del buckets[0]
            cut = True
        if cut:
            fired.append(i + 1)
    return fired


def ref_psi(x, window=500, bins=10, limit=0.1):
    ref = np.sort(np.asarray(x[:window], dtype=np.float64))
    edges = np.unique([ref[j * window // bins] for j in range(1, bins)])
    e = np.bincount(np.searchsorted(edges, ref, side="right"),
                    minlength=len(edges) + 1) / window
    fired = []
    for w in range(window, len(x) - window + 1, window):
        a = np.bincount(np.searchsorted(edges, np.asarray(x[w:w + window], dtype=np.float64),
                                        side="right"), minlength=len(edges) + 1) / window
        pe, pa = np.maximum(e, 1e-4), np.maximum(a, 1e-4)
        if np.sum((pa - pe) * np.log(pa / pe)) > limit:
            fired.append(w + window)
    return fired


def fired(m):
    return [e.at for e in m.events()]


@pytest.mark.parametrize("which", ["confidence", "error"])
def test_page_hinkley_matches_reference(which):
    conf, ok = stream()
    m = hitl.DriftMonitor(detectors="page_hinkley")
    if which == "confidence":
        m.observe(confidence=conf)
        want = ref_page_hinkley(1 - conf.astype(np.float64))
    else:
        m.observe(correct=ok)
        want = ref_page_hinkley(1.0 - ok)
    assert want and fired(m) == want


@pytest.mark.parametrize("which", ["confidence", "error"])
def test_adwin_matches_reference(which):
    conf, ok = stream()
    m = hitl.DriftMonitor(detectors="adwin")
    for a in range(0, len(conf), 250):        # batches do not matter
        if which == "confidence":
            m.observe(confidence=conf[a:a + 250])
        else:
            m.observe(correct=ok[a:a + 250])
    x = conf.astype(np.float64) if which == "confidence" else 1.0 - ok
    want = ref_adwin(x)
    assert want and fired(m) == want
    e = m.events()[0]
    assert e.detector == hitl.DriftDetector.ADWIN and e.statistic > e.threshold


def test_psi_matches_reference():
    conf, _ = stream()
    m = hitl.DriftMonitor(detectors="psi", psi_window=500, psi_threshold=0.1)
    m.observe(confidence=conf)
    want = ref_psi(conf, 500, 10, 0.1)
    assert want and fired(m) == want
    assert all(e.harmful and e.change_at == e.at - 500 for e in m.events())


def test_psi_significance_limit():
    scipy_stats = pytest.importorskip("scipy.stats")
    m = hitl.DriftMonitor(detectors="psi", psi_window=500, psi_alpha=0.01)
    m.observe(confidence=stream()[0][:500])
    exact = 2 / 500 * scipy_stats.chi2.ppf(0.99, 9)
    assert m.info("psi_limit") == pytest.approx(exact, rel=2e-3)


def test_router_alert_and_reset():
    conf, ok = stream()
    router = hitl.Router(2, threshold=0.8)
    proba = [[0.95, 0.05], [0.6, 0.4], [0.99, 0.01]]
    assert router.route(proba).n_accepted == 2
    m = hitl.DriftMonitor(router, detectors="adwin")
    assert m.router is router
    assert m.observe(conf, ok) > 0 and m.alert
    assert router.get_param("alert") == 1
    assert router.route(proba).n_accepted == 0
    router.set_param("alert_threshold", 0.97)
    assert router.route(proba).n_accepted == 1
    router.calibrate([[0.9, 0.1], [0.2, 0.8]], [0, 1])
    assert router.get_param("alert") == 0
    assert m.alert
    m.reset()
    assert not m.alert and m.info("n_confidence") == len(conf)
    m.router = None
    assert m.router is None


def test_params_and_errors():
    m = hitl.DriftMonitor()
    p = m.get_params()
    assert p["detectors"] == 7 and p["ph_lambda"] == 50
    assert p["adwin_delta"] == 0.002 and p["psi_threshold"] == 0.25
    with pytest.raises(hitl.InvalidArgument, match="ADWIN delta"):
        m.set_param("adwin_delta", 1)
    with pytest.raises(hitl.InvalidArgument, match="confidence\\[1\\]"):
        m.observe(confidence=[0.5, 1.5])
    with pytest.raises(hitl.NumericError):
        m.observe(confidence=[float("nan")])
    with pytest.raises(hitl.InvalidArgument, match="correct\\[0\\]"):
        m.observe(correct=np.array([2], dtype=np.uint8))
    assert m.info("n_confidence") == 0
    with pytest.raises(hitl.NotFound):
        m.event(0)
    with pytest.raises(hitl.InvalidArgument):
        hitl.DriftMonitor(detectors="nonsense")
    m.close()
    assert "closed" in repr(m)


def test_pickle_goes_on_the_same():
    import pickle
    conf, ok = stream()
    a = hitl.DriftMonitor(psi_window=400, ph_lambda=10)
    a.observe(conf[:3300], ok[:3300])
    b = pickle.loads(pickle.dumps(a))
    assert b.router is None and b.get_params() == a.get_params()
    a.observe(conf[3300:], ok[3300:])
    b.observe(conf[3300:], ok[3300:])
    assert [tuple(e) for e in a.events()] == [tuple(e) for e in b.events()] != []
    data = bytearray(a.to_bytes())
    data[40] ^= 1
    with pytest.raises(hitl.FormatError):
        hitl.DriftMonitor.from_bytes(bytes(data))
