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
from collections.abc import Callable

_HEADER = struct.Struct(">BBL")  # PS3.8 9.3.1: PDU type, reserved, PDU length
# Room for the largest PDU Lightbox accepts by default (its maximum PDU length, 4 MiB) and
# its header; a larger one, which a peer may send only if told it can, is read on its own.
CAPACITY = 4 * 1024 * 1024 + 64 * 1024
# Private anonymous memory where the platform names it (POSIX); mmap's default there is a
# shared mapping, backed by shmem. Windows maps anonymous memory privately anyway.
_PRIVATE = ({"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS}
            if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS") else {})
# A PDU larger than the buffer is gathered in pieces of this size, so that memory follows
# the bytes that really arrive, not the length a peer announces.
_PIECE = 1024 * 1024
PDU_NAMES = {0x01: "A-ASSOCIATE-RQ", 0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ",
              0x04: "P-DATA-TF", 0x05: "A-RELEASE-RQ", 0x06: "A-RELEASE-RP", 0x07: "A-ABORT"}


class PduTooLargeError(ValueError):
    """A peer announced a PDU longer than Lightbox reads (PS3.8 9.3.1)."""

    def __init__(self, pdu_type: int, length: int, limit: int, head: bytes = b"") -> None:
        name = PDU_NAMES.get(pdu_type, f"type 0x{pdu_type:02X}")
        super().__init__(f"{name} PDU of {length} bytes announced, more than the "
                         f"{limit} bytes Lightbox reads")
        self.pdu_type, self.length, self.limit = pdu_type, length, limit
        self.head = head  # the first bytes received of it: not DICOM at all, often


class PeerClosedError(ConnectionError):
    """The peer closed the connection between two PDUs.

    This is how an association ends after a release or an abort (PS3.8 9.1.1, Sta13),
    so it is not itself an error; a close in the middle of a PDU is a plain
    ConnectionError.
    """


class StreamGivenUpError(ConnectionError):
    """A read after the stream was given up: the PDU that could not be read was reported
    when it failed, and nothing after it can be framed."""


class PduInput:
    """Bytes received from one association and not yet handed out.

    Views returned by :meth:`next_pdu` are valid until the next call to this object.
    """

    __slots__ = ("_buffer", "_end", "_refused", "_start", "_view")

    def __init__(self, capacity: int = CAPACITY) -> None:
        # Anonymous memory, not a bytearray: the kernel gives zero pages as they are first
        # written, where bytearray() zeroes all 4 MiB at once (0.3-2 ms for every
        # association opened or accepted, most of which only ever carry a few PDUs).
        self._buffer = mmap.mmap(-1, capacity, **_PRIVATE)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0
        self._refused = False

    def feed(self, data: bytes) -> None:
        """Hand out ``data`` first: bytes of this connection read before it was handed over.

        The storage SCP reads a connection's A-ASSOCIATE-RQ itself, against its ARTIM
        deadline (PS3.8 9.1.5), before the association's threads exist. Only for an input
        that has handed out nothing yet; a request larger than the buffer (up to the
        control PDU limit, a few MiB at most) gets a buffer its size, whose pages cost
        only what is written.
        """
        if self._end != self._start or self._refused:
            raise ValueError("bytes can only be fed to an unused PDU input")
        if len(data) > len(self._buffer):
            self._buffer = mmap.mmap(-1, len(data), **_PRIVATE)
            self._view = memoryview(self._buffer)
        self._buffer[:len(data)] = data
        self._start, self._end = 0, len(data)

    @property
    def pending(self) -> int:
        """Bytes received and not yet handed out."""
        return self._end - self._start

    def next_pdu(self, sock: socket.socket, *, wait: bool,
                 limit: Callable[[int], int | None] | None = None) -> memoryview | None:
        """The next whole PDU, header included.

        With ``wait`` false, None at once when nothing of it has arrived; once a PDU has
        begun, this blocks until it is whole, as pynetdicom's reads do.

        Parameters
        ----------
        sock : socket.socket
            The association's socket.
        wait : bool
            Whether to wait for a PDU to begin.
        limit : callable, optional
            Given a PDU type, the longest PDU body (bytes after its 6-byte header) to
            read, or None for no limit.

        Raises
        ------
        PduTooLargeError
            The PDU is longer than ``limit`` allows; nothing more of it is read. After
            this, or any error once a PDU has begun, every later call raises
            ConnectionError: the rest of the stream cannot be framed.
        PeerClosedError
            The peer closed (or reset) the connection before a next PDU began.
        StreamGivenUpError
            An earlier call failed: that failure was the one to report.
        ConnectionError
            The peer closed the connection before the PDU was whole.
        TimeoutError
            The PDU had begun and the socket's receive timeout (``SO_RCVTIMEO``, set by
            :func:`viewer.net.fastpath.set_nodelay`) passed without another byte.
        OSError
            The socket failed.
        """
        if self._refused:
            raise StreamGivenUpError("the stream was given up after a PDU that could not be "
                                     "read")
        if self._end == self._start:
            self._start = self._end = 0
            try:
                if not self._fill(sock, 0 if wait else socket.MSG_DONTWAIT):
                    raise PeerClosedError("the peer closed the connection")
            except BlockingIOError:
                return None
            except ConnectionResetError as exc:
                # Between PDUs a reset is a close too: a peer that closes after our
                # A-ABORT or A-ASSOCIATE-RJ with bytes of it unread resets the connection.
                raise PeerClosedError("the peer reset the connection") from exc
        try:
            return self._rest_of_pdu(sock, limit)
        except OSError:
            self._give_up()  # the rest of the stream cannot be framed
            raise

    def _rest_of_pdu(self, sock: socket.socket,
                     limit: Callable[[int], int | None] | None) -> memoryview:
        self._need(sock, 6)
        (length,) = struct.unpack_from(">L", self._buffer, self._start + 2)
        if limit is not None:
            pdu_type = self._buffer[self._start]
            most = limit(pdu_type)
            if most is not None and length > most:
                head = bytes(self._view[self._start:min(self._end, self._start + 32)])
                self._give_up()
                raise PduTooLargeError(pdu_type, length, most, head)
        total = 6 + length
        if total > len(self._buffer):
            return self._oversized(sock, total)
        self._need(sock, total)
        pdu = self._view[self._start:self._start + total]
        self._consumed(total)
        return pdu

    def _give_up(self) -> None:
        self._refused = True
        self._start = self._end = 0

    def _need(self, sock: socket.socket, size: int) -> None:
        """Block until ``size`` bytes from the start are in the buffer."""
        if self._start + size > len(self._buffer):
            # The PDU would run past the end: move what is left of the data to the front.
            rest = bytes(self._view[self._start:self._end])
            self._buffer[:len(rest)] = rest
            self._start, self._end = 0, len(rest)
        while self._end - self._start < size:
            if not self._fill_rest(sock):
                raise ConnectionError("the peer closed the connection mid-PDU")

    def _fill_rest(self, sock: socket.socket) -> int:
        """Wait for more of a PDU that has begun: a blocking read, bounded by the socket's
        receive timeout, after which the kernel returns EAGAIN."""
        try:
            return self._fill(sock, 0)
        except BlockingIOError as exc:
            raise TimeoutError("no data in the middle of a PDU") from exc

    def _fill(self, sock: socket.socket, flags: int) -> int:
        got = sock.recv_into(self._view[self._end:], len(self._buffer) - self._end, flags)
        self._end += got
        return got

    def _oversized(self, sock: socket.socket, total: int) -> memoryview:
        """A PDU larger than the buffer, in a buffer of its own that grows as it arrives."""
        whole = bytearray(self._view[self._start:self._end])
        self._start = self._end = 0
        while len(whole) < total:
            try:
                piece = sock.recv(min(total - len(whole), _PIECE))
            except BlockingIOError as exc:
                raise TimeoutError("no data in the middle of a PDU") from exc
            if not piece:
                raise ConnectionError("the peer closed the connection mid-PDU")
            whole += piece
        return memoryview(whole)

    def _consumed(self, count: int) -> None:
        self._start += count
        if self._start == self._end:
            self._start = self._end = 0
