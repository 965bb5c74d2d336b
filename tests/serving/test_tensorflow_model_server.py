"""The same export and client against TF Serving's own `tensorflow_model_server`.

TF Serving cannot be installed on the project's machines (docs/design.md, traps): these tests run
wherever the binary is on PATH and are skipped elsewhere.
"""

import shutil

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.serving.client import ServingClient, read_class_names
from support.servers import ServerProcess

BINARY = shutil.which("tensorflow_model_server")
pytestmark = pytest.mark.skipif(BINARY is None, reason="tensorflow_model_server is not on PATH")


@pytest.fixture(scope="module")
def tf_serving(tiny_export):
    _, base_path = tiny_export
    with ServerProcess(
        ["--model_name=tiny", f"--model_base_path={base_path}"], ready_model="tiny", command=[BINARY]
    ) as process:
        yield process


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_tensorflow_model_server_serves_the_export(tf_serving, tiny_export, tiny_keras_model, protocol):
    _, base_path = tiny_export
    address = tf_serving.rest_address if protocol == "rest" else tf_serving.grpc_address
    images = np.random.default_rng(11).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    with ServingClient(address, "tiny", protocol, class_names=read_class_names(str(base_path))) as client:
        assert client.input_size() == 64
        logits = client.predict({"images": images})["logits"]
        np.testing.assert_allclose(logits, tiny_keras_model(images, training=False).numpy(), rtol=1e-4, atol=1e-4)

        png = tf.io.encode_png(images[0].round().astype(np.uint8)).numpy()
        top = client.classify([png], top_k=5)[0]
        assert [label for label, _ in top][0] in tiny_keras_model.class_names

        features = np.array([-1, 4], np.int32)
        projected = client.project(images, 4, features)
        expected = zfnet_tf.Deconvnet(tiny_keras_model).projection_function(4)(
            tf.constant(images), tf.constant(features[:, None])
        )
        scale = np.abs(expected["reconstructions"].numpy()).max()
        np.testing.assert_allclose(
            projected["reconstructions"], expected["reconstructions"].numpy()[:, 0], rtol=1e-4, atol=1e-5 * scale
        )
        np.testing.assert_array_equal(projected["location"], expected["location"].numpy()[:, 0])


def test_tensorflow_model_server_rejects_a_bad_feature(tf_serving):
    with ServingClient(tf_serving.grpc_address, "tiny", "grpc") as client:
        with pytest.raises(Exception, match="feature must be -1"):
            client.project(np.zeros((1, 64, 64, 3), np.float32), 5, 999)
