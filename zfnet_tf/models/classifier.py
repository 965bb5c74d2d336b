from __future__ import annotations

import keras

from zfnet_tf.models.backbone import ZFNetBackbone, kernel_initializer


@keras.saving.register_keras_serializable(package="zfnet_tf")
class ZFNetImageClassifier(keras.Model):
    """ZFNet: the backbone's layers 1-7 and the class layer fc8, returning logits.

    Zeiler & Fergus (arXiv 1311.2901), Fig. 3, layer 8 ("C class softmax"). The softmax itself
    is left to the loss (`from_logits=True`) and to the export, which serves both `logits` and
    `probabilities`; fc8 computes in float32 under mixed precision.

    Args:
        backbone: a `ZFNetBackbone`.
        num_classes: width of fc8; defaults to the backbone config's `num_classes`.
        class_names: optional label of each class, saved with the model (exports and servers
            answer with them).
    """

    def __init__(
        self,
        backbone: ZFNetBackbone,
        num_classes: int | None = None,
        class_names: list[str] | tuple[str, ...] | None = None,
        **kwargs,
    ):
        num_classes = backbone.config.num_classes if num_classes is None else int(num_classes)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if class_names is not None:
            class_names = [str(name) for name in class_names]
            if len(class_names) != num_classes:
                raise ValueError(
                    f"class_names has {len(class_names)} names for {num_classes} classes"
                )
        images = backbone.input
        features = backbone(images)
        logits = keras.layers.Dense(
            num_classes,
            kernel_initializer=kernel_initializer(backbone.config),
            bias_initializer="zeros",
            dtype="float32",
            name="fc8",
        )(features)
        super().__init__(inputs=images, outputs=logits, **{"name": "zfnet", **kwargs})
        self.backbone = backbone
        self.num_classes = num_classes
        self.class_names = class_names

    @property
    def config(self):
        return self.backbone.config

    def get_config(self):
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="zfnet_tf")
class ImageClassifier(keras.Model):
    """Any functional network from images to logits, with its class names saved alongside.

    What a `keras.Model(inputs, outputs)` is, plus `class_names` in its config, so a `.keras`
    file of a keras.applications network or of a user's own classifier answers with names
    when exported and served, as `ZFNetImageClassifier` does.

    Args:
        inputs, outputs, name: as for `keras.Model`.
        class_names: optional label of each output class.
        resize_size: the evaluation transform's resize (the shorter side of an image to this,
            then the centre input-sized square; `zfnet_tf.models.image_transform`); default:
            the input size (the whole image).
    """

    def __init__(self, inputs, outputs, name=None, **kwargs):
        class_names = kwargs.pop("class_names", None)
        resize_size = kwargs.pop("resize_size", None)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.resize_size = None if resize_size is None else int(resize_size)
        num_classes = int(self.output.shape[-1])
        if class_names is not None:
            class_names = [str(n) for n in class_names]
            if len(class_names) != num_classes:
                raise ValueError(f"class_names has {len(class_names)} names for {num_classes} classes")
        self.class_names = class_names

    def get_config(self):
        return {**super().get_config(), "class_names": self.class_names, "resize_size": self.resize_size}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        class_names = config.pop("class_names", None)
        resize_size = config.pop("resize_size", None)
        model = super().from_config(config, custom_objects=custom_objects)
        model.class_names = class_names
        model.resize_size = resize_size
        return model
