"""Build a LAION-layout captions table from local data, for users without LAION (docs/METHOD.md §4.7 step 1).

Sources:

* :func:`from_image_folder` — a folder of images with sidecar captions (``cat_01.jpg`` +
  ``cat_01.txt``), as many scrapers and ``img2dataset --output_format files`` leave them;
* :func:`from_caption_file` — a CSV or parquet file of ``(path, caption)``;
* :func:`from_webdataset` — webdataset ``.tar`` shards (``key.jpg`` + ``key.txt`` members; a file, a
  folder of shards, or a brace pattern ``shards-{000000..000009}.tar``, see :func:`expand_braces`); images
  are extracted to ``<table>/_images/`` (the leading underscore keeps pyarrow/pandas readers of the
  table folder away from them) because retrieval reads images as files;
* :func:`from_img2dataset` — an img2dataset output folder (its per-shard parquet files).

The table is written as parquet shards (``part-00000.parquet`` …) with ``SAMPLE_ID``, ``URL``
(image path relative to the table folder), ``TEXT``, ``WIDTH``, ``HEIGHT`` and ``TEXT_NON_UTF8``.
A caption that is not valid UTF-8 gets ``TEXT = null`` and ``TEXT_NON_UTF8 = true`` (the matchers
count it as ``non_utf8`` and skip it); a missing or blank caption is kept as null/blank and
counted as ``empty_captions``.

Images (and shards) that cannot be used are left out of the table and listed beside it in
``_skipped.json`` (:func:`~alor_core.data.skips.add_table_skips`), never a reason to stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.images import ImageProblem, image_problem
from ..data.skips import TABLE_SOURCE, SkipReport, write_table_skips
from ..errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "from_image_folder",
    "from_caption_file",
    "from_webdataset",
    "from_img2dataset",
    "as_captions_table",
    "write_captions_table",
    "IMAGE_EXTENSIONS",
    "source_stamp",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _decode(raw):
    """``(text, non_utf8)`` from bytes (a missing caption is ``None``)."""
    if raw is None:
        return None, False
    try:
        return raw.decode("utf-8").strip("\ufeff"), False
    except UnicodeDecodeError:
        return None, True


def _size(path):
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.size
    except Exception:  # unreadable image: size unknown, the min_side filter treats it as 0
        return (0, 0)


def write_captions_table(rows: list[tuple], out_dir: str | Path, rows_per_shard: int = 1_000_000) -> tuple[Path, dict]:
    """Write LAION-layout parquet shards from ``(URL, TEXT, WIDTH, HEIGHT, TEXT_NON_UTF8)`` tuples.

    ``SAMPLE_ID`` is the row number. Old ``part-*.parquet`` files in ``out_dir`` are replaced.

    Returns
    -------
    (out_dir, counts) with ``rows, non_utf8, empty_captions``
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*.parquet"):
        old.unlink()
    schema = pa.schema(
        [
            ("SAMPLE_ID", pa.int64()),
            ("URL", pa.string()),
            ("TEXT", pa.string()),
            ("WIDTH", pa.int64()),
            ("HEIGHT", pa.int64()),
            ("TEXT_NON_UTF8", pa.bool_()),
        ]
    )
    for k, s in enumerate(range(0, max(len(rows), 1), rows_per_shard)):
        part = rows[s : s + rows_per_shard]
        cols = list(zip(*part)) if part else [[]] * 5
        table = pa.table(
            [
                pa.array(np.arange(s, s + len(part), dtype=np.int64)),
                pa.array(cols[0], pa.string()),
                pa.array(cols[1], pa.string()),
                pa.array([int(v) for v in cols[2]], pa.int64()),
                pa.array([int(v) for v in cols[3]], pa.int64()),
                pa.array(cols[4], pa.bool_()),
            ],
            schema=schema,
        )
        pq.write_table(table, out_dir / f"part-{k:05d}.parquet")
    counts = {
        "rows": len(rows),
        "non_utf8": sum(bool(r[4]) for r in rows),
        "empty_captions": sum(not r[4] and (r[1] is None or not r[1].strip()) for r in rows),
    }
    return out_dir, counts


def _resolve(path):
    try:
        return Path(path).resolve()
    except (OSError, ValueError):  # e.g. a NUL in a path read from a caption file: no such file anyway
        return Path(os.path.abspath(path))


def _rel(path, out_dir):
    return Path(os.path.relpath(_resolve(path), _resolve(out_dir))).as_posix()


PATH_COLUMNS = ("path", "image_path", "image", "file", "filepath", "URL")
CAPTION_COLUMNS = ("caption", "text", "TEXT", "title")


def _read_csv_rows(path, header_only=False):
    """``(header, rows)`` of a CSV read with the csv module; cells hold bytes (undecoded).

    A row with more cells than the header is an error naming the line; missing trailing cells
    are empty. With ``header_only``, ``rows`` is empty and only the first line is read.
    """
    import csv

    # surrogateescape: bad bytes survive per cell and are judged per caption, never fatal here
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        rows = []
        try:
            header = next(reader, None)
            if not header:
                raise DataError(
                    f"caption file {str(path)!r} is empty; expected a header line naming an "
                    f"image-path column ({', '.join(PATH_COLUMNS)}) and a caption column "
                    f"({', '.join(CAPTION_COLUMNS)})"
                )
            for row in [] if header_only else reader:
                if len(row) > len(header):
                    raise DataError(
                        f"{path}:{reader.line_num}: {len(row)} cells for {len(header)} columns "
                        f"({', '.join(map(repr, header))}); quote captions that contain commas"
                    )
                if row:
                    rows.append([c.encode("utf-8", "surrogateescape") for c in row] + [b""] * (len(header) - len(row)))
        except csv.Error as err:
            raise DataError(f"{path}:{reader.line_num}: not a readable CSV line ({err})") from err
    return header, rows


def _read_parquet_columns(path):
    """``(column names, values)``: ``values(name)`` lists a column's cells, strings as bytes (undecoded),
    so a string column holding non-UTF-8 bytes is judged per caption instead of failing the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a file that is not parquet
        raise DataError(f"caption file {str(path)!r} is not a readable parquet file ({err})") from err

    def values(name):
        col = table.column(name).combine_chunks()
        if pa.types.is_string(col.type):
            col = col.view(pa.binary())
        elif pa.types.is_large_string(col.type):
            col = col.view(pa.large_binary())
        return col.to_pylist()

    return table.column_names, values


def from_image_folder(
    image_dir: str | Path, out_dir: str | Path, caption_ext: str = ".txt", read_sizes: bool = True
) -> tuple[Path, dict]:
    """Captions table from images with sidecar caption files of the same stem.

    Parameters
    ----------
    image_dir : path
        Searched recursively for :data:`IMAGE_EXTENSIONS`.
    out_dir : path
        Where the parquet shards go; ``URL`` is relative to it.
    caption_ext : str, default=".txt"
    read_sizes : bool, default=True
        Read ``WIDTH``/``HEIGHT`` from the image headers (needed for ``min_side``).

    Returns
    -------
    (out_dir, counts) with ``rows, non_utf8, empty_captions``
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"image folder {str(image_dir)!r} does not exist")
    # dangling symlinks and macOS ._ files are found here, then skipped and reported below
    images = sorted(
        p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and (p.is_file() or p.is_symlink())
    )
    if not images:
        raise DataError(f"image folder {str(image_dir)!r} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    report = SkipReport()
    report.add_found(TABLE_SOURCE, len(images), image_dir)
    rows = []
    for p in images:
        problem = image_problem(p, p.relative_to(image_dir).as_posix())
        if problem is not None:
            report.skip(TABLE_SOURCE, problem)
            continue
        cap = p.with_suffix(caption_ext)
        text, bad = _decode(cap.read_bytes()) if cap.is_file() else (None, False)
        w, h = _size(p) if read_sizes else (0, 0)
        rows.append((_rel(p, out_dir), text, w, h, bad))
    return _written(rows, out_dir, report)


def _written(rows, out_dir, report):
    """Write the table and, beside it, what was found and skipped (``_skipped.json``)."""
    out_dir, counts = write_captions_table(rows, out_dir)
    write_table_skips(out_dir, report)
    return out_dir, counts


def from_caption_file(
    path: str | Path,
    out_dir: str | Path,
    path_col: str | None = None,
    caption_col: str | None = None,
    image_root: str | Path | None = None,
    read_sizes: bool = True,
) -> tuple[Path, dict]:
    """Captions table from a CSV or parquet of (image path, caption).

    Parameters
    ----------
    path : path
        ``.csv`` (any encoding errors are kept per row) or ``.parquet``.
    path_col, caption_col : str or None
        Default: the first of ``path, image_path, image, file, filepath, URL`` and of
        ``caption, text, TEXT, title``.
    image_root : path or None
        Folder the image paths are relative to (default: the file's folder).

    Captions that are not valid UTF-8 (and rows whose image path is not) are kept as
    ``TEXT_NON_UTF8`` rows and counted in ``non_utf8``; the conversion goes on.

    Raises
    ------
    DataError
        Missing or unreadable file, no image-path or caption column (the message lists the columns
        found and the names accepted), or a CSV row with more cells than the header (file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"caption file {str(path)!r} does not exist")
    if path.suffix == ".csv":
        columns, rows_raw = _read_csv_rows(path)

        def values(name):
            k = columns.index(name)
            return [r[k] for r in rows_raw]
    elif path.suffix == ".parquet":
        columns, values = _read_parquet_columns(path)
    else:
        raise DataError(f"caption file {str(path)!r}: expected .csv or .parquet")
    want_path = repr(path_col) if path_col else "one of " + ", ".join(PATH_COLUMNS)
    want_caption = repr(caption_col) if caption_col else "one of " + ", ".join(CAPTION_COLUMNS)
    path_col = path_col or next((c for c in PATH_COLUMNS if c in columns), None)
    caption_col = caption_col or next((c for c in CAPTION_COLUMNS if c in columns), None)
    if path_col not in columns or caption_col not in columns:
        raise DataError(
            f"caption file {str(path)!r} needs an image-path and a caption column; "
            f"columns present: {', '.join(map(repr, columns)) or 'none'}; expected an image-path "
            f"column ({want_path}) and a caption column ({want_caption}); name yours with "
            "path_col= / caption_col="
        )
    root = Path(image_root) if image_root is not None else path.parent
    rows = []
    report = SkipReport()
    report.add_found(TABLE_SOURCE, 0, root)
    for p, raw in zip(values(path_col), values(caption_col)):
        report.add_found(TABLE_SOURCE, 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        text, bad = _decode(raw if isinstance(raw, (bytes, bytearray)) else None)
        if isinstance(p, (bytes, bytearray)):
            try:
                p = bytes(p).decode("utf-8")
            except UnicodeDecodeError:  # the image cannot be named in the table: kept as a bad row
                p, text, bad = bytes(p).decode("utf-8", "replace"), None, True
        img = root / str(p)
        problem = image_problem(img, p) if read_sizes and not bad else None
        if problem is not None:  # missing, empty, not an image, ...: skipped and reported
            report.skip(TABLE_SOURCE, problem)
            continue
        w, h = _size(img) if read_sizes and img.is_file() else (0, 0)
        rows.append((_rel(img, out_dir), text, w, h, bad))
    return _written(rows, out_dir, report)


def _read_shard(shard):
    """``{key: {".ext": bytes}}`` of a tar shard; any failure raises ``tarfile.TarError``/``OSError``/``EOFError``."""
    samples = {}
    with tarfile.open(shard) as tar:
        for m in tar:
            if not m.isfile():
                continue
            folder, _, base = m.name.rpartition("/")
            key, _, ext = base.partition(".")
            samples.setdefault(f"{folder}/{key}" if folder else key, {})["." + ext.lower()] = tar.extractfile(m).read()
    return samples


def from_webdataset(
    shards: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    caption_exts: tuple[str, ...] = (".txt", ".caption"),
    read_sizes: bool = True,
    root: str | Path | None = None,
) -> tuple[Path, dict]:
    """Captions table from webdataset tar shards; images are extracted to ``out_dir/_images/``.

    A sample is the members sharing a key (the name up to its first dot after the last slash).
    A shard that is missing or cannot be read to its end (truncated, not a tar) is skipped as a
    whole and reported, named; so is a sample whose image cannot be used. What was found and
    skipped is kept beside the table (:func:`~alor_core.data.skips.add_table_skips`): found =
    image samples of the readable shards + shards that could not be read.

    Parameters
    ----------
    shards : path or list of paths
        ``.tar`` files, or a folder holding them.
    root : path or None
        Folder to name shards relative to in the report (default: a folder given as ``shards``).
    """
    if isinstance(shards, (str, Path)) and Path(shards).is_dir():
        root = shards if root is None else root
        shards = sorted(Path(shards).glob("*.tar"))
    shards = [Path(s) for s in ([shards] if isinstance(shards, (str, Path)) else shards)]
    if not shards:
        raise DataError("from_webdataset: no .tar shard given")
    out_dir = Path(out_dir)
    rows = []
    report = SkipReport()
    report.add_found(TABLE_SOURCE, 0, root)
    for shard in shards:
        shown = _shown(shard, root)
        if not shard.is_file():
            report.add_found(TABLE_SOURCE, 1)
            report.skip(TABLE_SOURCE, ImageProblem(shown, "missing", "(webdataset shard) does not exist"))
            continue
        try:
            samples = _read_shard(shard)
        except (tarfile.TarError, OSError, EOFError) as err:
            report.add_found(TABLE_SOURCE, 1)
            report.skip(
                TABLE_SOURCE,
                ImageProblem(
                    shown,
                    "unreadable-shard",
                    "(webdataset shard) cannot be read "
                    f"to its end ({type(err).__name__}: {err}); expected a complete "
                    ".tar file; its samples are not used, the other shards are",
                ),
            )
            continue
        for key, parts in sorted(samples.items()):
            img_ext = next((e for e in parts if e in IMAGE_EXTENSIONS), None)
            if img_ext is None:
                continue
            report.add_found(TABLE_SOURCE, 1)
            dest = out_dir / "_images" / shard.stem / f"{key}{img_ext}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(parts[img_ext])
            problem = image_problem(dest, f"{shown}:{key}{img_ext}") if read_sizes else None
            if problem is not None:
                report.skip(TABLE_SOURCE, problem)
                dest.unlink()
                continue
            raw = next((parts[e] for e in caption_exts if e in parts), None)
            text, bad = _decode(raw)
            w, h = _size(dest) if read_sizes else (0, 0)
            rows.append((_rel(dest, out_dir), text, w, h, bad))
    if not rows:
        why = "; ".join(f"{s.path} {s.detail}" for s in report.skipped()[:3])
        raise DataError(
            f"webdataset shards {[str(s) for s in shards]} hold no usable image member" + (f" ({why})" if why else "")
        )
    return _written(rows, out_dir, report)


def _shown(path, root):
    """``path`` relative to ``root`` when inside it, else as given."""
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


_BRACE = re.compile(r"\{([^{}]*)\}")
_MAX_EXPANSION = 100_000


def expand_braces(pattern):
    """Expand webdataset brace patterns: ``shards-{000000..000009}.tar`` (zero-padded numeric range,
    also descending) and ``{a,b,c}`` (alternatives); several groups multiply. A brace group that
    is neither stays as it is.

    Parameters
    ----------
    pattern : str

    Returns
    -------
    list of str
        In order; ``[pattern]`` when there is nothing to expand.

    Raises
    ------
    DataError
        The pattern names more than 100,000 paths.
    """
    m = _BRACE.search(pattern)
    if m is None:
        return [pattern]
    body = m.group(1)
    rng = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if rng:
        a, b = rng.groups()
        padded = (len(a) > 1 and a[0] == "0") or (len(b) > 1 and b[0] == "0")
        width = max(len(a), len(b)) if padded else 0
        lo, hi = int(a), int(b)
        if abs(hi - lo) >= _MAX_EXPANSION:
            raise DataError(
                f"brace pattern {pattern!r} names {abs(hi - lo) + 1:,} paths; expected at most {_MAX_EXPANSION:,}"
            )
        step = 1 if hi >= lo else -1
        items = [f"{i:0{width}d}" for i in range(lo, hi + step, step)]
    elif "," in body:
        items = body.split(",")
    else:
        items = ["{" + body + "}"]
    rest = expand_braces(pattern[m.end() :])
    out = [pattern[: m.start()] + it + r for it in items for r in rest]
    if len(out) > _MAX_EXPANSION:
        raise DataError(f"brace pattern {pattern!r} names {len(out):,} paths; expected at most {_MAX_EXPANSION:,}")
    return out


def from_img2dataset(output_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, dict]:
    """Captions table from an img2dataset ``--output_format files`` folder (only successful downloads).

    img2dataset writes ``<shard>/<key>.jpg`` plus a per-shard ``<shard>.parquet`` with ``key``,
    ``url``, ``caption``, ``status``, ``width``, ``height`` and any ``--save_additional_columns``.
    """
    output_dir = Path(output_dir)
    out_dir = Path(out_dir) if out_dir is not None else output_dir / "captions"
    metas = sorted(p for p in output_dir.glob("*.parquet") if not p.name.startswith("part-"))
    if not metas:
        raise DataError(f"{str(output_dir)!r} holds no img2dataset shard parquet (<shard>.parquet)")
    rows = []
    for meta in metas:
        df = pd.read_parquet(meta)
        if "status" in df:
            df = df[df["status"] == "success"]
        for _, r in df.iterrows():
            img = next(
                (
                    output_dir / meta.stem / f"{r['key']}{e}"
                    for e in IMAGE_EXTENSIONS
                    if (output_dir / meta.stem / f"{r['key']}{e}").is_file()
                ),
                None,
            )
            if img is None:
                continue
            text = r.get("caption")
            w, h = (
                pd.to_numeric(pd.Series([r.get("width"), r.get("height")]), errors="coerce")
                .fillna(0)
                .astype(int)
                .tolist()
            )
            rows.append((_rel(img, out_dir), text if isinstance(text, str) else None, w, h, False))
    return write_captions_table(rows, out_dir)


SOURCE_STAMP = "SOURCE.json"  # in a converted table's folder: what it was converted from


def source_stamp(source: str | Path) -> str | None:
    """A digest of a retrieval source's content listing: every file under it (or the file itself)
    with its size and mtime. Adding, removing, replacing or editing an image or a caption changes
    it; for a brace pattern of shards, each shard it names (size and mtime, or absent). ``None`` when
    ``source`` is not an existing path (nothing to compare: convert again)."""
    import hashlib

    h = hashlib.sha1()
    shards = expand_braces(str(source))
    if len(shards) > 1 or shards[0] != str(source):  # shards-{000000..000009}.tar
        for s in shards:
            try:
                st = os.stat(s)
                h.update(f"\n{_resolve(s)}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape"))
            except OSError:
                h.update(f"\n{_resolve(s)}\0-".encode("utf-8", "surrogateescape"))
        return h.hexdigest()
    source = Path(source)
    try:
        if source.is_file():
            st = source.stat()
            h.update(f"{_resolve(source)}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape"))
            return h.hexdigest()
        if not source.is_dir():
            return None
        h.update(str(_resolve(source)).encode("utf-8", "surrogateescape"))
        for folder, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(folder, name)
                try:
                    st = os.stat(p)
                    h.update(
                        f"\n{os.path.relpath(p, source)}\0{st.st_size}\0{st.st_mtime_ns}".encode(
                            "utf-8", "surrogateescape"
                        )
                    )
                except OSError:  # a dangling link: listed, no size
                    h.update(f"\n{os.path.relpath(p, source)}\0-".encode("utf-8", "surrogateescape"))
    except OSError:
        return None
    return h.hexdigest()


def as_captions_table(source: str | Path, out_dir: str | Path) -> Path:
    """Return a LAION-layout captions table for any supported open-data source.

    ``source`` may already be such a table (a ``.parquet`` file or folder of shards with ``TEXT``
    and ``URL``), a CSV/parquet of (path, caption), a folder of images with sidecar ``.txt``
    captions, or webdataset ``.tar`` shards (a file, or a folder of them). Converted tables are
    written to ``out_dir`` and reused while the source's content is unchanged (:func:`source_stamp`,
    kept in ``out_dir/SOURCE.json``): a caption or image added to a pool folder converts it again.
    """
    from ..io import atomic_write_json, read_json

    out_dir = Path(out_dir)
    stamp = source_stamp(source)
    if stamp is not None and (out_dir / "part-00000.parquet").is_file():
        try:
            if read_json(out_dir / SOURCE_STAMP).get("stamp") == stamp:
                return out_dir
        except (OSError, ValueError, AttributeError):
            pass  # no stamp (an older cache) or an unreadable one: convert again
    table = _convert_source(source, out_dir)
    if Path(table) == out_dir and stamp is not None:
        atomic_write_json(out_dir / SOURCE_STAMP, {"source": str(source), "stamp": stamp})
    return table


def _convert_source(source, out_dir):
    """The conversion of :func:`as_captions_table` (no cache check)."""
    shards = expand_braces(str(source))
    if len(shards) > 1 or shards[0] != str(source):  # a brace pattern of webdataset shards
        present = [s for s in shards if Path(s).is_file()]
        if not present:
            raise DataError(
                f"retrieval source {str(source)!r}: none of the {len(shards)} shards it names exists "
                f"(first: {shards[0]!r}); expected webdataset .tar shards"
            )
        from_webdataset([Path(s) for s in shards], out_dir)  # missing shards: skipped and reported
        return Path(out_dir)
    source, out_dir = Path(source), Path(out_dir)
    if not source.exists():
        raise DataError(
            f"retrieval source {str(source)!r} does not exist; expected a captions table "
            "(parquet/CSV), a folder of images with .txt captions, or webdataset .tar shards"
        )
    tars = [source] if source.suffix == ".tar" else sorted(source.glob("*.tar")) if source.is_dir() else []
    if tars:
        from_webdataset(tars, out_dir, root=source if source.is_dir() else None)
        return out_dir
    if source.is_file() and source.suffix in (".csv", ".parquet"):
        if source.suffix == ".csv":
            cols = _read_csv_rows(source, header_only=True)[0]
        else:
            import pyarrow.parquet as pq

            try:
                cols = pq.ParquetFile(source).schema_arrow.names
            except Exception as err:  # pyarrow raises several types for a file that is not parquet
                raise DataError(f"retrieval source {str(source)!r} is not a readable parquet file ({err})") from err
        if {"TEXT", "URL"} <= set(cols):
            return source
        from_caption_file(source, out_dir)
        return out_dir
    if source.is_dir() and any(source.glob("*.parquet")):
        return source
    if source.is_dir():
        from_image_folder(source, out_dir)
        return out_dir
    raise DataError(
        f"retrieval source {str(source)!r} is not a supported format; expected .parquet, .csv, .tar or a folder"
    )
