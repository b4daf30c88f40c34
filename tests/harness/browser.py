"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol, for the
dashboard's browser tests and the benchmark's page timing: navigation, script
evaluation, real mouse, touch and keyboard input, screenshots, PDF printing and
downloads. JavaScript exceptions and console errors are collected in `errors`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests
import websocket


def chromium_binary() -> str:
    for candidate in (os.environ.get("CHROMIUM_BIN"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("chromium not found: apt-get install -y chromium (or set CHROMIUM_BIN)")


class Browser:
    """One headless Chromium with one page."""

    WIDTH, HEIGHT = 1440, 1000

    def __init__(self, work: Path):
        self.work = work
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=work))
        self.log = open(work / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"chromium did not start: {(work / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        pages = []
        while not pages and time.time() < deadline:
            pages = [t for t in requests.get(f"http://127.0.0.1:{self.port}/json/list", timeout=5).json()
                     if t["type"] == "page"]
            time.sleep(0.1)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.errors: list[str] = []
        self.events: list[dict] = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.viewport(self.WIDTH, self.HEIGHT)

    # ---- protocol -------------------------------------------------------------------

    def _note(self, msg: dict) -> None:
        method = msg.get("method")
        if method == "Runtime.exceptionThrown":
            d = msg["params"]["exceptionDetails"]
            text = (d.get("exception") or {}).get("description") or d.get("text", "exception")
            self.errors.append(text)
        elif method == "Runtime.consoleAPICalled" and msg["params"].get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in msg["params"]["args"]))
        elif method:
            self.events.append(msg)
            del self.events[:-500]

    def call(self, method: str, **params):
        self.next_id += 1
        me = self.next_id
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._note(msg)

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True,
                      userGesture=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}…: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expression: str, timeout: float = 30.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expression)
                if last:
                    return last
            except RuntimeError:
                pass  # a navigation replaced the context; try again
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression!r} (last {last!r})")

    # ---- page ---------------------------------------------------------------------------

    def goto(self, url: str) -> None:
        # Via a blank page, so a URL that differs only in its fragment still loads anew.
        self.call("Page.navigate", url="about:blank")
        self.wait("document.readyState === 'complete' && location.href === 'about:blank'")
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'")

    def viewport(self, width: int, height: int, mobile: bool = False, touch: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=mobile)
        self.call("Emulation.setTouchEmulationEnabled", enabled=touch, maxTouchPoints=5 if touch else 1)

    def center(self, selector: str) -> tuple[float, float]:
        """The viewport coordinates of an element's centre, scrolled into view."""
        box = self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: 'center', inline: 'center'}});
            const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        return box[0], box[1]

    def click(self, x: float, y: float) -> None:
        """A real left click (pressed and released) at viewport coordinates."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", clickCount=1)

    def tap(self, x: float, y: float) -> None:
        """A finger tap at viewport coordinates."""
        self.call("Input.dispatchTouchEvent", type="touchStart", touchPoints=[{"x": x, "y": y}])
        self.call("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])

    KEYS = {
        "Tab": (9, "Tab"), "Enter": (13, "Enter"), "Escape": (27, "Escape"), "Space": (32, "Space"),
        "ArrowDown": (40, "ArrowDown"), "ArrowUp": (38, "ArrowUp"),
    }

    def key(self, name: str, shift: bool = False) -> None:
        code, key_code = self.KEYS[name]
        text = {"Enter": "\r", "Space": " "}.get(name)
        key = " " if name == "Space" else name
        mods = 8 if shift else 0
        down = {"type": "keyDown", "key": key, "code": key_code, "windowsVirtualKeyCode": code, "modifiers": mods}
        if text:
            down["text"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key_code, windowsVirtualKeyCode=code,
                  modifiers=mods)

    def chart_point(self, name: str, dataset: int, index: int) -> tuple[float, float]:
        """Viewport coordinates of the middle of one element (bar segment, point) of the
        chart `window.tollgate.charts[name]`, scrolled into view."""
        return tuple(self.eval(f"""(() => {{
            const chart = window.tollgate.charts[{json.dumps(name)}];
            chart.canvas.scrollIntoView({{block: 'center'}});
            const el = chart.getDatasetMeta({dataset}).data[{index}];
            const p = el.getProps(['x', 'y', 'base', 'horizontal'], true);
            const r = chart.canvas.getBoundingClientRect();
            const horizontal = chart.options.indexAxis === 'y';
            const x = horizontal ? (p.x + p.base) / 2 : p.x;
            const y = horizontal ? p.y : (p.base === undefined ? p.y : (p.y + p.base) / 2);
            return [r.left + x, r.top + y];
        }})()"""))

    def chart_center(self, name: str) -> tuple[float, float]:
        """Viewport coordinates of the middle of a chart's plot area, scrolled into view."""
        return tuple(self.eval(f"""(() => {{
            const chart = window.tollgate.charts[{json.dumps(name)}];
            chart.canvas.scrollIntoView({{block: 'center'}});
            const a = chart.chartArea, r = chart.canvas.getBoundingClientRect();
            return [r.left + (a.left + a.right) / 2, r.top + (a.top + a.bottom) / 2];
        }})()"""))

    def screenshot(self, path: Path, full: bool = True) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        width = self.eval("window.innerWidth") or self.WIDTH
        if full:
            height = self.eval("Math.ceil(document.documentElement.scrollHeight)") or self.HEIGHT
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=min(int(height), 8000),
                      deviceScaleFactor=1, mobile=width < 600)
            time.sleep(0.3)  # let the charts resize to the new viewport
        data = self.call("Page.captureScreenshot", format="png")["data"]
        if full:
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=self.HEIGHT if width >= 600 else 844,
                      deviceScaleFactor=1, mobile=width < 600)
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self, path: Path) -> bytes:
        """Prints the page as the browser's "Save as PDF" does (print media, A4)."""
        data = base64.b64decode(self.call("Page.printToPDF", printBackground=True, paperWidth=8.27,
                                          paperHeight=11.69, preferCSSPageSize=True)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def downloads_to(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(directory), eventsEnabled=True)

    def grant_clipboard(self, origin: str) -> None:
        self.call("Browser.grantPermissions", origin=origin,
                  permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])

    def sign_out(self) -> None:
        self.call("Network.clearBrowserCookies")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            self.log.close()
