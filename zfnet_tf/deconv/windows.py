"""Where a signal sits in its tensor's maps on the way down, and the plan of those places.

Signals travel in *windows*. A projection of one activation only reaches the part of each
lower map inside that activation's receptive field, so its signal is kept as a window of the
map, `Window(jump, start, size)`: row i of the window is map row `location * jump - start + i`,
where `location` is the projected activation's position in the top maps (jump 0: the window is
the whole map, fixed). The same arithmetic, planned down the graph from one position
(`plan_windows(..., clip=False)`), gives the receptive fields.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

# -- windows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Where a signal's rows and columns sit in its tensor's maps, per axis (rows, columns).

    Row i of the signal is map row `location * jump - start + i`. `jump == 0` means the window
    does not follow the location: it is fixed, and `full(extent)` is the whole map.
    """

    jump: tuple[int, int]
    start: tuple[int, int]
    size: tuple[int, int]

    @staticmethod
    def full(extent: Sequence[int]) -> "Window":
        return Window((0, 0), (0, 0), (int(extent[0]), int(extent[1])))

    @staticmethod
    def point() -> "Window":
        return Window((1, 1), (0, 0), (1, 1))

    def is_full(self, extent: Sequence[int]) -> bool:
        return self == Window.full(extent)

    def strided(self, kernel: Sequence[int], strides: Sequence[int], pad_before: Sequence[int]) -> "Window":
        """The input window under this output window of a conv or pool: output row o reads
        input rows `o * stride - pad_before + [0, kernel)`."""
        return Window(
            tuple(j * s for j, s in zip(self.jump, strides)),
            tuple(b * s + p for b, s, p in zip(self.start, strides, pad_before)),
            tuple((n - 1) * s + k for n, s, k in zip(self.size, strides, kernel)),
        )

    def shifted(self, rows: int, cols: int) -> "Window":
        """The same window in a map whose row r is this map's row r - rows (and columns)."""
        return replace(self, start=(self.start[0] + rows, self.start[1] + cols))

    def offsets(self, location):
        """`[N, 2]` int32 map position of each signal's first row and column."""
        jump = tf.constant(self.jump, tf.int32)
        return location * jump - tf.constant(self.start, tf.int32)

    def clip(self, extent: Sequence[int]) -> "Window":
        """Whole-map on each axis where the window covers the map anyway (cheaper)."""
        jump, start, size = list(self.jump), list(self.start), list(self.size)
        for axis in range(2):
            if jump[axis] == 0 or size[axis] >= extent[axis]:
                jump[axis], start[axis], size[axis] = 0, 0, int(extent[axis])
        return Window(tuple(jump), tuple(start), tuple(size))

    def union(self, other: "Window", extent: Sequence[int]) -> "Window":
        """The smallest window holding both (whole-map where their jumps differ)."""
        jump, start, size = [], [], []
        for axis in range(2):
            if self.jump[axis] != other.jump[axis]:
                jump.append(0), start.append(0), size.append(int(extent[axis]))
                continue
            low = min(-self.start[axis], -other.start[axis])
            high = max(-self.start[axis] + self.size[axis], -other.start[axis] + other.size[axis])
            jump.append(self.jump[axis]), start.append(-low), size.append(high - low)
        return Window(tuple(jump), tuple(start), tuple(size))


@dataclass
class Signal:
    """A signal on its way down: `values` `[N, h, w, C]` in `window` of a spatial tensor, or
    `[N, ...]` with `window=None` for a tensor without maps (a `Dense` output).

    `dirty`: positions of the window outside the map may hold values. They belong to no map
    position, so they are zeroed (`Projector.clean`) before an operation moves values across
    positions.
    """

    values: tf.Tensor
    window: Window | None
    dirty: bool = False


def spatial(shape: Sequence) -> bool:
    return len(shape) == 4


def extent(shape: Sequence) -> tuple[int, int]:
    return int(shape[1]), int(shape[2])


# -- the projection context: what rules read --------------------------------------------------


@dataclass
class Projector:
    """What the rules of one projection share: the forward values and where each row looks.

    Attributes:
        rule: one of `RULES`.
        shapes: static shape of every tensor by key.
        forward: forward value `[B, ...]` of every tensor by key.
        location: int32 `[N, 2]`: the projected activation's position in the top maps.
        image_index: int32 `[N]`: the image (row of `forward`) each projection comes from.
        rows: int32 `[1]`: N, the signal's rows (for the output shapes of transposed convolutions).
        per_image: K, the projections per image (`N = B * K`; None: any).
        grid: `(height, width)` of the top maps, where the locations lie.
        pre_activation: the input of each fused activation that is not a rectifier, by the
            key of the layer's output (its exact backward needs it).
    """

    rule: str
    shapes: dict
    forward: dict = field(default_factory=dict)
    pre_activation: dict = field(default_factory=dict)
    location: tf.Tensor | None = None
    image_index: tf.Tensor | None = None
    rows: tf.Tensor | None = None
    per_image: int | None = 1
    grid: tuple[int, int] = (1, 1)
    # Masks of the windows outside the maps, by (window, extent): a network cleans its signal
    # after every convolution, mostly in the same few windows, and each mask is a dozen ops
    # (made once per projection graph, not once per layer).
    _inside_masks: dict = field(default_factory=dict, repr=False)

    def forward_in(self, key: int, window: Window | None, pre_activation: bool = False):
        """The forward value of tensor `key` (or, with `pre_activation`, of its layer's fused
        activation's input) under each row's window, float32 `[N, h, w, C]` (positions outside
        the map hold 0)."""
        values = tf.cast((self.pre_activation if pre_activation else self.forward)[key], tf.float32)
        if window is None or window.is_full(extent(self.shapes[key])):
            return values if self.per_image == 1 else tf.gather(values, self.image_index)
        return gather_windows(values, self.image_index, window, self.location, self.grid)

    def clean(self, signal: Signal, key: int) -> Signal:
        """Zeroes the positions of a dirty signal that lie outside tensor `key`'s maps."""
        if not signal.dirty:
            return signal
        map_extent = extent(self.shapes[key])
        inside = self._inside_masks.get((signal.window, map_extent))
        if inside is None:
            inside = self._inside_masks[signal.window, map_extent] = inside_mask(signal.window, self.location, map_extent)
        # A select, not a product: an exact backward may leave non-finite values there.
        return Signal(tf.where(inside, signal.values, 0.0), signal.window)

    def reframe(self, signal: Signal, target: Window | None, key: int) -> Signal:
        """`signal` moved to window `target` of tensor `key`, a window that holds the signal's
        positions inside the map (`Window.clip`, `Window.union` of the planned windows)."""
        if target is None or signal.window == target:
            return signal
        values, source = signal.values, signal.window
        map_extent = extent(self.shapes[key])
        moving = []
        pads, crop = [[0, 0]] * 4, [slice(None)] * 4
        for axis in range(2):
            if source.jump[axis] == target.jump[axis]:
                # Both windows move together: a fixed crop or pad (one op each for both axes,
                # none where the window stays as it is).
                begin = source.start[axis] - target.start[axis]
                end = begin + target.size[axis]
                before, after = max(-begin, 0), max(end - source.size[axis], 0)
                pads[1 + axis] = [before, after]
                begin += before
                current = values.shape[1 + axis]
                if begin or current is None or before + current + after != target.size[axis]:
                    crop[1 + axis] = slice(begin, begin + target.size[axis])
            else:
                moving.append(axis)  # a moving window placed in the whole map
        if pads != [[0, 0]] * 4:
            values = tf.pad(values, pads)
        if crop != [slice(None)] * 4:
            values = values[tuple(crop)]
        if moving:
            values = _place(values, source.offsets(self.location), axes=tuple(moving), extent=map_extent)
        whole = target.is_full(map_extent)
        return Signal(values, target, dirty=signal.dirty and not whole)


def compiled_in_graphs(function: Callable) -> Callable:
    """`function` XLA-compiled where it is traced into a graph, its plain ops where it runs
    eagerly: a compilation pays off over a graph's many calls, never in the one eager call of
    a projection made once (`TracedOnReuse`), where each new window shape compiled again."""
    compiled = tf.function(function, jit_compile=True, autograph=False)

    @functools.wraps(function)
    def call(*args, **kwargs):
        return function(*args, **kwargs) if tf.executing_eagerly() else compiled(*args, **kwargs)

    return call


@compiled_in_graphs
def _place(values, offsets, axes: tuple, extent: tuple):
    """Windows `[N, h, w, C]` whose first row and column sit at `offsets` `[N, 2]` of a map,
    placed in zero maps of `extent` along `axes` (what falls outside the map is dropped).

    XLA fuses the gathers and the mask into one pass (~4x faster than separate ops on CPU).
    """
    for axis in axes:
        size = values.shape[1 + axis]
        index = tf.range(extent[axis])[None, :] - offsets[:, axis : axis + 1]
        inside = (index >= 0) & (index < size)
        values = tf.gather(values, tf.clip_by_value(index, 0, size - 1), axis=1 + axis, batch_dims=1)
        shape = [-1, 1, 1, 1]
        shape[1 + axis] = extent[axis]
        values = values * tf.cast(tf.reshape(inside, shape), values.dtype)
    return values


@compiled_in_graphs
def gather_windows(maps, image_index, window: Window, location, grid: tuple[int, int], fill: float = 0.0):
    """`maps[image_index[n]]` under row n's window, `[N, h, w, C]`; positions outside the maps
    hold `fill`.

    `grid` is the extent of the locations (the top maps), which bounds how far any window can
    hang over the maps' edges: the maps are padded with `fill` by that much once, so that
    each window is a plain slice of them (no clipping, no masking of `N` windows). XLA fuses
    the padding, the index grid and the gather of many small slices (~1.5-2x faster than
    TensorFlow's separate ops on CPU).
    """
    height, width = maps.shape[1], maps.shape[2]
    before, after = [], []
    for axis, size in enumerate((height, width)):
        first = -window.start[axis]
        last = (grid[axis] - 1) * window.jump[axis] - window.start[axis] + window.size[axis]
        before.append(max(-first, 0))
        after.append(max(last - size, 0))
    padded = tf.pad(
        maps, [[0, 0], [before[0], after[0]], [before[1], after[1]], [0, 0]], constant_values=fill
    )
    offsets = window.offsets(location) + tf.constant(before, tf.int32)
    rows = offsets[:, :1] + tf.range(window.size[0])[None, :]
    cols = offsets[:, 1:] + tf.range(window.size[1])[None, :]
    shape = [tf.shape(rows)[0], window.size[0], window.size[1]]
    grid_index = tf.stack(
        [
            tf.broadcast_to(image_index[:, None, None], shape),
            tf.broadcast_to(rows[:, :, None], shape),
            tf.broadcast_to(cols[:, None, :], shape),
        ],
        axis=-1,
    )
    return tf.gather_nd(padded, grid_index)


def inside_mask(window: Window, location, map_extent: Sequence[int]):
    """`[N, h, w, 1]` bool: which window positions lie inside a map of `map_extent`."""
    # Each position's (row, column) in the map: the window's offset plus a constant grid (a
    # few ops, however large the window: this mask is made after every convolution).
    grid = np.stack(np.meshgrid(np.arange(window.size[0]), np.arange(window.size[1]), indexing="ij"), axis=-1)
    positions = window.offsets(location)[:, None, None, :] + tf.constant(grid, tf.int32)
    inside = (positions >= 0) & (positions < tf.constant(map_extent, tf.int32))
    return tf.reduce_all(inside, axis=-1, keepdims=True)


# -- planning the windows -------------------------------------------------------------------


def plan_windows(
    nodes, target_key: int, seed: Window | None, shapes: dict, rule: str, rule_for: Callable, clip: bool = True
) -> dict:
    """The window of every tensor below `target_key` that a signal seeded in window `seed`
    reaches (`{key: Window | None}`); `rule_for(layer)` gives each layer's `LayerRule`.

    `clip=True` turns windows that cover a map into the whole map and joins the windows of a
    tensor read by several layers (`Window.union`): the windows the projection uses. With
    `clip=False` the windows are the receptive fields' (never clipped; a tensor read by several
    layers gets the union), and a rule's `context` inputs (the global pool under a
    squeeze-and-excitation gate, a per-channel scale of the whole map) add nothing to them.
    """
    windows: dict[int, Window | None] = {target_key: _fit(seed, shapes[target_key], clip)}
    for node in reversed(nodes):
        outs = [windows.get(key, _MISSING) for key in node.outputs]
        if all(w is _MISSING for w in outs):
            continue
        layer_rule = rule_for(node.layer)
        if layer_rule.context and not clip:
            continue
        outs = [None if w is _MISSING else w for w in outs]
        if layer_rule.whole_maps(node, rule) and outs[0] is not None and clip:
            outs[0] = Window.full(extent(shapes[node.outputs[0]]))
            windows[node.outputs[0]] = outs[0]
        for key, window in zip(node.inputs, layer_rule.windows(node, outs, shapes, rule)):
            window = _fit(window, shapes[key], clip)
            if key in windows and windows[key] is not None and window is not None:
                window = windows[key].union(window, extent(shapes[key]))
            windows[key] = window
    return windows


_MISSING = object()


def _fit(window: Window | None, shape, clip: bool) -> Window | None:
    if not spatial(shape):
        return None
    if window is None:
        window = Window.full(extent(shape))
    return window.clip(extent(shape)) if clip else window
