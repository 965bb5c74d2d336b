"""What a command shows while it works: TensorFlow's start-up logging kept off the terminal
unless asked for, progress lines for slow steps, and Keras progress bars only on a terminal.

This module imports no TensorFlow: `quiet_tensorflow` must run before TensorFlow loads.

TensorFlow 2.21 writes its C++ start-up lines (`I0000 ... port.cc] oneDNN custom operations
are on`, `cudart_stub.cc] Could not find cuda drivers`, and `WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR`) to file descriptor 2 while it loads,
before any log level applies: `TF_CPP_MIN_LOG_LEVEL` silences none of them (checked at 2 and
3). Level 3 does silence the later `E0000 ... cuda_platform.cc] failed call to cuInit` line (an
ERROR on machines without a GPU). So `quiet_tensorflow` sets level 3, and the first import
that loads TensorFlow runs with descriptor 2 pointed at a temporary file, whose other lines
are passed on afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from typing import Iterator, TextIO

# The C++ logging lines of a TensorFlow start-up: `I0000 00:00:1796583881.235633  7159 port.cc:153] ...`.
_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] ")
_CONTINUED = "To enable the following instructions:"
_BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# Python loggers that chatter at INFO/WARNING during normal runs (TFDS' "split not found",
# tf.function retracing notes, urllib3's retries of a download that cannot connect).
_CHATTY_LOGGERS = ("tensorflow", "absl", "tensorflow_datasets", "urllib3")


def is_startup_log_line(line: str) -> bool:
    """A line of TensorFlow's C++ start-up logging (what `quiet_tensorflow` holds back)."""
    return bool(_LOG_LINE.match(line)) or line.strip() == _BEFORE_INIT


# The first import of any of these loads TensorFlow's C++ libraries.
_LOADS_TENSORFLOW = ("tensorflow", "keras", "tensorflow_datasets", "tensorflow_serving", "tf_keras")


def quiet_tensorflow(verbose: bool = False) -> None:
    """Keeps TensorFlow's start-up log lines off stderr (unless `verbose`) whenever it is first
    imported from now on, and its Python loggers and absl's to errors. Nothing is imported
    here: a command that never needs TensorFlow does not pay for loading it. `verbose` leaves
    all of it (and `TF_CPP_MIN_LOG_LEVEL`) as the user has it; otherwise the level is 3, also
    over a 2 set elsewhere (2 lets the cuInit ERROR through)."""
    if verbose:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        _quiet_python_loggers()
        return
    import builtins

    original_import = builtins.__import__

    def importing(name, *args, **kwargs):
        if name.split(".")[0] not in _LOADS_TENSORFLOW or "tensorflow" in sys.modules:
            return original_import(name, *args, **kwargs)
        builtins.__import__ = original_import  # once: the rest imports as usual
        with _filtered_stderr():
            module = original_import(name, *args, **kwargs)
        _quiet_python_loggers()
        return module

    builtins.__import__ = importing


def _quiet_python_loggers() -> None:
    import logging

    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file in the block; afterwards every line that is
    not TensorFlow start-up logging is written to the real stderr (a crash while importing
    still shows its message)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept, previous_was_log = [], False
            for line in text.splitlines(keepends=True):
                # cpu_feature_guard's message runs on over a second line.
                log = is_startup_log_line(line) or (previous_was_log and line.startswith(_CONTINUED))
                if not log:
                    kept.append(line)
                previous_was_log = log
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def on_terminal(stream: TextIO | None = None) -> bool:
    stream = sys.stdout if stream is None else stream
    return hasattr(stream, "isatty") and stream.isatty()


def keras_verbose() -> int:
    """Keras' `verbose` for fit/predict and `keras.utils.Progbar`: the live bar (1) on a
    terminal; one plain line per epoch or pass (2) otherwise, since the bar always writes
    escape codes and carriage returns."""
    return 1 if on_terminal() else 2


@contextlib.contextmanager
def step(message: str, stream: TextIO | None = None) -> Iterator[None]:
    """Announces a slow step (`message ...`) and, when it ends, how long it took: plain lines
    (to stderr, so stdout keeps a command's results)."""
    stream = sys.stderr if stream is None else stream
    print(f"{message} ...", file=stream, flush=True)
    start = time.monotonic()
    yield
    print(f"{message}: done in {time.monotonic() - start:.0f} s", file=stream, flush=True)
