import pytest

from alor_core.config import RunConfig
from alor_core.errors import DataError, UnknownNameError
from alor_core.loop.rounds import run


def test_cold_start_human_mode_without_rda(tmp_path, small_spec, small_world):
    # No labels and no RDA: round 0 is the zero-shot model, then the run waits for a person.
    cfg = RunConfig(strategy="entropy", adaptation="lp", rounds=2, rda=False, mode="human", initial="none", seed=4)
    session, status = run(cfg, tmp_path, spec=small_spec)
    assert status["state"] == "waiting_for_labels" and status["n_waiting"] == 10
    m0 = session.metrics(0)
    assert m0["n_labeled"] == 0 and "zero-shot" in m0["history"]["note"]
    assert m0["acc"] == pytest.approx(session.zero_shot()["acc"])
    assert len(session.labels()) == 0


def test_unknown_dataset_folder(tmp_path):
    # A dataset that is neither 'demo' nor a folder is named in the error.
    with pytest.raises(DataError, match="unknown dataset '/no/such/folder'"):
        run(RunConfig(dataset="/no/such/folder"), tmp_path)


def test_names_checked_before_any_work(tmp_path):
    # Unknown strategy names fail before the world is loaded.
    with pytest.raises(UnknownNameError, match="unknown strategy 'nope'"):
        run(RunConfig(strategy="nope"), tmp_path)


def test_a_run_stopped_by_bad_input_is_marked_failed(tmp_path, small_spec, small_world, monkeypatch):
    # An error after the session exists (here: an unreadable pool image while encoding) leaves
    # status.json saying "failed" with the message, not "preparing" forever.
    import json

    from alor_core.loop import rounds

    def broken(*a, **k):
        raise DataError("image file 'x.png' is corrupt or not an image")

    monkeypatch.setattr(rounds, "encode_images", broken)
    cfg = RunConfig(dataset="demo", strategy="random", adaptation="lp", rounds=2, rda=False, k=100)
    with pytest.raises(DataError, match="x.png"):
        run(cfg, tmp_path, spec=small_spec)
    status = json.loads(next(tmp_path.glob("*/seed1/status.json")).read_text())
    assert status["state"] == "failed" and "x.png" in status["error"]
