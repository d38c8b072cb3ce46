"""The Run page's building blocks: the new-run form and the panel of background jobs."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from .. import adaptation, strategies
from ..config import RunConfig, choices_of, default_for, paper_protocol_text, setting_help, settings
from ..errors import ConfigError
from ..loop import jobs
from ..loop.session import Session
from ..paths import output_dir
from ..safepath import safe_join
from . import cache, run_view
from . import state as K
from .widgets import STATE_TEXT, page_path, set_session, small_demo

__all__ = ["run_config_form", "start_run", "jobs_panel"]

DATA_KINDS = ("Demo world", "Image folder", "Split-file folder")
MODEL_KINDS = ("Task default", "open_clip name + pretrained tag", "Checkpoint file")


def _data_widgets():
    kind = st.radio(
        "Data",
        DATA_KINDS,
        key=K.RUN_DATA_KIND,
        horizontal=True,
        help="Image folder: <root>/<class>/<images> (or train/ and test/ sub-folders). "
        "Split-file folder: classes.csv, ltrain.txt, test.txt (+ corpus.parquet for RDA).",
    )
    if kind == "Demo world":
        st.caption("Fashion-MNIST with a long-tailed caption corpus and a tiny CLIP trained on it.")
        return "demo"
    path = st.text_input("Folder", key=K.RUN_DATA_PATH, placeholder="/data/my_task")
    if path:
        p = Path(path).expanduser()
        ok = p.is_dir() and ((p / "ltrain.txt").is_file() if kind == DATA_KINDS[2] else True)
        (st.caption if ok else st.warning)(
            f"{'found' if ok else 'not found or incomplete'}: {p}"
            + ("" if ok or kind == DATA_KINDS[1] else " (needs ltrain.txt)")
        )
        return str(p)
    return None


def _model_widgets(demo):
    kind = st.radio("Model", MODEL_KINDS, key=K.RUN_MODEL_KIND, horizontal=True)
    if kind == MODEL_KINDS[0]:
        st.caption(
            "The demo world's tiny CLIP."
            if demo
            else "OpenCLIP ViT-B-32-quickgelu, laion400m_e32 (as the paper; the weights must be downloaded once)."
        )
        return None, None
    models = cache.available_models()
    default = models.index("ViT-B-32-quickgelu") if "ViT-B-32-quickgelu" in models else 0
    name = st.selectbox("open_clip model", models, index=default, key=K.RUN_MODEL_NAME)
    if kind == MODEL_KINDS[1]:
        tags = cache.pretrained_tags(name) or ["(none)"]
        return name, st.selectbox("Pretrained tag", tags, key=K.RUN_PRETRAINED)
    ckpt = st.text_input("Checkpoint file", key=K.RUN_CHECKPOINT, placeholder="/models/my_clip.pt")
    return name, ckpt or None


def _retrieval_widgets(rda):
    """Retrieval mode and engine (inside the Advanced expander) -> RunConfig keyword arguments."""
    mode = st.radio(
        "Retrieval",
        choices_of("retrieval_mode"),
        key=K.RUN_RETRIEVAL_MODE,
        horizontal=True,
        disabled=not rda,
        format_func={"caption": "caption matching (paper)", "knn": "embedding kNN (no captions)"}.get,
        help="kNN keeps an open image for the class whose query it is closest to, above a cosine "
        "threshold (docs/RETRIEVAL.md, mode B)",
    )
    out = {"retrieval_mode": mode, "retrieval_backend": "auto", "spark_master": None, "knn_threshold": 0.25}
    if mode == "knn":
        out["knn_threshold"] = float(
            st.number_input(
                "kNN cosine threshold",
                -1.0,
                1.0,
                default_for("knn_threshold"),
                step=0.05,
                key=K.RUN_KNN_THRESHOLD,
                disabled=not rda,
                help=setting_help("knn_threshold"),
            )
        )
        return out
    backend = st.selectbox(
        "Caption-matching engine",
        choices_of("retrieval_backend"),
        key=K.RUN_BACKEND,
        disabled=not rda,
        help=setting_help("retrieval_backend"),
    )
    out["retrieval_backend"] = backend
    if backend == "spark":
        master = st.text_input(
            "Spark master URL",
            key=K.RUN_SPARK_MASTER,
            placeholder="local[*]",
            help="e.g. local[2], spark://host:7077 or yarn; empty = local[*]",
        )
        out["spark_master"] = master.strip() or None
    return out


def _registry_select(setting):
    """The select box of ``strategy`` or ``adaptation``: the registry's names, RunConfig's default
    preselected, each shown as "<human name> · <code>"."""
    names, key, human_name, help_text = {
        "strategy": (
            strategies.available(),
            K.RUN_STRATEGY,
            run_view.strategy_name,
            "TFS = Tail First Sampling (ALOR).",
        ),
        "adaptation": (
            adaptation.available(),
            K.RUN_ADAPT,
            run_view.adapt_name,
            "lp = linear probe (seconds), ct = contrastive tuning (slow on CPU)",
        ),
    }[setting]
    default = default_for(setting)
    return st.selectbox(
        setting.capitalize(),
        names,
        index=names.index(default) if default in names else 0,
        key=key,
        format_func=lambda c: f"{human_name(c)} · {c}",
        help=help_text,
    )


def run_config_form():
    """Render the form; returns ``(RunConfig, seeds)`` (raises ConfigError on a bad value)."""
    left, right = st.columns(2)
    with left:
        dataset = _data_widgets()
        model_name, pretrained = _model_widgets(dataset == "demo")
        strategy = _registry_select("strategy")
        if strategies.planned():
            st.caption("Not implemented yet: " + ", ".join(strategies.planned()))
        adapt = _registry_select("adaptation")
    with right:
        c1, c2 = st.columns(2)
        rounds = c1.number_input("Rounds", 1, 50, default_for("rounds"), key=K.RUN_ROUNDS, help=setting_help("rounds"))
        budget = c2.number_input(
            "Budget per round", 0, 100_000, 0, key=K.RUN_BUDGET, help=setting_help("budget") + "; 0 here = that default"
        )
        seeds = st.multiselect("Seeds", list(range(1, 11)), default=[1], key=K.RUN_SEEDS)
        c1, c2 = st.columns(2)
        rda = c1.toggle("RDA (retrieved open data)", True, key=K.RUN_RDA)
        k = c2.number_input(
            "K per class", 1, 100_000, default_for("k", dataset), key=K.RUN_K, disabled=not rda, help=setting_help("k")
        )
        mode = st.radio(
            "Labels come from",
            choices_of("mode"),
            key=K.RUN_MODE,
            horizontal=True,
            format_func={"oracle": "oracle (ground truth)", "human": "human (Label queue)"}.get,
        )
        initial = st.radio(
            "Round-0 labels",
            choices_of("initial"),
            key=K.RUN_INITIAL,
            horizontal=True,
            format_func={
                "per_class": "one random image per class (paper; uses ground truth)",
                "none": "none (cold start)",
            }.get,
            help="cold start: round 0 trains on retrieved data only (zero-shot without RDA); "
            "needed for a pool without labels",
        )
        with st.expander("Advanced"):
            preset = st.radio(
                "Hyperparameters", choices_of("preset"), key=K.RUN_PRESET, horizontal=True, help=setting_help("preset")
            )
            protocol = st.radio(
                "Protocol",
                choices_of("protocol"),
                key=K.RUN_PROTOCOL,
                horizontal=True,
                help=f"paper = the official protocol: {paper_protocol_text()} (overrides the fields above)",
            )
            source = st.text_input(
                "Retrieval source (optional)",
                key=K.RUN_SOURCE,
                placeholder="default: the dataset's corpus.parquet",
                help=setting_help("retrieval_source"),
            )
            engine = _retrieval_widgets(rda)
            c1, c2 = st.columns(2)
            min_side = c1.number_input(
                "Min side (px)",
                0,
                10_000,
                default_for("min_side", dataset),
                key=K.RUN_MIN_SIDE,
                disabled=not rda,
                help=setting_help("min_side").replace("PX pixels", "this many pixels"),
            )
            guard = c2.toggle(
                "Leakage guard",
                default_for("leakage_guard"),
                key=K.RUN_LEAKAGE,
                disabled=not rda,
                help="drop retrieved images that copy (same bytes or pixels) or nearly duplicate "
                "a validation/test image; off: the run's summary says so",
            )
            # A setting the chosen adaptation does not read is off here (RunConfig refuses it).
            not_read = settings()["labeled_weight"].applies(RunConfig(adaptation=adapt))
            weight = st.number_input(
                "Labeled-set weight (LP)",
                0.0,
                100.0,
                default_for("labeled_weight"),
                step=0.5,
                key=K.RUN_WEIGHT,
                disabled=bool(not_read),
                help=setting_help("labeled_weight"),
            )
            weight = 0.0 if not_read else weight
        name = st.text_input(
            "Run name",
            key=K.RUN_NAME,
            placeholder="automatic",
            help="folder under the output folder; a run with the same name resumes; automatic: "
            "<dataset>_<strategy>_<adapt>_<rda|nordA>[_knn][_human][_lw<w>], as the CLI",
        )
    if dataset is None:
        raise ConfigError("choose a data folder (or the demo world) before starting a run")
    config = RunConfig.for_dataset(
        dataset,
        strategy=strategy,
        adaptation=adapt,
        rounds=int(rounds),
        budget=int(budget) or None,
        seed=(seeds or [1])[0],
        rda=rda,
        k=int(k),
        mode=mode,
        initial=initial,
        preset=preset,
        protocol=protocol,
        labeled_weight=float(weight),
        retrieval_source=source.strip() or None,
        model_name=model_name,
        pretrained=pretrained,
        min_side=int(min_side),
        leakage_guard=bool(guard),
        **engine,
        extra={"name": name.strip()} if name.strip() else {},
    )
    config.extra["name"] = config.run_name()  # no name typed: the automatic rule, the same as the CLI's
    safe_join(output_dir(), config.extra["name"], what="run name")  # '../x', '/x', a symlink out
    return config, sorted(seeds)


def start_run(config, seeds):
    """Launch the run in the background; the first seed's session becomes the current one.

    Raises
    ------
    UnsafePathError
        The run name would put the run folder outside the output folder.
    """
    root = output_dir()
    safe_join(root, jobs.run_name(config), what="run name")
    cmd = jobs.cli_command(config, seeds, root, small_demo=small_demo() and config.dataset == "demo")
    run_dir = root / jobs.run_name(config)
    info = jobs.start(cmd, run_dir)
    set_session(run_dir / f"seed{seeds[0]}")
    return run_dir, info


def _seed_rows(run_dir):
    for cfg in sorted(Path(run_dir).glob("seed*/config.json")):
        s = Session(cfg.parent)
        yield s, s.status(), len(s.finished_rounds()), s.config.get("rounds") or 1


def _job_card(run_dir, info):
    with st.container(border=True):
        head = st.empty()
        waiting = None
        for s, status, done, total in _seed_rows(run_dir):
            text = STATE_TEXT.get(status.get("state"), status.get("state") or "starting")
            st.progress(min(1.0, done / total), text=f"{s.path.name}: {text} · {done}/{total} rounds done")
            if status.get("state") == "waiting_for_labels":
                waiting = s
        state = "waiting" if waiting is not None and not info["alive"] else info["state"]
        badge = {
            "running": ":blue-badge[running]",
            "paused": ":orange-badge[paused]",
            "finished": ":green-badge[finished]",
            "failed": ":red-badge[failed]",
            "waiting": ":violet-badge[waiting for labels]",
        }[state]
        cfg = next((s.config for s, *_ in _seed_rows(run_dir)), {})
        names = " · ".join(
            run_view.name_with_code(f(cfg[k]), cfg[k])
            for k, f in (("strategy", run_view.strategy_name), ("adaptation", run_view.adapt_name))
            if cfg.get(k)
        )
        head.markdown(
            f"**{Path(run_dir).name}** {badge} · started "
            f"{time.strftime('%H:%M:%S', time.localtime(info['started']))}" + (f"  \n{names}" if names else "")
        )
        if info["state"] == "failed":
            st.error(info["message"])
        elif info["state"] == "running":
            st.caption(info["message"][:160])
        c = st.columns(4)
        key = Path(run_dir).name
        if info["alive"] and c[0].button("Pause", key=f"run.pause.{key}", icon=":material/pause:"):
            jobs.stop(run_dir)
            st.rerun()
        if not info["alive"] and (info["state"] in ("paused", "failed") or waiting is not None):
            if c[0].button(
                "Resume" if waiting is None else "Continue",
                key=f"run.resume.{key}",
                icon=":material/play_arrow:",
                help="launch the same command again; the run continues from the session on disk",
            ):
                jobs.resume(run_dir)
                st.rerun()
        first = next(iter(sorted(Path(run_dir).glob("seed*/config.json"))), None)
        if first is not None and c[1].button("Open", key=f"run.openjob.{key}", icon=":material/folder_open:"):
            set_session(first.parent)
            st.rerun()
        if waiting is not None:
            c[2].page_link(page_path("label"), label="Label the picks", icon=":material/label:")
        st.caption("Command (copy it to run the same in a terminal):")
        st.code(info["command_text"], language="bash", wrap_lines=True)
        with st.expander("Log"):
            raw = st.toggle("Raw log (every progress-bar redraw)", key=f"{K.RUN_RAW_LOG}.{key}")
            lines = jobs.log_tail(run_dir, 60 if raw else 2000, n_bytes=32_000 if raw else 400_000)
            st.code("\n".join(lines if raw else run_view.stage_log(lines)[-30:]) or "(empty)", language=None)


def jobs_panel():
    """Cards of the background runs; refreshes itself every 2 s while one is running."""
    listed = jobs.list_jobs(output_dir())
    alive = any(info["alive"] for _, info in listed)
    states = tuple(
        sorted(
            (str(f.parent), Session(f.parent).status().get("state"))
            for d, _ in listed
            for f in Path(d).glob("seed*/config.json")
        )
    )
    before = st.session_state.get(K.RUN_ALIVE)
    st.session_state[K.RUN_ALIVE] = (alive, states)
    if before is not None and before != (alive, states):
        st.rerun()  # a job ended, or a session appeared or moved on: refresh the sidebar too
    if not listed:
        st.caption("No background run yet: start one above.")
    for run_dir, info in listed:
        _job_card(run_dir, info)
