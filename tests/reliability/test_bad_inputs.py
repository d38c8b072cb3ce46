"""Bad-input catalogue (issue 8, "nothing lost, nothing crashes").

Every case feeds one kind of bad input and checks two things:

(a) the error is one of alor_core's own (``alor_core.errors``) and its message names the bad value
    and says what was expected;
(b) nothing on disk was damaged: an existing session is byte-identical before and after (every
    file under it, ``labels.csv``, ``results.csv`` and ``rounds/`` included), no session folder
    appears for a run that was refused, and no temporary file (``.<name>.*.tmp``) is left behind.
"""

import errno
import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import alor_core.io as aio
from alor_core.config import RunConfig
from alor_core.data import ImageSet, load_image, load_imagefolder, load_task
from alor_core.errors import AlorError, ConfigError, DataError, StorageError, UnknownNameError, UnsafePathError
from alor_core.loop.rounds import run
from alor_core.loop.session import Session
from alor_core.models.clip import load_clip
from alor_core.models.features import encode_images
from alor_core.safepath import safe_filename, safe_join

RUN_NAME = "catalogue"


# ---- helpers -------------------------------------------------------------------------------------
def snapshot(folder):
    """Every file under ``folder`` (relative path -> bytes); the lock file is not content."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".labels.lock"
    }


def temp_files(folder):
    return [str(p) for p in Path(folder).rglob("*.tmp")]


def assert_untouched(folder, before):
    after = snapshot(folder)
    assert sorted(after) == sorted(before), "files appeared or vanished"
    changed = [k for k in before if after[k] != before[k]]
    assert not changed, f"changed on disk: {changed}"
    assert not temp_files(folder)


def _png(path, size=(32, 32), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def image_tree(root, classes=("cat", "dog"), per_class=4):
    for k, c in enumerate(classes):
        for i in range(per_class):
            _png(root / c / f"{i}.png", seed=100 * k + i)
    return root


def tiny_config(dataset, **kw):
    """A quick run on a user folder: random-init tiny CLIP, LP, one round, no retrieval."""
    base = dict(
        dataset=str(dataset),
        strategy="random",
        adaptation="lp",
        rounds=1,
        rda=False,
        model_name="alor_tiny_fm",
        device="cpu",
        extra={"name": RUN_NAME},
    )
    base.update(kw)
    return RunConfig(**base)


def demo_config(**kw):
    """The configuration of the reference session (reduced demo world, two LP rounds)."""
    base = dict(strategy="random", adaptation="lp", rounds=2, k=20, seed=1, extra={"name": RUN_NAME})
    base.update(kw)
    return RunConfig(**base)


@pytest.fixture(scope="module")
def reference_session(tmp_path_factory, small_spec, small_world):
    """A finished two-round session on the reduced demo world (built once for this module)."""
    out = tmp_path_factory.mktemp("reference") / "output"
    session, status = run(demo_config(), out, spec=small_spec)
    assert status["state"] == "done" and session.finished_rounds() == [0, 1]
    return session.path


@pytest.fixture
def existing(tmp_path, reference_session):
    """A private copy of the reference session: ``(output root, session path, snapshot)``."""
    out = tmp_path / "output"
    dst = out / RUN_NAME / reference_session.name
    shutil.copytree(reference_session, dst)
    before = snapshot(dst)
    assert {
        "labels.csv",
        "results.csv",
        "config.json",
        "rounds/r00/metrics.json",
        "rounds/r00/selected.csv",
        "rounds/r01/metrics.json",
    } <= set(before)
    return out, dst, before


# ---- data folders --------------------------------------------------------------------------------
def test_missing_image_folder(tmp_path):
    # A dataset folder that does not exist is named; no session folder is created for the run.
    missing = tmp_path / "no_such_folder"
    with pytest.raises(
        DataError,
        match=re.escape(f"unknown dataset {str(missing)!r}") + ".*expected 'demo'.*"
        r"a folder with split files \(classes.csv, ltrain.txt, test.txt\) or an ImageFolder tree",
    ):
        run(tiny_config(missing), tmp_path / "output")
    with pytest.raises(DataError, match=re.escape(repr(str(missing))) + " does not exist or is not a folder"):
        load_imagefolder(missing)
    assert not (tmp_path / "output" / RUN_NAME).exists()


def test_empty_image_folder(tmp_path):
    # A folder without class sub-folders says what layout was expected.
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        DataError,
        match=re.escape(repr(str(empty)))
        + " has no class sub-folders; expected "
        + re.escape(f"{empty}/<class name>/<image files>"),
    ):
        run(tiny_config(empty), tmp_path / "output")
    assert not (tmp_path / "output" / RUN_NAME).exists()


def test_class_with_no_images(tmp_path):
    # A class folder holding no image (only a text file) is skipped with a warning that names it and
    # the suffixes looked for; the other classes load.
    from alor_core.data.official import DataWarning

    tree = image_tree(tmp_path / "tree")
    (tree / "emu").mkdir()
    (tree / "emu" / "notes.txt").write_text("not an image\n")
    with pytest.warns(DataWarning, match=r"class folder emu/ has no images \(looked for .*\.jpg.*\.png.*\); skipped"):
        task = load_imagefolder(tree)
    assert task.classes.names == ["cat", "dog"]
    assert any("emu/" in w for w in task.meta["warnings"])


@pytest.mark.parametrize("how", ["folders_differing_in_case", "classes_csv"])
def test_duplicate_class_names(tmp_path, how):
    # Two classes with the same name (case-insensitive) are refused, naming the name and both ids.
    tree = image_tree(
        tmp_path / "tree", classes=("Cat", "cat") if how == "folders_differing_in_case" else ("cat", "dog")
    )
    if how == "classes_csv":
        (tree / "classes.csv").write_text("class_id,class_name,synonyms\n0,cat,kitty\n1,dog,\n2,Cat,\n")
    with pytest.raises(
        DataError,
        match=r"duplicate class name '(cat|Cat)' \(classes 0 and (1|2)\); "
        "class names must be unique",
    ):
        run(tiny_config(tree), tmp_path / "output")
    assert not (tmp_path / "output" / RUN_NAME).exists()


# ---- image files ---------------------------------------------------------------------------------
def test_corrupt_image_file(tmp_path):
    # Bytes that are not an image: the error names the file (in a --strict run too; without it the file
    # is skipped, tests/unit/data/test_skip_report.py) and leaves no temp file.
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not a picture" * 10)
    with pytest.raises(DataError, match=re.escape(repr(str(bad))) + " is corrupt or not an image"):
        load_image(bad)
    tree = image_tree(tmp_path / "tree")
    (tree / "dog" / "2.png").write_bytes(b"GIF89a broken")
    out = tmp_path / "output"
    with pytest.raises(DataError, match=r"image file '.*dog/2\.png' is corrupt or not an image"):
        run(tiny_config(tree, strict=True), out)
    assert not temp_files(out)
    assert not (out / RUN_NAME / "seed1" / "labels.csv").exists()  # stopped before any label


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(tmp_path, fmt):
    # The first half of a real PNG/JPEG file is reported as truncated, naming the file.
    full = tmp_path / f"full.{fmt.lower()}"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)).save(full, fmt)
    half = tmp_path / f"half.{fmt.lower()}"
    data = full.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    assert load_image(full).size == (64, 64)
    with pytest.raises(DataError, match=re.escape(repr(str(half))) + r" is corrupt or not an image \(.*[Tt]runcated"):
        load_image(half)


def test_one_pixel_image_is_accepted_and_resized(tmp_path, random_bundle):
    # Decision: a 1x1 image is a valid (if useless) image; the model's transform resizes it.
    one = _png(tmp_path / "one.png", size=(1, 1))
    _png(tmp_path / "normal.png", size=(40, 30))
    im = load_image(one)
    assert im.mode == "RGB" and im.size == (1, 1)
    x = random_bundle.preprocess(im)
    side = random_bundle.model.visual.image_size
    side = side[0] if isinstance(side, (tuple, list)) else side
    assert tuple(x.shape) == (3, side, side)
    feats = encode_images(random_bundle, ImageSet(["one.png", "normal.png"], tmp_path, np.array([0, 1])), cache=False)
    assert feats.shape[0] == 2 and np.isfinite(feats).all()
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-4)


def _odd_image(path, kind):
    if kind == "greyscale":
        Image.fromarray(np.full((8, 8), 77, np.uint8), "L").save(path)
    elif kind == "cmyk":
        Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, "JPEG", quality=100)  # red in CMYK
    elif kind == "16bit":
        Image.fromarray(np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)).save(path)
    elif kind == "animated_gif":
        frames = [Image.new("RGB", (8, 8), c) for c in ((0, 0, 255), (255, 0, 0), (0, 255, 0))]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    elif kind == "rgba":
        Image.new("RGBA", (8, 8), (0, 200, 0, 128)).save(path)


@pytest.mark.parametrize(
    "kind, suffix", [("greyscale", "png"), ("cmyk", "jpg"), ("16bit", "png"), ("animated_gif", "gif"), ("rgba", "png")]
)
def test_unusual_image_modes_load_as_rgb(tmp_path, random_bundle, kind, suffix):
    # Greyscale, CMYK, 16-bit, animated GIF and RGBA images all load as 8-bit RGB of the same size.
    path = tmp_path / f"img.{suffix}"
    _odd_image(path, kind)
    im = load_image(path)
    arr = np.asarray(im)
    assert im.mode == "RGB" and im.size == (8, 8) and arr.dtype == np.uint8
    if kind == "greyscale":
        assert (arr == 77).all()
    elif kind == "cmyk":
        assert arr[..., 0].min() > 200 and arr[..., 1:].max() < 60  # still red
    elif kind == "16bit":
        assert arr.max() == 255 and arr.min() == 0 and len(np.unique(arr[..., 0])) > 32  # scaled, not clipped
    elif kind == "animated_gif":
        assert tuple(arr[0, 0]) == (0, 0, 255)  # the first frame
    else:
        assert tuple(arr[0, 0]) == (127, 227, 127)  # alpha 128 over the white background (images.BACKGROUND)
    feats = encode_images(random_bundle, ImageSet([path.name], tmp_path, np.array([0])), cache=False)
    assert feats.shape[0] == 1 and np.isfinite(feats).all()


# ---- model ---------------------------------------------------------------------------------------
def test_unknown_model_name(tmp_path, existing, small_spec):
    # An unknown open_clip name lists the available names; the existing session is not touched.
    out, sdir, before = existing
    with pytest.raises(UnknownNameError, match=r"unknown open_clip model 'ViT-Q-99'; available: .*alor_tiny_fm"):
        run(demo_config(model_name="ViT-Q-99"), out, spec=small_spec)
    assert_untouched(sdir, before)


def _wrong_shapes(path):
    torch.manual_seed(0)
    sd = load_clip("alor_tiny_fm", None, device="cpu").model.state_dict()
    key = next(k for k in sd if k.endswith("mlp.c_fc.weight"))
    sd[key] = torch.zeros(sd[key].shape[0] + 1, sd[key].shape[1])
    torch.save(sd, path)
    return (
        rf"does not fit model 'alor_tiny_fm': size mismatch for {re.escape(key)}.*"
        "expected a checkpoint of alor_tiny_fm"
    )


@pytest.mark.parametrize("kind", ["wrong_shapes", "text_file", "empty_file", "zip_not_torch"])
def test_checkpoint_that_does_not_fit(tmp_path, existing, small_spec, kind):
    # A state dict of the wrong shapes names the parameter; a file that is no checkpoint at all is
    # named with what was expected. The existing session is not touched.
    out, sdir, before = existing
    ckpt = tmp_path / f"{kind}.pt"
    if kind == "wrong_shapes":
        message = _wrong_shapes(ckpt)
    else:
        if kind == "text_file":
            ckpt.write_text("these are not weights\n")
        elif kind == "empty_file":
            ckpt.write_bytes(b"")
        else:
            with zipfile.ZipFile(ckpt, "w") as zf:
                zf.writestr("hello.txt", "a zip, but not a torch checkpoint")
        message = (
            re.escape(f"checkpoint file {str(ckpt)!r} could not be read as a checkpoint of 'alor_tiny_fm'")
            + r" \(.*\); expected a file written by torch.save"
        )
    with pytest.raises(DataError, match=message):
        load_clip("alor_tiny_fm", str(ckpt), device="cpu")
    with pytest.raises(DataError, match=message):
        run(demo_config(model_name="alor_tiny_fm", pretrained=str(ckpt)), out, spec=small_spec)
    assert_untouched(sdir, before)


# ---- run settings --------------------------------------------------------------------------------
def test_budget_larger_than_pool(tmp_path, small_spec, small_world):
    # The budget is checked before any session file is written.
    out = tmp_path / "output"
    n = len(small_world.pool)
    with pytest.raises(
        ConfigError,
        match=rf"'budget' 100000 is larger than the unlabeled pool \({n} images\); "
        rf"expected at most {n}",
    ):
        run(demo_config(budget=100_000, extra={"name": "too_big"}), out, spec=small_spec)
    assert not (out / "too_big").exists()


def _caption_table(folder, captions):
    """A LAION-layout captions table (TEXT, URL) with real images beside it."""
    folder.mkdir(parents=True)
    urls = []
    for i in range(len(captions)):
        _png(folder / f"img{i}.png", size=(96, 96), seed=i)
        urls.append(f"img{i}.png")
    pd.DataFrame(
        {"SAMPLE_ID": range(len(captions)), "URL": urls, "TEXT": captions, "HEIGHT": 96, "WIDTH": 96}
    ).to_parquet(folder / "corpus.parquet", index=False)
    return folder / "corpus.parquet"


def test_rda_retrieves_nothing_for_every_class(tmp_path, small_spec, small_world):
    # Decision: RDA on with captions that name no class is an error (a run labeled "rda" that
    # trained without retrieved data would mislead); the message suggests --no-rda. No
    # retrieval files, labels or rounds are written.
    table = _caption_table(
        tmp_path / "open",
        ["a sunset over the harbour", "zebra crossing at night", "abstract painting in blue", "a bowl of soup"],
    )
    out = tmp_path / "output"
    cfg = demo_config(retrieval_source=str(table), extra={"name": "no_match"})
    with pytest.raises(
        DataError,
        match=r"RDA retrieved no image for any of the 10 classes from "
        + re.escape(repr(str(table)))
        + r": no caption names a class or a "
        r"synonym \(e\.g\. 't-shirt'.*\); expected at least one match\. .*--no-rda",
    ):
        run(cfg, out, spec=small_spec)
    sdir = out / "no_match" / "seed1"
    assert not (sdir / "retrieval").exists() and not (sdir / "labels.csv").exists()
    assert not (sdir / "rounds").exists() and not temp_files(out)
    # The same captions table without RDA runs (the advice in the message works).
    session, status = run(
        demo_config(retrieval_source=str(table), rda=False, rounds=1, extra={"name": "no_match_nordA"}),
        out,
        spec=small_spec,
    )
    assert status["state"] == "done" and session.metrics(0)["n_retrieved"] == 0


@pytest.mark.parametrize(
    "change, key, on_disk, now",
    [
        ({"k": 30}, "k", "20", "30"),
        ({"budget": 3}, "budget", "None", "3"),
        ({"strategy": "entropy"}, "strategy", "'random'", "'entropy'"),
        ({"labeled_weight": 1.0}, "labeled_weight", "0.0", "1.0"),
    ],
)
def test_resume_with_a_different_config_refuses(existing, small_spec, change, key, on_disk, now):
    # Resuming a session with another setting names the key (and both values) and changes nothing.
    out, sdir, before = existing
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"session {str(sdir)!r} was started with a different configuration ({key}: {on_disk} on disk vs {now} now)"
        )
        + "; use another --name or delete the folder",
    ):
        run(demo_config(**change), out, spec=small_spec)
    assert_untouched(sdir, before)


# ---- a full disk ---------------------------------------------------------------------------------
class _FullDisk:
    """``os.fdopen`` whose files take half of what is written, then fail with ENOSPC."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = os.fdopen

        def fake(fd, *args, **kwargs):
            fh = real(fd, *args, **kwargs)
            outer = self

            class Half:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    fh.close()
                    return False

                def write(self, data):
                    outer.calls += 1
                    fh.write(data[: len(data) // 2])
                    fh.flush()
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

                def __getattr__(self, name):
                    return getattr(fh, name)

            return Half()

        monkeypatch.setattr(aio.os, "fdopen", fake)


def test_full_disk_while_saving_labels(existing, monkeypatch):
    # A label write on a full disk names labels.csv, keeps its previous content, leaves no temp file.
    out, sdir, before = existing
    session = Session(sdir)
    new_id = "a_picture_nobody_labeled_yet.png"
    assert new_id not in set(session.labels()["sample_id"])
    disk = _FullDisk(monkeypatch)
    with pytest.raises(
        StorageError,
        match=re.escape(
            f"could not write {str(sdir / 'labels.csv')!r}: No space left "
            "on device (errno 28); the previous version of the file "
            "is unchanged"
        ),
    ) as err:
        session.add_labels([(new_id, 0, 2, "human")])
    assert disk.calls == 1
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(sdir / "labels.csv")
    assert isinstance(err.value, OSError) and isinstance(err.value, AlorError)
    assert_untouched(sdir, before)


def test_full_disk_while_resuming_a_run(existing, monkeypatch, small_spec):
    # Extending a run rewrites config.json first: on a full disk the error names it and the
    # session (config, labels, results, rounds) stays byte-identical.
    out, sdir, before = existing
    disk = _FullDisk(monkeypatch)
    with pytest.raises(
        StorageError, match=re.escape(f"could not write {str(sdir / 'config.json')!r}: No space left on device")
    ):
        run(demo_config(rounds=3), out, spec=small_spec)
    assert disk.calls >= 1
    assert_untouched(sdir, before)


def test_full_disk_before_the_temp_file_exists(existing, monkeypatch):
    # Even creating the temporary file can fail (no free inodes): the target file is named.
    # write_metrics writes rounds/r01/metrics.json first (then rebuilds results.csv).
    out, sdir, before = existing

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(aio.tempfile, "mkstemp", no_space)
    target = sdir / "rounds" / "r01" / "metrics.json"
    with pytest.raises(StorageError, match=re.escape(f"could not write {str(target)!r}: No space")):
        Session(sdir).write_metrics(1, Session(sdir).metrics(1))
    assert_untouched(sdir, before)


# ---- paths that try to leave their root ----------------------------------------------------------
@pytest.mark.parametrize(
    "name, message",
    [
        ("../../etc", r"run name '\.\./\.\./etc' has a '\.\.' component and would leave"),
        ("ok/../../escaped", r"run name 'ok/\.\./\.\./escaped' has a '\.\.' component"),
        ("/tmp/alor_escaped_run", r"run name '/tmp/alor_escaped_run' is an absolute path"),
        ("link_out", r"run name 'link_out' leads outside .* through a symlink"),
    ],
)
def test_run_name_cannot_leave_the_output_folder(tmp_path, small_spec, name, message):
    # --name / the Run page's run name: '..', absolute paths and symlinks out are refused before
    # anything is loaded or written, and nothing appears outside the output folder.
    out = tmp_path / "output"
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "link_out").symlink_to(outside, target_is_directory=True)
    expected = ".*expected a relative path inside " + re.escape(repr(str(out)))
    with pytest.raises(UnsafePathError, match=message + expected):
        run(demo_config(extra={"name": name}), out, spec=small_spec)
    assert list(outside.iterdir()) == []
    assert not Path("/tmp/alor_escaped_run").exists() and not (tmp_path / "escaped").exists()
    assert sorted(p.name for p in out.iterdir()) == ["link_out"]


def test_cli_refuses_a_run_name_outside_the_output_folder(tmp_path, capsys):
    # `run --name ../escaped` ends with exit code 2 and the message; no folder is created outside.
    # (In-process: the CLI's exit code is main()'s return value.)
    from alor_core.cli import main

    out = tmp_path / "output"
    rc = main(["run", "--small-demo", "--quiet", "--rounds", "1", "--name", "../escaped", "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.search(
        r"^error: run name '\.\./escaped' has a '\.\.' component and would leave " + re.escape(repr(str(out))), err
    ), err
    assert not (tmp_path / "escaped").exists() and not out.exists()


def test_dashboard_start_run_refuses_an_unsafe_run_name(tmp_path, monkeypatch):
    # The Run page's start button: the background job is not launched, no job.json is written.
    from alor_core.loop import jobs
    from alor_core.ui import forms

    out = tmp_path / "output"
    monkeypatch.setenv("ALOR_OUTPUT_DIR", str(out))
    started = []
    monkeypatch.setattr(jobs, "start", lambda *a, **k: started.append(a))
    for name in ("../../etc", str(tmp_path / "abs_run")):
        with pytest.raises(UnsafePathError, match=re.escape(f"run name {name!r}")):
            forms.start_run(demo_config(extra={"name": name}), [1])
    assert started == [] and not list(tmp_path.rglob("job.json"))
    assert not (tmp_path / "abs_run").exists()


def test_dataset_name_cannot_leave_the_data_root(tmp_path):
    # With --data-root, a folder dataset is a relative path inside it: '..' and absolute paths are
    # refused; a symlink inside the root (datasets on another disk) is followed, for reading only.
    root = tmp_path / "datasets"
    root.mkdir()
    image_tree(tmp_path / "elsewhere" / "mine")
    for bad, what in (
        ("../elsewhere/mine", "has a '..' component"),
        (str(tmp_path / "elsewhere" / "mine"), "is an absolute path"),
    ):
        with pytest.raises(
            UnsafePathError,
            match=re.escape(f"dataset {bad!r} {what}")
            + ".*"
            + re.escape(f"expected a relative path inside {str(root)!r}"),
        ):
            load_task(bad, root)
    (root / "mine").symlink_to(tmp_path / "elsewhere" / "mine", target_is_directory=True)
    assert load_task("mine", root).classes.names == ["cat", "dog"]


def test_imagefolder_zip_export_cannot_climb_out(tmp_path):
    # The Label page's ImageFolder zip: a class called '..', '/etc' or 'C:\\win' and ids with '..'
    # or '\\' become harmless single names, so every entry is <class>/<file> inside the archive.
    from alor_core import analysis
    from alor_core.data import ClassInfo, TaskData

    root = tmp_path / "pool" / "images"
    ids = ["a.png", "..\\..\\evil.png", "../up.png", "sub/x.png"]  # '\\' is a legal name character here
    for i in ids:
        _png(root / i)
    names = ["..", "/etc", "C:\\win", "ok"]
    pool = ImageSet(ids, root, np.arange(4))
    task = TaskData("t", ClassInfo(names, [[n] for n in names]), pool, pool)
    s = Session.open_or_create(tmp_path / "out" / "s" / "seed1", {"seed": 1})
    s.add_labels([(sid, k, 1, "human") for k, sid in enumerate(ids)])
    with zipfile.ZipFile(io.BytesIO(analysis.imagefolder_zip(s, task))) as zf:
        entries = sorted(zf.namelist())
        assert zf.read("_../a.png") == (root / "a.png").read_bytes()
    assert entries == ["C__win/..__up.png", "_../a.png", "_etc/.._.._evil.png", "labels.csv", "ok/sub__x.png"]
    for e in entries:
        assert not e.startswith("/") and "\\" not in e and ".." not in e.split("/"), e


@pytest.mark.parametrize(
    "user_path, message",
    [
        ("../x", "has a '..' component"),
        ("a/../../x", "has a '..' component"),
        ("..\\x", "has a '..' component"),
        ("/etc/passwd", "is an absolute path"),
        ("C:\\Windows", "is an absolute path"),
        ("", "is empty"),
        ("a\x00b", "contains a NUL byte"),
        ("link/inner", "leads outside .* through a symlink"),
    ],
)
def test_safe_join_refuses_every_way_out(tmp_path, user_path, message):
    # The helper every user path goes through; accepted paths stay inside, as typed.
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside" / "inner").mkdir(parents=True)
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(UnsafePathError, match=re.escape(f"thing {user_path!r} ") + message):
        safe_join(root, user_path, what="thing")
    assert safe_join(root, "sub/new_run") == root / "sub" / "new_run"
    assert safe_filename("..") == "_.." and safe_filename("a/b\\c") == "a_b_c"
