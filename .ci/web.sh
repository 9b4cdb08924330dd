#!/usr/bin/env bash
# Build the two front ends into web/dist (the service serves them): npm ci from the lock file
# when it changed, then the build when a source changed. Packages come from the npm registry;
# nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is needed to build the web front ends (Node.js 20+)" >&2
  exit 1
fi

lock=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "node_modules/.stamp-$lock" ]; then
  echo "==> npm ci (web/)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "node_modules/.stamp-$lock"
fi

sources=$(find src index.html field public vite.config.ts tsconfig.json package-lock.json \
  -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ ! -f "dist/.stamp-$sources" ]; then
  echo "==> building web/ (console and field app)"
  npm run build --silent
  touch "dist/.stamp-$sources"
fi
