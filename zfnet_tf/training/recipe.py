"""Training recipes: the paper's (Sec. 3) and a small one for CPU demos, as frozen dataclasses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from zfnet_tf.config import named, replace_fields

# Fig. 4 shows the features at these epochs.
PAPER_EVOLUTION_EPOCHS = (1, 2, 5, 10, 20, 30, 40, 64)


@dataclass(frozen=True)
class TrainingRecipe:
    """How a model is trained: optimizer, schedule, augmentation and what gets visualized.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 3: "stochastic gradient descent with a mini-batch
    size of 128 to update the parameters, starting with a learning rate of 1e-2, in conjunction
    with a momentum term of 0.9. We anneal the learning rate throughout training manually when
    the validation error plateaus. Dropout is used in the fully connected layers (6 and 7) with
    a rate of 0.5 ... We stopped training after 70 epochs". Dropout and the filter RMS
    renormalization belong to the network (`ZFNetConfig.dropout`, `filter_rms_limit`).

    Attributes:
        epochs: number of passes over the training split.
        global_batch_size: examples per step summed over all replicas and workers.
        learning_rate, momentum: SGD with (heavy-ball) momentum.
        lr_decay_factor: the learning rate is multiplied by it when `plateau_monitor` has not
            improved for `plateau_patience` epochs ("annealed ... when the validation error
            plateaus"), never below `min_learning_rate`.
        plateau_monitor: the validation metric watched (also picks the best checkpoint).
        augment: random crops of the resized image (else centre crops).
        random_flip: mirror training crops left-right half the time (the paper does; not for
            digits, whose mirror images are not digits).
        cache: keep decoded, resized images in memory (True) or in files at a path prefix.
        keep_checkpoints: how many per-epoch checkpoints stay on disk (plus the best one).
        projection_every: epochs between TensorBoard deconvnet projections of the probe batch.
        probe_images: size of the fixed validation batch those projections show.
        evolution_epochs: epochs at which the Fig. 4 figure gets a column (clipped to the run;
            the last epoch is always shown).
        evolution_features_per_layer: feature maps per layer (rows of Fig. 4).
        evolution_probe_images: validation images searched for each map's strongest activation.
    """

    epochs: int = 70
    global_batch_size: int = 128
    learning_rate: float = 1e-2
    momentum: float = 0.9
    lr_decay_factor: float = 0.1
    plateau_patience: int = 3
    plateau_monitor: str = "val_accuracy"
    min_learning_rate: float = 1e-5
    augment: bool = True
    random_flip: bool = True
    cache: bool | str = False
    keep_checkpoints: int = 3
    projection_every: int = 5
    probe_images: int = 8
    evolution_epochs: tuple[int, ...] = PAPER_EVOLUTION_EPOCHS
    evolution_features_per_layer: int = 3
    evolution_probe_images: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "evolution_epochs", tuple(int(e) for e in self.evolution_epochs))
        for name in ("epochs", "global_batch_size", "plateau_patience", "keep_checkpoints",
                     "projection_every", "probe_images", "evolution_features_per_layer",
                     "evolution_probe_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainingRecipe.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"TrainingRecipe.learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"TrainingRecipe.momentum must be in [0, 1), got {self.momentum}")
        if not 0 < self.lr_decay_factor < 1:
            raise ValueError(
                f"TrainingRecipe.lr_decay_factor must be in (0, 1), got {self.lr_decay_factor}"
            )
        if any(e < 1 for e in self.evolution_epochs):
            raise ValueError(f"evolution_epochs must be >= 1, got {self.evolution_epochs}")

    def evolution_epochs_for_run(self) -> tuple[int, ...]:
        """The Fig. 4 epochs within this run, always ending with its last epoch."""
        chosen = sorted({e for e in self.evolution_epochs if e <= self.epochs} | {self.epochs})
        return tuple(chosen)

    def replace(self, **overrides: Any) -> "TrainingRecipe":
        return replace_fields(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RECIPES: dict[str, TrainingRecipe] = {
    # Sec. 3, for ImageNet 2012.
    "paper": TrainingRecipe(),
    # The `tiny` preset on the embedded digits: minutes on two CPU cores. Smaller batches give
    # more updates per epoch; the digits are neither mirrored nor large enough to need a file
    # cache.
    "demo": TrainingRecipe(
        epochs=14,
        global_batch_size=32,
        plateau_patience=2,
        random_flip=False,
        cache=True,
        projection_every=2,
        probe_images=6,
        evolution_features_per_layer=2,
        evolution_probe_images=128,
    ),
}


def get_recipe(recipe: str | TrainingRecipe = "paper", **overrides: Any) -> TrainingRecipe:
    """A recipe by name (or a recipe) with fields overridden; None overrides are ignored."""
    return named(RECIPES, recipe, "recipe", {k: v for k, v in overrides.items() if v is not None})
