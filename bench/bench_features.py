"""Feature extraction vs the bare ``encode_image`` forward, and a cached re-read vs the first pass.

Three timings on the same images and the same batches, in one run:

* **bare forward**: ``model.encode_image`` on input tensors prepared beforehand (the floor);
* **pipeline**: ``alor_core.models.features.encode_images`` (open + decode + transform + forward +
  normalise), caching off;
* **cached**: ``encode_images`` with the disk cache, first pass (computes and writes) and re-read.

Ratios printed: bare / pipeline (goal >= 0.9), decode share of the pipeline, first pass / re-read.
Usage: ``python bench/bench_features.py [--small] [--threads N] [--split test|pool] [--repeat 3]``
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from alor_core.data import DemoWorldSpec, load_demo_world  # noqa: E402
from alor_core.data.datasets import load_image  # noqa: E402
from alor_core.models.clip import load_clip  # noqa: E402
from alor_core.models.features import encode_images  # noqa: E402


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="reduced demo world")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--split", default="test", choices=["test", "pool"])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = load_demo_world(DemoWorldSpec.small() if args.small else None, build=True)
    bundle = load_clip(task.meta["model_name"], task.meta["checkpoint"])
    images = getattr(task, args.split)
    n, bs = len(images), args.batch_size

    # inputs of the bare forward, prepared outside the timing, batched as encode_images batches
    t0 = time.perf_counter()
    batches = [torch.stack([bundle.preprocess(load_image(images.path(i))) for i in range(s, min(s + bs, n))])
               for s in range(0, n, bs)]
    decode = time.perf_counter() - t0
    net = bundle.model.eval()

    @torch.no_grad()
    def bare():
        for x in batches:
            net.encode_image(x.to(bundle.device))

    bare_s = best_of(bare, args.repeat)
    pipe_s = best_of(lambda: encode_images(bundle, images, batch_size=bs, cache=False), args.repeat)

    with tempfile.TemporaryDirectory() as tmp:  # a cold feature cache
        old = os.environ.get("ALOR_CACHE_DIR")
        os.environ["ALOR_CACHE_DIR"] = tmp
        try:
            t0 = time.perf_counter()
            first = encode_images(bundle, images, batch_size=bs)
            first_s = time.perf_counter() - t0
            reread_s = best_of(lambda: encode_images(bundle, images, batch_size=bs), args.repeat)
            again = encode_images(bundle, images, batch_size=bs)
        finally:
            if old is None:
                os.environ.pop("ALOR_CACHE_DIR")
            else:
                os.environ["ALOR_CACHE_DIR"] = old
    assert (first == again).all(), "a cached re-read must return the same features"

    print(f"device {bundle.device}, torch threads {torch.get_num_threads()}, {n} {args.split} images, "
          f"batch {bs}, model {bundle.model_name}, best of {args.repeat}")
    print(f"{'timing':34s} {'seconds':>8s} {'images/s':>9s}")
    for name, s in (("bare encode_image forward", bare_s), ("decode + transform (once)", decode),
                    ("encode_images pipeline (no cache)", pipe_s), ("encode_images first pass (cached)", first_s),
                    ("encode_images cached re-read", reread_s)):
        print(f"{name:34s} {s:8.3f} {n / s:9.0f}")
    print(f"ratio bare / pipeline            {bare_s / pipe_s:6.2f}x   (goal >= 0.90)")
    print(f"ratio bare / (pipeline - decode) {bare_s / max(pipe_s - decode, 1e-9):6.2f}x   (forward part only)")
    print(f"decode share of the pipeline     {decode / pipe_s:6.2f}")
    print(f"ratio first pass / re-read       {first_s / reread_s:6.0f}x")


if __name__ == "__main__":
    main()
