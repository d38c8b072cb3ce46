"""One retrieval interface with pluggable backends.

* A **matcher** finds the captions that name a class or a synonym (docs/METHOD.md §4.2, §4.7 mode A). Every
  matcher has the signature of :func:`~alor_core.retrieval.caption_match.match_captions`,
  ``(table_path, class_synonyms, *, min_side=0, **options) -> (matches, stats)``, and the same
  semantics (:mod:`~alor_core.retrieval.phrases`). Registered names: ``python`` (regex over
  record batches, the reference), ``duckdb`` (SQL over parquet shards, streaming) and ``spark``
  (the same SQL plan on Apache Spark).
* A **retriever** turns classes into a :class:`~alor_core.retrieval.rda.RetrievedSet` with
  ``search(classes, per_class)``: :class:`~alor_core.retrieval.rda.CaptionRetriever` (mode A) and
  :class:`~alor_core.retrieval.knn.KnnRetriever` (mode B).

The captions table is the LAION layout: parquet (one file or a folder of shards) with ``TEXT``
(caption, string or binary) and ``URL`` (image path relative to the table, or a web address), and
optionally ``SAMPLE_ID``, ``WIDTH``, ``HEIGHT``, ``NSFW`` and ``TEXT_NON_UTF8`` (set by
:mod:`~alor_core.retrieval.local_sources` where a caption file was not UTF-8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import abc
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, UnknownNameError

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self
    from ..data.datasets import ClassInfo
    from .rda import RetrievedSet

__all__ = [
    "Retriever",
    "CaptionTable",
    "available_matchers",
    "get_matcher",
    "choose_matcher",
    "AUTO_DUCKDB_ROWS",
    "STATS_KEYS",
]

AUTO_DUCKDB_ROWS = 200_000  # 'auto' switches from the Python regex to DuckDB above this many rows
STATS_KEYS = ("rows", "empty_captions", "non_utf8", "too_small", "nsfw")


class Retriever(abc.ABC):
    """Finds open-data images for every class."""

    @abc.abstractmethod
    def search(self, classes: ClassInfo, per_class: int) -> RetrievedSet:
        """Return a :class:`~alor_core.retrieval.rda.RetrievedSet` with at most ``per_class`` per class.

        Parameters
        ----------
        classes : ClassInfo
            Names, synonyms and prompt templates.
        per_class : int
            The cap ``K`` (docs/METHOD.md §4.4).
        """


@dataclass(frozen=True)
class CaptionTable:
    """A LAION-layout captions table on disk: its parquet files in a fixed order and its columns.

    Rows are numbered across files in that order (``row`` in the matches), the same in every backend.
    """

    path: Path
    files: tuple
    n_rows: tuple
    columns: frozenset
    text_binary: bool

    @property
    def offsets(self) -> dict[str, int]:
        out, total = {}, 0
        for f, n in zip(self.files, self.n_rows):
            out[f] = total
            total += n
        return out

    @property
    def root(self) -> Path:
        """Folder the ``URL`` paths are relative to."""
        return self.path.parent if self.path.is_file() else self.path

    @classmethod
    def open(cls, table_path: str | Path) -> Self:
        """Read the footers (not the data) of a parquet file or of every ``*.parquet`` under a folder.

        Raises
        ------
        DataError
            Missing path, no parquet file, a file without ``TEXT``/``URL``, or shards whose
            ``TEXT`` types differ.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(table_path)
        if not path.exists():
            raise DataError(
                f"captions table {str(path)!r} does not exist; expected a LAION-layout "
                "parquet file (or folder of shards) with TEXT and URL columns"
            )
        files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
        if not files:
            raise DataError(f"captions folder {str(path)!r} holds no *.parquet file")
        n_rows, columns, kinds = [], None, set()
        for f in files:
            try:
                meta = pq.ParquetFile(f)
            except Exception as err:  # pyarrow raises several types for a non-parquet file
                raise DataError(f"captions shard {str(f)!r} is not a readable parquet file ({err})") from err
            schema = meta.schema_arrow
            missing = [c for c in ("TEXT", "URL") if c not in schema.names]
            if missing:
                raise DataError(
                    f"captions table {str(f)!r} has no column {missing[0]!r}; "
                    f"columns present: {', '.join(schema.names)}"
                )
            typ = schema.field("TEXT").type
            kinds.add(pa.types.is_binary(typ) or pa.types.is_large_binary(typ))
            columns = set(schema.names) if columns is None else columns & set(schema.names)
            n_rows.append(meta.metadata.num_rows)
        if len(kinds) > 1:
            raise DataError(
                f"captions shards under {str(path)!r} mix string and binary TEXT columns; rewrite them with one type"
            )
        return cls(path, tuple(str(f) for f in files), tuple(n_rows), frozenset(columns), kinds.pop())


def _matchers():
    from .caption_match import match_captions
    from .duckdb_match import match_captions_duckdb
    from .spark_match import match_captions_spark

    return {"python": match_captions, "duckdb": match_captions_duckdb, "spark": match_captions_spark}


def available_matchers() -> list[str]:
    """Names accepted by ``backend=`` (besides ``auto``)."""
    return sorted(_matchers())


def get_matcher(name: str) -> Callable[..., tuple]:
    """The matcher function registered as ``name``."""
    table = _matchers()
    if name not in table:
        raise UnknownNameError("caption-matching backend", name, list(table) + ["auto"])
    return table[name]


def choose_matcher(table_path: str | Path, backend: str = "auto") -> str:
    """Resolve ``backend='auto'``: the Python regex for CSV and small tables, DuckDB from
    :data:`AUTO_DUCKDB_ROWS` rows on."""
    if backend != "auto":
        get_matcher(backend)
        return backend
    path = Path(table_path)
    if path.suffix == ".csv":
        return "python"
    return "duckdb" if sum(CaptionTable.open(path).n_rows) >= AUTO_DUCKDB_ROWS else "python"
