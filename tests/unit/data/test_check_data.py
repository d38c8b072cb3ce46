"""check-data on any folder or split file; ImageFolder class folders (empty, differing in case,
named by id); seeded random weights; a checkpoint of another architecture."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from alor_core.cli import main
from alor_core.data import load_imagefolder
from alor_core.data.check import check_folder
from alor_core.data.official import DataWarning
from alor_core.errors import DataError
from alor_core.models.clip import guess_architecture, load_clip


def _jpg(path, value=0, size=(40, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _split_folder(root):
    """A split-file folder with classnames.txt, 3 pool + 1 test image per class, all readable."""
    root.mkdir(parents=True)
    (root / "classnames.txt").write_text("goldfish\ntiger shark\nhen\n")
    pool, test = [], []
    for c in range(3):
        for i in range(3):
            _jpg(root / f"images/c{c}_{i}.jpg", 10 * c + i)
            pool.append(f"images/c{c}_{i}.jpg {c} 1\n")
        _jpg(root / f"images/t{c}.jpg", 100 + c)
        test.append(f"images/t{c}.jpg {c} 1\n")
    (root / "ltrain.txt").write_text("".join(pool))
    (root / "test.txt").write_text("".join(test))
    return root


def test_check_data_on_a_good_folder(tmp_path, capsys):
    folder = _split_folder(tmp_path / "fish")
    rep = check_folder(folder)
    assert rep.ok and rep.layout == "split files" and rep.class_source == ["classnames.txt"]
    assert rep.splits["ltrain.txt"] == {"images": 9, "per_class": [3, 3, 3]}
    assert rep.checked_images == 12
    assert main(["check-data", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "split files; 3 classes (from classnames.txt)" in out and "status: ready" in out


def test_check_data_reports_every_problem_and_keeps_going(tmp_path, capsys):
    # Bad files next to good ones: an empty image, a text file named .jpg, a listed file that is not
    # there, and a malformed val.txt line -- all reported in one pass, with paths relative to the folder.
    folder = _split_folder(tmp_path / "fish")
    (folder / "images/c0_1.jpg").write_bytes(b"")
    (folder / "images/c1_2.jpg").write_text("<html>404 not found</html>")
    with open(folder / "ltrain.txt", "a") as fh:
        fh.write("images/gone.jpg 2 1\n")
    (folder / "val.txt").write_text("images/t0.jpg 0 1\nimages/t1.jpg\n")
    rep = check_folder(folder)
    assert not rep.ok
    assert rep.missing == ["ltrain.txt: images/gone.jpg"]
    assert [p for p, _ in rep.unreadable] == ["ltrain.txt: images/c0_1.jpg", "ltrain.txt: images/c1_2.jpg"]
    assert "empty (0 bytes)" in rep.unreadable[0][1] and "not an image" in rep.unreadable[1][1]
    assert len(rep.problems) == 1 and rep.problems[0].startswith(f"{folder / 'val.txt'}:2: expected '<path> <label>")
    assert rep.splits["test.txt"]["images"] == 3  # read although val.txt is broken
    assert main(["check-data", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "MISSING    ltrain.txt: images/gone.jpg" in out
    assert "UNREADABLE ltrain.txt: images/c0_1.jpg: is empty (0 bytes)" in out
    assert "status: not ready (1 missing, 2 unreadable, 1 malformed)" in out


def test_check_data_missing_pieces_and_single_file(tmp_path, capsys):
    # No class list and no test.txt are named; a single split file is checked on its own.
    folder = _split_folder(tmp_path / "fish")
    (folder / "classnames.txt").unlink()
    (folder / "test.txt").unlink()
    rep = check_folder(folder, verify_images=False)
    assert "test.txt" in rep.missing
    assert any("classes.csv, classnames.txt or <dataset>_metrics-LAION400M.json" in m for m in rep.missing)
    one = check_folder(folder / "ltrain.txt")
    assert one.layout == "split file" and one.ok and one.splits["ltrain.txt"]["images"] == 9
    assert main(["check-data", str(tmp_path / "nowhere")]) == 1
    assert "does not exist; expected a dataset folder or a split file" in capsys.readouterr().out


def test_check_data_on_an_imagefolder_tree(tmp_path):
    # An ImageFolder tree named by WordNet id, with one empty class folder: warnings, not a stop.
    tree = tmp_path / "tree"
    for c in ("n01443537", "n01491361"):
        for i in range(4):
            _jpg(tree / c / f"{i}.jpg", i)
    (tree / "n01514859").mkdir()
    rep = check_folder(tree)
    assert rep.layout == "ImageFolder" and rep.ok
    assert rep.class_names == ["n01443537", "n01491361"]
    assert any("n01514859/ has no images" in w and "skipped" in w for w in rep.warnings)
    assert any("look like ids" in w and "classnames.txt" in w for w in rep.warnings)
    assert rep.splits["pool"]["images"] + rep.splits["test"]["images"] == 8


# ---- ImageFolder class folders ------------------------------------------------------------------
def test_empty_class_folders_are_skipped_with_a_warning(tmp_path):
    # train/ + test/ layout: an empty train folder drops its class; an empty test folder is named.
    tree = tmp_path / "tree"
    for c in ("cat", "dog", "emu"):
        for i in range(3):
            _jpg(tree / "train" / c / f"{i}.png", i)
        (tree / "test" / c).mkdir(parents=True)
    for c in ("cat", "emu"):
        _jpg(tree / "test" / c / "0.png", 9)
    for f in (tree / "train" / "emu").iterdir():
        f.unlink()
    (tree / "train" / "emu" / "notes.txt").write_text("photos to come\n")
    with pytest.warns(DataWarning) as caught:
        task = load_imagefolder(tree)
    assert task.classes.names == ["cat", "dog"]
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("class folder train/emu/ has no images") and m.endswith("; skipped") for m in messages)
    assert any("test/dog/ has no images: that class is not tested" in m for m in messages)
    assert task.meta["warnings"] == messages


def test_empty_class_keeps_its_place_when_a_class_file_defines_the_list(tmp_path):
    # With classes.csv the label order is the file's: an empty folder warns and its class stays.
    tree = tmp_path / "tree"
    for c in ("cat", "dog"):
        for i in range(3):
            _jpg(tree / c / f"{i}.png", i)
    (tree / "classes.csv").write_text("class_id,class_name,synonyms\n0,cat,kitty\n1,cow,\n2,dog,puppy\n")
    with pytest.warns(DataWarning, match=r"class folder cow/ has no images .*its class stays in the class list"):
        task = load_imagefolder(tree)
    assert task.classes.names == ["cat", "cow", "dog"]
    assert sorted(set(task.pool.labels.tolist()) | set(task.test.labels.tolist())) == [0, 2]


def test_case_colliding_folders_name_both(tmp_path):
    tree = tmp_path / "tree"
    for c in ("Cat", "cat", "dog"):
        _jpg(tree / c / "0.png")
    with pytest.raises(
        DataError,
        match=re.escape("class folders 'Cat' and 'cat' in ") + r".*differ only in case; "
        "rename or merge one of them",
    ):
        load_imagefolder(tree)


def test_id_like_names_warn_and_classnames_txt_fixes_them(tmp_path):
    # Folders named 0, 1 (pure digits): a warning with the fix; classnames.txt with ids gives readable names.
    tree = tmp_path / "tree"
    for c in ("0", "1"):
        for i in range(3):
            _jpg(tree / c / f"{i}.png", i)
    with pytest.warns(
        DataWarning,
        match=r"2 of 2 class names in .* look like ids \('0', '1'\).*'a photo of a 0\.'.*"
        r"Fix: put a classnames.txt",
    ):
        load_imagefolder(tree)
    (tree / "classnames.txt").write_text("tench\ngoldfish\n")  # plain names: given to the folders in sorted order
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # no id warning any more
        task = load_imagefolder(tree)
    assert task.classes.names == ["tench", "goldfish"]
    wn = tmp_path / "wn"
    for c in ("n01443537", "n01440764"):
        _jpg(wn / c / "0.png")
        _jpg(wn / c / "1.png")
    (wn / "classnames.txt").write_text("n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\n")
    task = load_imagefolder(wn)  # the shark has no folder: it is not a class of this tree
    assert task.classes.names == ["tench", "goldfish"]
    assert all(i.startswith("n01440764/") for i, lab in zip(task.pool.ids, task.pool.labels) if lab == 0)


# ---- models -------------------------------------------------------------------------------------
def test_random_init_is_seeded_without_touching_the_global_rng():
    # Two loads give equal weights, another seed other weights, and torch's global RNG is as it was.
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = load_clip("alor_tiny_fm", None, device="cpu").model.state_dict()
    b = load_clip("alor_tiny_fm", None, device="cpu").model.state_dict()
    c = load_clip("alor_tiny_fm", None, device="cpu", seed=1).model.state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_checkpoint_of_another_architecture_names_model_flag(tmp_path, capsys):
    # A tiny-CLIP checkpoint (the demo world's architecture) loaded as the default real-data model:
    # the error says which architecture it looks like and to pass --model; the CLI prints it, exit 2.
    ckpt = tmp_path / "alor_tiny_fm.pt"
    torch.save(load_clip("alor_tiny_fm", None, device="cpu").model.state_dict(), ckpt)
    assert guess_architecture(str(ckpt)) == ["alor_tiny_fm"]
    folder = _split_folder(tmp_path / "fish")
    code = main(
        [
            "run",
            "--dataset",
            str(folder),
            "--checkpoint",
            str(ckpt),
            "--no-rda",
            "--rounds",
            "1",
            "--output",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "does not fit model 'ViT-B-32-quickgelu'" in err
    assert (
        f"It looks like a checkpoint of 'alor_tiny_fm': pass --model alor_tiny_fm together with --checkpoint {ckpt}"
        in err
    )
