#!/usr/bin/env bash
# Installs the Debian packages the tests use, only those missing.
set -uo pipefail
want=()
need() { command -v "$1" >/dev/null 2>&1 || want+=("$2"); }
need chromium chromium
need prometheus prometheus
need prometheus-node-exporter prometheus-node-exporter
need promtool prometheus
need etcd etcd-server
need etcdctl etcd-client
need dockerd docker.io
need busybox busybox-static
need runc runc
# initdb and pg_ctl for tests that run (and restart) a PostgreSQL cluster of their own
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || want+=(postgresql)
need openssl openssl
need nc netcat-openbsd
# the agent's native helpers (node-gyp) and the hung-mount test (a private namespace with FUSE)
need cc build-essential
need make make
need python3 python3
need unshare util-linux
need mount mount
# the renamed-interface test makes ifb links (kernel-files.test.ts)
need ip iproute2
need modprobe kmod
need python3 python3-minimal
# npm run package's arm64 build and its test (e2e/package.test.ts): a cross compiler for the native
# helpers, its C library, and qemu to run the arm64 executables
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
[ -e /usr/aarch64-linux-gnu/include/stdio.h ] || want+=(libc6-dev-arm64-cross)
need qemu-aarch64-static qemu-user-static
# the .deb, image and install-script tests: a Debian root by debootstrap, dpkg-deb, docker-compose,
# systemd-analyze for the units
need debootstrap debootstrap
need dpkg-deb dpkg
need docker-compose docker-compose
need systemd-analyze systemd
# the install script served by the server is held to shellcheck (packages/server/test/install.test.ts)
need shellcheck shellcheck
# the clock-jump tests run an agent and a server with their clocks moved (e2e/clock-jumps.test.ts)
need faketime faketime
need victoria-metrics victoria-metrics
# the cluster tests start their own NATS (testing/nats.ts)
[ -x /usr/sbin/nats-server ] || want+=(nats-server)
# Chinese glyphs in the dashboard's screenshots (the browser test keeps en/zh artefacts)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || want+=(fonts-wqy-microhei)
# the agent's journald log source test writes journal files without a journald (logs-journal.test.ts)
[ -x /lib/systemd/systemd-journal-remote ] || want+=(systemd-journal-remote)
need rsyslogd rsyslog
# the Alertmanager channel's test (e2e/alertmanager.test.ts) and the S.M.A.R.T. collector's real-smartctl check
need prometheus-alertmanager prometheus-alertmanager
need smartctl smartmontools
# traffic accounting compared with vnstat on a veth pair (e2e/traffic-vnstat.test.ts)
need vnstat vnstat
# the probes' side-by-side test (e2e/probes-blackbox.test.ts) and the agent's icmp probe
need prometheus-blackbox-exporter prometheus-blackbox-exporter
[ -x /usr/sbin/dnsmasq ] || want+=(dnsmasq-base)
need ping iputils-ping
if [ ${#want[@]} -gt 0 ]; then
  mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u)
  echo "installing Debian packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null || {
    echo "apt-get install ${want[*]} failed" >&2
    exit 1
  }
fi
