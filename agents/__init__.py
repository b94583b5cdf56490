"""Faust agents: each consumes one topic (or co-partitioned topics) and publishes derived events.

| module | consumes | produces |
|---|---|---|
| `market_data` | market.ticks | market.prices, market.orderbooks |
| `risk` | orders.requested (+ executed, rejected: its state) | orders.validated, orders.rejected |
| `router` | orders.validated | orders.routed, orders.rejected |
| `execution` | orders.routed | orders.created, orders.executed, orders.rejected |
| `portfolio` | orders.executed (+ marks from market.prices) | positions.updated |
| `risk_monitor` | positions.updated | risk.breaches, alerts |
"""
