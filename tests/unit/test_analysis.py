"""alor_core.analysis: session discovery, mean ± std, AULC, per-class matrix, retrieval table,
label queue, exports, 2-D projection, the LAION-counts hook."""

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alor_core import analysis
from alor_core.data.datasets import ClassInfo, ImageSet, TaskData
from alor_core.errors import DataError
from alor_core.io import atomic_write_json
from alor_core.loop.session import Session

NAMES = ["tee", "bag", "boot"]


def make_session(root, run="run_a", seed=1, accs=(50.0, 60.0), state="done", **cfg):
    """A session folder written through the Session API (no training)."""
    s = Session.open_or_create(
        root / run / f"seed{seed}",
        {
            "dataset": "demo",
            "strategy": "tfs",
            "adaptation": "lp",
            "rda": True,
            "seed": seed,
            "mode": "oracle",
            "rounds": len(accs),
            **cfg,
        },
    )
    for r, a in enumerate(accs):
        s.write_metrics(
            r,
            {
                "acc": a,
                "f1": a - 1,
                "tail_acc": a - 10,
                "n_labeled": 3 * (r + 1),
                "n_retrieved": 30,
                "per_class_acc": [a, a - 20, a + 10],
                "tail_classes": [2],
            },
        )
    s.write_status(state=state, round=len(accs) - 1)
    return s


def test_find_sessions_lists_nested_runs_newest_first(tmp_path):
    # Sessions in <run>/seed<k> and nested <group>/<run>/seed<k> are found, with their progress.
    a = make_session(tmp_path, "run_a")
    b = make_session(tmp_path, "guided_demo/tfs_lp", accs=(40.0,), state="waiting_for_labels")
    (tmp_path / "not_a_session" / "seed1").mkdir(parents=True)
    df = analysis.find_sessions(tmp_path)
    assert df["path"].tolist() == [str(b.path), str(a.path)]
    assert df["run"].tolist() == ["guided_demo/tfs_lp", "run_a"]
    assert df["rounds_done"].tolist() == [1, 2] and df["state"].tolist() == ["waiting_for_labels", "done"]


def test_find_sessions_empty(tmp_path):
    # A missing or empty output folder gives an empty table with the expected columns.
    df = analysis.find_sessions(tmp_path / "missing")
    assert len(df) == 0 and "path" in df.columns


def test_curve_area():
    # Trapezoid area over the x-range, in the metric's unit; one point is its own value.
    assert analysis.curve_area([0, 1, 2], [0, 10, 20]) == pytest.approx(10.0)
    assert analysis.curve_area([2, 0, 1], [20, 0, 10]) == pytest.approx(10.0)  # order does not matter
    assert analysis.curve_area([0, 1, 3], [10, 20, 20]) == pytest.approx((15 + 40) / 3)
    assert analysis.curve_area([5], [42.0]) == 42.0


def test_mean_std_and_aulc_over_seeds(tmp_path):
    # Two seeds of one run average per round (ddof=0); AULC is the mean of per-seed areas.
    s1 = make_session(tmp_path, "run_a", seed=1, accs=(50.0, 60.0, 70.0))
    s2 = make_session(tmp_path, "run_a", seed=2, accs=(54.0, 64.0))  # one round less
    s3 = make_session(tmp_path, "run_b", seed=1, accs=(40.0, 41.0, 42.0))
    res = analysis.load_results([s1.path, s2.path, s3.path], tmp_path)
    assert set(res["run"]) == {"run_a", "run_b"}
    ms = analysis.mean_std(res, "acc").set_index(["run", "round"])
    assert ms.loc[("run_a", 0), "mean"] == 52.0 and ms.loc[("run_a", 0), "std"] == 2.0
    assert ms.loc[("run_a", 2), "n_seeds"] == 1 and ms.loc[("run_a", 2), "std"] == 0.0
    au = analysis.aulc(res, "acc").set_index("run")
    assert au.loc["run_a", "rounds"] == 2  # compared on the rounds both seeds have
    assert au.loc["run_a", "aulc"] == pytest.approx((55.0 + 59.0) / 2)
    assert au.loc["run_a", "aulc_std"] == pytest.approx(2.0)
    assert au.index.tolist() == ["run_a", "run_b"]  # best first
    assert au.loc["run_b", "final"] == 42.0


def test_per_class_matrix_sorted_by_round0(tmp_path):
    # Rows are classes sorted by round-0 accuracy; columns zero-shot, round 0, round 1.
    s = make_session(tmp_path)
    atomic_write_json(s.path / "zeroshot.json", {"acc": 40.0, "per_class_acc": [1.0, 2.0, 3.0]})
    m = analysis.per_class_matrix(s, NAMES)
    assert m.columns.tolist() == ["zero-shot", "round 0", "round 1"]
    assert m.index.tolist() == ["bag", "tee", "boot"]
    assert m.loc["boot", "round 1"] == 70.0


def write_retrieval(s, root):
    (s.path / "retrieval").mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        s.path / "retrieval" / "counts.json",
        {
            "root": str(root),
            "stats": {},
            "counts": [{"name": n, "matched": m, "kept": k} for n, m, k in zip(NAMES, [500, 60, 9], [200, 60, 9])],
        },
    )
    pd.DataFrame(
        {
            "id": ["c/1.png", "c/2.png", "c/3.png"],
            "label": [0, 2, 2],
            "synonym": ["tee", "boot", "booties"],
            "score": [0.5, 0.7, 0.9],
            "caption": ["a tee", "a boot", "booties"],
        }
    ).to_csv(s.path / "retrieval" / "retrieved.csv", index=False)


def test_retrieval_table_and_items(tmp_path):
    # Counts, zero-shot accuracy and tail flag per class; retrieved images best-first with paths.
    s = make_session(tmp_path)
    write_retrieval(s, tmp_path / "corpus")
    atomic_write_json(
        s.path / "zeroshot.json", {"acc": 40.0, "per_class_acc": [70.0, 50.0, None], "tail_classes": [2, 1]}
    )
    t = analysis.retrieval_table(s)
    assert t["matched"].tolist() == [500, 60, 9] and t["kept"].tolist() == [200, 60, 9]
    assert t["tail"].tolist() == [False, True, True]
    assert np.isnan(t["zero_shot_acc"].iloc[2])
    items = analysis.retrieved_items(s, class_id=2)
    assert items["synonym"].tolist() == ["booties", "boot"]
    assert items["path"].iloc[0] == str(tmp_path / "corpus" / "c/3.png")


def test_retrieval_table_none_without_rda(tmp_path):
    # A session without retrieval has no table (the page explains why).
    assert analysis.retrieval_table(make_session(tmp_path)) is None


def test_label_queue_states_and_waiting_round(tmp_path):
    # Picks are pending, labeled (with source) or skipped; the waiting round comes from the status.
    s = make_session(tmp_path, accs=(50.0,), state="waiting_for_labels", mode="human")
    s.write_selected(
        0,
        [
            [0, "p/a.png", 1.2, "tail class 'boot'", "boot", "boot:0.500;tee:0.300;bag:0.200"],
            [1, "p/b.png", 1.1, "tail class 'boot'", "boot", "boot:0.400;bag:0.350;tee:0.250"],
            [2, "p/c.png", 1.0, "tail class 'bag'", "bag", "bag:0.600;tee:0.300;boot:0.100"],
        ],
    )
    s.add_labels([("p/b.png", 1, 1, "human")])
    s.set_skipped(0, "p/c.png")
    assert analysis.waiting_round(s) == 0
    q = analysis.label_queue(s, 0)
    assert q["state"].tolist() == ["pending", "labeled", "skipped"]
    assert q["label"].tolist() == [-1, 1, -1] and q["source"].iloc[1] == "human"
    assert q["top3_list"].iloc[0] == [("boot", 0.5), ("tee", 0.3), ("bag", 0.2)]
    assert analysis.label_queue(s, 5) is None


def test_exports_csv_json_and_imagefolder_zip(tmp_path):
    # Labels export as CSV and JSON with class names, and as an ImageFolder zip of the pool images.
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    for k in range(3):
        Image.fromarray(np.full((4, 4), 40 * k, np.uint8)).save(pool_dir / f"{k}.png")
    task = TaskData(
        "t",
        ClassInfo(NAMES, [[n] for n in NAMES]),
        ImageSet([f"pool/{k}.png" for k in range(3)], tmp_path, np.array([0, 1, 2])),
        ImageSet([], tmp_path, np.zeros(0, int)),
    )
    s = make_session(tmp_path / "out")
    s.add_labels([("pool/0.png", 0, 0, "initial"), ("pool/2.png", 2, 1, "human")])
    csv = pd.read_csv(io.StringIO(analysis.labels_csv(s, NAMES)))
    assert csv["class_name"].tolist() == ["tee", "boot"] and csv["source"].tolist() == ["initial", "human"]
    js = json.loads(analysis.labels_json(s, NAMES))
    assert js["classes"] == NAMES and js["labels"][1]["class_name"] == "boot"
    with zipfile.ZipFile(io.BytesIO(analysis.imagefolder_zip(s, task))) as zf:
        assert sorted(zf.namelist()) == ["boot/pool__2.png", "labels.csv", "tee/pool__0.png"]


def test_picks_per_class(tmp_path):
    # Only labels bought after round 0 count, per class.
    s = make_session(tmp_path)
    s.add_labels([("a", 0, 0, "initial"), ("b", 2, 1, "oracle"), ("c", 2, 2, "oracle"), ("d", 1, 1, "human")])
    assert analysis.picks_per_class(s, 3).tolist() == [0, 1, 2]


def test_project_2d_pca_fallback():
    # Above the UMAP limit (and for tiny inputs) the projection is PCA, with one 2-D row per point.
    x = np.random.default_rng(0).standard_normal((30, 8))
    coords, method = analysis.project_2d(x, limit=10)
    assert method == "pca" and coords.shape == (30, 2)
    assert analysis.project_2d(x[:3])[1] == "pca"


@pytest.mark.slow
def test_project_2d_umap_separates_clusters():
    # UMAP keeps two well-separated clusters apart (numba compiles on first use: slow).
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (40, 64)) + 3, rng.normal(0, 0.1, (40, 64)) - 3])
    coords, method = analysis.project_2d(x)
    assert method == "umap" and coords.shape == (80, 2)
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.argmin(1)
    assert ((nearest < 40) == (np.arange(80) < 40)).all()  # every point's 2-D neighbour is in its cluster
    gap = d[:40, 40:].min()
    assert gap > np.median(d[np.arange(80), nearest])


def test_benchmark_counts_from_the_registry():
    # The real LAION-400M counts come from the benchmark registry, most captioned first.
    df = analysis.benchmark_counts("oxford_pets")
    assert len(df) == 37 and df["count"].is_monotonic_decreasing and df["count"].iloc[0] > df["count"].iloc[-1]


def test_benchmark_counts_hook(tmp_path):
    # Missing file -> None (the page says where it is expected); a valid file is read and sorted;
    # a file without the expected columns is a DataError naming them.
    assert analysis.benchmark_counts("food101", tmp_path) is None
    pd.DataFrame({"class_name": ["a", "b"], "count": [5, 50]}).to_csv(tmp_path / "food101.csv", index=False)
    df = analysis.benchmark_counts("food101", tmp_path)
    assert df["class_name"].tolist() == ["b", "a"]
    t = analysis.benchmark_table(df, n_tail=1)
    assert t["tail"].tolist() == [False, True] and t["matched"].tolist() == [50, 5]
    pd.DataFrame({"name": ["a"]}).to_csv(tmp_path / "pets.csv", index=False)
    with pytest.raises(DataError, match="class_name,count"):
        analysis.benchmark_counts("pets", tmp_path)


# ---- issue 17: bias views that scale, the plotted numbers, the map's layout cache and privacy -------


def _counts_200():
    counts = np.r_[np.arange(10_000, 10_000 - 197 * 40, -40), [0, 0, 0]]
    return pd.DataFrame(
        {
            "class_id": np.arange(200),
            "class_name": [f"Warbler {i}" if i % 50 == 0 else f"bird {i}" for i in range(200)],
            "matched": counts,
            "kept": counts,
            "zero_shot_acc": np.nan,
            "tail": False,
        }
    )


def test_count_bands_split_200_classes_in_thirds_and_count_zeros():
    # Head / middle / tail are rank thirds; the tail band counts the 3 zero-count classes; shares sum to 1.
    bands = analysis.count_bands(_counts_200())
    assert bands["band"].tolist() == ["head", "middle", "tail"]
    assert bands["n_classes"].tolist() == [67, 67, 66] and bands["first_rank"].tolist() == [1, 68, 135]
    assert bands["zero"].tolist() == [0, 0, 3] and bands["share"].sum() == pytest.approx(1.0)
    assert bands["share"].iloc[0] > bands["share"].iloc[1] > bands["share"].iloc[2]


def test_count_window_top_bottom_and_search_keep_ranks():
    # Bottom-10 ends with the zeros; a search keeps each class's rank in the full table.
    t = _counts_200()
    bottom = analysis.count_window(t, end="bottom", n=10)
    assert len(bottom) == 10 and bottom["rank"].tolist() == list(range(191, 201))
    assert bottom["matched"].tolist()[-3:] == [0, 0, 0]
    top = analysis.count_window(t, end="top", n=5)
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]
    found = analysis.count_window(t, end="top", n=25, query="warbler")
    assert found["class_name"].tolist() == ["Warbler 0", "Warbler 50", "Warbler 100", "Warbler 150"]
    assert found["rank"].tolist() == [1, 51, 101, 151]
    assert not len(analysis.count_window(t, query="penguin"))


def test_plotted_table_has_no_spread_for_one_seed():
    # The table under the curves: one seed has no std and reads "(n=1)", two seeds "± s (n=2)".
    summary = pd.DataFrame(
        {"run": ["a", "b"], "round": [0, 0], "mean": [61.25, 50.0], "std": [0.0, 1.5], "n_seeds": [1, 2]}
    )
    t = analysis.plotted_table(summary)
    assert t["text"].tolist() == ["61.2 (n=1)", "50.0 ± 1.5 (n=2)"]
    assert pd.isna(t.loc[0, "std"]) and t.loc[1, "std"] == 1.5


def test_layout_2d_is_cached_on_disk_by_content(tmp_path, monkeypatch):
    # The first PCA layout is computed and written; the same features are read back (cached); other
    # features get another file; a damaged cache file is recomputed; an unknown method is named.
    monkeypatch.setenv("ALOR_CACHE_DIR", str(tmp_path / "cache"))
    x = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    coords, info = analysis.layout_2d(x, "pca")
    assert coords.shape == (300, 2) and info == {**info, "method": "pca", "cached": False}
    again, info2 = analysis.layout_2d(x, "pca")
    assert info2["cached"] and np.array_equal(coords, again)
    other = analysis.layout_cache_path(x + 1, "pca")
    assert other != analysis.layout_cache_path(x, "pca") and not other.is_file()
    analysis.layout_cache_path(x, "pca").write_bytes(b"not a npy file")
    fixed, info3 = analysis.layout_2d(x, "pca")
    assert not info3["cached"] and np.allclose(fixed, coords)
    with pytest.raises(DataError, match="unknown map layout 'tsne'"):
        analysis.layout_2d(x, "tsne")


def test_embedding_frame_hides_the_class_of_unlabeled_pool_images(tmp_path, monkeypatch):
    # Pool images without a label (and this round's picks) leave embedding_frame with label -1 and no
    # class name, although the pool knows their true class; labeled ones keep their label.
    from alor_core.models import features

    monkeypatch.setattr(features, "encode_images", lambda bundle, iset, **kw: np.eye(len(iset), 8, dtype=np.float32))
    task = TaskData(
        "t",
        ClassInfo(NAMES, [[n] for n in NAMES]),
        ImageSet([f"pool/{k}.png" for k in range(3)], tmp_path, np.array([0, 1, 2])),
        ImageSet(["test/0.png"], tmp_path, np.array([1])),
    )
    s = make_session(tmp_path / "out", accs=(50.0,))
    s.add_labels([("pool/0.png", 0, 0, "initial")])
    cols = s.selected(0)  # none yet: write round 0's pick of pool/1.png
    from alor_core.loop.session import SELECTED_COLUMNS

    s.write_selected(0, [["pool/1.png" if c == "sample_id" else 0 for c in SELECTED_COLUMNS]])
    assert cols is None
    df, x, info = analysis.embedding_frame(s, task, None, 0, sources=("pool", "test"))
    by_id = df.set_index("id")
    assert by_id.loc["pool/0.png", "class_name"] == "tee" and by_id.loc["pool/0.png", "role"] == "labeled"
    for sid, role in (("pool/1.png", "selected"), ("pool/2.png", "unlabeled")):
        assert by_id.loc[sid, "role"] == role and by_id.loc[sid, "label"] == -1
        assert by_id.loc[sid, "class_name"] == analysis.HIDDEN_CLASS
    assert not set(df.loc[df["source"] == "pool", "class_name"]) & {"bag", "boot"}
    assert x.shape == (4, 8) and info["n_shown"] == 4
