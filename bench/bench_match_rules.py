"""Per-class caption matches of one benchmark's shipped synonyms under both matching rules.

Generates a caption table from the benchmark's class names and synonyms (data/benchmarks/) with the
punctuation variants that web captions use (possessive apostrophe, straight and typographic quotes,
hyphen- and underscore-joined words, a comma inside the name, hyphens written as spaces or left out,
upper case, and one caption naming two neighbouring classes), then prints, per class, how many
images rule ``alor`` and rule ``swat`` match (and how many of them match no other class).

    python bench/bench_match_rules.py                    # aircraft, Python matcher
    python bench/bench_match_rules.py --dataset semi_aves --backend duckdb
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alor_core.data.benchmarks import benchmark_classes, benchmark_names  # noqa: E402
from alor_core.retrieval.rule_report import class_rule_counts, markdown_table  # noqa: E402


def variants(name: str) -> list:
    """Captions naming ``name`` the way web captions write it."""
    words = name.split()
    out = [
        f"a photo of a {name}",
        f"{name.upper()} AT THE SHOW",
        f"the {name}'s side view",
        f"a \u201c{name}\u201d on display",
        f'"{name}" scale model',
    ]
    if len(words) > 1:
        out += [
            "-".join(words) + " in the wild",
            "_".join(words) + ".jpg",
            f"{words[0]}, {' '.join(words[1:])} close-up",
        ]
    if "-" in name:
        out += [f"my {name.replace('-', ' ')} photo", f"{name.replace('-', '')} picture"]
    return out


def caption_table(classes) -> list:
    """Every variant of every synonym, plus one caption per class naming it and the next class."""
    captions = []
    for c, syns in enumerate(classes.synonyms):
        for s in syns:
            captions += variants(s)
        nxt = classes.synonyms[(c + 1) % len(classes.synonyms)][0]
        captions.append(f"{syns[0]} next to a {nxt}")
    return captions


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="aircraft", choices=benchmark_names())
    ap.add_argument("--backend", default="python", choices=["python", "duckdb", "spark"])
    args = ap.parse_args(argv)
    classes = benchmark_classes(args.dataset)
    captions = caption_table(classes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "captions.parquet"
        pq.write_table(
            pa.table({"URL": [f"img/{i}.jpg" for i in range(len(captions))], "TEXT": pa.array(captions, pa.string())}),
            path,
        )
        t0 = time.perf_counter()
        counts = class_rule_counts(path, classes.names, classes.synonyms, backend=args.backend)
        seconds = time.perf_counter() - t0
    hyph = [any("-" in s for s in syns) for syns in classes.synonyms]
    counts.insert(2, "synonyms", [len(s) for s in classes.synonyms])
    counts.insert(3, "hyphenated", ["yes" if h else "" for h in hyph])
    print(
        f"# {args.dataset}: {len(classes.names)} classes, {sum(hyph)} with a hyphenated name or synonym; "
        f"{len(captions)} generated captions ({args.backend} matcher, both rules in {seconds:.1f} s)\n"
    )
    print(markdown_table(counts))
    changed = counts[counts["delta"] != 0]
    shared = counts["alor_matched"] - counts["alor_exclusive"], counts["swat_matched"] - counts["swat_exclusive"]
    print(
        f"\nimages matched under one rule only: alor_only {int(counts['alor_only'].sum())} "
        f"(in {int((counts['alor_only'] > 0).sum())} classes), swat_only {int(counts['swat_only'].sum())} "
        f"(in {int((counts['swat_only'] > 0).sum())} classes)"
    )
    print(
        f"classes whose matched count differs: {len(changed)} of {len(counts)} "
        f"({int((changed['delta'] > 0).sum())} more under swat, {int((changed['delta'] < 0).sum())} fewer); "
        f"of the hyphenated ones: {int((counts['delta'] != 0)[hyph].sum())} of {sum(hyph)}"
    )
    print(
        f"matched (image, class) pairs: alor {int(counts['alor_matched'].sum())}, "
        f"swat {int(counts['swat_matched'].sum())}; pairs whose image also matched another class: "
        f"alor {int(shared[0].sum())}, swat {int(shared[1].sum())} (alor keeps one class per such image, "
        "swat keeps every pair)"
    )
    print(
        f"classes with no match: alor {int((counts['alor_matched'] == 0).sum())}, "
        f"swat {int((counts['swat_matched'] == 0).sum())}"
    )


if __name__ == "__main__":
    main()
