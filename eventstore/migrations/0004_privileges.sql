-- Least privilege: the owner (who runs these migrations) keeps DDL; the sink appends; readers read.
-- zvt_sink and zvt_reader are cluster-wide roles made by the deployment (deploy/local/postgres.sh,
-- deploy/compose/postgres-init.sh, the k8s secret's init job); without them the grants are skipped and the
-- owner stays the only role, as before.
--
-- Two things the sink needs that plain grants would give too much for run as the owner, SECURITY DEFINER:
-- LOCK TABLE event_store IN EXCLUSIVE MODE (it orders positions; the lock needs UPDATE or DELETE rights),
-- and creating a month's partition of a time-partitioned table (which needs the parent's ownership).

CREATE FUNCTION lock_event_store() RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public
    AS $$ LOCK TABLE event_store IN EXCLUSIVE MODE $$;

CREATE FUNCTION ensure_month_partition(parent text, month date) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
    AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := format('%s_p%s', parent, to_char(first, 'YYYYMM'));
BEGIN
    IF parent NOT IN ('trading_events', 'performance_metrics') THEN
        RAISE EXCEPTION '% is not a partitioned table', parent;
    END IF;
    IF to_regclass(format('%I', name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        name, parent, first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    );
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION lock_event_store() FROM PUBLIC;
REVOKE ALL ON FUNCTION ensure_month_partition(text, date) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'zvt_sink') THEN
        GRANT USAGE ON SCHEMA public TO zvt_sink;
        GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO zvt_sink;
        REVOKE INSERT ON schema_migrations FROM zvt_sink;
        -- upserts: the sink's own offsets and the read models it keeps up to date
        GRANT UPDATE ON event_sink_offsets, event_correlations, position_projections, portfolio_projections
            TO zvt_sink;
        GRANT EXECUTE ON FUNCTION lock_event_store(), ensure_month_partition(text, date) TO zvt_sink;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO zvt_sink;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'zvt_reader') THEN
        GRANT USAGE ON SCHEMA public TO zvt_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO zvt_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO zvt_reader;
    END IF;
END
$$;
