"""Frozen settings dataclasses from configuration mappings, one rule for every study.

Light on purpose (no pandas, YAML or JSON Schema): per-subject DL jobs import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from qmrflow.errors import ConfigError

__all__ = ["int_pair", "settings_from_mapping"]

T = TypeVar("T")


def settings_from_mapping(
    cls: type[T],
    values: Mapping[str, Any] | T | None,
    what: str,
    *,
    error: type[Exception] = ConfigError,
) -> T:
    """``cls`` (a dataclass) from a mapping: missing keys take the defaults, unknown keys are
    refused naming the known ones; an instance of ``cls`` passes through, None gives the
    defaults.

    Raises
    ------
    Exception
        ``error`` (a :class:`~qmrflow.errors.ConfigError` by default) for unknown keys, and
        whatever ``cls`` raises for bad values.
    """
    if values is None:
        return cls()
    if isinstance(values, cls):
        return values
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)  # type: ignore[arg-type]
    if unknown:
        raise error(f"unknown {what} {unknown}; known: {sorted(known)}")
    return cls(**dict(values))  # type: ignore[arg-type]


def int_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """Two integers of at least ``minimum`` (e.g. a matrix), or a ConfigError naming ``name``."""
    try:
        pair = tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be two integers, got {value!r}") from exc
    if len(pair) != 2 or min(pair) < minimum:
        raise ConfigError(f"{name} must be two integers >= {minimum}, got {value!r}")
    return pair  # type: ignore[return-value]
