#!/usr/bin/env bash
# The whole local stack: PostgreSQL, Redis, Kafka and the Hatchet engine on loopback.
# Usage: stack.sh install|up|down|status|env
#   install  fetch/build everything once (cached under $ZVT_CACHE_DIR)
#   up       start every service that is not running and wait until each is healthy (idempotent)
#   down     stop every service, leaving no process behind
#   status   one line per service; exit 1 if any is down
#   env      print the path of the environment file the Python side reads
SERVICE=stack
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$(dirname "${BASH_SOURCE[0]}")"

# Start order matters: Hatchet keeps its state in PostgreSQL; tls makes the CA and server certificate (no
# process) that postgres and kafka present.
SERVICES=(tls postgres redis kafka hatchet)

for_each() {
    local verb="$1"; shift
    local rc=0 svc
    for svc in "$@"; do "$HERE/$svc.sh" "$verb" || rc=1; done
    return $rc
}

# The keyring every event is signed with (schemas/signing.py), made once, 0600 beside the passwords.
signing_keyring() {
    local python="$ZVT_REPO_ROOT/.venv/bin/python"
    [[ -x "$python" ]] || die "no .venv: run deploy/bootstrap.sh first (it makes the signing keyring's tool)"
    ZVT_RUN_DIR="$ZVT_RUN_DIR" "$python" -m zvt keys init >&2
}

reverse() { local i; for ((i = $# ; i > 0 ; i--)); do echo "${!i}"; done; }

case "${1:?usage: stack.sh install|up|down|status|env}" in
    install) for_each install "${SERVICES[@]}" ;;
    up) for_each start "${SERVICES[@]}" && signing_keyring && log "all services ready; settings in $ZVT_ENV_FILE" ;;
    down) for_each stop $(reverse "${SERVICES[@]}") ;;
    status) for_each status "${SERVICES[@]}" ;;
    env) echo "$ZVT_ENV_FILE" ;;
    *) die "unknown command $1" ;;
esac
