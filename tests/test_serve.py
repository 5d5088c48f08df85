"""forklab serve opens a lesson session only for a page of its own class: the
token it printed, the server's own origin, and at most --max-sessions at once."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import forklab

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")

FORKLAB_HOME = Path(forklab.__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(FORKLAB_HOME), XDG_STATE_HOME=str(tmp_path))
    root = ["--allow-root"] if os.geteuid() == 0 else []
    return subprocess.Popen([sys.executable, "-m", "forklab", "serve", *root, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    yield from _running(tmp_path, max_sessions=1)


@pytest.fixture
def class_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    yield from _running(tmp_path, max_sessions=2)


def _running(tmp_path: Path, max_sessions: int, *more: str) -> Iterator[tuple[int, str]]:
    """A server's port and token, for as long as the caller runs."""
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port), "--max-sessions", str(max_sessions), *more)
    try:
        address = None
        deadline = time.monotonic() + 30
        while address is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "the server ended before it said where it serves"
            found = re.search(r"(http://\S+\?token=(\S+))", line)
            if found:
                address = found.group(2)
        assert address is not None
        while time.monotonic() < deadline:  # it says where before it listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port, address
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return response.status


async def _page(url: str) -> tuple[str, dict[str, str]]:
    """The page's text and the cookies it set (name -> its Set-Cookie header)."""
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return await response.text(), {name: morsel.OutputString()
                                       for name, morsel in response.cookies.items()}


def _learner(set_cookie: str) -> str:
    return set_cookie.split(";")[0].split("=", 1)[1]


async def _websocket(url: str, origin: str, learner: str | None = None) -> tuple[int, bytes]:
    """(the HTTP status of the upgrade, the first bytes the session sent)."""
    cookies = {"forklab_learner": learner} if learner is not None else None
    async with aiohttp.ClientSession(cookies=cookies) as client:
        try:
            async with client.ws_connect(url, headers={"Origin": origin}) as ws:
                message = await asyncio.wait_for(ws.receive(), 30)
                data = message.data if isinstance(message.data, bytes) else \
                    str(message.data).encode()
                return 101, data
        except aiohttp.WSServerHandshakeError as err:
            return err.status, b""


def test_pages_and_sessions_need_the_token_and_the_server_s_origin(server):
    port, token = server
    base = f"http://127.0.0.1:{port}"
    assert asyncio.run(_status(f"{base}/")) == 403
    assert asyncio.run(_status(f"{base}/?token=wrong")) == 403
    _, cookies = asyncio.run(_page(f"{base}/?token={token}"))
    learner = _learner(cookies["forklab_learner"])
    ws = f"ws://127.0.0.1:{port}/ws/{token}?width=80&height=24"
    assert asyncio.run(_websocket(f"ws://127.0.0.1:{port}/ws/wrong", base, learner))[0] == 404
    assert asyncio.run(_websocket(ws, "http://evil.example", learner))[0] == 403
    status, first = asyncio.run(_websocket(ws, base, learner))
    assert status == 101 and first  # a lesson player started and spoke


def test_each_browser_gets_a_learner_id_and_a_progress_file_of_its_own(class_server, tmp_path):
    port, token = class_server
    base = f"http://127.0.0.1:{port}"
    _, first = asyncio.run(_page(f"{base}/?token={token}"))
    _, second = asyncio.run(_page(f"{base}/?token={token}"))
    one, two = _learner(first["forklab_learner"]), _learner(second["forklab_learner"])
    assert re.fullmatch(r"[0-9a-f]{32}", one) and one != two
    assert "HttpOnly" in first["forklab_learner"] and "SameSite=Strict" in first["forklab_learner"]
    ws = f"ws://127.0.0.1:{port}/ws/{token}?width=80&height=24"
    assert asyncio.run(_websocket(ws, base))[0] == 403  # no learner id: reload the page
    assert asyncio.run(_websocket(ws, base, "../../etc/passwd"))[0] == 403

    async def players() -> list[str]:
        """The command lines of the lesson players while both browsers are connected."""
        async with aiohttp.ClientSession(cookies={"forklab_learner": one}) as a, \
                aiohttp.ClientSession(cookies={"forklab_learner": two}) as b, \
                a.ws_connect(ws, headers={"Origin": base}) as wa, \
                b.ws_connect(ws, headers={"Origin": base}) as wb:
            await asyncio.wait_for(wa.receive(), 30)
            await asyncio.wait_for(wb.receive(), 30)
            return _commands_with("learn")

    found = asyncio.run(players())
    assert [c for c in found if f"{tmp_path}/forklab/class/{one}.json" in c]
    assert [c for c in found if f"{tmp_path}/forklab/class/{two}.json" in c]


def _commands_with(word: str) -> list[str]:
    """The command lines of this user's processes that run forklab with ``word``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"forklab" in argv and word.encode() in argv:
            found.append(" ".join(a.decode(errors="replace") for a in argv))
    return found


def test_the_page_has_a_title_and_asks_nothing_of_other_sites(server):
    port, token = server
    base = f"http://127.0.0.1:{port}"
    page, _ = asyncio.run(_page(f"{base}/?token={token}"))
    assert "<title>forklab</title>" in page
    addresses = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)|url\(["']?([^"')]+)""", page)
    assert addresses
    for address in (a or b for a, b in addresses):
        assert address.startswith((base, "/", "#")), address


def test_sessions_are_capped(server):
    port, token = server
    base = f"http://127.0.0.1:{port}"
    _, cookies = asyncio.run(_page(f"{base}/?token={token}"))
    learner = _learner(cookies["forklab_learner"])
    ws = f"ws://127.0.0.1:{port}/ws/{token}?width=80&height=24"

    async def two() -> tuple[int, int]:
        async with aiohttp.ClientSession(cookies={"forklab_learner": learner}) as client, \
                client.ws_connect(ws, headers={"Origin": base}) as first:
            await asyncio.wait_for(first.receive(), 30)
            second = await _websocket(ws, base, learner)
            return 101, second[0]

    assert asyncio.run(two()) == (101, 503)


def test_a_port_in_use_is_a_clear_error(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _serve(tmp_path, "--port", str(taken.getsockname()[1]))
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "cannot serve on 127.0.0.1" in err and "Traceback" not in err


def test_root_is_refused_unless_asked(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("only root is refused")
    env = dict(os.environ, PYTHONPATH=str(FORKLAB_HOME))
    done = subprocess.run([sys.executable, "-m", "forklab", "serve", "--port",
                           str(_free_port())], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 2 and "refuses to run as root" in done.stderr


# -- in a real browser ----------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless Chromium driven over the DevTools protocol (no driver program needed):
    a browser context per student, as two people on two machines would be."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.calls = 0
        self.requests: list[str] = []  # every URL any page asked for

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        self.calls += 1
        message: dict[str, Any] = {"id": self.calls, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send_json(message)
        while True:
            reply = await asyncio.wait_for(self.ws.receive_json(), 60)
            if reply.get("method") == "Network.requestWillBeSent":
                self.requests.append(reply["params"]["request"]["url"])
            elif reply.get("method") == "Network.webSocketCreated":
                self.requests.append(reply["params"]["url"])
            if reply.get("id") == self.calls:
                assert "error" not in reply, reply
                return reply.get("result")

    async def open(self, url: str) -> str:
        """A page in a new browser context (its own cookies); its session id."""
        context = (await self.call("Target.createBrowserContext"))["browserContextId"]
        target = (await self.call("Target.createTarget", url="about:blank",
                                  browserContextId=context))["targetId"]
        session = (await self.call("Target.attachToTarget", targetId=target,
                                   flatten=True))["sessionId"]
        await self.call("Network.enable", session)
        await self.call("Page.navigate", session, url=url)
        return session

    async def click(self, session: str, x: int, y: int) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", session, type=kind, x=x, y=y,
                            button="left", clickCount=1)

    async def keys(self, session: str, text: str) -> None:
        for key in text:
            code = "Enter" if key == "\r" else key
            await self.call("Input.dispatchKeyEvent", session, type="keyDown", key=code,
                            text=key, windowsVirtualKeyCode=13 if key == "\r" else 0)
            await self.call("Input.dispatchKeyEvent", session, type="keyUp", key=code)
            await asyncio.sleep(0.3)


async def _with_chromium(test: Callable[[Browser], Awaitable[None]], tmp_path: Path) -> None:
    port = _free_port()
    profile = tmp_path / "chromium-profile"
    chrome = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
         "--window-size=1100,700", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as client:
            address = None
            for _ in range(300):
                try:
                    async with client.get(f"http://127.0.0.1:{port}/json/version") as r:
                        address = (await r.json())["webSocketDebuggerUrl"]
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            assert address is not None, "Chromium did not start its DevTools endpoint"
            async with client.ws_connect(address, max_msg_size=0) as ws:
                await test(Browser(ws))
    finally:
        chrome.kill()
        chrome.wait()


def _furthest(class_dir: Path) -> int:
    """The furthest step any browser's progress file records for fork-basics."""
    found = 0
    for path in class_dir.glob("*.json"):
        try:
            found = max(found, json.loads(path.read_text())["lessons"]["fork-basics"]["furthest"])
        except (OSError, ValueError, KeyError):
            continue
    return found


def _answers(path: Path) -> dict[str, Any]:
    """The answers a progress file records, lesson by lesson ({} if there is none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {lesson: entry.get("answers") for lesson, entry in data.get("lessons", {}).items()
            if entry.get("answers")}


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (install Debian's chromium "
                                             "package; .ci/run does where it can)")
def test_two_browsers_answer_and_progress_apart(tmp_path: Path) -> None:
    """A student answers a question in one browser; another browser's student starts
    from nothing, and the page asks nothing of any other site."""
    running = _running(tmp_path, 2, "fork-basics")
    port, token = next(running)
    page = f"http://127.0.0.1:{port}/?token={token}"
    class_dir = tmp_path / "forklab" / "class"

    browser_requests: list[str] = []

    async def students(browser: Browser) -> None:
        browser.requests = browser_requests
        first = await browser.open(page)
        deadline = time.monotonic() + 120
        while _furthest(class_dir) < 3 and time.monotonic() < deadline:
            await browser.click(first, 700, 300)  # the terminal takes the keys,
            await browser.keys(first, "n")  # once the player is drawn
            await asyncio.sleep(1)
        await browser.keys(first, "a7\r")  # step 3's question, answered (7: wrong or not)
        while not any(map(_answers, class_dir.glob("*.json"))) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        second = await browser.open(page)
        while len(list(class_dir.glob("*.json"))) < 2 and time.monotonic() < deadline:
            await browser.click(second, 700, 300)
            await browser.keys(second, "n")  # the second student takes a step too
            await asyncio.sleep(1)

    try:
        asyncio.run(_with_chromium(students, tmp_path))
        files = sorted(class_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
        answered = [p for p in files if _answers(p)]
        assert len(answered) == 1 and "fork-basics" in _answers(answered[0])
        assert len(files) == 2, "the second browser's session kept no progress file"
        assert [url for url in browser_requests if not url.startswith(
            (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/"))] == []
    finally:
        next(running, None)
