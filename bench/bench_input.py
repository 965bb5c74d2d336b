"""Input-pipeline cost: training steps/s from in-memory batches over steps/s from the real
pipeline (decode/resize cache, random crops, shuffling, batching, prefetch).

    python bench/bench_input.py                      # tiny preset on the embedded digits
    python bench/bench_input.py --preset zfnet --dataset folder --data-dir ~/images --batch-size 64

Prints the slowdown `in-memory steps/s / pipeline steps/s`; the target is <= 1.1 (the
pipeline keeps the model fed). Rounds alternate between the two inputs and the median of each
is compared, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from zfnet_tf.config import get_config  # noqa: E402
from zfnet_tf.data import DataSource, make_training_data  # noqa: E402
from zfnet_tf.models import build_model  # noqa: E402
from zfnet_tf.training import get_recipe  # noqa: E402
from zfnet_tf.training.trainer import compile_model  # noqa: E402


def steps_per_second(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> float:
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--recipe", default="demo")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's")
    parser.add_argument("--steps", type=int, default=40, help="steps per measured round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    recipe = get_recipe(args.recipe, global_batch_size=args.batch_size)
    keras.utils.set_random_seed(0)
    data = make_training_data(
        DataSource(args.dataset, args.data_dir), get_config(args.preset).input_size,
        recipe.global_batch_size, flip=recipe.random_flip, cache=recipe.cache, seed=0,
    )
    model = build_model(args.preset, class_names=data.class_names)
    compile_model(model, recipe, args.jit_compile)
    images, labels = next(iter(data.train))
    # The same shapes, already in memory: what the model would do with a free input pipeline.
    in_memory = tf.data.Dataset.from_tensors((images, labels)).repeat()

    steps_per_second(model, in_memory, 5)  # compile and warm up both paths
    steps_per_second(model, data.train, 5)
    pipeline_rates, memory_rates = [], []
    for _ in range(args.rounds):
        memory_rates.append(steps_per_second(model, in_memory, args.steps))
        pipeline_rates.append(steps_per_second(model, data.train, args.steps))
    memory, pipeline = statistics.median(memory_rates), statistics.median(pipeline_rates)
    print(f"preset {args.preset}, dataset {args.dataset}, global batch {recipe.global_batch_size}, "
          f"jit_compile {args.jit_compile}, {os.cpu_count()} CPUs")
    print(f"in-memory batches: {memory:.1f} steps/s (rounds: {', '.join(f'{r:.1f}' for r in memory_rates)})")
    print(f"real pipeline:     {pipeline:.1f} steps/s (rounds: {', '.join(f'{r:.1f}' for r in pipeline_rates)})")
    print(f"input slowdown (in-memory / pipeline steps/s): {memory / pipeline:.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
