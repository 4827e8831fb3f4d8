"""Real headless Chromium (Debian's chromium and chromedriver, driven by selenium) against the
real Mini App server, with a fake ``Telegram.WebApp`` injected into every page before its own
scripts run, and Telegram's bridge script blocked (nothing reaches the internet).

The server runs on its own event loop in a background thread, so the blocking WebDriver calls
of a test never stall it; :meth:`LiveServer.run` runs a coroutine (a database check) there.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("TICKETQ_ARTEFACTS", ROOT / "test-artefacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").exists() else None)
THEME = {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579",
         "button_color": "#3390ec", "button_text_color": "#ffffff",
         "secondary_bg_color": "#f4f4f5"}


def require_browser() -> None:
    """Skip (with the reason) when there is no Chromium, unless the run demands one."""
    if CHROMIUM and CHROMEDRIVER:
        return
    reason = ("Chromium and chromedriver are not installed (apt-get install chromium "
              "chromium-driver)")
    if os.environ.get("TICKETQ_REQUIRE_BROWSER"):
        pytest.fail(reason + " but TICKETQ_REQUIRE_BROWSER is set")
    pytest.skip(reason)


class LiveServer:
    """An event loop in a thread for the server side of a browser test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def fake_telegram(init_data: str, *, color_scheme: str = "light") -> str:
    """The ``Telegram.WebApp`` a page sees: initData, theme, safe areas, the QR popup (codes
    are presented with ``__present(text)``) and haptics (recorded in ``__haptics``)."""
    script = """
(function () {
  window.__haptics = [];
  window.__scanner = { open: false, opened: 0, returns: [] };
  window.Telegram = { WebApp: {
    initData: INIT_DATA, version: "8.0", platform: "android", colorScheme: COLOR_SCHEME,
    themeParams: THEME_PARAMS, viewportStableHeight: window.innerHeight,
    safeAreaInset: { top: 24, bottom: 16, left: 0, right: 0 },
    contentSafeAreaInset: { top: 0, bottom: 0, left: 0, right: 0 },
    ready() { window.__ready = true; }, expand() {}, onEvent() {},
    HapticFeedback: { notificationOccurred(type) { window.__haptics.push(type); } },
    showScanQrPopup(params, callback) {
      window.__scanner.open = true; window.__scanner.opened += 1;
      window.__scanner.text = params && params.text; window.__scanner.callback = callback;
    },
    closeScanQrPopup() { window.__scanner.open = false; },
  } };
  window.__present = function (text) {
    if (!window.__scanner.open) { throw new Error("the QR popup is closed"); }
    const result = window.__scanner.callback ? window.__scanner.callback(text) : undefined;
    window.__scanner.returns.push(result === undefined ? null : result);
    if (result === true) { window.__scanner.open = false; }
    return result;
  };
})();
"""
    return (script.replace("INIT_DATA", json.dumps(init_data))
            .replace("COLOR_SCHEME", json.dumps(color_scheme))
            .replace("THEME_PARAMS", json.dumps(THEME)))


def new_driver() -> Any:
    """Headless Chromium, offline from the internet by construction."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=360,740", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--lang=en-GB"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    return driver


def prepare_tab(driver: Any, init_data: str) -> None:
    """Inject the fake Telegram into every page of the current tab; block telegram.org."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*telegram.org*"]})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": fake_telegram(init_data)})


def set_offline(driver: Any, offline: bool) -> None:
    """Cut (or restore) the current tab's network, as a phone losing reception."""
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def screenshot(driver: Any, name: str, width: int, height: int) -> Path:
    """Resize to ``width`` x ``height`` CSS pixels and save a PNG artefact."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}-{width}x{height}.png"
    driver.save_screenshot(str(path))
    return path
