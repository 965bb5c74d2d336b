"""Test and benchmark tooling, kept out of the installed package.

`servers`: this project's model server, `tensorflow_model_server` or `zfnet-tf explore` in a
child process on free local ports. `browser`: headless Chromium driven by Selenium.

Tests import it as `support` (pytest puts `tests/` on the path for `tests/conftest.py`);
scripts in `bench/` and `tools/` put `tests/` on the path first.
"""
