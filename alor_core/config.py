"""Run configuration: one dataclass with every setting of an ALOR run, validated on creation.

Every field of :class:`RunConfig` carries a :class:`Setting` (``dataclasses.field(metadata=...)``)
that says how the setting looks outside Python: its command-line flag, help, choices, the default
the command line and the dashboard use for a dataset, whether it belongs to the session identity
(a resumed session must agree on it) and whether a background command always spells it out. The
command line (:func:`add_run_arguments`, :meth:`RunConfig.from_args`), the background-run command
(:meth:`RunConfig.to_cli_args`, :meth:`RunConfig.from_dict`), the session identity
(:func:`identity_keys`), the dashboard form (:func:`setting_help`, :func:`choices_of`,
:func:`default_for`) and the run folder name (:meth:`RunConfig.run_name`) are all read from it.
The paper protocol's pinned values live in :data:`PAPER_PROTOCOL` and :data:`PAPER_SEEDS` only.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import AlorError, ConfigError

__all__ = [
    "RunConfig",
    "Setting",
    "RETRIEVAL_MODES",
    "RETRIEVAL_BACKENDS",
    "PAPER_PROTOCOL",
    "PAPER_SEEDS",
    "settings",
    "identity_keys",
    "default_for",
    "choices_of",
    "setting_help",
    "add_run_arguments",
    "parse_adapt_params",
    "paper_protocol_text",
]

RETRIEVAL_MODES = ("caption", "knn")
RETRIEVAL_BACKENDS = ("auto", "python", "duckdb", "spark")

#: The official protocol (docs/METHOD.md §5.5, §9): ``protocol="paper"`` pins these values, whatever
#: was asked for (the only place this rule is written).
PAPER_PROTOCOL: dict[str, Any] = {"preset": "paper", "rounds": 7, "budget": None}
#: Seeds of the paper protocol when the command line names none.
PAPER_SEEDS: tuple[int, ...] = (666, 777, 888)


def paper_protocol_text() -> str:
    """The paper protocol in words, for help texts: ``preset paper, 7 rounds, ...``."""
    return (
        f"preset {PAPER_PROTOCOL['preset']} (batch 128, best-val epoch), {PAPER_PROTOCOL['rounds']} rounds, "
        f"budget = number of classes, caption matching swat unless chosen, seeds "
        f"{' '.join(map(str, PAPER_SEEDS))}"
    )


@dataclass(frozen=True)
class Setting:
    """How one :class:`RunConfig` field appears on the command line, in the dashboard and on disk.

    Parameters
    ----------
    flags : tuple of str
        Command-line flags, the first one written into commands; empty: not on the command line.
        A ``kind="off"`` setting's flag turns it off (``--no-rda``), ``kind="on"`` turns it on.
    help : str
        Help text (``--help`` and the dashboard form).
    kind : {"value", "off", "on", "pairs"}
        ``value``: the flag takes a value; ``off``/``on``: a switch; ``pairs``: repeatable ``KEY=VALUE``.
    type : callable or None
        Parser of a flag's value (``int``, ``float``); None: a string.
    choices : tuple of str, callable or None
        Accepted values, or a function that returns them (the strategy and adaptation registries).
    strict_choices : bool
        Let ``argparse`` refuse other values; False: the choices are listed but aliases such as
        ``FLYP`` reach :class:`RunConfig`, which checks them.
    metavar : str or None
        Placeholder in ``--help``; default: the choices in braces, or the field name in capitals.
    identity : bool
        A resumed session must agree on this setting (it changes the results).
    per_dataset : callable or None
        ``dataset -> default`` where the command line and the dashboard use a default that depends on
        the dataset (``k``: 200 for the demo world, else 500); the dataclass default stays the Python API's.
    always : bool
        A background command spells the setting out even at its default (readable, and independent
        of later changes of a default).
    resolved : callable or None
        ``config -> value`` the setting takes when not given (``match_rule``: ``swat`` under the paper
        protocol, else ``alor``); a command leaves it out when it has that value.
    applies : callable or None
        ``config -> reason or None``: why the setting does not apply to this configuration; setting
        it away from its default there is a :class:`ConfigError`, never a silent no-op.
    alt_flag : callable or None
        ``value -> flag`` to write instead of ``flags[0]`` (a checkpoint file as ``--checkpoint``).
    """

    flags: tuple[str, ...] = ()
    help: str = ""
    kind: str = "value"
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    strict_choices: bool = True
    metavar: str | None = None
    identity: bool = False
    per_dataset: Callable[[str], Any] | None = None
    always: bool = False
    resolved: Callable[[RunConfig], Any] | None = None
    applies: Callable[[RunConfig], str | None] | None = None
    alt_flag: Callable[[Any], str | None] | None = None

    def names(self) -> tuple[str, ...] | None:
        """The accepted values (calling the registry when ``choices`` is a function), or None."""
        return tuple(self.choices()) if callable(self.choices) else self.choices


def _setting(default: Any = MISSING, *, default_factory: Any = MISSING, **kw: Any) -> Any:
    """A dataclass field whose metadata is the :class:`Setting` ``Setting(**kw)``."""
    return field(default=default, default_factory=default_factory, metadata={"setting": Setting(**kw)})


def _strategy_names() -> list[str]:
    from . import strategies

    return strategies.available() + strategies.planned()


def _adaptation_names() -> list[str]:
    from . import adaptation

    return list(adaptation.available())


def _needs_adapter_field(name: str) -> Callable[[RunConfig], str | None]:
    """``applies`` rule: the setting is read only by adaptations whose parameters have field ``name``."""

    def rule(config: RunConfig) -> str | None:
        from . import adaptation

        try:
            params = getattr(adaptation.create(config.adaptation, config.preset), "params", None)
        except AlorError:
            return None  # an unknown adaptation is reported where it is created
        if params is not None and hasattr(params, name):
            return None
        users = []
        for a in adaptation.available():
            try:
                if hasattr(getattr(adaptation.create(a, config.preset), "params", None), name):
                    users.append(a)
            except AlorError:
                continue
        return (
            f"only applies to adaptation {' or '.join(users) or '(none)'}; got adaptation "
            f"{config.adaptation!r}, which does not read it"
        )

    return rule


def _only_with(key: str, value: Any) -> Callable[[RunConfig], str | None]:
    """``applies`` rule: the setting only applies when ``config.<key> == value``."""

    def rule(config: RunConfig) -> str | None:
        got = getattr(config, key)
        return None if got == value else f"only applies to {key} {value!r}; got {key} {got!r}"

    return rule


def _checkpoint_flag(value: Any) -> str | None:
    return "--checkpoint" if value and os.path.isfile(str(value)) else None


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
        ``lp``, ``ft``, ``ct``, ``pt`` or ``zeroshot`` (aliases such as ``flyp`` are accepted).
    rounds : int, default=7
        Rounds 0..rounds-1 (the paper: 7).
    budget : int or None
        Labels per round; None = number of classes (the paper).
    rda : bool, default=True
        Train on retrieved open data as well.
    k : int, default=500
        Retrieval cap per class (the CLI and the dashboard default to 200 for the demo world,
        :func:`default_for`).
    preset : {"fast", "paper"}
        Hyperparameter preset of the adaptation (docs/METHOD.md §5.5 for ``paper``).
    mode : {"oracle", "human"}
        Where the labels of selected images come from.
    protocol : {"label-honest", "paper"}
        ``paper`` = the official protocol (docs/METHOD.md §5.5, §9): the values of :data:`PAPER_PROTOCOL`
        (preset ``paper``: batch 128, best-val epoch on the labeled val split; 7 rounds; budget = number
        of classes) replace what was asked for; the CLI runs seeds :data:`PAPER_SEEDS` unless told.
    labeled_weight : float, default=0.0
        0 = plain CE over labeled ∪ retrieved, as the paper. ``w > 0`` up-weights task labels so
        that the labeled set weighs ``w`` times the retrieved set. Only LP reads it: ``w > 0`` with
        another adaptation is a :class:`ConfigError`.
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

    dataset: str = _setting(
        "demo",
        flags=("--dataset",),
        identity=True,
        always=True,
        help="demo (the offline demo world), a dataset folder (split files or ImageFolder tree) or a benchmark name",
    )
    strategy: str = _setting(
        "tfs",
        flags=("--strategy",),
        identity=True,
        always=True,
        choices=_strategy_names,
        strict_choices=False,
        metavar="NAME",
        help="active-learning strategy: %(choices_list)s (any name with _pcb: class-balanced by PCB; "
        "TFS = Tail First Sampling, ALOR's)",
    )
    adaptation: str = _setting(
        "lp",
        flags=("--adapt",),
        identity=True,
        always=True,
        choices=_adaptation_names,
        strict_choices=False,
        help="adaptation: %(choices_list)s (lp linear probe, ft finetuning, ct contrastive tuning, pt prompt "
        "tuning; the official aliases probing, flyp, finetune, coop work too; default %(default)s)",
    )
    rounds: int = _setting(
        7, flags=("--rounds",), type=int, always=True, help="rounds 0..N-1 (default 7, as the paper)"
    )
    budget: int | None = _setting(
        None,
        flags=("--budget",),
        type=int,
        identity=True,
        help="labels per round (default: number of classes, as the paper)",
    )
    seed: int = _setting(1, identity=True)
    rda: bool = _setting(
        True, flags=("--no-rda",), kind="off", identity=True, help="train without retrieved open data (RDA off)"
    )
    k: int = _setting(
        500,
        flags=("--k",),
        type=int,
        identity=True,
        always=True,
        per_dataset=lambda d: 200 if d == "demo" else 500,
        help="retrieval cap per class (default: demo 200, else 500)",
    )
    preset: str = _setting(
        "fast",
        flags=("--preset",),
        choices=("fast", "paper"),
        identity=True,
        always=True,
        help="hyperparameters of the adaptation: paper = batch 128 and best-on-validation "
        "epoch (docs/METHOD.md §5.5); fast = fewer epochs",
    )
    mode: str = _setting(
        "oracle",
        flags=("--mode",),
        choices=("oracle", "human"),
        always=True,
        help="where the labels of selected images come from: oracle (ground truth) or human (the Label queue)",
    )
    initial: str = _setting(
        "per_class",
        flags=("--initial",),
        choices=("per_class", "none"),
        identity=True,
        help="round-0 labels: one random image per class (paper, uses ground truth) "
        "or none (cold start: round 0 trains on retrieved data only)",
    )
    protocol: str = _setting(
        "label-honest",
        flags=("--protocol",),
        choices=("label-honest", "paper"),
        identity=True,
        help="paper = the official protocol: " + paper_protocol_text(),
    )
    labeled_weight: float = _setting(
        0.0,
        flags=("--labeled-weight",),
        type=float,
        identity=True,
        applies=_needs_adapter_field("labeled_weight"),
        help="0 = plain cross-entropy over labeled + retrieved (paper); w > 0: the labeled set weighs w times "
        "the retrieved set (LP only: an error with other adaptations)",
    )
    retrieval_source: str | None = _setting(
        None,
        flags=("--retrieval-source",),
        identity=True,
        help="open data for RDA: LAION-layout parquet, CSV/parquet of (path, caption), a folder of images "
        "with .txt captions, or webdataset .tar shards (default: the dataset's corpus.parquet)",
    )
    match_rule: str | None = _setting(
        None,
        flags=("--match-rule",),
        choices=("alor", "swat"),
        identity=True,
        resolved=lambda c: "swat" if c.protocol == "paper" else "alor",
        help="RDA caption matching: alor (hyphen/apostrophe inside words, an image goes to its best class) "
        "or swat (SWAT's normalisation, an image kept for every class that matched); default swat "
        "under --protocol paper, else alor",
    )
    model_name: str | None = _setting(
        None,
        flags=("--model",),
        identity=True,
        metavar="MODEL_NAME",
        help="open_clip model name (default: the dataset's, else ViT-B-32-quickgelu)",
    )
    pretrained: str | None = _setting(
        None,
        flags=("--pretrained", "--checkpoint"),
        identity=True,
        alt_flag=_checkpoint_flag,
        metavar="TAG|FILE",
        help="open_clip pretrained tag, or (--checkpoint) a local checkpoint file",
    )
    data_root: str | None = _setting(
        None, flags=("--data-root",), help="folder the dataset name is relative to (benchmarks)"
    )
    device: str | None = _setting(None, flags=("--device",), help="cuda | cpu (default: CUDA when present)")
    min_side: int = _setting(
        0,
        flags=("--min-side",),
        type=int,
        identity=True,
        always=True,
        metavar="PX",
        per_dataset=lambda d: 0 if d == "demo" else 81,
        help="RDA drops open-data images whose longer side is below PX pixels (default 81 for real data, "
        "as the paper's pipeline; 0 for the demo world's 28-px images)",
    )
    leakage_guard: bool = _setting(
        True,
        flags=("--no-leakage-guard",),
        kind="off",
        identity=True,
        help="do not drop retrieved copies / near-duplicates of validation and test images "
        "(on by default; the run's summary then says the guard is OFF)",
    )
    strict: bool = _setting(
        False,
        flags=("--strict",),
        kind="on",
        help="stop at the first image that cannot be read (default: skip it, keep going and list it in "
        "<session>/skipped.csv)",
    )
    retrieval_mode: str = _setting(
        "caption",
        flags=("--retrieval-mode",),
        choices=RETRIEVAL_MODES,
        identity=True,
        help="RDA by caption matching (paper) or by embedding kNN over the open images (no captions "
        "needed; FAISS index from 10^6 images when faiss-cpu is installed)",
    )
    retrieval_backend: str = _setting(
        "auto",
        flags=("--retrieval-backend",),
        choices=RETRIEVAL_BACKENDS,
        applies=lambda c: (
            None
            if c.retrieval_mode == "caption"
            else f"is a caption matcher and does not apply to retrieval_mode {c.retrieval_mode!r}"
        ),
        help="caption-matching engine, all give the same matches (auto: Python below 200,000 rows, DuckDB "
        "above; spark: pip install '.[spark]', Java 17+)",
    )
    spark_master: str | None = _setting(
        None,
        flags=("--spark-master",),
        metavar="URL",
        applies=_only_with("retrieval_backend", "spark"),
        help="Spark master for --retrieval-backend spark (default local[*]; e.g. local[2], spark://host:7077, "
        "yarn); see docs/RETRIEVAL.md",
    )
    knn_threshold: float = _setting(
        0.25,
        flags=("--knn-threshold",),
        type=float,
        identity=True,
        applies=_only_with("retrieval_mode", "knn"),
        help="--retrieval-mode knn: minimum cosine of an image to its class query (default 0.25)",
    )
    adapt_params: dict = _setting(
        default_factory=dict,
        flags=("--adapt-param",),
        kind="pairs",
        identity=True,
        metavar="KEY=VALUE",
        help="replace one hyperparameter of the adaptation's preset (repeatable), e.g. epochs=20, or "
        "augment=views n_views=8 for LP/PT on a CPU (docs in alor_core/models/augment.py)",
    )
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
            for name, value in PAPER_PROTOCOL.items():
                setattr(self, name, value)
        if self.match_rule is None:
            self.match_rule = settings()["match_rule"].resolved(self)
        for name, allowed in (
            ("preset", ("fast", "paper")),
            ("mode", ("oracle", "human")),
            ("protocol", ("label-honest", "paper")),
            ("initial", ("per_class", "none")),
            ("match_rule", ("alor", "swat")),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"'{name}' must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        self._check_retrieval()
        self._check_adapt_params()
        self._check_applicable()

    def _check_applicable(self):
        """A setting away from its default where it does not apply is an error, not a silent no-op."""
        for f in fields(self):
            rule = f.metadata.get("setting", Setting()).applies
            value = getattr(self, f.name)
            if rule is not None and value != f.default:
                reason = rule(self)
                if reason:
                    raise ConfigError(
                        f"'{f.name}' ({value!r}) {reason}; leave it at {f.default!r} "
                        f"or choose a configuration it applies to"
                    )

    def _check_adapt_params(self):
        """Validate ``adapt_params`` against the adapter's fields; store typed, JSON-ready values."""
        if not isinstance(self.adapt_params, dict):
            raise ConfigError(f"'adapt_params' must be a mapping name -> value; got {self.adapt_params!r}")
        if self.adapt_params:
            from .adaptation import create

            params = create(self.adaptation, self.preset, self.adapt_params).params
            self.adapt_params = {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in ((k, getattr(params, k)) for k in self.adapt_params)
            }

    def _check_retrieval(self):
        """Retrieval settings: known names and valid values (where each applies: the table's ``applies``)."""
        for name, allowed in (("retrieval_mode", RETRIEVAL_MODES), ("retrieval_backend", RETRIEVAL_BACKENDS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"'{name}' must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.spark_master is not None and not str(self.spark_master).strip():
            raise ConfigError(
                "'spark_master' must be a Spark master URL such as local[2] or spark://host:7077; got an empty string"
            )
        if not isinstance(self.knn_threshold, (int, float)) or not -1.0 <= self.knn_threshold <= 1.0:
            raise ConfigError(f"'knn_threshold' must be a cosine in [-1, 1]; got {self.knn_threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON-ready dict (what a session's ``config.json`` starts from)."""
        return asdict(self)

    # ---- construction from the outside world -------------------------------------------------------
    @classmethod
    def for_dataset(cls, dataset: str = "demo", **kwargs: Any) -> RunConfig:
        """A config whose unset per-dataset settings take the command line's default for ``dataset``.

        ``RunConfig.for_dataset("demo").k == 200`` while ``RunConfig().k == 500``; a keyword given as
        None also takes that default. The CLI, the dashboard and the grid build their configs here.
        """
        for name, s in settings().items():
            if s.per_dataset is not None and kwargs.get(name) is None:
                kwargs[name] = s.per_dataset(str(dataset))
        return cls(dataset=dataset, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> RunConfig:
        """The config of a session's ``config.json`` (keys that are not fields, e.g. ``spec_key``, are
        ignored); ``overrides`` replace single fields."""
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, **overrides})

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> RunConfig:
        """The config of parsed command-line options (:func:`add_run_arguments`).

        ``overrides`` (e.g. ``seed=``, ``dataset=``, ``strategy=`` from positional arguments) win over
        the options; ``args.name`` becomes ``extra['name']``.
        """
        values: dict[str, Any] = {}
        for name, s in settings().items():
            if s.flags and hasattr(args, name):
                values[name] = getattr(args, name)
        values.update(overrides)
        if "adapt_params" in values:
            values["adapt_params"] = parse_adapt_params(values["adapt_params"])
        name = getattr(args, "name", None)
        values.setdefault("extra", {"name": name} if name else {})
        return cls.for_dataset(**values)

    # ---- the config as a command and as a folder name ---------------------------------------------
    def to_cli_args(self, seeds: Iterable[int] | None = None) -> list[str]:
        """The options of ``python -m alor_core run`` that rebuild this config (not ``--name``/``--output``).

        A setting is written when it is marked ``always`` or differs from the command line's default
        for this dataset; ``seeds`` (default: this config's seed) becomes ``--seeds``. The inverse of
        :meth:`from_args`: parsing the result gives this config back (``extra`` aside).
        """
        out: list[str] = []
        for name, s in settings().items():
            if not s.flags:
                continue
            value = getattr(self, name)
            if s.kind == "off":
                out += [] if value else [s.flags[0]]
            elif s.kind == "on":
                out += [s.flags[0]] if value else []
            elif s.kind == "pairs":
                for key, v in (value or {}).items():
                    v = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v
                    out += [s.flags[0], f"{key}={v}"]
            elif value is not None and (s.always or value != self._cli_default(name, s)):
                out += [(s.alt_flag and s.alt_flag(value)) or s.flags[0], str(value)]
            if name == "adaptation":
                out += ["--seeds", *(str(int(x)) for x in ((self.seed,) if seeds is None else seeds))]
        return out

    def _cli_default(self, name: str, s: Setting) -> Any:
        if s.resolved is not None:
            return s.resolved(self)
        return default_for(name, self.dataset)

    def run_name(self) -> str:
        """Folder of the run under the output folder: ``extra['name']``, or the one automatic rule
        ``<dataset>_<strategy>_<adapt>_<rda|nordA>`` + ``_knn`` (kNN retrieval) + ``_human`` (human
        labels) + ``_lw<w>`` (labeled-set weight), used by the CLI, the dashboard and the grid."""
        if self.extra.get("name"):
            return str(self.extra["name"])
        return self._base_name() + "".join(self._name_parts())

    def _base_name(self) -> str:
        from .strategies import canonical_name

        return (
            f"{Path(str(self.dataset)).name}_{canonical_name(self.strategy)}_{self.adaptation}_"
            f"{'rda' if self.rda else 'nordA'}"
        )

    def _name_parts(self) -> list[str]:
        return [
            p
            for p, on in (
                ("_knn", self.rda and self.retrieval_mode == "knn"),
                ("_human", self.mode == "human"),
                (f"_lw{self.labeled_weight:g}", bool(self.labeled_weight)),
            )
            if on
        ]

    def legacy_run_names(self) -> list[str]:
        """Automatic folder names earlier versions gave this config where they differ from
        :meth:`run_name` (the CLI left out ``_human``, the dashboard ``_lw<w>``), so that their
        sessions still resume; empty when ``extra['name']`` is set."""
        if self.extra.get("name"):
            return []
        base, knn = self._base_name(), "_knn" if self.rda and self.retrieval_mode == "knn" else ""
        names = [base + knn, base + knn + ("_human" if self.mode == "human" else "")]
        if self.labeled_weight:
            names.append(base + f"_lw{self.labeled_weight:g}")
        current = self.run_name()
        return list(dict.fromkeys(n for n in names if n != current))


# ---- the table, read -----------------------------------------------------------------------------------
def settings() -> dict[str, Setting]:
    """Field name -> :class:`Setting` of every :class:`RunConfig` field that has one, in field order."""
    return {f.name: f.metadata["setting"] for f in fields(RunConfig) if "setting" in f.metadata}


def identity_keys() -> tuple[str, ...]:
    """The fields a resumed session must agree on (they change the results)."""
    return tuple(name for name, s in settings().items() if s.identity)


def default_for(name: str, dataset: str = "demo") -> Any:
    """The command line's and the dashboard's default of setting ``name`` for ``dataset``."""
    s = settings().get(name)
    if s is None:
        raise ConfigError(f"unknown run setting {name!r}; expected one of {', '.join(settings())}")
    if s.per_dataset is not None:
        return s.per_dataset(str(dataset))
    f = next(f for f in fields(RunConfig) if f.name == name)
    return f.default_factory() if f.default is MISSING else f.default


def choices_of(name: str) -> tuple[str, ...] | None:
    """The accepted values of setting ``name`` (from the registries for strategy and adaptation)."""
    s = settings().get(name)
    if s is None:
        raise ConfigError(f"unknown run setting {name!r}; expected one of {', '.join(settings())}")
    return s.names()


def setting_help(name: str) -> str:
    """The help text of setting ``name`` (as ``--help`` shows it, without argparse's ``%(default)s``)."""
    s = settings().get(name)
    if s is None:
        raise ConfigError(f"unknown run setting {name!r}; expected one of {', '.join(settings())}")
    names = s.names()
    text = s.help.replace("%(choices_list)s", ", ".join(names or ()))
    return text.replace("; default %(default)s", "").replace("%(default)s", str(default_for(name)))


def add_run_arguments(
    parser: argparse.ArgumentParser, skip: Iterable[str] = (), defaults: dict[str, Any] | None = None
) -> None:
    """Add one option per :class:`RunConfig` setting to ``parser`` (the options of ``run`` and of the
    commands that share them); ``dest`` is the field name.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    skip : iterable of str
        Fields the command sets otherwise (e.g. ``dataset`` as a positional argument).
    defaults : dict, optional
        Field -> default of this command (``round``: ``adaptation="ct"``). Per-dataset settings
        default to None here and are resolved by :meth:`RunConfig.from_args`.
    """
    skip, defaults = set(skip), defaults or {}
    for name, s in settings().items():
        if not s.flags or name in skip:
            continue
        default = defaults.get(name, None if s.per_dataset else default_for(name))
        names = s.names()
        text = s.help.replace("%(choices_list)s", ", ".join(names or ()))
        if s.kind in ("off", "on"):
            parser.add_argument(
                *s.flags, dest=name, action="store_false" if s.kind == "off" else "store_true", help=text
            )
        elif s.kind == "pairs":
            parser.add_argument(*s.flags, dest=name, action="append", default=[], metavar=s.metavar, help=text)
        else:
            kw: dict[str, Any] = {"dest": name, "default": default, "help": text}
            if s.type is not None:
                kw["type"] = s.type
            if names and s.strict_choices:
                kw["choices"] = list(names)
            elif names:
                kw["metavar"] = "{" + ",".join(names) + "}"
            if s.metavar:
                kw["metavar"] = s.metavar
            parser.add_argument(*s.flags, **kw)


def parse_adapt_params(pairs: Iterable[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``["epochs=3", "augment=views"]`` -> ``{"epochs": "3", "augment": "views"}`` (typed by the
    adapter when the config is built); a dict is returned as it is."""
    if isinstance(pairs, dict):
        return dict(pairs)
    out = {}
    for pair in pairs or []:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--adapt-param expects KEY=VALUE (e.g. epochs=20); got {pair!r}")
        out[key.strip()] = value.strip()
    return out
