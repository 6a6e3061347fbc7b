"""Rules for config values, checked before a run writes anything; a broken one is one line.

Each trainer lists its rules as {dotted field pattern: Rule} (`*` matches any key, so
`optimizers.*.learning_rate` covers every optimizer); `check` applies them to a config.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ml_collections

from common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Rule:
    ok: Callable[[Any], bool]
    must: str  # completes "config.FIELD=VALUE must be ..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(minimum: int, maximum: int | None = None) -> Rule:
    if maximum is None:
        return Rule(lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}")
    return Rule(
        lambda v: _is_int(v) and minimum <= v <= maximum,
        f"an integer from {minimum} to {maximum}",
    )


SEED = integer(0, 2**63 - 1)  # what a PRNG key (and numpy's generators) take


def integers(minimum: int) -> Rule:
    """A sequence of integers, each >= minimum (e.g. epochs)."""
    return Rule(
        lambda v: isinstance(v, list | tuple) and all(_is_int(x) and x >= minimum for x in v),
        f"a sequence of integers >= {minimum}",
    )


def real(low: float, high: float = math.inf, *, open_low=False, open_high=False) -> Rule:
    """A finite number in the interval (NaN and infinities never pass)."""

    def ok(v: Any) -> bool:
        if not (_is_int(v) or isinstance(v, float)) or not math.isfinite(v):
            return False
        return (v > low if open_low else v >= low) and (v < high if open_high else v <= high)

    if high == math.inf:
        must = f"finite and {'>' if open_low else '>='} {low:g}"
    else:
        must = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    return Rule(ok, must)


def one_of(values: Iterable[str]) -> Rule:
    values = tuple(values)
    return Rule(lambda v: v in values, f"one of {', '.join(values)}")


POSITIVE = real(0.0, open_low=True)  # learning rates
BETA = real(0.0, 1.0, open_high=True)  # Adam's b1, b2
BOOLEAN = Rule(lambda v: isinstance(v, bool), "True or False")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data": {"limit": 0}} -> {"data.limit": 0}."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check(config: ml_collections.ConfigDict, rules: Mapping[str, Rule]) -> None:
    """Raises ConfigError naming the first field (in the order of `rules`) a rule refuses, or
    missing: every rule without a `*` names a field the config must have."""
    fields = flatten(config.to_dict())
    for pattern, rule in rules.items():
        if "*" not in pattern and pattern not in fields:
            raise ConfigError(f"config.{pattern} is missing")
        for field in sorted(f for f in fields if fnmatch.fnmatchcase(f, pattern)):
            if not rule.ok(fields[field]):
                raise ConfigError(f"config.{field}={fields[field]!r} must be {rule.must}")
