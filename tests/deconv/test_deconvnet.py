import keras
import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.config import ConvBlockConfig


def hand_model():
    """One 2x2 conv (1 map), one 3x3/2 pool, 5x5 input, no mean: small enough to do by hand."""
    model = zfnet_tf.build_model(
        zfnet_tf.ZFNetConfig(
            conv_blocks=(ConvBlockConfig(1, 1, 2, 1, 0, pool=True, pool_padding="valid"),),
            dense_units=(),
            num_classes=2,
            input_size=5,
            normalization=None,
            mean_rgb=(0.0, 0.0, 0.0),
            filter_rms_limit=None,
        )
    )
    kernel = np.zeros((2, 2, 3, 1), np.float32)
    kernel[:, :, 0, 0] = [[1, 2], [3, 4]]  # red
    kernel[1, 1, 1, 0] = -1  # green, bottom-right tap
    conv = model.backbone.get_layer("conv1")
    conv.kernel.assign(kernel)
    conv.bias.assign([0.0])
    return model


def test_hand_worked_projection():
    # Image: red = 1 everywhere except red[1, 2] = 2; green = blue = 0.
    image = np.zeros((1, 5, 5, 3), np.float32)
    image[0, :, :, 0] = 1.0
    image[0, 1, 2, 0] = 2.0
    # conv1 at (i, j) = r[i,j] + 2 r[i,j+1] + 3 r[i+1,j] + 4 r[i+1,j+1]: 10 where no tap sees
    # the 2; the taps that do: (1,2) -> 11, (1,1) -> 12, (0,2) -> 13, (0,1) -> 14.
    # The only pool window (rows/cols 0-2 of the 4x4 conv map) holds its maximum 14 at (0, 1).
    # Down: unpool puts 14 at conv (0, 1); ReLU keeps it; the transposed conv spreads 14 x kernel
    # over input rows 0-1, columns 1-2: red [[14, 28], [42, 56]], green -14 at (1, 2).
    expected = np.zeros((1, 5, 5, 3), np.float32)
    expected[0, 0:2, 1:3, 0] = [[14, 28], [42, 56]]
    expected[0, 1, 2, 1] = -14
    for mode in ("max", "map"):
        projection = zfnet_tf.Deconvnet(hand_model()).project(image, layer=1, feature=0, mode=mode)
        np.testing.assert_allclose(projection.reconstructions, expected, atol=1e-5)
        assert projection.activation.tolist() == [14.0]
        assert projection.location.tolist() == [[0, 0]]
        assert projection.feature.tolist() == [0]


def test_reuses_the_model_kernels_without_copies(tiny_model):
    variables_before = len(tiny_model.variables)
    deconvnet = zfnet_tf.Deconvnet(tiny_model)
    images = np.random.RandomState(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    before = deconvnet.project(images, 1, feature=3)
    assert len(tiny_model.variables) == variables_before
    assert not [v for v in vars(deconvnet).values() if isinstance(v, (tf.Variable, keras.Variable))]
    # Doubling conv1's kernel (zero bias) doubles the activation and the transposed filter: x4.
    conv1 = tiny_model.backbone.get_layer("conv1")
    conv1.kernel.assign(conv1.kernel * 2.0)
    after = deconvnet.project(images, 1, feature=3)
    np.testing.assert_allclose(after.activation, 2 * before.activation, rtol=1e-5)
    np.testing.assert_allclose(after.reconstructions, 4 * before.reconstructions, rtol=1e-4, atol=1e-3)


def test_projection_survives_a_keras_round_trip(tmp_path, tiny_model):
    images = np.random.RandomState(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    path = str(tmp_path / "m.keras")
    tiny_model.save(path)
    original = zfnet_tf.Deconvnet(tiny_model).project(images, 5, feature=[1, 2])
    loaded = zfnet_tf.Deconvnet(zfnet_tf.load_model(path)).project(images, 5, feature=[1, 2])
    np.testing.assert_allclose(loaded.reconstructions, original.reconstructions, rtol=1e-5, atol=1e-5)


def test_output_shapes_and_dtypes(tiny_model):
    deconvnet = zfnet_tf.Deconvnet(tiny_model)
    images = np.random.RandomState(2).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    single = deconvnet.project(images, 2)
    assert single.reconstructions.shape == (3, 64, 64, 3) and single.reconstructions.dtype == np.float32
    assert single.feature.shape == (3,) and single.feature.dtype == np.int32
    assert single.activation.shape == (3,) and single.location.shape == (3, 2)
    many = deconvnet.project(images, 4, feature=list(range(9)))
    assert many.reconstructions.shape == (3, 9, 64, 64, 3)
    assert many.location.shape == (3, 9, 2)
    assert np.all(many.location < tiny_model.config.feature_map_sizes()["conv4"])
    assert set(single.as_dict()) == {"reconstructions", "feature", "activation", "location", "box"}
    assert single.box.shape == (3, 4) and many.box.shape == (3, 9, 4)
    field = zfnet_tf.receptive_field(tiny_model, 4)
    for b in range(3):
        assert tuple(many.box[b, 2]) == field.box(*many.location[b, 2])


def test_feature_arrays_pick_maps_per_image(tiny_model):
    """A list: the same K maps for every image; an array [B]: one map per image; [B, K]: K
    per image. Each equals the single projections it stands for."""
    deconvnet = zfnet_tf.Deconvnet(tiny_model)
    images = np.random.RandomState(7).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    per_image = deconvnet.project(images, 3, feature=np.array([4, 9]))
    assert per_image.reconstructions.shape == (2, 64, 64, 3)
    assert per_image.feature.tolist() == [4, 9]
    for b, feature in enumerate((4, 9)):
        single = deconvnet.project(images[b : b + 1], 3, feature=feature)
        np.testing.assert_allclose(per_image.reconstructions[b], single.reconstructions[0], atol=1e-5)
    table = deconvnet.project(images, 3, feature=np.array([[4, -1], [9, 0]]))
    assert table.reconstructions.shape == (2, 2, 64, 64, 3)
    np.testing.assert_allclose(table.reconstructions[:, 0], per_image.reconstructions, atol=1e-5)
    strongest = deconvnet.project(images, 3, feature=-1)
    np.testing.assert_array_equal(table.feature[0, 1], strongest.feature[0])
    with pytest.raises(ValueError, match=r"feature array must have shape \[2\] or \[2, K\]"):
        deconvnet.project(images, 3, feature=np.array([1, 2, 3]))


def add_model(pool):
    """x -> Add(x, conv(x)) -> pool, one channel, 4x4 input: small enough to do by hand."""
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, name="double")(inputs)
    added = keras.layers.Add(name="add")([inputs, conv])
    outputs = pool(2, name="pool")(added)
    model = keras.Model(inputs, outputs)
    model.get_layer("double").kernel.assign(np.full((1, 1, 1, 1), 2.0, np.float32))
    return model


def test_hand_worked_add_and_average_pooling():
    # add = x + 2x = 3x. AveragePooling2D(2) over 3x: output (i, j) is the mean of its 2x2
    # block. Down from the whole map (all four outputs, "map" mode, the one map): each output
    # value v spreads v / 4 over its block; the Add hands that to both branches, the skip as
    # it is and the conv times its kernel 2: d(input) = (1 + 2) * v / 4 over each block.
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    model = add_model(keras.layers.AveragePooling2D)
    block_means = 3 * image[0, :, :, 0].reshape(2, 2, 2, 2).mean(axis=(1, 3))  # [2, 2]
    expected = np.kron(block_means, np.ones((2, 2))) * 3 / 4
    projection = zfnet_tf.Deconvnet(model).project(image, "pool", feature=0, mode="map")
    np.testing.assert_allclose(projection.reconstructions[0, :, :, 0], expected, rtol=1e-6)
    # "max": the strongest output is the bottom-right block, mean of 3 * (10, 11, 14, 15) = 37.5.
    projection = zfnet_tf.Deconvnet(model).project(image, "pool", feature=0, mode="max")
    expected = np.zeros((4, 4), np.float32)
    expected[2:, 2:] = 37.5 * 3 / 4
    assert projection.activation.tolist() == [37.5] and projection.location.tolist() == [[1, 1]]
    np.testing.assert_allclose(projection.reconstructions[0, :, :, 0], expected, rtol=1e-6)


def test_hand_worked_add_and_max_pooling():
    # MaxPooling2D(2) over 3x: each block's maximum is its bottom-right pixel (the input
    # increases along rows and columns); unpooling puts the value there alone, and the Add
    # and the conv's transpose give it (1 + 2) times.
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    projection = zfnet_tf.Deconvnet(add_model(keras.layers.MaxPooling2D)).project(image, "pool", feature=0, mode="map")
    expected = np.zeros((4, 4), np.float32)
    for y, x in ((1, 1), (1, 3), (3, 1), (3, 3)):
        expected[y, x] = 3 * image[0, y, x, 0] * 3
    np.testing.assert_allclose(projection.reconstructions[0, :, :, 0], expected, rtol=1e-6)


def test_unsupported_layer_is_named_with_the_remedy():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubling")(x)
    x = keras.layers.Conv2D(4, 3, name="top")(x)
    deconvnet = zfnet_tf.Deconvnet(keras.Model(inputs, x))
    images = np.ones((1, 8, 8, 3), np.float32)
    with pytest.raises(
        ValueError,
        match=r"layer 'doubling' \(Lambda\) is not supported by the deconvnet: its function cannot be read\. "
        r"If it holds no ReLU, declare it with zfnet_tf\.deconv\.register_exact\(Lambda\)",
    ):
        deconvnet.project(images, "top")
    # Below the Lambda, the way down never meets it.
    assert deconvnet.project(images, "conv").reconstructions.shape == (1, 8, 8, 3)


def test_unknown_layer_name_lists_the_models_layers(tiny_model):
    with pytest.raises(ValueError, match=r"no layer named 'conv9' in this model; closest: 'conv5', 'conv4', "
                       r"'conv3', 'conv2', 'conv1' \(of \d+ layers; model.summary\(\) lists them\)$"):
        zfnet_tf.Deconvnet(tiny_model).project(np.zeros((1, 64, 64, 3), np.float32), "conv9")
    with pytest.raises(ValueError, match=r"no layer named 'xyz' in this model; it has \d+ layers; .*the first: "):
        zfnet_tf.Deconvnet(tiny_model).project(np.zeros((1, 64, 64, 3), np.float32), "xyz")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    with pytest.raises(ValueError, match="layer numbers 1-5 name ZFNet's layers"):
        zfnet_tf.Deconvnet(model).project(np.zeros((1, 8, 8, 3), np.float32), 1)


def test_zfnet_layer_numbers_name_the_top_maps(tiny_model):
    deconvnet = zfnet_tf.Deconvnet(tiny_model)
    assert [deconvnet.layer_name(layer) for layer in range(1, 6)] == ["pool1", "pool2", "conv3", "conv4", "pool5"]
    assert deconvnet.default_layers() == (1, 2, 3, 4, 5)
    images = np.random.RandomState(8).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    by_number = deconvnet.project(images, 2, feature=3)  # eagerly (a first call)
    by_name = deconvnet.project(images, "pool2", feature=3)  # the same graph, traced
    assert deconvnet.projection_function(2) is deconvnet.projection_function("pool2")
    for name in ("feature", "activation", "location", "box"):
        np.testing.assert_array_equal(getattr(by_number, name), getattr(by_name, name))
    scale = np.abs(by_name.reconstructions).max()
    np.testing.assert_allclose(by_number.reconstructions, by_name.reconstructions, rtol=0, atol=1e-6 * scale)


def test_default_layers_of_vgg16_are_the_last_conv_of_each_block():
    model = zfnet_tf.keras_application("VGG16", input_size=32, num_classes=2)
    assert zfnet_tf.Deconvnet(model).default_layers() == (
        "block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3",
    )


def test_max_mode_stays_inside_the_receptive_field(tiny_model):
    deconvnet = zfnet_tf.Deconvnet(tiny_model)
    images = np.random.RandomState(3).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    for layer in (1, 2):
        projection = deconvnet.project(images, layer, feature=-1)
        field = zfnet_tf.receptive_field(tiny_model, layer)
        for b in range(2):
            top, left, bottom, right = field.box(*projection.location[b])
            outside = projection.reconstructions[b].copy()
            outside[top:bottom, left:right] = 0
            assert np.abs(projection.reconstructions[b]).max() > 0
            assert not outside.any()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"layer": 0}, "layer must be an int in 1..5"),
        ({"layer": 6}, "layer must be an int in 1..5"),
        ({"layer": 1, "rule": "lrp"}, "rule must be one of"),
        ({"layer": 1, "feature": 24}, r"feature 24 is out of range for layer 1 \(pool1\): it has 24 maps"),
        ({"layer": 1, "feature": -2}, "feature -2 is out of range"),
        ({"layer": 1, "feature": [0, 99]}, "out of range for layer 1 "),
        ({"layer": 1, "feature": 1.5}, "feature must be an int"),
        ({"layer": 1, "mode": "mean"}, "mode must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(tiny_model, kwargs, message):
    images = np.zeros((1, 64, 64, 3), np.float32)
    with pytest.raises(ValueError, match=message):
        zfnet_tf.Deconvnet(tiny_model).project(images, **kwargs)


@pytest.mark.parametrize(
    "shape,message",
    [((64, 64, 3), "images must have rank 4"), ((1, 64, 64, 4), r"images must have shape \[batch, 64, 64, 3\]"),
     ((1, 32, 32, 3), "images must have shape"), ((0, 64, 64, 3), "empty batch")],
)
def test_bad_images_name_the_argument(tiny_model, shape, message):
    with pytest.raises(ValueError, match=message):
        zfnet_tf.Deconvnet(tiny_model).project(np.zeros(shape, np.float32), 1)


def test_removed_layer_is_named():
    model = zfnet_tf.build_model("tiny", conv_blocks=tuple(b for b in zfnet_tf.get_config("tiny").conv_blocks if b.layer not in (3, 4)))
    with pytest.raises(ValueError, match=r"layer 3 is not in this network \(its conv layers: \(1, 2, 5\)\)"):
        zfnet_tf.Deconvnet(model).project(np.zeros((1, 64, 64, 3), np.float32), 3)
    assert zfnet_tf.Deconvnet(model).project(np.ones((1, 64, 64, 3), np.float32), 5).reconstructions.shape == (1, 64, 64, 3)


def test_graph_function_rejects_out_of_range_features(tiny_model):
    function = zfnet_tf.Deconvnet(tiny_model).projection_function(1, features_per_image=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="feature must be -1 or in"):
        function(tf.zeros((1, 64, 64, 3)), tf.constant([[24]], tf.int32))


def test_mixed_precision_model_projects_in_float32(tiny_model):
    images = np.random.RandomState(5).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = zfnet_tf.build_model("tiny")
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    mixed.set_weights(tiny_model.get_weights())
    assert mixed.backbone.get_layer("conv3").dtype_policy.compute_dtype == "bfloat16"
    reference = zfnet_tf.Deconvnet(tiny_model).project(images, 3, feature=[4, 7])
    projection = zfnet_tf.Deconvnet(mixed).project(images, 3, feature=[4, 7])
    assert projection.reconstructions.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: the forward pass (and so the switches) may differ a
    # little, the projection must still be the same picture.
    for b in range(2):
        for k in range(2):
            a, r = projection.reconstructions[b, k].ravel(), reference.reconstructions[b, k].ravel()
            assert np.corrcoef(a, r)[0, 1] > 0.9
    np.testing.assert_allclose(projection.activation, reference.activation, rtol=0.05)


def test_shared_deconvnet_is_one_per_model_while_held(tiny_model):
    """Analyses and callbacks reading one model at once share its Deconvnet (one trace per
    projection); it does not outlive its holders, and another model gets its own."""
    import gc
    import weakref

    from zfnet_tf.analysis import Top9
    from zfnet_tf.deconv import shared_deconvnet

    held = shared_deconvnet(tiny_model)
    assert Top9(tiny_model).deconvnet is held is shared_deconvnet(tiny_model)
    other = zfnet_tf.build_model("tiny")
    assert shared_deconvnet(other) is not held and shared_deconvnet(other).model is other
    released = weakref.ref(held)
    del held
    gc.collect()
    assert released() is None


def every_supported_layer_model():
    """A small convnet holding every class of `zfnet_tf.deconv.rules.LAYER_RULES`: branches
    of different windows meeting (Concatenate, Add, a gate), every normalization, pool,
    padding, activation and identity layer, and Keras ops written on tensors."""
    from keras.src.applications.convnext import LayerScale, StochasticDepth
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    from zfnet_tf.layers import LocalContrastNormalization, MaxPoolWithSwitches

    layers = keras.layers
    tf.keras.utils.set_random_seed(11)
    inputs = keras.Input((20, 20, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Normalization(mean=[0.1, 0.0, -0.1], variance=[1.2, 0.8, 1.0])(x)
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = layers.BatchNormalization(beta_initializer=keras.initializers.RandomNormal(0, 0.3))(x)
    x = MaxPoolWithSwitches(3, 2, "same", return_switches=False)(x)  # 10
    x = LocalContrastNormalization(3, 1.0)(x)
    depthwise = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    separable = layers.LeakyReLU(0.1)(layers.SeparableConv2D(6, 5, padding="same")(x))
    pointwise = layers.PReLU(alpha_initializer=keras.initializers.Constant(0.2))(layers.Conv2D(4, 1)(x))
    pooled = layers.MaxPooling2D(3, 1, padding="same")(x)
    x = layers.Concatenate()([depthwise, separable, pointwise, pooled])
    x = layers.ELU()(layers.Conv2D(8, 3, padding="same")(x))
    x = layers.GroupNormalization(groups=2)(layers.LayerNormalization()(x))
    branch = layers.Conv2D(8, 3, padding="same", activation="swish")(x)
    branch = StochasticDepth(0.1)(LayerScale(0.5, 8)(branch))
    x = CustomScaleLayer(0.3)([layers.Add()([x, branch]), branch])
    gate = layers.Dense(8, activation="sigmoid")(layers.GlobalAveragePooling2D(keepdims=True)(x))
    x = layers.Multiply()([x, gate])
    x = keras.ops.true_divide(keras.ops.divide(keras.ops.multiply(x, gate), 2.0), 0.5)
    x = keras.ops.negative(keras.ops.subtract(keras.ops.add(x, 0.1), x * 2.0))
    x = layers.UnitNormalization()(layers.AveragePooling2D(2)(x))  # 5
    x = layers.Cropping2D(((0, 1), (1, 0)))(x)  # 4
    for noise in (layers.Dropout(0.2), layers.SpatialDropout2D(0.2), layers.GaussianDropout(0.2),
                  layers.GaussianNoise(0.2), layers.AlphaDropout(0.2), layers.Identity()):
        x = noise(x)
    x = layers.Activation("tanh")(layers.Softmax()(x))
    x = layers.ReLU(threshold=0.05, name="relu")(layers.Conv2D(6, 3, padding="same")(x))
    flat = layers.Dense(4)(layers.Reshape((96,))(layers.Flatten()(x)))
    x = layers.Concatenate()([layers.GlobalMaxPooling2D()(x), flat])
    return keras.Model(inputs, layers.Dense(5, name="top")(x))


def test_a_projection_made_again_runs_its_traced_graph_with_the_same_numbers():
    """A projection's first call runs its ops eagerly, its second the traced graph
    (`zfnet_tf.deconv.reading.TracedOnReuse`): the two agree, through every kind of layer the
    deconvnet supports and each rule. (The oracle tests mostly meet the eager path, each case
    being made once; this ties the traced one to them.)"""
    from test_deconvnet_oracle import check_against_oracle
    from zfnet_tf.deconv.rules import LAYER_RULES

    model = every_supported_layer_model()
    held = {type(operation) for operation in model.operations}
    missing = [cls.__name__ for rule in LAYER_RULES for cls in rule.classes if not any(issubclass(h, cls) for h in held)]
    assert not missing, f"add these to every_supported_layer_model: {missing}"

    images = np.random.RandomState(4).uniform(0, 255, (2, 20, 20, 3)).astype(np.float32)
    deconvnet = zfnet_tf.Deconvnet(model)
    # The eager run checks its inputs as the graph's signature does.
    with pytest.raises(ValueError, match=r"images must have shape \(None, 20, 20, 3\), got \(2, 10, 10, 3\)"):
        deconvnet.projection_function("relu", "max", features_per_image=2)(images[:, :10, :10], [[0, 1], [0, 1]])
    for layer, mode in (("relu", "max"), ("top", "map")):
        for rule in zfnet_tf.deconv.RULES:
            function = deconvnet.projection_function(layer, mode, rule, features_per_image=2)
            eager = deconvnet.project(images, layer, feature=[-1, 1], mode=mode, rule=rule)
            assert function.function.experimental_get_tracing_count() == 0
            traced = deconvnet.project(images, layer, feature=[-1, 1], mode=mode, rule=rule)
            assert function.function.experimental_get_tracing_count() == 1
            scale = np.abs(traced.reconstructions).max()
            assert scale > 0, (layer, mode, rule)
            np.testing.assert_allclose(eager.reconstructions, traced.reconstructions, rtol=0, atol=1e-6 * scale)
            np.testing.assert_array_equal(eager.feature, traced.feature)
    check_against_oracle(model, images, ["relu", "top"])
