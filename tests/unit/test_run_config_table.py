"""RunConfig's table (alor_core/config.py) as the one source of every run setting: the command line,
the background-run command, the session identity and the run folder name all come from it."""

import dataclasses
import json

import pytest

from alor_core import adaptation, strategies
from alor_core.cli import _config, _parser, main
from alor_core.config import PAPER_PROTOCOL, PAPER_SEEDS, RunConfig, default_for, identity_keys, settings
from alor_core.errors import ConfigError

# Configs for the round trip; together they set every field with a flag away from its default.
EVERY_FIELD = {
    "dataset": "/data/my_task",
    "strategy": "entropy_pcb",
    "adaptation": "lp",
    "rounds": 3,
    "budget": 5,
    "seed": 7,
    "rda": False,
    "k": 30,
    "preset": "paper",
    "mode": "human",
    "initial": "none",
    "labeled_weight": 1.5,
    "retrieval_source": "/open/captions.parquet",
    "match_rule": "swat",
    "model_name": "ViT-B-32",
    "pretrained": "laion400m_e32",
    "data_root": "/data",
    "device": "cpu",
    "min_side": 40,
    "leakage_guard": False,
    "strict": True,
    "retrieval_backend": "spark",
    "spark_master": "local[2]",
    "adapt_params": {"epochs": 3},
}
CONFIGS = [
    RunConfig(),
    RunConfig.for_dataset("demo"),
    RunConfig.for_dataset("/data/x"),
    RunConfig(**EVERY_FIELD),
    RunConfig(adaptation="ct", strategy="random", retrieval_mode="knn", knn_threshold=0.3, k=50, seed=3),
    RunConfig(adaptation="pt", protocol="paper", seed=666, adapt_params={"epochs": 2, "crop_scale": "0.2,1"}),
    RunConfig(
        adaptation="zeroshot", strategy="TFS", budget=2, retrieval_backend="duckdb", match_rule="alor", protocol="paper"
    ),
    RunConfig(dataset="demo", adaptation="ft", pretrained="/nonexistent/ckpt.pt", min_side=81, k=500),
]


def _parse(argv):
    args = _parser().parse_args(["run", *argv])
    return _config(args, (args.seeds or [1])[0], args.strategy, args.dataset)


@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_config_to_argv_and_back_is_the_same_config(config):
    # Every setting survives config -> command-line options -> argparse -> config.
    assert _parse(config.to_cli_args()) == config


def test_the_round_trip_configs_set_every_field():
    base = RunConfig()
    changed = {name for c in CONFIGS for name in settings() if getattr(c, name) != getattr(base, name)}
    assert changed == set(settings())


def test_background_command_and_its_inverse(tmp_path):
    # jobs.cli_command writes the table's options; command_for_session reads a session back into them.
    from alor_core.loop import jobs
    from alor_core.loop.session import Session

    config = RunConfig(**{**EVERY_FIELD, "dataset": "demo", "model_name": None, "pretrained": None})
    cmd = jobs.cli_command(config, [7, 8], tmp_path)
    assert cmd[cmd.index("--seeds") + 1 : cmd.index("--seeds") + 3] == ["7", "8"]
    assert cmd[cmd.index("--name") + 1] == config.run_name() == "demo_entropy_pcb_lp_nordA_human_lw1.5"
    s = Session.open_or_create(tmp_path / config.run_name() / "seed7", config.to_dict())
    again = jobs.command_for_session(s)
    assert again == jobs.cli_command(dataclasses.replace(config, extra={"name": config.run_name()}), [7], tmp_path)
    assert _parse(again[4:]) == dataclasses.replace(config, extra={"name": config.run_name()})


def test_one_run_name_for_cli_grid_and_jobs(tmp_path):
    # The default case keeps its old folder name; the CLI, the grid and the dashboard's jobs agree.
    from alor_core.grid import Cell, GridSpec
    from alor_core.loop import jobs
    from alor_core.loop.rounds import session_dir_for

    cli = _parse(["--strategy", "badge_pcb", "--adapt", "ct", "--no-rda", "--seeds", "2"])
    grid = GridSpec("t", [("badge_pcb", "ct", False)], seeds=(2,))
    cell = grid.cells()[0]
    assert (
        session_dir_for(cli, tmp_path)
        == grid.session_path(cell, tmp_path)
        == tmp_path / "demo_badge_pcb_ct_nordA" / "seed2"
    )
    assert jobs.run_name(cli) == jobs.run_name(grid.config(cell)) == "demo_badge_pcb_ct_nordA"
    assert Cell("tfs", "lp", True, 1).label() == "tfs_lp_rda/seed1"
    assert RunConfig(strategy="tfs").run_name() == "demo_tfs_lp_rda"
    human = _parse(["--mode", "human", "--labeled-weight", "2", "--retrieval-mode", "knn"])
    assert human.run_name() == "demo_tfs_lp_rda_knn_human_lw2"
    assert _parse(["--name", "mine"]).run_name() == "mine"


def test_a_session_under_an_old_automatic_name_still_resumes(tmp_path):
    # The CLI used to leave "_human" out of the name: such a session is found, not started over.
    from alor_core.loop.rounds import session_dir_for

    human = RunConfig(mode="human")
    old = tmp_path / "demo_tfs_lp_rda" / "seed1"
    old.mkdir(parents=True)
    (old / "config.json").write_text(json.dumps(human.to_dict()))
    assert session_dir_for(human, tmp_path) == old
    # ... but an oracle session there is not taken for it, and the current name wins once it exists
    (old / "config.json").write_text(json.dumps(RunConfig().to_dict()))
    assert session_dir_for(human, tmp_path) == tmp_path / "demo_tfs_lp_rda_human" / "seed1"
    assert session_dir_for(RunConfig(), tmp_path) == old


def test_help_lists_every_choice(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in strategies.available():
        assert name in out
    assert "--adapt {" + ",".join(adaptation.available()) + "}" in out
    for flag in ("{fast,paper}", "{oracle,human}", "{per_class,none}", "{label-honest,paper}", "{alor,swat}"):
        assert flag in out


def test_labeled_weight_with_an_adaptation_that_ignores_it_is_an_error(capsys):
    with pytest.raises(
        ConfigError, match=r"'labeled_weight' \(2.0\) only applies to adaptation lp; got adaptation 'ct'"
    ):
        RunConfig(adaptation="ct", labeled_weight=2.0)
    with pytest.raises(ConfigError, match="labeled_weight"):
        RunConfig(adaptation="FLYP", labeled_weight=1.0)
    assert RunConfig(adaptation="ct", labeled_weight=0.0).labeled_weight == 0.0
    assert main(["run", "--adapt", "ct", "--labeled-weight", "2", "--quiet"]) == 2
    assert "only applies to adaptation lp" in capsys.readouterr().err


def test_identity_keys_are_the_ones_sessions_always_compared():
    from alor_core.loop.session import _IDENTITY_KEYS

    assert set(_IDENTITY_KEYS) == {
        "dataset",
        "strategy",
        "adaptation",
        "rda",
        "seed",
        "budget",
        "preset",
        "match_rule",
        "model_name",
        "pretrained",
        "k",
        "initial",
        "selection",
        "spec_key",
        "protocol",
        "labeled_weight",
        "retrieval_source",
        "retrieval_mode",
        "knn_threshold",
        "adapt_params",
        "min_side",
        "leakage_guard",
    }
    assert set(identity_keys()) < set(_IDENTITY_KEYS)


def test_paper_protocol_and_per_dataset_defaults_live_in_the_table():
    cfg = RunConfig(protocol="paper", rounds=3, budget=5, preset="fast")
    assert {k: getattr(cfg, k) for k in PAPER_PROTOCOL} == PAPER_PROTOCOL and cfg.match_rule == "swat"
    assert _parser().parse_args(["run"]).seeds is None and PAPER_SEEDS == (666, 777, 888)
    assert (
        default_for("k", "demo"),
        default_for("k", "/x"),
        default_for("min_side", "demo"),
        default_for("min_side", "/x"),
    ) == (200, 500, 0, 81)
    assert _parse([]).k == 200 and _parse(["--dataset", "/x"]).min_side == 81
    assert RunConfig().k == 500  # the Python API's default is unchanged
