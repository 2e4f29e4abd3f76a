"""How protocol frames ride on ZeroMQ messages (see ``docs/zmq.md``, "Framing").

* A **data message** is a single-part ZeroMQ message whose one part is one encoded protocol
  frame (what the codec produced: a JSON object or a msgpack map). On the ROUTER side the
  envelope is ``[routing-id, frame]``.
* A **control message** has a first part that is empty, then a command: ``[b"", b"hello"]``
  is the client's first message on a new connection (so the server accepts the connection
  before any frame), ``[b"", b"close", reason]`` says the sender is closing this connection
  (why, in UTF-8). Unknown commands are ignored, so later versions can add some.
* Any other multi-part message is a peer's framing mistake. The server joins its parts
  into one frame; the client hands them on one by one (it reads a message as plain bytes
  and asks for more parts only after an empty first part). Either way the codec judges
  what it gets and the session reports a protocol error.

No per-message codec tag is sent: the first byte tells the two codecs apart (a JSON object
starts with ``{``, a msgpack map with 0x80-0x8f, 0xde or 0xdf), which keeps data messages
single-part (the cheapest thing ZeroMQ moves).
"""

from __future__ import annotations

from sessionkit import Codec, JsonCodec, MsgpackCodec

__all__ = ["CLOSE", "HELLO", "close_message", "parse_multipart", "sniff_codec", "codec_for"]

CLOSE = b"close"
HELLO = [b"", b"hello"]


def close_message(reason: str) -> list[bytes]:
    return [b"", CLOSE, reason.encode("utf-8", "replace")[:1024]]


def parse_multipart(parts: list[bytes]) -> tuple[bytes | None, str | None]:
    """(frame to deliver, close reason) for a multi-part message; either may be None."""
    if parts and parts[0] == b"":
        if len(parts) >= 2 and parts[1] == CLOSE:
            reason = parts[2].decode("utf-8", "replace") if len(parts) > 2 else ""
            return None, reason or "no reason given"
        return None, None  # an unknown control command: ignored
    return b"".join(parts), None


def sniff_codec(frame: bytes) -> str | None:
    """``"json"``, ``"msgpack"`` or None (cannot tell) from a frame's first byte.

    >>> sniff_codec(b'{"type": "login"}'), sniff_codec(b"\\x82\\xa4type"), sniff_codec(b"")
    ('json', 'msgpack', None)
    """
    if not frame:
        return None
    b = frame[0]
    if b == 0x7B or b in b" \t\r\n":
        return "json"
    if 0x80 <= b <= 0x8F or b in (0xDE, 0xDF):
        return "msgpack"
    return None


def codec_for(name: str | None, max_frame_size: int) -> Codec:
    if name == "msgpack":
        return MsgpackCodec(max_frame_size)
    return JsonCodec(max_frame_size)
