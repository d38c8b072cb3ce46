"""Feature extraction per input path vs the bare ``encode_image`` forward, measured in one run.

For each path of :func:`alor_core.models.image_batches.image_batches` the script times
``alor_core.models.features.encode_images`` (feature cache off) on the same images and batches,
next to the bare forward on input tensors prepared beforehand (the floor):

* ``decoded-batched``: product images (demo world) from the decoded store, batched transform;
* ``decoded, per-image transform``: the same store through the PIL transform one image at a time;
* ``user images, inline`` and ``user images, N threads``: a copy of the images outside the cache
  folder (as a user's folder), decoded in the calling thread or in a bounded thread pool;
* ``user images, DataLoader workers``: only on CUDA (pinned memory, prefetch).

Timings are interleaved (each repeat runs every path once) and the best of ``--repeat`` is kept,
so a loaded machine slows all paths alike. Printed: seconds, images/s, and the speed ratio
``bare forward seconds / pipeline seconds`` (goal >= 0.9), plus the one-off cost of building the
decoded store and of a cached re-read, and the machine's load average. Writes
``bench/RESULTS_features.md`` (``--out``).

Usage: ``python bench/bench_features.py [--small] [--split test|pool] [--repeat 3] [--threads 2 4]``
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="reduced demo world")
    ap.add_argument("--world-dir", default=None, help="a built demo-world folder (classes.csv, test.txt, model/)")
    ap.add_argument("--split", default="test", choices=["test", "pool"])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="decoding thread counts to time")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_features.md")))
    args = ap.parse_args()
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    splits, checkpoint, which = world(args.small, args.world_dir)
    bundle = load_clip("alor_tiny_fm", checkpoint)
    images = splits[args.split]
    n, bs, dev = len(images), args.batch_size, bundle.device
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

        def with_threads(k):
            def run():
                old = ib.CPU_DECODE_THREADS
                ib.CPU_DECODE_THREADS = k
                try:
                    encode_images(bundle, user, batch_size=bs, cache=False)
                finally:
                    ib.CPU_DECODE_THREADS = old

            return run

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
        if dev.type == "cuda":
            paths.append(
                (
                    f"user images, DataLoader {ib.CUDA_WORKERS} workers",
                    lambda: encode_images(bundle, user, batch_size=bs, cache=False),
                )
            )
        else:
            paths.append(("user images, inline decode", with_threads(0)))
            paths += [(f"user images, {k} decode threads", with_threads(k)) for k in args.threads]
        # the same features on every path
        ref = encode_images(bundle, images, batch_size=bs, cache=False)
        assert np.allclose(encode_images(per_image, images, batch_size=bs, cache=False), ref, atol=1e-5)
        for k in [0, *args.threads]:
            old = ib.CPU_DECODE_THREADS
            ib.CPU_DECODE_THREADS = k
            try:
                other = encode_images(bundle, user, batch_size=bs, cache=False)
            finally:
                ib.CPU_DECODE_THREADS = old
            assert np.allclose(other, ref, atol=1e-5), f"user-image path ({k} threads) gave other features"
        times = {name: [] for name, _ in paths}
        for _ in range(args.repeat):
            for name, fn in paths:
                times[name].append(timed(fn))
        best = {name: min(ts) for name, ts in times.items()}
        bare_s = best["bare encode_image forward"]
        say("")
        say("| path | seconds (best of %d) | images/s | speed vs bare forward (goal >= 0.90) |" % args.repeat)
        say("|---|---|---|---|")
        for name, s in best.items():
            say(f"| {name} | {s:.3f} | {n / s:,.0f} | {bare_s / s:.2f} |")
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
    say(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    Path(args.out).write_text(
        "# Feature extraction per input path (`bench/bench_features.py`)\n\n"
        f"Command: `python bench/bench_features.py {' '.join(sys.argv[1:])}`\n\n"
        + lines[0]
        + "\n"
        + "\n".join(lines[1:])
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
