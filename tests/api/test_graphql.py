"""``/graphql`` with a real GraphQL client (``gql``, HTTP and graphql-transport-ws) over real sockets:
queries, mutations, subscriptions, HMAC auth, Binance codes in ``errors[].extensions``, and the
published SDL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from api.graphql.schema import schema
from api.inprocess import RunningServer
from api.security import sign
from tests.api.conftest import Trader, make_database, make_trader, publish_marks, serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("db"))
    running = serve(db)
    yield running
    running.stop()
    db.drop()


def credentials(
    trader: Trader, timestamp: int | None = None, secret: str | None = None
) -> dict[str, str]:
    now = int(time.time() * 1000) if timestamp is None else timestamp
    return {
        "apiKey": trader.api_key,
        "timestamp": str(now),
        "signature": sign(secret or trader.secret, f"apiKey={trader.api_key}&timestamp={now}"),
    }


def headers(trader: Trader, **options: Any) -> dict[str, str]:
    c = credentials(trader, **options)
    return {
        "X-MBX-APIKEY": c["apiKey"],
        "X-MBX-TIMESTAMP": c["timestamp"],
        "X-MBX-SIGNATURE": c["signature"],
    }


def request(query: str, variables: dict[str, Any] | None) -> GraphQLRequest:
    document = gql(query)
    document.variable_values = variables
    return document


def run(
    server: RunningServer,
    query: str,
    variables: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        transport = AIOHTTPTransport(url=server.base + "/graphql", headers=extra or {})
        async with Client(transport=transport) as session:
            result: dict[str, Any] = await session.execute(request(query, variables))
            return result

    return asyncio.run(call())


def refused(
    server: RunningServer,
    query: str,
    variables: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    with pytest.raises(TransportQueryError) as error:
        run(server, query, variables, extra)
    assert error.value.errors
    first: dict[str, Any] = error.value.errors[0]
    return first


PLACE = """mutation Place($order: OrderInput!) {
  placeOrder(order: $order) { orderId status side price origQty executedQty avgPrice }
}"""


def test_the_published_schema_is_the_served_one() -> None:
    assert (ROOT / "docs/schema.graphql").read_text().strip() == schema.as_str().strip()


def test_public_queries(server: RunningServer) -> None:
    answer = run(
        server,
        """{ markets book(symbol: "BTCUSDT", limit: 5) { symbol bids asks }
                             markPrice(symbol: "BTCUSDT") { markPrice indexPrice } openInterest(symbol: "BTCUSDT") }""",
    )
    assert [m["symbol"] for m in answer["markets"]] == ["BTCUSDT", "ETHUSDT"]
    assert answer["book"]["symbol"] == "BTCUSDT"
    assert answer["markPrice"] == {"markPrice": "50000.00000000", "indexPrice": "50000.00000000"}
    assert answer["openInterest"] == "0.000"


def test_trade_query_and_cancel_with_a_signed_key(server: RunningServer) -> None:
    maker, taker = make_trader(server), make_trader(server)
    resting = run(
        server,
        PLACE,
        {
            "order": {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "quantity": "0.010",
                "price": "50100",
                "timeInForce": "GTC",
            }
        },
        headers(maker),
    )["placeOrder"]
    assert (resting["status"], resting["price"], resting["origQty"]) == ("NEW", "50100.0", "0.010")
    filled = run(
        server,
        PLACE,
        {"order": {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.004"}},
        headers(taker),
    )["placeOrder"]
    assert (filled["status"], filled["executedQty"], filled["avgPrice"]) == (
        "FILLED",
        "0.004",
        "50100.00000000",
    )
    mine = run(
        server,
        """{ positions { symbol positionAmt entryPrice liquidationPrice }
                            balances { asset balance } }""",
        extra=headers(taker),
    )
    assert [(p["symbol"], p["positionAmt"], p["entryPrice"]) for p in mine["positions"]] == [
        ("BTCUSDT", "0.004", "50100.00000000")
    ]
    assert (
        mine["positions"][0]["liquidationPrice"] == "0.0"
    )  # 1,000,000 USDT behind 200 USDT of BTC
    # taker fee 0.0005 × 0.004 × 50,100 = 0.1002
    assert {"asset": "USDT", "balance": "999999.89980000"} in mine["balances"]
    open_orders = run(
        server, '{ myOrders(symbol: "BTCUSDT") { orderId executedQty } }', extra=headers(maker)
    )
    assert open_orders["myOrders"] == [{"orderId": resting["orderId"], "executedQty": "0.004"}]
    cancel = (
        'mutation { cancelOrder(symbol: "BTCUSDT", orderId: "'
        + resting["orderId"]
        + '") { status } }'
    )
    cancelled = run(server, cancel, extra=headers(maker))
    assert cancelled["cancelOrder"]["status"] == "CANCELED"
    leverage = run(
        server, 'mutation { setLeverage(symbol: "BTCUSDT", leverage: 7) }', extra=headers(maker)
    )
    assert leverage["setLeverage"]["leverage"] == 7
    history = run(
        server,
        """{ trades(symbol: "BTCUSDT", limit: 10) { price qty isBuyerMaker }
            myTrades(symbol: "BTCUSDT") klines(symbol: "BTCUSDT", limit: 5)
            income(incomeType: "COMMISSION") }""",
        extra=headers(taker),
    )
    assert {"price": "50100.0", "qty": "0.004", "isBuyerMaker": False} in history["trades"]
    assert [(t["price"], t["qty"], t["commission"], t["buyer"]) for t in history["myTrades"]] == [
        ("50100.0", "0.004", "0.10020000", True)
    ]
    assert history["klines"][-1][4] == "50100.0"  # the close of the current minute
    assert [i["income"] for i in history["income"]] == ["-0.10020000"]


def test_amend_cancel_all_margin_type_and_position_margin(server: RunningServer) -> None:
    trader = make_trader(server)
    order = run(server, PLACE, {"order": {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.50",
                                          "price": "2900", "timeInForce": "GTC"}}, headers(trader))["placeOrder"]
    amend = ('mutation { amendOrder(symbol: "ETHUSDT", orderId: "' + order["orderId"]
             + '", side: "BUY", quantity: "0.70", price: "2950") { price origQty status } }')
    assert run(server, amend, extra=headers(trader))["amendOrder"] == {"price": "2950.00", "origQty": "0.700",
                                                                       "status": "NEW"}
    assert run(server, 'mutation { cancelAllOrders(symbol: "ETHUSDT") }', extra=headers(trader)) == {
        "cancelAllOrders": True}
    assert run(server, '{ myOrders { orderId } }', extra=headers(trader))["myOrders"] == []
    isolated = run(server, 'mutation { setMarginType(symbol: "ETHUSDT", marginType: "ISOLATED") }',
                   extra=headers(trader))
    assert isolated["setMarginType"]["code"] == 200
    # no isolated position to add margin to
    error = refused(server, 'mutation { setPositionMargin(symbol: "ETHUSDT", amount: "10", type: 1) }',
                    extra=headers(trader))
    assert error["extensions"]["code"] < 0 and error["path"] == ["setPositionMargin"]


def test_a_conditional_order_goes_to_the_algo_service(server: RunningServer) -> None:
    trader = make_trader(server)
    placed = run(
        server,
        PLACE,
        {
            "order": {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.003",
                "stopPrice": "45000",
            }
        },
        headers(trader),
    )
    assert placed["placeOrder"]["status"] == "NEW"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (
            PLACE,
            {"order": {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001"}},
            -1102,
        ),
        (
            PLACE,
            {"order": {"symbol": "NOPE", "side": "BUY", "type": "MARKET", "quantity": "0.001"}},
            -1121,
        ),
        (
            PLACE,
            {"order": {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                       "quantity": "900", "price": "50000"}},
            -2019,
        ),
        ('{ book(symbol: "BTCUSDT", limit: 0) { symbol } }', None, -1130),
    ],
)
def test_bad_input_carries_the_binance_code(
    server: RunningServer, query: str, variables: dict[str, Any] | None, code: int
) -> None:
    trader = make_trader(server)
    error = refused(server, query, variables, headers(trader))
    assert error["extensions"]["code"] == code
    assert run(server, "{ positions { symbol } }", extra=headers(trader))["positions"] == []


def test_bad_auth_is_refused(server: RunningServer) -> None:
    trader = make_trader(server)
    assert refused(server, "{ balances { asset } }")["extensions"]["code"] == -2014
    bad = headers(trader, secret="0" * 64)
    assert refused(server, "{ balances { asset } }", extra=bad)["extensions"]["code"] == -1022
    stale = headers(trader, timestamp=int(time.time() * 1000) - 120_000)
    assert refused(server, "{ balances { asset } }", extra=stale)["extensions"]["code"] == -1021
    assert refused(server, "{ riskNearest }", extra=headers(trader))["extensions"]["code"] == -1002


def test_subscriptions_stream_book_trades_and_my_updates(server: RunningServer) -> None:
    maker, taker = make_trader(server), make_trader(server)

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        seen: dict[str, list[dict[str, Any]]] = {"bookDiffs": [], "trades": [], "myUpdates": [], "markPrice": []}

        async def follow(name: str, document: str) -> None:
            transport = WebsocketsTransport(
                url=server.ws.removesuffix("/ws") + "/graphql",
                init_payload=credentials(maker),
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            )
            async with Client(transport=transport) as session:
                async for result in session.subscribe(gql(document)):
                    seen[name].append(result[name])

        tasks = [
            asyncio.create_task(
                follow("bookDiffs", 'subscription { bookDiffs(symbol: "BTCUSDT") }')
            ),
            asyncio.create_task(follow("trades", 'subscription { trades(symbol: "BTCUSDT") }')),
            asyncio.create_task(follow("myUpdates", "subscription { myUpdates }")),
            asyncio.create_task(follow("markPrice", 'subscription { markPrice(symbol: "BTCUSDT") }')),
        ]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(
            run,
            server,
            PLACE,
            {
                "order": {
                    "symbol": "BTCUSDT",
                    "side": "SELL",
                    "type": "LIMIT",
                    "quantity": "0.002",
                    "price": "50200",
                    "timeInForce": "GTC",
                }
            },
            headers(maker),
        )
        await asyncio.to_thread(
            run,
            server,
            PLACE,
            {"order": {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}},
            headers(taker),
        )
        await asyncio.to_thread(publish_marks, server)  # the oracle's job: a markPriceUpdate
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(seen.values()):
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return seen

    seen = asyncio.run(scenario())
    assert any(
        e["e"] == "depthUpdate" and ["50200.0", "0.002"] in e["a"] for e in seen["bookDiffs"]
    )
    assert any(e["e"] == "trade" and e["p"] == "50200.0" for e in seen["trades"])
    assert any(e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["S"] == "SELL" for e in seen["myUpdates"])
    assert any(e["e"] == "markPriceUpdate" and e["s"] == "BTCUSDT" and e["p"] == "50000.00000000"
               for e in seen["markPrice"])
