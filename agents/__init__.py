"""Agents: batch stages hosted by a Faust app; each consumes one topic (or co-partitioned topics).

| module | consumes | produces |
|---|---|---|
| `market_data` | market.ticks | market.prices, market.orderbooks |
| `orders` | orders.requested (+ .executed, .rejected if live) | orders.validated, .routed, .executed, ...
| `live_execution` | orders.routed (live legs only) | orders.created, orders.executed, orders.rejected |
| `portfolio` | orders.executed (+ marks from the market view) | positions.updated |
| `risk_monitor` | positions.updated | risk.breaches, alerts |
| `strategies` | market.prices | orders.requested |

How a stage consumes, keeps state and drops copies: `agents.stage`.
"""
