"""Headless Chromium driven by Selenium, for the explorer's tests, benchmark and screenshots.

Uses the system's `chromium` and `chromedriver` (Debian's `chromium`, `chromium-driver`):
nothing is downloaded (Selenium Manager is never asked), and the browser's background
networking is off, so it makes no connection but to the page's own server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver",)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_browser() -> tuple[str, str] | None:
    """`(chromium, chromedriver)` paths, from $CHROMIUM / $CHROMEDRIVER or the usual places."""
    chromium = os.environ.get("CHROMIUM") or next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), None)
    driver = os.environ.get("CHROMEDRIVER") or next(
        (p for p in CHROMEDRIVER_CANDIDATES if os.access(p, os.X_OK)), shutil.which("chromedriver")
    )
    if chromium and driver:
        return chromium, driver
    return None


def require_browser() -> None:
    """For a test that needs the browser: skips it when chromium or chromedriver is missing,
    and fails it under CI (`CI` set), where `make test` should have installed them."""
    if find_browser() is None:
        import pytest

        message = "chromium and chromedriver are not installed (make test installs them with apt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class HeadlessChromium:
    """A Selenium Chrome session on a fresh profile; `with HeadlessChromium() as driver: ...`.

    Args:
        width, height: the window (and screenshot) size in CSS pixels.
        scale: device pixel ratio of screenshots.
    """

    def __init__(self, width: int = 1440, height: int = 1000, scale: float = 1.0):
        self.width, self.height, self.scale = width, height, scale
        self.driver: Any = None
        self._profile: str | None = None

    def start(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        found = find_browser()
        if found is None:
            raise RuntimeError("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
        chromium, chromedriver = found
        self._profile = tempfile.mkdtemp(prefix="zfnet-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        options.add_argument(f"--window-size={self.width},{self.height}")
        options.add_argument(f"--force-device-scale-factor={self.scale}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        self.driver.set_script_timeout(120)
        return self.driver

    def stop(self) -> None:
        if self.driver is not None:
            try:
                self.driver.quit()
            finally:
                self.driver = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
