"""Callbacks of a training run: checkpoints, the learning-rate plateau, TensorBoard images,
and the paper's feature-evolution figure (Fig. 4).

They run between steps in Python (eagerly or in their own `tf.function`s), never inside the
compiled train step, so `jit_compile=True` training graphs stay free of switch ops.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf import visualization
from zfnet_tf.analysis.plots import layer_label
from zfnet_tf.analysis.top9 import Top9
from zfnet_tf.deconv import layer_key, shared_deconvnet
from zfnet_tf.files import atomic_path, write_json
from zfnet_tf.models import save_model


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights, optimizer, config) as `epoch-NNN.keras` after every epoch.

    Only the newest `keep` files stay. Each file is written under a temporary name and renamed,
    so a run killed while saving never leaves a half-written checkpoint. Any of them loads with
    `zfnet_tf.load_model` (e.g. to evaluate an earlier epoch).
    """

    def __init__(self, directory: str, keep: int = 3):
        super().__init__()
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = directory
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        save_model(self.model, os.path.join(self.directory, f"epoch-{epoch + 1:03d}.keras"))
        for old in sorted(glob.glob(os.path.join(self.directory, "epoch-*.keras")))[: -self.keep]:
            os.remove(old)


class ResumableReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """`ReduceLROnPlateau` whose counters survive a restart.

    The paper anneals the learning rate "when the validation error plateaus" (Sec. 3). Keras'
    callback forgets how long the metric has stalled when training restarts; this one keeps
    `best`, `wait` and `cooldown_counter` after every epoch in a JSON file next to the
    checkpoints, by epoch, and a resumed run takes the state after the epoch it resumes from
    (an epoch that ran on but was not committed by `EpochBackup` does not count). The
    learning rate itself is an optimizer variable and comes back with the backup.
    """

    def __init__(self, state_path: str, **kwargs):
        super().__init__(**kwargs)
        self.state_path = state_path
        self._states: dict[str, dict] = {}
        self._restored = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._states, self._restored = {}, False
        if os.path.isfile(self.state_path):
            with open(self.state_path) as handle:
                self._states = json.load(handle).get("by_epoch", {})

    def on_epoch_begin(self, epoch, logs=None):
        if self._restored:
            return
        self._restored = True
        # `epoch` epochs are finished: the state they left, and none of a later (lost) one.
        self._states = {k: v for k, v in self._states.items() if int(k) <= epoch}
        state = self._states.get(str(epoch))
        if state is not None:
            self.best, self.wait, self.cooldown_counter = state["best"], state["wait"], state["cooldown_counter"]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        best = None if self.best is None else float(self.best)
        self._states[str(epoch + 1)] = {"best": best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}
        write_json(self.state_path, {"by_epoch": self._states})


class FlushingTensorBoard(keras.callbacks.TensorBoard):
    """Keras' `TensorBoard` that flushes its event files at the end of every epoch, so an epoch
    `EpochBackup` commits is on disk even if the process is killed right after."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for writer in self._writers.values():
            writer.flush()


class EpochBackup(keras.callbacks.Callback):
    """The commit point of every epoch: the weights (with the optimizer's state) and the number
    of finished epochs, written so that a kill at any moment leaves a consistent pair.

    It must run after every callback that records an epoch (CSV row, TensorBoard, checkpoints):
    an epoch counts as finished only once all of them have recorded it, and a resumed run
    (`restore`) drops whatever a later, uncommitted epoch left (`zfnet_tf.training.trainer`),
    so each epoch is recorded exactly once. The weights go to `epoch-NNN.weights.h5` (written
    under a temporary name and renamed), then `state.json` names them (the atomic commit);
    only then is the previous weights file removed.
    """

    STATE_FILE = "state.json"

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    @classmethod
    def finished_epochs(cls, directory: str) -> int:
        """How many epochs the backup in `directory` has committed (0: none)."""
        state = cls._state(directory)
        return 0 if state is None else int(state["epoch"])

    # What Keras' BackupAndRestore left in model dirs of earlier versions: resumed the same way.
    _KERAS_METADATA, _KERAS_WEIGHTS = "training_metadata.json", "latest.weights.h5"

    @classmethod
    def _state(cls, directory: str) -> dict | None:
        path = os.path.join(directory, cls.STATE_FILE)
        if os.path.isfile(path):
            with open(path) as handle:
                return json.load(handle)
        keras_metadata = os.path.join(directory, cls._KERAS_METADATA)
        if os.path.isfile(keras_metadata) and os.path.isfile(os.path.join(directory, cls._KERAS_WEIGHTS)):
            with open(keras_metadata) as handle:
                return {"epoch": int(json.load(handle)["epoch"]), "weights": cls._KERAS_WEIGHTS}
        return None

    @classmethod
    def restore(cls, model: keras.Model, directory: str) -> int:
        """Loads the committed weights and optimizer state into `model` (compiled, optimizer
        built); returns the number of finished epochs (0: nothing to restore)."""
        state = cls._state(directory)
        if state is None:
            return 0
        model.load_weights(os.path.join(directory, state["weights"]))
        return int(state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        name = f"epoch-{epoch + 1:03d}.weights.h5"
        with atomic_path(os.path.join(self.directory, name), suffix=".weights.h5") as temporary:
            self.model.save_weights(temporary)
        write_json(os.path.join(self.directory, self.STATE_FILE), {"epoch": epoch + 1, "weights": name})
        # The previous epoch's weights, and an earlier version's Keras backup files.
        for pattern in ("epoch-*.weights.h5", "training_metadata*.json", "*latest.weights.h5"):
            for old in glob.glob(os.path.join(self.directory, pattern)):
                if os.path.basename(old) != name:
                    os.remove(old)


def trim_event_files(directory: str, first_dropped_step: int) -> None:
    """Drops the summaries of step `first_dropped_step` and later from the TensorBoard event
    files in `directory` (and a record cut short by a kill), rewriting each file atomically."""
    from tensorflow.core.util import event_pb2

    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        records, complete = [], True
        try:
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                records.append(record)
        except tf.errors.DataLossError:
            complete = False
        kept = [
            r for r in records
            if not (event := event_pb2.Event.FromString(r)).HasField("summary") or event.step < first_dropped_step
        ]
        if complete and len(kept) == len(records):
            continue
        with atomic_path(path) as temporary:
            with tf.io.TFRecordWriter(temporary) as writer:
                for record in kept:
                    writer.write(record)


def filters_to_grid(kernel: np.ndarray, scale: int = 4) -> np.ndarray:
    """Conv filters `[k, k, 3, F]` as one uint8 RGB image: each filter stretched to 0-255 on its
    own (like the paper's Fig. 5/6 filter displays), tiled with 1-pixel gaps, enlarged by `scale`."""
    kernel = np.asarray(kernel, np.float32)
    channels, count = kernel.shape[2], kernel.shape[3]
    if channels != 3:
        raise ValueError(f"expected first-layer filters with 3 input channels, got {channels}")
    low = kernel.min(axis=(0, 1, 2), keepdims=True)
    high = kernel.max(axis=(0, 1, 2), keepdims=True)
    kernel = (kernel - low) / np.maximum(high - low, 1e-12)
    cells = [
        np.round(np.kron(kernel[..., index], np.ones((scale, scale, 1))) * 255).astype(np.uint8)
        for index in range(count)
    ]
    return visualization.tile_images(cells, int(np.ceil(np.sqrt(count))), gap=1, border=1)


class VisualizationSummaries(keras.callbacks.Callback):
    """TensorBoard images: the first learned convolution's filters every epoch, and deconvnet projections
    (strongest activation of each probe image, for each of `layers`) every `every` epochs.

    Written to the `images` run of `log_dir` (next to Keras' `train` and `validation` runs);
    the step is the number of finished epochs. The probe batch is fixed for the whole run so
    the projections of one image can be compared across epochs.

    Args:
        layers: layer names or ZFNet's 1-5 (default: `Deconvnet.default_layers()`).
    """

    def __init__(
        self,
        log_dir: str,
        probe_images: np.ndarray,
        every: int = 5,
        total_epochs: int | None = None,
        layers: Sequence[int | str] | None = None,
    ):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.log_dir = os.path.join(log_dir, "images")
        self.probe_images = np.asarray(probe_images, np.float32)
        self.every = every
        self.total_epochs = total_epochs
        self.layers = None if layers is None else tuple(layers)
        self._writer = None
        self._deconvnet = None

    def _writer_or_new(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def on_train_begin(self, logs=None):
        self._deconvnet = shared_deconvnet(self.model)
        if self.layers is None:
            self.layers = self._deconvnet.default_layers()
        for layer in self.layers:
            self._deconvnet.receptive_field(layer)  # a clear error now, not after an epoch
        # The first learned convolution (ZFNet's conv1, VGG16's block1_conv1): the filters the
        # paper shows (Fig. 5, 6).
        convolutions = self._deconvnet.graph.trainable_convolutions()
        if not convolutions:
            raise ValueError(f"model {self.model.name!r} has no trainable convolution")
        self._first_convolution = next(iter(convolutions.values()))

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != 0:  # a resumed run: the first start wrote them
            return
        with self._writer_or_new().as_default():
            tf.summary.image(
                "probe/images",
                visualization.image_to_rgb(self.probe_images),
                step=0,
                max_outputs=len(self.probe_images),
            )

    def on_epoch_end(self, epoch, logs=None):
        finished = epoch + 1
        with self._writer_or_new().as_default():
            grid = filters_to_grid(keras.ops.convert_to_numpy(self._first_convolution.kernel))
            tf.summary.image("layer1_filters", grid[None], step=finished)
            if finished == 1 or finished % self.every == 0 or finished == self.total_epochs:
                for layer in self.layers:
                    projection = self._deconvnet.project(self.probe_images, layer, feature=-1)
                    rgb = np.stack(
                        [visualization.projection_to_rgb(r) for r in projection.reconstructions]
                    )
                    tf.summary.image(
                        f"projections/{layer_key(layer)}", rgb, step=finished, max_outputs=len(rgb)
                    )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class FeatureEvolution(keras.callbacks.Callback):
    """The paper's Fig. 4: how chosen features develop during training.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 4.2 / Fig. 4: "Evolution of a randomly chosen subset
    of model features through training. Each layer's features are displayed in a different
    block. Within each block, we show a randomly chosen subset of features at epochs
    [1,2,5,10,20,30,40,64]. The visualization shows the strongest activation (across all
    training examples) for a given feature map, projected down to pixel space using our
    deconvnet approach."

    At each chosen epoch, for `features_per_layer` maps of each of `layers` (picked at random
    with `seed`, once), the probe image that activates the map most strongly is projected with
    the deconvnet, and the projection's receptive-field patch becomes a cell of the grid
    (rows: feature maps grouped by layer; columns: epochs). The grid is rewritten at every
    chosen epoch; its cells are kept in `<path>.npz`, so a resumed run keeps earlier columns.

    Args:
        path: the PNG to write (the state goes next to it as `.npz`).
        probe_images: float32 `[N, S, S, 3]` searched for each map's strongest activation (the
            paper searches the training set; a fixed sample keeps it cheap).
        epochs: 1-based epochs that get a column.
        features_per_layer: maps shown per layer.
        seed: picks the maps.
        layers: layer names or ZFNet's 1-5 (default: `Deconvnet.default_layers()`).
    """

    def __init__(
        self,
        path: str,
        probe_images: np.ndarray,
        epochs: Sequence[int],
        features_per_layer: int = 3,
        seed: int = 0,
        batch_size: int = 64,
        layers: Sequence[int | str] | None = None,
    ):
        super().__init__()
        self.path = path
        self.state_path = os.path.splitext(path)[0] + ".npz"
        self.probe_images = np.asarray(probe_images, np.float32)
        self.epochs = tuple(sorted(set(int(e) for e in epochs)))
        self.features_per_layer = features_per_layer
        self.seed = seed
        self.batch_size = batch_size
        self.layers = None if layers is None else tuple(layers)
        # epoch -> (cells uint8 [R, S, S, 3], receptive-field boxes int [R, 4]).
        self.columns: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.rows: list[tuple[int | str, int]] = []

    def on_train_begin(self, logs=None):
        self._deconvnet = shared_deconvnet(self.model)
        if self.layers is None:
            self.layers = self._deconvnet.default_layers()
        rng = np.random.default_rng(self.seed)
        self.rows = []
        for layer in self.layers:
            filters = self._deconvnet.num_features(layer)
            chosen = rng.choice(filters, size=min(self.features_per_layer, filters), replace=False)
            self.rows += [(layer, int(m)) for m in sorted(chosen)]
        # Fig. 4's cell is Fig. 2's top-1: each chosen map's strongest activation over the
        # probe images, projected (`Top9` with k=1, over the weights of the moment).
        self._top1 = {
            layer: Top9(self.model, deconvnet=self._deconvnet, layer=layer, k=1,
                        features=[m for l, m in self.rows if l == layer], batch_size=self.batch_size,
                        progress=False)
            for layer in self.layers
        }
        self.columns = {}
        if os.path.isfile(self.state_path):
            with np.load(self.state_path) as state:
                if self._row_keys() == (state["row_layers"].tolist(), state["row_maps"].tolist()):
                    for index, epoch in enumerate(state["epochs"].tolist()):
                        self.columns[int(epoch)] = (state["cells"][index], state["boxes"][index])

    def _row_keys(self) -> tuple[list[str], list[int]]:
        return [layer_key(l) for l, _ in self.rows], [m for _, m in self.rows]

    def on_epoch_end(self, epoch, logs=None):
        finished = epoch + 1
        if finished not in self.epochs:
            return
        self.columns[finished] = self.compute_column()
        self._save()

    def compute_column(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the projection as uint8 `[S, S, 3]` (grey outside its receptive field) and
        that field's box `(top, left, bottom, right)` in the input."""
        cells, boxes = [], []
        for top1 in self._top1.values():
            result = top1.run(self.probe_images)
            for feature, projection in zip(result.features, result.projections[:, 0]):
                top_row, left, bottom, right = (int(v) for v in result.boxes[feature, 0])
                # The crop is NaN where the receptive field leaves the image: the rest is the
                # projection inside the box.
                inside = ~np.isnan(projection[..., 0])
                shown = projection[inside.any(axis=1)][:, inside.any(axis=0)]
                cell = np.full(self.probe_images.shape[1:], 128, np.uint8)
                cell[top_row:bottom, left:right] = visualization.projection_to_rgb(shown)
                cells.append(cell)
                boxes.append((top_row, left, bottom, right))
        return np.stack(cells), np.array(boxes, np.int32)

    def _save(self) -> None:
        epochs = sorted(self.columns)
        with atomic_path(self.state_path) as temporary:
            np.savez_compressed(
                temporary,
                epochs=np.array(epochs),
                row_layers=np.array(self._row_keys()[0]),
                row_maps=np.array(self._row_keys()[1], np.int32),
                cells=np.stack([self.columns[e][0] for e in epochs]),
                boxes=np.stack([self.columns[e][1] for e in epochs]),
            )
        self.write_figure()

    def write_figure(self) -> str:
        """Writes the grid (rows: feature maps; columns: epochs so far) and returns its path."""
        epochs = sorted(self.columns)
        images = []
        for row in range(len(self.rows)):
            for epoch in epochs:
                cells, boxes = self.columns[epoch]
                top, left, bottom, right = (int(v) for v in boxes[row])
                images.append(cells[row, top:bottom, left:right])
        return visualization.save_image_grid(
            images,
            self.path,
            columns=len(epochs),
            row_labels=[f"{layer_label(l)} map {m}" for l, m in self.rows],
            column_labels=[f"epoch {e}" for e in epochs],
            suptitle="Feature evolution during training (Fig. 4)",
        )
