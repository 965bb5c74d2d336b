"""Training across hosts with `MultiWorkerMirroredStrategy`: a custom step loop.

Keras 3.15's `Model.fit` does not work under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so the steps run through `strategy.run`: each replica computes the
loss of its share of the global batch averaged over the *global* batch
(`tf.nn.compute_average_loss`), the optimizer all-reduces the gradients, and every worker
applies the same update. The Keras callbacks of the fit path drive the loop unchanged
(progress bar, TensorBoard, checkpoints, plateau, Fig. 4), so both paths write the same
model dir; the chief holds the full list, the other workers only back up their own state.
"""

from __future__ import annotations


import keras
import tensorflow as tf

from zfnet_tf.data import DataSource, TrainingData
from zfnet_tf.data.pipelines import make_training_data
from zfnet_tf.training.recipe import TrainingRecipe


def _distributed_inputs(strategy, source: DataSource, recipe: TrainingRecipe, input_size, seed):
    """Per-worker input pipelines: each reads its own shard, batches its share of the batch."""

    def worker_data(context: tf.distribute.InputContext):
        return make_training_data(
            source,
            input_size,
            recipe.global_batch_size,
            flip=recipe.random_flip,
            augment=recipe.augment,
            cache=recipe.cache,
            seed=seed + context.input_pipeline_id,
            shard=(context.num_input_pipelines, context.input_pipeline_id),
            per_worker_batch_size=context.get_per_replica_batch_size(recipe.global_batch_size),
        )

    train = strategy.distribute_datasets_from_function(lambda c: worker_data(c).train)
    validation = strategy.distribute_datasets_from_function(lambda c: worker_data(c).validation)
    return train, validation


def fit_multi_worker(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    source: DataSource,
    counts: TrainingData,
    recipe: TrainingRecipe,
    callbacks: list[keras.callbacks.Callback],
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    jit_compile: bool = False,
    seed: int = 0,
    verbose: int | str = "auto",
    initial_epoch: int = 0,
) -> dict[str, float]:
    """Trains `model` (compiled in `strategy.scope()`) for `recipe.epochs` epochs.

    Each worker reads its shard of `source`; `counts` (the whole input, as
    `make_training_data` gives it) sets the number of steps. Starts after `initial_epoch`
    finished epochs (restored by the caller); returns the last epoch's logs.
    """
    global_batch = recipe.global_batch_size
    input_size = model.config.input_size
    train, validation = _distributed_inputs(strategy, source, recipe, input_size, seed)
    steps = steps_per_epoch or counts.steps_per_epoch
    # Endless full batches on every worker: the same number of steps everywhere.
    val_steps = validation_steps or max(1, counts.num_validation_examples // global_batch)
    optimizer = model.optimizer
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    top_k = min(5, model.num_classes)

    def counts_of(labels, logits):
        labels = tf.cast(labels, tf.int32)
        logits = tf.cast(logits, tf.float32)
        correct = tf.reduce_sum(
            tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
        )
        in_top_k = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, logits, top_k), tf.float32))
        return correct, in_top_k

    # Forward and backward compile with XLA when asked; the all-reduce and the update stay
    # outside the compiled function.
    @tf.function(jit_compile=jit_compile)
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.nn.compute_average_loss(
                loss_fn(labels, logits), global_batch_size=global_batch
            )
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        return loss, grads, counts_of(labels, logits)

    def replica_train_step(images, labels):
        loss, grads, (correct, in_top_k) = gradients(images, labels)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, correct, in_top_k

    def replica_eval_step(images, labels):
        logits = model(images, training=False)
        loss = tf.reduce_sum(loss_fn(labels, logits))
        correct, in_top_k = counts_of(labels, logits)
        return loss, correct, in_top_k

    def summed(per_replica):
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica]

    @tf.function
    def train_step(iterator):
        return summed(strategy.run(replica_train_step, args=next(iterator)))

    @tf.function
    def eval_step(iterator):
        return summed(strategy.run(replica_eval_step, args=next(iterator)))

    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model,
        verbose=1 if verbose == "auto" else verbose, epochs=recipe.epochs, steps=steps,
    )
    train_iterator, validation_iterator = iter(train), iter(validation)
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, recipe.epochs):
        callback_list.on_epoch_begin(epoch)
        loss_sum = correct = in_top_k = 0.0
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            loss, step_correct, step_top_k = (float(v) for v in train_step(train_iterator))
            loss_sum, correct, in_top_k = loss_sum + loss, correct + step_correct, in_top_k + step_top_k
            seen = (step + 1) * global_batch
            logs = {"loss": loss_sum / (step + 1), "accuracy": correct / seen, "top5_accuracy": in_top_k / seen}
            callback_list.on_train_batch_end(step, logs)
        val_loss = val_correct = val_top_k = 0.0
        for _ in range(val_steps):
            loss, step_correct, step_top_k = (float(v) for v in eval_step(validation_iterator))
            val_loss, val_correct, val_top_k = val_loss + loss, val_correct + step_correct, val_top_k + step_top_k
        seen = val_steps * global_batch
        logs.update(val_loss=val_loss / seen, val_accuracy=val_correct / seen, val_top5_accuracy=val_top_k / seen)
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end(logs)
    return logs
