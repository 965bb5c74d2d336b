import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf


def geometry_model(preset):
    """The preset's conv and pool geometry at its input size, with few maps and no fc layers."""
    tf.keras.utils.set_random_seed(0)
    config = zfnet_tf.get_config(preset)
    blocks = tuple(zfnet_tf.ConvBlockConfig(**{**b.__dict__, "filters": 4}) for b in config.conv_blocks)
    return zfnet_tf.build_model(config, conv_blocks=blocks, dense_units=(), num_classes=2)


@pytest.mark.parametrize("preset", ["zfnet", "alexnet", "tiny"])
def test_box_equals_the_gradient_support(preset, linear_twin):
    model = geometry_model(preset)
    config = model.config
    for layer in config.conv_layers:
        twin = linear_twin(config, layer)
        field = zfnet_tf.receptive_field(model, layer)
        grid = twin.output_shape[1]
        assert field.grid_size == (grid, grid)
        for y, x in {(0, 0), (grid // 2, grid - 1), (grid - 1, grid // 3)}:
            image = tf.zeros((1, config.input_size, config.input_size, 1))
            with tf.GradientTape() as tape:
                tape.watch(image)
                unit = twin(image)[0, y, x, 0]
            support = np.argwhere(tape.gradient(unit, image).numpy()[0, ..., 0] != 0)
            top, left, bottom, right = field.box(y, x)
            assert (support[:, 0].min(), support[:, 1].min()) == (top, left), (preset, layer, y, x)
            assert (support[:, 0].max() + 1, support[:, 1].max() + 1) == (bottom, right), (preset, layer, y, x)
            np.testing.assert_array_equal(field.box_tensor([y, x]).numpy(), [top, left, bottom, right])


def test_zfnet_receptive_field_sizes():
    # Worked from Fig. 3: conv1 7 (jump 2), pool1 +2*2 = 11 (jump 4), conv2 +4*4 = 27 (jump 8),
    # pool2 +2*8 = 43 (jump 16), conv3/4/5 +2*16 each = 75, 107, 139, pool5 +2*16 = 171 (jump 32).
    model = geometry_model("zfnet")
    sizes = {l: zfnet_tf.receptive_field(model, l).size for l in range(1, 6)}
    assert sizes == {1: (11, 11), 2: (43, 43), 3: (75, 75), 4: (107, 107), 5: (171, 171)}
    assert zfnet_tf.receptive_field(model, 5).jump == (32, 32)


def test_vgg16_receptive_fields_from_its_graph():
    # Nine 3x3 convs and four 2x2/2 pools up to block5_conv3: 1 + 2*(2 + 2*2 + 3*4 + 3*8 + 3*16)
    # + 1*(1 + 2 + 4 + 8) = 196, jump 16; block5_pool adds one 2x2 window: 212, jump 32.
    model = zfnet_tf.keras_application("VGG16", input_size=64, num_classes=3)
    assert zfnet_tf.receptive_field(model, "block5_conv3").size == (196, 196)
    assert zfnet_tf.receptive_field(model, "block5_conv3").jump == (16, 16)
    assert zfnet_tf.receptive_field(model, "block5_pool").size == (212, 212)
    # A layer without maps sees the whole image.
    dense = zfnet_tf.receptive_field(model, "fc1")
    assert dense.box(0, 0) == (0, 0, 64, 64)


def test_vectorized_boxes_and_bad_locations(tiny_model):
    """Boxes of arrays of locations (NumPy and TensorFlow) equal `box` at each location, which
    `test_box_equals_the_gradient_support` checks against the gradient."""
    field = zfnet_tf.receptive_field(tiny_model, 2)
    rows, cols = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    boxes = np.stack(field.box(rows, cols), axis=-1)
    assert boxes.shape == (3, 3, 4)
    tensor_boxes = field.box_tensor(np.stack([rows, cols], axis=-1)).numpy()
    for y in range(3):
        for x in range(3):
            assert tuple(boxes[y, x]) == field.box(y, x)
            assert tuple(tensor_boxes[y, x]) == field.box(y, x)
    with pytest.raises(ValueError, match="outside layer pool2's 3x3 maps"):
        field.box(3, 0)
    with pytest.raises(ValueError, match="layer must be an int in 1..5"):
        zfnet_tf.receptive_field(tiny_model, 6)
