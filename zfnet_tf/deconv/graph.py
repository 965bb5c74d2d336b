"""A Keras model's layer graph, read from the model itself, with nested models opened.

The deconvnet walks a model from its input to a chosen layer and back; it needs that walk as a
flat list of layer calls. Keras keeps the graph of a functional model as nodes (one per layer
call) ordered by depth; a model used as a layer of another (a backbone inside a classifier, a
keras.applications base inside a transfer head, a Sequential) is one node there, so it is opened
here into its own layer calls, wired to the outer tensors. Nothing is copied: every node keeps
the model's own layer object, and so its variables.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Sequence

import keras
import numpy as np
from keras import tree
from keras.src.models.functional import Functional


@dataclass(frozen=True)
class GraphNode:
    """One call of a leaf layer: `outputs = layer(inputs)`.

    Attributes:
        layer: the model's own layer object.
        path: the layer's name prefixed by the nested models it sits in (`"vgg16/block5_conv3"`).
        inputs: keys of the tensors the call reads, in the order of `keras_node.input_tensors`.
        outputs: keys of the tensors it writes.
        keras_node: Keras' node, whose arguments say how the inputs are passed to the layer.
    """

    layer: keras.layers.Layer
    path: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    keras_node: Any

    def call(self, values: dict[int, Any]):
        """Runs the layer on `values[key]` of its inputs, the way the model calls it."""
        bound = {id(t): values[k] for t, k in zip(self.keras_node.input_tensors, self.inputs)}
        args, kwargs = self.keras_node.arguments.fill_in(bound)
        return self.layer(*args, **kwargs)


def _nested_functional(layer) -> Functional | None:
    """The functional graph of a model used as a layer (None for a leaf layer)."""
    if isinstance(layer, keras.Sequential):
        if layer._functional is None:
            raise ValueError(
                f"the Sequential model {layer.name!r} has no input shape yet: give it a "
                "keras.Input (or call build) before projecting through it"
            )
        return layer._functional
    if isinstance(layer, Functional):
        if type(layer).call is not Functional.call:
            raise ValueError(
                f"model {layer.name!r} ({type(layer).__name__}) overrides call(): its graph "
                "cannot be read, so the deconvnet cannot go through it"
            )
        return layer
    if isinstance(layer, keras.Model):
        raise ValueError(
            f"model {layer.name!r} ({type(layer).__name__}) is a subclassed model: its graph "
            "cannot be read; build it with the functional or Sequential API"
        )
    return None


class LayerGraph:
    """The leaf-layer calls of a Keras model in an order that computes every input first.

    Attributes:
        nodes: the `GraphNode`s in topological order.
        input_key: key of the model's (single) image input tensor.
        shapes: static shape (tuple, batch None) of every tensor by key.
    """

    def __init__(self, model: keras.Model):
        functional = _nested_functional(model)
        if functional is None:
            raise ValueError(f"expected a Keras model, got {type(model).__name__}")
        if len(functional.inputs) != 1:
            raise ValueError(
                f"model {model.name!r} has {len(functional.inputs)} inputs; the deconvnet "
                "projects models with one image input"
            )
        self.nodes: list[GraphNode] = []
        self.shapes: dict[int, tuple] = {}
        self._shapes_by_size: dict[tuple[int, int], dict[int, tuple]] = {}
        self._by_path: dict[str, int] = {}  # path -> key of the output
        self._producer: dict[int, int] = {}  # tensor key -> index in nodes
        self.input_key = self._new_key(functional.inputs[0])
        self.output_keys = self._open(functional, [self.input_key], prefix="")

    # -- reading the graph --------------------------------------------------------------------

    def _new_key(self, tensor) -> int:
        key = len(self.shapes)
        self.shapes[key] = tuple(tensor.shape)
        return key

    def _open(self, functional: Functional, input_keys: Sequence[int], prefix: str) -> list[int]:
        """Appends the calls of `functional` run on `input_keys`; returns its output keys."""
        local = {id(t): k for t, k in zip(functional.inputs, input_keys)}
        for depth in sorted(functional._nodes_by_depth, reverse=True):
            for node in functional._nodes_by_depth[depth]:
                layer = node.operation
                if layer is None or node.is_input:
                    continue
                inputs = [local[id(t)] for t in node.input_tensors]
                path = prefix + layer.name
                nested = _nested_functional(layer)
                if nested is not None:
                    outputs = self._open(nested, inputs, prefix=path + "/")
                else:
                    outputs = [self._new_key(t) for t in node.outputs]
                    for key in outputs:
                        self._producer[key] = len(self.nodes)
                    self.nodes.append(GraphNode(layer, path, tuple(inputs), tuple(outputs), node))
                for tensor, key in zip(node.outputs, outputs):
                    local[id(tensor)] = key
                if path in self._by_path:
                    raise ValueError(
                        f"layer {path!r} is called more than once in this model; the deconvnet "
                        "needs each layer to have one output"
                    )
                self._by_path[path] = outputs[0]
        return [local[id(t)] for t in functional.outputs]

    # -- queries ------------------------------------------------------------------------------

    @property
    def layer_paths(self) -> tuple[str, ...]:
        """Every layer's path, the nested models' own names included, in graph order."""
        return tuple(self._by_path)

    def canonical(self, path: str) -> str:
        """A layer's shortest unambiguous name: its own name when no other nested model has a
        layer of that name, else its path."""
        leaf = path.rsplit("/", 1)[-1]
        same = [p for p in self._by_path if p.rsplit("/", 1)[-1] == leaf]
        return leaf if len(same) == 1 else path

    def resolve(self, name: str) -> tuple[str, int]:
        """`(canonical name, output key)` of the layer called `name`: its path, or its plain
        name when that is unique across the nested models."""
        if not isinstance(name, str):
            raise ValueError(f"layer must be a layer name (str), got {name!r}")
        if name in self._by_path:
            return self.canonical(name), self._by_path[name]
        matches = [p for p in self._by_path if p.rsplit("/", 1)[-1] == name]
        if len(matches) == 1:
            return name, self._by_path[matches[0]]
        if matches:
            raise ValueError(f"layer name {name!r} is ambiguous in this model: use one of {matches}")
        raise ValueError(f"no layer named {name!r} in this model; {self.closest(name)}")

    def closest(self, name: str) -> str:
        """The layer names nearest to a misspelt `name`, for an error message: one readable
        line whatever the model's size."""
        names = list(dict.fromkeys([p.rsplit("/", 1)[-1] for p in self._by_path] + list(self._by_path)))
        near = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        count = f"{len(self._by_path)} layers; model.summary() lists them"
        if near:
            return f"closest: {', '.join(map(repr, near))} (of {count})"
        shown = ", ".join(repr(p) for p in list(self._by_path)[:6])
        return f"it has {count}; the first: {shown}" + (", ..." if len(self._by_path) > 6 else "")

    def trainable_convolutions(self) -> dict[str, keras.layers.Conv2D]:
        """`{canonical name: layer}` of the trainable `Conv2D` layers in graph order: the
        learned filters (a fixed preprocessing convolution is not one of them)."""
        return {
            self.canonical(node.path): node.layer
            for node in self.nodes
            if isinstance(node.layer, keras.layers.Conv2D) and node.layer.trainable
        }

    def output_name(self) -> str:
        """The canonical name of the layer that computes the model's (first) output."""
        node = self.node_of(self.output_keys[0])
        if node is None:
            raise ValueError("the model's output is its input")
        return self.canonical(node.path)

    def node_of(self, key: int) -> GraphNode | None:
        """The node that computes tensor `key` (None for the model input)."""
        index = self._producer.get(key)
        return None if index is None else self.nodes[index]

    def ancestors(self, key: int) -> list[GraphNode]:
        """The nodes needed to compute tensor `key` from the input, in topological order."""
        needed, stack = set(), [key]
        while stack:
            index = self._producer.get(stack.pop())
            if index is not None and index not in needed:
                needed.add(index)
                stack.extend(self.nodes[index].inputs)
        return [self.nodes[i] for i in sorted(needed)]

    def input_size(self) -> tuple[int | None, int | None]:
        """`(height, width)` of the model's input; None where the model takes any size."""
        shape = self.shapes[self.input_key]
        return shape[1], shape[2]

    def shapes_for(self, height: int, width: int) -> dict[int, tuple]:
        """Every tensor's static shape for `height x width` inputs.

        The shapes Keras recorded when the model was built, or, for a model built for
        inputs of any size (a keras.applications base with `input_shape=None`), each layer's
        `compute_output_spec` run down the graph (no layer is called: the model's graph is
        left as it is).
        """
        key = (int(height), int(width))
        if key not in self._shapes_by_size:
            if self.input_size() == key and all(
                None not in shape[1:] for shape in self.shapes.values()
            ):
                self._shapes_by_size[key] = dict(self.shapes)
            else:
                channels = self.shapes[self.input_key][-1]
                specs = {self.input_key: keras.KerasTensor((None, *key, channels))}
                for node in self.nodes:
                    bound = {id(t): specs[k] for t, k in zip(node.keras_node.input_tensors, node.inputs)}
                    args, kwargs = node.keras_node.arguments.fill_in(bound)
                    outputs = tree.flatten(node.layer.compute_output_spec(*args, **kwargs))
                    for out_key, spec in zip(node.outputs, outputs):
                        specs[out_key] = spec
                self._shapes_by_size[key] = {k: tuple(spec.shape) for k, spec in specs.items()}
        return self._shapes_by_size[key]


def neutral_color(model: keras.Model) -> np.ndarray:
    """The RGB colour the model's input preprocessing turns into zero (float32 `[3]`): the
    grey of occluders and of pixels a transform uncovers, "no signal" to the network.

    Read from the first layer the input meets: ZFNet subtracts its mean RGB (`Rescaling`),
    keras.applications models carry their `preprocess_input` as a fixed 1x1 convolution
    (`zfnet_tf.models.keras_application`). A model that starts with no such affine map (or
    one that maps 0 to 0) gets mid-grey.
    """
    graph = LayerGraph(model)
    first = graph.nodes[0].layer if graph.nodes else None
    if isinstance(first, keras.layers.Rescaling):
        scale = np.broadcast_to(np.asarray(first.scale, np.float64), (3,))
        offset = np.broadcast_to(np.asarray(first.offset, np.float64), (3,))
        if np.any(offset != 0):
            return (-offset / scale).astype(np.float32)
    if (
        isinstance(first, keras.layers.Conv2D)
        and not first.trainable
        and tuple(first.kernel_size) == (1, 1)
        and first.use_bias
        and tuple(first.kernel.shape) == (1, 1, 3, 3)
    ):
        matrix = np.asarray(first.kernel, np.float64)[0, 0]  # y = x @ matrix + bias
        bias = np.asarray(first.bias, np.float64)
        if np.any(bias != 0):
            return np.linalg.solve(matrix.T, -bias).astype(np.float32)
    return np.full(3, 127.5, np.float32)


def ends_in_softmax(model: keras.Model) -> bool:
    """Whether the model's output is already probabilities (a final softmax activation), as a
    keras.applications classifier's is; zfnet-tf's own classifiers output logits."""
    graph = LayerGraph(model)
    node = graph.node_of(graph.output_keys[0])
    layer = getattr(node, "layer", None)
    activation = getattr(layer, "activation", None)
    return isinstance(layer, keras.layers.Softmax) or getattr(activation, "__name__", None) == "softmax"
