#!/usr/bin/env bash
# Make sure the local PostgreSQL runs, and create a fresh database with PostGIS.
#   .ci/postgres.sh DBNAME
# Connection: GRIDSERVE_PG_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

db=${1:?usage: $0 DBNAME}
admin=${GRIDSERVE_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}

if ! pg_isready -q -d "$admin" 2>/dev/null; then
  echo "==> starting PostgreSQL"
  if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    v=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -d "$admin" && break
    sleep 1
  done
  if ! pg_isready -q -d "$admin"; then
    echo "PostgreSQL is not accepting connections at $admin; start it and run this again." >&2
    exit 1
  fi
fi

psql -q -v ON_ERROR_STOP=1 -d "$admin" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
  -c "CREATE DATABASE \"$db\""
psql -q -v ON_ERROR_STOP=1 -d "${admin%/*}/$db" -c "CREATE EXTENSION IF NOT EXISTS postgis"
