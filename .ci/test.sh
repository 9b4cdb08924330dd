#!/usr/bin/env bash
# The whole suite: lint, then pytest against PostGIS, then against SpatiaLite.
# Fails on any failure, and on a run that collected no tests (pytest exit 5). Each run prints its
# slowest tests (--durations=15).
set -uo pipefail
cd "$(dirname "$0")/.."

pg_db=${GRIDSERVE_TEST_PG_DB:-gridserve_test}
admin=${GRIDSERVE_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
pg_url="${admin%/*}/$pg_db"

run_pytest() {
  local label=$1 url=$2
  shift 2
  echo "==> pytest on $label"
  GRIDSERVE_TEST_DATABASE_URL=$url .venv/bin/python -m pytest -p no:cacheprovider -q \
    --durations=15 "$@"
  local rc=$?
  if [ "$rc" = 5 ]; then
    echo "pytest on $label collected no tests: failing" >&2
    return 1
  fi
  return "$rc"
}

echo "==> ruff"
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1

bash .ci/postgres.sh "$pg_db" || exit 1
run_pytest "PostgreSQL + PostGIS" "$pg_url" "$@" || exit 1

# The time-sensitive modules (SMS, sync) again, each test starting at a fixed local time around
# midnight (tests/clock.py): the suite must pass at any hour. Skipped when a selection is given.
if [ "$#" = 0 ]; then
  for at in 23:59:30 00:00:00 00:15; do
    GRIDSERVE_TEST_LOCAL_TIME=$at run_pytest "PostgreSQL + PostGIS at $at local time" "$pg_url" \
      tests/sms tests/api/sms tests/jobs/test_scheduler_kill.py tests/api/test_sync_visits.py \
      tests/api/test_bundle.py || exit 1
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run_pytest "SQLite + SpatiaLite" "sqlite:///$tmp/test.db" "$@" || exit 1
echo "==> all green on both backends"
