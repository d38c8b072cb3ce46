"""Every retrieval filter reports what it removed per class (too small, image missing, other class, cap K,
listed twice), matched - removed = kept, the CLI summary prints it, and count-only retrieval of a
metadata table whose images are web addresses gives the per-class counts without any download."""

import json
import socket

import pandas as pd
import pytest
from PIL import Image

from alor_core.data import ClassInfo
from alor_core.retrieval.filters import FILTERS, filter_table, format_summary
from alor_core.retrieval.rda import retrieve

CLASSES = ClassInfo(["apple", "banana"], [["apple"], ["banana"]])


def _img(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (size % 256, 80, 160)).save(path)


def _table(tmp_path, row_group_size=None):
    """A LAION-layout table with rows aimed at each filter; returns (path, expected removed per class)."""
    rows = []

    def add(url, text, side, make=True):
        if make:
            _img(tmp_path / url, side)
        rows.append({"URL": url, "TEXT": text, "WIDTH": side, "HEIGHT": side // 2})

    for i in range(6):  # apple: 6 good ones, cap K=4 removes 2
        add(f"img/apple{i}.png", f"a red apple number {i}", 100 + i)
    for i in range(2):  # apple: 2 too small (longer side 50 < 81)
        add(f"img/apple_small{i}.png", "tiny apple", 50)
    add("img/apple_gone.png", "an apple photo", 120, make=False)  # apple: image missing
    for i in range(3):  # banana: 3 good ones
        add(f"img/banana{i}.png", f"yellow banana {i}", 150)
    add("img/banana_small.png", "banana icon", 60)  # banana: too small
    add("img/both.png", "apple and banana", 140)  # matched by both: one class loses it
    rows.append({"URL": "img/banana0.png", "TEXT": "banana again", "WIDTH": 150, "HEIGHT": 75})  # listed twice
    add("img/none.png", "", 140)  # empty caption: no class
    add("img/other.png", "a pear", 140)  # names no class
    path = tmp_path / "captions.parquet"
    pd.DataFrame(rows).to_parquet(path, row_group_size=row_group_size)
    return path


@pytest.mark.parametrize("row_group_size", [None, 3])
def test_per_class_filter_counts_add_up(tmp_path, random_bundle, row_group_size):
    rs = retrieve(random_bundle, CLASSES, _table(tmp_path, row_group_size), k=5, min_side=81)
    apple, banana = (c["removed"] for c in rs.counts)
    x = apple["cross_class"]  # 'both' went to banana (1) or apple (0)
    assert x + banana["cross_class"] == 1
    assert (apple["too_small"], apple["missing_image"], apple["cap"]) == (2, 1, 2 - x)
    assert (banana["too_small"], banana["missing_image"], banana["cap"]) == (1, 0, 0)
    assert banana["duplicate"] == 1 and apple["duplicate"] == 0  # banana0 listed twice, kept once
    assert [c["matched"] for c in rs.counts] == [10, 6] and [c["kept"] for c in rs.counts] == [5, 3 + x]
    for c in rs.counts:
        assert c["matched"] - sum(c["removed"].values()) == c["kept"]
    assert rs.kept_per_class(2).tolist() == [c["kept"] for c in rs.counts]
    assert rs.stats["too_small"] == 3 and rs.stats["min_side"] == 81 and rs.stats["empty_captions"] == 1
    table = filter_table(rs.counts)
    assert list(table.columns) == ["class_name", "matched", *FILTERS, "kept", "pool_copies"]
    text = format_summary({"counts": rs.counts, "stats": rs.stats})
    apple_line = next(ln for ln in text.splitlines() if ln.strip().startswith("apple"))
    assert apple_line.split()[1:4] == [str(rs.counts[0]["matched"]), "2", "1"]  # matched, too small, missing
    assert "too small" in text and "image missing" in text and "over cap K" in text
    assert "1 empty caption" in text and "leakage guard: OFF" in text


def test_min_side_zero_keeps_small_images_and_csv_tables_work(tmp_path, random_bundle):
    path = _table(tmp_path)
    csv = tmp_path / "captions.csv"
    pd.read_parquet(path).to_csv(csv, index=False)
    rs0 = retrieve(random_bundle, CLASSES, path, k=50, min_side=0)
    assert all(c["removed"]["too_small"] == 0 for c in rs0.counts)
    assert {"img/apple_small0.png", "img/banana_small.png"} <= set(rs0.items["id"])
    rs_csv = retrieve(random_bundle, CLASSES, csv, k=50, min_side=81)
    assert [c["removed"]["too_small"] for c in rs_csv.counts] == [2, 1]


def _laion_metadata(tmp_path, n_apple=7, n_banana=2):
    rows = [
        {"URL": f"https://images.example.org/a{i}.jpg", "TEXT": f"fresh apple {i}", "WIDTH": 300, "HEIGHT": 200}
        for i in range(n_apple)
    ]
    rows += [
        {"URL": f"http://cdn.example.com/b{i}.jpg", "TEXT": f"banana split {i}", "WIDTH": 300, "HEIGHT": 200}
        for i in range(n_banana)
    ]
    rows.append({"URL": "https://images.example.org/x.jpg", "TEXT": "a pear", "WIDTH": 300, "HEIGHT": 200})
    path = tmp_path / "laion_meta.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def _no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("retrieval tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_count_only_retrieval_of_web_urls(tmp_path, random_bundle, monkeypatch):
    _no_network(monkeypatch)
    rs = retrieve(random_bundle, CLASSES, _laion_metadata(tmp_path), k=5, min_side=81)
    assert rs.stats["count_only"] and not len(rs.items)
    assert [c["matched"] for c in rs.counts] == [7, 2] and [c["kept"] for c in rs.counts] == [0, 0]
    assert [c["removed"]["missing_image"] for c in rs.counts] == [7, 2]
    assert "img2dataset" in rs.stats["count_only_note"] and "Training needs the images" in rs.stats["count_only_note"]
    assert len(rs.unfetched) == 9 and set(rs.unfetched["label"]) == {0, 1}


def test_cli_count_only_writes_counts_and_the_url_list_then_stops(tmp_path, monkeypatch, capsys):
    # A run on a metadata-only table: exit 2 with what to do, counts.json (the bias view) and the
    # img2dataset URL list in the session; no download attempted.
    from alor_core.cli import main
    from alor_core.data.imagefolder import load_imagefolder  # noqa: F401  (the task below is an ImageFolder)

    _no_network(monkeypatch)
    task = tmp_path / "task"
    for split in ("train", "test"):
        for c in ("apple", "banana"):
            for i in range(2):
                _img(task / split / c / f"{c}{split}{i}.png", 90 + i)
    out = tmp_path / "out"
    rc = main(
        [
            "run",
            "--dataset",
            str(task),
            "--retrieval-source",
            str(_laion_metadata(tmp_path)),
            "--model",
            "alor_tiny_fm",
            "--rounds",
            "1",
            "--budget",
            "1",
            "--quiet",
            "--output",
            str(out),
            "--name",
            "meta",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "count-only retrieval: none of the 9 matched images is a local file" in err
    assert "Training needs the images" in err and "img2dataset --url_list" in err
    assert "COUNT ONLY" in err and "retrieval: 0 images kept of 9 caption matches" in err
    session = out / "meta" / "seed1"
    meta = json.loads((session / "retrieval" / "counts.json").read_text())
    assert meta["stats"]["count_only"] and [c["matched"] for c in meta["counts"]] == [7, 2]
    urls = pd.read_parquet(session / "retrieval" / "img2dataset_urls.parquet")
    assert len(urls) == 9 and urls["url"].str.startswith("http").all()
    assert json.loads((session / "status.json").read_text())["state"] == "failed"


def test_a_run_whose_filters_remove_everything_says_which(tmp_path, capsys):
    # Every matched image is below --min-side: the run stops naming the size filter and its count,
    # not with "no caption names a class".
    from alor_core.cli import main

    task, pool = tmp_path / "task", tmp_path / "pool"
    for split in ("train", "test"):
        for c in ("apple", "banana"):
            for i in range(2):
                _img(task / split / c / f"{c}{split}{i}.png", 90 + i)
    for i in range(3):
        _img(pool / f"p{i}.png", 64)
        (pool / f"p{i}.txt").write_text("an apple" if i else "a banana")
    rc = main(
        [
            "run",
            "--dataset",
            str(task),
            "--retrieval-source",
            str(pool),
            "--model",
            "alor_tiny_fm",
            "--rounds",
            "1",
            "--budget",
            "1",
            "--quiet",
            "--min-side",
            "200",
            "--output",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "RDA matched 3 captions" in err and "too small: 3" in err and "--min-side" in err
