import io
import tarfile

import pandas as pd
import pytest
from PIL import Image

from alor_core.errors import DataError
from alor_core.retrieval import (
    export_for_img2dataset,
    from_caption_file,
    from_image_folder,
    from_img2dataset,
    from_webdataset,
    img2dataset_command,
    match_captions,
    match_captions_duckdb,
)


def _png(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 10, 10)).save(path)


def test_caption_folder_counts_non_utf8_and_missing_captions(tmp_path):
    # Sidecar .txt captions: latin-1 bytes -> non_utf8, missing/blank -> empty; URLs point at the images.
    src = tmp_path / "photos"
    for name in ("a", "b", "c", "d", "sub/e"):
        _png(src / f"{name}.jpg")
    (src / "a.txt").write_bytes("a grey cat".encode())
    (src / "b.txt").write_bytes("caf\xe9 cat".encode("latin-1"))
    (src / "c.txt").write_text("   ")
    (src / "sub" / "e.txt").write_text("Cat in a box")
    out, counts = from_image_folder(src, tmp_path / "table")
    assert counts == {"rows": 5, "non_utf8": 1, "empty_captions": 2}
    table = pd.read_parquet(out)
    assert all((out / u).is_file() for u in table["URL"]) and set(table["WIDTH"]) == {40}
    for matcher in (match_captions, match_captions_duckdb):
        m, stats = matcher(out, [["cat"]])
        assert (stats["non_utf8"], stats["empty_captions"]) == (1, 2)
        assert sorted(m["caption"]) == ["Cat in a box", "a grey cat"]


def test_csv_of_paths_and_captions(tmp_path):
    # A CSV (path, caption) with one undecodable row becomes a table; that row is flagged, not lost.
    _png(tmp_path / "i" / "1.png")
    _png(tmp_path / "i" / "2.png")
    (tmp_path / "c.csv").write_bytes(b"path,caption\ni/1.png,a small dog\ni/2.png,caf\xe9 dog\n")
    out, counts = from_caption_file(tmp_path / "c.csv", tmp_path / "t")
    assert counts["non_utf8"] == 1
    m, stats = match_captions_duckdb(out, [["dog"]])
    assert m["caption"].tolist() == ["a small dog"] and stats["non_utf8"] == 1
    with pytest.raises(DataError, match="needs an image-path and a caption column"):
        (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
        from_caption_file(tmp_path / "bad.csv", tmp_path / "t2")


def test_webdataset_shard(tmp_path):
    # key.jpg + key.txt members become rows; a member without caption is empty, bad bytes non_utf8.
    shard = tmp_path / "shard-000.tar"
    with tarfile.open(shard, "w") as tar:

        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for key, cap in (("0001", b"a red fox"), ("0002", b"\xff\xfe fox"), ("0003", None)):
            buf = io.BytesIO()
            Image.new("RGB", (64, 48)).save(buf, format="JPEG")
            add(f"{key}.jpg", buf.getvalue())
            if cap is not None:
                add(f"{key}.txt", cap)
    out, counts = from_webdataset(shard, tmp_path / "table")
    assert counts == {"rows": 3, "non_utf8": 1, "empty_captions": 1}
    table = pd.read_parquet(out)
    assert all((out / u).is_file() for u in table["URL"]) and table["WIDTH"].tolist() == [64, 64, 64]
    m, _ = match_captions_duckdb(out, [["fox"]])
    assert m["caption"].tolist() == ["a red fox"]


def test_img2dataset_export_and_reimport(tmp_path):
    # Matches -> URL parquet (capped per class) -> img2dataset-style folder -> local captions table.
    matches = pd.DataFrame(
        {
            "row": range(6),
            "sample_id": range(6),
            "url": [f"http://x/{i}.jpg" for i in range(6)],
            "caption": [f"cat {i}" for i in range(6)],
            "label": [0, 0, 0, 0, 1, 1],
            "synonym": "cat",
        }
    )
    path, n = export_for_img2dataset(matches, tmp_path / "urls.parquet", per_class=2, seed=1)
    urls = pd.read_parquet(path)
    assert n == 4 and urls.groupby("label").size().tolist() == [2, 2]
    assert list(urls.columns) == ["url", "caption", "sample_id", "label", "synonym"]
    cmd = img2dataset_command(path, tmp_path / "dl")
    assert "--input_format parquet" in cmd and "--min_image_size 85" in cmd and "--resize_mode no" in cmd
    # what img2dataset --output_format files leaves: 00000/<key>.jpg and 00000.parquet
    _png(tmp_path / "dl" / "00000" / "000000000.jpg")
    pd.DataFrame(
        {
            "key": ["000000000", "000000001"],
            "url": urls["url"][:2],
            "caption": ["cat a", "cat b"],
            "status": ["success", "failed_to_download"],
            "width": [40, None],
            "height": [30, None],
        }
    ).to_parquet(tmp_path / "dl" / "00000.parquet")
    out, counts = from_img2dataset(tmp_path / "dl")
    table = pd.read_parquet(out)
    assert counts["rows"] == 1 and (out / table["URL"][0]).is_file() and table["TEXT"].tolist() == ["cat a"]


def test_python_backend_reads_csv_with_bad_bytes(tmp_path):
    # The regex backend reads a CSV captions table; an undecodable caption is counted, not a crash.
    (tmp_path / "t.csv").write_bytes(b"URL,TEXT\na.png,a cat\nb.png,caf\xe9 cat\nc.png,\n")
    m, stats = match_captions(tmp_path / "t.csv", [["cat"]])
    assert (stats["non_utf8"], stats["empty_captions"], stats["rows"]) == (1, 1, 3)
    assert m["row"].tolist() == [0]
