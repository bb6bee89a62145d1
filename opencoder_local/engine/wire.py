"""The app and its model process talk in JSON lines over a socket pair: no pickle, either way."""

from __future__ import annotations

import json
import socket
import threading
from typing import Iterator

_RECV_BYTES = 1 << 16


class Channel:
    """One end of the socket pair; send() is safe from any thread, batches() from one reader."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._send_lock = threading.Lock()
        self._buffer = b""

    def send(self, message: dict) -> None:
        data = json.dumps(message).encode("ascii") + b"\n"  # ASCII escapes carry even lone surrogates
        with self._send_lock:
            self.sock.sendall(data)

    def batches(self) -> Iterator[list[dict]]:
        """Every message that has arrived, a list per read: when the reader falls behind, its batches grow.

        Ends when the other side is gone (end of file, or this end shut down)."""
        while True:
            try:
                data = self.sock.recv(_RECV_BYTES)
            except OSError:
                return
            if not data:
                return
            lines = (self._buffer + data).split(b"\n")
            self._buffer = lines.pop()
            if lines:
                yield [json.loads(line) for line in lines]

    def shutdown(self) -> None:
        """Wake a reader blocked in batches() and tell the other side we are gone."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
