"""The Run page's "Images: loaded N, skipped M" expander (alor_core.ui.skips_view), drawn alone."""

from alor_core.data.images import ImageProblem
from alor_core.data.skips import SkipReport, write_skip_report


def _page(path):
    from alor_core.ui.skips_view import skipped_expander

    skipped_expander(path)


def test_expander_lists_counts_and_skipped_files(tmp_path):
    from streamlit.testing.v1 import AppTest

    r = SkipReport()
    r.add_found("pool", 3, "/data/photos")
    r.skip("pool", ImageProblem("cat/empty.png", "zero-bytes", "is empty (0 bytes); expected an image"))
    r.add_found("test", 2, "/data/photos")
    write_skip_report(tmp_path, r)
    at = AppTest.from_function(_page, args=(str(tmp_path),), default_timeout=60).run()
    assert not at.exception
    assert [e.label for e in at.expander] == ["Images: loaded 4, skipped 1"]
    counts, rows = at.dataframe[0].value, at.dataframe[1].value
    assert counts["source"].tolist() == ["pool", "test"] and counts["skipped"].tolist() == [1, 0]
    assert rows["path"].tolist() == ["cat/empty.png"] and rows["reason"].tolist() == ["zero-bytes"]


def test_nothing_is_drawn_for_a_session_without_a_report(tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page, args=(str(tmp_path),), default_timeout=60).run()
    assert not at.exception and len(at.expander) == 0
