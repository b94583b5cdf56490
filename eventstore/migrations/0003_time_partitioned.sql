-- Time-series tables, range-partitioned by month; partitions are created ahead of time by
-- `zvt db migrate` (eventstore/partitions.py), on demand by their writers for older months, and dropped
-- or archived by `zvt db retention`. The event store itself is never partitioned away: it is the audit trail.

-- Order lifecycle events, flattened for analytics (written by the sink beside the event store).
CREATE TABLE trading_events (
    "timestamp" timestamptz NOT NULL,
    event_id uuid NOT NULL,
    position bigint NOT NULL,
    event_type text NOT NULL,
    correlation_id uuid NOT NULL,
    order_id text NOT NULL,
    account_id text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL,
    venue text,
    quantity numeric,
    price numeric,
    PRIMARY KEY (event_id, "timestamp")
) PARTITION BY RANGE ("timestamp");
CREATE INDEX trading_events_order_idx ON trading_events (order_id, "timestamp");

-- Periodic performance figures per portfolio (PnL, value, drawdown, ...), one row per metric and time.
CREATE TABLE performance_metrics (
    recorded_at timestamptz NOT NULL,
    portfolio_id text NOT NULL,
    metric text NOT NULL,
    value numeric NOT NULL,
    currency text,
    PRIMARY KEY (portfolio_id, metric, recorded_at)
) PARTITION BY RANGE (recorded_at);
