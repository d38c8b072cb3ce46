"""The Run page's form builds its RunConfig from the same table as the CLI: the same run folder name
for the same settings, and a setting the chosen adaptation does not read is switched off."""

from alor_core.cli import _config, _parser
from alor_core.ui import state as K


def _cli_config(argv):
    args = _parser().parse_args(["run", *argv])
    return _config(args, 1, args.strategy, args.dataset)


def test_form_and_cli_give_the_same_run_name(app, monkeypatch):
    from alor_core.loop import jobs

    launched = {}
    monkeypatch.setattr(
        jobs, "start", lambda cmd, run_dir, env=None: launched.update(cmd=cmd, dir=run_dir) or {"pid": 4242}
    )
    at = app("run")
    at.selectbox(key=K.RUN_STRATEGY).set_value("entropy")
    at.radio(key=K.RUN_MODE).set_value("human")
    at.number_input(key=K.RUN_WEIGHT).set_value(2.0)
    at.number_input(key=K.RUN_ROUNDS).set_value(2).run()
    at.button(key=K.RUN_START).click().run()
    assert not at.exception
    cli = _cli_config(["--strategy", "entropy", "--mode", "human", "--labeled-weight", "2", "--rounds", "2"])
    assert launched["dir"].name == cli.run_name() == "demo_entropy_lp_rda_human_lw2"
    # and the launched command parses back to the form's settings
    cmd = launched["cmd"]
    back = _cli_config(cmd[4:])
    assert (back.strategy, back.mode, back.labeled_weight, back.rounds, back.k) == ("entropy", "human", 2.0, 2, 200)


def test_form_switches_off_the_labeled_weight_for_ct(app):
    at = app("run")
    at.selectbox(key=K.RUN_ADAPT).set_value("ct").run()
    assert at.number_input(key=K.RUN_WEIGHT).disabled
