import numpy as np
import pytest
from PIL import Image

from alor_core.data import ClassInfo, ImageSet, load_image, load_imagefolder, read_classes_csv, read_list_file
from alor_core.data.listfiles import write_list_file
from alor_core.errors import DataError, UnknownNameError


def _img(path, size=(8, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=0).save(path)


def test_list_file_roundtrip_and_missing_trailing_newline(tmp_path):
    # A split file without a trailing newline still yields every record (spec §10.12).
    f = tmp_path / "train.txt"
    f.write_text("a/x 1.jpg 0 1\nb/y.jpg 2 1")  # path with a space, no final newline
    s = read_list_file(f, tmp_path, n_classes=3)
    assert s.ids == ["a/x 1.jpg", "b/y.jpg"] and s.labels.tolist() == [0, 2]
    write_list_file(tmp_path / "out.txt", s)
    assert (tmp_path / "out.txt").read_text().endswith("\n")
    assert read_list_file(tmp_path / "out.txt", tmp_path, 3).ids == s.ids


def test_list_file_label_out_of_range_names_line(tmp_path):
    # A label outside 0..C-1 is reported with file, line and the expected range.
    f = tmp_path / "t.txt"
    f.write_text("a.jpg 0 1\nb.jpg 7 1\n")
    with pytest.raises(DataError, match=r"t.txt:2: label 7 is out of range; expected 0..4"):
        read_list_file(f, tmp_path, n_classes=5)


def test_list_file_missing(tmp_path):
    # A missing split file names the path.
    with pytest.raises(DataError, match="nope.txt.*does not exist"):
        read_list_file(tmp_path / "nope.txt", tmp_path)


def test_duplicate_ids_rejected(tmp_path):
    # The same image twice in one set is an error naming the id.
    with pytest.raises(DataError, match="'a.jpg' is listed twice"):
        ImageSet(["a.jpg", "a.jpg"], tmp_path, np.array([0, 1]))


def test_duplicate_class_names_rejected():
    # Class names must be unique (case-insensitive).
    with pytest.raises(DataError, match="duplicate class name 'Cat'"):
        ClassInfo(["cat", "Cat"], [["cat"], ["Cat"]])


def test_class_lookup_unknown_lists_available():
    # Unknown class names list the known ones.
    info = ClassInfo(["cat", "dog"], [["cat"], ["dog"]])
    assert info.index("DOG") == 1
    with pytest.raises(UnknownNameError, match="unknown class 'cow'; available: cat, dog"):
        info.index("cow")


def test_classes_csv_with_synonyms_and_templates(tmp_path):
    # The class table reads synonyms (name first, deduplicated) and templates.
    (tmp_path / "classes.csv").write_text("class_id,class_name,synonyms\n1,dog,puppy;Dog\n0,cat,kitten\n")
    (tmp_path / "templates.txt").write_text("a photo of a {}.\n{} pic\n")
    info = read_classes_csv(tmp_path / "classes.csv")
    assert info.names == ["cat", "dog"]
    assert info.synonyms == [["cat", "kitten"], ["dog", "puppy"]]
    assert info.templates == ("a photo of a {}.", "{} pic")


def test_load_image_errors_and_modes(tmp_path):
    # Corrupt files raise a DataError naming the file; greyscale/16-bit/1x1 images load as RGB.
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="bad.png.*corrupt"):
        load_image(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    _img(tmp_path / "g.png", mode="L")
    _img(tmp_path / "one.png", size=(1, 1))
    Image.fromarray(np.full((4, 4), 60000, np.uint16)).save(tmp_path / "i16.png")
    for name in ("g.png", "one.png", "i16.png"):
        assert load_image(tmp_path / name).mode == "RGB"
    assert np.asarray(load_image(tmp_path / "i16.png")).max() == 233  # 60000 / 65535 * 255: scaled by bit depth


def test_imagefolder_split_and_errors(tmp_path):
    # An ImageFolder tree is split with a seed; a class folder without images is named.
    for c in ("a", "b"):
        for i in range(5):
            _img(tmp_path / "tree" / c / f"{i}.png")
    task = load_imagefolder(tmp_path / "tree", test_fraction=0.4, seed=0)
    assert task.classes.names == ["a", "b"]
    assert len(task.pool) + len(task.test) == 10 and len(task.test) == 4
    assert not set(task.pool.ids) & set(task.test.ids)
    (tmp_path / "tree" / "c").mkdir()  # an empty class folder is skipped with a warning
    with pytest.warns(UserWarning, match="class folder c/ has no images"):
        assert load_imagefolder(tmp_path / "tree").classes.names == ["a", "b"]
    with pytest.raises(DataError, match="does not exist"):
        load_imagefolder(tmp_path / "nowhere")
