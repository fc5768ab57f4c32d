"""What report.py and tls-report.py share: reading numbers from the run's
CSV files, the same-round medians, and how a number is printed."""

import statistics


def num(v):
    """`v` as a float, or None when it is empty or not a number."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def med(values):
    """The median of the values that are numbers, or None."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=2):
    """`v` with as many digits as its size deserves; `-` for None."""
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}f}"
