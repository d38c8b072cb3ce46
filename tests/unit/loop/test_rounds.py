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
