"""`--mixed-precision`: bfloat16 compute on CPU (float16 on GPUs) with float32 variables and
logits during training; the saved model loads as float32 (for export and serving: JSON has no
16-bit floats) and the deconvnet projects it."""

import keras
import numpy as np

import zfnet_tf
from zfnet_tf.training import train


class RecordPolicies(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        conv1 = self.model.backbone.get_layer("conv1")
        self.compute_dtype = conv1.dtype_policy.compute_dtype
        self.variable_dtype = conv1.kernel.dtype
        self.logits_dtype = self.model.get_layer("fc8").dtype_policy.compute_dtype


def test_mixed_precision_run_trains_saves_and_projects(tmp_path):
    previous = keras.mixed_precision.dtype_policy().name
    record = RecordPolicies()
    result = train(
        str(tmp_path / "model"), preset="tiny", dataset="digits", recipe="demo", epochs=1,
        steps_per_epoch=3, validation_steps=1, mixed_precision=True, verbose=0,
        callbacks=[record], projection_every=1, probe_images=2, evolution_probe_images=8,
        projection_layers=[5],  # the callbacks' projections from layer 5 go down through every layer
    )
    assert (record.compute_dtype, record.variable_dtype, record.logits_dtype) == ("bfloat16", "float32", "float32")
    assert keras.mixed_precision.dtype_policy().name == previous  # the run restores the policy
    assert np.isfinite(result.history["loss"][0])
    model = zfnet_tf.load_model(result.model_path)
    assert model.backbone.get_layer("conv1").dtype_policy.compute_dtype == "float32"
    images = np.random.RandomState(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    logits = model.predict(images, verbose=0)
    assert logits.dtype == np.float32 and np.all(np.isfinite(logits))
    projection = zfnet_tf.Deconvnet(model).project(images, 5)
    assert projection.reconstructions.dtype == np.float32
    assert np.all(np.isfinite(projection.reconstructions)) and np.abs(projection.reconstructions).max() > 0
