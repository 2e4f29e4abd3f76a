// Drives the sessionkit SignalR simulator with Microsoft's official JavaScript client.
// Usage: node interop.js <hub url> <token>
// Prints one JSON object with what happened; the pytest side checks it (and the server state).
"use strict";

const signalR = require("@microsoft/signalr");

const [url, token] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check, what, ms = 10000) {
    const end = Date.now() + ms;
    while (!check()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(5);
    }
}

async function main() {
    const connection = new signalR.HubConnectionBuilder()
        .withUrl(url, { accessTokenFactory: () => token })
        .withStatefulReconnect()
        .configureLogging(signalR.LogLevel.Warning)
        .build();
    const closed = [];
    connection.onclose((error) => closed.push(String(error)));

    await connection.start();
    const result = { connectionIdBefore: connection.connectionId };

    // 1. A plain invocation and a hub error.
    result.echo = await connection.invoke("Echo", { Text: "hé", Values: [1, 2.5, null] });
    try {
        await connection.invoke("Fail", "bad request");
        result.hubError = null;
    } catch (error) {
        result.hubError = String(error.message);
    }

    // 2. A server-to-client stream read to its end.
    result.stream = await new Promise((resolve, reject) => {
        const items = [];
        connection.stream("Counter", 5, 0).subscribe({
            next: (item) => items.push(item),
            complete: () => resolve(items),
            error: reject,
        });
    });

    // 3. A server callback after an invocation.
    const callbacks = [];
    connection.on("Callback", (value) => { callbacks.push(value); });
    result.callbackReturn = await connection.invoke("EchoThenCallback", "ping");
    await waitFor(() => callbacks.length === 1, "the callback");
    result.callbacks = callbacks;

    // 4. The server drops the WebSocket 50 ms after answering "Drop"; sends keep flowing across
    //    the drop and stateful reconnect must deliver each exactly once.
    const ticks = [];
    connection.on("Tick", (i) => { ticks.push(i); });
    result.drop = await connection.invoke("Drop");
    for (let i = 0; i < 100; i++) {
        await connection.send("Record", i);
        if (i % 10 === 9) await sleep(15);
    }
    result.notified = await connection.invoke("Notify", 20);
    await waitFor(() => ticks.length >= 20, "20 ticks");
    result.recordedCount = await connection.invoke("Record", "final");
    await sleep(100);
    result.ticks = ticks;
    result.connectionIdAfter = connection.connectionId;
    result.stateBeforeStop = connection.state;
    result.closedEarly = closed.slice();

    await connection.stop();
    console.log(JSON.stringify(result));
}

main().catch((error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
});
