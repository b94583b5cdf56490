"""The event store: every event kept once, in order, with its causality; read models rebuilt from it.

Modules, one job each: `migrate` (schema), `db` (connections), `aggregates` (which stream an event
belongs to), `store` (append and read), `sink` (Kafka -> store, effectively once), `projections`
(position, portfolio and correlation read models), `replay`, `trace`, `partitions` and `retention`.
"""
