"""The deconvnet against an independent modified-backprop implementation (docs/design.md).

The oracle (`zfnet_tf.deconv.modified_backprop`) runs the Keras model itself with each ReLU's
backward replaced by the rule's and each normalization's by identity, and takes
`tf.GradientTape`'s gradient; here the selected activations are also picked in NumPy. It
shares no code with `Deconvnet` (no graph walk, no windows, no switches).
"""

import contextlib
from dataclasses import replace

import keras
import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.config import PRESETS
from zfnet_tf.models import input_size
from zfnet_tf.deconv.modified_backprop import modified_backprop_projection, modified_gradient

pytestmark = pytest.mark.heavy(28)

RULES = ("deconvnet", "guided", "gradient")


def numpy_seed(feature, mode):
    """The signal the paper starts from, picked in NumPy: the chosen map's strongest activation
    alone ("max"), or the whole map ("map"); `feature` per image, `mode` one for all or per
    image."""

    def seed(top):
        top = top.numpy()
        modes = [mode] * top.shape[0] if isinstance(mode, str) else mode
        chosen = np.zeros_like(top)
        for b in range(top.shape[0]):
            maps = top[b, ..., feature[b]]
            if modes[b] == "max" and maps.ndim:
                index = np.unravel_index(np.argmax(maps), maps.shape)
                chosen[(b, *index, feature[b])] = maps[index]
            else:
                chosen[b, ..., feature[b]] = maps
        return tf.constant(chosen)

    return seed


def assert_close(actual, expected, relative=1e-5):
    scale = np.abs(expected).max()
    assert scale > 0, "the oracle projected nothing: the test would prove nothing"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=relative * scale)


def alive_maps(deconvnet, images, layers):
    """Per layer, a map that fires in every image (its weakest maximum over the images is the
    largest), all from one eager forward pass of the model's own layers (tracing a graph for
    one call would cost a large keras.applications model several times as much)."""
    tops = deconvnet.feature_model(layers)(tf.constant(images))
    alive = {}
    for layer in layers:
        top = tops[deconvnet.layer_name(layer)].numpy()
        top = top.reshape(len(images), -1, top.shape[-1])
        alive[layer] = int(top.max(axis=1).min(axis=0).argmax())
    return alive


ALL = tuple((rule, mode) for rule in RULES for mode in ("max", "map"))


@contextlib.contextmanager
def functions_run_eagerly():
    """Every `tf.function` runs as plain ops inside (TensorFlow's own switch), for the oracle:
    Keras' TensorFlow backend wraps each grouped convolution in a new jit-compiled
    `tf.function` at every call, which eagerly means an XLA compilation per call (ConvNeXt's
    depthwise convolutions); the oracle's numbers are the same without it."""
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


def check_against_oracle(model, images, layers, cases=ALL):
    """Each layer's strongest map and one more, by each `(rule, mode)`, against the oracle
    (`layers` may also map each layer to its own cases)."""
    deconvnet = zfnet_tf.Deconvnet(model)
    cases_of = dict(layers) if isinstance(layers, dict) else {layer: cases for layer in layers}
    alive = alive_maps(deconvnet, images, list(cases_of))
    for layer, cases in cases_of.items():
        features = [-1, alive[layer]]
        for rule in dict.fromkeys(rule for rule, _ in cases):
            modes = [mode for r, mode in cases if r == rule]
            projections = [deconvnet.project(images, layer, feature=features, mode=mode, rule=rule) for mode in modes]
            # Every feature and mode of the rule in one oracle pass: image b's copy for mode m
            # and feature k is row (m * 2 + k) * B + b.
            chosen = np.concatenate([projection.feature.T.reshape(-1) for projection in projections])
            row_modes = [mode for mode in modes for _ in range(2 * len(images))]
            tiled = np.concatenate([images] * (2 * len(modes)))
            with functions_run_eagerly():
                expected = modified_gradient(model, tiled, layer, numpy_seed(chosen, row_modes), rule).numpy()
            expected = expected.reshape(len(modes), 2, *images.shape)
            for m, projection in enumerate(projections):
                for k in range(2):
                    assert_close(projection.reconstructions[:, k], expected[m, k])


def random_zfnet(preset, seed=7, widths=8, **overrides):
    """A preset's geometry (kernels, strides, paddings, input size, normalization) at small
    widths, with random biases so that ReLUs cut at varied levels, not only at zero."""
    tf.keras.utils.set_random_seed(seed)
    config = zfnet_tf.get_config(preset)
    blocks = tuple(zfnet_tf.ConvBlockConfig(**{**b.__dict__, "filters": widths}) for b in config.conv_blocks)
    dense = tuple(16 for _ in config.dense_units)
    overrides.setdefault("kernel_initializer", "he_normal")  # activations that reach layer 5
    model = zfnet_tf.build_model(config, conv_blocks=blocks, dense_units=dense, num_classes=4, **overrides)
    for layer in model.backbone.layers:
        if layer.name.startswith("conv") and hasattr(layer, "bias"):
            layer.bias.assign(np.random.RandomState(seed).normal(0, 0.5, layer.bias.shape))
    return model


def images_for(model, count=2, seed=1, low=0.0, high=255.0):
    size = input_size(model)
    return np.random.RandomState(seed).uniform(low, high, (count, size, size, 3)).astype(np.float32)


def backbone_geometry(preset, widths=8):
    """All a preset's settings that its conv layers 1-5 depend on at the test's `widths`:
    everything but the conv widths and the classifier (its dense layers and classes)."""
    config = zfnet_tf.get_config(preset)
    blocks = tuple(replace(block, filters=widths) for block in config.conv_blocks)
    return replace(config, conv_blocks=blocks, dense_units=(), num_classes=1, dropout=0.0)


def backbone_layers(model):
    """The layers from the input to layer 5's top maps (what its projections go through), each
    one's class and configuration (names aside)."""
    backbone = model.backbone
    names = [layer.name for layer in backbone.layers]
    last = names.index(backbone.top_map_name(max(model.config.conv_layers)))
    return [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"}) for layer in backbone.layers[: last + 1]]


# Presets by geometry: those that differ only in widths or in their classifier (fc sizes, fc6 and
# fc7 dropped) share one backbone at the test's widths.
PRESET_GROUPS = []
for _preset in sorted(PRESETS):
    _group = next((g for g in PRESET_GROUPS if backbone_geometry(g[0]) == backbone_geometry(_preset)), None)
    _group.append(_preset) if _group is not None else PRESET_GROUPS.append([_preset])


@pytest.mark.parametrize("presets", PRESET_GROUPS, ids="+".join)
def test_every_zfnet_preset_equals_modified_backprop(presets):
    """Every preset's geometry (kernels, strides, paddings, pools, normalization, input size),
    layers 1-5 in both modes; presets of one geometry build the same backbone layer for layer
    (checked here), so the first of them stands for all."""
    model = random_zfnet(presets[0])
    for preset in presets[1:]:
        assert backbone_layers(random_zfnet(preset)) == backbone_layers(model), preset
    check_against_oracle(model, images_for(model), model.config.conv_layers, cases=[("deconvnet", "max"), ("deconvnet", "map")])


@pytest.mark.parametrize("normalization", ["lcn", "lrn", None])
def test_each_rule_and_normalization_equals_modified_backprop(normalization):
    model = random_zfnet("tiny", widths=12, normalization=normalization, input_size=72)
    check_against_oracle(model, images_for(model), [1, 2, 3, 4, 5])


def test_vgg16_equals_modified_backprop():
    tf.keras.utils.set_random_seed(0)
    model = zfnet_tf.keras_application("VGG16", input_size=48, num_classes=5)
    layers = {name: ALL for name in ("block1_conv2", "block5_conv3", "fc2")}
    layers.update({name: [("guided", "max")] for name in ("block5_pool", "predictions")})
    check_against_oracle(model, images_for(model), layers)


def test_resnet50_equals_modified_backprop():
    """Batch normalization, Add with its two branches meeting again, zero padding, strided
    1x1 shortcuts, global average pooling."""
    tf.keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(40, 40, 3), classes=5)
    layers = ["conv2_block3_out", "conv4_block1_out", "avg_pool"]
    cases = [("deconvnet", "max"), ("gradient", "map")]
    check_against_oracle(model, images_for(model, low=-120, high=120), layers, cases=cases)


def test_sequential_cnn_with_dense_layers_equals_modified_backprop():
    tf.keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 127.5, offset=-1),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same", name="conv_a"),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(12, 3, strides=2, activation="relu", name="conv_b"),
            keras.layers.AveragePooling2D(2),
            keras.layers.ZeroPadding2D(1),
            keras.layers.Conv2D(8, 3, name="conv_c"),
            keras.layers.ReLU(name="relu_c"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(10, activation="relu", name="dense_a"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(4, activation="softmax", name="dense_b"),
        ]
    )
    # Inference statistics that are not the identity.
    batch_norm = model.layers[2]
    batch_norm.moving_variance.assign(np.random.RandomState(0).uniform(0.5, 2.0, 8))
    batch_norm.gamma.assign(np.random.RandomState(1).uniform(0.5, 1.5, 8))
    check_against_oracle(model, images_for(model), ["conv_a", "conv_b", "relu_c", "dense_a", "dense_b"])


def test_base_nested_in_a_transfer_head_equals_modified_backprop():
    tf.keras.utils.set_random_seed(4)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(48, 48, 3))
    inputs = keras.Input((48, 48, 3))
    x = keras.layers.Flatten()(base(inputs))
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs)
    check_against_oracle(model, images_for(model, low=-100, high=100), ["block4_conv3", "vgg16", "head"])
    # The nested layer is named by its plain name or by its path.
    deconvnet = zfnet_tf.Deconvnet(model)
    assert deconvnet.layer_name("vgg16/block4_conv3") == deconvnet.layer_name("block4_conv3") == "block4_conv3"


def test_gradient_rule_is_the_true_gradient():
    """No rule at all: `tape.gradient` through the untouched model, LCN included."""
    model = random_zfnet("tiny", widths=12, seed=9)
    images = images_for(model, seed=3)
    extractor = model.backbone.feature_extractor(["pool2"])
    deconvnet = zfnet_tf.Deconvnet(model)
    for mode in ("max", "map"):
        projection = deconvnet.project(images, 2, feature=5, mode=mode, rule="gradient")
        image_tensor = tf.constant(images)
        with tf.GradientTape() as tape:
            tape.watch(image_tensor)
            top = extractor(image_tensor)["pool2"]
        seed = numpy_seed(np.full(2, 5), mode)(top)
        expected = tape.gradient(top, image_tensor, output_gradients=seed).numpy()
        assert_close(projection.reconstructions, expected, relative=1e-6)


def test_batched_modified_backprop_matches_numpy_selection():
    model = random_zfnet("tiny", widths=12, seed=5)
    images = images_for(model, seed=6)
    for mode in ("max", "map"):
        batched = modified_backprop_projection(model, images, np.array([[2, 7], [2, 7]], np.int32), 2, mode).numpy()
        for k, feature in enumerate((2, 7)):
            expected = modified_gradient(model, images, 2, numpy_seed(np.full(2, feature), mode)).numpy()
            assert_close(batched[:, k], expected)


def test_zfnet_projections_unchanged_from_the_config_walking_deconvnet():
    """`data/tiny_projections_v0.npz` holds the weights, images and projections of the
    deconvnet before it read the Keras graph (the one that walked `ZFNetConfig`): the same
    numbers, layers 1-5, both modes, strongest and chosen maps."""
    import os

    golden = np.load(os.path.join(os.path.dirname(__file__), "data", "tiny_projections_v0.npz"))
    model = zfnet_tf.build_model("tiny", num_classes=10)
    for weight in model.weights:
        weight.assign(golden["weight/" + weight.path])
    deconvnet = zfnet_tf.Deconvnet(model)
    for layer in range(1, 6):
        for mode in ("max", "map"):
            projection = deconvnet.project(golden["images"], layer, feature=[-1, 3], mode=mode)
            for name in ("feature", "location"):
                np.testing.assert_array_equal(getattr(projection, name), golden[f"layer{layer}/{mode}/{name}"])
            np.testing.assert_allclose(projection.activation, golden[f"layer{layer}/{mode}/activation"], rtol=1e-6)
            assert_close(projection.reconstructions, golden[f"layer{layer}/{mode}/reconstructions"], relative=1e-6)
