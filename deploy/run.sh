#!/usr/bin/env bash
# The main job: bring up the whole stack on this machine and run the platform's flow through it.
# (Today: create the topics and send an event through Kafka, Redis, PostgreSQL and a Hatchet workflow.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/bootstrap.sh
bash deploy/local/stack.sh up
.venv/bin/zvt db migrate
.venv/bin/zvt topics create
.venv/bin/zvt smoke
echo
echo "The stack keeps running: 'bash deploy/local/stack.sh down' stops it; logs are under .run/."
