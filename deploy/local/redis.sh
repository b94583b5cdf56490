#!/usr/bin/env bash
# Redis from Debian's package, its own config, data and log under the run directory.
# Usage: redis.sh install|start|stop|status
SERVICE=redis
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    apt_install redis-server redis-tools
    # The package starts a system-wide instance on 6379; this stack runs its own.
    if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
        systemctl stop redis-server || true
    fi
    pkill -f '^/usr/bin/redis-server 127.0.0.1:6379' 2>/dev/null || true
}

# Stream names carry the deployment's topic prefix ("" or e.g. "test-1a2b." in tests): keys are `zvt.*`
# with or without a dotted prefix in front.
STREAM_KEYS='resetkeys ~zvt.* ~*.zvt.* resetchannels'
CONNECT='+ping +hello +select +auth'  # redis-py ignores a refused CLIENT SETINFO
PUBLISH='+evalsha +eval +script|load +script|exists +xadd +zadd +zcard +zremrangebyrank'
# One ACL user per process kind; the default user is off, so every client authenticates.
declare -A ACL_RULES=(
    # the stack's scripts, the operator's CLI commands, tests and benchmarks
    [admin]='~* &* +@all'
    # Kafka <-> Redis: publishes into streams, reads, acknowledges and reclaims in consumer groups
    [bridge]="$STREAM_KEYS $CONNECT $PUBLISH +multi +exec +discard +xreadgroup +xread +xrevrange +xack
        +xautoclaim +xpending +xgroup|create +xinfo|groups +xlen"
    # Hatchet workflows: publish their outcomes, follow the streams they await, note where they started
    # reading (SET NX of place_order's positions, under zvt.*); no groups, no deletes
    [workflows]="$STREAM_KEYS $CONNECT $PUBLISH +xread +xrevrange +set"
    # `zvt smoke`: one entry through a consumer group of the alerts stream
    [smoke]="resetkeys ~zvt.alerts ~*.zvt.alerts resetchannels $CONNECT +xadd +xgroup|create +xreadgroup
        +xack +xpending"
)
REDIS_USERS=(admin bridge workflows smoke)

cli_admin() {
    REDISCLI_AUTH="$(secret redis-admin)" redis-cli --no-auth-warning --user admin \
        -h 127.0.0.1 -p "$ZVT_REDIS_PORT" "$@"
}

# Signed in as admin: a Redis from before the ACL users answers PING too (redis-cli goes on as the default
# user after a refused AUTH), and must be restarted, not taken for this stack's.
healthy() { [[ "$(cli_admin acl whoami 2>/dev/null)" == "admin" ]]; }
answers() { [[ "$(cli_admin ping 2>/dev/null)" == "PONG" ]]; }

# The ACL file holds SHA-256 digests, never the passwords; the passwords stay in the credentials files.
write_acl() {
    local file="$1" user digest
    (umask 077; : >"$file.tmp")
    # The default user is off: no client can use it, every client authenticates as one of the users below.
    # It keeps all permissions because Redis replays MULTI/EXEC blocks of the AOF as the default user and
    # re-checks them at EXEC (redis/redis#14541, fixed after 7.2): with -@all a restart silently drops them.
    echo "user default off resetpass ~* &* +@all" >>"$file.tmp"
    for user in "${REDIS_USERS[@]}"; do
        digest="$(printf '%s' "$(secret "redis-$user")" | sha256sum | cut -d' ' -f1)"
        echo "user $user on resetpass #$digest ${ACL_RULES[$user]//$'\n'/ }" | tr -s ' ' >>"$file.tmp"
    done
    mv "$file.tmp" "$file"
}

launch() {
    local dir; dir="$(service_dir redis)"
    if pid_alive redis && [[ "$(redis-cli -h 127.0.0.1 -p "$ZVT_REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; then
        log "this stack's Redis runs without ACL users (started before they existed): restarting it"
        cli_admin shutdown >/dev/null 2>&1 || true
        wait_for "redis to shut down" 30 stopped_open || stop_pid redis
    fi
    if port_open "$ZVT_REDIS_PORT"; then die "port $ZVT_REDIS_PORT answers but is not this stack's Redis"; fi
    write_acl "$dir/users.acl"
    # appendonly + fsync on every write: an XADD acknowledged to the producer survives a Redis restart.
    cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $ZVT_REDIS_PORT
protected-mode yes
dir $dir
pidfile $dir/redis.pid
logfile $dir/redis.log
daemonize yes
appendonly yes
appendfsync always
save ""
aclfile $dir/users.acl
CONF
    log "starting on 127.0.0.1:$ZVT_REDIS_PORT"
    redis-server "$dir/redis.conf"
    wait_for "redis" 30 healthy || { tail -n 30 "$dir/redis.log" >&2; die "redis did not start"; }
}

start() {
    install
    ensure_running redis launch
    # A Redis already running takes the users' current rules too (a rule added since it started).
    local acl; acl="$(service_dir redis)/users.acl"
    write_acl "$acl" && [[ "$(cli_admin acl load)" == "OK" ]] || die "redis did not load $acl"
    env_file_set ZVT_REDIS_URL "redis://127.0.0.1:$ZVT_REDIS_PORT/0"
    local u
    for u in "${REDIS_USERS[@]}"; do credentials_login "$u" ZVT_REDIS_USERNAME ZVT_REDIS_PASSWORD "$u" "redis-$u"; done
    log "ready"
}

stopped() { ! answers; }
stopped_open() { ! port_open "$ZVT_REDIS_PORT"; }

stop() {
    if pid_alive redis && answers; then
        cli_admin shutdown >/dev/null 2>&1 || true
        wait_for "redis to shut down" 30 stopped || stop_pid redis
    fi
    rm -f "$(pid_file redis)"
    log "stopped"
}

status() {
    if pid_alive redis && healthy; then log "running (pid $(cat "$(pid_file redis)"))"; else log "stopped"; return 1; fi
}

"${1:?usage: redis.sh install|start|stop|status}"
