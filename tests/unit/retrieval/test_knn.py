import numpy as np
import pytest

from alor_core.data import ClassInfo
from alor_core.data.datasets import ImageSet
from alor_core.errors import DataError
from alor_core.retrieval import KnnRetriever, class_queries, knn_select


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_knn_keeps_argmax_consistent_items_above_threshold():
    # An item close to class 0 but closer to class 1 goes to 1 only; items below tau go nowhere.
    q = np.eye(3, 8, dtype=np.float32)
    feats = np.array(
        [
            [0.9, 0.1, 0, 0, 0, 0, 0, 0],  # class 0
            [0.6, 0.7, 0, 0, 0, 0, 0, 0],  # above tau for 0 and 1, argmax 1
            [0.1, 0.0, 0, 0, 0, 0, 0, 1.0],  # below tau for every class
            [0.0, 0.0, 0.8, 0, 0, 0, 0, 0.2],  # class 2
        ],
        np.float32,
    )
    sel, matched, backend = knn_select(feats, q, k=5, threshold=0.25, index="numpy")
    assert backend == "numpy" and matched.tolist() == [1, 1, 1]
    assert dict(zip(sel["index"], sel["label"])) == {0: 0, 1: 1, 3: 2}
    sims = _unit(feats[sel["index"]]) @ q.T
    assert (sims.argmax(1) == sel["label"].to_numpy()).all() and (sims.max(1) >= 0.25).all()


def test_knn_cap_and_faiss_equal_numpy():
    # Top-K by similarity per class; FAISS range search gives the same items as the numpy matmul.
    pytest.importorskip("faiss", reason="faiss-cpu is not installed")
    rng = np.random.default_rng(0)
    q = _unit(rng.normal(size=(5, 16))).astype(np.float32)
    feats = _unit(q[rng.integers(5, size=3000)] + 0.9 * rng.normal(size=(3000, 16))).astype(np.float32)
    a, ma, _ = knn_select(feats, q, k=40, threshold=0.3, index="numpy")
    b, mb, backend = knn_select(feats, q, k=40, threshold=0.3, index="faiss")
    assert backend == "faiss" and (ma == mb).all() and ma.min() > 40
    assert a[["index", "label"]].equals(b[["index", "label"]])
    assert a.groupby("label").size().tolist() == [40] * 5
    assert (a.groupby("label")["score"].apply(lambda s: (np.diff(s.to_numpy()) <= 0).all())).all()


def test_knn_retriever_warns_when_every_class_hits_k(tmp_path, random_bundle):
    # A flat retrieved set (every class at K) raises a warning; a larger K shows the real imbalance.
    classes = ClassInfo(["cat", "dog"], [["cat"], ["dog"]], ("a photo of a {}.",))
    q = class_queries(random_bundle, classes)
    rng = np.random.default_rng(1)
    labels = np.array([0] * 30 + [1] * 10)
    feats = _unit(q[labels] + 0.01 * rng.normal(size=(40, q.shape[1]))).astype(np.float32)
    pool = ImageSet([f"img/{i}.png" for i in range(40)], tmp_path, np.full(40, -1))
    with pytest.warns(UserWarning, match="every class reached the cap K=5"):
        flat = KnnRetriever(random_bundle, pool, threshold=0.0, features=feats).search(classes, 5)
    assert flat.stats["all_capped"] and flat.kept_per_class(2).tolist() == [5, 5]
    full = KnnRetriever(random_bundle, pool, threshold=0.0, features=feats).search(classes, 100)
    assert not full.stats["all_capped"] and [c["matched"] for c in full.counts] == [30, 10]
    assert full.items["id"].str.startswith("img/").all() and full.stats["backend"] == "knn-numpy"


def test_knn_rejects_bad_arguments():
    # Wrong cap, index name or embedding sizes are clear errors.
    q, f = np.eye(2, 4), np.eye(3, 4)
    with pytest.raises(DataError, match="'k' .* must be >= 1"):
        knn_select(f, q, k=0)
    with pytest.raises(DataError, match="'index' of knn_select must be"):
        knn_select(f, q, index="annoy")
    with pytest.raises(DataError, match="dim 5 but class queries 4"):
        knn_select(np.eye(3, 5), q)
