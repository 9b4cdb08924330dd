#!/usr/bin/env bash
# The whole suite: lint, then pytest against PostGIS and against SpatiaLite, then the
# time-sensitive tests at fixed local times. The pytest runs go in two lanes at once (one pytest
# process uses one core; each run has databases of its own): PostGIS and then the first
# local-time run; SpatiaLite and then the other two. The second lane's output is printed when it
# ends. Fails on any failure, and on a run that collected no tests (pytest exit 5). Each run
# prints its slowest tests (--durations=15).
# The browser tests (tests/e2e: the console and the field app in Debian's Chromium on a live
# server over the seeded demo) run once, in the SpatiaLite run (its lane is the shorter: the PostGIS
# suite takes longer than the SpatiaLite one by more than a local-time run); the PostGIS run skips
# them (GRIDSERVE_TEST_E2E=0) and the local-time runs do not select them.
set -uo pipefail
cd "$(dirname "$0")/.."

pg_db=${GRIDSERVE_TEST_PG_DB:-gridserve_test}
admin=${GRIDSERVE_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
pg_url="${admin%/*}/$pg_db"
pg_url_b="${admin%/*}/${pg_db}_b" # the second lane's PostgreSQL runs

run_pytest() {
  local label=$1 url=$2
  shift 2
  echo "==> pytest on $label"
  local start=$SECONDS
  GRIDSERVE_TEST_DATABASE_URL=$url .venv/bin/python -m pytest -p no:cacheprovider -q \
    --durations=15 "$@"
  local rc=$?
  echo "==> pytest on $label: exit $rc after $((SECONDS - start))s"
  if [ "$rc" = 5 ]; then
    echo "pytest on $label collected no tests: failing" >&2
    return 1
  fi
  return "$rc"
}

# The time-sensitive modules (SMS, sync) again, each test starting at a fixed local time around
# midnight (tests/clock.py): the suite must pass at any hour. Skipped when a selection is given.
at_local_time() {
  local at=$1 url=$2
  GRIDSERVE_TEST_LOCAL_TIME=$at run_pytest "PostgreSQL + PostGIS at $at local time" "$url" \
    tests/sms tests/api/sms tests/jobs/test_scheduler_kill.py tests/api/test_sync_visits.py \
    tests/api/test_bundle.py
}

echo "==> ruff"
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1

bash .ci/postgres.sh "$pg_db" || exit 1
bash .ci/postgres.sh "${pg_db}_b" || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

lane_b() {
  run_pytest "SQLite + SpatiaLite" "sqlite:///$tmp/test.db" "$@" || return 1
  if [ "$#" = 0 ]; then
    at_local_time 00:00:00 "$pg_url_b" || return 1
    at_local_time 00:15 "$pg_url_b" || return 1
  fi
}
lane_b "$@" >"$tmp/lane_b.log" 2>&1 &
lane_b_pid=$!

lane_a_rc=0
GRIDSERVE_TEST_E2E=0 run_pytest "PostgreSQL + PostGIS" "$pg_url" "$@" || lane_a_rc=1
if [ "$lane_a_rc" = 0 ] && [ "$#" = 0 ]; then
  at_local_time 23:59:30 "$pg_url" || lane_a_rc=1
fi

wait "$lane_b_pid"
lane_b_rc=$?
cat "$tmp/lane_b.log"
if [ "$lane_a_rc" != 0 ] || [ "$lane_b_rc" != 0 ]; then
  exit 1
fi
echo "==> all green on both backends"
