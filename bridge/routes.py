"""Pure: the bridge's routes, read from the registry (`RedisStream.from_topics` / `.to_topic`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from topics.registry import KafkaTopic, RedisStream, Streams


@dataclass(frozen=True)
class InboundRoute:
    """Kafka topic -> Redis stream."""

    topic: KafkaTopic
    stream: RedisStream


@dataclass(frozen=True)
class OutboundRoute:
    """Redis stream -> Kafka topic."""

    stream: RedisStream
    topic: KafkaTopic


@dataclass(frozen=True)
class Routes:
    inbound: tuple[InboundRoute, ...]
    outbound: tuple[OutboundRoute, ...]

    @classmethod
    def of(cls, streams: Iterable[RedisStream] | None = None) -> Routes:
        """The routes of `streams` (every registered stream by default)."""
        chosen = tuple(Streams.all() if streams is None else streams)
        return cls(
            inbound=tuple(InboundRoute(topic, stream) for stream in chosen for topic in stream.from_topics),
            outbound=tuple(OutboundRoute(s, s.to_topic) for s in chosen if s.to_topic is not None),
        )

    @classmethod
    def named(cls, names: Iterable[str]) -> Routes:
        """The routes of the streams named (registry names, without prefix); unknown names raise."""
        by_name = {stream.name: stream for stream in Streams.all()}
        wanted = list(names)
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise LookupError(f"unknown streams {unknown}; known: {sorted(by_name)}")
        return cls.of(by_name[name] for name in wanted)

    def by_topic(self, prefix: str) -> dict[str, InboundRoute]:
        """Inbound routes by the full Kafka topic name a record arrives on."""
        table: dict[str, InboundRoute] = {}
        for route in self.inbound:
            name = route.topic.full_name(prefix)
            if name in table:
                raise ValueError(
                    f"{route.topic.name} feeds both {table[name].stream.name} and {route.stream.name}"
                )
            table[name] = route
        return table
