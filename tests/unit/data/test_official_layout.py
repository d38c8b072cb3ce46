"""The ALOR/SWAT dataset folder as published (classnames.txt, metrics JSON, split files,
retrieved_data.txt, a round file) imported end to end, and the round-file splitter on its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alor_core.cli import main
from alor_core.data import load_task
from alor_core.data.official import (
    DataWarning,
    load_class_source,
    parse_round_filename,
    read_classnames_txt,
    read_round_file,
)
from alor_core.errors import DataError
from alor_core.loop.session import Session

# Four FGVC-Aircraft classes with their real names, synonyms and LAION-400M counts (actual_freq):
# class 0 exactly as spec §4.5 quotes it; for classes 1-3 the shipped CSV has the synonyms and the
# totals only, so their per-synonym counts below are invented (they are not checked anywhere).
AIRCRAFT = [
    ("707-320", {"707-320": 33, "707 320": 33, "boeing 707": 1091, "b707": 96}, "boeing 707", 1189),
    ("727-200", {"727-200": 101, "b727": 240, "b727 200": 12, "boeing 727": 1650}, "boeing 727", 1872),
    ("737-200", {"b737 classic": 40, "boeing 737 classic": 120, "737-200": 330}, "737-200", 465),
    ("737-300", {"737 series 300": 60, "737-300": 540}, "737-300", 590),
]
RETRIEVED_PER_CLASS = (8, 5, 3, 2)  # long-tailed, as retrieval from LAION is
POOL_PER_CLASS, VAL_PER_CLASS, TEST_PER_CLASS = 5, 2, 3


def _jpg(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)).save(path, quality=90)


def build_official_folder(root: Path, name="aircraft", seed=666) -> dict:
    """``root/<name>/`` laid out as ALOR publishes ``data/<ds>/`` (no classes.csv).

    Returns the paths of the pieces and which pool image of each class the round file labels.
    """
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "classnames.txt").write_text("".join(f"{n}\n" for n, *_ in AIRCRAFT), encoding="utf-8")
    metrics = {
        str(i): {"name": n, "alternates": alts, "most_common_name": mc, "actual_freq": freq}
        for i, (n, alts, mc, freq) in enumerate(AIRCRAFT)
    }
    (folder / f"{name}_metrics-LAION400M.json").write_text(json.dumps(metrics, indent=4), encoding="utf-8")
    image_id = 1025794
    splits = {"ltrain": POOL_PER_CLASS, "val": VAL_PER_CLASS, "test": TEST_PER_CLASS}
    lines = {s: [] for s in splits}
    for c in range(len(AIRCRAFT)):
        for split, n in splits.items():
            for _ in range(n):
                rel = f"fgvc-aircraft-2013b/data/images/{image_id:07d}.jpg"
                _jpg(folder / rel, image_id)
                lines[split].append(f"{rel} {c} 1\n")
                image_id += 7
    for split, ls in lines.items():
        (folder / f"{split}.txt").write_text("".join(ls))
    retrieved = []
    laion_id = 30192007460
    for c, n in enumerate(RETRIEVED_PER_CLASS):
        for _ in range(n):
            rel = f"retrieved_data/{c}/{laion_id}.0.jpg"
            _jpg(folder / rel, laion_id % 10_000)
            retrieved.append(f"{rel} {c} 1\n")
            laion_id += 1_000_003
    (folder / "retrieved_data.txt").write_text("".join(retrieved))
    # The round file: the retrieved list, then one labeled pool image per class (the last line
    # without a newline, as in some official files).
    rng = np.random.default_rng(seed)
    picks = [lines["ltrain"][c * POOL_PER_CLASS + int(rng.integers(POOL_PER_CLASS))] for c in range(len(AIRCRAFT))]
    body = "".join(retrieved) + "".join(picks)
    round_file = folder / f"TFS_FLYP_seed{seed}_round0.txt"
    round_file.write_text(body.rstrip("\n"))
    return {
        "folder": folder,
        "round_file": round_file,
        "picks": [p.split()[0] for p in picks],
        "n_retrieved": sum(RETRIEVED_PER_CLASS),
    }


def test_classnames_and_metrics_are_the_class_source(tmp_path):
    # No classes.csv: names from classnames.txt, synonyms and LAION counts from the metrics JSON.
    folder = build_official_folder(tmp_path)["folder"]
    assert not (folder / "classes.csv").exists()
    task = load_task(str(folder))
    assert task.classes.names == ["707-320", "727-200", "737-200", "737-300"]
    assert task.classes.synonyms[0][0] == "707-320" and "boeing 707" in task.classes.synonyms[0]
    assert task.meta["class_frequency"] == [1189, 1872, 465, 590]
    assert task.meta["class_source"] == ["classnames.txt", "aircraft_metrics-LAION400M.json"]
    assert task.meta["retrieved_list"] == str(folder / "retrieved_data.txt")
    assert (len(task.pool), len(task.val), len(task.test)) == (20, 8, 12)
    # check-data sees the same: both class files, the counts, the retrieved list and the round file.
    from alor_core.data.check import check_folder

    rep = check_folder(folder)
    assert rep.ok and rep.class_source == task.meta["class_source"] and rep.frequencies == [1189, 1872, 465, 590]
    assert rep.splits["retrieved_data.txt"]["images"] == 18 and rep.round_files == ["TFS_FLYP_seed666_round0.txt"]
    assert "LAION-400M caption counts: 465..1872" in rep.render()
    # The metrics JSON alone is enough too.
    (folder / "classnames.txt").unlink()
    assert load_class_source(folder).classes.names == task.classes.names


def test_classnames_txt_forms_and_errors(tmp_path):
    # Plain names, WordNet ids in front, class indices in front; a repeated name is named with both lines.
    f = tmp_path / "classnames.txt"
    f.write_text("\ufeff# comment\ngoldfish\n\ngreat white shark\n", encoding="utf-8")
    assert read_classnames_txt(f) == (["goldfish", "great white shark"], None)
    f.write_text("n01443537 goldfish\nn01491361 tiger shark\n")
    assert read_classnames_txt(f) == (["goldfish", "tiger shark"], ["n01443537", "n01491361"])
    f.write_text("0 goldfish\n1 tiger shark\n")
    assert read_classnames_txt(f)[0] == ["goldfish", "tiger shark"]
    f.write_text("2012 Acura RL\n2012 Audi A5\n")  # a year is not a class index: names kept whole
    assert read_classnames_txt(f)[0] == ["2012 Acura RL", "2012 Audi A5"]
    f.write_text("goldfish\ntiger shark\nGoldfish\n")
    with pytest.raises(DataError, match=re.escape(f"{f}:3: class name 'Goldfish' is already on line 1")):
        read_classnames_txt(f)
    f.write_bytes(b"goldfish\nca\xffrp\n")
    with pytest.raises(DataError, match=re.escape(f"{f}:2: the class name file is not UTF-8 text")):
        read_classnames_txt(f)


def test_classnames_and_metrics_must_agree(tmp_path):
    # classnames.txt with one class too many: both files and both counts are named.
    folder = build_official_folder(tmp_path)["folder"]
    with open(folder / "classnames.txt", "a") as fh:
        fh.write("737-400\n")
    with pytest.raises(DataError, match=r"classnames.txt lists 5 classes but aircraft_metrics-LAION400M.json has 4"):
        load_task(str(folder))


def test_round_file_name():
    # The official name gives strategy, adaptation (FLYP = CT, probing = LP) and seed.
    from alor_core.loop.import_round import settings_from_round_name

    assert parse_round_filename("TFS_FLYP_seed666_round0.txt") == {
        "method": "TFS",
        "adaptation": "FLYP",
        "seed": 666,
        "round": 0,
    }
    assert settings_from_round_name("TFS_FLYP_seed666_round0.txt") == {
        "strategy": "tfs",
        "adaptation": "ct",
        "seed": 666,
        "round": 0,
    }
    assert settings_from_round_name("badge_pcb_probing_seed777_round3.txt")["adaptation"] == "lp"
    assert parse_round_filename("data/x/badge_pcb_probing_seed777_round3.txt")["method"] == "badge_pcb"
    assert parse_round_filename("ltrain.txt") is None


def test_round_file_split_by_pool_membership(tmp_path):
    # Retrieved lines and labeled pool images are told apart by path; the labeled ones leave the pool by id.
    built = build_official_folder(tmp_path)
    task = load_task(str(built["folder"]))
    rf = read_round_file(built["round_file"], task)
    assert rf.name == {"method": "TFS", "adaptation": "FLYP", "seed": 666, "round": 0}
    assert rf.labeled.ids == built["picks"]
    assert rf.labeled.labels.tolist() == [0, 1, 2, 3]
    assert len(rf.retrieved) == built["n_retrieved"]
    assert all(i.startswith("retrieved_data/") for i in rf.retrieved.ids)
    assert np.bincount(rf.retrieved.labels).tolist() == list(RETRIEVED_PER_CLASS)
    assert len(rf.unlabeled) == len(task.pool) - 4 and not set(rf.unlabeled.ids) & set(built["picks"])
    assert rf.n_lines == built["n_retrieved"] + 4 and rf.skipped == []


def test_round_file_bad_lines_are_skipped_and_named(tmp_path):
    # A test image (would leak), a malformed line, an out-of-range label and a repeated line are
    # skipped with their line numbers; the rest imports. --strict stops at the first.
    built = build_official_folder(tmp_path)
    task = load_task(str(built["folder"]))
    test_image = task.test.ids[0]
    text = built["round_file"].read_text()
    first_retrieved = text.splitlines()[0]
    bad = text + f"\n{test_image} 0 1\nnot-a-line\nretrieved_data/0/1.0.jpg 9 1\n{first_retrieved}\n"
    built["round_file"].write_text(bad)
    n = len(text.splitlines())
    rf = read_round_file(built["round_file"], task)
    reasons = dict(rf.skipped)
    assert sorted(reasons) == [n + 1, n + 2, n + 3, n + 4]
    assert "is a test image of the task" in reasons[n + 1] and "leak" in reasons[n + 1]
    assert "expected '<path> <label> [<source>]'" in reasons[n + 2]
    assert "label 9 is out of range; expected 0..3" in reasons[n + 3]
    assert "is already on line 1" in reasons[n + 4]
    assert len(rf.labeled) == 4 and len(rf.retrieved) == built["n_retrieved"]
    with pytest.raises(DataError, match=re.escape(f"{built['round_file']}:{n + 1}: {test_image!r} is a test image")):
        read_round_file(built["round_file"], task, strict=True)


def test_import_round_cli_end_to_end(tmp_path, capsys):
    # import-round writes round-0 labels and the retrieved set; `run` then trains round 0 on exactly
    # those (4 labels + 18 retrieved: a planted byte copy of a test image among the retrieved lines is
    # dropped by the leakage guard) and never selects a labeled image again.
    built = build_official_folder(tmp_path / "data")
    folder, rf_path = built["folder"], built["round_file"]
    test_image = load_task(str(folder)).test.ids[0]
    (folder / "retrieved_data/0/77.0.jpg").write_bytes((folder / test_image).read_bytes())
    rf_path.write_text("retrieved_data/0/77.0.jpg 0 1\n" + rf_path.read_text())
    out = tmp_path / "output"
    args = ["--model", "alor_tiny_fm", "--output", str(out), "--threads", "1", "--quiet"]
    assert (
        main(
            [
                "import-round",
                str(built["round_file"]),
                "--dataset",
                str(built["folder"]),
                "--into",
                "official",
                "--adapt",
                "lp",
                *args,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        f"{built['n_retrieved'] + 5} lines -> {built['n_retrieved'] + 1} retrieved, 4 labeled task images, 0 skipped"
        in printed
    )
    assert "pool: 20 images, 4 labeled (removed by id) -> 16 unlabeled" in printed
    assert "707-320 1/9" in printed and "737-300 1/2" in printed
    assert "next: python -m alor_core run --dataset" in printed and "--strategy tfs --adapt lp --seeds 666" in printed
    session = Session.open(out / "official" / "seed666")
    labels = session.labels()
    assert list(labels["sample_id"]) == built["picks"]
    assert set(labels["round"]) == {0} and set(labels["source"]) == {"imported"}
    imported = (session.path / "retrieval" / "imported_retrieved.txt").read_text().splitlines()
    assert imported[0] == f"# imported from {built['round_file']}"
    assert len(imported) == 2 + built["n_retrieved"] and all(ln.startswith("retrieved_data/") for ln in imported[1:])
    assert session.config["strategy"] == "tfs" and session.config["adaptation"] == "lp"
    # Importing again is a no-op; a different round file into the same session is refused.
    assert (
        main(
            [
                "import-round",
                str(built["round_file"]),
                "--dataset",
                str(built["folder"]),
                "--into",
                "official",
                "--adapt",
                "lp",
                *args,
            ]
        )
        == 0
    )
    assert "already imported" in capsys.readouterr().out
    other = built["folder"] / "TFS_FLYP_seed666_round1.txt"
    other.write_text(built["round_file"].read_text() + "\n" + load_task(str(built["folder"])).pool.ids[1] + " 0 1\n")
    assert (
        main(
            [
                "import-round",
                str(other),
                "--dataset",
                str(built["folder"]),
                "--into",
                "official",
                "--adapt",
                "lp",
                *args,
            ]
        )
        == 2
    )
    assert "already has 4 labels that are not this round file's 5" in capsys.readouterr().err
    # The run resumes the imported session: round 0 trains on exactly the imported labels and
    # retrieved images, and round 0's picks are never the labeled ones.
    assert (
        main(
            [
                "run",
                "--dataset",
                str(built["folder"]),
                "--strategy",
                "tfs",
                "--adapt",
                "lp",
                "--seeds",
                "666",
                "--name",
                "official",
                "--rounds",
                "2",
                *args,
            ]
        )
        == 0
    )
    m0 = session.metrics(0)
    counts = json.loads((session.path / "retrieval" / "counts.json").read_text())
    assert counts["stats"]["imported_from"] == str(built["round_file"])
    assert counts["stats"]["leakage"]["guard"] is not False  # the imported set went through the leakage guard
    kept = [c["kept"] for c in counts["counts"]]
    assert kept == list(RETRIEVED_PER_CLASS) and counts["stats"]["leakage"]["same_bytes"] == 1
    assert m0["n_labeled"] == 4 and m0["n_retrieved"] == built["n_retrieved"]
    assert m0["labeled_per_class"] == [1, 1, 1, 1]
    picks = set(session.selected(0)["sample_id"])
    assert len(picks) == 4 and not picks & set(built["picks"])
    assert session.metrics(1)["n_labeled"] == 8


def test_round_file_without_run_settings_in_its_name(tmp_path, capsys):
    # A renamed round file needs --strategy and --seed: the message says so.
    built = build_official_folder(tmp_path)
    renamed = built["round_file"].with_name("my_round.txt")
    built["round_file"].rename(renamed)
    assert (
        main(["import-round", str(renamed), "--dataset", str(built["folder"]), "--output", str(tmp_path / "out")]) == 2
    )
    assert (
        "'my_round.txt' is not <METHOD>_<ADAPT>_seed<k>_round<r>.txt; pass --strategy and --seed"
        in capsys.readouterr().err
    )


def test_importer_commands(tmp_path, capsys):
    # import-list and import-metrics expose the SWAT/ALOR importers; import-metrics writes a classes.csv
    # that loads back with the same names and synonyms.
    built = build_official_folder(tmp_path)
    folder = built["folder"]
    assert (
        main(
            [
                "import-list",
                str(folder / "retrieved_data.txt"),
                "--dataset",
                str(folder),
                "--counts-json",
                str(tmp_path / "counts.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{built['n_retrieved']} retrieved images for 4 classes" in out
    assert json.loads((tmp_path / "counts.json").read_text()) == {"0": 8, "1": 5, "2": 3, "3": 2}
    metrics = folder / "aircraft_metrics-LAION400M.json"
    assert (
        main(
            [
                "import-metrics",
                str(metrics),
                "--classes-csv",
                str(tmp_path / "cls" / "classes.csv"),
                "--class-frequency",
                str(tmp_path / "freq.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "4 classes" in out and "LAION-400M count 1189" in out
    from alor_core.data import read_classes_csv

    back = read_classes_csv(tmp_path / "cls" / "classes.csv")
    assert back.names == ["707-320", "727-200", "737-200", "737-300"] and "boeing 707" in back.synonyms[0]
    assert list(json.loads((tmp_path / "freq.json").read_text())) == ["1", "0", "3", "2"]


def test_export_img2dataset_command(tmp_path, capsys):
    # Captions naming a class or a synonym are exported as a URL parquet; the img2dataset command is printed.
    folder = build_official_folder(tmp_path)["folder"]
    table = tmp_path / "laion_part.parquet"
    pd.DataFrame(
        {
            "SAMPLE_ID": [1, 2, 3, 4],
            "URL": [f"https://example.org/{i}.jpg" for i in range(4)],
            "TEXT": ["Boeing 707 at Heathrow", "a b727 on approach", "a red bicycle", None],
            "WIDTH": [640] * 4,
            "HEIGHT": [480] * 4,
        }
    ).to_parquet(table)
    assert (
        main(["export-img2dataset", str(table), "--dataset", str(folder), "--out", str(tmp_path / "urls.parquet")]) == 0
    )
    out = capsys.readouterr().out
    urls = pd.read_parquet(tmp_path / "urls.parquet")
    assert sorted(urls["url"]) == ["https://example.org/0.jpg", "https://example.org/1.jpg"]
    assert "img2dataset --url_list" in out and "no caption names 2 classes: 737-200, 737-300" in out


def test_idlike_names_in_split_files_warn(tmp_path):
    # classnames.txt with bare WordNet ids: the prompts would be meaningless, the warning says how to fix it.
    built = build_official_folder(tmp_path)
    (built["folder"] / "aircraft_metrics-LAION400M.json").unlink()
    (built["folder"] / "classnames.txt").write_text("n02690373\nn02691156\nn04552348\nn02692877\n")
    with pytest.warns(DataWarning, match=r"4 of 4 class names .* look like ids .*Fix: put a classnames.txt"):
        task = load_task(str(built["folder"]))
    assert "look like ids" in task.meta["warnings"][0]


def test_wrong_round_file_dataset_is_refused(tmp_path):
    # A round file of another dataset: no line is a pool image of this one, so everything would be
    # "retrieved" -- labels out of range are skipped and an empty result is an error naming the file.
    a = build_official_folder(tmp_path / "a")
    other = tmp_path / "other.txt"
    other.write_text("x.jpg 17 1\ny.jpg 18 1\n")
    task = load_task(str(a["folder"]))
    with pytest.raises(
        DataError,
        match=re.escape(f"{other}: no usable line (2 read, 2 skipped: label 17 is out of range; expected 0..3)"),
    ):
        read_round_file(other, task)
