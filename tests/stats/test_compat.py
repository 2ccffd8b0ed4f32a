"""Deprecated aliases of the statistics API warn and map onto the new names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qmrflow.stats._compat import DeprecatedAlias, renamed_arguments


@renamed_arguments(a="x", b="y")
def _difference(x: float, y: float) -> float:
    return x - y


@dataclass(frozen=True)
class _Result:
    log_se: float
    se_log = DeprecatedAlias("log_se")


def test_old_argument_names_warn_and_are_passed_on():
    with pytest.warns(DeprecationWarning, match="'a' is deprecated, use 'x'"):
        assert _difference(a=3.0, y=1.0) == 2.0
    assert _difference(3.0, 1.0) == _difference(x=3.0, y=1.0) == 2.0


def test_old_and_new_argument_names_together_are_an_error():
    with pytest.raises(TypeError, match="both 'a'"):
        _difference(a=3.0, x=3.0, y=1.0)


def test_old_field_names_warn_and_read_the_new_field():
    result = _Result(log_se=0.25)
    with pytest.warns(DeprecationWarning, match=r"_Result.se_log is deprecated, use .log_se"):
        assert result.se_log == 0.25
    assert "se_log" not in repr(result)
