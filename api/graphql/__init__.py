"""``/graphql``: the GraphQL door (Strawberry; queries, mutations, subscriptions over
graphql-transport-ws) on the REST door's services, auth, weights and Binance codes
(``api.graphql.auth``, ``api.graphql.schema``; SDL in ``docs/schema.graphql``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, WebSocket
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


def router() -> GraphQLRouter[Any, Any]:
    """The ``/graphql`` router (GraphiQL on GET from a browser)."""
    return GraphQLRouter(
        schema,
        path="/graphql",
        context_getter=_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
