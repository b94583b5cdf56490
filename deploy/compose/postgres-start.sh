#!/bin/bash
# The compose PostgreSQL with TLS (compose.tls.yaml): the server certificate and key from deploy/tls/ are
# copied for the postgres user (the server refuses a key others may read), then the image's entrypoint runs.
set -euo pipefail
tls=/var/lib/postgresql/tls
install -d -o postgres -g postgres -m 700 "$tls"
install -o postgres -g postgres -m 600 /zvt/tls/server.crt /zvt/tls/server.key "$tls/"
exec docker-entrypoint.sh "$@" -c ssl=on -c "ssl_cert_file=$tls/server.crt" -c "ssl_key_file=$tls/server.key"
