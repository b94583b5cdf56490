"""Every event of the platform, one module per domain, and the codec that puts them on the wire.

Where an event is defined: `schemas/<domain>.py`. Which topic carries it: `topics/registry.py`.
"""

from schemas.base import Event
from schemas.codec import EventCodec, EventDecodeError
from schemas.market import BookLevel, OrderBookUpdated, PriceUpdated, QuoteTick, TradeTick
from schemas.orders import (
    CancelReason,
    ExchangeRouted,
    ModifyRejectReason,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderCreated,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderTriggered,
    OrderValidated,
    RejectReason,
    RouteLeg,
    VenueScore,
)
from schemas.portfolio import PortfolioRebalanced, PositionUpdated, RebalanceStatus
from schemas.registry import EventRegistry, UnknownEventTypeError, UpcastError
from schemas.risk import AlertTriggered, RiskBreached

ALL_EVENT_TYPES: tuple[type[Event], ...] = (
    OrderRequested,
    OrderValidated,
    OrderRejected,
    OrderCreated,
    ExchangeRouted,
    OrderExecuted,
    OrderAccepted,
    OrderTriggered,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderCancelRequested,
    OrderAmendRequested,
    OrderCancelRejected,
    OrderAmendRejected,
    PositionUpdated,
    RiskBreached,
    PortfolioRebalanced,
    AlertTriggered,
    PriceUpdated,
    OrderBookUpdated,
    TradeTick,
    QuoteTick,
)

EVENT_REGISTRY = EventRegistry(ALL_EVENT_TYPES)
CODEC = EventCodec(EVENT_REGISTRY)

__all__ = [
    "ALL_EVENT_TYPES",
    "CODEC",
    "EVENT_REGISTRY",
    "AlertTriggered",
    "BookLevel",
    "CancelReason",
    "Event",
    "EventCodec",
    "EventDecodeError",
    "EventRegistry",
    "ExchangeRouted",
    "ModifyRejectReason",
    "OrderAccepted",
    "OrderAmendRejected",
    "OrderAmendRequested",
    "OrderAmended",
    "OrderBookUpdated",
    "OrderCancelRejected",
    "OrderCancelRequested",
    "OrderCanceled",
    "OrderCreated",
    "OrderExecuted",
    "OrderExpired",
    "OrderRejected",
    "OrderRequested",
    "OrderStatus",
    "OrderTriggered",
    "OrderValidated",
    "PortfolioRebalanced",
    "PositionUpdated",
    "PriceUpdated",
    "QuoteTick",
    "RebalanceStatus",
    "RejectReason",
    "RiskBreached",
    "RouteLeg",
    "TradeTick",
    "UnknownEventTypeError",
    "UpcastError",
    "VenueScore",
]
