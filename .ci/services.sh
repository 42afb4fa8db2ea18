#!/usr/bin/env bash
# The machine's own PostgreSQL, started again if it has stopped (tests make their own databases
# and drop them afterwards), and the kernel features the tests use.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
# FUSE for the hung-mount test (e2e/hung-mount.test.ts mounts FUSE file systems that never answer).
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  [ -e /dev/fuse ] || mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || echo "no /dev/fuse: the hung-mount test will fail" >&2
fi
# ifb links for the renamed-interface test; the kernel loads the module on the first link when it can.
modprobe ifb numifbs=0 2>/dev/null || true
exit 0
