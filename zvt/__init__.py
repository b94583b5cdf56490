"""zvt: an event-driven crypto trading platform (Faust agents, Hatchet workflows, Redis Streams, PostgreSQL)."""

__version__ = "0.1.0"
