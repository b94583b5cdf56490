"""zvt: event-driven crypto trading (Faust agents, Hatchet workflows, Redis Streams, PostgreSQL)."""

__version__ = "0.1.0"
