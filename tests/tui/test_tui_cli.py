"""`forklab learn`, `forklab serve`, and `forklab` alone."""
from __future__ import annotations

import os
import sys
from typing import ClassVar

import pytest

from forklab import cli


class FakeServer:
    made: ClassVar[list[FakeServer]] = []

    def __init__(self, command: str, *, host: str, port: int, max_sessions: int) -> None:
        self.command, self.host, self.port = command, host, port
        self.max_sessions = max_sessions
        self.served = False
        FakeServer.made.append(self)

    def serve(self) -> None:
        self.served = True


@pytest.fixture
def fake_server(monkeypatch):
    import forklab.serve

    FakeServer.made.clear()
    monkeypatch.setattr(forklab.serve, "ClassServer", FakeServer)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # an ordinary user: no --allow-root
    return FakeServer.made


def test_learn_an_unknown_lesson_is_a_usage_error(capsys):
    assert cli.main(["learn", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "forklab: no lesson 'nosuch' in the catalog" in err and "cow" in err


def test_learn_a_broken_lesson_file_says_where(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('id = "bad"\ntitle = "t"\nsummary = "s"\n[[step]]\ndo = "parent: frok"\n')
    assert cli.main(["learn", str(path)]) == 2
    assert "forklab: bad.toml:5:15 (step 1): unknown verb 'frok'" in capsys.readouterr().err


def test_learn_runs_the_app(monkeypatch):
    from forklab.tui.app import ForklabApp

    ran = []
    monkeypatch.setattr(ForklabApp, "run", lambda self: ran.append(self.start))
    assert cli.main(["learn", "cow"]) == 0
    assert ran and ran[0].id == "cow"
    assert cli.main(["learn"]) == 0
    assert ran[1] is None  # the catalog


def test_serve_binds_to_this_machine_by_default(fake_server):
    assert cli.main(["serve"]) == 0
    (server,) = fake_server
    assert server.served and server.host == "127.0.0.1" and server.port == 8000
    assert server.max_sessions == 30
    assert server.command.endswith("-m forklab learn")
    assert server.command.startswith(sys.executable)


def test_serve_with_host_port_and_lesson(fake_server):
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9001", "cow"]) == 0
    (server,) = fake_server
    assert (server.host, server.port) == ("0.0.0.0", 9001)
    assert server.command.endswith("-m forklab learn cow")


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_refuses_a_bad_port(port, fake_server, capsys):
    assert cli.main(["serve", "--port", port]) == 2
    assert not fake_server
    assert "--port" in capsys.readouterr().err


def test_forklab_alone_prints_help_when_not_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["forklab"])
    assert cli.main() == 0
    out = capsys.readouterr().out
    assert "learn" in out and "serve" in out


def test_forklab_alone_opens_the_catalog_on_a_terminal(monkeypatch):
    opened = []
    monkeypatch.setattr(sys, "argv", ["forklab"])
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(cli, "cmd_learn", lambda args: opened.append(args.lesson) or 0)
    assert cli.main() == 0
    assert opened == [None]
