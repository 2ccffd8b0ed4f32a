import pandas as pd
import pytest

from qmrflow.io.tables import typed_table


def test_typed_table_returns_a_typed_copy():
    table = pd.DataFrame({"participant_id": [1, 2], "value": ["1.5", "2"], "note": ["a", None]})
    out = typed_table(table, ["participant_id", "value"], ["value"], "results")
    assert out["participant_id"].tolist() == ["1", "2"]
    assert out["value"].tolist() == [1.5, 2.0] and out["value"].dtype == float
    assert table["value"].tolist() == ["1.5", "2"]  # the input is left alone


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([1, 2], "results must be a pandas DataFrame"),
        (pd.DataFrame({"participant_id": ["a"]}), r"results lacks column\(s\) \['value'\]"),
        (pd.DataFrame({"participant_id": [], "value": []}), "results is empty"),
        (
            pd.DataFrame({"participant_id": ["a"], "value": ["high"]}),
            "results column 'value' holds non-numeric values, e.g. 'high'",
        ),
    ],
)
def test_typed_table_names_the_table_and_the_column(table, message):
    with pytest.raises(ValueError, match=message):
        typed_table(table, ["participant_id", "value"], ["value"], "results")
