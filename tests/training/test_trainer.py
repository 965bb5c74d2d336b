"""One short in-process training run (XLA-compiled), and what it leaves in the model dir."""

import glob
import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zfnet_tf
from zfnet_tf.data import evaluation_data
from zfnet_tf.training import train
from zfnet_tf.training.callbacks import ResumableReduceLROnPlateau, filters_to_grid

EPOCHS = 2
PROBE_IMAGES = 3


class ProbeLoss(keras.callbacks.Callback):
    """Loss of the model on fixed test digits before training and after each epoch."""

    def __init__(self, images, labels):
        super().__init__()
        self.images, self.labels = images, labels
        self.losses = []

    def _loss(self):
        logits = self.model(self.images, training=False)
        return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(self.labels, logits))

    def on_train_begin(self, logs=None):
        self.losses.append(self._loss())

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(self._loss())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    batches, _ = evaluation_data("digits", 64, 200)
    images, labels = next(iter(batches))
    probe = ProbeLoss(images, labels)
    model_dir = str(tmp_path_factory.mktemp("run") / "model")
    # 5 steps an epoch: the probe's loss falls to about 0.77 of its start in the first (as with
    # 10 steps); the test asks for below 0.9.
    result = train(
        model_dir, preset="tiny", dataset="digits", recipe="demo", epochs=EPOCHS,
        steps_per_epoch=5, validation_steps=2, jit_compile=True, callbacks=[probe], verbose=0,
        projection_every=1, probe_images=PROBE_IMAGES, evolution_probe_images=32,
    )
    return result, probe


def test_one_short_epoch_lowers_the_loss(run):
    result, probe = run
    before, after_first = probe.losses[0], probe.losses[1]
    assert after_first < 0.9 * before, probe.losses
    assert result.history["epoch"] == [0.0, 1.0]
    assert result.initial_epoch == 0 and result.epochs == EPOCHS


def test_model_dir_contents(run):
    result, _ = run
    model = zfnet_tf.load_model(result.model_path)
    assert result.model_path == os.path.join(result.model_dir, "model.keras")
    assert model.class_names == [str(d) for d in range(10)]
    checkpoints = sorted(os.listdir(os.path.join(result.model_dir, "checkpoints")))
    assert {"epoch-001.keras", "epoch-002.keras", "best.keras", "plateau.json"} <= set(checkpoints)
    final = zfnet_tf.load_model(os.path.join(result.model_dir, "checkpoints", "epoch-002.keras"))
    for a, b in zip(model.get_weights(), final.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The final model leaves the optimizer state to the checkpoints: it is the smaller file.
    assert getattr(model, "optimizer", None) is None and final.optimizer is not None
    final_size = os.path.getsize(os.path.join(result.model_dir, "checkpoints", "epoch-002.keras"))
    assert os.path.getsize(result.model_path) < 0.75 * final_size
    # The paper's filter renormalization held through training: no conv filter RMS above 0.1.
    for layer in model.backbone.layers:
        if layer.name.startswith("conv") and hasattr(layer, "kernel"):
            rms = np.sqrt(np.mean(np.square(layer.kernel.numpy()), axis=(0, 1, 2)))
            assert rms.max() <= 0.1 + 1e-6
    with open(os.path.join(result.model_dir, "run.json")) as handle:
        assert json.load(handle)["preset"] == "tiny"


def events(directory):
    """{tag: {step: tensor proto}} of every event file in `directory`."""
    found = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, {})[event.step] = value.tensor
    return found


def test_tensorboard_scalars_and_images(run):
    result, _ = run
    for split in ("train", "validation"):
        losses = events(os.path.join(result.log_dir, split))["epoch_loss"]
        assert sorted(losses) == [0, 1]
        values = [tf.make_ndarray(losses[step]) for step in (0, 1)]
        history_key = "loss" if split == "train" else "val_loss"
        np.testing.assert_allclose(values, result.history[history_key], rtol=1e-5)
    images = events(os.path.join(result.log_dir, "images"))
    for layer in range(1, 6):
        steps = images[f"projections/layer{layer}"]
        assert sorted(steps) == [1, 2]
        # An image summary is [width, height, PNG, PNG, ...]: one PNG per probe image.
        encoded = tf.make_ndarray(steps[2])
        assert encoded[:2].tolist() == [b"64", b"64"] and len(encoded) == 2 + PROBE_IMAGES
        pixels = np.asarray(Image.open(io.BytesIO(encoded[2])))
        assert pixels.shape[:2] == (64, 64) and pixels.std() > 0  # a projection, not blank grey
    filters = tf.make_ndarray(images["layer1_filters"][2])
    assert np.asarray(Image.open(io.BytesIO(filters[2]))).shape[2] == 3


def test_feature_evolution_figure(run):
    result, _ = run
    assert os.path.getsize(result.feature_evolution) > 0
    with np.load(result.feature_evolution.replace(".png", ".npz")) as state:
        assert state["epochs"].tolist() == [1, 2]
        rows = state["row_layers"]
        assert sorted(set(rows.tolist())) == [f"layer{layer}" for layer in range(1, 6)]
        assert state["cells"].shape == (2, len(rows), 64, 64, 3)
        # The figure shows change: the deeper features' projections differ between epochs.
        assert np.any(state["cells"][0] != state["cells"][1])
    figure = np.asarray(Image.open(result.feature_evolution))
    assert figure.shape[0] > figure.shape[1]  # 10 rows of features, 2 columns of epochs


def test_same_call_again_resumes_to_the_same_end(run):
    result, _ = run
    again = train(result.model_dir, preset="tiny", dataset="digits", recipe="demo", epochs=EPOCHS,
                  verbose=0, projection_every=1, probe_images=PROBE_IMAGES, evolution_probe_images=32)
    assert again.initial_epoch == EPOCHS
    assert again.history["epoch"] == [0.0, 1.0]
    with pytest.raises(ValueError, match="already holds a training run"):
        train(result.model_dir, preset="tiny", dataset="digits", recipe="demo", resume=False)
    with pytest.raises(ValueError, match="preset='tiny'"):
        train(result.model_dir, preset="zfnet", dataset="digits", recipe="demo")
    with pytest.raises(ValueError, match="already finished 2 epochs, more than the 1"):
        train(result.model_dir, preset="tiny", dataset="digits", recipe="demo", epochs=1)


def test_plateau_counters_survive_a_restart(tmp_path, tiny_model):
    tiny_model.compile(keras.optimizers.SGD(0.01), "mse")
    state = str(tmp_path / "plateau.json")

    def callback():
        plateau = ResumableReduceLROnPlateau(state, monitor="val_accuracy", mode="max", patience=2, factor=0.1)
        plateau.set_model(tiny_model)
        plateau.on_train_begin()
        return plateau

    first = callback()
    first.on_epoch_begin(0)
    first.on_epoch_end(0, {"val_accuracy": 0.5})
    first.on_epoch_end(1, {"val_accuracy": 0.4})  # one epoch without improvement
    first.on_epoch_end(2, {"val_accuracy": 0.3})  # recorded, then killed before the backup
    second = callback()  # a restart after 2 committed epochs: epoch 2 runs again
    tiny_model.optimizer.learning_rate.assign(0.01)  # as the backup of epoch 2 restores it
    second.on_epoch_begin(2)
    assert (second.best, second.wait) == (0.5, 1)
    second.on_epoch_end(2, {"val_accuracy": 0.45})  # the second: the plateau is reached
    assert float(tiny_model.optimizer.learning_rate) == pytest.approx(0.001)


def test_filters_to_grid():
    kernel = np.random.default_rng(0).normal(size=(7, 7, 3, 24)).astype(np.float32)
    grid = filters_to_grid(kernel, scale=2)
    cell = 7 * 2 + 1
    assert grid.shape == (5 * cell + 1, 5 * cell + 1, 3) and grid.dtype == np.uint8
    first = kernel[..., 0]
    expected = np.round((first - first.min()) / (first.max() - first.min()) * 255)
    np.testing.assert_array_equal(grid[1:cell:2, 1:cell:2], expected.astype(np.uint8))
    with pytest.raises(ValueError, match="3 input channels"):
        filters_to_grid(np.zeros((3, 3, 4, 2)))


def test_visualization_callbacks_take_layer_names_of_any_model(tmp_path):
    """Fig. 4 and the TensorBoard projections on a plain Keras CNN, by layer name: each cell
    is the deconvnet projection of the probe image that excites its map most, inside the
    map's receptive field."""
    from zfnet_tf.analysis.top9 import Top9
    from zfnet_tf.deconv import shared_deconvnet
    from zfnet_tf.training.callbacks import FeatureEvolution, VisualizationSummaries
    from zfnet_tf.visualization import projection_to_rgb

    keras.utils.set_random_seed(2)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(6, 5, strides=2, activation="relu", name="conv_a"),
        keras.layers.MaxPooling2D(2, name="pool_a"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv_b"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (12, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 12)
    evolution = FeatureEvolution(str(tmp_path / "evolution.png"), images, epochs=[1, 2],
                                 features_per_layer=2, layers=["pool_a", "conv_b"])
    summaries = VisualizationSummaries(str(tmp_path / "logs"), images[:2], every=1, layers=["conv_b"])
    model.fit(images, labels, epochs=2, batch_size=6, verbose=0, callbacks=[evolution, summaries])
    # Both read the model through one Deconvnet: each projection graph is traced once.
    shared = shared_deconvnet(model)
    assert summaries._deconvnet is shared and all(top1.deconvnet is shared for top1 in evolution._top1.values())
    with pytest.raises(ValueError, match="a Deconvnet of the analysed model"):
        Top9(keras.models.clone_model(model), deconvnet=shared)

    with np.load(tmp_path / "evolution.npz") as state:
        assert state["row_layers"].tolist() == ["pool_a", "pool_a", "conv_b", "conv_b"]
        cells, boxes, maps = state["cells"][1], state["boxes"][1], state["row_maps"]
    deconvnet = zfnet_tf.Deconvnet(model)
    for row, (layer, feature) in enumerate(zip(["pool_a", "pool_a", "conv_b", "conv_b"], maps)):
        top = keras.Model(model.inputs[0], model.get_layer(layer).output)(images).numpy()
        best = int(top[..., feature].reshape(len(images), -1).max(axis=1).argmax())
        projection = deconvnet.project(images[best : best + 1], layer, feature=int(feature))
        top_row, left, bottom, right = boxes[row]
        assert (top_row, left, bottom, right) == tuple(projection.box[0])
        expected = projection_to_rgb(projection.reconstructions[0, top_row:bottom, left:right])
        np.testing.assert_array_equal(cells[row, top_row:bottom, left:right], expected)
    steps = events(str(tmp_path / "logs" / "images"))["projections/conv_b"]
    assert sorted(steps) == [1, 2]
