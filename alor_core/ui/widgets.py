"""Small building blocks shared by the pages: session picking, errors, progress, image grids."""

from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator
from pathlib import Path

import streamlit as st

from .. import analysis
from ..errors import AlorError
from ..loop.session import Session
from ..paths import PROJECT_DIR, output_dir
from . import cache
from .state import APP_GOTO, APP_PICKER, APP_SESSION, LABEL_ID, URL_LABELER, URL_SESSION
from ..progress import Progress

__all__ = [
    "demo_spec",
    "small_demo",
    "alor_errors",
    "sessions",
    "current_session",
    "session_picker",
    "require_session",
    "progress_callback",
    "image_grid",
    "state_text",
    "session_label",
    "set_session",
    "rerun_when_done",
    "page_path",
    "app_frame",
    "require_app",
    "goto_requested_page",
    "labeler_id",
    "pending_session",
    "session_from_url",
]

PAGES_DIR = PROJECT_DIR / "pages"
_IN_APP: ContextVar[bool] = ContextVar("alor_in_app_frame", default=False)

STATE_TEXT = {
    "preparing": "preparing",
    "adapting": "training",
    "selecting": "selecting images",
    "waiting_for_labels": "waiting for labels",
    "paused": "paused",
    "done": "done",
    "stopped": "stopped",
    "new": "not started",
}


def small_demo():
    """``ALOR_DEMO_SMALL=1`` makes the dashboard use the reduced demo world (tests, quick looks)."""
    return os.environ.get("ALOR_DEMO_SMALL", "") not in ("", "0", "false")


def demo_spec():
    from ..data import DemoWorldSpec

    return DemoWorldSpec.small() if small_demo() else DemoWorldSpec()


@contextmanager
def alor_errors(stop=True):
    """Show an :class:`AlorError` as ``st.error(str(err))`` (and stop the page) instead of a trace."""
    try:
        yield
    except AlorError as err:
        st.error(str(err))
        if stop:
            st.stop()


def sessions():
    """Every session under the output folder (newest first)."""
    return analysis.find_sessions(output_dir())


def _url_value(path) -> str:
    """How a session path is written in the URL: relative to the output folder when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(output_dir().resolve()))
    except (ValueError, OSError):
        return str(p)


def session_from_url() -> Path | None:
    """The session named by the URL's ``?session=`` (relative to the output folder), or None.

    A value that is not a session folder inside the output folder is ignored with a sidebar note
    naming it (a URL from another server, a deleted run, or a path that tries to leave the folder).
    """
    raw = st.query_params.get(URL_SESSION)
    if not raw:
        return None
    root = output_dir().resolve()
    try:
        p = (root / raw).resolve()
    except (OSError, ValueError):
        p = None
    if p is None or not p.is_relative_to(root) or not (p / "config.json").is_file():
        st.sidebar.caption(
            f"The link's session `{raw[:120]}` is not a session folder under {root}: showing another one."
        )
        return None
    return p


def set_session(path) -> None:
    """Make ``path`` the current session of this browser session: session state and the URL.

    Each browser tab has its own session state and URL, so tabs never switch each other, and a
    refresh (which keeps the URL) comes back to the same session.
    """
    st.session_state[APP_SESSION] = str(path)
    value = _url_value(path)
    if st.query_params.get(URL_SESSION) != value:
        st.query_params[URL_SESSION] = value
    _keep_labeler_in_url()


def labeler_id() -> str:
    """This browser session's labeler id: kept in session state and the URL (``?labeler=``).

    A refresh keeps it (the URL does), so undo still knows which labels are this person's; a new
    tab without the parameter gets a new random id.
    """
    me = st.session_state.get(LABEL_ID)
    if not me:
        raw = st.query_params.get(URL_LABELER, "")
        me = raw if re.fullmatch(r"[A-Za-z0-9_-]{1,32}", raw or "") else secrets.token_hex(4)
        st.session_state[LABEL_ID] = me
    _keep_labeler_in_url()
    return me


def _keep_labeler_in_url():
    me = st.session_state.get(LABEL_ID)
    if me and st.query_params.get(URL_LABELER) != me:
        st.query_params[URL_LABELER] = me


def pending_session() -> Path | None:
    """The current session when it is still being created: a run just started whose session folder
    has no ``config.json`` yet but whose background job is alive. None otherwise."""
    path = st.session_state.get(APP_SESSION)
    if not path or (Path(path) / "config.json").is_file():
        return None
    from ..loop.jobs import job_info

    info = job_info(Path(path).parent)
    return Path(path) if info and info["alive"] else None


def session_label(row):
    state = STATE_TEXT.get(row["state"], row["state"])
    return f"{row['run']} · seed {row['seed']} · {row['mode']} · {state}"


def current_session():
    """The session every page shows: this browser session's (session state), else the URL's
    (a refresh), else the newest on disk. None while none exists, or while the current one is
    still being created (:func:`pending_session`)."""
    path = st.session_state.get(APP_SESSION)
    if path and (Path(path) / "config.json").is_file():
        set_session(path)  # keeps the URL in step (a page switch may have dropped its parameters)
        return Session(path)
    url = session_from_url() if not path else None
    if url is not None:
        set_session(url)
        return Session(url)
    if pending_session() is not None:
        return None
    df = sessions()
    if len(df):
        set_session(df["path"].iloc[0])
        return Session(df["path"].iloc[0])
    return None


def require_session():
    """The current session, or an explanation of what to do next and ``st.stop()``."""
    s = current_session()
    pending = pending_session() if s is None else None
    if pending is not None:
        st.info(
            f"Session **{pending.parent.name}** / {pending.name} is starting: this page shows it as soon as "
            "its folder is ready."
        )
        st.fragment(run_every=2)(_rerun_when_exists)(str(pending / "config.json"))
        st.stop()
    if s is None:
        st.info("No session yet: start one on the **Run** page, or run the one-click demo on **Home**.")
        st.page_link(page_path("run"), label="Go to the Run page", icon=":material/play_arrow:")
        st.stop()
    return s


def _rerun_when_exists(path):
    """Fragment body: rerun the page once ``path`` exists."""
    if Path(path).exists():
        st.rerun()


def session_picker():
    """Sidebar selectbox over the sessions on disk; writes the choice to ``app.session`` and the URL."""
    _keep_labeler_in_url()
    cur = current_session()
    pending = pending_session() if cur is None else None
    if pending is not None:  # a run just started: its session becomes current once its folder exists
        st.sidebar.caption(f"Session: starting **{pending.parent.name}** / {pending.name}…")
        return None
    df = sessions()
    if not len(df):
        st.sidebar.caption("No session yet.")
        return None
    paths = df["path"].tolist()
    labels = {p: session_label(r) for p, r in zip(paths, df.to_dict("records"))}
    # The picker follows app.session (which other pages set too); a choice here sets app.session.
    st.session_state[APP_PICKER] = str(cur.path) if cur is not None and str(cur.path) in paths else paths[0]
    pick = st.sidebar.selectbox(
        "Session",
        paths,
        format_func=labels.get,
        key=APP_PICKER,
        help=f"Sessions under {output_dir()}",
        on_change=lambda: set_session(st.session_state[APP_PICKER]),
    )
    set_session(pick)
    return Session(pick)


def state_text(status):
    state = STATE_TEXT.get(status.get("state"), status.get("state") or "not started")
    r = status.get("round")
    return f"{state} (round {r})" if r is not None and status.get("state") != "done" else state


def progress_callback(bar) -> Progress:
    """A :class:`~alor_core.progress.Progress` that draws on ``bar`` (an ``st.progress``): the fraction,
    and ``"<stage>: <message>"`` (the message alone for a report without a stage)."""

    def progress(fraction: float, message: str = "", *, stage: str | None = None) -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=message if stage is None else f"{stage}: {message}")

    return progress


def image_grid(paths, captions, n_cols=6, size=112, width=None):
    """Images in rows of ``n_cols``; small images are upscaled with nearest-neighbour."""
    for start in range(0, len(paths), n_cols):
        cols = st.columns(n_cols)
        for col, p, cap in zip(cols, paths[start : start + n_cols], captions[start : start + n_cols]):
            with col:
                try:
                    st.image(cache.display_image(str(p), size), width=width or size)
                except (OSError, AlorError) as err:  # an image that cannot be decoded: named, the grid goes on
                    st.warning(f"cannot read {Path(p).name}: {getattr(err, 'detail', err)}")
                st.caption(cap)


def effect_metric(col, title: str, values, reference, reference_name: str):
    """``col.metric`` of ``values`` (mean ± std, n) with its difference to ``reference`` as the delta,
    coloured only when the difference is beyond noise (:func:`alor_core.effects.compare`).

    Returns the :class:`~alor_core.effects.Effect`, so a page can word its sentence from the same
    comparison.
    """
    from .. import effects

    eff = effects.compare(values, reference)
    delta = (
        None
        if eff.diff is None
        else (f"{eff.diff:+.1f} vs {reference_name}" + ("" if eff.beyond_noise else " (within noise)"))
    )
    col.metric(title, effects.format_mean_std(values), delta, delta_color="normal" if eff.beyond_noise else "off")
    return eff


def rerun_after(seconds: float) -> None:
    """Rerun the page after ``seconds`` (a page that follows work done by another process)."""
    import time

    time.sleep(seconds)
    st.rerun()


def rerun_when_done(pid):
    """Fragment body: poll a background job and rerun the page once it has exited."""
    from ..loop.jobs import is_alive

    if not is_alive(pid):
        st.rerun()


def page_path(name: str) -> str:
    """Absolute path of the dashboard page ``pages/<name>.py`` (for ``st.page_link``, ``st.switch_page``).

    Absolute, so that a link resolves whatever folder the entry script is in.
    """
    return str(PAGES_DIR / f"{name}.py")


@contextmanager
def app_frame() -> Iterator[None]:
    """``app.py`` runs the chosen page inside this block: :func:`require_app` then lets it render.

    The flag is a context variable of the script run, so it holds for exactly one execution of
    ``app.py`` in one session and never leaks into another session's run.
    """
    token = _IN_APP.set(True)
    try:
        yield
    finally:
        _IN_APP.reset(token)


def require_app(name: str) -> None:
    """First call of every page: a page renders only inside ``app.py`` (its ``st.navigation`` frame).

    Streamlit runs a page file on its own in two cases: a fresh server whose first request is a
    page URL (with a ``pages/`` folder next to the entry script, Streamlit serves that folder until
    the first ``st.navigation`` call), and ``streamlit run pages/<name>.py``. Then this remembers
    the page, switches to ``app.py`` (which opens it again inside the frame) and stops; where
    ``app.py`` is not a page of the running app it shows how to start the dashboard instead.

    Parameters
    ----------
    name : str
        The page's file name without ``.py`` (``"run"`` for ``pages/run.py``).
    """
    if _IN_APP.get():
        return
    st.session_state[APP_GOTO] = name
    try:
        # stops this run (a BaseException); the URL's ?session= and ?labeler= come along
        st.switch_page(str(PROJECT_DIR / "app.py"), query_params=st.query_params.to_dict())
    except Exception:  # app.py is not a page here: this file was started as the entry script
        st.session_state.pop(APP_GOTO, None)
        st.info(
            "This is a page of ALOR Studio: start the dashboard with `streamlit run app.py` "
            "(or `make app`) and open it from the sidebar."
        )
    st.stop()


def goto_requested_page() -> None:
    """In ``app.py`` after ``st.navigation``: open the page that :func:`require_app` sent here."""
    name = st.session_state.pop(APP_GOTO, None)
    if name and (PAGES_DIR / f"{name}.py").is_file():
        st.switch_page(page_path(name), query_params=st.query_params.to_dict())
