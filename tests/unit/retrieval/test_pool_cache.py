"""Content-keyed caches: a converted retrieval source is reused only while its files are unchanged
(a caption added or edited converts it again), and image features are recomputed when an image file
is replaced under the same name."""

import os

import numpy as np
from PIL import Image

from alor_core.data import ClassInfo
from alor_core.data.datasets import ImageSet
from alor_core.retrieval import local_sources
from alor_core.retrieval.local_sources import as_captions_table, source_stamp
from alor_core.retrieval.rda import retrieve

CLASSES = ClassInfo(["apple", "banana"], [["apple"], ["banana"]])


def _photo(path, colour, size=64):
    Image.new("RGB", (size, size), colour).save(path)


def _pool(folder):
    folder.mkdir()
    for i in range(3):
        _photo(folder / f"a{i}.png", (200, 20 * i, 20))
        (folder / f"a{i}.txt").write_text(f"an apple, shot {i}")
    _photo(folder / "b0.png", (230, 220, 40))
    (folder / "b0.txt").write_text("a ripe banana")
    _photo(folder / "uncaptioned.png", (0, 0, 0))
    return folder


def _converted(monkeypatch):
    calls = []
    real = local_sources._convert_source
    monkeypatch.setattr(local_sources, "_convert_source", lambda s, o: calls.append(s) or real(s, o))
    return calls


def test_pool_folder_cache_is_invalidated_by_a_new_or_edited_caption(tmp_path, monkeypatch, random_bundle):
    pool = _pool(tmp_path / "pool")
    cache = tmp_path / "cache" / "captions" / "k"
    calls = _converted(monkeypatch)
    table = as_captions_table(pool, cache)
    rs = retrieve(random_bundle, CLASSES, table, k=50)
    assert [c["matched"] for c in rs.counts] == [3, 1]
    assert as_captions_table(pool, cache) == table and len(calls) == 1  # unchanged: reused
    # the user captions the uncaptioned image: the next run sees it
    (pool / "uncaptioned.txt").write_text("green banana")
    assert as_captions_table(pool, cache) == table and len(calls) == 2
    assert [c["matched"] for c in retrieve(random_bundle, CLASSES, table, k=50).counts] == [3, 2]
    # an edited caption (same file name; the size changes) is noticed too
    (pool / "a0.txt").write_text("a banana after all")
    as_captions_table(pool, cache)
    assert len(calls) == 3
    assert [c["matched"] for c in retrieve(random_bundle, CLASSES, table, k=50).counts] == [2, 3]


def test_source_stamp_changes_with_content_only(tmp_path):
    pool = _pool(tmp_path / "pool")
    s1 = source_stamp(pool)
    assert source_stamp(pool) == s1
    st = os.stat(pool / "b0.txt")
    (pool / "b0.txt").write_text("a ripe banana")  # same text, rewritten ...
    os.utime(pool / "b0.txt", ns=(st.st_atime_ns, st.st_mtime_ns))  # ... with the old mtime: same content key
    assert source_stamp(pool) == s1
    os.utime(pool / "b0.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert source_stamp(pool) != s1
    csv = tmp_path / "pairs.csv"
    csv.write_text("path,caption\npool/a0.png,an apple\n")
    s_csv = source_stamp(csv)
    with open(csv, "a") as fh:
        fh.write("pool/b0.png,a banana\n")
    assert source_stamp(csv) != s_csv
    assert source_stamp(tmp_path / "missing") is None


def test_an_older_cache_without_a_stamp_is_converted_again(tmp_path, monkeypatch):
    pool = _pool(tmp_path / "pool")
    cache = tmp_path / "cache"
    as_captions_table(pool, cache)
    (cache / local_sources.SOURCE_STAMP).unlink()  # what an earlier version left behind
    calls = _converted(monkeypatch)
    as_captions_table(pool, cache)
    assert len(calls) == 1 and (cache / local_sources.SOURCE_STAMP).is_file()


def test_features_are_recomputed_when_an_image_is_replaced(tmp_path, random_bundle):
    from alor_core.models.features import encode_images, feature_cache_key

    folder = tmp_path / "imgs"
    folder.mkdir()
    _photo(folder / "x.png", (255, 0, 0))
    _photo(folder / "y.png", (0, 0, 255))
    images = ImageSet(["x.png", "y.png"], folder, np.array([0, 1]))
    key, first = feature_cache_key(random_bundle, images), encode_images(random_bundle, images)
    assert np.allclose(encode_images(random_bundle, images), first)  # from the cache
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "x.png")
    assert feature_cache_key(random_bundle, images) != key
    again = encode_images(random_bundle, images)
    assert not np.allclose(again[0], first[0]) and np.allclose(again[1], first[1])


def test_a_rerun_after_adding_a_caption(tmp_path, capsys):
    # The same command again resumes the session: it keeps its retrieval and says the source changed;
    # a new run (another --name) retrieves from the new captions.
    import json

    from alor_core.cli import main

    task = tmp_path / "task"
    for split in ("train", "test"):
        for c, colour in (("apple", (200, 30, 30)), ("banana", (230, 220, 40))):
            (task / split / c).mkdir(parents=True)
            for i in range(2):
                _photo(task / split / c / f"{c}{i}.png", (colour[0], colour[1], 40 * i + 5))
    pool = _pool(tmp_path / "pool")
    base = [
        "run",
        "--dataset",
        str(task),
        "--retrieval-source",
        str(pool),
        "--model",
        "alor_tiny_fm",
        "--adapt",
        "zeroshot",
        "--strategy",
        "random",
        "--rounds",
        "1",
        "--budget",
        "1",
        "--min-side",
        "0",
        "--quiet",
        "--output",
        str(tmp_path / "out"),
        "--no-leakage-guard",
    ]  # plain colour squares: near-duplicates of the plain test squares

    def matched(name):
        meta = json.loads((tmp_path / "out" / name / "seed1" / "retrieval" / "counts.json").read_text())
        return [c["matched"] for c in meta["counts"]]

    assert main(base + ["--name", "first"]) == 0
    assert matched("first") == [3, 1] and "source changed" not in capsys.readouterr().err
    (pool / "uncaptioned.txt").write_text("green banana")
    assert main(base + ["--name", "first"]) == 0
    assert matched("first") == [3, 1] and "the retrieval source changed after this session" in capsys.readouterr().err
    assert main(base + ["--name", "second"]) == 0
    assert matched("second") == [3, 2]
