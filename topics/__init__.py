"""Where every Kafka topic and Redis stream is named: see `topics.registry`."""

from topics.registry import (
    AGENT_INPUTS,
    AGENTS_GROUP,
    Cleanup,
    KafkaTopic,
    RedisStream,
    StateChangelogs,
    Streams,
    Topics,
)

__all__ = [
    "AGENTS_GROUP",
    "AGENT_INPUTS",
    "Cleanup",
    "KafkaTopic",
    "RedisStream",
    "StateChangelogs",
    "Streams",
    "Topics",
]
