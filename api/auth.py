"""Bearer-token authentication and role checks, as FastAPI dependencies.

401 (with `WWW-Authenticate: Bearer`) for a request without a token or with one no user holds; 403 for a
user whose role lacks the permission. A WebSocket takes the token from its `Authorization` header or, since
a browser cannot set headers on one, from the `token` query parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.tokens import Permission, TokensFile, User

BEARER = HTTPBearer(auto_error=False, description="A token from `zvt api tokens add <user> --role ...`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def tokens_of(request: Request | WebSocket) -> TokensFile:
    tokens: TokensFile = request.app.state.tokens
    return tokens


def user_for(tokens: TokensFile, token: str | None) -> User | None:
    return None if not token else tokens.current().user_of(token)


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, User]]:
    """A dependency that yields the caller, once it has a known token and `permission`."""

    async def check(request: Request, credentials: Credentials) -> User:
        user = user_for(tokens_of(request), credentials.credentials if credentials else None)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not user.may(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {permission.value}"
            )
        request.state.user = user
        return user

    return check


Reader = Annotated[User, Depends(require(Permission.READ))]
Trader = Annotated[User, Depends(require(Permission.TRADE))]


def websocket_user(websocket: WebSocket) -> User | None:
    """The user of a WebSocket handshake who may read, or None (the socket is then closed, 1008)."""
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token if scheme.lower() == "bearer" else websocket.query_params.get("token")
    user = user_for(tokens_of(websocket), presented)
    return user if user is not None and user.may(Permission.READ) else None
