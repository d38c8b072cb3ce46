"""Experiment grid (resumable, estimated) and the paper-claims report, on the reduced demo world."""

import json

import pandas as pd
import pytest

from alor_core import grid as G
from alor_core import report as R
from alor_core.errors import ConfigError, DataError

TRIPLES = [("tfs", "pt", True), ("random", "pt", True), ("tfs", "pt", False), ("tfs", "lp", False)]


@pytest.fixture(scope="module")
def small_grid(tmp_path_factory, small_world, small_spec):
    out = tmp_path_factory.mktemp("grid") / "output"
    spec = G.GridSpec("test", TRIPLES, seeds=(1,), rounds=2)
    before = G.estimate(spec, out)
    calls = []
    rec = G.run_grid(spec, out, progress=lambda d, t, m: calls.append((d, t, m)), world=small_spec)
    return spec, out, before, rec, calls


def test_grid_runs_every_cell_and_records_it(small_grid):
    spec, out, before, rec, calls = small_grid
    assert before["cells"] == 4 and len(before["missing"]) == 4 and before["done"] == 0
    assert before["seconds"] > 0 and before["rounds_left"] == 8
    assert [c["state"] for c in rec["cells"]] == ["done"] * 4
    assert rec["cells_run"] == 4 and rec["total_seconds"] > 0
    assert all(0 <= c["final_acc"] <= 100 and c["final_round"] == 1 for c in rec["cells"])
    on_disk = json.loads((out / "grids" / "test.json").read_text())
    assert on_disk["cells"] == rec["cells"]
    assert calls[-1][:2] == (4, 4)  # progress reached the end
    for cell in spec.cells():
        res = pd.read_csv(spec.session_path(cell, out) / "results.csv")
        assert list(res["round"]) == [0, 1]


def test_rounds_record_where_their_time_went(small_grid):
    spec, out, *_ = small_grid
    path = spec.session_path(spec.cells()[0], out)
    t0 = json.loads((path / "rounds" / "r00" / "timing.json").read_text())
    t1 = json.loads((path / "rounds" / "r01" / "timing.json").read_text())
    assert {"adaptation", "evaluation", "selection", "bookkeeping"} <= set(t0["seconds"])
    assert "selection" not in t1["seconds"]  # the last round selects nothing
    assert abs(sum(t0["seconds"].values()) - t0["total"]) < 0.01
    prep = json.loads((path / "timing.json").read_text())
    assert {"load", "retrieval", "pool_features", "zero_shot"} <= set(prep["seconds"])
    measured = G.measured_round_seconds(out)
    assert measured[("pt", True)][1] == 4 and measured[("pt", True)][0] > 0


def test_a_second_run_reuses_finished_sessions(small_grid, small_spec):
    spec, out, _, rec, _ = small_grid
    est = G.estimate(spec, out)
    assert est["done"] == 4 and est["seconds"] == 0 and est["rounds_left"] == 0
    before = {c.label(): (spec.session_path(c, out) / "results.csv").read_bytes() for c in spec.cells()}
    again = G.run_grid(spec, out, world=small_spec)
    assert again["cells_run"] == 0 and all(c.get("reused") for c in again["cells"])
    assert before == {c.label(): (spec.session_path(c, out) / "results.csv").read_bytes() for c in spec.cells()}
    # more rounds: the finished sessions are extended, not restarted
    longer = G.GridSpec("test", TRIPLES[:1], seeds=(1,), rounds=3)
    assert G.estimate(longer, out)["rounds_left"] == 1


def test_a_session_with_other_settings_is_reported_not_overwritten(small_grid, tmp_path, small_spec):
    spec, out, *_ = small_grid
    other = G.GridSpec("other-k", TRIPLES[:1], seeds=(1,), rounds=2, k=7)
    cell = other.cells()[0]
    cfg_before = (other.session_path(cell, out) / "config.json").read_bytes()
    assert G.cell_state(other, cell, out) == "conflict"
    est = G.estimate(other, out)
    assert est["conflict"] == [cell.label()] and est["seconds"] == 0
    rec = G.run_grid(other, out, world=small_spec)
    assert "other settings" in rec["cells"][0]["error"] and rec["cells_run"] == 0
    assert (other.session_path(cell, out) / "config.json").read_bytes() == cfg_before


def test_presets_and_their_errors():
    full = G.preset("full")
    assert len(full.cells()) == 8 * 4 * 2 * 3 and full.rounds == 7
    quick = G.preset("quick")
    assert quick.seeds == (1,)
    kinds = {(a, r) for _, a, r in quick.triples}
    assert ("pt", True) in kinds and ("ct", True) in kinds and ("ct", False) in kinds and ("pt", False) in kinds
    claims = G.preset("claims", seeds=[4, 5])
    assert claims.seeds == (4, 5) and ("tfs", "ct", True) in claims.triples
    with pytest.raises(ConfigError, match="'huge'.*quick"):
        G.preset("huge")


def test_cli_dry_run_prints_the_plan_and_estimate(tmp_path, capsys):
    from alor_core.cli import main
    assert main(["grid", "--quick", "--dry-run", "--output", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "grid 'quick': 9 sessions" in text and "9 to start" in text
    assert "estimated time left" in text
    from alor_core.data import demo_world_status
    assert ("not built yet" in text) == (not demo_world_status()[0])  # the build is in the estimate
    assert not (tmp_path / "grids").exists()  # a dry run writes nothing


def test_claims_follow_the_numbers(small_grid, small_spec):
    _, out, *_ = small_grid
    df = R.collect_results(out, small_spec.key)
    assert set(df["strategy"]) == {"tfs", "random"} and df["session"].nunique() == 4
    claims = R.build_claims(out, last_round=1, world_key=small_spec.key)
    c1 = next(c for c in claims["claims"] if c["id"] == "rda_round0")
    pt = c1["rows"][0]
    w, wo = pt["demo with RDA"]["mean"], pt["demo without RDA"]["mean"]
    r0 = df[(df["round"] == 0) & (df["adaptation"] == "pt")]
    assert w == pytest.approx(r0[r0["rda"]]["acc"].mean(), abs=0.01)
    assert pt["reproduces"].startswith("yes" if w > wo else "no")
    assert c1["rows"][3]["reproduces"] == "not run"  # no CT session in this grid
    c2 = next(c for c in claims["claims"] if c["id"] == "tfs_final")
    tfs = next(r for r in c2["rows"] if r["method"] == "TFS w/ PT")
    rnd = next(r for r in c2["rows"] if r["method"] == "Random w/ PT")
    assert tfs["reproduces"].startswith("yes" if tfs["demo acc"]["mean"] > rnd["demo acc"]["mean"] else "no")
    zs = next(c for c in claims["claims"] if c["id"] == "zero_shot")
    below = {r["configuration"] for r in zs["rows"] if r["below zero-shot"]}
    for r in zs["rows"]:
        assert (r["configuration"] in below) == (r["round 1"]["mean"] < zs["zero_shot"]["mean"])


def test_report_is_written_and_loads_back(small_grid, small_spec, tmp_path):
    _, out, *_ = small_grid
    md = R.write_report(out, tmp_path / "rep", last_round=1, world_key=small_spec.key, png=False)
    text = md.read_text()
    for title in ("1. RDA raises round-0 accuracy", "2. With RDA, TFS beats every other strategy",
                  "3. CT beats LP, FT and PT", "4. Zero-shot"):
        assert title in text
    assert "| TFS w/ PT | 63.52 |" in text  # the paper's figure sits next to the demo's
    claims, figs = R.load_report(tmp_path / "rep")
    assert {"round0", "curves_rda", "rda_rounds", "adapt_nordA"} <= set(figs)
    assert len(figs["curves_rda"].data) == 2  # Random w/ PT and TFS w/ PT
    assert claims["sessions"] == 4
    frame = R.table_frame(claims["claims"][0]["rows"])
    assert frame.loc[0, "adaptation"] == "PT" and "±" in frame.loc[0, "demo with RDA"]


def test_report_without_sessions_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match="no finished demo-world session.*grid --quick"):
        R.build_claims(tmp_path / "empty")
    with pytest.raises(DataError, match="expected claims.json"):
        R.load_report(tmp_path / "nothing")
