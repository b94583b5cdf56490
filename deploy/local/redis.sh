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

healthy() { [[ "$(redis-cli -h 127.0.0.1 -p "$ZVT_REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; }

launch() {
    local dir; dir="$(service_dir redis)"
    if healthy; then die "port $ZVT_REDIS_PORT answers but is not this stack's Redis"; fi
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
CONF
    log "starting on 127.0.0.1:$ZVT_REDIS_PORT"
    redis-server "$dir/redis.conf"
    wait_for "redis" 30 healthy || { tail -n 30 "$dir/redis.log" >&2; die "redis did not start"; }
}

start() {
    install
    ensure_running redis launch
    env_file_set ZVT_REDIS_URL "redis://127.0.0.1:$ZVT_REDIS_PORT/0"
    log "ready"
}

stopped() { ! healthy; }

stop() {
    if pid_alive redis && healthy; then
        redis-cli -h 127.0.0.1 -p "$ZVT_REDIS_PORT" shutdown >/dev/null 2>&1 || true
        wait_for "redis to shut down" 30 stopped || stop_pid redis
    fi
    rm -f "$(pid_file redis)"
    log "stopped"
}

status() {
    if pid_alive redis && healthy; then log "running (pid $(cat "$(pid_file redis)"))"; else log "stopped"; return 1; fi
}

"${1:?usage: redis.sh install|start|stop|status}"
