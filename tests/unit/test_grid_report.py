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
    rec = G.run_grid(
        spec,
        out,
        progress=lambda f, m="", **kw: calls.append((f, m, kw)),
        cell_progress=lambda f, m="", **kw: calls.append(("cell", kw["stage"])),
        world=small_spec,
    )
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
    grid = [c for c in calls if c[0] != "cell"]
    assert [f for f, _, _ in grid] == [0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0]  # done / total, before and after
    assert grid[-1][1].startswith(spec.cells()[-1].label() + ": done") and all(kw == {} for *_, kw in grid)
    stages = {c[1] for c in calls if c[0] == "cell"}  # the round loop's reports inside a cell, with their stage
    assert {"model", "retrieval", "features", "adapt", "round"} <= stages, stages
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


def test_cli_part_of_a_preset_keeps_its_own_record(tmp_path, capsys):
    from alor_core.cli import main

    assert main(["grid", "--preset", "claims", "--adapt", "pt", "lp", "--dry-run", "--output", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "grid 'claims-pt-lp': 69 sessions" in text  # 8 PT + TFS/LP with RDA, 7 PT + 7 LP without, x 3 seeds
    assert f"record: {tmp_path / 'grids' / 'claims-pt-lp.json'}" in text
    assert main(["grid", "--preset", "claims", "--dry-run", "--output", str(tmp_path)]) == 0
    assert f"record: {tmp_path / 'grids' / 'claims.json'}" in capsys.readouterr().out


def test_claims_follow_the_numbers(small_grid, small_spec):
    _, out, *_ = small_grid
    df = R.collect_results(out, small_spec.key)
    assert set(df["strategy"]) == {"tfs", "random"} and df["session"].nunique() == 4
    assert set(df["preset"]) == {"fast"} and set(df["protocol"]) == {"label-honest"}
    claims = R.build_claims(out, last_round=1, world_key=small_spec.key)
    c1 = next(c for c in claims["claims"] if c["id"] == "rda_round0")
    pt = c1["rows"][0]
    w, wo = pt["demo with RDA"]["mean"], pt["demo without RDA"]["mean"]
    r0 = df[(df["round"] == 0) & (df["adaptation"] == "pt")]
    assert w == pytest.approx(r0[r0["rda"]]["acc"].mean(), abs=0.01)
    # one seed per side: no verdict either way, and the table says so with the measured difference
    assert pt["reproduces"] == "not enough seeds" and pt["RDA effect"] == f"not enough seeds ({w - wo:+.1f})"
    assert c1["rows"][3]["reproduces"] == "not run"  # no CT session in this grid
    assert c1["verdict"] == "not enough seeds"
    assert c1["scope"] == f"preset fast, protocol label-honest, demo world {small_spec.key}, 1 seed (1), round 0"
    c2 = next(c for c in claims["claims"] if c["id"] == "tfs_final")
    rnd = next(r for r in c2["rows"] if r["method"] == "Random w/ PT")
    tfs = next(r for r in c2["rows"] if r["method"] == "TFS w/ PT")
    diff = tfs["demo acc"]["mean"] - rnd["demo acc"]["mean"]
    assert rnd["TFS w/ PT vs this"] == f"not enough seeds ({diff:+.1f})" and tfs["TFS w/ PT vs this"] == "–"
    assert next(r for r in c2["rows"] if r["method"] == "CoreSet w/ PT")["TFS w/ PT vs this"] == "not run"
    assert c2["verdict"] == "not enough seeds"
    zs = next(c for c in claims["claims"] if c["id"] == "zero_shot")
    assert zs["verdict"] == "shown" and len(zs["rows"]) == 4
    assert "0 are above zero-shot beyond two standard deviations, 0 below it and 4 within noise" in zs["analysis"][1]
    # the showcase grid was not run: its LP/CT rows say so, the zero-shot row has the measured value
    show = claims["showcase"]
    assert show["rows"][0]["overall acc"]["mean"] == pytest.approx(df["zs_acc"].iloc[0])
    assert list(R.table_frame(show["rows"])["overall acc"][1:]) == ["not run"] * 6
    assert [f["outcome"] for f in show["findings"]] == ["not run"] * 6
    assert claims["summary"][0]["finding"].startswith("Showcase:")


def test_report_is_written_and_loads_back(small_grid, small_spec, tmp_path):
    _, out, *_ = small_grid
    stale = tmp_path / "rep" / "figures" / "gone.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    md = R.write_report(out, tmp_path / "rep", last_round=1, world_key=small_spec.key, png=False)
    text = md.read_text()
    for title in (
        "## Summary",
        "1. RDA raises round-0 accuracy",
        "2. With RDA, TFS beats every other strategy",
        "3. CT beats LP, FT and PT",
        "4. Zero-shot",
    ):
        assert title in text
    assert text.index("## Summary") < text.index("## Showcase") < text.index("## The paper's claims")
    assert "| TFS w/ PT | 63.52 |" in text  # the paper's figure sits next to the demo's
    assert "population" not in text and "NOTES" not in text
    claims, figs = R.load_report(tmp_path / "rep")
    # no baseline was run without RDA and no showcase cell: those figures are left out, the stale one removed
    assert set(figs) == {"round0", "curves_rda", "rda_rounds"} and not stale.exists()
    assert len(figs["curves_rda"].data) == 2  # Random w/ PT and TFS w/ PT
    assert claims["sessions"] == 4 and claims["world_key"] == small_spec.key
    frame = R.table_frame(claims["claims"][0]["rows"])
    assert frame.loc[0, "adaptation"] == "PT" and "(n=1)" in frame.loc[0, "demo with RDA"]


def test_report_without_sessions_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match="no finished demo-world session.*grid --preset showcase"):
        R.build_claims(tmp_path / "empty")
    with pytest.raises(DataError, match="expected claims.json"):
        R.load_report(tmp_path / "nothing")


# ---- verdicts and sentences from hand-made numbers (no training) ----------------------------------
WORLD = "hand0world"
WITHIN = ([61.0, 63.0, 59.0], [60.0, 61.0, 59.5])  # +0.8 points, noise 4.3: within noise
BEYOND = ([70.0, 70.5, 69.5], [60.0, 60.5, 59.5])  # +10.0 points, noise 1.4: beyond noise


def _frame(cells, zs=(57.0, 48.0), rounds=(0, 6)):
    """A results frame as :func:`collect_results` returns it: ``cells`` maps (strategy, adaptation,
    rda) to per-seed accuracies (and optionally tail-5 accuracies) used in every round listed."""
    rows = []
    for (s, a, rda), vals in cells.items():
        accs, tails = vals if isinstance(vals, tuple) else (vals, vals)
        for seed, (acc, tail) in enumerate(zip(accs, tails), start=1):
            for r in rounds:
                rows.append(
                    {
                        "strategy": s,
                        "adaptation": a,
                        "rda": rda,
                        "seed": seed,
                        "round": r,
                        "acc": acc,
                        "f1": acc - 2,
                        "tail_acc": tail,
                        "zs_acc": zs[0],
                        "zs_f1": zs[0] - 3,
                        "zs_tail_acc": zs[1],
                        "preset": "fast",
                        "protocol": "label-honest",
                        "session": f"out/demo_{s}_{a}_{'rda' if rda else 'nordA'}/seed{seed}",
                    }
                )
    return pd.DataFrame(rows)


CTX = {"world_key": WORLD, "preset": "fast", "protocol": "label-honest"}


def test_a_claim_fed_numbers_within_noise_says_within_noise():
    w, wo = WITHIN
    df = _frame({("random", "pt", True): w, ("random", "pt", False): wo})
    c = R.claim_round0(df, CTX)
    pt = c["rows"][0]
    assert c["verdict"] == "within noise" and pt["reproduces"] == "within noise"
    assert pt["RDA effect"] == "within noise (+0.8)"
    assert pt["demo with RDA"]["std"] == pytest.approx(2.0)  # sample std (ddof=1), not population (1.63)
    assert R.table_frame(c["rows"]).loc[0, "demo with RDA"] == "61.0 ± 2.0 (n=3)"
    assert c["coverage"] == "1 of 4 adaptations compared"
    assert len(c["analysis"]) == 1 and "within noise" in c["analysis"][0] and "+0.8 points" in c["analysis"][0]
    # the same numbers as the last round of claim 1b
    c1b = R.claim_rda_final(df, 6, CTX)
    assert c1b["verdict"] == "within noise"
    assert c1b["analysis"] == [
        "RDA raises the accuracy beyond two standard deviations for 0 of 1; within noise: Random."
    ]


def test_a_claim_beyond_noise_in_one_configuration_of_two_says_partly():
    df = _frame(
        {
            ("random", "pt", True): BEYOND[0],
            ("random", "pt", False): BEYOND[1],
            ("random", "lp", True): WITHIN[0],
            ("random", "lp", False): WITHIN[1],
        }
    )
    c = R.claim_round0(df, CTX)
    assert [r["reproduces"] for r in c["rows"]] == ["yes", "within noise", "not run", "not run"]
    assert c["verdict"] == "partly" and c["coverage"] == "2 of 4 adaptations compared"
    assert c["analysis"][0].startswith("PT with RDA is 10.0 points above PT without RDA")
    # beyond noise in the claimed direction everywhere it was run: yes; the opposite direction: no
    assert (
        R.claim_round0(_frame({("random", "pt", True): BEYOND[0], ("random", "pt", False): BEYOND[1]}), CTX)["verdict"]
        == "yes"
    )
    assert (
        R.claim_round0(_frame({("random", "pt", True): BEYOND[1], ("random", "pt", False): BEYOND[0]}), CTX)["verdict"]
        == "no"
    )
    # two seeds a side: no verdict, however large the difference
    two = _frame({("random", "pt", True): BEYOND[0][:2], ("random", "pt", False): BEYOND[1][:2]})
    assert R.claim_round0(two, CTX)["verdict"] == "not enough seeds"


def test_claim_verdict_rule():
    assert R.claim_verdict(["yes", "yes", "not run"]) == "yes"
    assert R.claim_verdict(["yes", "within noise"]) == "partly"
    assert R.claim_verdict(["yes", "no"]) == "partly"
    assert R.claim_verdict(["within noise", "no"]) == "no"
    assert R.claim_verdict(["within noise", "not enough seeds"]) == "within noise"
    assert R.claim_verdict(["not enough seeds", "not run"]) == "not enough seeds"
    assert R.claim_verdict(["incomplete", "not run"]) == "incomplete"
    assert R.claim_verdict(["incomplete", "within noise"]) == "within noise"
    assert R.claim_verdict(["not run", "not run"]) == "not run"


def test_tfs_claim_needs_every_baseline_beaten_beyond_noise():
    # TFS w/ PT clearly above random, within noise of entropy: TFS does not beat *every* baseline
    df = _frame(
        {("tfs", "pt", True): BEYOND[0], ("random", "pt", True): BEYOND[1], ("entropy", "pt", True): [69.0, 71.5, 70.5]}
    )
    c = R.claim_tfs_final(df, 6, CTX)
    rows = {r["method"]: r for r in c["rows"]}
    assert rows["Random w/ PT"]["TFS w/ PT vs this"] == "higher (+10.0)"
    assert rows["Entropy w/ PT"]["TFS w/ PT vs this"].startswith("within noise")
    assert rows["TFS w/ CT (= ALOR)"]["demo acc"]["n"] == 0
    assert c["verdict"] == "within noise"
    assert c["coverage"] == "TFS w/ PT compared with 2 of 7 PT baselines, ALOR with 0 of 10 other methods"
    assert "the best PT baseline (Entropy w/ PT)" in c["analysis"][0] and "within noise" in c["analysis"][0]
    # beyond noise above the one baseline run: not "yes" for "every", the claim is incomplete
    one = R.claim_tfs_final(_frame({("tfs", "pt", True): BEYOND[0], ("random", "pt", True): BEYOND[1]}), 6, CTX)
    assert one["verdict"] == "incomplete" and "higher (+10.0)" in R.table_frame(one["rows"]).iloc[0].tolist()


def test_showcase_reports_missing_ct_cells_as_not_run():
    lp = {
        ("random", "lp", True): ([60.0, 61.0, 60.5], [50.0, 50.5, 49.5]),
        ("entropy", "lp", True): ([61.0, 61.5, 60.5], [51.0, 51.5, 50.5]),
        ("tfs", "lp", True): ([61.5, 61.0, 62.0], [58.0, 58.5, 57.5]),
    }
    show = R.showcase(_frame(lp), 6, CTX)
    assert show["scope"].startswith(
        f"preset fast, protocol label-honest, demo world {WORLD}, 3 seeds (1, 2, 3), round 6"
    )
    frame = R.table_frame(show["rows"]).set_index("method")
    assert list(frame.index) == [
        "Zero-shot",
        "Random w/ LP",
        "Entropy w/ LP",
        "TFS w/ LP",
        "Random w/ CT",
        "Entropy w/ CT",
        "TFS w/ CT",
    ]
    assert frame.loc["TFS w/ LP", "tail-5 acc"] == "58.0 ± 0.5 (n=3)"
    assert frame.loc["TFS w/ LP", "tail-5 vs zero-shot"] == "higher (+10.0)"
    for m in ("Random w/ CT", "Entropy w/ CT", "TFS w/ CT"):
        assert list(frame.loc[m]) == ["not run"] * 4
    outcome = {f["finding"]: f["outcome"] for f in show["findings"]}
    assert outcome == {
        "RDA round 0 above zero-shot, LP, overall accuracy": "yes",
        "RDA round 0 above zero-shot, LP, tail-5 accuracy": "yes",
        "RDA round 0 above zero-shot, CT, overall accuracy": "not run",
        "RDA round 0 above zero-shot, CT, tail-5 accuracy": "not run",
        "TFS above random on tail-5 after round 6, LP": "yes",
        "TFS above random on tail-5 after round 6, CT": "not run",
    }
    assert show["sentences"][4].startswith(
        "TFS w/ LP is 8.0 points above Random w/ LP on tail-5 accuracy after round 6"
    )
    assert show["sentences"][5] == ("TFS w/ CT vs Random w/ CT (tail-5 accuracy after round 6): not run on this world.")


def _session(root, strategy, adaptation, seed, acc, tail, world=WORLD, zs=(57.0, 48.0)):
    """A finished 7-round grid session on disk, as the round loop writes it."""
    path = root / f"demo_{strategy}_{adaptation}_rda" / f"seed{seed}"
    path.mkdir(parents=True)
    cfg = {
        "dataset": "demo",
        "strategy": strategy,
        "adaptation": adaptation,
        "rda": True,
        "seed": seed,
        "rounds": 7,
        "budget": None,
        "k": 200,
        "preset": "fast",
        "protocol": "label-honest",
        "mode": "oracle",
        "initial": "per_class",
        "labeled_weight": 0.0,
        "retrieval_source": None,
        "extra": {},
        "spec_key": world,
    }
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    lines = ["round,seed,strategy,adaptation,rda,n_labeled,n_retrieved,acc,f1,tail_acc"]
    lines += [
        f"{r},{seed},{strategy},{adaptation},True,{10 * (r + 1)},1264,{acc + r / 10:.4f},{acc - 2:.4f},"
        f"{tail + r / 10:.4f}"
        for r in range(7)
    ]
    (path / "results.csv").write_text("\n".join(lines) + "\n")
    (path / "zeroshot.json").write_text(json.dumps({"acc": zs[0], "f1": zs[0] - 3, "tail_acc": zs[1]}))
    return path


def test_report_of_the_showcase_grid_on_disk_puts_it_first_and_marks_the_rest_not_run(tmp_path):
    out = tmp_path / "output"
    for seed in (1, 2, 3):
        for s, base in (("random", 60.0), ("entropy", 60.5), ("tfs", 61.0)):
            _session(out, s, "lp", seed, base + seed / 4, base - 10 + (6 if s == "tfs" else 0) + seed / 4)
    # next to the good ones: a CT session cut off while writing its config, one of another world
    bad = out / "demo_tfs_ct_rda" / "seed1"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text('{"dataset": "demo", "strategy": "tf')
    _session(out, "random", "ct", 2, 90.0, 90.0, world="otherworld")
    md = R.write_report(out, tmp_path / "rep", world_key=WORLD, png=False)
    text = md.read_text()
    assert text.index("## Summary") < text.index("## Showcase") < text.index("## The paper's claims")
    assert "| TFS w/ CT | not run | not run | not run | not run |" in text
    assert "| Showcase: TFS above random on tail-5 after round 6, LP | yes | +7.0 points, noise 0.7 |" in text
    assert (
        "### 1. RDA raises round-0 accuracy: not run\n\n**Paper:** Round 0, PT" in text
        and f"_Not run on this world (preset fast, protocol label-honest, demo world {WORLD}, round 0). Run "
        "`python -m alor_core grid --preset claims`"
        in text
    )
    claims, figs = R.load_report(tmp_path / "rep")
    assert claims["sessions"] == 9 and [c["verdict"] for c in claims["claims"]] == [
        "not run",
        "not run",
        "not run",
        "not run",
        "shown",
    ]
    assert "showcase" in figs and len(figs["showcase"].data) == 2  # overall and tail-5 bars
    assert figs["showcase"].data[0].x[0] == "Zero-shot" and len(figs["showcase"].data[0].x) == 4


def test_cli_report_on_another_world_seed(tmp_path, capsys):
    from alor_core.cli import main
    from alor_core.data import DemoWorldSpec

    out, key = tmp_path / "output", DemoWorldSpec(seed=5).key
    for seed in (1, 2, 3):
        _session(out, "tfs", "lp", seed, 61.0 + seed / 4, 55.0, world=key)
    # the default world (seed 0) has no session there: a clear message naming the world, no traceback
    assert main(["report", "--output", str(out), "--to", str(tmp_path / "rep0")]) != 0
    err = capsys.readouterr().err
    assert f"world {DemoWorldSpec().key}" in err and "Traceback" not in err
    assert main(["report", "--output", str(out), "--to", str(tmp_path / "rep5"), "--world-seed", "5"]) == 0
    claims = json.loads((tmp_path / "rep5" / "claims.json").read_text())
    assert claims["world_key"] == key and claims["sessions"] == 3
    assert R.table_frame(claims["showcase"]["rows"]).loc[3, "overall acc"].startswith("62.1 ± ")
