"""The pure trading core: market rules, risk checks, routing, paper matching, positions and PnL.

Nothing here does I/O or imports Kafka, Redis, Hatchet, asyncpg or ccxt: agents and workflows are thin
shells that feed it events and publish what it returns, so every rule is tested without a broker.
"""
