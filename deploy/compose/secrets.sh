#!/usr/bin/env bash
# Generate the passwords deploy/compose.yaml reads into deploy/.env (0600), once; rerunning keeps them.
# Each process then gets its kind's credentials as environment variables (docs/security.md), e.g. the sink
#   ZVT_KAFKA_USERNAME=sink ZVT_KAFKA_PASSWORD=<ZVT_KAFKA_SINK_PASSWORD> ZVT_POSTGRES_USER=zvt_sink ...
set -euo pipefail
env_file="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.env"
umask 077
touch "$env_file"
chmod 600 "$env_file"
for name in PG_ZVT PG_SINK PG_READER PG_HATCHET REDIS_ADMIN REDIS_BRIDGE REDIS_WORKFLOWS REDIS_SMOKE \
    KAFKA_ADMIN KAFKA_CONTROLLER KAFKA_AGENTS KAFKA_SINK KAFKA_BRIDGE KAFKA_WORKFLOWS KAFKA_PUBLISHER \
    KAFKA_MONITOR KAFKA_SMOKE KAFKA_KEYSTORE HATCHET_ADMIN; do
    var="ZVT_${name}_PASSWORD"
    grep -q "^${var}=" "$env_file" \
        || printf '%s=Zv1%s\n' "$var" "$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" >>"$env_file"
done
echo "passwords in $env_file"
# The keyring every event is signed with (schemas/signing.py's format): give its path to each process as
# ZVT_SIGNING_KEYRING; rotate it with `zvt keys` (docs/security.md).
keyring="$(dirname "$env_file")/signing-keys.json"
if [[ ! -f "$keyring" ]]; then
    key_id="k$(date -u +%Y%m%dT%H%M%S)"
    printf '{"active": "%s", "keys": {"%s": "%s"}}\n' "$key_id" "$key_id" "$(head -c 32 /dev/urandom | base64)" \
        >"$keyring.tmp"
    mv "$keyring.tmp" "$keyring"
fi
echo "signing keyring in $keyring"
