"""One reading of a Keras model, shared by the deconvnet, the analyses, export and the callbacks:
its graph (nested models opened), its layers' names (ZFNet's 1-5 included), the layers worth
showing, feature outputs and receptive fields. `Deconvnet` adds the projections to it."""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from zfnet_tf.deconv.graph import LayerGraph, _nested_functional
from zfnet_tf.deconv.receptive_field import ReceptiveField
from zfnet_tf.deconv.rules import call_keeping_pre_activation, has_exact_activation, output_cap, rule_for
from zfnet_tf.deconv.windows import Window, extent, plan_windows, spatial


def layer_key(layer: int | str) -> str:
    """The name a layer goes by in signature and file names: `layer3` for ZFNet's layer 3,
    the layer name (`/` of nested models as `_`) otherwise."""
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        return f"layer{int(layer)}"
    return str(layer).replace("/", "_")


class TracedOnReuse:
    """`tf.function(function, input_signature, autograph=False)` that runs its first call's
    ops eagerly and traces the graph on the second.

    Tracing a large network's projection costs several times running its ops once (measured,
    one "max" projection of the last block, 2 images, 1 thread: ConvNeXtTiny at 32 pixels 4.6
    CPU-s traced against 1.0 eagerly, NASNetMobile 9.0 against 1.5, ResNet50 at 224 2.7 against
    1.3; the graph's later calls then take 0.1-0.4). So a projection made once (`zfnet-tf
    project`, one figure) never pays for a graph, and one made again pays one eager run more.
    Called while another function is being traced, it calls its `tf.function` there (nothing
    runs eagerly inside a trace). The eager run and the graph agree to float32 rounding, not
    bit for bit (the forward is the same; the backward may round apart).
    """

    def __init__(self, function, input_signature: Sequence[tf.TensorSpec]):
        self.python_function = function
        self.input_signature = tuple(input_signature)
        self.function = tf.function(function, input_signature=self.input_signature, autograph=False)
        self.eager_calls = 0

    def __call__(self, *args):
        if self.eager_calls or not tf.executing_eagerly():
            return self.function(*args)
        tensors = []
        for spec, value in zip(self.input_signature, args, strict=True):
            tensor = tf.convert_to_tensor(value, spec.dtype)
            if not spec.shape.is_compatible_with(tensor.shape):
                raise ValueError(f"{spec.name} must have shape {spec.shape}, got {tensor.shape}")
            tensors.append(tensor)
        self.eager_calls += 1
        return self.python_function(*tensors)


_GRAPHS: "weakref.WeakKeyDictionary[keras.Model, LayerGraph]" = weakref.WeakKeyDictionary()


def layer_graph(model: keras.Model) -> LayerGraph:
    """The model's `LayerGraph`, read once per model (a functional graph does not change)."""
    graph = _GRAPHS.get(model)
    if graph is None:
        graph = _GRAPHS[model] = LayerGraph(model)
    return graph


def _outputs_at(model: keras.Model, paths: Sequence[str]) -> list:
    """The symbolic outputs of the layers at `paths` (`"vgg16/block5_pool"`) in `model`'s own
    graph, reachable from `model.inputs`."""
    functional = _nested_functional(model)
    inner: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition("/")
        if rest:
            inner.setdefault(head, []).append(rest)
    found = {}
    for head, rests in inner.items():
        nested = functional.get_layer(head)
        front = keras.Model(nested.inputs, _outputs_at(nested, rests), name=f"{head}_front")
        called_with = nested._inbound_nodes[0].input_tensors  # the nested model's call in `model`
        values = front(called_with[0] if len(called_with) == 1 else called_with)
        found.update(zip((f"{head}/{rest}" for rest in rests), tree.flatten(values)))
    return [found[path] if path in found else functional.get_layer(path).output for path in paths]


class ModelReading:
    """What the project reads from a Keras model with one image input (NHWC): layer names,
    default layers, feature outputs and receptive fields, from the model's own graph.

    Args:
        model: the model. For ZFNet models (`ZFNetImageClassifier`, `ZFNetBackbone`) the
            paper's layer numbers 1-5 name the top maps of each conv layer (pooled where it pools).
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.graph = layer_graph(model)
        self._functions: dict[tuple, Any] = {}

    # -- naming layers ----------------------------------------------------------------------

    def layer_name(self, layer: int | str) -> str:
        """The canonical name (`LayerGraph.canonical`: its own name, or its path where that is
        ambiguous) of the layer that `layer` names: a layer name (unique across the nested
        models, or a path such as `"vgg16/block5_conv3"`) or, for ZFNet models, 1-5."""
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            from zfnet_tf.models import zfnet_backbone

            backbone = zfnet_backbone(self.model)
            if backbone is None:
                raise ValueError(
                    f"layer {layer!r}: layer numbers 1-5 name ZFNet's layers; name a layer of this "
                    f"model instead (e.g. {self.graph.output_name()!r}; model.summary() lists them)"
                )
            return self.graph.resolve(backbone.top_map_name(int(layer)))[0]
        return self.graph.resolve(layer)[0]

    def default_layers(self) -> tuple[int | str, ...]:
        """The layers worth projecting by default: ZFNet's 1-5, or else the last convolution
        (or the normalization, activation or residual sum that ends it) before each change of
        map size, e.g. VGG16's `block1_conv2`, ..., `block5_conv3`, MobileNetV2's
        `block_1_expand_BN`, ..., `Conv_1_bn`.

        A capped rectifier (ReLU6) is passed over for the layer before it: its strongest units
        sit at the cap, where every rule projects to 0 (`rules.output_cap`)."""
        from zfnet_tf.models import zfnet_backbone

        backbone = zfnet_backbone(self.model)
        if backbone is not None:
            return tuple(backbone.config.conv_layers)
        chosen: dict[tuple, str] = {}
        feature_kinds = (
            keras.layers.Conv2D, keras.layers.BatchNormalization, keras.layers.ReLU,
            keras.layers.Activation, keras.layers.Add,
        )
        for node in self.graph.nodes:
            shape = self.graph.shapes[node.outputs[0]]
            # 1x1 maps are a squeeze-and-excitation gate's, not a stage of the network.
            if not spatial(shape) or shape[1:3] == (1, 1) or not isinstance(node.layer, feature_kinds):
                continue
            if output_cap(node.layer) is None:
                chosen[shape[1:3]] = self.graph.canonical(node.path)
        return tuple(chosen.values())

    def _target(self, layer, height: int, width: int):
        path = self.layer_name(layer)
        key = self.graph.resolve(path)[1]
        shape = self.graph.shapes_for(height, width)[key]
        if len(shape) not in (2, 4):
            raise ValueError(f"layer {path!r} outputs shape {shape}: only maps [B, H, W, C] or vectors [B, C] project")
        return path, key

    def num_features(self, layer: int | str) -> int:
        """The number of feature maps (channels, or units of a `Dense`) of `layer`."""
        return int(self.graph.shapes[self.graph.resolve(self.layer_name(layer))[1]][-1])

    def input_size(self) -> tuple[int | None, int | None]:
        return self.graph.input_size()

    def receptive_field(self, layer: int | str, input_size: Sequence[int] | None = None) -> ReceptiveField:
        """The input box each position of `layer`'s maps sees (Fig. 2's patches)."""
        height, width = self._size(input_size)
        path, key = self._target(layer, height, width)
        shapes = self.graph.shapes_for(height, width)
        if not spatial(shapes[key]):
            return ReceptiveField(path, (height, width), (0, 0), (0, 0), (1, 1), (height, width))
        windows = plan_windows(self.graph.ancestors(key), key, Window.point(), shapes, "deconvnet", rule_for, clip=False)
        window = windows.get(self.graph.input_key)
        if window is None:  # reached only through global context (a gate): the whole image
            return ReceptiveField(path, (height, width), (0, 0), (0, 0), extent(shapes[key]), (height, width))
        return ReceptiveField(path, window.size, window.jump, window.start, extent(shapes[key]), (height, width))

    def _size(self, input_size) -> tuple[int, int]:
        if input_size is not None:
            return int(input_size[0]), int(input_size[1])
        height, width = self.input_size()
        if height is None or width is None:
            raise ValueError(
                f"model {self.model.name!r} takes inputs of any size: pass input_size=(height, width)"
            )
        return height, width

    # -- activations ------------------------------------------------------------------------

    def activation_function(self, layers: Sequence[int | str], input_size: Sequence[int] | None = None):
        """A function `images [B,H,W,C] float32 -> {name: output}` of the named layers' outputs
        (keyed by each layer's canonical name), sharing one forward pass of the model's own
        layers: a feature extractor for any supported model, nested layers included. Its first
        call runs eagerly, later calls one traced graph (`TracedOnReuse`)."""
        height, width = self._size(input_size)
        keys = dict(self._target(layer, height, width) for layer in layers)  # name -> key
        key = ("activations", tuple(keys), height, width)
        if key not in self._functions:
            nodes = sorted(
                {id(n): n for k in keys.values() for n in self.graph.ancestors(k)}.values(),
                key=self.graph.nodes.index,
            )
            channels = self.graph.shapes[self.graph.input_key][-1]

            def activations(images):
                values = self._forward(images, nodes)
                return {name: values[k] for name, k in keys.items()}

            self._functions[key] = TracedOnReuse(
                activations, [tf.TensorSpec([None, height, width, channels], tf.float32, name="images")]
            )
        return self._functions[key]

    def feature_model(self, layers: Sequence[int | str]) -> keras.Model:
        """A functional Keras model from the model's input to `{canonical name: output}` of
        the named layers, in the model's own graph: it shares every layer and variable and
        copies none. A layer inside a nested model is read through a model of that nested
        model's own layers, called on what the nested model is called with. For
        `Model.predict`'s batching, progress bar and `tf.data` input, and as the base of a
        model that builds on a layer (a transferred classifier)."""
        paths = {}
        for layer in layers:
            name, key = self.graph.resolve(self.layer_name(layer))
            node = self.graph.node_of(key)
            if node is None:
                raise ValueError(f"layer {layer!r} is the model's input, not a layer's output")
            paths[name] = node.path
        outputs = _outputs_at(self.model, list(paths.values()))
        return keras.Model(self.model.inputs[0], dict(zip(paths, outputs)), name=f"{self.model.name}_layers")

    # -- the forward pass --------------------------------------------------------------------

    def _forward(self, images, nodes, pre_activation: dict | None = None) -> dict:
        """Every tensor on the way to the chosen layer, by key; with a `pre_activation` dict,
        also the input of each fused activation whose exact backward needs it (by output key)."""
        values = {self.graph.input_key: images}
        for node in nodes:
            if pre_activation is not None and has_exact_activation(node.layer):
                outputs, pre_activation[node.outputs[0]] = call_keeping_pre_activation(node, values)
            else:
                outputs = node.call(values)
            for key, value in zip(node.outputs, tree.flatten(outputs)):
                values[key] = value
        return values


def receptive_field(model: keras.Model, layer: int | str, input_size: Sequence[int] | None = None) -> ReceptiveField:
    """The receptive field of `layer` (a layer name, or 1-5 for ZFNet models) of `model`,
    read from its graph: kernel sizes, strides and paddings from the input up to the layer.
    `input_size` is needed only for models that take inputs of any size."""
    return ModelReading(model).receptive_field(layer, input_size)
