"""The two caption-matching rules (``alor``, ``swat``): one definition, every backend, RDA's cross-class policy."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from alor_core.config import RunConfig
from alor_core.data import ClassInfo
from alor_core.errors import ConfigError, DataError
from alor_core.retrieval import match_captions, match_captions_duckdb, retrieve
from alor_core.retrieval.phrases import cross_class_policy, normalize_regexes, normalize_text
from alor_core.retrieval.rule_report import caption_rule_table, class_rule_counts, markdown_table

NAMES = ["golden retriever", "t-shirt", "shirt", "bewick's wren", "707-320", "snow goose", "cat"]
SYNONYMS = [
    ["golden retriever"],
    ["t-shirt"],
    ["shirt"],
    ["Bewick's wren"],
    ["707-320", "Boeing 707"],
    ["snow goose"],
    ["cat"],
]
# caption -> (classes matched under 'alor', under 'swat'), worked out by hand from the two rules
HAND = [
    ("a golden retriever puppy", "golden retriever (golden retriever)", "golden retriever (golden retriever)"),
    ("golden, retriever", "-", "golden retriever (golden retriever)"),
    ("a golden \u201cretriever\u201d on grass", "-", "golden retriever (golden retriever)"),
    ("golden-retriever mix", "-", "golden retriever (golden retriever)"),
    ("the golden retriever's toy", "golden retriever (golden retriever)", "-"),
    ("red t-shirt", "t-shirt (t-shirt)", "t-shirt (t shirt); shirt (shirt)"),
    ("T_SHIRT sale", "-", "t-shirt (t shirt); shirt (shirt)"),
    ("Bewick's Wren at the feeder", "bewick's wren (bewick's wren)", "bewick's wren (bewicks wren)"),
    ("bewick\u2019s wren", "-", "bewick's wren (bewicks wren)"),
    ("Bewicks wren", "-", "bewick's wren (bewicks wren)"),
    ("snow_goose.jpg", "-", "snow goose (snow goose)"),
    ("a Boeing 707-320 at dusk", "707-320 (707-320)", "707-320 (boeing 707)"),
    (
        "cat in a golden retriever costume",
        "golden retriever (golden retriever); cat (cat)",
        "golden retriever (golden retriever); cat (cat)",
    ),
    ("shirt and t-shirt", "t-shirt (t-shirt); shirt (shirt)", "t-shirt (t shirt); shirt (shirt)"),
    ('"cat" toy', "cat (cat)", "cat (cat)"),
    ("category page", "-", "-"),
]
# harder text for backend agreement: Unicode spaces and case classes, punctuation-only synonyms
ADVERSARIAL = [
    "A Cat on a mat",
    "kitty-cat",
    "KITTY\tCAT toy",
    "\u212aitty cat",
    "shirt_pocket",
    "(shirt)",
    "x..net",
    "ankle\u3000boot",
    "ANKLE--BOOT",
    "ankle/boot",
    "asp.net core",
    "learn .NET now",
    "c++ code",
    "C++17",
    "Caf\u00e9 au lait",
    "STRA\u1e9eE",
    "\u017ftra\u00dfe",
    "O'Neil's",
    "o\u2019neil",
    "o neil",
    "\u00abcat\u00bb",
    "cat\u2028kitty cat",
    "\u4e2d\u6587 cat \u732b",
    "emoji \U0001f408 cat",
    "\u03ba\u03b1\u03c4 cat",
    "",
    "   ",
    None,
]
ADV_SYNONYMS = [
    ["cat", "kitty cat"],
    ["shirt"],
    ["ankle boot"],
    [".net"],
    ["c++"],
    ["caf\u00e9"],
    ["Stra\u00dfe"],
    ["O'Neil"],
    ["c-3po"],
    ["cow"],
]


def _table(folder, captions, images=False):
    folder.mkdir(parents=True, exist_ok=True)
    if images:
        (folder / "img").mkdir(exist_ok=True)
        for i in range(len(captions)):
            Image.new("RGB", (24, 24), (10 * i % 255, 40, 90)).save(folder / "img" / f"{i}.png")
    pq.write_table(
        pa.table(
            {
                "SAMPLE_ID": [f"s{i}" for i in range(len(captions))],
                "URL": [f"img/{i}.png" for i in range(len(captions))],
                "TEXT": pa.array(captions, pa.string()),
            }
        ),
        folder / "t.parquet",
    )
    return folder / "t.parquet"


def test_swat_normalisation_drops_quotes_and_splits_on_punctuation():
    # Quotes (straight, typographic, guillemets) vanish; -, _ and other punctuation become one space.
    assert normalize_text("Bewick\u2019s \u201cWren\u201d", "swat") == "Bewicks Wren"
    assert normalize_text("golden-retriever_mix, 2-yr", "swat").split() == ["golden", "retriever", "mix", "2", "yr"]
    assert normalize_text("\u00abC++\u00bb 'x'", "swat").split() == ["C", "x"]
    assert normalize_text("t-shirt 'quoted'", "alor") == "t-shirt 'quoted'"  # alor: unchanged
    assert normalize_regexes("alor") is None and len(normalize_regexes("swat")) == 2
    assert (cross_class_policy("alor"), cross_class_policy("swat")) == ("best", "all")
    with pytest.raises(DataError, match="'match_rule' must be one of alor, swat; got 'fts'"):
        normalize_text("x", "fts")


def test_hand_written_captions_under_both_rules(tmp_path):
    # Hyphen, apostrophe, underscore, quotes, punctuation inside a phrase, multi-class: the table of both rules.
    t = _table(tmp_path, [c for c, _, _ in HAND])
    table = caption_rule_table(t, NAMES, SYNONYMS)
    print("\n" + markdown_table(table))
    assert table["caption"].tolist() == [c for c, _, _ in HAND]
    assert table["alor"].tolist() == [a for _, a, _ in HAND]
    assert table["swat"].tolist() == [s for _, _, s in HAND]
    counts = class_rule_counts(t, NAMES, SYNONYMS).set_index("name")
    # golden retriever: alor 3 captions (0, 4, 12), swat 5 (0-3, 12); 1 of them shares its image with 'cat'
    assert counts.loc["golden retriever", ["alor_matched", "swat_matched", "alor_exclusive"]].tolist() == [3, 5, 2]
    assert counts.loc["shirt", ["alor_matched", "swat_matched", "delta"]].tolist() == [1, 3, 2]
    # golden retriever gains 3 under swat (punctuation) and loses 1 ("retriever's" becomes "retrievers")
    assert counts.loc["golden retriever", ["swat_only", "alor_only", "delta"]].tolist() == [3, 1, 2]


def test_duckdb_agrees_with_python_under_both_rules(tmp_path):
    # Same rows, labels and recorded synonyms from the Python reference and DuckDB, under each rule.
    captions = [c for c, _, _ in HAND] + ADVERSARIAL
    t = _table(tmp_path, captions)
    syns = SYNONYMS + ADV_SYNONYMS
    for rule in ("alor", "swat"):
        ref, _ = match_captions(t, syns, match_rule=rule)
        got, _ = match_captions_duckdb(t, syns, threads=1, match_rule=rule)
        pd.testing.assert_frame_equal(got.astype(str), ref.astype(str))
        assert len(ref) > 25
    swat, _ = match_captions(t, syns, match_rule="swat")
    boots = set(swat.loc[swat["label"] == len(SYNONYMS) + 2, "caption"])
    assert {"ANKLE--BOOT", "ankle/boot", "ankle\u3000boot"} <= boots
    # a class whose only name is punctuation cannot be matched under swat: said in every backend, with the class
    for matcher in (match_captions, match_captions_duckdb):
        with pytest.raises(DataError, match=r"class 1 \('-'\): under match rule 'swat' its names are only punctuation"):
            matcher(t, [["cat"], ["-"]], match_rule="swat")
        assert len(matcher(t, [["cat"], ["-"]], match_rule="alor")[0]) > 0


@pytest.mark.slow  # starting a JVM takes ~30 s on 2 cores
def test_spark_agrees_with_python_under_both_rules(tmp_path):
    # Spark evaluates the same rewrite (Java regex) and returns the Python reference's rows.
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark; needs Java 17+)")
    from alor_core.retrieval.spark_match import local_spark, match_captions_spark

    try:
        spark = local_spark("local[1]", shuffle_partitions=2)
    except DataError as err:
        pytest.skip(f"Spark could not start here (Java 17+ missing?): {err}")
    try:
        t = _table(tmp_path, [c for c, _, _ in HAND] + ADVERSARIAL)
        syns = SYNONYMS + ADV_SYNONYMS
        for rule in ("alor", "swat"):
            ref, _ = match_captions(t, syns, match_rule=rule)
            got, _ = match_captions_spark(t, syns, spark=spark, match_rule=rule)
            pd.testing.assert_frame_equal(got.astype(str), ref.astype(str))
    finally:
        spark.stop()


def test_retrieve_keeps_a_multi_class_image_for_every_class_under_swat(tmp_path, random_bundle):
    # alor: an image matched by two classes is kept once (best T2T class); swat: once per class that matched.
    t = _table(tmp_path, [c for c, _, _ in HAND], images=True)
    classes = ClassInfo(NAMES, SYNONYMS)
    by_rule = {rule: retrieve(random_bundle, classes, t, k=10, match_rule=rule) for rule in ("alor", "swat")}
    multi = ["img/12.png", "img/13.png"]  # "cat in a golden retriever costume", "shirt and t-shirt"
    alor, swat = by_rule["alor"].items, by_rule["swat"].items
    assert alor["id"].is_unique and all((alor["id"] == m).sum() == 1 for m in multi)
    assert sorted(swat.loc[swat["id"] == "img/12.png", "label"]) == [0, 6]
    assert sorted(swat.loc[swat["id"] == "img/5.png", "label"]) == [1, 2]  # "red t-shirt"
    assert not swat.duplicated(["id", "label"]).any()
    assert by_rule["swat"].stats["cross_class"] == "all" and by_rule["swat"].stats["match_rule"] == "swat"
    assert by_rule["alor"].stats["cross_class"] == "best"
    # matched counts differ by rule (golden retriever 3 vs 5); swat keeps every matched image below K
    assert by_rule["alor"].counts[0]["matched"] == 3 and by_rule["swat"].counts[0]["matched"] == 5
    assert [c["kept"] for c in by_rule["swat"].counts] == [c["matched"] for c in by_rule["swat"].counts]
    # the training set takes the repeated image once per label; a plain image set still refuses repeats
    from alor_core.adaptation import TrainData
    from alor_core.data.datasets import ImageSet

    ret = by_rule["swat"].image_set
    assert ret.repeats and len(ret) == len(swat) and not by_rule["alor"].image_set.repeats
    both = TrainData(ret.subset([]), ret, len(NAMES)).all()
    assert both.repeats and len(both) == len(swat) and sorted(both.labels.tolist()) == sorted(swat["label"])
    with pytest.raises(DataError, match="image id 'img/12.png' is listed twice"):
        ImageSet(["img/12.png", "img/12.png"], tmp_path, np.array([0, 6]))
    with pytest.raises(DataError, match="'match_rule' must be one of alor, swat; got 'SWAT'"):
        retrieve(random_bundle, classes, t, k=10, match_rule="SWAT")


def test_run_config_and_cli_choose_the_rule():
    # Paper protocol defaults to swat, label-honest to alor; an explicit choice wins; a bad one is named.
    assert RunConfig().match_rule == "alor"
    assert RunConfig(protocol="paper").match_rule == "swat"
    assert RunConfig(protocol="paper", match_rule="alor").match_rule == "alor"
    with pytest.raises(ConfigError, match="'match_rule' must be one of alor, swat; got 'fts5'"):
        RunConfig(match_rule="fts5")
    from alor_core.cli import _config, _parser

    args = _parser().parse_args(["run", "--dataset", "/data/x", "--match-rule", "swat"])
    assert _config(args, 1, "tfs", "/data/x").match_rule == "swat"
    args = _parser().parse_args(["run", "--protocol", "paper"])
    assert _config(args, 666, "tfs", "demo").match_rule == "swat"
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--match-rule", "regex"])
