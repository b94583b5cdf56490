"""Debian's headless Chromium driven over the DevTools protocol with aiohttp's websocket client: enough to
open a page, fill in and click what it shows, run a script in it, wait for what it shows and take a
screenshot. No browser download and no driver package: the protocol is JSON over one websocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"
# The flags that keep Chromium off the network it cannot reach here (updates, sync, QUIC probes): without
# them it opens many refused connections at every start.
FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root in the sandboxed session
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # any free port; Chromium writes it to DevToolsActivePort
    "--window-size=1600,1000",
)


class Page:
    """One tab: each call sends a command and waits for its answer. Protocol events are skipped, but for
    the page's errors once `watch_errors` is called: uncaught exceptions and console errors (a
    Content-Security-Policy violation among them), collected in `errors` as they are read."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.errors: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self._ids)
        await self._socket.send_str(json.dumps({"id": call, "method": method, "params": params}))
        async for message in self._socket:
            answer = json.loads(message.data)
            self._note_error(answer)
            if answer.get("id") == call:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer["result"])
        raise RuntimeError(f"{method}: the browser closed the connection")

    async def watch_errors(self) -> None:
        await self.send("Runtime.enable")
        await self.send("Log.enable")

    def _note_error(self, message: dict[str, Any]) -> None:
        params = message.get("params", {})
        if message.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif message.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(
                " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
            )
        elif message.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            # A refused request (a 401 a test asks for) is the network's report, not the page's error.
            if entry.get("source") != "network":
                self.errors.append(f"{entry.get('source')}: {entry.get('text')}")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        """The value of `expression` in the page (a promise is awaited)."""
        answer = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression[:80]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def set_value(self, selector: str, value: str) -> None:
        """Put `value` in the input or select at `selector`, with the events typing or choosing fires."""
        await self.evaluate(
            f"(() => {{ const field = {_found(selector)}; field.value = {json.dumps(value)};"
            " for (const kind of ['input', 'change'])"
            " field.dispatchEvent(new Event(kind, {bubbles: true})); })()"
        )

    async def click(self, selector: str) -> None:
        await self.evaluate(f"{_found(selector)}.click()")

    async def texts(self, selector: str) -> list[str]:
        """The text of each element at `selector` (the cells of a row: `tr[...] td`)."""
        found = await self.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}), node => node.textContent)"
        )
        return [str(text) for text in found]

    async def text(self) -> str:
        return str(await self.evaluate("document.body ? document.body.innerText : ''"))

    async def wait_until(self, expression: str, within: float) -> None:
        """Until `expression` is truthy in the page; TimeoutError (with the page's text) after `within` s."""
        try:
            async with asyncio.timeout(within):
                while not await self.evaluate(f"Boolean({expression})"):  # noqa: ASYNC110 (a page)
                    await asyncio.sleep(0.5)
        except TimeoutError:
            shown = await self.text()
            raise TimeoutError(
                f"{expression} not true within {within} s; the page shows {shown[:1500]!r}"
            ) from None

    async def wait_for_text(self, wanted: str, within: float) -> str:
        """The page's text once it shows `wanted`."""
        await self.wait_until(
            f"document.body && document.body.innerText.includes({json.dumps(wanted)})", within
        )
        return await self.text()

    async def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """A PNG of the window, or with `full_page` of the whole page however long it scrolls."""
        options: dict[str, Any] = {"format": "png"}
        if full_page:
            size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            options |= {"clip": clip, "captureBeyondViewport": True}
        shot = await self.send("Page.captureScreenshot", **options)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path


def _found(selector: str) -> str:
    """A script expression for the element at `selector`, which throws (a RuntimeError here) if none is."""
    quoted = json.dumps(selector)
    return f"(document.querySelector({quoted}) || (() => {{ throw new Error('nothing at ' + {quoted}); }})())"


async def _debugger_url(profile: Path, within: float = 30) -> str:
    """The page target's websocket, once Chromium has written its port to the profile."""
    port_file = profile / "DevToolsActivePort"
    async with asyncio.timeout(within):
        while not port_file.exists() or not port_file.read_text().strip():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                    pages = [t for t in await answer.json() if t["type"] == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def chromium(workdir: Path) -> AsyncIterator[Page]:
    """A headless Chromium with a fresh profile in `workdir`, stopped on exit; yields its one tab."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} missing: deploy/bootstrap.sh installs Debian's chromium package")
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with (workdir / "chromium.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=log, stderr=log
        )
        try:
            url = await _debugger_url(profile)
            async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as socket:
                page = Page(socket)
                await page.send("Page.enable")
                yield page
        finally:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
