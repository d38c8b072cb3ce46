"""The CLI over a user's folder with hostile files next to good ones, and a webdataset pool with a
truncated shard: the run goes on, the summary names what was skipped, ``--strict`` stops cleanly."""

import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.unit.data.test_skip_report import HOSTILE, plant_hostile

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, out):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ALOR_OUTPUT_DIR": str(out), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "alor_core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def _corrupt_inside(path, src):
    """A copy of PNG ``src`` whose IDAT stream is garbage (valid header, CRCs and end marker)."""
    data = bytearray(Path(src).read_bytes())
    i = data.index(b"IDAT")
    n = int.from_bytes(data[i - 4 : i], "big")
    data[i + 4 : i + 4 + n] = bytes([0x78, 0x9C]) + bytes((5 * k + 1) % 256 for k in range(n - 2))
    data[i + 4 + n : i + 8 + n] = zlib.crc32(bytes(data[i : i + 4 + n])).to_bytes(4, "big")
    path.write_bytes(bytes(data))


def _user_folder(tmp_path, world, classes, per_class=8):
    """``photos/<class>/``: ``per_class`` demo images each, the hostile files in the first class and
    one PNG that is damaged inside (found only when decoded for the features)."""
    root = tmp_path / "photos"
    for name in classes:
        c = world.classes.index(name)
        d = root / name
        d.mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(world.pool.labels == c)[:per_class]):
            (d / f"{k}.png").write_bytes(world.pool.path(int(i)).read_bytes())
    plant_hostile(root / classes[0])
    _corrupt_inside(root / classes[1] / "damaged.png", root / classes[1] / "0.png")
    return root


def _shards(tmp_path, world, classes):
    """``pool/shards-000000.tar`` (good, 96 px images captioned with the class names) and
    ``pool/shards-000001.tar`` (cut in half)."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for s, keep in ((0, 1.0), (1, 0.5)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name in classes:
                c = world.classes.index(name)
                for k, i in enumerate(np.flatnonzero(world.pool.labels == c)[-4:]):
                    img = io.BytesIO()
                    Image.open(world.pool.path(int(i))).convert("RGB").resize((96, 96)).save(img, "PNG")
                    for ext, data in ((".png", img.getvalue()), (".txt", f"a photo of a {name}".encode())):
                        info = tarfile.TarInfo(f"{name}{s}{k}{ext}")
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
        data = buf.getvalue()
        (pool / f"shards-{s:06d}.tar").write_bytes(data[: int(len(data) * keep)])
    return str(pool / "shards-{000000..000002}.tar")  # 000002 does not exist


@pytest.mark.slow
def test_run_over_a_folder_with_bad_files_reports_and_goes_on(tmp_path, small_world):
    classes = list(small_world.classes.names[:2])
    root = _user_folder(tmp_path, small_world, classes)
    pattern = _shards(tmp_path, small_world, classes)
    base = [
        "run",
        "--dataset",
        str(root),
        "--model",
        small_world.meta["model_name"],
        "--checkpoint",
        str(small_world.meta["checkpoint"]),
        "--strategy",
        "random",
        "--adapt",
        "lp",
        "--rounds",
        "1",
        "--seeds",
        "1",
        "--k",
        "20",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--quiet",
        "--retrieval-source",
        pattern,
    ]
    p = cli(*base, "--name", "mixed", out=tmp_path / "out")
    assert p.returncode == 0, p.stderr
    print(p.stderr)  # the summary, for the closing note (pytest -s)
    result = json.loads(p.stdout.strip().splitlines()[-1])
    session = Path(result["session"])
    assert result["state"] == "done"
    rows = list(csv.DictReader(open(session / "skipped.csv", encoding="utf-8")))
    got = {(r["source"], r["path"]): r["reason"] for r in rows}
    # 7 hostile files (header check), 1 damaged PNG (found while encoding), 1 truncated + 1 missing shard
    assert {path: reason for (src, path), reason in got.items() if src in ("pool", "test")} == {
        **{f"{classes[0]}/{n}": r for n, r in HOSTILE.items()},
        f"{classes[1]}/damaged.png": "corrupt",
    }
    shard_dir = Path(pattern).parent
    assert got[("retrieval source", str(shard_dir / "shards-000001.tar"))] == "unreadable-shard"
    assert got[("retrieval source", str(shard_dir / "shards-000002.tar"))] == "missing"
    loaded = json.loads((session / "loaded.json").read_text())
    # task: 2 x 8 plain + 5 tricky + 7 hostile + 1 damaged = 29 found, 21 loaded; pool: 8 samples + 2 shards
    assert (loaded["found"], loaded["loaded"], loaded["skipped"]) == (29 + 10, 21 + 8, 10)
    assert f"loaded 29 images, skipped 10 (see {session / 'skipped.csv'})" in p.stderr
    for r in rows[:5]:  # the first few reasons, then how many more
        assert f"  skipped {r['source']}: {r['path']} {r['detail']}" in p.stderr
    assert "  ... and 5 more" in p.stderr
    poster = next(r for r in rows if r["path"] == f"{classes[0]}/poster.png")
    assert poster["detail"].startswith("has too many pixels (180,000,000); the limit is 89,478,485")
    assert "Traceback" not in p.stderr

    strict = cli(*base, "--name", "strict", "--strict", out=tmp_path / "out")
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert strict.stderr.startswith(f"error: image file '{classes[0]}/")
    assert any(
        d in strict.stderr
        for d in ("is empty", "is corrupt or not an image", "dangling symlink", "AppleDouble", "too many pixels")
    )
