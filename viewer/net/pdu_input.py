"""PDUs read from an association's socket through one reused buffer (PS3.8 9.3.1).

pynetdicom reads a PDU as its header, then its body, each with calls of its own. During a
retrieve that is some fifteen ``recv`` calls per instance, and each one hands the GIL to
whichever thread wants it (the store's import, on the receiver's worker): the network
thread then waits for it to come back. :class:`PduInput` asks the socket for as much as
it holds, usually several PDUs at once, and hands them out one by one as views of its
buffer.
"""

from __future__ import annotations

import mmap
import socket
import struct

_HEADER = struct.Struct(">BBL")  # PS3.8 9.3.1: PDU type, reserved, PDU length
# Room for the largest PDU Lightbox accepts by default (its maximum PDU length, 4 MiB) and
# its header; a larger one, which a peer may send only if told it can, is read on its own.
CAPACITY = 4 * 1024 * 1024 + 64 * 1024
# Private anonymous memory where the platform names it (POSIX); mmap's default there is a
# shared mapping, backed by shmem. Windows maps anonymous memory privately anyway.
_PRIVATE = ({"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS}
            if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS") else {})


class PduInput:
    """Bytes received from one association and not yet handed out.

    Views returned by :meth:`next_pdu` are valid until the next call to this object.
    """

    __slots__ = ("_buffer", "_end", "_start", "_view")

    def __init__(self, capacity: int = CAPACITY) -> None:
        # Anonymous memory, not a bytearray: the kernel gives zero pages as they are first
        # written, where bytearray() zeroes all 4 MiB at once (0.3-2 ms for every
        # association opened or accepted, most of which only ever carry a few PDUs).
        self._buffer = mmap.mmap(-1, capacity, **_PRIVATE)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0

    @property
    def pending(self) -> int:
        """Bytes received and not yet handed out."""
        return self._end - self._start

    def take(self, size: int) -> bytes:
        """Up to ``size`` bytes already received (pynetdicom's own reads come here first)."""
        count = min(size, self._end - self._start)
        data = bytes(self._view[self._start:self._start + count])
        self._consumed(count)
        return data

    def next_pdu(self, sock: socket.socket, *, wait: bool) -> memoryview | None:
        """The next whole PDU, header included.

        With ``wait`` false, None at once when nothing of it has arrived; once a PDU has
        begun, this blocks until it is whole, as pynetdicom's reads do.

        Raises
        ------
        ConnectionError
            The peer closed the connection before the PDU was whole.
        OSError
            The socket failed.
        """
        if self._end == self._start:
            self._start = self._end = 0
            try:
                if not self._fill(sock, 0 if wait else socket.MSG_DONTWAIT):
                    raise ConnectionError("the peer closed the connection")
            except BlockingIOError:
                return None
        self._need(sock, 6)
        (length,) = struct.unpack_from(">L", self._buffer, self._start + 2)
        total = 6 + length
        if total > len(self._buffer):
            return self._oversized(sock, total)
        self._need(sock, total)
        pdu = self._view[self._start:self._start + total]
        self._consumed(total)
        return pdu

    def _need(self, sock: socket.socket, size: int) -> None:
        """Block until ``size`` bytes from the start are in the buffer."""
        if self._start + size > len(self._buffer):
            # The PDU would run past the end: move what is left of the data to the front.
            rest = bytes(self._view[self._start:self._end])
            self._buffer[:len(rest)] = rest
            self._start, self._end = 0, len(rest)
        while self._end - self._start < size:
            if not self._fill(sock, 0):
                raise ConnectionError("the peer closed the connection mid-PDU")

    def _fill(self, sock: socket.socket, flags: int) -> int:
        got = sock.recv_into(self._view[self._end:], len(self._buffer) - self._end, flags)
        self._end += got
        return got

    def _oversized(self, sock: socket.socket, total: int) -> memoryview:
        """A PDU larger than the buffer, in a buffer of its own."""
        whole = bytearray(total)
        have = self._end - self._start
        whole[:have] = self._view[self._start:self._end]
        self._start = self._end = 0
        view = memoryview(whole)
        while have < total:
            got = sock.recv_into(view[have:], total - have)
            if not got:
                raise ConnectionError("the peer closed the connection mid-PDU")
            have += got
        return view

    def _consumed(self, count: int) -> None:
        self._start += count
        if self._start == self._end:
            self._start = self._end = 0
