"""Where every Kafka topic and Redis stream is named: see `topics.registry`."""

from topics.registry import Cleanup, KafkaTopic, RedisStream, Streams, Topics

__all__ = ["Cleanup", "KafkaTopic", "RedisStream", "Streams", "Topics"]
