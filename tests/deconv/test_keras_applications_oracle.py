"""The deconvnet against the modified-backprop oracle on every keras.applications family (the
helpers and the oracle's description: test_deconvnet_oracle.py; a file of its own so that its
many large graphs and the ZFNet cases can run on two workers)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from test_deconvnet_oracle import RULES, check_against_oracle

pytestmark = pytest.mark.heavy(36)

# keras.applications families (weights=None) at the smallest inputs they build at: name ->
# (input size, the layer projected besides the last block's output; None for the largest
# graphs, whose one projection already goes through every kind of layer they hold).
FAMILIES = {
    "VGG19": (32, "block3_conv4"),
    "ResNet50V2": (32, "conv3_block4_out"),
    "InceptionV3": (75, "mixed2"),
    "InceptionResNetV2": (75, None),
    "Xception": (71, "block4_sepconv2_bn"),
    "DenseNet121": (32, None),
    "MobileNet": (32, "conv_pw_5_relu"),
    "MobileNetV2": (32, "block_6_expand_relu"),
    "MobileNetV3Small": (32, "expanded_conv_3_squeeze_excite_mul"),
    "MobileNetV3Large": (32, "expanded_conv_6_project_bn"),
    "EfficientNetB0": (32, "block4a_se_excite"),
    "EfficientNetV2B0": (32, "block4a_se_excite"),
    "ConvNeXtTiny": (32, "convnext_tiny_stage_1_block_2_identity"),
    "NASNetMobile": (32, None),
}


@pytest.fixture(scope="session")
def applications():
    """`name -> model`: each family built once per session (random weights, random biases and
    batch-norm statistics so that rectifiers and caps cut at varied levels)."""
    built = {}

    def build(name):
        if name not in built:
            size, _ = FAMILIES[name]
            tf.keras.utils.set_random_seed(0)
            model = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(size, size, 3))
            random = np.random.RandomState(0)
            for weight in model.weights:
                if weight.path.endswith(("bias", "beta", "moving_mean")):
                    weight.assign(random.normal(0, 0.3, weight.shape))
                elif weight.path.endswith("moving_variance"):
                    weight.assign(random.uniform(0.5, 2.0, weight.shape))
            built[name] = model
        return built[name]

    return build


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_keras_application_equals_modified_backprop(name, applications):
    """Each family's last block in "max" mode (the figures') and a middle layer in "map" mode,
    under rules that rotate along the list so that every rule meets every mode several times
    (one traced projection per case: the families are large)."""
    model = applications(name)
    size, middle = FAMILIES[name]
    images = np.random.RandomState(1).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    last = zfnet_tf.Deconvnet(model).graph.output_name()
    turn = sorted(FAMILIES).index(name)
    cases = {last: [(RULES[turn % 3], "max")]}
    if middle is not None:
        cases[middle] = [(RULES[(turn + 1) % 3], "map")]
    check_against_oracle(model, images, cases)
