"""`train`: one call from flags to a trained, saved model in a resumable model dir.

Layout of a model dir:

    run.json                     what was trained (preset, dataset, recipe); checked on resume;
                                 "data": what the last start read and skipped, per split
    backup/                      the commit point of each epoch (`EpochBackup`): weights,
                                 optimizer state, finished epochs
    checkpoints/epoch-NNN.keras  the last few epochs (whole models)
    checkpoints/best.keras       the epoch with the best validation metric
    checkpoints/plateau.json     the learning-rate plateau counters
    history.csv                  one row per finished epoch (loss, accuracy, top-5, lr, ...)
    logs/train, logs/validation  TensorBoard scalars (`epoch_loss`, `epoch_accuracy`, ...)
    logs/images                  TensorBoard images: layer-1 filters, deconvnet projections
    feature_evolution.png/.npz   the paper's Fig. 4 for this run
    model.keras                  the final model, with its class names

Running the same call again continues from the last finished epoch (after a crash, a
preemption or SIGKILL) and stops at exactly `recipe.epochs`. An epoch is finished once the
backup commits it, after every other record of it is written; a resumed run first drops what
a later, uncommitted epoch left (CSV rows, TensorBoard summaries, checkpoints, temporary
files), so `history.csv`, the checkpoints and TensorBoard hold each epoch exactly once after
any sequence of kills and resumes.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.data import DataSource, center_crop
from zfnet_tf.data.pipelines import TrainingData, make_training_data, read_to_the_end
from zfnet_tf.config import get_config
from zfnet_tf.files import atomic_path, write_json
from zfnet_tf.models import build_model, save_model
from zfnet_tf.progress import keras_verbose
from zfnet_tf.training import callbacks as zcallbacks
from zfnet_tf.training.recipe import TrainingRecipe, get_recipe
from zfnet_tf.training.strategy import get_strategy, is_chief, is_multi_worker, worker_index

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
FEATURE_EVOLUTION_FILE = "feature_evolution.png"
# The fields of run.json that must not change between a run and its resumption.
_RESUME_KEYS = ("preset", "dataset", "global_batch_size", "model_config")


@dataclass
class TrainResult:
    """What a `train` call produced."""

    model_dir: str
    model_path: str
    initial_epoch: int
    epochs: int
    history: dict[str, list[float]] = field(default_factory=dict)
    feature_evolution: str | None = None
    log_dir: str = ""
    data: dict = field(default_factory=dict)

    def final(self, metric: str) -> float:
        return self.history[metric][-1]


def _mixed_precision_policy() -> str:
    # float16 needs loss scaling and is fast on GPUs; bfloat16 keeps float32's range (CPUs, TPUs).
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def read_history(path: str) -> dict[str, list[float]]:
    """`history.csv` as columns (the `epoch` column 0-based, as Keras writes it)."""
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", "NA", None) else np.nan)
    return columns


def _trim_history(path: str, finished: int) -> None:
    """Drops rows of epochs that the restored state has not finished (they will run again),
    and a row cut short by a kill."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fieldnames = reader.fieldnames
        rows = [row for row in reader if _complete_row(row, fieldnames) and int(float(row["epoch"])) < finished]
    if not rows:
        os.remove(path)
        return
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def _complete_row(row: dict, fieldnames: Sequence[str]) -> bool:
    if None in row or any(row.get(name) in (None, "") for name in fieldnames):
        return False
    try:
        float(row["epoch"])
    except ValueError:
        return False
    return True


def _trim_to_finished(model_dir: str, backup_dir: str, finished: int) -> None:
    """Removes what epochs after the `finished` committed ones left behind (a kill after they
    were recorded and before the backup committed them, or during a write), so that each
    epoch is recorded once when they run again."""
    _trim_history(os.path.join(model_dir, HISTORY_FILE), finished)
    checkpoints = os.path.join(model_dir, "checkpoints")
    for path in glob.glob(os.path.join(checkpoints, "epoch-*.keras")):
        if int(os.path.basename(path)[len("epoch-") : -len(".keras")]) > finished:
            os.remove(path)
    logs = os.path.join(model_dir, "logs")
    # Keras' scalars are stepped by 0-based epoch, the images by finished epochs (the probe
    # images at step 0, written when epoch 1 begins: gone with it when it runs again).
    images_dropped = finished + 1 if finished else 0
    for run, first_dropped in (("train", finished), ("validation", finished), ("images", images_dropped)):
        zcallbacks.trim_event_files(os.path.join(logs, run), first_dropped)
    # Temporary files of writes a kill interrupted (`zfnet_tf.files.atomic_path`).
    for folder in (model_dir, checkpoints, backup_dir):
        for path in glob.glob(os.path.join(folder, ".*.tmp*")):
            os.remove(path)


def _check_resumable(run_path: str, run: dict, resume: bool) -> None:
    if not os.path.isfile(run_path):
        return
    if not resume:
        raise ValueError(
            f"model dir {os.path.dirname(run_path)} already holds a training run; continue it "
            "(resume, the default) or choose a new model dir"
        )
    with open(run_path) as handle:
        previous = json.load(handle)
    for key in _RESUME_KEYS:
        if previous.get(key) == run.get(key):
            continue
        change = (
            "a different model configuration"
            if key == "model_config"
            else f"{key}={previous.get(key)!r} (this call: {run.get(key)!r})"
        )
        raise ValueError(
            f"model dir {os.path.dirname(run_path)} holds a run with {change}; resume with the "
            "same settings or choose a new model dir"
        )


def _probe_batch(data: TrainingData, input_size: int, count: int) -> np.ndarray:
    """The first `count` validation images, centre-cropped: the same every epoch and run."""
    images, _ = next(iter(data.loaded["test"].dataset.take(count).batch(count)))
    return center_crop(images, input_size).numpy()


def compile_model(model: keras.Model, recipe: TrainingRecipe, jit_compile: bool = False) -> None:
    """Compiles for training: the recipe's SGD, cross-entropy on logits, accuracy and top-5
    accuracy; builds the optimizer's slots now, so a backup can be restored into them."""
    top_k = min(5, model.num_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(recipe.learning_rate, momentum=recipe.momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(top_k, name="top5_accuracy"),
        ],
        jit_compile=jit_compile,
    )
    model.optimizer.build(model.trainable_variables)


def _callbacks(
    model_dir: str,
    recipe: TrainingRecipe,
    chief: bool,
    backup_dir: str,
    probe: np.ndarray | None,
    seed: int,
    projection_layers: Sequence[int | str] | None = None,
) -> list[keras.callbacks.Callback]:
    """Every worker backs up its own state; only the chief writes the rest. The backup, the
    commit point of each epoch, is not among them: `train`
    appends it after every other callback."""
    maximize = "acc" in recipe.plateau_monitor
    plateau = zcallbacks.ResumableReduceLROnPlateau(
        os.path.join(model_dir, "checkpoints", "plateau.json") if chief
        else os.path.join(backup_dir, "plateau.json"),
        monitor=recipe.plateau_monitor,
        mode="max" if maximize else "min",
        factor=recipe.lr_decay_factor,
        patience=recipe.plateau_patience,
        min_lr=recipe.min_learning_rate,
        verbose=1 if chief else 0,
    )
    if not chief:
        return [plateau]
    history = read_history(os.path.join(model_dir, HISTORY_FILE))
    monitored = [v for v in history.get(recipe.plateau_monitor, []) if not np.isnan(v)]
    best_so_far = (max(monitored) if maximize else min(monitored)) if monitored else None
    log_dir = os.path.join(model_dir, "logs")
    return [
        plateau,
        zcallbacks.EpochCheckpoint(os.path.join(model_dir, "checkpoints"), recipe.keep_checkpoints),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, "checkpoints", "best.keras"),
            monitor=recipe.plateau_monitor,
            mode="max" if maximize else "min",
            save_best_only=True,
            initial_value_threshold=best_so_far,
        ),
        zcallbacks.FlushingTensorBoard(log_dir, write_graph=False, update_freq="epoch"),
        zcallbacks.VisualizationSummaries(
            log_dir, probe[: recipe.probe_images], recipe.projection_every, recipe.epochs,
            layers=projection_layers,
        ),
        zcallbacks.FeatureEvolution(
            os.path.join(model_dir, FEATURE_EVOLUTION_FILE),
            probe,
            recipe.evolution_epochs_for_run(),
            recipe.evolution_features_per_layer,
            seed=seed,
            layers=projection_layers,
        ),
        keras.callbacks.CSVLogger(os.path.join(model_dir, HISTORY_FILE), append=True),
    ]


def _save_model_atomically(model: keras.Model, path: str) -> None:
    """Writes the final model without its optimizer, then renames it into place.

    Keras 3 always stores a compiled model's optimizer state in a `.keras` file (there is no
    `include_optimizer` any more); SGD's momentum would double the file (about 250 MB more for
    `zfnet`). The final model is for inference, export and transfer; the per-epoch checkpoints
    and the backup keep the optimizer state for continuing training.
    """
    inference_model = model.__class__.from_config(model.get_config())
    inference_model.set_weights(model.get_weights())
    save_model(inference_model, path)


def train(
    model_dir: str,
    preset: str = "zfnet",
    dataset: str | DataSource = "imagenet2012",
    data_dir: str | None = None,
    recipe: str | TrainingRecipe = "paper",
    strategy: str = "auto",
    mixed_precision: bool = False,
    jit_compile: bool = False,
    resume: bool = True,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    model_overrides: dict[str, Any] | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
    projection_layers: Sequence[int | str] | None = None,
    **recipe_overrides: Any,
) -> TrainResult:
    """Trains a ZFNet preset on a dataset with a recipe; resumable; returns what it wrote.

    Args:
        model_dir: where everything goes (see the module docstring); the same dir resumes.
        preset: a `zfnet_tf.config.PRESETS` name; its classes follow the dataset's.
        dataset: a `zfnet_tf.data.DATASETS` name ("imagenet2012" needs `data_dir`, the manual
            download folder; "folder" a folder of class sub-folders), or a `DataSource` (its
            split is ignored: "train" trains, "test" validates; then no `data_dir`). Files that
            are not readable images are skipped and named (in a warning, and in run.json's
            "data"), or are an error with the source's `strict`.
        recipe: "paper", "demo" or a `TrainingRecipe`; `recipe_overrides` replace its fields
            (e.g. `epochs=5`, `global_batch_size=256`).
        strategy: "auto", "one_device", "mirrored" or "multi_worker" (`get_strategy`);
            multi-worker runs use the custom step loop of `zfnet_tf.training.multi_worker`.
        mixed_precision: float16 compute on GPUs, bfloat16 elsewhere; variables stay float32.
        jit_compile: XLA-compile the train step (the model's pools run without switches).
        resume: continue a run found in `model_dir` (False: refuse to touch one).
        seed: initializes weights, the data order and the Fig. 4 feature choice.
        steps_per_epoch, validation_steps: shorter epochs than one pass (for quick runs).
        model_overrides: `ZFNetConfig` fields changed from the preset.
        callbacks: more Keras callbacks, run after the built-in ones (on every worker).
        verbose: Keras' progress setting; "auto": the live bar on a terminal, else a plain
            line per epoch (`zfnet_tf.progress.keras_verbose`).
        projection_layers: the layers of the TensorBoard projections and of the Fig. 4
            figure: names (`pool2`, `norm1`) or 1-5 (default: 1-5).
    """
    distribution = get_strategy(strategy)  # first: multi-worker setup must precede other TF ops
    if verbose == "auto":
        verbose = keras_verbose()
    recipe = get_recipe(recipe, **recipe_overrides)
    if isinstance(dataset, DataSource) and data_dir is not None:
        raise ValueError("give data_dir inside the DataSource, not beside it")
    source = dataset if isinstance(dataset, DataSource) else DataSource(dataset, data_dir)
    model_dir = os.path.abspath(model_dir)
    num_workers, worker = worker_index(distribution)
    chief = is_chief(distribution)
    own_dir = model_dir if chief else os.path.join(model_dir, "workers", f"worker-{worker}")
    backup_dir = os.path.join(own_dir, "backup")

    previous_policy = keras.config.dtype_policy().name
    if mixed_precision:
        keras.mixed_precision.set_dtype_policy(_mixed_precision_policy())
    try:
        keras.utils.set_random_seed(seed)
        probe_config = get_config(preset, **(model_overrides or {}))
        run = {
            "preset": preset,
            "dataset": source.name,
            "data_dir": source.data_dir,
            "global_batch_size": recipe.global_batch_size,
            "model_config": json.loads(json.dumps(probe_config.replace(num_classes=1).to_dict())),
            "recipe": recipe.to_dict(),
            "strategy": strategy,
            "num_workers": num_workers,
            "mixed_precision": mixed_precision,
            "jit_compile": jit_compile,
        }
        run_path = os.path.join(model_dir, RUN_FILE)
        if chief:
            _check_resumable(run_path, run, resume)
        finished = zcallbacks.EpochBackup.finished_epochs(backup_dir)
        if finished > recipe.epochs:
            raise ValueError(
                f"model dir {model_dir} already finished {finished} epochs, more than the "
                f"{recipe.epochs} asked for"
            )
        input_size = probe_config.input_size
        # The whole input (a multi-worker run reads its shards in fit_multi_worker): class
        # names, step counts, the probe images and the report of what was read and skipped.
        # Read before the model dir is made, so data that fails (--strict) leaves no folder.
        data = make_training_data(
            source, input_size, recipe.global_batch_size,
            flip=recipe.random_flip, augment=recipe.augment, cache=recipe.cache, seed=seed,
            validation_steps=validation_steps,
        )
        os.makedirs(own_dir, exist_ok=True)
        class_names = data.class_names
        with distribution.scope():
            model = build_model(preset, class_names=class_names, **(model_overrides or {}))
            compile_model(model, recipe, jit_compile)

        probe = None
        if chief:
            probe = _probe_batch(data, input_size, max(recipe.probe_images, recipe.evolution_probe_images))
            # run.json keeps what the run was first started with, and what this start read.
            if os.path.isfile(run_path):
                with open(run_path) as handle:
                    run = json.load(handle)
            write_json(run_path, {**run, "data": data.report()})
            _trim_to_finished(model_dir, backup_dir, finished)
        zcallbacks.EpochBackup.restore(model, backup_dir)
        run_callbacks = _callbacks(model_dir, recipe, chief, backup_dir, probe, seed, projection_layers)
        # The backup last: an epoch is finished once everything else has recorded it.
        run_callbacks += [*(callbacks or []), zcallbacks.EpochBackup(backup_dir)]

        if finished < recipe.epochs:
            if is_multi_worker(distribution):
                from zfnet_tf.training.multi_worker import fit_multi_worker

                fit_multi_worker(
                    model, distribution, source, data, recipe, run_callbacks,
                    steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                    jit_compile=jit_compile, seed=seed, verbose=verbose if chief else 0,
                    initial_epoch=finished,
                )
            else:
                # The training data repeats; the validation data is read to its end, of a length
                # known only then (unreadable files are dropped as they are read), and Keras
                # would call that end running out of data.
                with read_to_the_end():
                    model.fit(
                        data.train,
                        epochs=recipe.epochs,
                        initial_epoch=finished,
                        steps_per_epoch=steps_per_epoch or data.steps_per_epoch,
                        # Finite, read to its end each epoch (`make_training_data`): no step count.
                        validation_data=data.validation,
                        callbacks=run_callbacks,
                        shuffle=False,
                        verbose=verbose,
                    )

        model_path = os.path.join(own_dir, MODEL_FILE)
        _save_model_atomically(model, model_path)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
    return TrainResult(
        model_dir=model_dir,
        model_path=model_path,
        initial_epoch=finished,
        epochs=recipe.epochs,
        history=read_history(os.path.join(model_dir, HISTORY_FILE)) if chief else {},
        feature_evolution=os.path.join(model_dir, FEATURE_EVOLUTION_FILE) if chief else None,
        log_dir=os.path.join(model_dir, "logs"),
        data=data.report(),
    )
