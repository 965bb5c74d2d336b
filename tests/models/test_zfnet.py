import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.config import PRESETS


def conv_params(kernel, in_channels, filters):
    return kernel * kernel * in_channels * filters + filters


@pytest.fixture(scope="module")
def fig3_zfnet():
    """The network of the paper's Fig. 3 (62,357,608 parameters), built once for the module."""
    keras.utils.set_random_seed(0)
    return zfnet_tf.build_model("zfnet")


def test_fig3_shapes_of_every_named_intermediate(fig3_zfnet):
    backbone = fig3_zfnet.backbone
    expected = {
        "conv1": (110, 110, 96), "pool1": (55, 55, 96), "norm1": (55, 55, 96),
        "conv2": (26, 26, 256), "pool2": (13, 13, 256), "norm2": (13, 13, 256),
        "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256),
        "pool5": (6, 6, 256), "fc6": (4096,), "fc7": (4096,),
    }
    # The graph's shapes: each layer's declared output shape (tests/layers holds every layer's
    # declared shape to what it computes; the narrow presets below run them at full size).
    assert {name: tuple(backbone.get_layer(name).output.shape[1:]) for name in backbone.feature_names} == expected
    assert fig3_zfnet.output_shape == (None, 1000)


def test_zfnet_parameter_count_from_the_paper_shapes(fig3_zfnet):
    expected = (
        conv_params(7, 3, 96) + conv_params(5, 96, 256) + conv_params(3, 256, 384)
        + conv_params(3, 384, 384) + conv_params(3, 384, 256)
        + (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    )
    count = fig3_zfnet.count_params()
    assert count == expected
    assert count == 62_357_608  # pytorchcv's published count for its Fig. 3 "zfnet"
    assert len(fig3_zfnet.non_trainable_weights) == 0


def narrow(config):
    """`config`'s geometry (kernels, strides, paddings, pools, normalization, input size) with
    4 maps per convolution and 8 units per fully connected layer: every shape of the preset,
    at a sliver of its weights."""
    blocks = tuple(dataclasses.replace(block, filters=4) for block in config.conv_blocks)
    return config.replace(conv_blocks=blocks, dense_units=(8,) * len(config.dense_units))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_and_runs_forward(preset):
    config = narrow(PRESETS[preset])
    model = zfnet_tf.build_model(config, num_classes=7)
    size = config.input_size
    logits = model(np.random.RandomState(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32))
    assert logits.shape == (1, 7)
    assert np.all(np.isfinite(logits.numpy()))
    names = model.backbone.feature_names
    assert [n for n in names if n.startswith("conv")] == [f"conv{l}" for l in config.conv_layers]
    assert [n for n in names if n.startswith("fc")] == [f"fc{6 + i}" for i in range(len(config.dense_units))]
    sizes = config.feature_map_sizes()
    extractor = model.backbone.feature_extractor([n for n in names if n in sizes])
    for name, tensor in extractor(np.zeros((1, size, size, 3), np.float32)).items():
        assert tensor.shape[1] == sizes[name], name


def test_table3_ablations_and_alexnet_shapes():
    assert PRESETS["zfnet_no_conv3_conv4"].conv_layers == (1, 2, 5)
    assert PRESETS["zfnet_no_fc6_fc7"].dense_units == ()
    assert PRESETS["zfnet_conv512_1024_512_fc8192"].dense_units == (8192, 8192)
    assert [b.filters for b in PRESETS["zfnet_conv512_1024_512"].conv_blocks] == [96, 256, 512, 1024, 512]
    alexnet = PRESETS["alexnet"]
    assert (alexnet.conv_blocks[0].kernel_size, alexnet.conv_blocks[0].strides) == (11, 4)
    assert alexnet.feature_map_sizes() == {
        "conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv3": 13, "conv4": 13, "conv5": 13, "pool5": 6
    }


@pytest.mark.parametrize("normalization", ["lcn", "lrn", None])
def test_keras_round_trip_reproduces_outputs(tmp_path, normalization):
    keras.utils.set_random_seed(1)
    model = zfnet_tf.build_model("tiny", normalization=normalization, class_names=list("abcdefghij"))
    images = np.random.RandomState(2).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = zfnet_tf.load_model(path)
    assert isinstance(loaded, zfnet_tf.ZFNetImageClassifier)
    assert loaded.config == model.config
    assert loaded.class_names == list("abcdefghij")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6, atol=1e-6)
    features, loaded_features = (m.backbone.feature_extractor(["conv5", "fc7"])(images) for m in (model, loaded))
    for name in ("conv5", "fc7"):
        np.testing.assert_allclose(loaded_features[name], features[name], rtol=1e-6, atol=1e-6)


def test_paper_init_and_filter_constraint(fig3_zfnet):
    conv1 = fig3_zfnet.backbone.get_layer("conv1")
    assert abs(float(np.std(conv1.kernel.numpy())) - 0.01) < 0.001
    assert not np.any(conv1.bias.numpy())
    assert conv1.kernel_constraint.max_rms == 0.1
    unconstrained = zfnet_tf.build_model("tiny", filter_rms_limit=None)
    assert unconstrained.backbone.get_layer("conv1").kernel_constraint is None


def test_preprocessing_inside_the_model_subtracts_the_mean():
    model = zfnet_tf.build_model("tiny")
    preprocess = model.backbone.get_layer("preprocess")
    pixel = np.full((1, 2, 2, 3), 200.0, np.float32)
    np.testing.assert_allclose(preprocess(pixel).numpy()[0, 0, 0], 200.0 - np.array(model.config.mean_rgb), rtol=1e-6)


def test_overrides_and_bad_configs_name_the_problem():
    model = zfnet_tf.build_model("tiny", input_size=96, normalization="lrn")
    assert model.input_shape == (None, 96, 96, 3)
    with pytest.raises(ValueError, match="unknown preset"):
        zfnet_tf.build_model("vgg")
    with pytest.raises(ValueError, match="normalization"):
        zfnet_tf.build_model("tiny", normalization="batch")
    with pytest.raises(ValueError, match="input_size 20 is too small"):
        zfnet_tf.build_model("tiny", input_size=20)
    with pytest.raises(ValueError, match="unknown ZFNetConfig field"):
        zfnet_tf.build_model("tiny", widths=3)
    with pytest.raises(ValueError, match="class_names has 2 names for 10 classes"):
        zfnet_tf.build_model("tiny", num_classes=10, class_names=["a", "b"])


def test_config_dict_round_trip():
    for config in PRESETS.values():
        assert zfnet_tf.ZFNetConfig.from_dict(config.to_dict()) == config
    assert dataclasses.is_dataclass(zfnet_tf.get_config("tiny"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        zfnet_tf.get_config("tiny").input_size = 3


def test_normalization_before_or_after_the_pool():
    """Fig. 3 pools, then normalizes; `before_pool` (AlexNet, imgclsmob's ZFNets) normalizes the
    ReLU maps and pools the normalized maps."""
    images = np.random.RandomState(4).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)

    def lrn(x, config):
        return tf.nn.local_response_normalization(
            x, config.lrn_depth_radius, config.lrn_bias, config.lrn_alpha, config.lrn_beta
        )

    def pool(x):
        return tf.nn.max_pool2d(x, 3, 2, "SAME")

    for position in ("after_pool", "before_pool"):
        keras.utils.set_random_seed(5)
        model = zfnet_tf.build_model(
            "tiny", normalization="lrn", normalization_position=position, lrn_alpha=2e-3, lrn_bias=1.0
        )
        config = model.config
        outputs = model.backbone.feature_extractor(["conv1", "pool1", "norm1", "conv2"])(images)
        conv1 = outputs["conv1"]
        if position == "after_pool":
            np.testing.assert_allclose(outputs["pool1"], pool(conv1), rtol=1e-6)
            np.testing.assert_allclose(outputs["norm1"], lrn(pool(conv1), config), rtol=1e-5)
            next_input = outputs["norm1"]
        else:
            np.testing.assert_allclose(outputs["norm1"], lrn(conv1, config), rtol=1e-5)
            np.testing.assert_allclose(outputs["pool1"], pool(lrn(conv1, config)), rtol=1e-5)
            next_input = outputs["pool1"]
        conv2 = model.backbone.get_layer("conv2")
        np.testing.assert_allclose(outputs["conv2"], conv2(next_input), rtol=1e-5, atol=1e-5)
        # The two orders really differ here (the normalization is far from a constant factor).
        assert np.abs(pool(lrn(conv1, config)) - lrn(pool(conv1), config)).max() > 1e-2


def test_input_transform_divides_by_std():
    config = zfnet_tf.get_config("zfnet_imgclsmob")
    model = zfnet_tf.build_model(narrow(config))  # only its preprocessing layer is read
    pixels = np.random.RandomState(6).uniform(0, 255, (1, 2, 2, 3)).astype(np.float32)
    # torchvision: ToTensor (/255), then Normalize(mean, std) of [0, 1] RGB.
    expected = (pixels / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(model.backbone.get_layer("preprocess")(pixels), expected, rtol=1e-5, atol=1e-5)
    assert (config.resize_size, config.input_size, config.image_resize_size) == (256, 224, 256)


def test_new_config_fields_are_checked():
    for overrides, message in (
        ({"normalization_position": "between"}, "normalization_position must be one of"),
        ({"std_rgb": (1.0, 0.0, 1.0)}, "std_rgb needs 3 positive values"),
        ({"resize_size": 60}, "resize_size must be None or >= input_size 64, got 60"),
        ({"lrn_depth_radius": -1}, "lrn_depth_radius must be >= 0"),
        ({"lrn_bias": 0.0}, "lrn_bias must be > 0"),
    ):
        with pytest.raises(ValueError, match=message):
            zfnet_tf.get_config("tiny", **overrides)


def test_keras_file_saved_before_the_new_fields_loads_unchanged(tmp_path):
    """A `.keras` file whose config predates the pretrained-model fields (normalization
    position, LRN constants, std, resize) loads with today's defaults and computes the same."""
    import json
    import zipfile

    keras.utils.set_random_seed(7)
    model = zfnet_tf.build_model("tiny", normalization="lrn")
    path, old_path = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(path)
    new_fields = {"normalization_position", "lrn_depth_radius", "lrn_bias", "lrn_alpha", "lrn_beta",
                  "std_rgb", "resize_size"}
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old_path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                saved = json.loads(data)
                backbone = saved["config"]["backbone"]["config"]["config"]
                assert new_fields <= set(backbone)
                for name in new_fields:
                    del backbone[name]
                data = json.dumps(saved).encode()
            target.writestr(item, data)
    loaded = zfnet_tf.load_model(str(old_path))
    assert loaded.config == model.config
    images = np.random.RandomState(8).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
