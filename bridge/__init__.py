"""The Redis Streams event bus (`bus`, `consumer`) and the Kafka <-> Redis bridge process (`forward`)."""

from bridge.bus import StreamBus
from bridge.consumer import ConsumerConfig, Delivery, StreamConsumer, event_consumer
from bridge.forward import Bridge, run_bridge
from bridge.routes import Routes

__all__ = [
    "Bridge",
    "ConsumerConfig",
    "Delivery",
    "Routes",
    "StreamBus",
    "StreamConsumer",
    "event_consumer",
    "run_bridge",
]
