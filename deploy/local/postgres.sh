#!/usr/bin/env bash
# PostgreSQL from Debian's package, as a private cluster under the run directory.
# Usage: postgres.sh install|start|stop|status
SERVICE=postgres
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN="/usr/lib/postgresql/$ZVT_PG_MAJOR/bin"
PG_HOME="$ZVT_RUN_DIR/postgres"   # pid file, and a link to the cluster when it lives elsewhere
PG_DIR="$PG_HOME"
[[ -L "$PG_HOME/cluster" ]] && PG_DIR="$(readlink "$PG_HOME/cluster")"
PG_DATA="$PG_DIR/data"
PG_SOCKET_DIR=/tmp   # short and writable by any owner (socket paths are limited to ~100 bytes)
export PGOPTIONS="-c client_min_messages=warning"

# PostgreSQL refuses to run as root: the cluster belongs to the 'postgres' system user then.
as_owner() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
    [[ -x "$PG_BIN/postgres" ]] || apt_install "postgresql-$ZVT_PG_MAJOR" "postgresql-contrib"
    [[ -x "$PG_BIN/postgres" ]] || die "$PG_BIN/postgres missing after install"
}

healthy() { as_owner "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$ZVT_PG_PORT"; }

psql_admin() {
    as_owner "$PG_BIN/psql" -v ON_ERROR_STOP=1 -q -h "$PG_SOCKET_DIR" -p "$ZVT_PG_PORT" -U postgres -d postgres "$@"
}

init_cluster() {
    [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
    log "initialising cluster in $PG_DATA"
    mkdir -p "$PG_HOME"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$PG_HOME"
        # A checkout under a private home (e.g. /root) is not reachable by 'postgres':
        # keep the cluster's files in its own home then, linked from the run directory.
        if ! runuser -u postgres -- test -w "$PG_HOME"; then
            local private_dir="/var/lib/postgresql/zvt-$ZVT_PG_PORT-$(echo "$PG_HOME" | md5sum | cut -c1-8)"
            log "$PG_HOME is not reachable by user postgres; using $private_dir"
            mkdir -p "$private_dir" && chown postgres:postgres "$private_dir"
            PG_DIR="$private_dir"; PG_DATA="$private_dir/data"
            ln -sfn "$private_dir" "$PG_HOME/cluster"
        fi
    fi
    as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $ZVT_PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 250
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
CONF
}

ensure_roles_and_databases() {
    psql_admin <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ZVT_PG_USER') THEN
    CREATE ROLE "$ZVT_PG_USER" LOGIN PASSWORD '$ZVT_PG_PASSWORD' CREATEDB;
  END IF;
END \$\$;
SQL
    local db
    for db in "$ZVT_PG_DATABASE" "$ZVT_PG_HATCHET_DATABASE"; do
        if [[ -z "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
            psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$ZVT_PG_USER\""
        fi
    done
}

start() {
    install
    if healthy; then
        pid_alive postgres || die "port $ZVT_PG_PORT answers but is not this stack's cluster"
        log "already running"
    else
        init_cluster
        log "starting on 127.0.0.1:$ZVT_PG_PORT"
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
        wait_for "postgres" 60 healthy || { tail -n 30 "$PG_DIR/postgres.log" >&2; die "postgres did not start"; }
    fi
    head -n1 "$PG_DATA/postmaster.pid" >"$(pid_file postgres)"
    ensure_roles_and_databases
    local base="postgresql://$ZVT_PG_USER:$ZVT_PG_PASSWORD@127.0.0.1:$ZVT_PG_PORT"
    env_file_set ZVT_POSTGRES_DSN "$base/$ZVT_PG_DATABASE"
    env_file_set ZVT_HATCHET_DATABASE_URL "$base/$ZVT_PG_HATCHET_DATABASE?sslmode=disable"
    log "ready"
}

stop() {
    if [[ -f "$PG_DATA/postmaster.pid" ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null || true
    fi
    rm -f "$(pid_file postgres)"
    log "stopped"
}

status() {
    if healthy; then log "running (pid $(cat "$(pid_file postgres)" 2>/dev/null))"; else log "stopped"; return 1; fi
}

"${1:?usage: postgres.sh install|start|stop|status}"
