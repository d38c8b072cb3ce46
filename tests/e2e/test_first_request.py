"""A fresh server whose first request is a page URL: Streamlit serves pages/ on its own until the
first st.navigation call, so the page goes back through app.py (widgets.require_app) and renders
inside the frame: app.py's navigation (its titles and sections) and the page's own content."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_server(tmp_path, streamlit_server):
    log = tmp_path / "log"
    with streamlit_server(tmp_path / "out", log) as url:
        yield url, log


def test_page_url_as_first_request_renders_inside_the_frame(page, fresh_server):
    url, log = fresh_server
    page.goto(url + "/run")
    expect(page.get_by_role("heading", name="Run", exact=True)).to_be_visible(timeout=60_000)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Label queue")).to_be_visible()  # a title only app.py's navigation gives
    expect(nav.get_by_text("Retrieval & bias")).to_be_visible()
    expect(page.get_by_text("No session yet.")).to_be_visible()  # app.py's sidebar picker ran
    assert page.url.rstrip("/").endswith("/run")
    assert page.get_by_test_id("stException").count() == 0
    assert "Traceback" not in log.read_text()
