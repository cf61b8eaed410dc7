"""Take the README's screenshot of the server's web UI (``make screenshot``).

Starts ``lwm2m server`` and the sample client on loopback, opens the device's
page in Debian's headless Chromium, reads the Device object, observes the
temperature until the chart has a minute's worth of points, and saves the
window as a PNG (default ``docs/images/server-ui.png``)::

    .venv/bin/python tests/ui/make_screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from ui_stack import Stack, start_device, start_server, stop_device  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ENDPOINT = "greenhouse-sensor-7"


def main(output: Path) -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run `make deps` (as root) first", file=sys.stderr)
        return 1
    stack = Stack()
    try:
        server = stack.call(start_server())
        with tempfile.TemporaryDirectory() as tmp:
            device = stack.call(start_device(ENDPOINT, server.coap_uri, Path(tmp), drift=0.3))
            try:
                shoot(server.http, output)
            finally:
                stack.call(stop_device(device))
        stack.call(server.close())
    finally:
        stack.close()
    print(f"wrote {output}")
    return 0


def shoot(base: str, output: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1080})
            page.set_default_timeout(10_000)
            page.goto(f"{base}/#/device/{ENDPOINT}")
            device = page.locator('.node[data-path="/3/0"]')
            expect(device).to_have_count(1)
            page.locator('.node[data-path="/3"] > .line .toggle').click()
            page.select_option("#format", "SENML_CBOR")
            device.locator(":scope > .line .ops").get_by_role("button", name="Read").click()
            expect(device.locator(":scope > .result")).to_have_attribute(
                "data-status", "CONTENT(205)"
            )
            page.locator('.node[data-path="/3303"] > .line .toggle').click()
            page.locator('.node[data-path="/3303/0"] > .line .toggle').click()
            temperature = page.locator('.node[data-path="/3303/0/5700"] > .line .ops')
            temperature.get_by_role("button", name="Observe").click()
            series = page.locator('#chart g.series[data-series="/3303/0/5700"]')
            expect(series).to_have_count(1)
            deadline = time.monotonic() + 15
            while int(series.get_attribute("data-count") or 0) < 40:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            page.evaluate("window.scrollTo(0, 0); document.getElementById('tree').scrollTop = 0")
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
        finally:
            browser.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images/server-ui.png")
    sys.exit(main(target))
