"""Skip, name, continue: a folder (or pool) with hostile files next to good ones loads the good ones
and reports each bad one with its path relative to the folder given and its reason."""

import io
import json
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

from alor_core.data import load_task
from alor_core.data.images import ImageProblem
from alor_core.data.skips import SkipReport, add_table_skips, read_skip_report, summary_lines, write_skip_report
from alor_core.errors import DataError

# file name -> reason, for the hostile files planted in every class folder of hostile_tree()
HOSTILE = {
    "empty.png": "zero-bytes",
    "notes.png": "not-an-image",
    "cut.jpg": "truncated",
    "moved.png": "dangling-symlink",
    "._holiday.png": "appledouble",
    "poster.png": "too-many-pixels",
    "half.png": "truncated",
}
# good files that need the decoder's care (transparency, EXIF, 16 bit, palette, CMYK): all load
TRICKY = ("cutout.png", "phone.jpg", "scan16.png", "palette.png", "print.jpg")


def _photo(seed, size=(24, 24)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size[::-1], 3), np.uint8))


def _bytes(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def plant_hostile(folder, seed=0):
    """The hostile files of HOSTILE and the tricky good files of TRICKY in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("shopping list: milk, eggs\n")
    jpg = _bytes(_photo(seed), "JPEG")
    (folder / "cut.jpg").write_bytes(jpg[: len(jpg) * 2 // 3])
    (folder / "moved.png").symlink_to(folder / "was_here.png")
    (folder / "._holiday.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 60)
    Image.new("1", (20000, 9000)).save(folder / "poster.png")  # 180 Mpx, 22 kB
    png = _bytes(_photo(seed + 1), "PNG")
    (folder / "half.png").write_bytes(png[: len(png) // 2])
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[6:18, 6:18] = (200, 30, 30, 255)
    Image.fromarray(rgba, "RGBA").save(folder / "cutout.png")
    phone = _photo(seed + 2, (30, 20))
    exif = phone.getexif()
    exif[0x0112] = 6
    phone.save(folder / "phone.jpg", exif=exif)
    Image.fromarray((np.arange(576).reshape(24, 24) * 100).astype(np.uint16)).save(folder / "scan16.png")
    pal = Image.new("P", (24, 24), 1)
    pal.putpalette([0, 0, 0, 40, 90, 200] + [0] * 762)
    pal.save(folder / "palette.png", transparency=0)
    Image.new("CMYK", (24, 24), (0, 200, 200, 0)).save(folder / "print.jpg", "JPEG")


def hostile_tree(root, classes=("cat", "dog"), n_good=6):
    """An ImageFolder tree: per class ``n_good`` plain photos, the TRICKY ones and the HOSTILE ones."""
    for c, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True)
        for i in range(n_good):
            _photo(100 * c + i).save(d / f"{i}.png")
        plant_hostile(d, seed=10 * c)
    return root


def test_imagefolder_with_hostile_files_loads_the_good_ones(tmp_path):
    # 2 classes x (6 plain + 5 tricky + 7 hostile) = 36 files found, 22 loaded, 14 skipped, each
    # named relative to the folder given with its reason.
    root = hostile_tree(tmp_path / "photos")
    task = load_task(str(root))
    report = task.meta["skips"]
    counts = report.counts()
    assert sum(c["found"] for c in counts.values()) == 36
    assert sum(c["loaded"] for c in counts.values()) == len(task.pool) + len(task.test) == 22
    assert len(report.skips) == 14
    for c in counts.values():
        assert c["loaded"] + c["skipped"] == c["found"]
    got = {s.path: s.reason for s in report.skips}
    assert got == {f"{c}/{name}": reason for c in ("cat", "dog") for name, reason in HOSTILE.items()}
    kept = set(task.pool.ids) | set(task.test.ids)
    assert {f"cat/{n}" for n in TRICKY} <= kept and {f"dog/{i}.png" for i in range(6)} <= kept
    poster = next(s for s in report.skips if s.path == "cat/poster.png")
    assert "180,000,000" in poster.detail and "89,478,485" in poster.detail
    moved = next(s for s in report.skips if s.path == "dog/moved.png")
    assert "was_here.png" in moved.detail


def test_strict_stops_at_the_first_bad_file_with_a_clean_message(tmp_path):
    root = hostile_tree(tmp_path / "photos", classes=("cat",))
    with pytest.raises(DataError) as info:
        load_task(str(root), strict=True)
    assert isinstance(info.value, ImageProblem)
    assert str(info.value).startswith("image file 'cat/") and info.value.reason in HOSTILE.values()


def test_split_files_skip_missing_and_broken_images(tmp_path):
    # The ALOR/SWAT layout: listed images that are missing or broken are skipped per split.
    root = tmp_path / "task"
    (root / "img").mkdir(parents=True)
    for i in range(4):
        _photo(i).save(root / "img" / f"{i}.png")
    plant_hostile(root / "img")
    (root / "classes.csv").write_text("class_id,class_name,synonyms\n0,cat,\n1,dog,\n")
    (root / "ltrain.txt").write_text(
        "img/0.png 0 1\nimg/1.png 1 1\nimg/empty.png 0 1\nimg/gone.png 1 1\nimg/cutout.png 0 1\n"
    )
    (root / "test.txt").write_text("img/2.png 0 1\nimg/3.png 1 1\nimg/cut.jpg 1 1\n")
    task = load_task(str(root))
    report = task.meta["skips"]
    assert task.pool.ids == ["img/0.png", "img/1.png", "img/cutout.png"]
    assert task.pool.labels.tolist() == [0, 1, 0]
    assert task.test.ids == ["img/2.png", "img/3.png"]
    assert [(s.source, s.path, s.reason) for s in report.skips] == [
        ("pool", "img/empty.png", "zero-bytes"),
        ("pool", "img/gone.png", "missing"),
        ("test", "img/cut.jpg", "truncated"),
    ]
    assert report.counts()["pool"] == {"root": str(root), "found": 5, "loaded": 3, "skipped": 2}


def test_report_is_written_atomically_and_merged_per_source(tmp_path):
    # skipped.csv + loaded.json in the session; a later write without a source keeps its rows.
    r = SkipReport()
    r.add_found("pool", 3, "/data")
    r.skip("pool", ImageProblem("a/x.png", "zero-bytes", "is empty (0 bytes); expected an image"))
    r.add_found("retrieval source", 5, "/pool")
    r.skip("retrieval source", ImageProblem("s.tar", "unreadable-shard", "(webdataset shard) cannot be read"))
    info = write_skip_report(tmp_path, r)
    assert (info["found"], info["loaded"], info["skipped"]) == (8, 6, 2)
    assert not list(tmp_path.glob("*.tmp"))
    again = SkipReport()
    again.add_found("pool", 3, "/data")  # resumed run: pool checked again, retrieval reused
    info = write_skip_report(tmp_path, again)
    assert [row["source"] for row in info["skipped_rows"]] == ["retrieval source"]
    assert info["sources"]["pool"]["skipped"] == 0 and info["loaded"] == 7
    lines = summary_lines(tmp_path)
    assert lines[0] == f"loaded 7 images, skipped 1 (see {tmp_path / 'skipped.csv'})"
    assert lines[1] == "  skipped retrieval source: s.tar (webdataset shard) cannot be read"


def _shard(path, samples):
    with tarfile.open(path, "w") as tar:
        for key, (img, caption) in samples.items():
            for ext, data in ((".png", img), (".txt", caption.encode())):
                info = tarfile.TarInfo(key + ext)
                info.size, info.mtime = len(data), time.time()
                tar.addfile(info, io.BytesIO(data))


def test_webdataset_brace_pattern_with_a_truncated_shard(tmp_path):
    # shards-{000000..000002}.tar: 000000 good (one sample's image is a text file), 000001 cut in
    # half, 000002 missing. The good samples are converted; each bad unit is reported by name.
    from alor_core.retrieval.local_sources import as_captions_table
    import pandas as pd

    good = {f"s{i}": (_bytes(_photo(i, (96, 96)), "PNG"), f"a photo of a cat {i}") for i in range(3)}
    good["s9"] = (b"<html>not found</html>", "a cat")
    _shard(tmp_path / "shards-000000.tar", good)
    _shard(tmp_path / "big.tar", {f"t{i}": (_bytes(_photo(50 + i, (96, 96)), "PNG"), "a dog") for i in range(4)})
    data = (tmp_path / "big.tar").read_bytes()
    (tmp_path / "shards-000001.tar").write_bytes(data[: len(data) // 2])
    (tmp_path / "big.tar").unlink()
    table = as_captions_table(str(tmp_path / "shards-{000000..000002}.tar"), tmp_path / "table")
    df = pd.concat(pd.read_parquet(p) for p in sorted(table.glob("part-*.parquet")))
    assert sorted(df["TEXT"]) == ["a photo of a cat 0", "a photo of a cat 1", "a photo of a cat 2"]
    report = add_table_skips(SkipReport(), table)
    got = {s.path: s.reason for s in report.skips}
    assert got == {
        str(tmp_path / "shards-000000.tar") + ":s9.png": "not-an-image",
        str(tmp_path / "shards-000001.tar"): "unreadable-shard",
        str(tmp_path / "shards-000002.tar"): "missing",
    }
    unreadable = next(s for s in report.skips if s.reason == "unreadable-shard")
    assert "ReadError" in unreadable.detail or "EOF" in unreadable.detail
    c = report.counts()["retrieval source"]
    assert c["found"] == 4 + 2 and c["loaded"] == 3 == c["found"] - c["skipped"]
    with pytest.raises(ImageProblem, match="s9.png"):
        add_table_skips(SkipReport(strict=True), table)
    with pytest.raises(DataError, match=r"none of the 2 shards it names exists"):
        as_captions_table(str(tmp_path / "other-{0..1}.tar"), tmp_path / "t2")


def test_caption_folder_pool_skips_hostile_images(tmp_path):
    # A folder of images + .txt captions: hostile images are left out of the table and reported.
    from alor_core.retrieval.local_sources import from_image_folder

    pool = tmp_path / "pool"
    plant_hostile(pool)
    for i in range(3):
        _photo(i).save(pool / f"ok{i}.png")
        (pool / f"ok{i}.txt").write_text("a red cat")
    out, counts = from_image_folder(pool, tmp_path / "table")
    report = add_table_skips(SkipReport(), out)
    assert counts["rows"] == 3 + len(TRICKY) and len(report.skips) == len(HOSTILE)
    assert {s.path: s.reason for s in report.skips} == HOSTILE
    assert json.loads((out / "_skipped.json").read_text())["found"] == 3 + len(TRICKY) + len(HOSTILE)


def test_failure_recorded_covers_every_exception(tmp_path):
    # A tarfile error (not an AlorError nor an OSError) and Ctrl-C both leave the session out of
    # "preparing": failed with the error, or stopped.
    from alor_core.loop.rounds import _failure_recorded
    from alor_core.loop.session import Session

    s = Session(tmp_path)
    s.write_status(state="preparing")
    with pytest.raises(tarfile.ReadError):
        with _failure_recorded(s):
            raise tarfile.ReadError("unexpected end of data")
    assert s.status()["state"] == "failed" and s.status()["error"] == "unexpected end of data"
    with pytest.raises(KeyboardInterrupt):
        with _failure_recorded(s):
            raise KeyboardInterrupt
    assert s.status()["state"] == "stopped"


def test_brace_pattern_table_is_reused_until_a_shard_changes(tmp_path):
    # The converted table of shards-{0..1}.tar is keyed by every shard it names: reused as long as
    # they are unchanged, converted again when a missing shard appears.
    from alor_core.retrieval.local_sources import as_captions_table
    import pandas as pd

    _shard(tmp_path / "shards-0.tar", {"a": (_bytes(_photo(1, (96, 96)), "PNG"), "a cat")})
    pattern, out = str(tmp_path / "shards-{0..1}.tar"), tmp_path / "table"
    part = as_captions_table(pattern, out) / "part-00000.parquet"
    first = part.stat().st_mtime_ns
    assert as_captions_table(pattern, out) == out and part.stat().st_mtime_ns == first  # reused
    assert [s.reason for s in add_table_skips(SkipReport(), out).skips] == ["missing"]
    _shard(tmp_path / "shards-1.tar", {"b": (_bytes(_photo(2, (96, 96)), "PNG"), "a dog")})
    as_captions_table(pattern, out)
    assert sorted(pd.read_parquet(part)["TEXT"]) == ["a cat", "a dog"]
    assert add_table_skips(SkipReport(), out).skips == []


def test_dashboard_task_leaves_out_what_the_run_skipped(tmp_path):
    # analysis.session_task loads the folder again and drops the images the session's skipped.csv
    # lists (also those found only while encoding), so the dashboard sees the run's pool and test.
    from alor_core.analysis import session_task
    from alor_core.io import atomic_write_json
    from alor_core.loop.session import Session

    root = hostile_tree(tmp_path / "photos", n_good=4)
    task = load_task(str(root))
    report = task.meta["skips"]
    damaged = task.pool.ids[0]  # as if its pixels had failed to decode during the run
    report.skip("pool", ImageProblem(damaged, "corrupt", "is corrupt or not an image (broken data stream)"))
    sdir = tmp_path / "out" / "seed1"
    atomic_write_json(sdir / "config.json", {"dataset": str(root)})
    write_skip_report(sdir, report)
    again = session_task(Session(sdir))
    assert again.pool.ids == task.pool.ids[1:] and again.test.ids == task.test.ids


def test_images_failing_while_encoding_are_dropped_and_reported(tmp_path, random_bundle):
    # _encode_usable: a pool image damaged inside (passes the header check) leaves the pool and its
    # feature row; a retrieved image of a pool used as it is (never checked: here zero bytes) leaves
    # the retrieved set; both are in the session's skipped.csv; strict raises instead.
    import dataclasses

    import pandas as pd

    from alor_core.config import RunConfig
    from alor_core.data import ClassInfo, ImageSet, TaskData
    from alor_core.loop.rounds import _encode_usable
    from alor_core.retrieval.rda import RetrievedSet
    from tests.unit.data.test_images import _corrupt_idat_png

    (tmp_path / "img").mkdir()
    for i in range(5):
        _photo(i).save(tmp_path / "img" / f"{i}.png")
    _corrupt_idat_png(tmp_path / "img" / "bad.png")
    (tmp_path / "img" / "empty.png").write_bytes(b"")
    pool = ImageSet(["img/0.png", "img/bad.png", "img/1.png"], tmp_path, np.array([0, 1, 1]))
    test = ImageSet(["img/2.png", "img/3.png"], tmp_path, np.array([0, 1]))
    task = TaskData("t", ClassInfo(["cat", "dog"], [["cat"], ["dog"]]), pool, test)
    items = pd.DataFrame(
        {
            "id": ["img/4.png", "img/empty.png"],
            "label": [0, 1],
            "synonym": "",
            "score": 1.0,
            "caption": ["a cat", "a dog"],
        }
    )
    retrieved = RetrievedSet(items, tmp_path, [{"name": n, "matched": 1, "kept": 1} for n in ("cat", "dog")], {})
    session = tmp_path / "session"
    config = RunConfig(dataset=str(tmp_path), model_name="alor_tiny_fm")
    feats, kept = _encode_usable(
        type("S", (), {"path": session})(), config, task, random_bundle, retrieved=dataclasses.replace(retrieved)
    )
    assert task.pool.ids == ["img/0.png", "img/1.png"] and feats.shape[0] == 2 and np.isfinite(feats).all()
    assert kept.items["id"].tolist() == ["img/4.png"] and kept.kept_per_class(2).tolist() == [1, 0]
    info = read_skip_report(session)
    assert [(r["source"], r["path"], r["reason"]) for r in info["skipped_rows"]] == [
        ("pool", "img/bad.png", "corrupt"),
        ("retrieved", "img/empty.png", "zero-bytes"),
    ]
    assert info["sources"]["retrieved"]["found"] == 2 and info["loaded"] == 2 + 2 + 1
    task.pool = pool
    with pytest.raises(ImageProblem, match="bad.png"):
        _encode_usable(
            type("S", (), {"path": session})(),
            dataclasses.replace(config, strict=True),
            TaskData("t", task.classes, pool, test),
            random_bundle,
        )
