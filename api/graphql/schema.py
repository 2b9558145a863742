"""The GraphQL schema (Strawberry): queries, mutations and subscriptions over the REST door's
services, so every answer is the REST answer's data (decimal strings for money, Unix ms times).

Resolvers are adapters: they parse arguments with the REST parameter specs (same validation,
same Binance codes), charge the REST weights (``api.graphql.auth``) and call the same services.
Subscriptions stream the WebSocket events (the Binance event objects, as JSON) from the same
market hub and user streams. The published SDL is ``docs/schema.graphql``
(``python -m api.graphql.schema`` prints it; a test keeps it equal).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api import errors
from api.auth.roles import RISK, authorize, identify
from api.door_params import (
    AMEND,
    INCOME,
    LEVERAGE,
    MARGIN_TYPE,
    NEW_ALGO,
    NEW_ORDER,
    ONE,
    ONE_OR_ALL,
    ORDER_REF,
    POSITION_MARGIN,
    USER_TRADES,
)
from api.door_streams import KeptUserStream
from api.errors import ApiError
from api.graphql.auth import Caller, graphql_error
from api.hub import Connection
from api.routes.risk import risk_desk
from api.services import orders as o
from api.services.risk_desk import RiskDesk

T = TypeVar("T")


def _caller(info: Info) -> Caller:
    caller: Caller = info.context["caller"]
    params = info.context.get("connection_params")
    if isinstance(params, dict) and not caller.credentials.get(
        "apiKey"
    ):  # a subscription's connection_init
        caller.credentials = {
            name: str(params.get(name, "")) for name in ("apiKey", "timestamp", "signature")
        }
    return caller


async def _guard(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except ApiError as error:
        raise graphql_error(error) from None


async def _public(
    info: Info, call: Callable[[Caller], Awaitable[T]], method: str, path: str, query: str = ""
) -> T:
    """A public field: the mirrored REST endpoint charged to the IP, then `call`; Binance codes as
    errors."""
    caller = _caller(info)

    async def run() -> T:
        caller.charge(method, path, query)
        return await call(caller)

    return await _guard(run)


async def _keyed(
    info: Info, call: Callable[[Caller, int], Awaitable[T]], method: str, path: str, query: str = "",
    trade: bool = False,
) -> T:
    """A field for an API key's owner: the key checked (TRADE permission for `trade`), the mirrored
    REST endpoint charged, then `call` with the caller and its account; Binance codes as errors."""
    caller = _caller(info)

    async def run() -> T:
        account = await caller.account(trade)
        caller.charge(method, path, query)
        return await call(caller, account)

    return await _guard(run)


def _pairs(**values: object) -> list[tuple[str, str]]:
    out = []
    for name, value in values.items():
        if value is None:
            continue
        out.append(
            (name, ("true" if value else "false") if isinstance(value, bool) else str(value))
        )
    return out


@strawberry.type(description="A resting or finished order (Binance's order object).")
class Order:
    order_id: strawberry.ID
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    price: str
    orig_qty: str
    executed_qty: str
    avg_price: str
    time_in_force: str
    reduce_only: bool
    position_side: str
    update_time: float

    @staticmethod
    def of(raw: dict[str, Any]) -> Order:
        return Order(
            order_id=strawberry.ID(str(raw["orderId"])),
            client_order_id=raw["clientOrderId"],
            symbol=raw["symbol"],
            side=raw["side"],
            type=raw["type"],
            status=raw["status"],
            price=raw["price"],
            orig_qty=raw["origQty"],
            executed_qty=raw["executedQty"],
            avg_price=raw.get("avgPrice", "0"),
            time_in_force=raw.get("timeInForce", ""),
            reduce_only=bool(raw.get("reduceOnly", False)),
            position_side=raw.get("positionSide", "BOTH"),
            update_time=float(raw.get("updateTime", 0)),
        )


@strawberry.type(
    description="A position leg with its risk figures (the engine's, as positionRisk)."
)
class Position:
    symbol: str
    position_side: str
    position_amt: str
    entry_price: str
    mark_price: str
    unrealized_profit: str
    liquidation_price: str
    leverage: str
    margin_type: str
    notional: str

    @staticmethod
    def of(raw: dict[str, Any]) -> Position:
        return Position(
            symbol=raw["symbol"],
            position_side=raw["positionSide"],
            position_amt=raw["positionAmt"],
            entry_price=raw["entryPrice"],
            mark_price=raw["markPrice"],
            unrealized_profit=raw["unRealizedProfit"],
            liquidation_price=raw["liquidationPrice"],
            leverage=str(raw.get("leverage", "")),
            margin_type=str(raw.get("marginType", "cross")),
            notional=raw.get("notional", "0"),
        )


@strawberry.type(description="An asset balance (as /fapi/v3/balance).")
class Balance:
    asset: str
    balance: str
    cross_wallet_balance: str
    available_balance: str
    max_withdraw_amount: str

    @staticmethod
    def of(raw: dict[str, Any]) -> Balance:
        return Balance(
            asset=raw["asset"],
            balance=raw["balance"],
            cross_wallet_balance=raw["crossWalletBalance"],
            available_balance=raw["availableBalance"],
            max_withdraw_amount=raw["maxWithdrawAmount"],
        )


@strawberry.type(description="L2 depth, best levels first: [price, quantity] pairs.")
class Book:
    symbol: str
    last_update_id: float
    bids: list[list[str]]
    asks: list[list[str]]


@strawberry.type(description="A public trade.")
class Trade:
    id: strawberry.ID
    price: str
    qty: str
    quote_qty: str
    time: float
    is_buyer_maker: bool


@strawberry.type(description="Mark, index and funding of a symbol (as premiumIndex).")
class MarkPrice:
    symbol: str
    mark_price: str
    index_price: str
    last_funding_rate: str
    next_funding_time: float


@strawberry.input(
    description="A new order: the parameters of POST /fapi/v1/order (conditional types go to "
    "the algo service as POST /fapi/v1/algoOrder)."
)
class OrderInput:
    symbol: str
    side: str
    type: str
    quantity: str | None = None
    price: str | None = None
    time_in_force: str | None = None
    stop_price: str | None = None
    activation_price: str | None = None
    callback_rate: str | None = None
    reduce_only: bool | None = None
    close_position: bool | None = None
    position_side: str | None = None
    new_client_order_id: str | None = None
    working_type: str | None = None
    good_till_date: int | None = None

    def pairs(self, algo: bool) -> list[tuple[str, str]]:
        trigger = {"triggerPrice": self.stop_price} if algo else {"stopPrice": self.stop_price}
        return _pairs(
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            quantity=self.quantity,
            price=self.price,
            timeInForce=self.time_in_force,
            activationPrice=self.activation_price,
            callbackRate=self.callback_rate,
            reduceOnly=self.reduce_only,
            closePosition=self.close_position,
            positionSide=self.position_side,
            workingType=self.working_type,
            goodTillDate=self.good_till_date,
            algoType="CONDITIONAL" if algo else None,
            **(
                {"clientAlgoId": self.new_client_order_id}
                if algo
                else {"newClientOrderId": self.new_client_order_id}
            ),
            **trigger,
        )


@strawberry.type
class Query:
    @strawberry.field(description="Every listed market (exchangeInfo's symbols).")
    async def markets(self, info: Info) -> JSON:
        async def run(caller: Caller) -> Any:
            return caller.services.market.exchange_info()["symbols"]

        return await _public(info, run, "GET", "/fapi/v1/exchangeInfo")

    @strawberry.field(description="L2 depth of a symbol.")
    async def book(self, info: Info, symbol: str, limit: int = 100) -> Book:
        async def run(caller: Caller) -> Book:
            if not 1 <= limit <= 1000:
                raise errors.invalid_value("limit")
            raw: Any = caller.services.market.depth(symbol, limit)
            return Book(
                symbol=symbol,
                last_update_id=float(raw["lastUpdateId"]),
                bids=raw["bids"],
                asks=raw["asks"],
            )

        return await _public(info, run, "GET", "/fapi/v1/depth", f"limit={limit}")

    @strawberry.field(description="Recent public trades of a symbol.")
    async def trades(self, info: Info, symbol: str, limit: int = 100) -> list[Trade]:
        async def run(caller: Caller) -> list[Trade]:
            rows: Any = await caller.services.market.trades(symbol, limit)
            return [
                Trade(
                    id=strawberry.ID(str(t["id"])),
                    price=t["price"],
                    qty=t["qty"],
                    quote_qty=t["quoteQty"],
                    time=float(t["time"]),
                    is_buyer_maker=t["isBuyerMaker"],
                )
                for t in rows
            ]

        return await _public(info, run, "GET", "/fapi/v1/trades")

    @strawberry.field(description="Kline rows of a symbol (as /fapi/v1/klines).")
    async def klines(self, info: Info, symbol: str, interval: str = "1m", limit: int = 100) -> JSON:
        async def run(caller: Caller) -> Any:
            return await caller.services.market.klines(symbol, interval, None, None, limit)

        return await _public(info, run, "GET", "/fapi/v1/klines", f"limit={limit}")

    @strawberry.field(description="Mark, index and funding of a symbol.")
    async def mark_price(self, info: Info, symbol: str) -> MarkPrice:
        async def run(caller: Caller) -> MarkPrice:
            raw: Any = caller.services.market.premium_index(symbol)
            return MarkPrice(
                symbol=raw["symbol"],
                mark_price=raw["markPrice"],
                index_price=raw["indexPrice"],
                last_funding_rate=raw["lastFundingRate"],
                next_funding_time=float(raw["nextFundingTime"]),
            )

        return await _public(info, run, "GET", "/fapi/v1/premiumIndex", "symbol=x")

    @strawberry.field(description="Open interest of a symbol, in contracts.")
    async def open_interest(self, info: Info, symbol: str) -> str:
        async def run(caller: Caller) -> str:
            return str((await caller.services.market.open_interest(symbol))["openInterest"])

        return await _public(info, run, "GET", "/fapi/v1/openInterest")

    @strawberry.field(description="My live orders (one symbol or all).")
    async def my_orders(self, info: Info, symbol: str | None = None) -> list[Order]:
        async def run(caller: Caller, account: int) -> list[Order]:
            return [
                Order.of(r)
                for r in await caller.services.orders.open_orders(account, symbol, algo=False)
            ]

        return await _keyed(info, run, "GET", "/fapi/v1/openOrders", "symbol=x" if symbol else "")

    @strawberry.field(description="One of my orders, any status.")
    async def order(self, info: Info, symbol: str, order_id: strawberry.ID) -> Order:
        async def run(caller: Caller, account: int) -> Order:
            params = ORDER_REF.parse(_pairs(symbol=symbol, orderId=order_id))
            return Order.of(await caller.services.orders.get(account, params, algo=False))

        return await _keyed(info, run, "GET", "/fapi/v1/order")

    @strawberry.field(description="My trades on a symbol (as /fapi/v1/userTrades).")
    async def my_trades(self, info: Info, symbol: str, limit: int = 100) -> JSON:
        async def run(caller: Caller, account: int) -> Any:
            params = USER_TRADES.parse(_pairs(symbol=symbol, limit=limit))
            return await caller.services.orders.user_trades(account, params)

        return await _keyed(info, run, "GET", "/fapi/v1/userTrades")

    @strawberry.field(description="My open positions with their liquidation price.")
    async def positions(self, info: Info, symbol: str | None = None) -> list[Position]:
        async def run(caller: Caller, account: int) -> list[Position]:
            ONE_OR_ALL.parse(_pairs(symbol=symbol))
            return [
                Position.of(p)
                for p in await caller.services.account.position_risk(account, symbol, v2=False)
            ]

        return await _keyed(info, run, "GET", "/fapi/v3/positionRisk")

    @strawberry.field(description="My balances.")
    async def balances(self, info: Info) -> list[Balance]:
        async def run(caller: Caller, account: int) -> list[Balance]:
            return [Balance.of(b) for b in await caller.services.account.balance(account, "")]

        return await _keyed(info, run, "GET", "/fapi/v3/balance")

    @strawberry.field(description="My income history (as /fapi/v1/income).")
    async def income(
        self,
        info: Info,
        symbol: str | None = None,
        income_type: str | None = None,
        limit: int = 100,
    ) -> JSON:
        async def run(caller: Caller, account: int) -> Any:
            p = INCOME.parse(_pairs(symbol=symbol, incomeType=income_type, limit=limit))
            return await caller.services.account.income(
                account, p.text("symbol"), p.text("incomeType"), None, None, None, p.int("limit")
            )

        return await _keyed(info, run, "GET", "/fapi/v1/income")

    @strawberry.field(description="Risk desk: the accounts nearest liquidation, highest margin ratio first.")
    async def risk_nearest(self, info: Info, limit: int = 20) -> JSON:
        return await _risk_view(info, lambda desk: desk.nearest(_desk_limit(limit)))

    @strawberry.field(description="Risk desk: the margin of every account holding a position.")
    async def risk_accounts(self, info: Info, limit: int = 1000) -> JSON:
        return await _risk_view(info, lambda desk: desk.accounts(_desk_limit(limit)))

    @strawberry.field(description="Risk desk: one account's legs (engine figures), liquidation and ADL steps.")
    async def risk_account(self, info: Info, account: int) -> JSON:
        return await _risk_view(info, lambda desk: desk.account_detail(account))

    @strawberry.field(description="Risk desk: the latest liquidation steps, oldest first.")
    async def risk_liquidations(self, info: Info, limit: int = 100, account: int | None = None) -> JSON:
        return await _risk_view(info, lambda desk: desk.liquidations(account, _desk_limit(limit)))

    @strawberry.field(description="Risk desk: the ADL queues installed in the engine.")
    async def risk_adl_queues(self, info: Info) -> JSON:
        return await _risk_view(info, lambda desk: desk.adl_queues())

    @strawberry.field(description="Risk desk: the insurance fund now (as /fapi/v1/insuranceBalance).")
    async def risk_insurance_fund(self, info: Info) -> JSON:
        return await _risk_view(info, lambda desk: desk.insurance_balance(None))


def _desk_limit(limit: int) -> int:
    if not 1 <= limit <= 1000:
        raise errors.invalid_value("limit")
    return limit


async def _risk_view(info: Info, view: Callable[[RiskDesk], object]) -> JSON:
    """A risk desk view for a dashboard session (or admin token) of role risk or admin, as the
    ``/risk`` routes (``Authorization: Bearer``; -1002 otherwise); built as those routes build it."""
    caller = _caller(info)

    async def run() -> Any:
        authorize(await identify(caller.bearer or "", info.context["connection"]), RISK)
        result = view(risk_desk(info.context["connection"]))
        return await result if inspect.isawaitable(result) else result

    return await _guard(run)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Place an order of any type the REST API takes.")
    async def place_order(self, info: Info, order: OrderInput) -> Order:
        algo = order.type in o.ALGO_TYPES

        async def run(caller: Caller, account: int) -> Order:
            params = (NEW_ALGO if algo else NEW_ORDER).parse(order.pairs(algo))
            raw = await caller.services.orders.place(account, params, algo, {})
            if algo:
                raw = {
                    "orderId": raw["algoId"],
                    "clientOrderId": raw["clientAlgoId"],
                    "status": raw["algoStatus"],
                    "origQty": raw["quantity"],
                    "executedQty": "0",
                    "type": raw["orderType"],
                    **raw,
                }
            return Order.of(raw)

        return await _keyed(info, run, "POST", "/fapi/v1/algoOrder" if algo else "/fapi/v1/order", trade=True)

    @strawberry.mutation(description="Amend a resting limit order's price and quantity.")
    async def amend_order(
        self, info: Info, symbol: str, order_id: strawberry.ID, side: str, quantity: str, price: str
    ) -> Order:
        async def run(caller: Caller, account: int) -> Order:
            params = AMEND.parse(
                _pairs(symbol=symbol, orderId=order_id, side=side, quantity=quantity, price=price)
            )
            return Order.of(await caller.services.orders.amend(account, params))

        return await _keyed(info, run, "PUT", "/fapi/v1/order", trade=True)

    @strawberry.mutation(description="Cancel one order.")
    async def cancel_order(self, info: Info, symbol: str, order_id: strawberry.ID) -> Order:
        async def run(caller: Caller, account: int) -> Order:
            params = ORDER_REF.parse(_pairs(symbol=symbol, orderId=order_id))
            return Order.of(await caller.services.orders.cancel(account, params, algo=False))

        return await _keyed(info, run, "DELETE", "/fapi/v1/order", trade=True)

    @strawberry.mutation(description="Cancel every live order of a symbol.")
    async def cancel_all_orders(self, info: Info, symbol: str) -> bool:
        async def run(caller: Caller, account: int) -> bool:
            ONE.parse(_pairs(symbol=symbol))
            await caller.services.orders.cancel_all(account, symbol, algo=False)
            return True

        return await _keyed(info, run, "DELETE", "/fapi/v1/allOpenOrders", trade=True)

    @strawberry.mutation(description="Set my leverage on a symbol.")
    async def set_leverage(self, info: Info, symbol: str, leverage: int) -> JSON:
        async def run(caller: Caller, account: int) -> Any:
            p = LEVERAGE.parse(_pairs(symbol=symbol, leverage=leverage))
            return await caller.services.account.set_leverage(
                account, p.text("symbol"), p.int("leverage")
            )

        return await _keyed(info, run, "POST", "/fapi/v1/leverage", trade=True)

    @strawberry.mutation(description="Set my margin type on a symbol (ISOLATED or CROSSED).")
    async def set_margin_type(self, info: Info, symbol: str, margin_type: str) -> JSON:
        async def run(caller: Caller, account: int) -> Any:
            p = MARGIN_TYPE.parse(_pairs(symbol=symbol, marginType=margin_type))
            return await caller.services.account.margin_type(
                account, p.text("symbol"), p.text("marginType")
            )

        return await _keyed(info, run, "POST", "/fapi/v1/marginType", trade=True)

    @strawberry.mutation(description="Add (type 1) or remove (type 2) isolated position margin.")
    async def set_position_margin(
        self, info: Info, symbol: str, amount: str, type: int, position_side: str | None = None
    ) -> JSON:
        async def run(caller: Caller, account: int) -> Any:
            p = POSITION_MARGIN.parse(
                _pairs(symbol=symbol, positionSide=position_side, amount=amount, type=type)
            )
            return await caller.services.account.position_margin(
                account,
                p.text("symbol"),
                p.text("positionSide"),
                p.decimal("amount"),
                p.int("type"),
            )

        return await _keyed(info, run, "POST", "/fapi/v1/positionMargin", trade=True)


async def _stream(
    info: Info, subscribe: Callable[[Connection], object]
) -> AsyncGenerator[JSON, None]:
    conn = Connection(combined=True)
    subscribe(conn)
    caller = _caller(info)
    try:
        while True:
            text = await conn.queue.get()
            if text is None:
                return
            yield json.loads(text)["data"]
    finally:
        caller.services.hub.remove(conn)


def _market_stream(info: Info, symbol: str, suffix: str) -> AsyncGenerator[JSON, None]:
    caller = _caller(info)
    try:
        caller.services.market.instrument(symbol)
    except ApiError as error:
        raise graphql_error(error) from None
    return _stream(
        info, lambda conn: caller.services.hub.subscribe(conn, [f"{symbol.lower()}@{suffix}"])
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Diff-depth events of a symbol (Binance depthUpdate objects)."
    )
    def book_diffs(self, info: Info, symbol: str) -> AsyncGenerator[JSON, None]:
        return _market_stream(info, symbol, "depth")

    @strawberry.subscription(description="Trades of a symbol (Binance trade events).")
    def trades(self, info: Info, symbol: str) -> AsyncGenerator[JSON, None]:
        return _market_stream(info, symbol, "trade")

    @strawberry.subscription(description="Mark price of a symbol (Binance markPriceUpdate events).")
    def mark_price(self, info: Info, symbol: str) -> AsyncGenerator[JSON, None]:
        return _market_stream(info, symbol, "markPrice")

    @strawberry.subscription(description="Every liquidation order (Binance forceOrder events).")
    def liquidations(self, info: Info) -> AsyncGenerator[JSON, None]:
        caller = _caller(info)
        return _stream(info, lambda conn: caller.services.hub.subscribe(conn, ["!forceOrder@arr"]))

    @strawberry.subscription(
        description="My order and position updates (ORDER_TRADE_UPDATE and ACCOUNT_UPDATE "
        "events); needs the API key in connection_init."
    )
    async def my_updates(self, info: Info) -> AsyncGenerator[JSON, None]:
        caller = _caller(info)
        try:
            account = await caller.account()
        except ApiError as error:
            raise graphql_error(error) from None
        conn = Connection(combined=True)
        stream = KeptUserStream(caller.services.streams, account, conn)
        try:
            while True:
                text = await conn.queue.get()
                if text is None:
                    return
                yield json.loads(text)["data"]
        finally:
            stream.close()


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)

if __name__ == "__main__":
    print(schema.as_str())
