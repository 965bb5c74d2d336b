"""The top-9 activations of each feature map over a dataset, projected and cropped (paper Fig. 2)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from zfnet_tf.analysis.base import Analysis, Params, Result, check_int, check_layer
from zfnet_tf.analysis.data import AnalysisData, Data
from zfnet_tf.deconv import layer_key
from zfnet_tf.deconv.strongest import map_peaks
from zfnet_tf.models import input_size


@dataclass(frozen=True)
class Top9Params(Params):
    """What `Top9` does.

    Attributes:
        layer: a layer name (`"block5_conv3"`), or ZFNet's 1-5 (default: ZFNet's 5, else the
            last of `Deconvnet.default_layers`).
        k: activations per map (9 in the paper).
        features: the maps to project and crop (default: all of the layer's maps); the top-k
            of every map is found either way.
        batch_size: images per forward batch.
        projection_batch_size: (image, map) pairs per projection batch.
        maps_per_figure: maps per figure page.
        progress: show a progress bar during the pass.
    """

    layer: int | str | None = None
    k: int = 9
    features: tuple[int, ...] | None = None
    batch_size: int = 64
    projection_batch_size: int = 128
    maps_per_figure: int = 16
    progress: bool = True

    def check(self) -> None:
        check_layer("layer", self.layer, optional=True)
        for name in ("k", "batch_size", "projection_batch_size", "maps_per_figure"):
            check_int(name, getattr(self, name), 1)
        if self.features is not None:
            values = np.asarray(self.features)
            if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"features must be a non-empty list of ints or None, got {self.features!r}")
            self._set("features", tuple(int(v) for v in values))


@dataclass
class Top9Result(Result):
    """What `Top9.run` found.

    For every feature map `c` of the layer, its `k` strongest activations over the data, one
    per image (the map's maximum in that image), strongest first. Rows past the number of
    images have `image_index` -1 and `value` -inf.

    Attributes:
        layer: the layer (a name, or ZFNet's 1-5); `layer_name` the layer it names.
        values: float32 `[C, k]` activations (the layer's top maps, as the deconvnet sees them).
        image_index: int64 `[C, k]` position of the image in the data.
        location: int32 `[C, k, 2]` (row, column) in the layer's maps.
        boxes: int64 `[C, k, 4]` the input box `(top, left, bottom, right)` that activation sees.
        features: int32 `[F]` the maps that were projected.
        projections: float32 `[F, k, P, Q, 3]`: each activation's deconvnet projection, cropped
            to its receptive field (P x Q = the receptive field, at most the image); pixels
            outside the image are NaN.
        patches: float32 `[F, k, P, Q, 3]`: the image pixels under the same crop (NaN outside).
        num_images: how many images the pass read.
        image_names: names of the images, when they have names (files).
    """

    kind = "top9"

    layer: int | str
    layer_name: str
    values: np.ndarray
    image_index: np.ndarray
    location: np.ndarray
    boxes: np.ndarray
    features: np.ndarray
    projections: np.ndarray
    patches: np.ndarray
    num_images: int
    image_names: tuple[str, ...] | None = None
    receptive_field_size: tuple[int, int] = (0, 0)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return f"top9_{layer_key(self.layer)}"

    def numbers(self) -> dict:
        maps = []
        for c in range(self.values.shape[0]):
            rows = []
            for j in range(self.values.shape[1]):
                index = int(self.image_index[c, j])
                if index < 0:
                    continue
                row = {
                    "value": float(self.values[c, j]),
                    "image": index,
                    "location": self.location[c, j],
                    "box": self.boxes[c, j],
                }
                if self.image_names is not None:
                    row["image_name"] = self.image_names[index]
                rows.append(row)
            maps.append({"feature": c, "top": rows})
        return {
            "layer": self.layer,
            "layer_name": self.layer_name,
            "k": int(self.values.shape[1]),
            "num_images": self.num_images,
            "receptive_field_size": self.receptive_field_size,
            "projected_features": self.features,
            "timings_seconds": self.timings,
            "maps": maps,
        }

    def figures(self):
        from zfnet_tf.analysis import plots

        return plots.top9_figures(self)


class Top9(Analysis):
    """Finds, per feature map of a layer, the k images that excite it most, and projects them.

    Zeiler & Fergus (arXiv 1311.2901), Fig. 2: "the top 9 activations in a random subset of
    feature maps across the validation data, projected down to pixel space using our
    deconvolutional network approach", each shown beside "the corresponding image patches".

    One streaming pass over the data: each batch goes forward to the layer's top maps, and a
    graph merges the batch's per-image maxima (`[B, C]`) into the running `[C, k]` best with
    one `tf.math.top_k` per batch, so no Python loop ever touches activations. An image enters
    a map's list at most once, at that map's strongest position in it (which is what the
    deconvnet's "max" mode projects); ties keep the earlier image. Only the images that are
    currently winners of a projected map are kept on the host, so memory stays bounded by
    `C * k` images whatever the dataset's size. (A stateful merge, not `Model.predict`:
    predict would hand back every image's activations.)

    Then every (map, image) winner is projected by the `Deconvnet` in batched graphs, and its
    projection and image are cropped to the activation's receptive field (`receptive_field(...)
    .box`).

    Args:
        model: a ZFNet, or any model the deconvnet supports.
        params: a `Top9Params` (or its fields as keywords).
    """

    params_class = Top9Params

    def __init__(self, model, params: Top9Params | None = None, **overrides):
        super().__init__(model, params, **overrides)
        params = self.params
        self.size = input_size(model)
        # The default is the last layer the deconvnet projects by default: ZFNet's 5.
        self.layer = params.layer if params.layer is not None else self.deconvnet.default_layers()[-1]
        self.layer_name = self.deconvnet.layer_name(self.layer)  # checks the layer
        self.field = self.deconvnet.receptive_field(self.layer)
        self.num_maps = self.deconvnet.num_features(self.layer)
        self.features = self._check_features(params.features)
        self._extractor = self.deconvnet.activation_function([self.layer])
        size, state = self.size, [self.num_maps, params.k]
        self._merge = tf.function(
            self._merge_batch,
            input_signature=[
                tf.TensorSpec([None, size, size, 3], tf.float32),
                tf.TensorSpec([], tf.int64),
                tf.TensorSpec(state, tf.float32),
                tf.TensorSpec(state, tf.int64),
                tf.TensorSpec(state, tf.int32),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    def run(self, data: Data) -> Top9Result:
        """Finds the top-k of every map over `data` and projects those of `params.features`.

        Args:
            data: images `[N, S, S, 3]` (RGB 0-255), a `tf.data.Dataset` of unbatched images
                or `(image, label)` pairs, a dataset name, ... (`analysis_data`).
        """
        data = self.data(data)
        start = time.perf_counter()
        values, image_index, position, cache, num_images = self._stream(data)
        scanned = time.perf_counter()
        grid_width = self.field.grid_size[1]
        location = np.stack([position // grid_width, position % grid_width], axis=-1).astype(np.int32)
        valid = image_index >= 0
        safe = np.where(valid[..., None], location, 0)
        boxes = np.stack(self.field.box(safe[..., 0], safe[..., 1]), axis=-1)
        boxes[~valid] = 0
        projections, patches = self._project(image_index, location, cache)
        done = time.perf_counter()
        return Top9Result(
            layer=self.layer,
            layer_name=self.layer_name,
            values=values,
            image_index=image_index,
            location=location,
            boxes=boxes,
            features=self.features,
            projections=projections,
            patches=patches,
            num_images=num_images,
            image_names=data.image_names if data.image_names and len(data.image_names) == num_images else None,
            receptive_field_size=self.field.size,
            timings={"pass": scanned - start, "projections": done - scanned},
            params=self.params,
            data=data.summary(),
        )

    # -- the streaming pass ---------------------------------------------------------------

    def _merge_batch(self, images, offset, values, image_index, position, projected):
        """Merges one batch into the running best: all `[C, k]`, strongest first.

        Also returns `[B]` bools: which of the batch's images are now winners of a map in
        `projected` (those the host must keep for the projections).
        """
        (top,) = self._extractor(images).values()
        top = tf.cast(top, tf.float32)  # [B, H, W, C], or [B, C] for a layer without maps
        batch = tf.shape(top)[0]
        peak, peak_position = map_peaks(top)  # [B, C]
        batch_values, batch_position = tf.transpose(peak), tf.transpose(peak_position)  # [C, B]
        batch_index = tf.broadcast_to(
            tf.cast(offset, tf.int64) + tf.range(tf.cast(batch, tf.int64)), tf.shape(batch_values)
        )
        # Running entries come first, so a tie keeps the earlier image (top_k is stable).
        all_values = tf.concat([values, batch_values], axis=1)
        best_values, best = tf.math.top_k(all_values, k=self.params.k, sorted=True)
        best_index = tf.gather(tf.concat([image_index, batch_index], axis=1), best, batch_dims=1)
        best_position = tf.gather(tf.concat([position, batch_position], axis=1), best, batch_dims=1)
        winners = tf.reshape(tf.gather(best_index, projected), [-1, 1])
        entering = tf.reduce_any(tf.equal(winners, batch_index[:1]), axis=0)  # [B]
        return best_values, best_index, best_position, entering

    def _stream(self, data: AnalysisData):
        k = self.params.k
        values = tf.fill([self.num_maps, k], tf.constant(-np.inf, tf.float32))
        image_index = tf.fill([self.num_maps, k], tf.constant(-1, tf.int64))
        position = tf.zeros([self.num_maps, k], tf.int32)
        cache: dict[int, np.ndarray] = {}
        offset = 0
        description = f"top-{k} of layer {self.layer}'s {self.num_maps} maps over " + (
            f"{data.num_examples} images" if data.num_examples is not None else "the data"
        )
        projected = tf.constant(self.features, tf.int32)
        # Keep on the host only the images that entered a projected map's list; drop the ones
        # pushed out now and then (a map's list changes ever more rarely as the pass goes on).
        limit = 2 * len(self.features) * k
        for images, _ in data.batches(self.params.batch_size, self.params.progress, description):
            values, image_index, position, entering = self._merge(
                images, tf.constant(offset, tf.int64), values, image_index, position, projected
            )
            entering = np.flatnonzero(entering.numpy())
            if entering.size:
                batch_images = images.numpy()
                for n in entering:
                    # A copy: a view would keep the whole batch alive.
                    cache[offset + int(n)] = batch_images[n].copy()
                if len(cache) > limit:
                    cache = self._prune(cache, image_index, projected)
            offset += int(images.shape[0])
        cache = self._prune(cache, image_index, projected)
        return values.numpy(), image_index.numpy(), position.numpy(), cache, offset

    @staticmethod
    def _prune(cache: dict, image_index, projected) -> dict:
        winners = set(np.unique(tf.gather(image_index, projected).numpy()).tolist())
        return {index: image for index, image in cache.items() if index in winners}

    # -- projections and crops --------------------------------------------------------------

    def _crop_shape(self) -> tuple[int, int]:
        return tuple(min(field, self.size) for field in self.field.size)

    def _project(self, image_index, location, cache):
        features, k = self.features, self.params.k
        shape = (len(features), k, *self._crop_shape(), 3)
        projections = np.full(shape, np.nan, np.float32)
        patches = np.full(shape, np.nan, np.float32)
        rows, ranks = np.nonzero(image_index[features] >= 0)  # pairs to project
        if rows.size == 0:
            return projections, patches
        pair_features = features[rows].astype(np.int32)
        pair_images = image_index[features][rows, ranks]
        for pairs in self._image_groups(pair_images):  # [U, K] pairs, one image a row
            images = np.stack([cache[int(i)] for i in pair_images[pairs[:, 0]]])
            reconstructions = self.project_strongest(self.layer, images, pair_features[pairs])
            for n, row_pairs in enumerate(pairs):
                for j, pair in enumerate(row_pairs):
                    row, rank = rows[pair], ranks[pair]
                    y, x = location[features[row], rank]
                    projections[row, rank] = self.crop(reconstructions[n, j], y, x)
                    patches[row, rank] = self.crop(images[n], y, x)
        return projections, patches

    def _image_groups(self, pair_images: np.ndarray):
        """The pairs `[P]` as batches `[U, K]` of pair indices, each row the K pairs of one
        image (at most `projection_batch_size` pairs a batch): an image that wins several maps
        goes forward once for all of them. Rows of a batch have the same K (an image's pairs
        split into pieces of the batch size, the pieces grouped by length)."""
        step = self.params.projection_batch_size
        order = np.argsort(pair_images, kind="stable")
        _, starts, counts = np.unique(pair_images[order], return_index=True, return_counts=True)
        pieces: dict[int, list[np.ndarray]] = {}
        for start, count in zip(starts, counts):
            for first in range(0, count, step):
                piece = order[start + first : start + min(count, first + step)]
                pieces.setdefault(piece.size, []).append(piece)
        for size, rows in sorted(pieces.items()):
            per_batch = max(1, step // size)
            for first in range(0, len(rows), per_batch):
                yield np.stack(rows[first : first + per_batch])

    def crop(self, image: np.ndarray, y: int, x: int) -> np.ndarray:
        """The `[P, Q, 3]` receptive-field crop of unit (y, x), NaN where the field leaves the image.

        The crop is `image[top:bottom, left:right]` of `Deconvnet.receptive_field(...).box(y, x)`,
        placed where it sits inside the unclipped field.
        """
        field = self.field
        top, left, bottom, right = field.box(int(y), int(x))
        # A field wider than the image is shown in image coordinates; a smaller one from
        # where it starts (possibly above or left of the image).
        origin_y = 0 if field.size[0] >= self.size else int(y) * field.jump[0] - field.start[0]
        origin_x = 0 if field.size[1] >= self.size else int(x) * field.jump[1] - field.start[1]
        out = np.full((*self._crop_shape(), 3), np.nan, np.float32)
        out[top - origin_y : bottom - origin_y, left - origin_x : right - origin_x] = image[
            top:bottom, left:right
        ]
        return out

    def _check_features(self, features) -> np.ndarray:
        if features is None:
            return np.arange(self.num_maps, dtype=np.int32)
        values = np.asarray(features, np.int32)
        if np.any(values < 0) or np.any(values >= self.num_maps):
            raise ValueError(
                f"features {values.tolist()} out of range for layer {self.layer}: it has "
                f"{self.num_maps} maps (0..{self.num_maps - 1})"
            )
        return values
