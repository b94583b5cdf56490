#!/usr/bin/env bash
# The main job: bring up the whole stack on this machine and run the platform's flow through it.
# (Today: the smoke flow through Kafka, Redis, PostgreSQL and Hatchet, then the agent pipeline on recorded
# binance book tops and a handful of orders, with the fills, rejections and positions it produced.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/bootstrap.sh
bash deploy/local/stack.sh up
.venv/bin/zvt db migrate
.venv/bin/zvt topics create
.venv/bin/zvt smoke
.venv/bin/zvt demo
echo
echo "The stack keeps running: 'bash deploy/local/stack.sh down' stops it; logs are under .run/."
