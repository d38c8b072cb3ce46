import json

import numpy as np
import pandas as pd
import pytest

from alor_core.errors import DataError
from alor_core.retrieval import (
    RetrievedSet,
    classes_from_metrics,
    metrics_from_retrieval,
    most_common_name,
    read_metrics_json,
    read_retrieved_list,
    write_class_frequency_json,
    write_metrics_json,
    write_retrieved_count_json,
    write_retrieved_list,
)

AIRCRAFT_0 = {
    "name": "707-320",
    "alternates": {"707-320": 33, "707 320": 33, "boeing 707": 1091, "b707": 96},
    "most_common_name": "boeing 707",
    "actual_freq": 1189,
    "coarse_name": "Boeing 707",
}


def test_retrieved_list_round_trip(tmp_path):
    # path label source lines: write then read gives the same ids, labels and per-class counts.
    items = pd.DataFrame(
        {
            "id": ["retrieved_data/0/1.0.jpg", "retrieved_data/2/a b.jpg", "x/3.jpg"],
            "label": [0, 2, 0],
            "synonym": "",
            "score": np.nan,
            "caption": "",
        }
    )
    rs = RetrievedSet(items, tmp_path, [{"name": n, "matched": 0, "kept": 0} for n in "abc"])
    write_retrieved_list(tmp_path / "retrieved_data.txt", rs)
    assert (tmp_path / "retrieved_data.txt").read_text().splitlines()[1] == "retrieved_data/2/a b.jpg 2 0"
    back = read_retrieved_list(tmp_path / "retrieved_data.txt", ["a", "b", "c"])
    assert back.items["id"].tolist() == items["id"].tolist() and back.items["label"].tolist() == [0, 2, 0]
    assert [c["kept"] for c in back.counts] == [2, 0, 1] and back.root == tmp_path


def test_metrics_json_round_trip_keeps_extra_keys(tmp_path):
    # SWAT metrics JSON (string class ids, extra keys) survives read -> write -> read unchanged.
    src = {
        "0": AIRCRAFT_0,
        "1": {"name": "A300", "alternates": {"a300": 5}, "most_common_name": "A300", "actual_freq": 5},
    }
    (tmp_path / "m.json").write_text(json.dumps(src))
    m = read_metrics_json(tmp_path / "m.json")
    write_metrics_json(tmp_path / "m2.json", m)
    assert read_metrics_json(tmp_path / "m2.json") == m and json.loads((tmp_path / "m2.json").read_text()) == src
    classes = classes_from_metrics(m)
    assert classes.names == ["707-320", "A300"] and classes.synonyms[0][:2] == ["707-320", "boeing 707"]
    (tmp_path / "bad.json").write_text(json.dumps({"0": {"alternates": {}}}))
    with pytest.raises(DataError, match="class 0 needs 'name' and 'alternates'"):
        read_metrics_json(tmp_path / "bad.json")


def test_most_common_name_relaxed_rule():
    # Higher count wins unless it is a token subset of the name; a reordering may replace it.
    assert most_common_name("707-320", AIRCRAFT_0["alternates"]) == "boeing 707"
    assert most_common_name("green lacewing", {"green lacewing": 10, "lacewing": 500}) == "green lacewing"
    assert most_common_name("tern arctic", {"tern arctic": 1, "arctic tern": 50}) == "arctic tern"


def test_metrics_and_counts_from_a_retrieval(tmp_path):
    # A caption retrieval exports SWAT metrics, class frequencies and kept counts (the TFS input).
    counts = [
        {"name": "cat", "matched": 7, "kept": 5, "synonyms": {"cat": 4, "kitty": 3}},
        {"name": "cow", "matched": 0, "kept": 0, "synonyms": {}},
    ]
    rs = RetrievedSet(pd.DataFrame(columns=["id", "label", "synonym", "score", "caption"]), tmp_path, counts)
    m = metrics_from_retrieval(rs, ["cat", "cow"])
    assert m[0] == {"name": "cat", "alternates": {"cat": 4, "kitty": 3}, "most_common_name": "cat", "actual_freq": 7}
    write_class_frequency_json(tmp_path / "f.json", m)
    write_retrieved_count_json(tmp_path / "k.json", rs)
    assert list(json.loads((tmp_path / "f.json").read_text())) == ["0", "1"]
    assert json.loads((tmp_path / "k.json").read_text()) == {"0": 5, "1": 0}
