"""Where the benchmarks' reports go (no Keras import: the GPU benchmark's
parent process runs without a backend)."""

import json
import os
import platform


def host():
    """The machine the numbers come from, as hardware and Python."""
    return {
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_json(report, out, filename):
    """Writes `report` to `<out>/<filename>`; returns the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, filename)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    return path


def format_ratio(result, key="ratio_vs_plain"):
    """`ratio ±half the interquartile range` of a result's blockwise ratios,
    as the tables and pages quote it (`key` and `key_iqr` in `result`)."""
    q1, q3 = result[f"{key}_iqr"]
    return f"{result[key]:.3f} ±{(q3 - q1) / 2:.3f}"
