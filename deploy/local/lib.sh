# shellcheck shell=bash
# Helpers shared by the service scripts: logging, pid files, waiting for health.
set -euo pipefail
# shellcheck source=deploy/local/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"

log() { printf '[%s] %s\n' "${SERVICE:-stack}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

service_dir() { mkdir -p "$ZVT_RUN_DIR/$1" && echo "$ZVT_RUN_DIR/$1"; }
pid_file() { echo "$ZVT_RUN_DIR/$1/$1.pid"; }

# running PID -> 0 when PID is a live process (an exited but unreaped zombie does not count).
running() {
    kill -0 "$1" 2>/dev/null || return 1
    local state; state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$state" != "Z" ]]
}

# pid_alive NAME -> 0 when the pid recorded for NAME is a live process.
pid_alive() {
    local f; f="$(pid_file "$1")"
    [[ -s "$f" ]] && running "$(cat "$f")"
}

# ensure_running NAME COMMAND... : leave NAME alone when its recorded process is alive and the service's
# `healthy` check passes; otherwise run COMMAND to launch it.
ensure_running() {
    local name="$1"; shift
    if pid_alive "$name" && healthy; then log "already running (pid $(cat "$(pid_file "$name")"))"; else "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND... : poll until COMMAND succeeds.
wait_for() {
    local what="$1" timeout="$2"; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.5
    done
}

# stop_pid NAME : TERM the recorded process and its group (start_daemon made it a session leader),
# then KILL after a grace period.
stop_pid() {
    local name="$1" f pid
    f="$(pid_file "$name")"
    [[ -s "$f" ]] || { log "not running"; return 0; }
    pid="$(cat "$f")"
    if running "$pid"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while running "$pid" && ((SECONDS < deadline)); do sleep 0.3; done
        if running "$pid"; then
            log "still alive after 30s, sending KILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$f"
    log "stopped"
}

# start_daemon NAME LOGFILE COMMAND... : run COMMAND detached in its own session, record its pid.
start_daemon() {
    local name="$1" logfile="$2"; shift 2
    setsid "$@" >>"$logfile" 2>&1 < /dev/null &
    echo $! >"$(pid_file "$name")"
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        # `dpkg -s` succeeds for removed packages whose config files remain: ask for the installed state.
        [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    local sudo=""; [[ $EUID -ne 0 ]] && sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# file_set FILE KEY VALUE : KEY=VALUE in FILE, replacing an earlier value; the file is 0600.
file_set() {
    file_unset "$1" "$2"
    printf '%s=%s\n' "$2" "$3" >>"$1"
}

file_unset() {
    (umask 077; mkdir -p "$(dirname "$1")" && touch "$1")
    grep -v "^${2}=" "$1" >"$1.tmp" || true
    chmod 600 "$1.tmp"
    mv "$1.tmp" "$1"
}

# The generated environment file read by the Python settings (0600: it holds the Hatchet client token).
env_file_set() { file_set "$ZVT_ENV_FILE" "$1" "$2"; }
env_file_unset() { file_unset "$ZVT_ENV_FILE" "$1"; }
# What a process reads on top of the env file when it runs with ZVT_TLS=1: the TLS endpoints of the stack.
tls_env_file_set() { file_set "$ZVT_RUN_DIR/tls.env" "$1" "$2"; }

# secret NAME : print the generated password kept in $ZVT_RUN_DIR/credentials/NAME, making it on first use.
# The directory is 0700 and every file 0600: only the stack's owner reads them. Letters and digits only
# (safe in URLs, DSNs and config files), always with an upper- and a lower-case letter and a digit.
credentials_dir() { echo "$ZVT_RUN_DIR/credentials"; }
secret() {
    local dir; dir="$(credentials_dir)"
    local file="$dir/$1"
    (umask 077; mkdir -p "$dir")
    chmod 700 "$dir"
    if [[ ! -s "$file" ]]; then
        (umask 077; printf 'Zv1%s\n' "$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" >"$file.tmp")
        mv "$file.tmp" "$file"
    fi
    chmod 600 "$file"
    head -n1 "$file"
}

# credentials_set KIND KEY VALUE : KEY=VALUE in $ZVT_RUN_DIR/credentials/KIND.env, the settings a process of
# that kind (its Kafka principal, Redis user, PostgreSQL role) reads on top of the shared env file.
credentials_set() { file_set "$(credentials_dir)/$1.env" "$2" "$3"; }

# credentials_login KIND USER_KEY PASSWORD_KEY LOGIN SECRET : the login a process of KIND signs in with.
credentials_login() {
    credentials_set "$1" "$2" "$4"
    credentials_set "$1" "$3" "$(secret "$5")"
}
