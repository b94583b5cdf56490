#!/usr/bin/env bash
# The main job: bring up the whole stack on this machine and run the platform's flow through it.
# (Today: the smoke flow through Kafka, Redis, PostgreSQL and Hatchet; the agent pipeline on recorded
# binance book tops and a handful of orders; then a trading session: the example strategies on the bundled
# real sample replayed at recorded speed, with its summary, JSON report and equity chart.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/bootstrap.sh
bash deploy/local/stack.sh up
.venv/bin/zvt db migrate
.venv/bin/zvt topics create
.venv/bin/zvt smoke
.venv/bin/zvt demo
.venv/bin/zvt session --speed 1
echo
echo "The stack keeps running: 'bash deploy/local/stack.sh down' stops it; logs are under .run/."
