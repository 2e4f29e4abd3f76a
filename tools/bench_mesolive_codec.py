#!/usr/bin/env python3
"""Benchmark: the MesoLive adapter's codec on typical payloads, in microseconds per payload.

Three payloads, each read and written the way the adapter does it (the SignalR record with
``decode_record`` / ``encode_message``, the model with the wire converter):

* ``onframes``: an ``OnFrames`` invocation carrying 20 reference-protocol frames (the session
  hub's server-to-client batch); written as the client's ``SendFrames`` invocation;
* ``event``: an ``OnOrderUpdate`` callback (decoded into ``OrderUpdateEvent``);
* ``data_item``: a Data Hub ``StreamPositionData`` item (a ``PositionDataEntry`` with the
  position's and four legs' prices, greeks and PnL), a ``StreamItem``.

Each figure is the median of ``--runs`` timings of ``--number`` calls. Readable lines first;
the LAST line is one JSON object: ``<payload>_decode_us`` and ``<payload>_encode_us`` per
payload. It uses only what the adapter has long offered, so it runs on older versions too.

    .venv/bin/python tools/bench_mesolive_codec.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any


def frames(count: int) -> list[bytes]:
    return [(b'{"type":"action_report","run_id":"r-1","event_id":%d,"cid":%d,"mid":%d,'
             b'"contract_id":7,"side":"buy","size":0,"price_in_cents":5025,"filled":1,'
             b'"status":"filled"}') % (1000 + i, i, 5000 + i) for i in range(count)]


def order_update() -> dict[str, Any]:
    return {"EventId": "5b1c7a7e-8f5b-4b7e-9a55-3f1d2c7e9b10", "EventSeqId": 8812,
            "EventTime": "2024-05-01T13:30:00.123456Z", "OrderId": 77031, "StrategyId": 12,
            "StrategyName": "SPX put spread", "State": "PartiallyFilled",
            "BrokerAccountId": "U1234567", "ExecPlanId": 4411, "LegGroupId": 2,
            "FilledQty": 1, "RemainingQty": 2, "FillPrice": 1.35, "AvgFillPrice": 1.35,
            "Rejection": None}


def _block(kind: str, seed: int) -> dict[str, Any]:
    if kind == "prices":
        return {"SnapshotTime": "2024-05-01T13:30:00.25Z", "Bid": 1.05 + seed, "Ask": 1.1 + seed,
                "Last": 1.07 + seed, "Mark": 1.075 + seed, "BidAgeMs": 40, "AskAgeMs": 41,
                "LastAgeMs": 900, "MarkAgeMs": 40}
    if kind == "greeks":
        return {"SnapshotTime": "2024-05-01T13:30:00.25Z", "Delta": -0.25, "Gamma": 0.012,
                "Theta": -0.41, "Vega": 0.9, "ImpliedVolatility": 0.1875}
    return {"SnapshotTime": "2024-05-01T13:30:00.25Z", "Realized": -15.25, "Bid": 10.5,
            "Ask": 12.5, "Last": 11.0, "Mark": 11.5, "BidAgeMs": 40, "AskAgeMs": 41,
            "LastAgeMs": 900, "MarkAgeMs": 40}


def position_entry() -> dict[str, Any]:
    legs = range(101, 105)
    return {"PositionPrices": _block("prices", 0), "PositionGreeks": _block("greeks", 0),
            "PositionPnLs": _block("pnl", 0),
            "LegPrices": {str(leg): _block("prices", i) for i, leg in enumerate(legs)},
            "LegGreeks": {str(leg): _block("greeks", i) for i, leg in enumerate(legs)},
            "LegPnLs": {str(leg): _block("pnl", i) for i, leg in enumerate(legs)}}


def cases() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    from sessionkit_mesolive import models as m
    from sessionkit_mesolive._converters import default_converter as conv
    from sessionkit_mesolive._session_hub import decode_frames, encode_frames
    from sessionkit_mesolive.signalr import Invocation, StreamItem, decode_record, encode_message

    batch = frames(20)
    on_frames = encode_message(Invocation("OnFrames", [encode_frames(batch)]))[:-1]

    def onframes_decode() -> Any:
        return decode_frames(decode_record(on_frames).arguments[0])  # type: ignore[union-attr]

    def onframes_encode() -> bytes:
        return encode_message(Invocation("SendFrames", [encode_frames(batch)], "17"))

    event = conv.structure(order_update(), m.OrderUpdateEvent)
    event_record = encode_message(Invocation("OnOrderUpdate", [conv.unstructure(event)]))[:-1]

    def event_decode() -> Any:
        return conv.structure(decode_record(event_record).arguments[0],  # type: ignore[union-attr]
                              m.OrderUpdateEvent)

    def event_encode() -> bytes:
        return encode_message(Invocation("OnOrderUpdate", [conv.unstructure(event)]))

    entry = conv.structure(position_entry(), m.PositionDataEntry)
    item_record = encode_message(StreamItem("3", conv.unstructure(entry)))[:-1]

    def item_decode() -> Any:
        return conv.structure(decode_record(item_record).item,  # type: ignore[union-attr]
                              m.PositionDataEntry)

    def item_encode() -> bytes:
        return encode_message(StreamItem("3", conv.unstructure(entry)))

    assert event_decode() == event and item_decode() == entry and onframes_decode() == batch
    return {"onframes": (onframes_decode, onframes_encode), "event": (event_decode, event_encode),
            "data_item": (item_decode, item_encode)}


def measure(fn: Callable[[], Any], number: int, runs: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=runs)
    return statistics.median(times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--runs", type=int, default=None, help="timings to take the median of")
    parser.add_argument("--number", type=int, default=None, help="calls per timing")
    options = parser.parse_args()
    runs = options.runs or (3 if options.quick else 7)
    number = options.number or (500 if options.quick else 5000)
    result: dict[str, Any] = {}
    for name, (decode, encode) in cases().items():
        result[f"{name}_decode_us"] = round(measure(decode, number, runs), 2)
        result[f"{name}_encode_us"] = round(measure(encode, number, runs), 2)
        print(f"{name:10s} decode {result[f'{name}_decode_us']:8.2f} us   "
              f"encode {result[f'{name}_encode_us']:8.2f} us")
    result.update(runs=runs, number=number)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
