"""Negotiate: URLs, answers of both versions, redirects, error bodies; the server's side too."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import msgspec
import pytest
import trio
from sessionkit_mesolive.signalr import (
    AuthenticationError,
    HubConnection,
    NegotiateError,
    NegotiateRedirect,
    NegotiateResponse,
    negotiate_url,
    parse_negotiate_response,
    websocket_url,
)
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.hubserver_asgi import HubServerApp
from sessionkit_mesolive.sim.hubserver_echo import ECHO_HUB_PATH, build_echo_server


def body(**fields: Any) -> bytes:
    return msgspec.json.encode(fields)


WS = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]


def test_urls_keep_the_hub_query_and_add_ours() -> None:
    assert (
        negotiate_url("https://h/hub/?tenant=a b")
        == "https://h/hub/negotiate?tenant=a%20b&negotiateVersion=1"
    )
    assert (
        websocket_url("http://h:1/hub", "a+b=", access_token="t k")
        == "ws://h:1/hub?id=a%2Bb%3D&access_token=t%20k"
    )
    with pytest.raises(ValueError, match="http:// or https://"):
        negotiate_url("ftp://h/hub")


def test_version_1_answer_uses_the_connection_token() -> None:
    answer = parse_negotiate_response(
        200,
        body(
            negotiateVersion=1,
            connectionId="id",
            connectionToken="tok",
            availableTransports=WS,
            useStatefulReconnect=True,
        ),
    )
    assert answer == NegotiateResponse("id", "tok", 1, ("WebSockets",), True)


def test_version_0_answer_uses_the_connection_id_as_token() -> None:
    answer = parse_negotiate_response(200, body(connectionId="abc", availableTransports=WS))
    assert isinstance(answer, NegotiateResponse)
    assert answer.connection_token == "abc" and answer.negotiate_version == 0
    assert not answer.stateful_reconnect


def test_redirect_answer() -> None:
    answer = parse_negotiate_response(200, body(url="https://other/hub", accessToken="secret"))
    assert answer == NegotiateRedirect("https://other/hub", "secret")
    assert "secret" not in repr(answer)


@pytest.mark.parametrize(
    ("status", "content", "error", "match"),
    [
        (401, b"", AuthenticationError, "HTTP 401"),
        (403, b"forbidden", AuthenticationError, "HTTP 403"),
        (404, b"", NegotiateError, "not a SignalR hub"),
        (500, b"boom", NegotiateError, "HTTP 500: boom"),
        (200, b"<html>", NegotiateError, "not JSON"),
        (200, b"[]", NegotiateError, "must be a JSON object"),
        (200, body(error="Negotiate failed: quota"), NegotiateError, "quota"),
        (200, body(ProtocolVersion="1.5"), NegotiateError, "not ASP.NET Core"),
        (
            200,
            body(negotiateVersion=1, connectionId="x", availableTransports=WS),
            NegotiateError,
            "connectionToken",
        ),
        (
            200,
            body(negotiateVersion=1, connectionToken="t", availableTransports=WS),
            NegotiateError,
            "connectionId",
        ),
        (
            200,
            body(
                connectionId="x",
                availableTransports=[{"transport": "LongPolling", "transferFormats": ["Text"]}],
            ),
            NegotiateError,
            "does not offer the WebSockets transport",
        ),
    ],
)
def test_bad_answers_raise_clear_errors(
    status: int, content: bytes, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        parse_negotiate_response(status, content)


def test_simulator_answers_both_negotiate_versions(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server(resume_window=0.1)
        async with running(server) as base, httpx.AsyncClient() as http:
            auth = {"Authorization": "Bearer test-token"}
            v0 = (await http.post(base + ECHO_HUB_PATH + "/negotiate", headers=auth)).json()
            assert v0["negotiateVersion"] == 0 and "connectionToken" not in v0
            v1 = (
                await http.post(
                    base
                    + ECHO_HUB_PATH
                    + "/negotiate?negotiateVersion=1&useStatefulReconnect=true",
                    headers=auth,
                )
            ).json()
            assert v1["negotiateVersion"] == 1 and v1["connectionToken"] != v1["connectionId"]
            assert v1["useStatefulReconnect"] is True
            assert (await http.post(base + ECHO_HUB_PATH + "/negotiate")).status_code == 401
            assert (
                await http.get(base + ECHO_HUB_PATH + "/negotiate", headers=auth)
            ).status_code == 405
            assert (await http.post(base + "/hubs/nope/negotiate", headers=auth)).status_code == 404
            # Negotiated connections whose WebSocket never comes are forgotten.
            await trio.sleep(0.3)
            assert server.connections == []

    run(main)


def test_client_follows_a_redirect_and_uses_its_access_token(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A front door answers negotiate with url + accessToken (as Azure SignalR does)."""

    async def main() -> None:
        server = build_echo_server(token="from-redirect")
        inner = HubServerApp(server)
        real_base: list[str] = []

        async def front(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/front/negotiate":
                payload = body(url=real_base[0] + ECHO_HUB_PATH, accessToken="from-redirect")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": payload})
                return
            await inner(scope, receive, send)

        async with running(front) as base:
            real_base.append(base)
            # The caller's own token is wrong: only the redirect's token can work.
            async with HubConnection(base + "/front", token_factory=lambda: "caller-token") as conn:
                assert await conn.invoke("Echo", "via redirect") == "via redirect"

    with caplog.at_level(logging.DEBUG):
        run(main)
    assert "from-redirect" not in caplog.text and "caller-token" not in caplog.text
