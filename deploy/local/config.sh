# shellcheck shell=bash
# The one place for the local stack's versions, ports and directories.
# Every variable may be overridden from the environment (e.g. to run two stacks side by side).

ZVT_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Installs (jars, binaries) are cached outside the checkout so a fresh clone reuses them.
: "${ZVT_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/zvt-stack}"
# Data, logs, pid files and the generated environment file of one running stack.
: "${ZVT_RUN_DIR:=$ZVT_REPO_ROOT/.run}"

# --- TLS: the stack's own CA and the server certificate Kafka's TLS listener and PostgreSQL present ---
: "${ZVT_TLS_DIR:=$ZVT_RUN_DIR/tls}"
: "${ZVT_TLS_CA_DAYS:=3650}"
: "${ZVT_TLS_SERVER_DAYS:=397}"   # remade by `up` when fewer than 30 days are left
# The server certificate's subjectAltName; clients verify the address they dial against it.
: "${ZVT_TLS_SERVER_NAMES:=IP:127.0.0.1,DNS:localhost}"

# --- PostgreSQL (Debian package) ---
: "${ZVT_PG_MAJOR:=15}"
: "${ZVT_PG_PORT:=55432}"
: "${ZVT_PG_USER:=zvt}"   # owns the event store's schema (migrations); every role's password is generated
: "${ZVT_PG_DATABASE:=zvt}"
: "${ZVT_PG_HATCHET_DATABASE:=hatchet}"

# --- Redis (Debian package) ---
: "${ZVT_REDIS_PORT:=6379}"

# --- Kafka (single-node KRaft, jars from Maven Central) ---
: "${ZVT_KAFKA_VERSION:=4.1.1}"
: "${ZVT_KAFKA_SCALA:=2.13}"
: "${ZVT_KAFKA_LOG4J_VERSION:=2.24.3}"   # the log4j2 release kafka_2.13:$ZVT_KAFKA_VERSION depends on
: "${ZVT_KAFKA_PORT:=9092}"
: "${ZVT_KAFKA_CONTROLLER_PORT:=9093}"
: "${ZVT_KAFKA_TLS_PORT:=9094}"   # SASL_SSL beside the SASL_PLAINTEXT listener (docs/security.md)
: "${ZVT_KAFKA_HEAP:=768m}"

# --- Hatchet engine (hatchet-lite built from the Go module proxy) ---
: "${ZVT_HATCHET_VERSION:=v0.104.7}"   # pinned with hatchet-sdk 1.43.x in pyproject.toml
: "${ZVT_HATCHET_GRPC_PORT:=7077}"
: "${ZVT_HATCHET_API_PORT:=8888}"
: "${ZVT_HATCHET_HEALTH_PORT:=8733}"
# quickstart's default tenant
: "${ZVT_HATCHET_TENANT_ID:=707d0855-80ab-4e1f-a156-f1c4546cbf52}"
# Engine options (docs/workflows.md "Engine options measured"); an engine running with others is restarted.
# The engine's message queue: postgres (lite's default, in its database) or rabbitmq (rabbitmq.sh, Debian's
# package, started only when selected).
: "${ZVT_HATCHET_MQ:=postgres}"
# The engine's message buffers (SERVER_DEFAULT_BUFFER_*): the pause between flushes of one buffer in
# milliseconds and the messages per flush; empty keeps the engine's defaults (10 ms, 10).
: "${ZVT_HATCHET_BUFFER_FLUSH_MS:=}"
: "${ZVT_HATCHET_BUFFER_SIZE:=}"
# Hatchet's database in a PostgreSQL cluster of its own on this port (postgres.sh, ZVT_PG_CLUSTER=hatchet);
# empty keeps it in the event store's cluster.
: "${ZVT_HATCHET_PG_PORT:=}"

# --- RabbitMQ (Debian package; only with ZVT_HATCHET_MQ=rabbitmq) ---
: "${ZVT_RABBITMQ_PORT:=5672}"
: "${ZVT_RABBITMQ_DIST_PORT:=$((ZVT_RABBITMQ_PORT + 20000))}"   # Erlang distribution (rabbitmqctl), loopback

ZVT_ENV_FILE="$ZVT_RUN_DIR/zvt.env"
# hatchet-lite serves the API and the dashboard behind one port ($ZVT_HATCHET_API_PORT); these two sit behind it.
: "${ZVT_HATCHET_INTERNAL_API_PORT:=8890}"
: "${ZVT_HATCHET_INTERNAL_FRONTEND_PORT:=8891}"
