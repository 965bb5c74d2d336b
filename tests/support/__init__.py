"""Test and benchmark tooling, kept out of the installed package.

`servers`: this project's model server, `tensorflow_model_server` or `zfnet-tf explore` in a
child process on free local ports; `shared_server`: one such server per test run for the
test files that only send it requests. `browser`: headless Chromium driven by Selenium.
`class_images`, `voc_devkit`, `imagenet_manual`: real image folders, a VOCdevkit and an
ILSVRC2012 manual folder written on disk. `cli`: `zfnet-tf` run in the test's own process.
`image_bombs`, `hostile_requests`: decompression bombs and requests built to exhaust a server,
with the memory readings that measure them.

Tests import it as `support` (pytest puts `tests/` on the path for `tests/conftest.py`);
scripts in `bench/` and `tools/` put `tests/` on the path first.
"""
