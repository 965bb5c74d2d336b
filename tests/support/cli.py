"""`zfnet-tf` called in the test's own process: for the tests where the process boundary is
not what they prove (the entry point's own process: tests/cli/test_quiet_and_flags.py)."""

from __future__ import annotations

import contextlib
import io


def run_main(argv, capture) -> tuple[int, str, str]:
    """`zfnet_tf.cli.main.main(argv)` with each item `str()`-ed -> `(exit code, stdout, stderr)`
    of this call alone; argparse's `SystemExit` becomes its code.

    `capture` is pytest's `capsys` (or `capfd`, where TensorFlow's own lines, written to the
    file descriptors, count too); `None` in a module-scoped fixture (where pytest has neither):
    the call's Python output is then captured here."""
    from zfnet_tf.cli.main import main

    def call():
        try:
            return main([str(item) for item in argv])
        except SystemExit as exited:
            return exited.code

    if capture is None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = call()
        return code, out.getvalue(), err.getvalue()
    capture.readouterr()  # what earlier calls printed is not this call's
    code = call()
    out, err = capture.readouterr()
    return code, out, err
