#!/usr/bin/env bash
# The stack's own certificate authority and the server certificate that Kafka's TLS listener and PostgreSQL
# present, made with openssl under $ZVT_TLS_DIR (0700; keys 0600, certificates 0644).
# Usage: tls.sh install|start|stop|status
#   start   make the CA once, and the server certificate when it is missing, not signed by this CA, names
#           other addresses than $ZVT_TLS_SERVER_NAMES or has fewer than 30 days left (idempotent)
#   status  the CA and the server certificate's names and expiry; exit 1 when either is missing or invalid
# Kafka and PostgreSQL load the certificate when they start; their scripts restart or reload them when it
# changed. Clients verify against $ZVT_TLS_DIR/ca.crt (docs/security.md).
SERVICE=tls
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CA_KEY="$ZVT_TLS_DIR/ca.key"
CA_CERT="$ZVT_TLS_DIR/ca.crt"
SERVER_KEY="$ZVT_TLS_DIR/server.key"
SERVER_CERT="$ZVT_TLS_DIR/server.crt"
SERVER_NAMES_FILE="$ZVT_TLS_DIR/server.names"   # the names the current certificate was made for
RENEW_SECONDS=$((30 * 24 * 3600))

install() { command -v openssl >/dev/null || apt_install openssl; }

# new_key FILE : an EC P-256 private key (PKCS#8, unencrypted), readable by its owner only.
new_key() {
    (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null)
    mv "$1.tmp" "$1"
}

make_ca() {
    [[ -s "$CA_KEY" && -s "$CA_CERT" ]] && return 0
    log "making the stack's certificate authority in $ZVT_TLS_DIR"
    new_key "$CA_KEY"
    openssl req -new -x509 -key "$CA_KEY" -sha256 -days "$ZVT_TLS_CA_DAYS" \
        -subj "/O=zvt local stack/CN=zvt local CA $(hostname -s)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$CA_CERT.tmp" 2>/dev/null
    mv "$CA_CERT.tmp" "$CA_CERT"
    rm -f "$SERVER_CERT"   # a certificate of an earlier CA is no use any more
}

server_valid() {
    [[ -s "$SERVER_KEY" && -s "$SERVER_CERT" ]] \
        && [[ "$(cat "$SERVER_NAMES_FILE" 2>/dev/null)" == "$ZVT_TLS_SERVER_NAMES" ]] \
        && openssl verify -CAfile "$CA_CERT" "$SERVER_CERT" >/dev/null 2>&1 \
        && openssl x509 -in "$SERVER_CERT" -noout -checkend "$RENEW_SECONDS" >/dev/null
}

make_server_certificate() {
    server_valid && return 0
    log "making the server certificate for $ZVT_TLS_SERVER_NAMES, signed by the stack's CA"
    new_key "$SERVER_KEY"
    local work; work="$(mktemp -d)"
    cat >"$work/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$ZVT_TLS_SERVER_NAMES
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
    openssl req -new -key "$SERVER_KEY" -subj "/O=zvt local stack/CN=localhost" -out "$work/server.csr" 2>/dev/null
    openssl x509 -req -in "$work/server.csr" -CA "$CA_CERT" -CAkey "$CA_KEY" -sha256 \
        -set_serial "0x$(openssl rand -hex 16)" -days "$ZVT_TLS_SERVER_DAYS" -extfile "$work/ext.cnf" \
        -out "$SERVER_CERT.tmp" 2>/dev/null
    rm -rf "$work"
    mv "$SERVER_CERT.tmp" "$SERVER_CERT"
    echo "$ZVT_TLS_SERVER_NAMES" >"$SERVER_NAMES_FILE"
    server_valid || die "the new server certificate does not verify against $CA_CERT"
}

start() {
    install
    (umask 077; mkdir -p "$ZVT_TLS_DIR")
    chmod 700 "$ZVT_TLS_DIR"
    make_ca
    make_server_certificate
    chmod 600 "$CA_KEY" "$SERVER_KEY"
    chmod 644 "$CA_CERT" "$SERVER_CERT"
}

stop() { :; }   # nothing runs

status() {
    if [[ -s "$CA_CERT" ]] && server_valid; then
        log "CA $CA_CERT; server certificate for $ZVT_TLS_SERVER_NAMES $(openssl x509 -in "$SERVER_CERT" -noout -enddate)"
    else
        log "no valid CA and server certificate in $ZVT_TLS_DIR (run stack.sh up)"; return 1
    fi
}

"${1:?usage: tls.sh install|start|stop|status}"
