"""The sockets a process listens on, read from ``/proc`` (Linux).

Servers promfuzz starts are told to bind 127.0.0.1 on port 0; some (VictoriaMetrics) do
not say which port the OS picked, and every one must bind loopback only. Both are
answered here from the kernel's own tables: ``/proc/<pid>/fd`` names the socket inodes
the process holds, ``/proc/<pid>/net/{tcp,tcp6,udp,udp6}`` lists sockets with their
local address and state. Nothing is started, nothing is guessed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TCP_LISTEN = "0A"
_UDP_UNCONN = "07"  # a bound UDP socket (what a UDP listener looks like)


@dataclass(frozen=True)
class Listener:
    proto: str  # tcp | tcp6 | udp | udp6
    ip: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.ip).is_loopback

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.proto} {host}:{self.port}"


def _decode_addr(hexaddr: str, v6: bool) -> tuple[str, int]:
    ip_hex, port_hex = hexaddr.split(":")
    raw = bytes.fromhex(ip_hex)
    if v6:
        # four 32-bit words, each in host (little-endian) order
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        ip = str(ipaddress.IPv6Address(raw))
    else:
        ip = str(ipaddress.IPv4Address(raw[::-1]))
    return ip, int(port_hex, 16)


def socket_inodes(pid: int) -> set[str]:
    out: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except OSError:
        return out
    for fd in entries:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:[") : -1])
    return out


def listeners(pid: int) -> list[Listener]:
    """Every TCP socket in LISTEN state and every bound UDP socket that ``pid`` holds."""
    inodes = socket_inodes(pid)
    found: list[Listener] = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{proto}")
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[9] not in inodes:
                continue
            state = f[3]
            if (proto.startswith("tcp") and state != _TCP_LISTEN) or (proto.startswith("udp") and state != _UDP_UNCONN):
                continue
            ip, port = _decode_addr(f[1], proto.endswith("6"))
            found.append(Listener(proto, ip, port))
    return sorted(set(found), key=lambda x: (x.proto, x.ip, x.port))


def non_loopback(pid: int) -> list[Listener]:
    return [x for x in listeners(pid) if not x.loopback]


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a server promfuzz starts get SIGTERM when the process
    that started it dies (Linux ``PR_SET_PDEATHSIG``): a campaign killed by a second
    Ctrl-C, a crash or ``kill -9`` then leaves no server running under PID 1. Stopping by
    PID stays the normal path. The signal follows the starting *thread*, so it is only set
    for servers started from the main thread (None otherwise, and off Linux)."""
    import ctypes
    import ctypes.util
    import sys
    import threading

    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def pre() -> None:  # runs in the child between fork and exec: no locks, no allocation to speak of
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return pre


def stop_by_pid(proc: subprocess.Popen[bytes] | None, wait_s: float = 10.0) -> None:
    """SIGTERM a server we started, by its PID; SIGKILL it if it is not gone in ``wait_s``."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class ServerProcess:
    """What every server promfuzz starts shares once it runs: stop by PID (clearing what
    :meth:`_forget` names), a temp folder whose ``data-*`` dirs go with each stop and
    which goes with :meth:`close`, and its log. Subclasses start ``self._proc`` with
    ``preexec_fn=die_with_parent()``, logging to ``self._log_path``."""

    STOP_WAIT_S = 10.0

    _proc: subprocess.Popen[bytes] | None
    _log: Any
    _log_path: Path | None
    _tmp: str | None

    def _forget(self) -> None:
        """Clear the running server's addresses (called by :meth:`stop`)."""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, wait_s: float | None = None) -> None:
        import shutil

        stop_by_pid(self._proc, self.STOP_WAIT_S if wait_s is None else wait_s)
        self._proc = None
        self._forget()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            for d in Path(self._tmp).glob("data-*"):
                shutil.rmtree(d, ignore_errors=True)

    def close(self) -> None:
        import shutil

        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def log_tail(self, n: int = 3000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_bytes()[-n:].decode("utf-8", "replace")

    def exit_description(self) -> str:
        from promfuzz.engines.host import describe_exit

        return "not started" if self._proc is None else describe_exit(self._proc.poll())
