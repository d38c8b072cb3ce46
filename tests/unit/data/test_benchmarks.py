import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alor_core.config import RunConfig
from alor_core.data import BENCHMARKS, benchmark_classes, check_data, laion_counts, load_task
from alor_core.errors import DataError
from alor_core.loop.rounds import run

SHARED_CSV = Path(__file__).resolve().parents[4] / "shared" / "data" / "laion400m_class_frequencies.csv"
OURS = Path(__file__).resolve().parents[3] / "data" / "benchmarks" / "laion400m_class_frequencies.csv"


def make_fixture(root, name, n_cls=3, per_class=3, corpus=True, retrieved_list=False):
    """A tiny copy of a benchmark in ALOR's official layout: split files, images, captions."""
    folder = root / name
    classes = benchmark_classes(name)
    rng = np.random.default_rng(0)
    lines = {"ltrain": [], "val": [], "test": []}
    for split in lines:
        for c in range(n_cls):
            for i in range(per_class):
                rel = f"images/{split}/{c}_{i}.jpg"
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / rel)
                lines[split].append(f"{rel} {c} 1")
    for split, ls in lines.items():
        (folder / f"{split}.txt").write_text("\n".join(ls))  # no trailing newline, like some official files
    rows = []
    for c in range(n_cls):
        for i in range(4):
            rel = f"laion/{c}_{i}.jpg"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(folder / rel)
            rows.append(
                {
                    "SAMPLE_ID": len(rows),
                    "URL": rel,
                    "TEXT": f"my photo of {classes.names[c]} today",
                    "WIDTH": 96,
                    "HEIGHT": 96,
                }
            )
    if corpus:
        pd.DataFrame(rows).to_parquet(folder / "corpus.parquet")
    if retrieved_list:
        (folder / "retrieved_data.txt").write_text("".join(f"{r['URL']} {r['SAMPLE_ID'] // 4} 0\n" for r in rows))
    return folder


def test_laion_counts_match_the_shared_csv():
    # data/benchmarks holds the shared LAION-400M counts unchanged, all five datasets.
    if SHARED_CSV.is_file():
        assert filecmp.cmp(SHARED_CSV, OURS, shallow=False)
    for name, spec in BENCHMARKS.items():
        df = laion_counts(name)
        assert len(df) == spec["n_classes"] and df["class_id"].tolist() == list(range(spec["n_classes"]))
    assert laion_counts("semi_aves")["laion400m_count"].max() == 41593
    assert laion_counts("oxford_pets")["laion400m_count"].min() == 567


def test_classes_and_templates():
    # Class names are the metrics 'name' field; synonyms start with it; templates are the paper's.
    aves = benchmark_classes("semi_aves")
    assert aves.names[0] == "Charadrius semipalmatus" and aves.synonyms[0] == [
        "Charadrius semipalmatus",
        "Semipalmated Plover",
    ]
    assert aves.templates == ("a photo of a {}, a type of bird.",)
    assert len(benchmark_classes("stanford_cars").templates) == 8


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_fixture_loads_retrieves_and_runs_a_round(tmp_path, name):
    # Each benchmark in its official layout loads, retrieves from a captions table and runs rounds.
    make_fixture(tmp_path / "data", name)
    task = load_task(name, tmp_path / "data")
    assert len(task.pool) == 9 and len(task.val) == 9 and task.n_classes == BENCHMARKS[name]["n_classes"]
    # A random-init CLIP maps the fixture's flat generated images to nearly one point, so the leakage
    # guard's near-duplicate check (tested in tests/unit/retrieval/test_leakage_guard.py) would call
    # every retrieved image a copy of a test image; this test is about layouts and retrieval counts.
    cfg = RunConfig(
        dataset=name,
        data_root=str(tmp_path / "data"),
        strategy="tfs",
        adaptation="lp",
        rounds=2,
        budget=2,
        k=3,
        initial="none",
        model_name="alor_tiny_fm",
        device="cpu",
        min_side=81,
        leakage_guard=False,
    )
    session, status = run(cfg, tmp_path / "out")
    assert status["state"] == "done" and session.finished_rounds() == [0, 1]
    counts = {
        c["name"]: c["kept"]
        for c in session.path.joinpath("retrieval").exists()
        and __import__("json").loads((session.path / "retrieval" / "counts.json").read_text())["counts"]
    }
    kept = list(counts.values())
    assert kept[:3] == [3, 3, 3] and sum(kept[3:]) == 0  # cap K=3; classes without captions get 0
    assert session.metrics(1)["n_labeled"] == 2


def test_retrieved_data_txt_is_imported(tmp_path):
    # Without a captions table, ALOR's retrieved_data.txt is used as the retrieved set.
    make_fixture(tmp_path / "data", "oxford_pets", corpus=False, retrieved_list=True)
    cfg = RunConfig(
        dataset="oxford_pets",
        data_root=str(tmp_path / "data"),
        strategy="random",
        adaptation="lp",
        rounds=1,
        budget=2,
        initial="none",
        model_name="alor_tiny_fm",
        device="cpu",
    )
    session, _ = run(cfg, tmp_path / "out")
    assert session.metrics(0)["n_retrieved"] == 12


def test_check_data_names_missing_split_and_unreadable_image(tmp_path):
    # check-data lists a missing split and an unreadable image by name.
    folder = make_fixture(tmp_path, "aircraft")
    (folder / "test.txt").unlink()
    (folder / "images" / "ltrain" / "1_2.jpg").write_bytes(b"garbage")
    rep = check_data("aircraft", tmp_path)
    text = rep.render()
    assert not rep.ok and "test.txt" in rep.missing
    assert "MISSING  test.txt" in text and "UNREADABLE ltrain.txt: images/ltrain/1_2.jpg" in text
    assert "present  ltrain.txt                 9 entries  (the paper's split has 3334)" in text
    assert "97 classes have no image" in text


def test_missing_dataset_folder(tmp_path):
    # Loading a benchmark that is not there points at check-data.
    with pytest.raises(DataError, match="check-data food101"):
        load_task("food101", tmp_path)


def test_paper_protocol_values():
    # --protocol paper pins the official values and the session records it.
    cfg = RunConfig(protocol="paper", budget=5, preset="fast")
    assert cfg.preset == "paper" and cfg.budget is None and cfg.to_dict()["protocol"] == "paper"


def test_offline_pretrained_tag_points_at_checkpoint(monkeypatch):
    # Offline, a pretrained tag cannot be fetched: the error names --checkpoint.
    from alor_core.models.clip import load_clip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="--checkpoint"):
        load_clip("ViT-B-32-quickgelu", "laion400m_e32", device="cpu")
