"""A live (or sandbox) venue through ccxt's async API; keys come from the environment.

A submission that times out may still have reached the exchange, so before every retry we look the order
up by its client order id: a retried submission finds the first one instead of placing a second.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas.primitives import Liquidity, OrderType
from trading.execution import LegReport, VenueFill
from venues.base import VenueError, VenueOrder


def credentials_from_env(venue: str) -> dict[str, str]:
    """`ZVT_<VENUE>_API_KEY`, `_SECRET` and optionally `_PASSWORD` (e.g. ZVT_BINANCE_API_KEY)."""
    prefix = f"ZVT_{venue.upper()}_"
    found = {
        "apiKey": os.environ.get(prefix + "API_KEY", ""),
        "secret": os.environ.get(prefix + "SECRET", ""),
        "password": os.environ.get(prefix + "PASSWORD", ""),
    }
    return {key: value for key, value in found.items() if value}


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def report_from_ccxt(venue: str, order: VenueOrder, placed: dict[str, Any]) -> LegReport:
    """ccxt's unified order structure -> our leg report (one fill for the executed amount)."""
    filled = _decimal(placed.get("filled"))
    fills: tuple[VenueFill, ...] = ()
    if filled > 0:
        fee = placed.get("fee") or {}
        fills = (
            VenueFill(
                fill_id=f"{venue}-{placed['id']}"[:64],
                quantity=filled,
                price=_decimal(placed.get("average") or placed.get("price")),
                fee=abs(_decimal(fee.get("cost"))),
                fee_currency=str(fee.get("currency") or order.symbol.split("/")[1].split(":")[0]),
                liquidity=Liquidity.TAKER,
            ),
        )
    return LegReport(venue, order.quantity, str(placed["id"]), fills=fills)


class CcxtVenue:
    def __init__(
        self, name: str, *, sandbox: bool = True, attempts: int = 4, exchange: Any | None = None
    ) -> None:
        self.name = name
        self._attempts = attempts
        if exchange is None:
            exchange = getattr(ccxt_async, name)({"enableRateLimit": True, **credentials_from_env(name)})
            if sandbox:
                exchange.set_sandbox_mode(True)
        self._exchange = exchange

    async def _find(self, order: VenueOrder) -> dict[str, Any] | None:
        """The order a previous attempt placed under this client order id, if the venue has it."""
        if not self._exchange.has.get("fetchOrders") and not self._exchange.has.get("fetchOpenOrders"):
            return None
        fetch = (
            self._exchange.fetch_orders
            if self._exchange.has.get("fetchOrders")
            else (self._exchange.fetch_open_orders)
        )
        for placed in await fetch(order.symbol):
            if placed.get("clientOrderId") == order.client_order_id:
                return dict(placed)
        return None

    async def _place(self, order: VenueOrder, attempt: int) -> dict[str, Any]:
        if attempt > 1:
            existing = await self._find(order)
            if existing is not None:
                return existing
        price = str(order.limit_price) if order.order_type is OrderType.LIMIT and order.limit_price else None
        placed = await self._exchange.create_order(
            order.symbol,
            order.order_type.value,
            order.side.value,
            str(order.quantity),  # ccxt takes decimal strings: no float on the way out
            price,
            {"clientOrderId": order.client_order_id, "timeInForce": order.time_in_force.value.upper()},
        )
        return dict(placed)

    async def submit(self, order: VenueOrder) -> LegReport:
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(ccxt_async.NetworkError),
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=0.2, max=5),
                reraise=True,
            ):
                with attempt:
                    placed = await self._place(order, attempt.retry_state.attempt_number)
        except ccxt_async.NetworkError as exc:
            raise VenueError(f"{self.name}: {exc}") from exc
        except ccxt_async.ExchangeError as exc:  # the venue refused the order itself: no retry
            return LegReport(self.name, order.quantity, None, refusal=str(exc)[:300])
        except ccxt_async.BaseError as exc:  # e.g. a reply ccxt cannot parse: the outcome is unknown
            raise VenueError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        return report_from_ccxt(self.name, order, placed)

    async def close(self) -> None:
        await self._exchange.close()
