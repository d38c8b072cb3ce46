"""Command-line commands for bringing one's own data: ``check-data``, the official round-file import,
the SWAT/ALOR file importers and the img2dataset export (registered by :mod:`alor_core.cli`).

Commands
--------
check-data PATH            what of a dataset folder, split file or benchmark is present / missing / broken
import-round FILE          start a session from an official round file (round-0 labels + retrieved set)
import-list FILE           read a SWAT/ALOR retrieved list (retrieved_data.txt, T2T500.txt): per-class counts
import-metrics FILE        read a <dataset>_metrics-LAION400M.json: classes, synonyms, LAION counts
export-img2dataset TABLE   match a LAION-layout captions table and write the URL list img2dataset reads
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

__all__ = ["COMMANDS", "add_data_commands", "dispatch"]

COMMANDS = ("check-data", "import-round", "import-list", "import-metrics", "export-img2dataset")


def add_data_commands(sub: argparse._SubParsersAction, common: Callable[..., None]) -> None:
    """Add the subcommands of this module (not ``check-data``, which :mod:`alor_core.cli` defines)
    to the ``argparse`` sub-parsers ``sub``; ``common`` adds the run options to a parser."""
    imp = sub.add_parser(
        "import-round",
        help="start a session from an official round file "
        "<METHOD>_<ADAPT>_seed<k>_round<r>.txt (its labeled task images "
        "become round-0 labels, its other lines the retrieved set)",
    )
    imp.add_argument("round_file", metavar="FILE")
    imp.add_argument(
        "--dataset",
        required=True,
        help="the dataset folder the round file belongs to (its pool "
        "split decides which lines are labeled task images)",
    )
    imp.add_argument(
        "--into",
        dest="name",
        default=None,
        metavar="NAME",
        help="session name (folder under the output folder); default: the run's usual name",
    )
    imp.add_argument("--strategy", default=None, help="default: from the file name (TFS -> tfs)")
    imp.add_argument("--seed", type=int, default=None, help="default: from the file name (seed666 -> 666)")
    common(imp, skip=("dataset", "strategy"), adaptation=None)  # adaptation: from the file name (FLYP -> ct), else lp
    if not any("--strict" in a.option_strings for a in imp._actions):
        imp.add_argument("--strict", action="store_true", help="stop at the first bad line of the round file")

    lst = sub.add_parser(
        "import-list",
        help="read a SWAT/ALOR retrieved list (retrieved_data.txt, T2T500.txt) "
        "and print the retrieved images per class",
    )
    lst.add_argument("list_file", metavar="FILE")
    lst.add_argument("--dataset", required=True, help="dataset folder, benchmark name or 'demo' (for the classes)")
    lst.add_argument("--data-root", default=None)
    lst.add_argument("--root", default=None, help="folder the paths are relative to (default: the file's folder)")
    lst.add_argument(
        "--counts-json",
        default=None,
        metavar="OUT",
        help="also write the retrieved-count JSON (class id -> images), what TFS reads",
    )

    met = sub.add_parser(
        "import-metrics",
        help="read a <dataset>_metrics-LAION400M.json (names, synonyms, "
        "LAION-400M counts); optionally write classes.csv",
    )
    met.add_argument("metrics_file", metavar="FILE")
    met.add_argument(
        "--classes-csv",
        default=None,
        metavar="OUT",
        help="write ALOR Studio's class table (class_id,class_name,synonyms; templates.txt beside it)",
    )
    met.add_argument(
        "--class-frequency",
        default=None,
        metavar="OUT",
        help="write class_frequency.json (classes by actual_freq, the imbalance signal)",
    )

    exp = sub.add_parser(
        "export-img2dataset",
        help="match class names and synonyms in a LAION-layout captions "
        "table with web URLs; write the URL list for img2dataset",
    )
    exp.add_argument("table", metavar="TABLE", help="parquet file/folder or CSV with TEXT and URL columns")
    exp.add_argument("--dataset", required=True, help="dataset folder, benchmark name or 'demo' (for the classes)")
    exp.add_argument("--data-root", default=None)
    exp.add_argument("--out", required=True, help="URL list to write (.parquet)")
    exp.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="at most N random matches per class (SWAT's --sampling random; default: all)",
    )
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument(
        "--images",
        default="retrieved_images",
        metavar="FOLDER",
        help="where img2dataset should put the images (only used in the printed command)",
    )


def _classes_of(dataset, data_root=None):
    """The ClassInfo of a dataset without loading its images when a class file says it."""
    from .data import BENCHMARKS, benchmark_classes, load_task
    from .data.official import load_class_source

    if dataset in BENCHMARKS and not Path(dataset).exists():
        return benchmark_classes(dataset)
    if dataset != "demo":
        folder = Path(data_root) / dataset if data_root else Path(dataset)
        if folder.is_dir():
            source = load_class_source(folder)
            if source is not None:
                return source.classes
    return load_task(dataset, data_root).classes


def _check_data(args):
    from .data import BENCHMARKS, check_data
    from .data.check import check_folder

    if args.dataset in BENCHMARKS and not Path(args.dataset).exists():
        rep = check_data(args.dataset, args.root, verify_images=not args.no_images)
    else:
        target = str(Path(args.root) / args.dataset) if args.root else args.dataset
        rep = check_folder(target, verify_images=not args.no_images, max_images=getattr(args, "max_images", None))
    print(rep.render())
    return 0 if rep.ok else 1


def _import_round(args):
    from .cli import run_config
    from .data import DemoWorldSpec
    from .errors import ConfigError
    from .loop.import_round import import_round_file, settings_from_round_name
    from .paths import output_dir

    named = settings_from_round_name(args.round_file)
    strategy = args.strategy or named.get("strategy")
    seed = args.seed if args.seed is not None else named.get("seed")
    args.adaptation = args.adaptation or named.get("adaptation") or "lp"
    if strategy is None or seed is None:
        raise ConfigError(
            f"round file name {Path(args.round_file).name!r} is not <METHOD>_<ADAPT>_seed<k>_round<r>.txt; "
            "pass --strategy and --seed (and --adapt)"
        )
    config = run_config(args, seed, strategy, args.dataset)
    out = args.output or output_dir()
    spec = DemoWorldSpec.small() if args.small_demo else None
    result = import_round_file(config, args.round_file, out, strict=getattr(args, "strict", False), spec=spec)
    names = _classes_of(args.dataset, args.data_root).names
    for line in result.lines(names):
        print(line)
    cont = ["python -m alor_core run", *config.to_cli_args(seeds=[seed])]
    for flag, value in (("--name", args.name), ("--output", args.output)):
        if value is not None:
            cont += [flag, str(value)]
    print("next: " + " ".join(cont) + "   (round 0 trains on these labels and retrieved images)")
    return 0


def _import_list(args):
    from .retrieval.importers import read_retrieved_list, write_retrieved_count_json

    classes = _classes_of(args.dataset, args.data_root)
    rs = read_retrieved_list(args.list_file, classes.names, root=args.root)
    kept = [c["kept"] for c in rs.counts]
    print(
        f"{args.list_file}: {len(rs.items)} retrieved images for {len(classes)} classes (paths relative to {rs.root})"
    )
    order = sorted(range(len(kept)), key=lambda i: (-kept[i], i))
    for i in order[:10]:
        print(f"  {kept[i]:>7}  {classes.names[i]}")
    if len(order) > 10:
        print(
            f"  ... {len(order) - 10} more; fewest: " + ", ".join(f"{classes.names[i]} {kept[i]}" for i in order[-3:])
        )
    empty = [classes.names[i] for i, k in enumerate(kept) if k == 0]
    if empty:
        print(
            f"  no retrieved image for {len(empty)} classes: {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}"
        )
    if args.counts_json:
        write_retrieved_count_json(args.counts_json, rs)
        print(f"wrote {args.counts_json}")
    return 0


def _import_metrics(args):
    from .data import write_classes_csv
    from .retrieval.importers import classes_from_metrics, read_metrics_json, write_class_frequency_json

    metrics = read_metrics_json(args.metrics_file)
    classes = classes_from_metrics(metrics)
    freq = [metrics[i].get("actual_freq") for i in sorted(metrics)]
    print(f"{args.metrics_file}: {len(classes)} classes")
    for i, (name, syn) in enumerate(zip(classes.names[:10], classes.synonyms[:10])):
        others = [s for s in syn if s != name]
        print(
            f"  {i:>4}  {name}  (LAION-400M count {freq[i]}; {len(others)} synonyms"
            f"{': ' + ', '.join(others[:3]) if others else ''}{' ...' if len(others) > 3 else ''})"
        )
    if len(classes) > 10:
        print(f"  ... {len(classes) - 10} more")
    known = [f for f in freq if isinstance(f, (int, float))]
    if known:
        print(f"  LAION-400M counts: min {min(known)}, median {sorted(known)[len(known) // 2]}, max {max(known)}")
    if args.classes_csv:
        write_classes_csv(args.classes_csv, classes)
        print(f"wrote {args.classes_csv} (and templates.txt beside it)")
    if args.class_frequency:
        if len(known) != len(freq):
            from .errors import DataError

            raise DataError(
                f"{args.metrics_file}: not every class has an 'actual_freq' count; "
                "class_frequency.json needs one per class"
            )
        write_class_frequency_json(args.class_frequency, metrics)
        print(f"wrote {args.class_frequency}")
    return 0


def _export_img2dataset(args):
    from .retrieval.caption_match import match_captions
    from .retrieval.export import export_for_img2dataset, img2dataset_command

    classes = _classes_of(args.dataset, args.data_root)
    matches, stats = match_captions(args.table, classes.synonyms)
    out, n = export_for_img2dataset(matches, args.out, per_class=args.per_class, seed=args.seed)
    per = (
        matches.groupby("label").size().reindex(range(len(classes)), fill_value=0).tolist()
        if len(matches)
        else [0] * len(classes)
    )
    print(f"{args.table}: {stats['rows']} captions, {len(matches)} class matches; wrote {n} URLs to {out}")
    none = [classes.names[i] for i, c in enumerate(per) if c == 0]
    if none:
        print(f"  no caption names {len(none)} classes: {', '.join(none[:5])}{' ...' if len(none) > 5 else ''}")
    print("download with:\n  " + img2dataset_command(out, args.images))
    print(
        f"then retrieve from the images: python -m alor_core run --dataset {args.dataset} "
        f"--retrieval-source {args.images}"
    )
    return 0


def dispatch(args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS`; returns the exit code."""
    return {
        "check-data": _check_data,
        "import-round": _import_round,
        "import-list": _import_list,
        "import-metrics": _import_metrics,
        "export-img2dataset": _export_img2dataset,
    }[args.command](args)
