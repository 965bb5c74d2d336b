"""Top-9 cost against its lower bound, and batched projections against a one-at-a-time loop.

Prints
- `top9 / (forward + projections)`: the whole `Top9.run` time over the time of a plain forward
  pass to the layer over the same data (same batches, same input pipeline) plus the time of the
  same projections measured alone. Target: <= 1.2 (the pass adds only a top-k merge per batch).
- projections/s of the batched projections against a loop that projects one activation of one
  image per call.

Every graph is traced before timing; each time is the median of `--repeats` interleaved runs.

    python bench/bench_top9.py                       # tiny preset, embedded digits
    python bench/bench_top9.py --model demo_output/model/model.keras --layer 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras model (default: the tiny preset, random weights)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, help="first N examples (default: all)")
    parser.add_argument("--layer", default="5", help="a layer name, or ZFNet's 1-5 (default 5)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-samples", type=int, default=64, help="projections timed one at a time")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import dataclasses

    from zfnet_tf.analysis import Top9, analysis_data
    from zfnet_tf.cli.common import parse_layer
    from zfnet_tf.data import DataSource
    from zfnet_tf.models import build_model, load_model

    keras.utils.set_random_seed(0)
    model = load_model(args.model) if args.model else build_model(args.preset)
    layer = parse_layer(args.layer)
    data = analysis_data(DataSource(args.dataset, args.data_dir, split=args.split, limit=args.limit), model)
    # Decode once, so every timed pass reads the same way.
    data = dataclasses.replace(data, dataset=data.dataset.cache())
    for _ in data.dataset:
        pass

    top9 = Top9(model, layer=layer, batch_size=args.batch_size, progress=False)
    forward = top9._extractor  # the same forward pass to the layer, alone

    def forward_pass():
        for images, _ in data.batches(args.batch_size):
            [value.numpy() for value in forward(images).values()]

    result = top9.run(data)  # traces every graph
    forward_pass()
    features = result.features
    state = (result.image_index, result.location)
    cache = {}
    for images, _ in data.batches(args.batch_size):
        start = len(cache)
        for n, image in enumerate(images.numpy()):
            cache[start + n] = image
    needed = {int(i) for i in np.unique(result.image_index[features]) if i >= 0}
    cache = {i: cache[i] for i in needed}

    # Interleaved, so that load from other processes hits all three alike.
    times: dict[str, list[float]] = {"whole": [], "pass": [], "forward": [], "projections": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        timed = top9.run(data)
        times["whole"].append(time.perf_counter() - start)
        times["pass"].append(timed.timings["pass"])
        times["forward"].append(median_time(forward_pass, 1))
        times["projections"].append(median_time(lambda: top9._project(*state, cache), 1))
    whole, pass_time, forward_time, projection_time = (
        statistics.median(times[key]) for key in ("whole", "pass", "forward", "projections")
    )
    num_projections = int((result.image_index[features] >= 0).sum())

    deconvnet = top9.deconvnet
    pairs = np.argwhere(result.image_index[features] >= 0)[: args.loop_samples]
    singles = [(cache[int(result.image_index[features[r], j])][None], int(features[r])) for r, j in pairs]
    deconvnet.project(singles[0][0], layer, feature=singles[0][1])  # trace

    def loop():
        for image, feature in singles:
            deconvnet.project(image, layer, feature=feature)

    loop_time = median_time(loop, args.repeats)

    print(f"model {args.model or args.preset}, layer {args.layer}, {result.num_images} images "
          f"({args.dataset}/{args.split}), {len(features)} maps x k={top9.params.k}: {num_projections} projections")
    print(f"forward pass to layer {args.layer}: {forward_time:.3f} s")
    print(f"projections alone:             {projection_time:.3f} s")
    print(f"whole top-9 (pass + projections): {whole:.3f} s (its pass {pass_time:.3f} s = "
          f"{pass_time / forward_time:.2f} x the forward pass)")
    print(f"ratio top9 / (forward + projections) = {whole / (forward_time + projection_time):.3f}  (target <= 1.2)")
    batched_rate = num_projections / projection_time
    loop_rate = len(singles) / loop_time
    print(f"projections/s: batched {batched_rate:.1f}, one at a time {loop_rate:.1f}, "
          f"speed-up {batched_rate / loop_rate:.2f}x")


if __name__ == "__main__":
    main()
