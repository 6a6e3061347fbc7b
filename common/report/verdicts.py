"""A reference number beside ours, in words computed from both: "met", "missed by X" or "level
within two standard errors"."""

from __future__ import annotations

import math

LEVEL = "level within two standard errors"


def against(
    value: float,
    reference: float,
    *,
    lower_is_better: bool = True,
    error: float = 0.0,
    reference_error: float = 0.0,
    fmt: str = ".3g",
) -> str:
    """Our `value` against a `reference` (a paper's number, a target), each with its standard
    error (0: exact). Level when they differ by at most twice the errors combined; else met
    (better, by how much) or missed (by how much)."""
    diff = value - reference
    spread = 2.0 * math.hypot(error, reference_error)
    if spread and abs(diff) <= spread:
        return LEVEL
    better = diff < 0 if lower_is_better else diff > 0
    if diff == 0:
        return "met"
    return f"met, better by {abs(diff):{fmt}}" if better else f"missed by {abs(diff):{fmt}}"


def about(
    value: float, reference: float, tolerance: float, lower_is_better: bool = False, fmt=".3g"
) -> str:
    """Our `value` against "about `reference`", which stands for the numbers that round to it
    (`tolerance`: half its last stated digit): met when it is one of them; with
    `lower_is_better`, a value below them is met and better; otherwise missed by how far it is
    from `reference`."""
    diff = value - reference
    if abs(diff) <= tolerance:
        return "met"
    if lower_is_better and diff < 0:
        return f"met, better by {-diff:{fmt}}"
    return f"missed by {abs(diff):{fmt}}"


def standard_error(values: list[float]) -> float:
    """The standard error of the mean of `values` (sample standard deviation / sqrt(n)); 0 for
    fewer than two."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
