// Drives the MesoLive hub simulator with Microsoft's official JavaScript client.
// Usage: node mesolive.js <base url> <token>
// Control Hub: ListAccounts. Data Hub: the first item of a stream. Event Hub: subscribe, then the
// entry signals the test raises, one before and one after the server drops the WebSocket
// (stateful reconnect resumes the same connection). Prints one JSON object.
"use strict";

const signalR = require("@microsoft/signalr");

const [base, token] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check, what, ms = 15000) {
    const end = Date.now() + ms;
    while (!check()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(5);
    }
}

function hub(path) {
    return new signalR.HubConnectionBuilder()
        .withUrl(base + path, { accessTokenFactory: () => token })
        .withStatefulReconnect()
        .withAutomaticReconnect([0, 100, 200, 500, 1000])
        .configureLogging(signalR.LogLevel.Warning)
        .build();
}

async function main() {
    const result = { reconnecting: 0, reconnected: 0 };
    const closed = [];

    // Control Hub: one invocation, the envelope unwrapped here.
    const control = hub("/hubs/control/v1");
    await control.start();
    const accounts = await control.invoke("ListAccounts", {});
    result.accountsStatus = accounts.Status;
    result.accounts = accounts.Data.Accounts.map((a) => a.BrokerAccountId);

    // Data Hub: a server stream; its first item (the current state), then cancel.
    const data = hub("/hubs/data/v1");
    await data.start();
    result.streamItems = await new Promise((resolve, reject) => {
        const items = [];
        const sub = data.stream("StreamUnderlyingData",
            { Underlying: { Symbol: "SPX" }, Include: "All", Provider: "Ibkr" }).subscribe({
            next: (item) => {
                items.push(item);
                if (items.length === 1) { sub.dispose(); resolve(items); }
            },
            complete: () => resolve(items),
            error: reject,
        });
    });

    // Event Hub: callbacks registered before start, then subscribe to every strategy.
    const events = hub("/hubs/event/v1");
    const signals = [];
    events.on("OnEntrySignal", (p) => signals.push(
        { seq: Number(p.EventSeqId), id: p.EventId, state: p.State, strategy: p.StrategyId }));
    events.onreconnecting(() => { result.reconnecting += 1; });
    events.onreconnected(() => { result.reconnected += 1; });
    events.onclose((error) => closed.push(String(error)));
    await events.start();
    result.connectionIdBefore = events.connectionId;
    const sub = await events.invoke("SubscribeToStrategies", { Strategies: null });
    result.subscribed = sub.Data.SuccessfulStrategies;

    await waitFor(() => signals.length >= 1, "the first entry signal");
    await waitFor(() => signals.length >= 2, "the entry signal after the drop");
    await sleep(100);
    result.signals = signals;
    result.connectionIdAfter = events.connectionId;
    result.stateAfter = events.state;
    result.closedEarly = closed.slice();

    await Promise.all([events.stop(), data.stop(), control.stop()]);
    console.log(JSON.stringify(result));
}

main().catch((error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
});
