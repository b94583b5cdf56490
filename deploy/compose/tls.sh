#!/usr/bin/env bash
# TLS for deploy/compose.tls.yaml: the CA and server certificate of deploy/local/tls.sh, made into deploy/tls/
# (0700, keys 0600) for the names the services are reached by, and the broker's PKCS#12 keystore, encrypted
# with ZVT_KAFKA_KEYSTORE_PASSWORD from deploy/.env (run secrets.sh first). Rerunning keeps the CA and renews
# the certificate when it is due. Clients verify against deploy/tls/ca.crt (docs/security.md).
set -euo pipefail
deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_file="$deploy/.env"
grep -q '^ZVT_KAFKA_KEYSTORE_PASSWORD=' "$env_file" 2>/dev/null \
    || { echo "no ZVT_KAFKA_KEYSTORE_PASSWORD in $env_file: run deploy/compose/secrets.sh" >&2; exit 1; }
export ZVT_TLS_DIR="$deploy/tls"
export ZVT_TLS_SERVER_NAMES="IP:127.0.0.1,DNS:localhost,DNS:kafka,DNS:postgres"
bash "$deploy/local/tls.sh" start
ZVT_KAFKA_KEYSTORE_PASSWORD="$(grep '^ZVT_KAFKA_KEYSTORE_PASSWORD=' "$env_file" | cut -d= -f2-)"
export ZVT_KAFKA_KEYSTORE_PASSWORD
# The broker runs as the image's own user: the keystore is world-readable, its key encrypted with the password.
openssl pkcs12 -export -name kafka -inkey "$ZVT_TLS_DIR/server.key" -in "$ZVT_TLS_DIR/server.crt" \
    -certfile "$ZVT_TLS_DIR/ca.crt" -passout env:ZVT_KAFKA_KEYSTORE_PASSWORD -out "$ZVT_TLS_DIR/kafka.p12"
chmod 644 "$ZVT_TLS_DIR/kafka.p12"
echo "CA $ZVT_TLS_DIR/ca.crt; Kafka keystore $ZVT_TLS_DIR/kafka.p12"
