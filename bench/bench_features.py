"""Feature extraction per input path vs the bare ``encode_image`` forward, measured in one run.

Two modes, one per invocation, both timing ``alor_core.models.features.encode_images`` (feature
cache off) on the same images and batches next to the bare forward on input tensors prepared
beforehand (the floor).

The demo world (default): its images and its tiny model (alor_tiny_fm), every path of
:func:`alor_core.models.image_batches.image_batches`:

* ``decoded-batched``: product images (demo world) from the decoded store, batched transform;
* ``decoded, per-image transform``: the same store through the PIL transform one image at a time;
* ``user images, inline`` and ``user images, N threads``: a copy of the images outside the cache
  folder (as a user's folder), decoded in the calling thread or in a bounded thread pool;
  ``whole eval transform per image``: inline, as before the batched to-tensor/Normalize tail;
* ``user images, DataLoader workers``: only on CUDA (pinned memory, prefetch).

A real architecture (``--arch``, e.g. ViT-B-32, seeded random weights: no download) on
``--user-jpegs N`` generated photo-like files in a temporary folder, as users bring them (JPEGs of
400-600 px in mixed aspect ratios, a PNG cut-out with alpha and an EXIF-rotated JPEG in every
16; ``--phone-photos K`` makes K of them 12-megapixel phone photos), through the model's own eval
transform (resize 224, centre crop): the user-image paths of the CPU (inline, N decode threads,
and for comparison the whole transform per image and, with phone photos, full-size JPEG
decoding) or the DataLoader workers on CUDA, with each path's largest feature difference from
the bare forward on full-size decoded inputs.

Timings are interleaved (each repeat runs every path once) and the best of ``--repeat`` is kept
(every repeat is printed too), so a loaded machine slows all paths alike. Printed: seconds,
images/s, and the speed ratio ``bare forward seconds / pipeline seconds`` (goal >= 0.9), plus the
one-off costs (decoded store build and cached re-read; per-image decode and transform), and the
machine's load average. The run goes on top of ``bench/RESULTS_features.md`` (``--out``), earlier
runs kept below it (``bench/results_file.py``).

Usage::

    python bench/bench_features.py --repeat 3 --threads 1 2      # demo world, tiny model
    python bench/bench_features.py --arch ViT-B-32 --user-jpegs 256 --repeat 2 --threads 1 2
    python bench/bench_features.py --arch ViT-B-32 --user-jpegs 128 --phone-photos 16 --repeat 2 --threads 1

Other options: ``--small`` / ``--world-dir DIR`` / ``--split test|pool`` (demo world),
``--batch-size`` (default 256, or 64 with ``--arch``), ``--seed``.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision import transforms as T  # noqa: E402

from alor_core.data import DemoWorldSpec, ImageSet, load_demo_world, read_classes_csv  # noqa: E402
from alor_core.loop.demo_build import ensure_demo_world  # noqa: E402
from alor_core.data.listfiles import read_list_file  # noqa: E402
from alor_core.data.decoded import content_key, decoded_images  # noqa: E402
from alor_core.data.images import open_image  # noqa: E402
from alor_core.models import image_batches as ib  # noqa: E402
from alor_core.models.clip import ClipBundle, load_clip  # noqa: E402
from alor_core.models.features import encode_images  # noqa: E402
from alor_core.paths import cache_dir  # noqa: E402
from results_file import transcript, write_results  # noqa: E402


def world(small, world_dir=None):
    """(images by split, model checkpoint, description): a world folder, else the full demo world
    when built, else the reduced one (built if needed)."""
    if world_dir:
        d = Path(world_dir)
        n = len(read_classes_csv(d / "classes.csv"))
        splits = {"test": read_list_file(d / "test.txt", d, n), "pool": read_list_file(d / "ltrain.txt", d, n)}
        return splits, str(d / "model" / "alor_tiny_fm.pt"), f"demo world folder {d.name}"
    task, which = None, "full demo world"
    if not small:
        try:
            task = load_demo_world(None)
        except Exception as err:  # noqa: BLE001 - not built: say so and use the reduced one
            print(f"full demo world not available ({err}); using DemoWorldSpec.small()")
    if task is None:
        task, which = ensure_demo_world(DemoWorldSpec.small()), "reduced demo world (DemoWorldSpec.small())"
    return {"test": task.test, "pool": task.pool}, task.meta["checkpoint"], which


def whole_transform_per_image(fn):
    """``fn`` run as the user-image paths ran before the batched tail: every step of the eval
    transform per image (``image_batches._prepare`` bypassed), to compare in the same run."""

    def run():
        real = ib._prepare
        ib._prepare = lambda transform: (transform, torch.stack)
        try:
            return fn()
        finally:
            ib._prepare = real

    return run


def user_pass(bundle, user, bs, threads, draft=None):
    """A timed call: ``encode_images`` of ``user`` (cache off) with ``threads`` CPU decode threads
    and, when given, ``draft`` as ``JPEG_DRAFT``; both restored afterwards. Returns the features."""

    def run():
        old = ib.CPU_DECODE_THREADS, ib.JPEG_DRAFT
        ib.CPU_DECODE_THREADS = threads
        ib.JPEG_DRAFT = old[1] if draft is None else draft
        try:
            return encode_images(bundle, user, batch_size=bs, cache=False)
        finally:
            ib.CPU_DECODE_THREADS, ib.JPEG_DRAFT = old

    return run


def user_image_paths(bundle, user, bs, threads, extra=()):
    """The timed user-image paths: on CUDA the DataLoader workers; on the CPU inline decoding, the
    same with the whole eval transform per image, ``extra`` paths, then each decode-thread count."""
    if bundle.device.type == "cuda":
        run = lambda: encode_images(bundle, user, batch_size=bs, cache=False)  # noqa: E731
        return [(f"user images, DataLoader {ib.CUDA_WORKERS} workers", run)]
    return [
        ("user images, inline decode", user_pass(bundle, user, bs, 0)),
        (
            "user images, inline decode, whole eval transform per image",
            whole_transform_per_image(user_pass(bundle, user, bs, 0)),
        ),
        *extra,
        *[(f"user images, {k} decode threads", user_pass(bundle, user, bs, k)) for k in threads],
    ]


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default=None, help="an open_clip architecture (random weights), e.g. ViT-B-32")
    ap.add_argument("--user-jpegs", type=int, default=256, help="with --arch: photo-like files to generate")
    ap.add_argument("--phone-photos", type=int, default=0, help="with --arch: this many of them 12 MP instead")
    ap.add_argument("--seed", type=int, default=0, help="with --arch: seed of the weights and of the photos")
    ap.add_argument("--small", action="store_true", help="reduced demo world")
    ap.add_argument("--world-dir", default=None, help="a built demo-world folder (classes.csv, test.txt, model/)")
    ap.add_argument("--split", default="test", choices=["test", "pool"])
    ap.add_argument("--batch-size", type=int, default=None, help="default 256 (demo world), 64 (--arch)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="decoding thread counts to time")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_features.md")))
    args = ap.parse_args()
    lines, say = transcript()

    if args.arch:
        arch_run(args, say)
    else:
        world_run(args, say)
    say(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    write_results(
        args.out,
        "Feature extraction per input path (`bench/bench_features.py`)",
        f"Command: `python bench/bench_features.py {' '.join(sys.argv[1:])}`\n\n" + "\n".join(lines),
    )
    print(f"wrote {args.out}")


def world_run(args, say):
    """The demo world's images and tiny model: every path of ``image_batches``."""
    splits, checkpoint, which = world(args.small, args.world_dir)
    bundle = load_clip("alor_tiny_fm", checkpoint)
    images = splits[args.split]
    n, bs, dev = len(images), args.batch_size or 256, bundle.device
    say(
        f"bench_features {time.strftime('%Y-%m-%d %H:%M')} | {which}, {n} {args.split} images | model "
        f"{bundle.model_name} | device {dev} | torch threads {torch.get_num_threads()} | {os.cpu_count()} CPU "
        f"cores | batch {bs} | best of {args.repeat} | load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    # one-off: the decoded store of the product images (built by the first feature pass otherwise)
    set_key = content_key(images).split("-")[0]
    for f in (cache_dir() / "decoded").glob(f"{set_key}-*"):  # time a real build, not a re-read
        f.unlink()
    t0 = time.perf_counter()
    store = decoded_images(images)
    build_s = time.perf_counter() - t0
    # inputs of the bare forward, prepared outside the timing, batched as encode_images batches
    batches = [
        torch.stack([bundle.preprocess(open_image(images.path(i))) for i in range(s, min(s + bs, n))])
        for s in range(0, n, bs)
    ]
    net = bundle.model.eval()

    @torch.no_grad()
    def bare():
        for x in batches:
            net.encode_image(x.to(dev))

    tmp = Path(tempfile.mkdtemp(prefix="alor-user-images-"))  # outside the cache: user images
    try:
        for i in range(n):
            dst = tmp / images.ids[i]
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(images.path(i), dst)
        user = ImageSet(list(images.ids), tmp, images.labels)
        per_image = ClipBundle(
            bundle.model,
            T.Compose([T.Lambda(lambda im: im), *bundle.preprocess.transforms]),
            bundle.train_preprocess,
            bundle.tokenizer,
            bundle.model_name,
            bundle.pretrained,
            dev,
        )

        paths = [
            ("bare encode_image forward", bare),
            (
                f"decoded-batched ({ib.pass_kind(images, bundle.preprocess, dev, store)})",
                lambda: encode_images(bundle, images, batch_size=bs, cache=False),
            ),
            (
                f"decoded, per-image transform ({ib.pass_kind(images, per_image.preprocess, dev, store)})",
                lambda: encode_images(per_image, images, batch_size=bs, cache=False),
            ),
        ]
        paths += user_image_paths(bundle, user, bs, args.threads)
        # the same features on every path
        ref = encode_images(bundle, images, batch_size=bs, cache=False)
        assert np.allclose(encode_images(per_image, images, batch_size=bs, cache=False), ref, atol=1e-5)
        for k in [0, *args.threads]:
            other = user_pass(bundle, user, bs, k)()
            assert np.allclose(other, ref, atol=1e-5), f"user-image path ({k} threads) gave other features"
        times = {name: [] for name, _ in paths}
        for _ in range(args.repeat):
            for name, fn in paths:
                times[name].append(timed(fn))
        best = {name: min(ts) for name, ts in times.items()}
        bare_s = best["bare encode_image forward"]
        say("")
        say(
            "| path | seconds (best of %d) | images/s | speed vs bare forward (goal >= 0.90) | every repeat (s) |"
            % args.repeat
        )
        say("|---|---|---|---|---|")
        for name, s in best.items():
            each = " ".join(f"{t:.2f}" for t in times[name])
            say(f"| {name} | {s:.3f} | {n / s:,.0f} | {bare_s / s:.2f} | {each} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    with tempfile.TemporaryDirectory() as feat_cache:  # a cold feature cache
        old = os.environ.get("ALOR_CACHE_DIR")
        os.environ["ALOR_CACHE_DIR"] = feat_cache
        try:
            first_s = timed(lambda: encode_images(bundle, images, batch_size=bs))
            reread_s = min(timed(lambda: encode_images(bundle, images, batch_size=bs)) for _ in range(args.repeat))
        finally:
            if old is None:
                os.environ.pop("ALOR_CACHE_DIR")
            else:
                os.environ["ALOR_CACHE_DIR"] = old
    say("")
    say(
        f"decoded store build (once per image set and content): {build_s:.2f} s for {n} images "
        f"({n / build_s:,.0f} images/s)"
    )
    say(f"feature cache: first pass {first_s:.3f} s, re-read {reread_s:.4f} s ({first_s / reread_s:,.0f}x)")


def write_user_photos(folder, n, seed=0, phone=0):
    """``n`` photo-like files in ``folder`` as a user's folder holds them: JPEGs of 400-600 px on the
    long side in mixed aspect ratios (4:3, 3:2, 1:1, 16:9, portrait or landscape), smooth shapes
    under sensor noise (so a file costs a photo's decode, ~30-70 KB), every 16th a PNG cut-out with
    an alpha channel and every 16th (another) stored sideways with EXIF orientation 6. ``phone`` of
    them (spread evenly) are 12-megapixel phone photos instead (4032 x 3024, 4:3)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ids = []
    every = n // phone if phone else 0
    for i in range(n):
        is_phone = bool(every) and i % every == every // 2
        long_side = 4032 if is_phone else int(rng.integers(400, 601))
        aspect = [4 / 3, 3 / 2, 1.0, 16 / 9][i % 4] if long_side < 4032 else 4 / 3
        w, h = long_side, int(round(long_side / aspect))
        if rng.random() < 0.4:
            w, h = h, w
        coarse = rng.integers(0, 256, size=(max(2, h // 48), max(2, w // 48), 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse, "RGB").resize((w, h), Image.BICUBIC), dtype=np.float32)
        img = np.clip(img + rng.normal(0, 6, img.shape).astype(np.float32), 0, 255).astype(np.uint8)
        im = Image.fromarray(img, "RGB")
        if i % 16 == 5:  # a cut-out: transparent outside an ellipse
            alpha = Image.new("L", (w, h), 0)
            from PIL import ImageDraw

            ImageDraw.Draw(alpha).ellipse((w // 8, h // 8, w - w // 8, h - h // 8), fill=255)
            im.putalpha(alpha)
            name = f"photo_{i:05d}.png"
            im.save(folder / name)
        elif i % 16 == 11 or (
            is_phone and (i // every) % 2
        ):  # a photo stored sideways, upright through its EXIF orientation
            exif = Image.Exif()
            exif[0x0112] = 6
            name = f"photo_{i:05d}.jpg"
            im.transpose(Image.Transpose.ROTATE_90).save(folder / name, quality=90, exif=exif)
        else:
            name = f"photo_{i:05d}.jpg"
            im.save(folder / name, quality=int(rng.integers(80, 96)))
        ids.append(name)
    return ImageSet(ids, Path(folder), np.zeros(n, dtype=int))


def arch_run(args, say):
    """A real open_clip architecture (seeded random weights) on generated user photos: the bare
    forward next to the CPU user-image paths (inline decode, N decode threads)."""
    bundle = load_clip(args.arch, None, seed=args.seed)
    n, bs, dev = args.user_jpegs, args.batch_size or 64, bundle.device
    tmp = Path(tempfile.mkdtemp(prefix="alor-user-photos-"))  # outside the cache: user images
    try:
        t0 = time.perf_counter()
        user = write_user_photos(tmp, n, args.seed, args.phone_photos)
        made_s = time.perf_counter() - t0
        mb = sum(f.stat().st_size for f in tmp.iterdir()) / 2**20
        phones = f", {args.phone_photos} of them 12 MP phone photos" if args.phone_photos else ""
        say(
            f"bench_features {time.strftime('%Y-%m-%d %H:%M')} | {n} generated user photos "
            f"(400-600 px{phones}, {mb:.1f} MiB, PNG cut-outs and EXIF-rotated JPEGs among them) | model {args.arch} "
            f"(random weights, seed {args.seed}) | device {dev} | torch threads {torch.get_num_threads()} | "
            f"{os.cpu_count()} CPU cores | batch {bs} | best of {args.repeat} | "
            f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        side = ib.draft_side(bundle.preprocess)
        say(
            f"eval transform: {' -> '.join(type(t).__name__ for t in bundle.preprocess.transforms)}; JPEGs "
            f"decoded at a reduced scale down to a shorter side of {side} px (JPEG_DRAFT {ib.JPEG_DRAFT})"
        )
        # the one-off decode + transform cost per image, outside any forward (1 thread, inline);
        # the bare forward's inputs: the full-size decode (the reference of every path)
        t0 = time.perf_counter()
        [open_image(user.path(i), min_side=side) for i in range(n)]
        draft_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pil = [open_image(user.path(i)) for i in range(n)]
        decode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        inputs = [bundle.preprocess(im) for im in pil]
        transform_s = time.perf_counter() - t0
        per_image, batch = ib._prepare(bundle.preprocess)
        t0 = time.perf_counter()
        split = [per_image(im) for im in pil]
        head_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in range(0, n, bs):
            batch(split[s : s + bs])
        tail_s = time.perf_counter() - t0
        del split
        del pil
        batches = [torch.stack(inputs[s : s + bs]) for s in range(0, n, bs)]
        del inputs
        net = bundle.model.eval()

        @torch.no_grad()
        def bare():
            return torch.cat(
                [torch.nn.functional.normalize(net.encode_image(x.to(dev)).float(), dim=-1).cpu() for x in batches]
            ).numpy()

        full_size = []
        if args.phone_photos and ib.JPEG_DRAFT:
            full_size = [
                ("user images, inline decode, full-size JPEGs (JPEG_DRAFT 0)", user_pass(bundle, user, bs, 0, 0))
            ]
        paths = [("bare encode_image forward", bare)]
        paths += user_image_paths(bundle, user, bs, args.threads, full_size)
        times, feats = {name: [] for name, _ in paths}, {}
        for _ in range(args.repeat):  # interleaved: a busy spell slows every path alike
            for name, fn in paths:
                t0 = time.perf_counter()
                feats[name] = fn()
                times[name].append(time.perf_counter() - t0)
        ref = feats["bare encode_image forward"]
        best = {name: min(ts) for name, ts in times.items()}
        bare_s = best["bare encode_image forward"]
        say("")
        say(
            "| path | seconds (best of %d) | images/s | speed vs bare forward (goal >= 0.90) | "
            "max abs feature difference vs bare (full-size decode) | every repeat (s) |" % args.repeat
        )
        say("|---|---|---|---|---|---|")
        for name, s in best.items():
            diff = float(np.abs(feats[name] - ref).max())
            each = " ".join(f"{t:.1f}" for t in times[name])
            say(f"| {name} | {s:.3f} | {n / s:,.1f} | {bare_s / s:.2f} | {diff:.1e} | {each} |")
        # the same features on every path; only large JPEGs decoded at a reduced scale differ a little
        atol = 5e-3 if args.phone_photos and ib.JPEG_DRAFT else 1e-5
        for name in best:
            assert np.allclose(feats[name], ref, atol=atol), f"{name}: other features than the bare forward"
        say("")
        say(
            f"per image, one thread, outside the forward: open_image {decode_s / n * 1e3:.2f} ms (with "
            f"reduced-scale JPEG decoding {draft_s / n * 1e3:.2f} ms), whole eval transform "
            f"{transform_s / n * 1e3:.2f} ms, or its PIL steps {head_s / n * 1e3:.2f} ms + to-tensor and "
            f"Normalize per batch {tail_s / n * 1e3:.2f} ms; bare forward {bare_s / n * 1e3:.1f} ms "
            f"(photos generated in {made_s:.1f} s)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
