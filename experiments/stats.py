"""Means, standard deviations and t confidence intervals for repeated runs.

Only numpy: a table of Student-t quantiles for small samples (where repeated
training runs live) and the Cornish-Fisher expansion beyond it.
"""

import math

import numpy as np

# Two-sided 95% quantiles t_{0.975, df} for df = 1..30.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)
_Z_975 = 1.959964


def t_quantile_975(df):
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"`df` must be >= 1, got {df!r}.")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = _Z_975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def describe(values):
    """Mean, sample standard deviation and 95% t interval of the mean."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": math.nan, "ci95": [math.nan, math.nan]}
    std = float(values.std(ddof=1))
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def paired_difference(a, b):
    """`describe` of the per-seed differences `a - b` (a paired comparison:
    both arms of a seed share initial weights and data order)."""
    return describe(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
