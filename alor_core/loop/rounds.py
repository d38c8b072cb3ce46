"""The ALOR round loop (docs/METHOD.md §3.5): retrieve -> [adapt -> evaluate -> select -> label] x rounds.

Each step is a small function over a :class:`RunContext`. Every step first looks at the session
on disk and skips work that is already there, so running the same configuration again resumes
where it stopped (after a crash, ``kill -9`` or a pause) and never duplicates a round or a label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import dataclasses
import time
from pathlib import Path
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import adaptation, strategies
from ..adaptation import TrainData
from ..config import RunConfig
from ..data import load_task
from ..data.skips import SkipReport, add_table_skips, read_skip_report, write_skip_report
from ..errors import AlorError, ConfigError, DataError
from ..io import atomic_write_csv, atomic_write_json, read_json
from ..models.clip import load_clip
from ..models.features import encode_images
from ..retrieval import RetrievedSet, retrieve
from ..models.threads import intra_op_threads
from ..progress import NO_PROGRESS, Progress, as_progress, with_stage
from .metrics import evaluate_predictions, tail_classes
from .demo_build import build_demo_world
from .import_round import IMPORTED_RETRIEVED, read_imported_retrieved
from .session import Session

if TYPE_CHECKING:
    from collections.abc import Callable
    from ..data.demo_world import DemoWorldSpec

__all__ = [
    "RunContext",
    "prepare",
    "run",
    "run_round_range",
    "session_dir_for",
    "wait_for_labels",
    "label_wait_seconds",
    "LABEL_WAIT_ENV",
]

DEFAULT_REAL_MODEL = ("ViT-B-32-quickgelu", "laion400m_e32")
LABEL_WAIT_ENV = "ALOR_LABEL_WAIT_S"  # see label_wait_seconds


@dataclass
class RunContext:
    """Everything one run needs in memory; built once by :func:`prepare`."""

    config: RunConfig
    task: object
    bundle: object
    session: Session
    retrieved: RetrievedSet
    pool_features: np.ndarray
    progress: Progress = NO_PROGRESS

    @property
    def n_classes(self) -> int:
        return self.task.n_classes

    @property
    def budget(self) -> int:
        return self.config.budget or self.n_classes


def session_dir_for(config: RunConfig, output_root: str | Path) -> Path:
    """``<output>/<config.run_name()>/seed<k>`` (:meth:`RunConfig.run_name`, the one naming rule).

    A session an earlier version put under another automatic name (:meth:`RunConfig.legacy_run_names`:
    the CLI's and the dashboard's old rules) is found there when the folder of the current name has
    no such session and the old one was run with the same labels source and labeled-set weight (the
    settings the current name adds), so that it resumes instead of starting over.
    """
    from ..safepath import safe_join  # a run name never leaves the output folder

    seed_dir = f"seed{config.seed}"
    path = safe_join(output_root, config.run_name(), what="run name") / seed_dir
    if not (path / "config.json").is_file():
        for name in config.legacy_run_names():
            old = safe_join(output_root, name, what="run name") / seed_dir
            try:
                found = read_json(old / "config.json") if (old / "config.json").is_file() else None
            except (OSError, ValueError, AlorError):
                found = None
            if found and (found.get("mode", "oracle"), float(found.get("labeled_weight") or 0.0)) == (
                config.mode,
                float(config.labeled_weight),
            ):
                return old
    return path


def prepare(
    config: RunConfig, output_root: str | Path, progress: Progress | None = None, spec: DemoWorldSpec | None = None
) -> RunContext:
    """Validate names, load task + model, open (or resume) the session and run retrieval."""
    progress = as_progress(progress)
    timer = StageTimer()
    strategies.create(config.strategy)  # fail early on unknown / unbuilt names
    adaptation.create(config.adaptation, config.preset, getattr(config, "adapt_params", None))
    session_dir_for(config, output_root)  # and on a run name that leaves the output folder
    if config.dataset == "demo":  # built once, under its lock, before load_task reads it
        build_demo_world(spec, progress=with_stage(progress, "demo world"))
    task = load_task(config.dataset, config.data_root, spec=spec, strict=config.strict)
    model_name = config.model_name or task.meta.get("model_name") or DEFAULT_REAL_MODEL[0]
    pretrained = (
        config.pretrained
        or task.meta.get("checkpoint")
        or (DEFAULT_REAL_MODEL[1] if model_name == DEFAULT_REAL_MODEL[0] else None)
    )
    # A copy: the caller's config stays as given (a second run() with it resolves the same way).
    config = dataclasses.replace(config, model_name=model_name, pretrained=pretrained)
    budget = config.budget or task.n_classes  # checked before any session file is written
    if budget > len(task.pool):
        raise ConfigError(
            f"'budget' {budget} is larger than the unlabeled pool "
            f"({len(task.pool)} images); expected at most {len(task.pool)}"
        )
    if config.mode == "oracle" and (task.pool.labels < 0).any():
        raise DataError(
            "oracle mode needs ground-truth labels for the whole pool; this pool has "
            f"{int((task.pool.labels < 0).sum())} unlabeled images: use --mode human"
        )
    progress(0.0, f"loading {model_name}", stage="model")
    bundle = load_clip(model_name, pretrained, config.device)
    cfg = config.to_dict()
    cfg["spec_key"] = task.meta.get("spec_key")
    # PT keeps the last epoch even in the paper protocol (docs/METHOD.md §5.5).
    cfg["selection"] = "last" if config.preset == "fast" or config.adaptation == "pt" else "best-val"
    session = Session.open_or_create(session_dir_for(config, output_root), cfg)
    session.write_status(state="preparing", round=None, updated=time.time())
    timer.lap("load")
    with _failure_recorded(session):
        write_skip_report(session.path, task.meta.setdefault("skips", SkipReport(strict=config.strict)))
        retrieved = step_retrieve(session, config, task, bundle, progress)
        timer.lap("retrieval")
        progress(0.0, "encoding the unlabeled pool", stage="features")
        pool_features, retrieved = _encode_usable(session, config, task, bundle, progress, retrieved)
        timer.lap("pool_features")
        ctx = RunContext(config, task, bundle, session, retrieved, pool_features, progress)
        step_zero_shot(ctx)
        timer.lap("zero_shot")
    atomic_write_json(session.path / "timing.json", timer.as_dict())
    return ctx


@contextlib.contextmanager
def _failure_recorded(session):
    """A run that stops says so in ``status.json`` (not "preparing" forever), whatever stopped it:
    ``failed`` with the error for any exception (bad input, a library's own error type, a bug),
    ``stopped`` for Ctrl-C or a system exit."""
    try:
        yield
    except BaseException as err:
        state = "failed" if isinstance(err, Exception) else "stopped"
        try:
            session.write_status(state=state, error=str(err) or type(err).__name__, updated=time.time())
        except OSError:
            pass  # the disk itself failed: the error below still reaches the user
        raise


def _encode_usable(session, config, task, bundle, progress: Progress | None = None, retrieved=None):
    """``(pool features, retrieved)``: pool, test and val images whose pixels cannot be decoded
    are dropped from the task, retrieved ones from ``retrieved`` (a pool used as it is, e.g. a
    LAION-layout table, was not checked when loaded), and all are added to the task's skip report,
    which is written to the session (``skipped.csv``). With ``config.strict`` the first such image
    stops the run instead. The features computed here are the cached ones the round loop reads."""
    from ..data.images import ImageProblem

    report = task.meta.setdefault("skips", SkipReport(strict=config.strict))
    pool_features = None
    for split in ("pool", "test", "val"):
        images = getattr(task, split)
        if images is None:
            continue
        if split not in report.found:  # the demo world is not checked at load time
            report.add_found(split, len(images), images.root)
        failed = None if config.strict else []
        feats = encode_images(
            bundle,
            images,
            skipped=failed,
            progress=with_stage(progress, "features") if split == "pool" else None,
        )
        if failed:
            bad = {i for i, _, _ in failed}
            for i, reason, detail in failed:
                report.skip(split, ImageProblem(images.ids[i], reason, detail))
            keep = [i for i in range(len(images)) if i not in bad]
            setattr(task, split, images.subset(keep))
            feats = feats[keep]
        if split == "pool":
            pool_features = feats
    if retrieved is not None and len(retrieved.items):
        failed = None if config.strict else []
        encode_images(bundle, retrieved.image_set, skipped=failed)
        ids = retrieved.items["id"].astype(str)
        # a converted pool counts its images already (a resumed run finds its rows on disk); a pool
        # used as it is (LAION layout, the demo corpus) is counted here, by its retrieved images
        converted = (
            "retrieval source" in report.found or "retrieval source" in read_skip_report(session.path)["sources"]
        )
        source = "retrieval source" if converted else "retrieved"
        if not converted:
            report.add_found(source, ids.nunique(), retrieved.root)
        if failed:
            bad = {}
            for i, reason, detail in failed:
                bad.setdefault(ids.iloc[i], (reason, detail))
            if source in report.found:
                for sid, (reason, detail) in bad.items():
                    report.skip(source, ImageProblem(sid, reason, detail))
            retrieved = dataclasses.replace(retrieved, items=retrieved.items[~ids.isin(bad)].reset_index(drop=True))
    write_skip_report(session.path, report)
    return pool_features, retrieved


def step_retrieve(session: Session, config: RunConfig, task, bundle, progress: Progress | None = None) -> RetrievedSet:
    """RDA once per session: reuse ``retrieval/`` when present."""
    progress = as_progress(progress)
    rdir = session.path / "retrieval"
    if not config.rda:
        return RetrievedSet.empty(task.classes)
    if (rdir / "counts.json").is_file():
        meta = read_json(rdir / "counts.json")
        if not meta["stats"].get("count_only"):  # count-only: retrieve again (the images may be here now)
            items = pd.read_csv(rdir / "retrieved.csv", dtype={"id": str}, keep_default_na=False)
            _note_source_change(rdir, meta, config)
            return RetrievedSet(items, Path(meta["root"]), meta["counts"], meta["stats"])
    corpus = task.corpus_path
    imported = rdir / IMPORTED_RETRIEVED  # an official round file's retrieved lines (import-round)
    if config.retrieval_source and not imported.is_file():  # the user's own open data, converted once
        import hashlib

        from ..paths import cache_dir
        from ..retrieval.local_sources import as_captions_table

        key = hashlib.sha1(str(Path(config.retrieval_source).resolve()).encode()).hexdigest()[:12]
        corpus = as_captions_table(config.retrieval_source, cache_dir() / "captions" / key)
        add_table_skips(task.meta.setdefault("skips", SkipReport(strict=config.strict)), corpus)
    if imported.is_file():  # used as they are (no re-ranking); the leakage guard below still applies
        rs = read_imported_retrieved(imported, task)
    elif corpus is None and task.meta.get("retrieved_list"):
        rs = _import_retrieved_list(task)
    elif corpus is None:
        raise DataError(
            f"RDA is on but dataset {task.name!r} has no captions table (corpus.parquet); "
            "pass --retrieval-source, add one, or run with --no-rda"
        )
    elif getattr(config, "retrieval_mode", "caption") == "knn":
        progress(0.0, "retrieving open data by embedding kNN (RDA)", stage="retrieval")
        rs = _knn_retrieve(config, task, bundle, corpus, progress)
    else:
        progress(0.0, f"retrieving open data (RDA, {config.retrieval_backend} matcher)", stage="retrieval")
        rs = retrieve(
            bundle,
            task.classes,
            corpus,
            k=config.k,
            min_side=config.min_side,
            match_rule=config.match_rule,
            progress=with_stage(progress, "retrieval"),
            backend=config.retrieval_backend,
            matcher_options=_matcher_options(config),
            **_leakage_args(config, task),
        )
    rs = _guard_finished(rs, config, task, bundle, rdir)
    if not len(rs.items):  # RDA on but nothing to train on: say so rather than run as no-RDA
        src = config.retrieval_source or corpus or task.meta.get("retrieved_list")
        matched = sum(int(c.get("matched", 0)) for c in rs.counts)
        if matched:  # the captions matched, the filters took everything
            from ..retrieval.filters import FILTER_LABELS, filter_table

            removed = filter_table(rs.counts)[list(FILTER_LABELS)].sum()
            hints = [
                h
                for f, h in (
                    ("too_small", "lower --min-side"),
                    ("missing_image", "check that the images exist"),
                    ("leakage_exact", "remove the copies of validation/test images from the open data"),
                    ("leakage_near", "check the near-duplicates (--no-leakage-guard keeps them)"),
                )
                if removed[f]
            ]
            raise DataError(
                f"RDA matched {matched} captions in {str(src)!r} but its filters removed every "
                "image ("
                + ", ".join(f"{FILTER_LABELS[f]}: {int(v)}" for f, v in removed.items() if v)
                + "); expected at least one image left. "
                + "; ".join(hints + ["or run with --no-rda"])
            )
        raise DataError(
            f"RDA retrieved no image for any of the {task.n_classes} classes from "
            f"{str(src)!r}: no caption names a class or a synonym (e.g. "
            f"{', '.join(repr(n) for n in task.classes.names[:3])}); expected at least one "
            "match. Check the captions and the synonyms in classes.csv, or run with --no-rda"
        )
    if config.retrieval_source:  # what the retrieval was made from, to tell a resumed run if it changed
        from ..retrieval.local_sources import source_stamp

        rs.stats["source_stamp"] = source_stamp(config.retrieval_source)
    atomic_write_csv(rdir / "retrieved.csv", list(rs.items.columns), rs.items.itertuples(index=False))
    atomic_write_json(rdir / "counts.json", {"root": str(rs.root), "counts": rs.counts, "stats": rs.stats})
    return rs


def _note_source_change(rdir, meta, config):
    """A resumed session keeps its retrieval (its training data never changes under it); when the
    ``--retrieval-source`` changed since, ``counts.json`` says so (``stats.source_changed``) and the
    run's summary tells the user to start a new run to retrieve again."""
    old = meta["stats"].get("source_stamp")
    if not config.retrieval_source or old is None:
        return
    from ..retrieval.local_sources import source_stamp

    changed = source_stamp(config.retrieval_source) != old
    if bool(meta["stats"].get("source_changed")) != changed:
        meta["stats"]["source_changed"] = changed
        atomic_write_json(rdir / "counts.json", meta)


def _leakage_args(config, task):
    """The leakage guard's inputs for :func:`~alor_core.retrieval.rda.retrieve` (docs/METHOD.md §4.7):
    val/test images to protect, the unlabeled pool to report copies of; none with the guard off."""
    if not getattr(config, "leakage_guard", True):
        return {"exclude": None}
    return {"exclude": [s for s in (task.test, task.val) if s is not None], "copies_of": [task.pool]}


def _guard_finished(rs, config, task, bundle, rdir):
    """The guard for retrieval that did not run it itself (kNN, an imported retrieved list), and
    count-only retrieval: its counts are written (the bias view works from them) and the run stops
    with what to do to get the images."""
    if rs.stats.get("count_only"):
        from ..retrieval.export import export_for_img2dataset, img2dataset_command

        urls, n = export_for_img2dataset(rs.unfetched, rdir / "img2dataset_urls.parquet")
        rs.stats["count_only_note"] = (
            f"{rs.stats['count_only_note']}. The {n} matched URLs are in {urls}; fetch them with\n  "
            f"{img2dataset_command(urls, rdir / 'images')}\nthen convert the download with\n  python -c "
            f"\"from alor_core.retrieval.local_sources import from_img2dataset; from_img2dataset('{rdir / 'images'}')\"\n"
            f"and run again with --retrieval-source {rdir / 'images' / 'captions'}"
        )
        atomic_write_csv(rdir / "retrieved.csv", list(rs.items.columns), [])
        atomic_write_json(rdir / "counts.json", {"root": str(rs.root), "counts": rs.counts, "stats": rs.stats})
        raise DataError("count-only retrieval: " + rs.stats["count_only_note"])
    if "leakage" in rs.stats or not len(rs.items):
        return rs
    if not getattr(config, "leakage_guard", True):
        rs.stats["leakage"] = {"guard": False}
        return rs
    from ..retrieval.leakage import drop_leaking_items

    args = _leakage_args(config, task)
    return drop_leaking_items(bundle, rs, args["exclude"], threshold="auto", report=args["copies_of"])


def _matcher_options(config):
    """Options of the caption matcher: a Spark session on ``config.spark_master`` for ``spark``."""
    if config.retrieval_backend == "spark" and config.spark_master:
        from ..retrieval.spark_match import local_spark

        return {"spark": local_spark(master=config.spark_master)}
    return None


def _knn_retrieve(config, task, bundle, corpus, progress: Progress | None = None):
    """Mode B RDA: embedding kNN over the images of the captions table (its captions are not used)."""
    import pyarrow.parquet as pq

    from ..data.datasets import ImageSet
    from ..retrieval.base import CaptionTable
    from ..retrieval.knn import knn_retrieve

    table = CaptionTable.open(corpus)
    urls = []
    for f in table.files:
        urls += [str(u) for u in pq.read_table(f, columns=["URL"]).column("URL").to_pylist() if u]
    urls = list(dict.fromkeys(urls))  # one entry per image, first occurrence order
    found = [u for u in urls if (table.root / u).is_file()]
    if not found:
        raise DataError(
            f"retrieval mode 'knn': none of the {len(urls)} images named in {str(corpus)!r} exist "
            f"under {str(table.root)!r} (first URL: {urls[0] if urls else None!r}); expected local "
            "image paths relative to the table"
        )
    pool = ImageSet(found, table.root, np.full(len(found), -1, np.int64))
    rs = knn_retrieve(
        bundle,
        task.classes,
        pool,
        k=config.k,
        threshold=config.knn_threshold,
        progress=with_stage(progress, "retrieval"),
    )
    rs.stats["missing_images"] = len(urls) - len(found)
    return rs


def _import_retrieved_list(task):
    """A ready-made ALOR/SWAT ``retrieved_data.txt`` (docs/METHOD.md §4.5): used as it is, no re-ranking."""
    from pathlib import Path

    from ..data.listfiles import read_list_file

    path = Path(task.meta["retrieved_list"])
    s = read_list_file(path, path.parent, task.n_classes)
    items = pd.DataFrame({"id": s.ids, "label": s.labels, "synonym": "", "score": np.nan, "caption": ""})
    kept = np.bincount(s.labels, minlength=task.n_classes)
    counts = [{"name": n, "matched": int(c), "kept": int(c)} for n, c in zip(task.classes.names, kept)]
    return RetrievedSet(items, path.parent, counts, {"imported_from": str(path)})


def step_zero_shot(ctx):
    """Zero-shot baseline on the test split (once per session)."""
    if ctx.session.zero_shot() is not None:
        return
    clf = adaptation.ZeroShot().fit(ctx.bundle, ctx.task.classes)
    feats = clf.embed(ctx.task.test)
    m = evaluate_predictions(clf.logits(feats).argmax(1), ctx.task.test.labels, ctx.n_classes, tail=_tail(ctx))
    atomic_write_json(ctx.session.path / "zeroshot.json", m)


def _tail(ctx):
    freq = ctx.task.meta.get("corpus_counts") or ctx.task.meta.get("class_frequency")
    if freq is None and ctx.config.rda:
        freq = [c["matched"] for c in ctx.retrieved.counts]
    return tail_classes(freq, k=min(5, max(1, ctx.n_classes // 2))) if freq is not None else None


def step_initial(ctx):
    """Round-0 labels: one random pool image per class with the run seed (docs/METHOD.md §3.2)."""
    s = ctx.session
    if len(s.labels()) or ctx.config.initial == "none":
        return
    rng = np.random.default_rng(ctx.config.seed)
    labels = ctx.task.pool.labels
    rows = []
    for c in range(ctx.n_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) == 0:
            raise DataError(
                f"class {ctx.task.classes.names[c]!r} has no labeled image in the pool; "
                "the initial set needs one per class (use --initial none for a cold start)"
            )
        i = int(rng.choice(idx))
        rows.append((ctx.task.pool.ids[i], c, 0, "initial"))
    s.add_labels(rows)


def _labeled_positions(ctx, up_to_round):
    df = ctx.session.labels()
    df = df[df["round"] <= up_to_round]
    pos = ctx.task.pool.index_of()
    missing = [sid for sid in df["sample_id"] if sid not in pos]
    if missing:
        raise DataError(f"label for {missing[0]!r} refers to an image that is not in the pool")
    return np.array([pos[s] for s in df["sample_id"]], dtype=np.int64), df["label"].to_numpy(np.int64)


def training_seed(config, r):
    """Seed of round ``r``'s training.

    ``protocol="paper"`` uses the official code's seeds, fixed across rounds: LP/FT/CT train with
    ``--training_seed`` 1, which the official scripts never change, so the run seed only picks
    round 0's labels; PT (Dassl) is seeded with the run seed (docs/METHOD.md §10.5). Otherwise
    every round and run seed gets its own training seed, ``seed * 1000 + r``.
    """
    if config.protocol == "paper":
        return config.seed if config.adaptation == "pt" else 1
    return config.seed * 1000 + r


def step_adapt(ctx, r):
    """Train a fresh model on retrieved ∪ labeled (rounds <= r) data."""
    idx, labs = _labeled_positions(ctx, r)
    from ..data.datasets import ImageSet

    labeled = ImageSet([ctx.task.pool.ids[i] for i in idx], ctx.task.pool.root, labs)
    ret = ctx.retrieved.image_set
    if len(labeled) + len(ret) == 0:
        # Cold start without RDA (docs/METHOD.md §3.2): nothing to train on yet, so round 0 is zero-shot.
        clf = adaptation.ZeroShot().fit(ctx.bundle, ctx.task.classes)
        clf.history = {"note": "no training data yet: zero-shot model used"}
        return clf, TrainData(labeled, ret, ctx.n_classes)
    frozen = ctx.config.adaptation in ("lp", "pt")
    ret_feats = encode_images(ctx.bundle, ret) if len(ret) and frozen else None
    data = TrainData(labeled, ret, ctx.n_classes, labeled_features=ctx.pool_features[idx], retrieved_features=ret_feats)
    adapter = adaptation.create(ctx.config.adaptation, ctx.config.preset, getattr(ctx.config, "adapt_params", None))
    if ctx.config.labeled_weight and hasattr(getattr(adapter, "params", None), "labeled_weight"):
        import dataclasses

        adapter.params = dataclasses.replace(adapter.params, labeled_weight=ctx.config.labeled_weight)
    # LP on cached features is hundreds of tiny ops: one thread is several times faster on a busy
    # machine (alor_core/models/threads.py); anything that runs the image tower keeps every thread
    head_only = ctx.config.adaptation == "lp" and getattr(getattr(adapter, "params", None), "augment", None) == "none"
    with intra_op_threads(1) if head_only else contextlib.nullcontext():
        return adapter.fit(
            ctx.bundle,
            ctx.task.classes,
            data,
            seed=training_seed(ctx.config, r),
            val=ctx.task.val,
            progress=with_stage(ctx.progress, "adapt"),
        ), data


def step_evaluate(ctx, clf, data, r, seconds):
    feats = clf.embed(ctx.task.test)
    m = evaluate_predictions(clf.logits(feats).argmax(1), ctx.task.test.labels, ctx.n_classes, tail=_tail(ctx))
    m.update(
        round=r,
        n_labeled=data.n_labeled,
        n_retrieved=data.n_retrieved,
        labeled_per_class=np.bincount(data.labeled.labels, minlength=ctx.n_classes).tolist(),
        adapt_seconds=round(seconds, 2),
        history={k: v for k, v in clf.history.items() if k != "loss"},
        loss_first_last=[clf.history["loss"][0], clf.history["loss"][-1]] if clf.history.get("loss") else None,
    )
    ctx.session.write_metrics(r, m)
    return m


def step_select(ctx, clf, data, r):
    """Pick the next ``budget`` pool images with the run's strategy; write ``selected.csv``."""
    idx_lab, labs = _labeled_positions(ctx, r + 1)  # human labels of this round count as labeled
    unl = np.setdiff1d(np.arange(len(ctx.task.pool)), idx_lab)
    if len(unl) == 0:
        raise DataError("the unlabeled pool is exhausted: every pool image is labeled")
    frozen = clf.method in ("lp", "zeroshot", "pt")  # image tower untouched: reuse cached features
    all_feats = ctx.pool_features if frozen else clf.embed(ctx.task.pool)
    feats = all_feats[unl]
    probs = clf.predict_proba(feats)
    n_ret = ctx.retrieved.kept_per_class(ctx.n_classes) if ctx.config.rda else np.zeros(ctx.n_classes, int)
    train_feats = np.concatenate(
        [
            all_feats[idx_lab],
            (data.retrieved_features if frozen and data.retrieved_features is not None else clf.embed(data.retrieved))
            if len(data.retrieved)
            else np.zeros((0, feats.shape[1]), np.float32),
        ]
    )
    view = strategies.PoolView(
        feats,
        probs,
        n_ret,
        np.bincount(labs, minlength=ctx.n_classes),
        list(ctx.task.classes.names),
        train_features=train_feats,
        train_labels=np.concatenate([labs, data.retrieved.labels]),
        head_weight=clf.weight_,
        head_scale=clf.scale_,
        head_bias=getattr(clf, "bias_", None),
        n_pool_full=len(ctx.task.pool),
    )
    strat = strategies.create(ctx.config.strategy)
    budget = min(ctx.budget, len(unl))
    picks = strat.query(view, budget, rng=np.random.default_rng([ctx.config.seed, r]))
    names = ctx.task.classes.names
    rows = []
    for k, (p, score, reason) in enumerate(zip(picks, strat.scores_, strat.reasons_)):
        top = np.argsort(-probs[p], kind="stable")[:3]
        rows.append(
            [
                k,
                ctx.task.pool.ids[unl[p]],
                round(float(score), 6),
                reason,
                names[int(top[0])],
                ";".join(f"{names[int(c)]}:{probs[p, c]:.3f}" for c in top),
            ]
        )
    ctx.session.write_selected(r, rows)


def step_label(ctx, r):
    """Oracle mode: reveal the ground truth of round ``r``'s picks as round ``r+1`` labels."""
    sel = ctx.session.selected(r)
    if ctx.config.mode != "oracle" or sel is None:
        return
    pos = ctx.task.pool.index_of()
    ctx.session.add_labels([(sid, int(ctx.task.pool.labels[pos[sid]]), r + 1, "oracle") for sid in sel["sample_id"]])


def _awaiting(ctx, r):
    """Human mode: picks of round ``r`` that nobody has labeled (or skipped) yet."""
    sel = ctx.session.selected(r)
    if sel is None:
        return []
    done = set(ctx.session.labels()["sample_id"])
    skipped = set(ctx.session.skipped(r))
    return [s for s in sel["sample_id"] if s not in done and s not in skipped]


class StageTimer:
    """Wall-clock seconds per stage; ``lap(stage)`` charges the time since the last lap to it."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.seconds = {}

    def lap(self, stage):
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self.last
        self.last = now

    def as_dict(self):
        return {"seconds": {k: round(v, 4) for k, v in self.seconds.items()}, "total": round(self.last - self.start, 4)}


def _write_timing(session, r, timer):
    """``rounds/rNN/timing.json``: where this round's wall time went (only stages run this time)."""
    if {"adaptation", "selection"} & set(timer.seconds):  # a fully resumed round keeps its file
        timer.lap("bookkeeping")
        atomic_write_json(session.round_dir(r) / "timing.json", timer.as_dict())


def run_round_range(ctx: RunContext, last_round: int, should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Run rounds up to ``last_round`` (inclusive); returns a status dict."""
    s, cfg = ctx.session, ctx.config
    step_initial(ctx)
    # A kill between a round's metrics.json and the results.csv rebuild leaves that round out of
    # results.csv; for the last round no later write would ever bring it back.
    if list(s.results()["round"]) != s.finished_rounds():
        s.rebuild_results()
    for r in range(cfg.rounds):
        if r > last_round:
            break
        if should_stop():
            s.write_status(state="paused", round=r, updated=time.time())
            return s.status()
        clf = None
        timer = StageTimer()
        if s.metrics(r) is None:
            s.write_status(state="adapting", round=r, updated=time.time())
            timer.lap("bookkeeping")
            clf, data = step_adapt(ctx, r)
            timer.lap("adaptation")
            step_evaluate(ctx, clf, data, r, timer.seconds["adaptation"])
            timer.lap("evaluation")
        if r == cfg.rounds - 1:
            _write_timing(s, r, timer)
            break
        if s.selected(r) is None:
            if clf is None:  # resumed between evaluation and selection: retrain (deterministic)
                clf, data = step_adapt(ctx, r)
                timer.lap("adaptation")
            s.write_status(state="selecting", round=r, updated=time.time())
            timer.lap("bookkeeping")
            step_select(ctx, clf, data, r)
            timer.lap("selection")
        step_label(ctx, r)
        timer.lap("bookkeeping")
        _write_timing(s, r, timer)
        waiting = _awaiting(ctx, r)
        if waiting:
            s.write_status(state="waiting_for_labels", round=r, n_waiting=len(waiting), updated=time.time())
            return s.status()
        ctx.progress((r + 1) / cfg.rounds, f"round {r} done: acc {s.metrics(r)['acc']:.1f}%", stage="round")
    done = len(s.finished_rounds()) >= cfg.rounds
    s.write_status(
        state="done" if done else "stopped", round=max(s.finished_rounds(), default=None), updated=time.time()
    )
    return s.status()


def label_wait_seconds() -> float:
    """Seconds a human-mode run waits for its picks' labels before it exits: ``$ALOR_LABEL_WAIT_S``
    (0, the default, or unset: it exits at once; the dashboard sets it for the jobs it starts)."""
    import os

    try:
        return max(0.0, float(os.environ.get(LABEL_WAIT_ENV) or 0))
    except ValueError:
        raise ConfigError(
            f"${LABEL_WAIT_ENV} must be a number of seconds; got {os.environ.get(LABEL_WAIT_ENV)!r}"
        ) from None


def _labels_stamp(session, r):
    """Changes whenever a label or a skip of round ``r`` is written (two stat calls: cheap to poll)."""
    out = []
    for f in (session.path / "labels.csv", session.round_dir(r) / "skipped.txt"):
        try:
            st = f.stat()
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def wait_for_labels(
    ctx: RunContext,
    r: int,
    idle_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    poll_s: float = 0.1,
    on_idle: Callable[[Callable[[], bool]], bool] | None = None,
) -> bool:
    """Human mode: wait, in this process, until every pick of round ``r`` is labeled or skipped.

    The session's ``labels.csv`` and ``rounds/rNN/skipped.txt`` are polled with ``stat`` every
    ``poll_s`` seconds; the queue is read again only when one of them changed. The wait ends
    without the labels after ``idle_s`` seconds in which nothing of the round was written, on
    ``should_stop()``, on Ctrl-C (SIGINT: the dashboard's *Pause*) or when the session folder is
    gone (deleted: nobody can label it any more).

    Parameters
    ----------
    ctx : RunContext
    r : int
        The round whose picks wait for labels.
    idle_s : float
        Seconds without a label or skip after which the wait gives up.
    should_stop : callable, optional
    poll_s : float, default=0.1
    on_idle : callable, optional
        ``on_idle(done)`` at the idle timeout, where ``done()`` tells whether the round's picks are
        all labeled now; True: go on (the labels are complete), False: give up. The dashboard's
        jobs use it to hand the round over to a relaunch atomically (:func:`jobs.hand_over`).

    Returns
    -------
    bool
        True when the round's picks are all labeled or skipped (train the next round now).
    """

    def done():  # every pick labeled or skipped (and the picks still there: not a deleted session)
        return ctx.session.selected(r) is not None and not _awaiting(ctx, r)

    stamp, last = None, time.monotonic()
    try:
        while True:
            if should_stop() or not (ctx.session.round_dir(r) / "selected.csv").is_file():
                return False  # stopped, or the session was deleted: nobody can label it any more
            now = _labels_stamp(ctx.session, r)
            if now != stamp:
                stamp, last = now, time.monotonic()
                if done():
                    return True
            if time.monotonic() - last > idle_s:
                return bool(on_idle(done)) if on_idle is not None else done()
            time.sleep(poll_s)
    except KeyboardInterrupt:  # Pause while waiting: the session stays waiting_for_labels, as it was
        return False


def run(
    config: RunConfig,
    output_root: str | Path,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    spec: DemoWorldSpec | None = None,
    last_round: int | None = None,
    label_wait_s: float | None = None,
) -> tuple[Session, dict]:
    """Run (or resume) one seed of an ALOR run; returns ``(session, status)``.

    In human mode, with ``label_wait_s`` (default :func:`label_wait_seconds`) > 0 and no
    ``last_round``, the run does not exit when a round's picks wait for labels: it keeps the model,
    the features and the retrieved set in memory, waits (:func:`wait_for_labels`) and trains the
    next round as soon as the picks are labeled, so the next queue comes in about a second instead
    of a process start. After ``label_wait_s`` seconds without a label it returns as before.
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"'config' must be a RunConfig; got {type(config).__name__}")
    wait = label_wait_seconds() if label_wait_s is None else float(label_wait_s)
    ctx = prepare(config, output_root, progress, spec=spec)  # checks the budget against the pool
    with _failure_recorded(ctx.session):
        status = run_round_range(ctx, config.rounds - 1 if last_round is None else last_round, should_stop)
        while (
            wait > 0
            and last_round is None
            and status.get("state") == "waiting_for_labels"
            and wait_for_labels(ctx, int(status["round"]), wait, should_stop, on_idle=_job_hand_over(ctx))
        ):
            status = run_round_range(ctx, config.rounds - 1, should_stop)
    return ctx.session, status


def _job_hand_over(ctx):
    """The idle-timeout step of a run the dashboard started: see :func:`alor_core.loop.jobs.hand_over`."""
    from . import jobs

    def on_idle(done):
        return jobs.hand_over(ctx.session.path.parent, done)

    return on_idle
