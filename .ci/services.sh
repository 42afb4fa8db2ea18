#!/usr/bin/env bash
# The machine's own PostgreSQL; started again if it has stopped. Tests make their own databases
# on it and drop them afterwards.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
exit 0
