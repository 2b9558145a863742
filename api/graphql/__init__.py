"""``/graphql``: the GraphQL door (Strawberry; queries, mutations, subscriptions over
graphql-transport-ws) on the REST door's services, auth, weights and Binance codes
(``api.graphql.auth``, ``api.graphql.schema``; SDL in ``docs/schema.graphql``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.graphql.auth import Caller, credentials_from
from api.graphql.schema import schema


async def _context(request: Request = None, websocket: WebSocket = None) -> dict[str, Any]:  # type: ignore[assignment]
    connection = request if request is not None else websocket
    assert connection is not None
    state = connection.app.state
    client = connection.client
    authorization = connection.headers.get("authorization", "")
    caller = Caller(
        state.services,
        client.host if client else "?",
        credentials_from(connection.headers),
        authorization.removeprefix("Bearer ").strip() or None,
    )
    return {"caller": caller, "staff": state.staff, "connection": connection}


CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
"""How long a new subscription socket may take to send ``connection_init`` (its credentials)."""


def install(app: FastAPI) -> None:
    """Mounts ``/graphql`` on `app`: HTTP (POST, and GET for queries) and graphql-transport-ws.
    Not in the OpenAPI document (the SDL is GraphQL's own schema); no GraphiQL page (it would load
    its scripts from a CDN; any GraphQL client, or the published SDL, does the job)."""
    router = GraphQLRouter(
        schema,
        path="/graphql",
        graphql_ide=None,
        context_getter=_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
    )
    app.include_router(router, include_in_schema=False)
