"""A two-sample Kolmogorov-Smirnov test in numpy (no SciPy dependency)."""

import numpy as np


def ks_statistic(a, b):
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_pvalue(a, b):
    """Asymptotic p-value of the two-sample KS test (Stephens' correction)."""
    d = ks_statistic(a, b)
    n_eff = len(a) * len(b) / (len(a) + len(b))
    t = (np.sqrt(n_eff) + 0.12 + 0.11 / np.sqrt(n_eff)) * d
    k = np.arange(1, 101)
    p = 2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k**2 * t**2))
    return float(min(max(p, 0.0), 1.0))
