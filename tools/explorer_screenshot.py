"""A screenshot of the explorer page on an export: an image chosen, a layer's maps, the projection
of its strongest map and the occlusion maps (how README's docs/figures/explorer_*.png are made).

    python tools/explorer_screenshot.py --base-path saved_models/demo --model-name demo \\
        --sample digit3 --layer 2 --out docs/figures/explorer_demo.png
    python tools/explorer_screenshot.py --base-path saved_models/zfnet --model-name zfnet \\
        --image cat.jpg --layer 5 --out explorer_zfnet.png

It starts `python -m zfnet_tf.serving` on the export and drives headless Chromium (Debian's
chromium and chromedriver).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The test and bench tooling (ServerProcess, HeadlessChromium) lives in tests/support, outside
# the installed package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))


def wait(driver, script, *args, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script, *args):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the page did not get there within {timeout} s: {driver.get_log('browser')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-path", required=True, help="the model's base path (versions inside)")
    parser.add_argument("--model-name", default="model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="an image file")
    source.add_argument("--sample", help="one of the page's samples, e.g. chelsea, digit3")
    parser.add_argument("--layer", default="5", help="the tab to show (1-5, or a layer name)")
    parser.add_argument("--rank", type=int, default=0, help="which map to click: 0 = the strongest")
    parser.add_argument("--patch", choices=("0.125", "0.25", "0.375"), default="0.25",
                        help="the occluding square's side, as a fraction of the image's")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--out", required=True, help="the PNG to write")
    args = parser.parse_args(argv)

    from selenium.webdriver.common.by import By

    from support.browser import HeadlessChromium
    from support.servers import ServerProcess

    server_flags = [f"--model_name={args.model_name}", f"--model_base_path={os.path.abspath(args.base_path)}",
                    "--file_system_poll_wait_seconds=0"]
    with ServerProcess(server_flags, ready_model=args.model_name) as server:
        with HeadlessChromium(width=args.width, height=args.height) as driver:
            driver.get(f"http://{server.rest_address}/")
            wait(driver, "return document.body.dataset.ready === 'true'")
            if args.image:
                driver.find_element(By.CSS_SELECTOR, "input[data-testid=image-input]").send_keys(os.path.abspath(args.image))
            else:
                wait(driver, "return document.querySelector(`[data-sample='${arguments[0]}']`)", args.sample)
                driver.find_element(By.CSS_SELECTOR, f"[data-sample='{args.sample}']").click()
            wait(driver, "return document.querySelectorAll('[data-testid=class-row]').length > 0")
            driver.find_element(By.CSS_SELECTOR, f"[data-testid=layer-tab][data-layer='{args.layer}']").click()
            wait(driver, "return document.querySelector('#maps').dataset.layer === arguments[0]", args.layer)
            tile = driver.find_elements(By.CSS_SELECTOR, "#maps [data-testid=feature-map]")[args.rank]
            feature = tile.get_attribute("data-feature")
            tile.click()
            wait(driver, "const p = document.querySelector('[data-testid=projection]');"
                 "return p.dataset.feature === arguments[0] && !p.dataset.loading", feature)
            driver.execute_script("document.querySelector('#occlusion-patch').value = arguments[0]", args.patch)
            driver.find_element(By.CSS_SELECTOR, "[data-testid=occlusion-run]").click()
            wait(driver, "return document.querySelector('[data-testid=occlusion]').dataset.complete === 'true'")
            driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            driver.save_screenshot(args.out)
            print(f"{args.out}: layer {args.layer}, map {feature}; timings (ms) {driver.execute_script('return window.explorer.timings')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
