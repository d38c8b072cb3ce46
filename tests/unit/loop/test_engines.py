"""Every retrieval engine is reachable from a run: RunConfig fields, CLI flags, the background
command, and step_retrieve passing them on (python / DuckDB / Spark caption matching, kNN)."""

import json

import pytest

from alor_core.config import RunConfig
from alor_core.errors import ConfigError


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"retrieval_backend": "hadoop"}, ["retrieval_backend", "auto, python, duckdb, spark", "'hadoop'"]),
        ({"retrieval_mode": "clip"}, ["retrieval_mode", "caption, knn", "'clip'"]),
        ({"spark_master": "local[2]"}, ["spark_master", "only applies to retrieval_backend 'spark'", "'auto'"]),
        ({"retrieval_backend": "spark", "spark_master": "  "}, ["spark_master", "local[2]", "empty"]),
        (
            {"retrieval_mode": "knn", "retrieval_backend": "duckdb"},
            ["'duckdb'", "does not apply to retrieval_mode 'knn'"],
        ),
        ({"retrieval_mode": "knn", "knn_threshold": 1.5}, ["knn_threshold", "[-1, 1]", "1.5"]),
        ({"knn_threshold": 0.4}, ["knn_threshold", "only applies to retrieval_mode 'knn'"]),
    ],
)
def test_retrieval_settings_that_do_not_apply_are_errors(kwargs, words):
    # A wrong name or a setting that would be silently ignored is a ConfigError naming it.
    with pytest.raises(ConfigError) as err:
        RunConfig(**kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_cli_rejects_a_spark_master_without_the_spark_backend(capsys, tmp_path):
    # Exit code 2 and a message naming the setting, before anything is loaded or written.
    from alor_core.cli import main

    code = main(
        ["run", "--small-demo", "--rounds", "1", "--output", str(tmp_path), "--spark-master", "local[2]", "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "spark_master" in err and "retrieval_backend 'spark'" in err
    assert not any(tmp_path.iterdir())


def test_cli_help_lists_the_engines(capsys):
    from alor_core.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "{auto,python,duckdb,spark}" in out and "{caption,knn}" in out and "--spark-master URL" in out


def test_background_command_round_trips_the_engine_settings(tmp_path):
    # The dashboard's command carries the engine flags; a session's config.json rebuilds the same command.
    from alor_core.loop import jobs
    from alor_core.loop.session import Session

    def flag(cmd, name):
        return cmd[cmd.index(name) + 1] if name in cmd else None

    cfg = RunConfig(dataset="demo", retrieval_backend="spark", spark_master="spark://head:7077", k=50)
    cmd = jobs.cli_command(cfg, [3], tmp_path)
    assert (flag(cmd, "--retrieval-backend"), flag(cmd, "--spark-master")) == ("spark", "spark://head:7077")
    assert "--retrieval-mode" not in cmd
    knn = RunConfig(dataset="demo", retrieval_mode="knn", knn_threshold=0.3, k=50)
    s = Session.open_or_create(tmp_path / jobs.run_name(knn) / "seed1", {**knn.to_dict(), "seed": 1})
    assert s.path.parent.name == "demo_tfs_lp_rda_knn"
    again = jobs.command_for_session(s)
    assert (flag(again, "--retrieval-mode"), flag(again, "--knn-threshold")) == ("knn", "0.3")
    assert "--retrieval-backend" not in again and flag(again, "--name") == "demo_tfs_lp_rda_knn"


def test_knn_threshold_is_part_of_the_session_identity(tmp_path):
    # Resuming a kNN session with another threshold would mix two retrievals: refused, naming the key.
    from alor_core.loop.session import Session

    cfg = RunConfig(retrieval_mode="knn", knn_threshold=0.2).to_dict()
    Session.open_or_create(tmp_path / "s", cfg)
    with pytest.raises(ConfigError, match="knn_threshold: 0.2 on disk vs 0.3 now"):
        Session.open_or_create(tmp_path / "s", {**cfg, "knn_threshold": 0.3})
    # the engine is not: every caption matcher finds the same matches, so a run may resume on another
    Session.open_or_create(tmp_path / "s", {**cfg, "retrieval_backend": "duckdb"})


def _retrieve(small_world, world_bundle, folder, **kw):
    from alor_core.loop.rounds import step_retrieve
    from alor_core.loop.session import Session

    cfg = RunConfig(dataset="demo", k=60, **kw)
    s = Session.open_or_create(
        folder / kw.get("retrieval_mode", "caption") / kw.get("retrieval_backend", "auto"), cfg.to_dict()
    )
    rs = step_retrieve(s, cfg, small_world, world_bundle)
    saved = json.loads((s.path / "retrieval" / "counts.json").read_text())
    assert saved["counts"] == json.loads(json.dumps(rs.counts))
    return rs


@pytest.fixture(scope="module")
def duckdb_retrieved(small_world, world_bundle, tmp_path_factory):
    """step_retrieve with --retrieval-backend duckdb on the reduced demo world (K=60)."""
    return _retrieve(small_world, world_bundle, tmp_path_factory.mktemp("engines"), retrieval_backend="duckdb")


@pytest.mark.slow
def test_step_retrieve_uses_the_chosen_caption_matcher(small_world, world_bundle, duckdb_retrieved, tmp_path):
    # The run's backend reaches retrieve(): python and DuckDB report themselves and keep the same images.
    py, db = _retrieve(small_world, world_bundle, tmp_path, retrieval_backend="python"), duckdb_retrieved
    assert (py.stats["backend"], db.stats["backend"]) == ("python", "duckdb")
    assert [c["matched"] for c in py.counts] == [c["matched"] for c in db.counts]
    assert sum(c["matched"] for c in py.counts) > 0
    assert sorted(py.items["id"]) == sorted(db.items["id"])


@pytest.mark.slow
def test_step_retrieve_knn_mode(small_world, world_bundle, tmp_path):
    # kNN over the corpus images (captions unused): every kept image passed the threshold, at most K a class.
    rs = _retrieve(small_world, world_bundle, tmp_path, retrieval_mode="knn", knn_threshold=0.0)
    assert rs.stats["backend"] == "knn-numpy" and rs.stats["threshold"] == 0.0
    assert len(rs.items) > 0 and (rs.items["score"] >= 0.0).all() and (rs.items["caption"] == "").all()
    assert max(c["kept"] for c in rs.counts) <= 60


@pytest.mark.slow
def test_step_retrieve_spark_on_a_master_url_equals_duckdb(small_world, world_bundle, duckdb_retrieved, tmp_path):
    # --retrieval-backend spark --spark-master local[1]: the same per-class matches and kept images as DuckDB.
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]'; needs Java 17+)")
    from alor_core.errors import DataError

    try:
        sp = _retrieve(small_world, world_bundle, tmp_path, retrieval_backend="spark", spark_master="local[1]")
    except DataError as err:
        pytest.skip(f"Spark could not start here: {err}")
    db = duckdb_retrieved
    assert sp.stats["backend"] == "spark"
    assert [(c["matched"], c["kept"]) for c in sp.counts] == [(c["matched"], c["kept"]) for c in db.counts]
    assert sorted(sp.items["id"]) == sorted(db.items["id"])
