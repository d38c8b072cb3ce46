"""The one Progress protocol (alor_core.progress), its composition helpers, and that every public
``progress`` parameter of alor_core is annotated with it (so no other callback shape comes back)."""

import importlib
import inspect
import pkgutil
import typing

import pytest

import alor_core
from alor_core.progress import NO_PROGRESS, Progress, as_progress, sub_progress, with_stage


class Recorder:
    """A Progress that keeps every report as (fraction, message, stage)."""

    def __init__(self):
        self.calls = []

    def __call__(self, fraction: float, message: str = "", *, stage: str | None = None) -> None:
        self.calls.append((fraction, message, stage))


def test_a_callable_of_the_protocol_shape_is_a_progress():
    rec = Recorder()
    assert isinstance(rec, Progress) and isinstance(NO_PROGRESS, Progress)
    rec(0.5, "half", stage="adapt")
    rec(1.0)
    assert rec.calls == [(0.5, "half", "adapt"), (1.0, "", None)]


def test_no_progress_and_as_progress():
    assert NO_PROGRESS(0.3, "ignored", stage="x") is None
    assert as_progress(None) is NO_PROGRESS
    rec = Recorder()
    assert as_progress(rec) is rec


def test_sub_progress_maps_onto_a_slice_and_passes_the_rest_through():
    rec = Recorder()
    sub = sub_progress(rec, 0.2, 0.6)
    sub(0.0, "start")
    sub(0.5, "half", stage="features")
    sub(1.0, "end")
    assert [c[0] for c in rec.calls] == pytest.approx([0.2, 0.4, 0.6])
    assert [(m, s) for _, m, s in rec.calls] == [("start", None), ("half", "features"), ("end", None)]


def test_sub_progress_nests_and_pins():
    rec = Recorder()
    inner = sub_progress(sub_progress(rec, 0.5, 1.0), 0.0, 0.5)  # the first half of the second half
    inner(1.0, "m")
    assert rec.calls[-1][0] == pytest.approx(0.75)
    pinned = sub_progress(rec, 0.0, 0.0)  # the parent's fraction stays; messages still arrive
    pinned(0.9, "view 3/8")
    assert rec.calls[-1] == (0.0, "view 3/8", None)


def test_sub_progress_accepts_a_plain_fraction_message_parent_and_none():
    seen = []
    sub_progress(lambda f, m: seen.append((f, m)), 0.08, 0.93)(1.0, "done")
    assert seen == [(pytest.approx(0.93), "done")]
    sub_progress(None, 0.0, 1.0)(0.5, "nobody listens")  # no error


def test_with_stage_tags_every_report():
    rec = Recorder()
    tagged = with_stage(rec, "retrieval")
    tagged(0.05, "matching captions")
    tagged(1.0, "done", stage="inner")  # the caller names the stage
    assert rec.calls == [(0.05, "matching captions", "retrieval"), (1.0, "done", "retrieval")]
    with_stage(None, "x")(0.5, "nobody listens")


def test_stage_and_slice_compose():
    rec = Recorder()
    p = sub_progress(with_stage(rec, "demo world"), 0.08, 0.93)
    p(0.5, "training tiny CLIP")
    assert rec.calls == [(pytest.approx(0.505), "training tiny CLIP", "demo world")]


def _public_functions():
    """(qualified name, function) for every public function and public method of a public class
    that a module of alor_core defines (``__all__`` or not, the Streamlit layer included)."""
    names = ["alor_core"] + [i.name for i in pkgutil.walk_packages(alor_core.__path__, "alor_core.")]
    for name in sorted(n for n in names if n != "alor_core.__main__"):  # __main__ runs the CLI
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if inspect.isclass(obj):
                for m_name, member in vars(obj).items():
                    if m_name.startswith("_") and m_name not in ("__init__", "__call__"):
                        continue
                    member = getattr(member, "__func__", member)
                    if inspect.isfunction(inspect.unwrap(member)):
                        yield f"{name}.{attr}.{m_name}", inspect.unwrap(member)
            elif inspect.isfunction(obj):
                yield f"{name}.{attr}", inspect.unwrap(obj)


def test_the_walk_sees_the_progress_parameters():
    found = {q for q, fn in _public_functions() if "progress" in inspect.signature(fn).parameters}
    assert {"alor_core.loop.rounds.run", "alor_core.grid.run_grid", "alor_core.models.features.encode_images"} <= found


def test_every_public_progress_parameter_is_the_progress_protocol():
    wrong = []
    for q, fn in _public_functions():
        if "progress" not in inspect.signature(fn).parameters:
            continue
        hint = fn.__annotations__.get("progress")
        try:  # only this annotation is evaluated (others may name TYPE_CHECKING-only imports)
            hint = eval(hint, fn.__globals__) if isinstance(hint, str) else hint
        except NameError as err:
            wrong.append(f"{q}: {hint!r} ({err}: import Progress from alor_core.progress)")
            continue
        args = set(typing.get_args(hint)) or {hint}
        if not args <= {Progress, type(None)} or Progress not in args:
            wrong.append(f"{q}: {hint!r}")
    assert not wrong, "a `progress` parameter must be annotated `Progress` or `Progress | None`:\n" + "\n".join(wrong)
