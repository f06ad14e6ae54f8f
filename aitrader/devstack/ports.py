"""Port checks that fail with a message naming the port and the variable that chose it."""

from __future__ import annotations

import socket

from aitrader.errors import ConfigurationError


def ensure_port_free(port: int, variable: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do: connections of an earlier server lingering in TIME_WAIT do not hold
        # the port, a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            raise ConfigurationError(
                f"port {port} on {host} is already in use (set by {variable}): "
                f"stop what holds it or choose another port with {variable}"
            ) from e


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (for tests and ephemeral servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
