"""A real headless Chromium for the tests: Debian's ``chromium`` and ``chromedriver``, driven by
Selenium, with exact viewport sizes (CDP), colour-scheme emulation and DOM measurements.

Browsers cannot be downloaded here, so Selenium is always given Debian's binaries (it never
looks for, or fetches, one of its own). Install them with
``apt-get install -y chromium chromium-driver``.

    with Browser.start() as browser:
        browser.viewport(1000, 1400)
        browser.load(path)
        assert browser.scroll_width() <= browser.inner_width()
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in a container: the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",  # screenshots and innerWidth without a scrollbar's width
)
# The luminance and contrast ratio of WCAG 2, and each text's effective background, in the page.
_CONTRAST_JS = """
const lum = (c) => {
  const [r, g, b] = c.map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
const background = (el) => {
  for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  const canvas = rgb(getComputedStyle(document.documentElement).color);
  return lum(canvas) > 0.5 ? [0, 0, 0] : [255, 255, 255];  // the canvas opposes its text
};
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (!node.textContent.trim()) continue;
  const el = node.parentElement;
  const fg = rgb(getComputedStyle(el).color).slice(0, 3), bg = background(el);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  out.push({text: node.textContent.trim().slice(0, 60), tag: el.tagName, cls: el.className,
            ratio: (a + 0.05) / (b + 0.05)});
}
return out;
"""


class BrowserUnavailable(RuntimeError):
    """Chromium or its driver is missing, or would not start; the message says which."""


def unavailable_reason() -> str | None:
    """Why no browser can be started here, or None when both binaries are installed."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        return f"{' and '.join(missing)} not installed ({INSTALL})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


class Browser:
    """One headless Chromium with a fresh profile; close it (or use ``with``) when done."""

    def __init__(self, driver: Any, profile: Path) -> None:
        self.driver = driver
        self._profile = profile

    @classmethod
    def start(cls) -> Browser:
        """Start Chromium; raises :class:`BrowserUnavailable` saying why it could not."""
        reason = unavailable_reason()
        if reason is not None:
            raise BrowserUnavailable(reason)
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service

        profile = Path(tempfile.mkdtemp(prefix="lognotify-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1000,1400"):
            options.add_argument(flag)
        service = Service(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL)
        try:
            driver = webdriver.Chrome(options=options, service=service)
        except WebDriverException as exc:
            shutil.rmtree(profile, ignore_errors=True)
            first = (exc.msg or str(exc)).strip().splitlines()[:1]
            raise BrowserUnavailable(f"chromium would not start: {' '.join(first)}") from None
        return cls(driver, profile)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Quit Chromium and remove its profile."""
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def cdp(self, command: str, **params: object) -> Any:
        """Send one Chrome DevTools Protocol command."""
        return self.driver.execute_cdp_cmd(command, params)

    def viewport(self, width: int, height: int, *, dark: bool = False) -> None:
        """Make the viewport (not the window) exactly ``width`` x ``height`` CSS pixels, at
        scale 1, and the preferred colour scheme dark or light."""
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        scheme = "dark" if dark else "light"
        self.cdp(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )

    def load(self, path: Path) -> None:
        """Open a local file; returns once it is loaded."""
        self.driver.get(path.resolve().as_uri())
        self.js("window.scrollTo(0, 0)")

    def js(self, script: str, *args: object) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page."""
        return self.driver.execute_script(script, *args)

    def inner_size(self) -> tuple[int, int]:
        """``window.innerWidth`` and ``innerHeight``."""
        width, height = self.js("return [window.innerWidth, window.innerHeight]")
        return int(width), int(height)

    def inner_width(self) -> int:
        """``window.innerWidth``."""
        return self.inner_size()[0]

    def scroll_width(self) -> int:
        """``document.documentElement.scrollWidth``: more than innerWidth when the page
        scrolls sideways."""
        return int(self.js("return document.documentElement.scrollWidth"))

    def rects(self, selector: str) -> list[dict[str, float]]:
        """``getBoundingClientRect()`` of every element ``selector`` matches, in order."""
        return list(
            self.js(
                "return [...document.querySelectorAll(arguments[0])].map((el) => {"
                " const r = el.getBoundingClientRect();"
                " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,"
                " width: r.width, height: r.height}; })",
                selector,
            )
        )

    def rect(self, selector: str) -> dict[str, float]:
        """The rectangle of the first element ``selector`` matches (AssertionError if none)."""
        found = self.rects(selector)
        assert found, f"no element matches {selector!r}"
        return found[0]

    def count(self, selector: str) -> int:
        """How many elements ``selector`` matches."""
        return int(self.js("return document.querySelectorAll(arguments[0]).length", selector))

    def texts(self, selector: str) -> list[str]:
        """The ``textContent`` of every element ``selector`` matches."""
        return list(
            self.js(
                "return [...document.querySelectorAll(arguments[0])].map((el) => el.textContent)",
                selector,
            )
        )

    def strip_styles(self) -> None:
        """Remove every ``<style>`` element, as mail clients that keep only inline styles do."""
        self.js("document.querySelectorAll('style').forEach((el) => el.remove())")

    def contrasts(self) -> list[dict[str, Any]]:
        """Each visible text node: its text, its element's tag and class, and the WCAG
        contrast ratio of its colour against its effective background."""
        return list(self.js(_CONTRAST_JS))

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """Save the viewport (or the whole page) as a PNG at ``path``."""
        import base64

        params: dict[str, object] = {"format": "png"}
        if full_page:
            width, height = self.js(
                "return [document.documentElement.scrollWidth,"
                " document.documentElement.scrollHeight]"
            )
            clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            params.update(captureBeyondViewport=True, clip=clip)
        data = self.cdp("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
