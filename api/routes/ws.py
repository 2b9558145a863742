"""WebSocket endpoints (CCXT.md §6): market streams with Binance's subscribe protocol, and the
user data stream by listenKey.

URL layout: raw frames on ``/ws``, ``/ws/<stream>/<stream>``, ``/public/ws[/n]`` and
``/market/ws[/n]`` (ccxt's split endpoints; ``n`` is its connection index); combined frames
(``{"stream","data"}``) on ``/stream?streams=a/b``, ``/public/stream`` and ``/market/stream``.
The user data stream is ``/private/ws?listenKey=<key>`` or ``/ws/<listenKey>``.

Control messages: ``SUBSCRIBE``/``UNSUBSCRIBE`` -> ``{"result": null, "id": id}``;
``LIST_SUBSCRIPTIONS``; ``SET_PROPERTY``/``GET_PROPERTY`` ``combined``. An invalid stream is
``{"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": id}`` and subscribes
nothing; the subscription and its acknowledgement are registered together on the event loop, so
no data frame of a new stream precedes its acknowledgement. What a client may send (rate, size,
text only) is ``api.ws_inbound``'s; JSON nested too deeply for the parser is error 3, like any
other invalid JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.hub import Connection, MarketHub
from api.state import Services
from api.ws_inbound import Inbound

router = APIRouter()


def _services(ws: WebSocket) -> Services:
    services: Services = ws.app.state.services
    return services


def _error(code: int, msg: str, request_id: object) -> dict[str, object]:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


def handle_control(hub: MarketHub, conn: Connection, text: str) -> dict[str, object]:
    """The reply to one client message."""
    try:
        message: Any = json.loads(text)
    except ValueError as exc:
        return _error(3, f"Invalid JSON: {exc}", None)
    except RecursionError:
        return _error(3, "Invalid JSON: nested too deeply", None)
    if not isinstance(message, dict):
        return _error(3, "Invalid JSON: expected an object", None)
    request_id = message.get("id")
    if request_id is not None and not isinstance(request_id, int | str):
        return _error(1, "Invalid value type: id", None)
    method, params = message.get("method"), message.get("params", [])
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return _error(2, "Invalid request: params must be a list of stream names", request_id)
        if method == "UNSUBSCRIBE":
            hub.unsubscribe(conn, params)
        elif hub.subscribe(conn, params):
            return _error(2, "Invalid request: invalid stream", request_id)
        return {"result": None, "id": request_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": request_id}
    if method == "SET_PROPERTY" and isinstance(params, list) and len(params) == 2 and params[0] == "combined":
        if not isinstance(params[1], bool):
            return _error(1, "Invalid value type: expected Boolean", request_id)
        conn.combined = params[1]
        return {"result": None, "id": request_id}
    if method == "GET_PROPERTY" and params == ["combined"]:
        return {"result": conn.combined, "id": request_id}
    return _error(2, "Invalid request: unknown method", request_id)


async def _writer(ws: WebSocket, conn: Connection) -> None:
    while (text := await conn.queue.get()) is not None:
        await ws.send_text(text)
    with contextlib.suppress(Exception):
        await ws.close(code=conn.close_code)


async def _serve_market(ws: WebSocket, combined: bool, streams: list[str]) -> None:
    hub = _services(ws).hub
    await ws.accept()
    conn = Connection(combined)
    if streams and hub.subscribe(conn, streams):
        await ws.send_text(json.dumps(_error(2, "Invalid request: invalid stream", None)))
        await ws.close(code=1008)
        return
    writer = asyncio.create_task(_writer(ws, conn))
    inbound = Inbound(ws, conn)
    try:
        while not conn.closed:
            conn.send(json.dumps(handle_control(hub, conn, await inbound.receive())))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.remove(conn)
        conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, 5)


async def _serve_user(ws: WebSocket, listen_key: str) -> None:
    streams = _services(ws).streams
    await ws.accept()
    conn = Connection(combined=False)
    if not streams.attach(listen_key, conn):
        await ws.send_text(json.dumps(_error(-1125, "This listenKey does not exist.", None)))
        await ws.close(code=1008)
        return
    writer = asyncio.create_task(_writer(ws, conn))
    inbound = Inbound(ws, conn)
    try:
        while not conn.closed:
            await inbound.receive()  # clients send nothing; Binance ignores anything sent
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        streams.detach(listen_key, conn)
        conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, 5)


def _is_stream_name(part: str) -> bool:
    return "@" in part or part.startswith("!")


@router.websocket("/ws")
@router.websocket("/public/ws")
@router.websocket("/market/ws")
@router.websocket("/public/ws/{index}")
@router.websocket("/market/ws/{index}")
async def raw_streams(ws: WebSocket) -> None:
    """Raw event frames; streams chosen by SUBSCRIBE."""
    await _serve_market(ws, combined=False, streams=[])


@router.websocket("/ws/{path:path}")
async def raw_path(ws: WebSocket, path: str) -> None:
    """``/ws/<stream>[/<stream>...]`` (raw frames) or the legacy ``/ws/<listenKey>``."""
    parts = [p for p in path.split("/") if p]
    if len(parts) == 1 and not _is_stream_name(parts[0]):
        await _serve_user(ws, parts[0])
        return
    await _serve_market(ws, combined=False, streams=parts)


@router.websocket("/stream")
@router.websocket("/public/stream")
@router.websocket("/market/stream")
async def combined_streams(ws: WebSocket) -> None:
    """Combined frames ``{"stream", "data"}``; ``?streams=a/b`` subscribes at connect."""
    names = [n for n in ws.query_params.get("streams", "").split("/") if n]
    await _serve_market(ws, combined=True, streams=names)


@router.websocket("/private/ws")
@router.websocket("/private/ws/{index}")
async def user_stream(ws: WebSocket) -> None:
    """The user data stream of ``?listenKey=``."""
    await _serve_user(ws, ws.query_params.get("listenKey", ""))
