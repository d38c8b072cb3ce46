"""Run configuration: one dataclass with every setting of an ALOR run, validated on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import ConfigError

__all__ = ["RunConfig", "RETRIEVAL_MODES", "RETRIEVAL_BACKENDS"]

RETRIEVAL_MODES = ("caption", "knn")
RETRIEVAL_BACKENDS = ("auto", "python", "duckdb", "spark")


@dataclass
class RunConfig:
    """Every setting of one ALOR run (one seed).

    Parameters
    ----------
    dataset : str
        ``demo`` or a data folder (split files or ImageFolder).
    strategy : str
        Registry name (``tfs``, ``random``, ``entropy``, ...).
    adaptation : str
        ``lp``, ``ct`` or ``zeroshot``.
    rounds : int, default=7
        Rounds 0..rounds-1 (the paper: 7).
    budget : int or None
        Labels per round; None = number of classes (the paper).
    rda : bool, default=True
        Train on retrieved open data as well.
    k : int, default=500
        Retrieval cap per class (the demo world uses 200).
    preset : {"fast", "paper"}
        Hyperparameter preset of the adaptation (docs/METHOD.md §5.5 for ``paper``).
    mode : {"oracle", "human"}
        Where the labels of selected images come from.
    protocol : {"label-honest", "paper"}
        ``paper`` = the official protocol (docs/METHOD.md §5.5, §9): preset ``paper`` (batch 128, best-val
        epoch on the labeled val split), 7 rounds, budget = number of classes, seeds 666/777/888.
    labeled_weight : float, default=0.0
        0 = plain CE over labeled ∪ retrieved, as the paper. ``w > 0`` up-weights task labels so
        that the labeled set weighs ``w`` times the retrieved set (LP only for now).
    retrieval_source : str or None
        Open data to retrieve from instead of the dataset's own ``corpus.parquet``: a LAION-layout
        table, a CSV/parquet of (path, caption), a folder of images with ``.txt`` captions, or
        webdataset ``.tar`` shards.
    initial : {"per_class", "none"}
        Round-0 labeled set: one random image per class (the paper, uses ground truth), or none
        (cold start for human mode: round 0 trains on retrieved data only).
    min_side : int, default=0
        RDA drops open-data images whose longer side is below this many pixels (the CLI uses 81
        for real data, docs/METHOD.md §4.7 step 8, and 0 for the demo world's 28-px images).
    leakage_guard : bool, default=True
        Drop retrieved images that copy (same bytes or pixels) or nearly duplicate a validation or
        test image, and count copies of the unlabeled pool (:mod:`alor_core.retrieval.leakage`).
        False (``--no-leakage-guard``) skips the check; the run's summary then says so.
    strict : bool, default=False
        Stop at the first image that cannot be read (dataset folder, split files, retrieval pool).
        Default: such images are skipped and listed in the session's ``skipped.csv``. Not part of
        the session identity: a run may be resumed with or without it.
    match_rule : {"alor", "swat"} or None
        Caption matching rule of RDA (docs/RETRIEVAL.md): ``alor`` keeps hyphens and apostrophes
        inside words and gives an image matched by several classes to its best class; ``swat``
        normalises captions as SWAT's full-text index (quotes dropped, ``-``/``_`` and other
        punctuation as spaces) and keeps such an image for every class. None = ``swat`` under
        ``protocol="paper"``, else ``alor``.
    retrieval_mode : {"caption", "knn"}
        RDA by caption matching (the paper) or by embedding kNN over the open images (no captions
        needed; ``knn_threshold`` is the cosine an image needs to its class query).
    retrieval_backend : {"auto", "python", "duckdb", "spark"}
        Caption-matching engine; all give the same matches (not part of the session identity).
    spark_master : str or None
        Spark master URL for ``retrieval_backend="spark"`` (``local[2]``, ``spark://host:7077``,
        ``yarn``); None = ``local[*]``.
    knn_threshold : float, default=0.25
        ``retrieval_mode="knn"`` only: minimum cosine between an image and its class query.
    adapt_params : dict
        Single hyperparameters of the adaptation that replace the preset's (name -> value,
        ``--adapt-param KEY=VALUE``), e.g. ``{"epochs": 20}`` or ``{"augment": "views",
        "n_views": 8}`` for LP/PT on a CPU. Part of the session identity.
    """

    dataset: str = "demo"
    strategy: str = "tfs"
    adaptation: str = "lp"
    rounds: int = 7
    budget: int | None = None
    seed: int = 1
    rda: bool = True
    k: int = 500
    preset: str = "fast"
    mode: str = "oracle"
    initial: str = "per_class"
    protocol: str = "label-honest"
    labeled_weight: float = 0.0
    retrieval_source: str | None = None
    match_rule: str | None = None
    model_name: str | None = None
    pretrained: str | None = None
    data_root: str | None = None
    device: str | None = None
    min_side: int = 0
    leakage_guard: bool = True
    strict: bool = False
    retrieval_mode: str = "caption"
    retrieval_backend: str = "auto"
    spark_master: str | None = None
    knn_threshold: float = 0.25
    adapt_params: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        # One spelling per method, so that "TFS" and "tfs" resume the same session.
        from .adaptation import ALIASES
        from .strategies import canonical_name
        self.strategy = canonical_name(self.strategy)
        self.adaptation = ALIASES.get(str(self.adaptation).lower(), str(self.adaptation).lower())
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ConfigError(f"'rounds' must be an int >= 1; got {self.rounds!r}")
        if self.budget is not None and (not isinstance(self.budget, int) or self.budget < 1):
            raise ConfigError(f"'budget' must be an int >= 1 (or None = number of classes); got {self.budget!r}")
        if not isinstance(self.labeled_weight, (int, float)) or self.labeled_weight < 0:
            raise ConfigError(f"'labeled_weight' must be a number >= 0; got {self.labeled_weight!r}")
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"'k' (retrieval cap per class) must be an int >= 1; got {self.k!r}")
        if not isinstance(self.strict, bool):
            raise ConfigError(f"'strict' must be True or False; got {self.strict!r}")
        if not isinstance(self.leakage_guard, bool):
            raise ConfigError(f"'leakage_guard' must be True or False; got {self.leakage_guard!r}")
        if isinstance(self.min_side, bool) or not isinstance(self.min_side, int) or self.min_side < 0:
            raise ConfigError(f"'min_side' (pixels, longer side) must be an int >= 0; got {self.min_side!r}")
        if self.protocol == "paper":
            self.preset, self.budget = "paper", None
        if self.match_rule is None:
            self.match_rule = "swat" if self.protocol == "paper" else "alor"
        for name, allowed in (("preset", ("fast", "paper")), ("mode", ("oracle", "human")),
                              ("protocol", ("label-honest", "paper")),
                              ("initial", ("per_class", "none")), ("match_rule", ("alor", "swat"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"'{name}' must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        self._check_retrieval()
        self._check_adapt_params()

    def _check_adapt_params(self):
        """Validate ``adapt_params`` against the adapter's fields; store typed, JSON-ready values."""
        if not isinstance(self.adapt_params, dict):
            raise ConfigError(f"'adapt_params' must be a mapping name -> value; got {self.adapt_params!r}")
        if self.adapt_params:
            from .adaptation import create
            params = create(self.adaptation, self.preset, self.adapt_params).params
            self.adapt_params = {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in ((k, getattr(params, k)) for k in self.adapt_params)}

    def _check_retrieval(self):
        """Retrieval settings: known names, and none set where it does not apply."""
        for name, allowed in (("retrieval_mode", RETRIEVAL_MODES), ("retrieval_backend", RETRIEVAL_BACKENDS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"'{name}' must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.spark_master is not None and self.retrieval_backend != "spark":
            raise ConfigError(f"'spark_master' ({self.spark_master!r}) only applies to retrieval_backend "
                              f"'spark'; got retrieval_backend {self.retrieval_backend!r}")
        if self.spark_master is not None and not str(self.spark_master).strip():
            raise ConfigError("'spark_master' must be a Spark master URL such as local[2] or spark://host:7077; "
                              "got an empty string")
        if self.retrieval_mode == "knn" and self.retrieval_backend != "auto":
            raise ConfigError(f"'retrieval_backend' {self.retrieval_backend!r} is a caption matcher and does not "
                              "apply to retrieval_mode 'knn'; expected 'auto' (or retrieval_mode 'caption')")
        if not isinstance(self.knn_threshold, (int, float)) or not -1.0 <= self.knn_threshold <= 1.0:
            raise ConfigError(f"'knn_threshold' must be a cosine in [-1, 1]; got {self.knn_threshold!r}")
        if self.retrieval_mode != "knn" and self.knn_threshold != 0.25:
            raise ConfigError(f"'knn_threshold' ({self.knn_threshold}) only applies to retrieval_mode 'knn'; "
                              f"got retrieval_mode {self.retrieval_mode!r}")

    def to_dict(self):
        return asdict(self)
