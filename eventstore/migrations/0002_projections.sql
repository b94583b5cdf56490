-- Read models folded from the event store; all of them can be dropped and rebuilt by `zvt replay`.

-- One row per workflow run or order flow (a correlation id).
CREATE TABLE event_correlations (
    correlation_id uuid PRIMARY KEY,
    flow_type text NOT NULL,
    status text NOT NULL,
    started_at timestamptz NOT NULL,
    completed_at timestamptz,
    last_event_at timestamptz NOT NULL,
    event_count bigint NOT NULL CHECK (event_count > 0),
    last_position bigint NOT NULL
);
CREATE INDEX event_correlations_open_idx ON event_correlations (started_at) WHERE completed_at IS NULL;

-- An account's position in one symbol: the latest position.updated of aggregate account_id:symbol.
CREATE TABLE position_projections (
    account_id text NOT NULL,
    symbol text NOT NULL,
    quantity numeric NOT NULL,
    average_cost numeric NOT NULL,
    realized_pnl numeric NOT NULL,
    unrealized_pnl numeric NOT NULL,
    fees_paid numeric NOT NULL,
    mark_price numeric,
    quote_currency text NOT NULL,
    last_event_version bigint NOT NULL,
    last_position bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, symbol)
);

-- A portfolio (today: one per account) per quote currency: money is never summed across currencies.
-- last_event_version is the store position of the last event folded into it.
CREATE TABLE portfolio_projections (
    portfolio_id text NOT NULL,
    currency text NOT NULL,
    total_value numeric NOT NULL,
    realized_pnl numeric NOT NULL,
    unrealized_pnl numeric NOT NULL,
    fees_paid numeric NOT NULL,
    open_positions integer NOT NULL,
    last_event_version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (portfolio_id, currency)
);
