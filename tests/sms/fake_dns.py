"""A fake resolver for the SMS gateways (``gateways.destinations._getaddrinfo``) and a guard against
connections anywhere but 127.0.0.1: fixtures ``dns`` and ``no_outside_connections`` (a plugin of
tests/conftest.py, for the gateway tests here and the channel tests in tests/api/sms/)."""

from __future__ import annotations

import socket

import pytest

from gridserve.sms import gateways

REAL_GETADDRINFO = socket.getaddrinfo


class FakeDns:
    """Answers for invented names (each call may answer differently); addresses and
    ``localhost`` are resolved for real (no network involved)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.calls: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        self.calls.append(host)
        answers = self.answers.get(host)
        if answers is None:
            if host.endswith(".test"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(gateways.destinations, "_getaddrinfo", fake)
    return fake


@pytest.fixture
def no_outside_connections(monkeypatch):
    """Fail the test if anything tries to connect anywhere but 127.0.0.1."""
    real = socket.socket.connect

    def guarded(sock, address):
        assert address[0] == "127.0.0.1", f"attempted connection to {address}"
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
