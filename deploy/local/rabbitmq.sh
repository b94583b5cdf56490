#!/usr/bin/env bash
# RabbitMQ from Debian's package as the Hatchet engine's message queue, when ZVT_HATCHET_MQ=rabbitmq
# (docs/workflows.md "Engine options measured"). Its own node, config, data and log under the run directory,
# loopback only, one user with a generated password; the package's system-wide node is never used.
# Usage: rabbitmq.sh install|start|stop|status
SERVICE=rabbitmq
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RABBIT_BIN=/usr/lib/rabbitmq/bin   # the package's own scripts (/usr/sbin's wrappers switch to its system user)
RABBIT_USER=hatchet
RABBIT_DIR="$ZVT_RUN_DIR/rabbitmq"

install() {
    [[ -x "$RABBIT_BIN/rabbitmq-server" ]] && return 0
    apt_install rabbitmq-server
    # The package may start a system-wide node on 5672; this stack runs its own.
    if command -v systemctl >/dev/null && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
        systemctl stop rabbitmq-server || true
    fi
}

# Every setting the node and rabbitmqctl need, so both find this stack's node and nobody else's: the node
# name carries the port, the Erlang cookie is the stack's own ($HOME), and Erlang's distribution (epmd, the
# node's and rabbitmqctl's distribution ports) listens on loopback only.
node_env() {
    mkdir -p "$RABBIT_DIR/mnesia" "$RABBIT_DIR/log"
    export HOME="$RABBIT_DIR"
    export RABBITMQ_NODENAME="zvt-$ZVT_RABBITMQ_PORT@localhost"
    export RABBITMQ_CONFIG_FILE="$RABBIT_DIR/rabbitmq.conf"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_DIR/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia"
    export RABBITMQ_LOG_BASE="$RABBIT_DIR/log"
    export RABBITMQ_PID_FILE="$RABBIT_DIR/node.pid"
    export RABBITMQ_DIST_PORT="$ZVT_RABBITMQ_DIST_PORT"
    export ERL_EPMD_ADDRESS=127.0.0.1
    local loopback='-kernel inet_dist_use_interface {127,0,0,1}'
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$loopback"
    export RABBITMQ_CTL_ERL_ARGS="$loopback"
}

ctl() { node_env; "$RABBIT_BIN/rabbitmqctl" -q "$@"; }

# Answers only when this stack's node (its name and cookie) runs.
healthy() { node_env; "$RABBIT_BIN/rabbitmq-diagnostics" -q check_port_connectivity >/dev/null 2>&1; }

write_config() {
    (umask 077
    # The cookie: made once, readable by the owner only (Erlang refuses it otherwise).
    [[ -s "$RABBIT_DIR/.erlang.cookie" ]] || secret rabbitmq-cookie >"$RABBIT_DIR/.erlang.cookie"
    chmod 400 "$RABBIT_DIR/.erlang.cookie"
    echo '[].' >"$RABBIT_DIR/enabled_plugins"   # no management UI: nothing listens beyond AMQP
    # default_user/default_pass seed a fresh node; start() sets the password on an existing one.
    cat >"$RABBIT_DIR/rabbitmq.conf.tmp" <<CONF
listeners.tcp.1 = 127.0.0.1:$ZVT_RABBITMQ_PORT
default_user = $RABBIT_USER
default_pass = $(secret rabbitmq-hatchet)
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users.guest = true
log.file.level = warning
log.console = false
CONF
    mv "$RABBIT_DIR/rabbitmq.conf.tmp" "$RABBIT_DIR/rabbitmq.conf")
}

launch() {
    if port_open "$ZVT_RABBITMQ_PORT"; then die "port $ZVT_RABBITMQ_PORT answers but is not this stack's RabbitMQ"; fi
    write_config
    node_env
    log "starting node $RABBITMQ_NODENAME on 127.0.0.1:$ZVT_RABBITMQ_PORT"
    start_daemon rabbitmq "$RABBIT_DIR/rabbitmq.log" "$RABBIT_BIN/rabbitmq-server"
    wait_for "rabbitmq" 120 healthy || { tail -n 30 "$RABBIT_DIR/rabbitmq.log" >&2; die "rabbitmq did not start"; }
}

start() {
    install
    mkdir -p "$RABBIT_DIR"
    ensure_running rabbitmq launch
    # The generated password, on stdin (never on a command line), also on a node seeded before it changed;
    # the guest user (the package's default) is removed.
    secret rabbitmq-hatchet | ctl change_password "$RABBIT_USER" >/dev/null \
        || die "could not set the password of RabbitMQ user $RABBIT_USER"
    ctl delete_user guest >/dev/null 2>&1 || true
    credentials_set hatchet ZVT_HATCHET_RABBITMQ_URL \
        "amqp://$RABBIT_USER:$(secret rabbitmq-hatchet)@127.0.0.1:$ZVT_RABBITMQ_PORT/"
    log "ready"
}

stop() {
    if pid_alive rabbitmq; then ctl shutdown >/dev/null 2>&1 || true; fi
    stop_pid rabbitmq
}

status() {
    if pid_alive rabbitmq && healthy; then log "running (pid $(cat "$(pid_file rabbitmq)"))"; else log "stopped"; return 1; fi
}

"${1:?usage: rabbitmq.sh install|start|stop|status}"
