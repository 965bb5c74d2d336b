"""The explorer's speed as a person feels it: a real browser against a real model server.

    python bench/bench_explorer.py                      # tiny (64x64) and zfnet (224), random weights
    python bench/bench_explorer.py --presets tiny --repeats 10
    python bench/bench_explorer.py --base-path saved_models/demo --model-name demo   # an export

For each model it exports a SavedModel (seeded random weights; or uses --base-path), starts
`python -m zfnet_tf.serving` on it, opens the page in headless Chromium and, `--repeats`
times: chooses an image file (a scikit-learn digit for a 64-pixel model, scikit-image's cat
photo otherwise) and waits for the top-5 classes; then clicks a layer-1 and a layer-5 map
and waits for each projection. It prints the median and worst time from the choice (or the
click) to the page showing the result, as the page measures it (`window.explorer.timings`,
from the file input's change event or the click to the drawn answer) and as seen from
outside (WebDriver polling, a few ms late), with the issue's targets: <= 1 s on the demo
model, <= 3 s on `zfnet` at 224. Client, browser and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The test and bench tooling (ServerProcess, HeadlessChromium) lives in tests/support, outside
# the installed package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

TARGET_SECONDS = {"tiny": 1.0, "zfnet": 3.0}
POLL_SECONDS = 0.005


def export_random(preset: str, root: str) -> tuple[str, str]:
    import keras

    import zfnet_tf
    from zfnet_tf.export import export_model

    keras.utils.set_random_seed(0)
    model = zfnet_tf.build_model(preset)
    base = os.path.join(root, preset)
    export_model(model, base)
    return base, preset


def image_file(size: int, root: str) -> str:
    """A digit for 64-pixel models (what the demo learned), the cat photo otherwise."""
    path = os.path.join(root, f"bench_{size}.png")
    if size <= 64:
        from sklearn.datasets import load_digits

        digits = load_digits()
        Image.fromarray(np.round(digits.images[7] * (255 / 16)).astype(np.uint8)).save(path)
    else:
        import skimage.data

        Image.fromarray(skimage.data.chelsea()).save(path)
    return path


def wait(driver, script, *args, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script, *args):
            return
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"the page did not answer within {timeout} s: {driver.get_log('browser')}")


def measure(driver, url: str, path: str, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """`{step: [(page seconds, outside seconds), ...]}` for classes and two projections."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait(driver, "return document.body.dataset.ready === 'true'")
    results: dict[str, list[tuple[float, float]]] = {"classes": [], "projection layer 1": [], "projection layer 5": []}
    for round_index in range(repeats + 1):  # the first round warms the server's graphs and the page
        generation = driver.execute_script("return window.explorer.state.generation") + 1
        started = time.perf_counter()
        driver.find_element(By.CSS_SELECTOR, "input[data-testid=image-input]").send_keys(path)
        wait(
            driver,
            "const l = document.querySelector('[data-testid=top-classes]');"
            "return l.dataset.generation === arguments[0] && l.children.length > 0",
            str(generation),
        )
        classes = (driver.execute_script("return window.explorer.timings.classes") / 1000, time.perf_counter() - started)
        rounds = [("classes", classes)]
        for layer in ("1", "5"):
            driver.find_element(By.CSS_SELECTOR, f"[data-testid=layer-tab][data-layer='{layer}']").click()
            wait(driver, "const g = document.querySelector('#maps');"
                 "return g.dataset.layer === arguments[0] && g.dataset.generation === arguments[1] && g.children.length",
                 layer, str(generation))
            tile = driver.find_elements(By.CSS_SELECTOR, "#maps [data-testid=feature-map]")[1]
            feature = tile.get_attribute("data-feature")
            driver.execute_script("window.explorer.timings.projection = null")
            started = time.perf_counter()
            tile.click()
            wait(driver, "const p = document.querySelector('[data-testid=projection]');"
                 "return p.dataset.feature === arguments[0] && p.dataset.layer === arguments[1]"
                 " && window.explorer.timings.projection !== null", feature, layer)
            outside = time.perf_counter() - started
            page = driver.execute_script("return window.explorer.timings.projection") / 1000
            rounds.append((f"projection layer {layer}", (page, outside)))
            # Let the whole-map projection finish before the next step, as a person would.
            wait(driver, "return !document.querySelector('[data-testid=projection]').dataset.loading")
        if round_index > 0:
            for step, value in rounds:
                results[step].append(value)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "zfnet"], choices=sorted(TARGET_SECONDS))
    parser.add_argument("--base-path", help="an exported model's base path (instead of random presets)")
    parser.add_argument("--model-name", default="model", help="its name (with --base-path)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from support.browser import HeadlessChromium, find_browser
    from support.servers import ServerProcess

    if find_browser() is None:
        print("chromium and chromedriver are needed: apt-get install chromium chromium-driver", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as root:
        models = (
            [(args.base_path, args.model_name, None)]
            if args.base_path
            else [(*export_random(preset, root), preset) for preset in args.presets]
        )
        print(f"{'model':<8} {'step':<20} {'page median':>12} {'page worst':>11} {'outside median':>15} {'target':>7}")
        with HeadlessChromium(width=1440, height=1000) as driver:
            for base, name, preset in models:
                with ServerProcess([f"--model_name={name}", f"--model_base_path={base}",
                                    "--file_system_poll_wait_seconds=0"], ready_model=name) as server:
                    from zfnet_tf.serving.client import ServingClient

                    with ServingClient(server.rest_address, name) as client:
                        size = client.input_size()
                    path = image_file(size, root)
                    results = measure(driver, f"http://{server.rest_address}/", path, args.repeats)
                target = TARGET_SECONDS.get(preset or ("tiny" if size <= 64 else "zfnet"))
                for step, values in results.items():
                    page = [v[0] for v in values]
                    outside = [v[1] for v in values]
                    verdict = "ok" if max(page) <= target else "SLOW"
                    print(
                        f"{name:<8} {step:<20} {statistics.median(page):>10.3f} s {max(page):>9.3f} s "
                        f"{statistics.median(outside):>13.3f} s {target:>5.1f} s {verdict}"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
