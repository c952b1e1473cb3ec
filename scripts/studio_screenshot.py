"""Screenshot of the studio after a generation, for the README: Debian's Chromium, headless, through selenium.

.venv/bin/python scripts/studio_screenshot.py demo_output                 # -> docs/studio.png
.venv/bin/python scripts/studio_screenshot.py demo_output --genre arpeggios --seconds 12 --out docs/studio.png

`chromium()` is also what tests/test_ui.py drives the studio with. Nothing here downloads a browser: it uses
/usr/bin/chromium and /usr/bin/chromedriver (`apt-get install chromium chromium-driver`), or reports that they are
missing.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

CHROMIUM = Path(os.environ.get("AUDIODIFF_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("AUDIODIFF_CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def missing_browser() -> str | None:
    """Why no browser can be driven here (None when one can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install chromium chromium-driver; `make test` does it as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'audiodiff[ui]')"
    return None


def chromium(profile: str | os.PathLike, width: int = 1400, height: int = 1200):
    """A selenium driver of headless Debian Chromium with a fresh profile in `profile`. Selenium Manager (which
    would download drivers) is not involved: the browser and the driver are given by path."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def choose(driver, element_id: str, option: str, timeout: float = 20) -> None:
    """Pick `option` in the Gradio dropdown `element_id` (waiting for it to be offered: choices arrive by events)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    selector = f"li[role=option][aria-label='{option}']"
    box = driver.find_element(By.CSS_SELECTOR, f"#{element_id} input")
    deadline = time.monotonic() + timeout
    while True:
        box.click()
        time.sleep(0.3)
        offered = driver.find_elements(By.CSS_SELECTOR, selector)
        if offered:
            offered[0].click()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{element_id} does not offer {option!r}")
        box.send_keys(Keys.ESCAPE)
        time.sleep(0.5)


def set_number(driver, element_id: str, value: float) -> None:
    """Type `value` into the Gradio number or slider `element_id` (its number box)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{element_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(f"{value:g}", Keys.TAB)


def player_file(driver, element_id: str, timeout: float = 120) -> str:
    """The URL of the WAV in the Gradio audio player `element_id`, once it has one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(page):
        if not page.find_elements(By.CSS_SELECTOR, f"#{element_id} audio"):
            return None
        links = page.find_elements(By.CSS_SELECTOR, f"#{element_id} a[download]")
        return links[0].get_attribute("href") if links else None

    return WebDriverWait(driver, timeout).until(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipelines", nargs="+", help="pipeline folders, or folders holding them (demo_output)")
    parser.add_argument("--model", default=None, help="the model to show (default: the first found)")
    parser.add_argument("--genre", default=None)
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/studio.png"))
    parser.add_argument("--height", type=int, default=1250, help="window height in pixels")
    arguments = parser.parse_args()
    reason = missing_browser()
    if reason:
        raise SystemExit(reason)

    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from audiodiff.ui.actions import Studio
    from audiodiff.ui.app import launch
    from audiodiff.ui.catalogue import Catalogue

    work = Path(tempfile.mkdtemp(prefix="audiodiff-screenshot-"))
    app = None
    try:
        port = free_port()
        app = launch(Studio(Catalogue(arguments.pipelines), work / "clips"), port=port, block=False, quiet=True)
        driver = chromium(work / "profile", height=arguments.height)
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            WebDriverWait(driver, 60).until(lambda page: page.find_element(By.ID, "model-info").text.strip())
            if arguments.model:
                choose(driver, "model", arguments.model)
                time.sleep(2)
            if arguments.genre:
                choose(driver, "genre", arguments.genre)
            set_number(driver, "seed", arguments.seed)
            set_number(driver, "count", arguments.clips)
            if arguments.seconds:
                set_number(driver, "seconds", arguments.seconds)
            driver.find_element(By.ID, "generate-button").click()
            player_file(driver, "generate-player", timeout=600)
            time.sleep(2)  # the gallery's pictures finish loading
            arguments.out.parent.mkdir(parents=True, exist_ok=True)
            screenshot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
            # 256 colours keep the README's picture small (about 100 KB instead of 300)
            screenshot.quantize(256, method=Image.Quantize.MEDIANCUT).save(arguments.out, optimize=True)
        finally:
            driver.quit()
    finally:
        if app is not None:
            app.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
