"""forklab serve opens a lesson session only for a page of its own class: the
token it printed, the server's own origin, and at most --max-sessions at once."""
from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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


def _running(tmp_path: Path, max_sessions: int) -> Iterator[tuple[int, str]]:
    """A server's port and token, for as long as the caller runs."""
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port), "--max-sessions", str(max_sessions))
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
