"""The runtime keeps no inbound queue of its own (docs/failures.md, "Bounded queues").

The owner task reads what its transport holds (one read, and what came meanwhile), feeds
it to the session and hands every event to the processor before it reads again, so a
flood waits in the transport's bounded buffer (the memory adapter: ``max_buffer`` frames;
its sender waits) and the frames received but not yet handed to the processor never pass
two reads' worth. Counted here, not timed: an exchange floods a client through the memory
adapter while the processor checks how far behind the exchange's sends it is.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from sessionkit import BookTop, JsonCodec, LoginAck, MessageProcessor, SessionConfig
from sessionkit.runtime import open_session
from sessionkit.runtime.memory import MemoryTransport, adapter

BUFFER = 64
FLOOD = 200 * BUFFER


class Counting(MessageProcessor):
    """Counts the book tops it is handed and how many frames the exchange had sent then."""

    def __init__(self) -> None:
        self.server: MemoryTransport | None = None
        self.ids: list[int] = []
        self.behind = 0  # the most frames sent by the exchange and not yet handed here

    def handle_book_top(self, msg: Any, prev: Any) -> None:
        self.ids.append(msg.event_id)
        assert self.server is not None
        handed = len(self.ids) + 1  # and the login answer
        self.behind = max(self.behind, self.server.frames_sent - handed)


def test_a_flood_waits_in_the_transports_bounded_buffer_not_in_the_runtime() -> None:
    codec = JsonCodec()
    processor = Counting()

    async def exchange(server: MemoryTransport) -> None:
        await server.receive_frames()  # the login
        await server.send_frames([codec.encode(LoginAck(run_id="r1", last_event_id=0))])
        for start in range(1, FLOOD + 1, 1000):  # as fast as the client lets it
            await server.send_frames([
                codec.encode(BookTop(contract_id=1, bid_in_cents=10, event_id=i, run_id="r1"))
                for i in range(start, min(start + 1000, FLOOD + 1))])

    async def main() -> None:
        async with adapter.serve(max_buffer=BUFFER) as ep, trio.open_nursery() as nursery:
            async def serve() -> None:
                server = await ep.accept()
                processor.server = server
                await exchange(server)

            nursery.start_soon(serve)
            async with open_session(ep.connector(), processor, account="acct",
                                    config=SessionConfig(cid_prefix="c")) as client:
                with trio.fail_after(1000):
                    while len(processor.ids) < FLOOD:
                        await trio.sleep(0.01)
                assert client.statistics().events_delivered == FLOOD
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert processor.ids == list(range(1, FLOOD + 1))  # every event, once, in order
    # what the exchange sent and the processor was not yet handed: at most the transport's
    # buffer and one read (never the flood: 12 800 frames)
    assert 0 < processor.behind <= 2 * BUFFER, processor.behind
