"""Download step (docs/METHOD.md §4.3): export matched captions as a URL list that img2dataset reads.

Matching runs on a captions table whose ``URL`` column holds web addresses (LAION parquet). The
images are then fetched with img2dataset and the result turned back into a local captions table
(:func:`~alor_core.retrieval.local_sources.from_img2dataset`), on which :func:`retrieve` ranks::

    matches, _ = match_captions_duckdb("laion400m/", classes.synonyms)
    export_for_img2dataset(matches, "urls.parquet", per_class=2000, seed=0)
    # shell: the command returned by img2dataset_command("urls.parquet", "images/")
    from_img2dataset("images/", "images/captions")
    retrieve(bundle, classes, "images/captions", backend="duckdb")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shlex
from pathlib import Path

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["export_for_img2dataset", "img2dataset_command"]

ADDITIONAL_COLUMNS = ["sample_id", "label", "synonym"]


def export_for_img2dataset(
    matches: pd.DataFrame, out_path: str | Path, per_class: int | None = None, seed: int = 0
) -> tuple[Path, int]:
    """Write the matched URLs as parquet (``url``, ``caption``, ``sample_id``, ``label``, ``synonym``).

    Parameters
    ----------
    matches : DataFrame
        Output of a matcher (``url, caption, sample_id, label, synonym``).
    out_path : path
        ``.parquet`` file.
    per_class : int or None
        SWAT's ``--sampling random``: at most this many random rows per class (docs/METHOD.md §4.3 uses
        2,000 for large pools); ``None`` keeps all (``--sampling all``).
    seed : int, default=0

    Returns
    -------
    (out_path, n_rows)
    """
    out_path = Path(out_path)
    if out_path.suffix != ".parquet":
        raise DataError(f"export_for_img2dataset: out_path must end in .parquet; got {str(out_path)!r}")
    missing = [c for c in ("url", "caption", "label") if c not in matches.columns]
    if missing:
        raise DataError(f"export_for_img2dataset: matches lack column {missing[0]!r}")
    df = matches
    if per_class is not None:
        if per_class < 1:
            raise DataError(f"'per_class' must be >= 1 or None; got {per_class}")
        rng = np.random.default_rng(seed)
        df = df.assign(_r=rng.random(len(df))).sort_values(["label", "_r"]).groupby("label").head(per_class)
    cols = ["url", "caption"] + [c for c in ADDITIONAL_COLUMNS if c in df.columns]
    out = df[cols].drop_duplicates("url").reset_index(drop=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(out_path, index=False)
    return out_path, len(out)


def img2dataset_command(
    url_list: str | Path, output_folder: str | Path, min_image_size: int = 85, processes: int = 16, threads: int = 64
) -> str:
    """The img2dataset command SWAT uses (``min_image_size=85``, no resize), for this URL list."""
    args = [
        "img2dataset",
        "--url_list",
        str(url_list),
        "--input_format",
        "parquet",
        "--url_col",
        "url",
        "--caption_col",
        "caption",
        "--save_additional_columns",
        '["sample_id","label","synonym"]',
        "--output_format",
        "files",
        "--output_folder",
        str(output_folder),
        "--min_image_size",
        str(min_image_size),
        "--resize_mode",
        "no",
        "--processes_count",
        str(processes),
        "--thread_count",
        str(threads),
    ]
    return " ".join(shlex.quote(a) for a in args)
