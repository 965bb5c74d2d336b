"""Runs `zfnet-tf` and SIGKILLs its own process at a chosen point: the test harness of the
kill-and-resume tests (nothing of the training code is replaced; the process just dies there).

    python kill_harness.py POINT -- ARGS...

POINT is one of
    batch:E:B        after training batch B (0-based) of epoch E (0-based) has run
    replace:NAME[:N] just before a finished temporary file is renamed onto NAME (a basename,
                     e.g. epoch-002.keras or state.json) for the Nth time (default: the first):
                     every byte written, nothing committed
    csvrow:E         in the middle of writing epoch E's row of history.csv
"""

import os
import signal
import sys


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after_batch(epoch: int, batch: int) -> None:
    from keras.src.callbacks.callback_list import CallbackList

    on_epoch_begin, on_train_batch_end = CallbackList.on_epoch_begin, CallbackList.on_train_batch_end
    current = {}

    def epoch_begin(self, e, logs=None):
        current["epoch"] = e
        return on_epoch_begin(self, e, logs)

    def batch_end(self, b, logs=None):
        on_train_batch_end(self, b, logs)
        if current.get("epoch") == epoch and b == batch:
            die()

    CallbackList.on_epoch_begin, CallbackList.on_train_batch_end = epoch_begin, batch_end


def kill_before_replace(name: str, occurrence: int = 1) -> None:
    replace = os.replace
    seen = [0]

    def replace_or_die(source, target, *args, **kwargs):
        if os.path.basename(os.fspath(target)) == name:
            seen[0] += 1
            if seen[0] == occurrence:
                die()
        return replace(source, target, *args, **kwargs)

    os.replace = replace_or_die


def kill_in_csv_row(epoch: int) -> None:
    import keras

    on_epoch_end = keras.callbacks.CSVLogger.on_epoch_end

    def write_half_and_die(self, e, logs=None):
        on_epoch_end(self, e, logs)
        if e == epoch:
            size = os.path.getsize(self.filename)
            with open(self.filename, "r+b") as handle:
                handle.truncate(size - 12)
            die()

    keras.callbacks.CSVLogger.on_epoch_end = write_half_and_die


def main() -> int:
    point, separator, *args = sys.argv[1:]
    assert separator == "--", "usage: kill_harness.py POINT -- ARGS..."
    kind, *where = point.split(":")
    if kind == "batch":
        kill_after_batch(int(where[0]), int(where[1]))
    elif kind == "replace":
        kill_before_replace(where[0], *(int(n) for n in where[1:]))
    elif kind == "csvrow":
        kill_in_csv_row(int(where[0]))
    else:
        raise SystemExit(f"unknown kill point {point!r}")
    from zfnet_tf.cli.main import main as zfnet_tf_main

    return zfnet_tf_main(args)


if __name__ == "__main__":
    sys.exit(main())
