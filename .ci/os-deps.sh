#!/usr/bin/env bash
# Install the OS packages gridserve needs, when they are missing.
#   .ci/os-deps.sh spatialite   SpatiaLite for the embedded SQLite default
#   .ci/os-deps.sh postgis      PostGIS for the local PostgreSQL (tests, production)
#   .ci/os-deps.sh chromium     Debian's headless browser and CJK fonts (browser tests)
#   .ci/os-deps.sh nginx        nginx and openssl: the TLS proxy of the deployment recipe's test
# Uses apt-get when run as root on Debian/Ubuntu; otherwise says what to install.
set -euo pipefail

want=("$@")
missing=()
apt_updated=0

have_spatialite() {
  local f
  for f in /usr/lib/*/mod_spatialite.so* /usr/lib/mod_spatialite.so*; do
    [ -e "$f" ] && return 0
  done
  return 1
}

pg_major() {
  # The newest installed cluster version (/etc/postgresql/<major>/...).
  if [ -d /etc/postgresql ]; then
    ls /etc/postgresql | sort -V | tail -n 1
  fi
}

have_postgis() {
  local v=$1
  [ -f "/usr/share/postgresql/$v/extension/postgis.control" ]
}

install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "gridserve needs these OS packages: $*" >&2
    echo "Install them (e.g. 'sudo apt-get install $*') and run this again." >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    echo "==> apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  echo "==> apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for item in "${want[@]}"; do
  case "$item" in
    spatialite)
      have_spatialite || missing+=(libsqlite3-mod-spatialite)
      ;;
    postgis)
      v=$(pg_major)
      if [ -z "$v" ]; then
        echo "PostgreSQL is not installed here; install it (apt-get install postgresql) first." >&2
        exit 1
      fi
      have_postgis "$v" || missing+=("postgresql-$v-postgis-3")
      ;;
    chromium)
      command -v chromium >/dev/null 2>&1 || missing+=(chromium)
      # CJK glyphs, so screenshots of the (Chinese) console show its text, not empty boxes.
      [ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
      ;;
    nginx)
      command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
      command -v openssl >/dev/null 2>&1 || missing+=(openssl)
      ;;
    *)
      echo "usage: $0 spatialite|postgis|chromium|nginx ..." >&2
      exit 2
      ;;
  esac
done

if [ "${#missing[@]}" -gt 0 ]; then
  install "${missing[@]}"
fi
