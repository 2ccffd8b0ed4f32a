"""QC index table (qmrflow.figures.qc)."""

from qmrflow.figures.qc import write_qc_index
from qmrflow.io import read_tsv


def test_the_index_names_each_subject_s_images_relative_to_the_group_folder(tmp_path):
    index = tmp_path / "group" / "qc.tsv"
    write_qc_index(
        {
            "strip": {"p1": tmp_path / "sub-p1/figures/a.png"},
            "animation": {"p1": tmp_path / "sub-p1/figures/a.gif"},
        },
        index,
    )
    table = read_tsv(index)
    assert list(table.columns) == ["participant_id", "strip", "animation"]
    assert table.loc[0, "strip"] == "../sub-p1/figures/a.png"
    assert table.loc[0, "animation"] == "../sub-p1/figures/a.gif"
