#!/usr/bin/env bash
# PostgreSQL from Debian's package, as a private cluster under the run directory.
# Usage: postgres.sh install|start|stop|status
# With ZVT_PG_CLUSTER=hatchet: the Hatchet engine's own cluster on $ZVT_HATCHET_PG_PORT (hatchet.sh starts it
# when that port is set), holding only its database and role; the event store's cluster then has neither.
PG_NAME=postgres
[[ "${ZVT_PG_CLUSTER:-}" == hatchet ]] && PG_NAME=postgres-hatchet
SERVICE=$PG_NAME
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ "$PG_NAME" == postgres-hatchet ]]; then
    [[ -n "$ZVT_HATCHET_PG_PORT" ]] || die "ZVT_PG_CLUSTER=hatchet needs ZVT_HATCHET_PG_PORT"
    ZVT_PG_PORT="$ZVT_HATCHET_PG_PORT"
fi

PG_BIN="/usr/lib/postgresql/$ZVT_PG_MAJOR/bin"
PG_HOME="$ZVT_RUN_DIR/$PG_NAME"   # pid file, and a link to the cluster when it lives elsewhere
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

tls_on() { [[ "$(psql_admin -tA -c 'SHOW ssl')" == "on" ]]; }

psql_admin() {
    as_owner "$PG_BIN/psql" -v ON_ERROR_STOP=1 -q -h "$PG_SOCKET_DIR" -p "$ZVT_PG_PORT" -U postgres -d postgres "$@"
}

# A cluster kept outside the run directory outlives it: a new checkout at the same path (a CI machine that
# cleans only its work tree) finds the last one's files, whose passwords and Hatchet admin it does not know.
# The run directory has no link to it, so nothing of this stack uses it: stop it if it runs, then remove it.
# Where the cluster of a run directory that 'postgres' cannot reach lives (linked as $PG_HOME/cluster).
private_cluster_dir() { echo "/var/lib/postgresql/zvt-$ZVT_PG_PORT-$(echo "$PG_HOME" | md5sum | cut -c1-8)"; }

discard_orphan_cluster() {
    local orphan="$1"
    [[ -e "$orphan" ]] || return 0
    log "removing $orphan, left by an earlier run directory at this path"
    if [[ -f "$orphan/data/postmaster.pid" ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$orphan/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$orphan"
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
            local private_dir; private_dir="$(private_cluster_dir)"
            log "$PG_HOME is not reachable by user postgres; using $private_dir"
            discard_orphan_cluster "$private_dir"
            mkdir -p "$private_dir" && chown postgres:postgres "$private_dir"
            PG_DIR="$private_dir"; PG_DATA="$private_dir/data"
            ln -sfn "$private_dir" "$PG_HOME/cluster"
        fi
    fi
    as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
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

# Roles: the owner ($ZVT_PG_USER) migrates and owns the event store; zvt_sink appends (grants in
# eventstore/migrations/0004_privileges.sql); zvt_reader reads; hatchet owns the Hatchet engine's database.
# Every password is generated and set on each start (so a cluster made before them is upgraded).
PG_ROLES=("$ZVT_PG_USER" zvt_sink zvt_reader hatchet)
PG_DATABASES=("$ZVT_PG_DATABASE" "$ZVT_PG_HATCHET_DATABASE")
# Which role each process kind signs in as (kinds without one do not use PostgreSQL).
declare -A PG_ROLE_OF=([admin]="$ZVT_PG_USER" [sink]=zvt_sink [workflows]=zvt_reader [monitor]=zvt_reader
    [smoke]=zvt_reader [api]=zvt_reader)
if [[ "$PG_NAME" == postgres-hatchet ]]; then
    PG_ROLES=(hatchet); PG_DATABASES=("$ZVT_PG_HATCHET_DATABASE"); PG_ROLE_OF=()
elif [[ -n "$ZVT_HATCHET_PG_PORT" ]]; then
    PG_ROLES=("$ZVT_PG_USER" zvt_sink zvt_reader); PG_DATABASES=("$ZVT_PG_DATABASE")
fi

# Only the cluster's owner may use the socket, as the superuser (peer); TCP always asks for a SCRAM password.
write_access_rules() {
    local os_user; os_user="$(as_owner id -un)"
    cat >"$PG_DATA/pg_hba.conf" <<HBA
# Written by deploy/local/postgres.sh on every start.
local   all   postgres                     peer map=owner
host    all   all        127.0.0.1/32      scram-sha-256
host    all   all        ::1/128           scram-sha-256
HBA
    echo "owner $os_user postgres" >"$PG_DATA/pg_ident.conf"
    grep -q '^password_encryption' "$PG_DATA/postgresql.conf" \
        || echo "password_encryption = scram-sha-256" >>"$PG_DATA/postgresql.conf"
    if [[ $EUID -eq 0 ]]; then chown postgres:postgres "$PG_DATA/pg_hba.conf" "$PG_DATA/pg_ident.conf"; fi
}

# TLS with the stack's server certificate (tls.sh), copied into the data directory: the server loads a key
# only when the cluster's owner owns it and nobody else may read it. Plain TCP stays allowed beside it: each
# client chooses (zvt.env says sslmode=disable; ZVT_TLS=1 switches to verify-full against the CA).
# Sets TLS_CHANGED=1 when the certificate or the settings were new, so a running server must reload.
TLS_CHANGED=0
install_server_certificate() {
    "$(dirname "${BASH_SOURCE[0]}")/tls.sh" start
    local f
    for f in server.crt server.key; do
        if ! cmp -s "$ZVT_TLS_DIR/$f" "$PG_DATA/$f"; then
            (umask 077; cp "$ZVT_TLS_DIR/$f" "$PG_DATA/$f.tmp")
            if [[ $EUID -eq 0 ]]; then chown postgres:postgres "$PG_DATA/$f.tmp"; fi
            mv "$PG_DATA/$f.tmp" "$PG_DATA/$f"
            TLS_CHANGED=1
        fi
    done
    if ! grep -q '^ssl = on' "$PG_DATA/postgresql.conf"; then
        cat >>"$PG_DATA/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_min_protocol_version = 'TLSv1.2'
CONF
        TLS_CHANGED=1
    fi
}

ensure_roles_and_databases() {
    local role
    for role in "${PG_ROLES[@]}"; do
        # On stdin, never on a command line; the server stores only the SCRAM verifier.
        psql_admin <<SQL
SET password_encryption = 'scram-sha-256';
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE "$role" LOGIN; END IF;
END \$\$;
ALTER ROLE "$role" LOGIN PASSWORD '$(secret "postgres-$role")';
SQL
    done
    [[ "$PG_NAME" == postgres ]] && psql_admin -c "ALTER ROLE \"$ZVT_PG_USER\" CREATEDB"   # tests make databases
    local db owner
    for db in "${PG_DATABASES[@]}"; do
        owner="$ZVT_PG_USER"; [[ "$db" == "$ZVT_PG_HATCHET_DATABASE" ]] && owner=hatchet
        if [[ -z "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
            psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$owner\""
        fi
    done
    [[ "${PG_DATABASES[*]}" == *"$ZVT_PG_HATCHET_DATABASE"* ]] && give_hatchet_its_database
    # Nobody but the owner makes objects in the event store's schema (PostgreSQL 15's default already).
    [[ "$PG_NAME" == postgres ]] && psql_admin -d "$ZVT_PG_DATABASE" -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC"
    return 0
}

# A cluster made before the hatchet role kept Hatchet's tables under the event store's owner: hand them over
# (REASSIGN also moves the owner's other databases, which are given back).
give_hatchet_its_database() {
    local owner; owner="$(psql_admin -tA -c "SELECT datdba::regrole FROM pg_database WHERE datname = '$ZVT_PG_HATCHET_DATABASE'")"
    [[ "$owner" == "hatchet" ]] && return 0
    log "moving database $ZVT_PG_HATCHET_DATABASE from role $owner to role hatchet"
    psql_admin -d "$ZVT_PG_HATCHET_DATABASE" <<SQL
DO \$\$ DECLARE others text[]; db text; BEGIN
  SELECT coalesce(array_agg(datname), '{}') INTO others FROM pg_database
   WHERE datdba = '$owner'::regrole AND datname <> '$ZVT_PG_HATCHET_DATABASE';
  EXECUTE format('REASSIGN OWNED BY %I TO hatchet', '$owner');
  FOREACH db IN ARRAY others LOOP EXECUTE format('ALTER DATABASE %I OWNER TO %I', db, '$owner'); END LOOP;
END \$\$;
SQL
}

start() {
    install
    if healthy && ! pid_alive "$PG_NAME" && [[ ! -L "$PG_HOME/cluster" && -f "$(private_cluster_dir)/data/postmaster.pid" ]]; then
        discard_orphan_cluster "$(private_cluster_dir)"   # still running: its run directory was removed under it
    fi
    if healthy; then
        pid_alive "$PG_NAME" || die "port $ZVT_PG_PORT answers but is not this stack's cluster"
        log "already running"
        if ! grep -q '^# Written by deploy/local/postgres.sh' "$PG_DATA/pg_hba.conf"; then
            log "replacing the access rules of a cluster made before them"
            write_access_rules
            as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
        fi
        install_server_certificate
        if ((TLS_CHANGED)); then
            log "reloading: TLS settings or server certificate changed"
            as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
            wait_for "TLS after the reload" 20 tls_on || die "ssl is still off after the reload (see $PG_DIR/postgres.log)"
        fi
    else
        init_cluster
        write_access_rules
        install_server_certificate
        log "starting on 127.0.0.1:$ZVT_PG_PORT"
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
        wait_for "postgres" 60 healthy || { tail -n 30 "$PG_DIR/postgres.log" >&2; die "postgres did not start"; }
    fi
    head -n1 "$PG_DATA/postmaster.pid" >"$(pid_file "$PG_NAME")"
    ensure_roles_and_databases
    if [[ "$PG_NAME" == postgres-hatchet ]]; then publish_hatchet_url; log "ready"; return 0; fi
    env_file_set ZVT_POSTGRES_DSN "postgresql://127.0.0.1:$ZVT_PG_PORT/$ZVT_PG_DATABASE"
    # Clear text on loopback unless a process asks for TLS (ZVT_TLS=1 reads tls.env); never asyncpg's
    # default `prefer`, which would encrypt without checking the certificate.
    env_file_set ZVT_POSTGRES_SSLMODE disable
    env_file_set ZVT_POSTGRES_SSLROOTCERT "$ZVT_TLS_DIR/ca.crt"
    tls_env_file_set ZVT_POSTGRES_SSLMODE verify-full
    local kind role
    for kind in "${!PG_ROLE_OF[@]}"; do
        role="${PG_ROLE_OF[$kind]}"
        credentials_login "$kind" ZVT_POSTGRES_USER ZVT_POSTGRES_PASSWORD "$role" "postgres-$role"
    done
    env_file_unset ZVT_HATCHET_DATABASE_URL   # an older stack kept it (with the owner's password) there
    [[ -z "$ZVT_HATCHET_PG_PORT" ]] && publish_hatchet_url
    log "ready"
}

# The engine's database, in whichever cluster holds it (hatchet.sh reads it).
publish_hatchet_url() {
    credentials_set hatchet ZVT_HATCHET_DATABASE_URL \
        "postgresql://hatchet:$(secret postgres-hatchet)@127.0.0.1:$ZVT_PG_PORT/$ZVT_PG_HATCHET_DATABASE?sslmode=disable"
}

stop() {
    if [[ -f "$PG_DATA/postmaster.pid" ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null || true
    fi
    rm -f "$(pid_file "$PG_NAME")"
    log "stopped"
}

status() {
    if healthy; then log "running (pid $(cat "$(pid_file "$PG_NAME")" 2>/dev/null))"; else log "stopped"; return 1; fi
}

"${1:?usage: postgres.sh install|start|stop|status}"
