import threading

import pytest

from alor_core.config import RunConfig
from alor_core.errors import ConfigError
from alor_core.loop.session import Session


def _cfg(**kw):
    return {**RunConfig(**kw).to_dict(), "spec_key": "x", "selection": "last"}


def test_config_mismatch_names_the_difference(tmp_path):
    # Resuming a session with another strategy is refused, naming the key and both values.
    Session.open_or_create(tmp_path / "s", _cfg(strategy="tfs"))
    with pytest.raises(ConfigError, match="strategy: 'tfs' on disk vs 'random' now"):
        Session.open_or_create(tmp_path / "s", _cfg(strategy="random"))
    # more rounds is allowed (extending a run)
    s = Session.open_or_create(tmp_path / "s", _cfg(strategy="tfs", rounds=9))
    assert s.config["rounds"] == 9


def test_labels_idempotent_and_overwrite(tmp_path):
    # Adding the same label twice changes nothing; overwrite is explicit (last writer wins).
    s = Session.open_or_create(tmp_path / "s", _cfg())
    assert s.add_labels([("a.png", 1, 0, "initial"), ("b.png", 2, 1, "oracle")]) == 2
    assert s.add_labels([("a.png", 1, 0, "initial")]) == 0
    assert s.add_labels([("a.png", 3, 1, "human")]) == 0
    assert s.labels().set_index("sample_id").loc["a.png", "label"] == 1
    assert s.add_labels([("a.png", 3, 1, "human")], overwrite=True) == 1
    assert s.labels().set_index("sample_id").loc["a.png", "label"] == 3
    assert s.remove_label("a.png") and not s.remove_label("b.png")  # only human labels can be undone
    assert s.labels()["sample_id"].tolist() == ["b.png"]


def test_concurrent_label_writers_lose_nothing(tmp_path):
    # Two threads adding labels at once keep every label (file lock + atomic replace).
    s = Session.open_or_create(tmp_path / "s", _cfg())

    def writer(prefix):
        for i in range(40):
            Session(tmp_path / "s").add_labels([(f"{prefix}{i}.png", i % 3, 1, "human")])

    ts = [threading.Thread(target=writer, args=(p,)) for p in ("x", "y")]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert len(s.labels()) == 80 and s.labels()["sample_id"].is_unique


def test_results_rebuilt_not_appended(tmp_path):
    # Writing a round's metrics twice leaves one results row (resume never duplicates).
    s = Session.open_or_create(tmp_path / "s", _cfg())
    m = {"acc": 50.0, "f1": 40.0, "n_labeled": 10, "n_retrieved": 5, "tail_acc": 30.0}
    s.write_metrics(0, m)
    s.write_metrics(0, m)
    s.write_metrics(1, {**m, "acc": 60.0})
    res = s.results()
    assert res["round"].tolist() == [0, 1] and res["acc"].tolist() == [50.0, 60.0]
    assert s.finished_rounds() == [0, 1]


def test_skips(tmp_path):
    # Skipped picks are recorded per round and can be un-skipped.
    s = Session.open_or_create(tmp_path / "s", _cfg())
    s.set_skipped(0, "a.png")
    s.set_skipped(0, "a.png")
    assert s.skipped(0) == ["a.png"]
    s.set_skipped(0, "a.png", skipped=False)
    assert s.skipped(0) == []


def test_run_config_validation():
    # Bad settings are rejected with the name and expected values.
    with pytest.raises(ConfigError, match="'budget' must be an int >= 1"):
        RunConfig(budget=0)
    with pytest.raises(ConfigError, match="'mode' must be one of oracle, human; got 'robot'"):
        RunConfig(mode="robot")


def test_resuming_sweeps_stale_temp_files_but_not_fresh_ones(tmp_path):
    # A kill -9 mid-write leaves ".<name>.<rand>.tmp"; reopening removes old ones only.
    import os
    import time

    from alor_core.loop.session import Session

    cfg = {"dataset": "demo", "strategy": "tfs", "adaptation": "lp", "rda": True, "seed": 1}
    s = Session.open_or_create(tmp_path / "s", cfg)
    (s.path / "rounds" / "r00").mkdir(parents=True)
    stale = s.path / "rounds" / "r00" / ".metrics.json.abc.tmp"
    fresh = s.path / ".labels.csv.def.tmp"
    for f in (stale, fresh):
        f.write_text("half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    Session.open_or_create(tmp_path / "s", cfg)
    assert not stale.exists() and fresh.exists()
    assert (s.path / "config.json").is_file()


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    # mkstemp makes 0600 files; session files and reports must be readable like any new file.
    import os
    import stat

    from alor_core.io import atomic_write_text

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    import alor_core.io as aio

    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == aio._FILE_MODE
    mask = os.umask(0o022)
    try:
        assert aio._file_mode() == 0o644  # what open() gives under the usual umask, not mkstemp's 0600
    finally:
        os.umask(mask)
