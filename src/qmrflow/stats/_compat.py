"""Deprecated names of the statistics API: old argument and result-field names kept as aliases.

The engine uses one vocabulary (README, "Statistics"): ``x``, ``y`` for two measurements,
``confidence`` keyword-only, ``ci_low``/``ci_high``, ``se``, ``p`` and ``n`` fields. Names used
before it still work for a while, each with a :class:`DeprecationWarning` that names the new one.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed_arguments(**renames: str) -> Callable[[F], F]:
    """Accept old keyword arguments as deprecated aliases: ``@renamed_arguments(a="x")``.

    Passing both the old and the new name is a :class:`TypeError`.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        f"{func.__name__}() got both {old!r} (deprecated) and {new!r}; "
                        f"pass {new!r} only"
                    )
                warnings.warn(
                    f"{func.__name__}(): argument {old!r} is deprecated, use {new!r}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def keyword_only_since(n_positional: int, *names: str) -> Callable[[F], F]:
    """Accept, with a DeprecationWarning, arguments that became keyword-only passed by position.

    ``names`` are the keyword-only parameters in their former positional order, after the first
    ``n_positional`` positional parameters (counting ``cls`` for a classmethod).
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra = args[n_positional:]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(
                        f"{func.__qualname__}() takes {n_positional} positional arguments "
                        f"but {len(args)} were given"
                    )
                for name, value in zip(names, extra, strict=False):
                    if name in kwargs:
                        raise TypeError(
                            f"{func.__qualname__}() got multiple values for argument {name!r}"
                        )
                    kwargs[name] = value
                passed = ", ".join(names[: len(extra)])
                warnings.warn(
                    f"{func.__qualname__}(): passing {passed} by position is deprecated; "
                    f"pass {passed.split(', ')[0]}=... as a keyword",
                    DeprecationWarning,
                    stacklevel=2,
                )
                args = args[:n_positional]
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class DeprecatedAlias:
    """A read-only result field under its old name: ``se_log = DeprecatedAlias("log_se")``.

    Declared without an annotation, so a dataclass does not take it for a field.
    """

    def __init__(self, new: str) -> None:
        self.new = new
        self.old = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.old = name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        warnings.warn(
            f"{type(obj).__name__}.{self.old} is deprecated, use .{self.new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(obj, self.new)
