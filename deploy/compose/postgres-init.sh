#!/usr/bin/env bash
# First start of the compose PostgreSQL: the roles of docs/security.md (the owner, zvt, is POSTGRES_USER),
# SCRAM only, and Hatchet's database owned by its own role. Grants on the event store's tables come with
# its migrations (eventstore/migrations/0004_privileges.sql).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
SET password_encryption = 'scram-sha-256';
CREATE ROLE zvt_sink LOGIN PASSWORD '$ZVT_PG_SINK_PASSWORD';
CREATE ROLE zvt_reader LOGIN PASSWORD '$ZVT_PG_READER_PASSWORD';
CREATE ROLE hatchet LOGIN PASSWORD '$ZVT_PG_HATCHET_PASSWORD';
CREATE DATABASE hatchet OWNER hatchet;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
