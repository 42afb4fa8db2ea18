#!/bin/sh
# Installs the Falconet agent from the Falconet server that served this script (docs/install.md):
#   curl -fsSL http://SERVER/install/agent.sh | sudo sh -s -- --token TOKEN
# Options: --token TOKEN, --server-grpc HOST:PORT, --listen ADDR, --no-start, --uninstall [--purge].
set -eu

# Filled in by the server when it serves the script.
FALCONET_HTTP='@HTTP_URL@'
FALCONET_GRPC_ADDR='@GRPC_ADDR@'
FALCONET_GRPC_TLS='@GRPC_TLS@'
FALCONET_FINGERPRINT='@GRPC_FINGERPRINT@'
FALCONET_RELEASE_KEY='@RELEASE_KEY@'

# Everything runs from main, called on the last line: sh reads the whole script before doing
# anything, so a download cut short runs nothing, and curl is not left writing to a closed pipe.
main() {
BIN_DIR=/var/lib/falconet/bin
BIN=$BIN_DIR/falconet-agent
LINK=/usr/local/bin/falconet-agent
CONFIG_DIR=/etc/falconet
CONFIG=$CONFIG_DIR/falconet-agent.yaml
DATA_DIR=/var/lib/falconet/agent
UNIT=/etc/systemd/system/falconet-agent.service
USER_NAME=falconet

say() { printf 'falconet-install: %s\n' "$*"; }
die() {
  printf 'falconet-install: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<EOF
Installs the Falconet agent from $FALCONET_HTTP.
  curl -fsSL $FALCONET_HTTP/install/agent.sh | sudo sh -s -- --token TOKEN [options]
  --token TOKEN          an enrollment token (fne_..., from the dashboard's Add host) or an agent token (fnt_...);
                         needed on a first install, and again to replace the configuration
  --server-grpc ADDR     the server's agent channel as HOST:PORT (default $FALCONET_GRPC_ADDR)
  --listen ADDR          the agent's /metrics address (default 127.0.0.1:9101; empty turns it off)
  --no-start             install, but do not start the agent
  --uninstall            stop the agent and remove its binary, unit and link ($DATA_DIR and $CONFIG stay)
  --purge                with --uninstall: remove /var/lib/falconet, $CONFIG_DIR and the falconet user too
EOF
}

need_value() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }

token=''
grpc_addr=$FALCONET_GRPC_ADDR
listen=127.0.0.1:9101
uninstall=0
purge=0
start=1
while [ $# -gt 0 ]; do
  case $1 in
  --token)
    need_value "$1" $#
    token=$2
    shift 2
    ;;
  --token=*)
    token=${1#*=}
    shift
    ;;
  --server-grpc)
    need_value "$1" $#
    grpc_addr=$2
    shift 2
    ;;
  --server-grpc=*)
    grpc_addr=${1#*=}
    shift
    ;;
  --listen)
    need_value "$1" $#
    listen=$2
    shift 2
    ;;
  --listen=*)
    listen=${1#*=}
    shift
    ;;
  --uninstall)
    uninstall=1
    shift
    ;;
  --purge)
    purge=1
    shift
    ;;
  --no-start)
    start=0
    shift
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done

# What goes into the YAML file and the unit is checked here, so no value can break out of its line.
case $grpc_addr in
'' | *[!A-Za-z0-9.:_\[\]-]* | *:) die "--server-grpc '$grpc_addr': expected HOST:PORT" ;;
*:*) ;;
*) die "--server-grpc '$grpc_addr': expected HOST:PORT" ;;
esac
case $listen in
*[!A-Za-z0-9.:_\[\]-]*) die "--listen '$listen': expected HOST:PORT, or empty to turn /metrics off" ;;
esac
[ $purge = 0 ] || [ $uninstall = 1 ] || die "--purge goes with --uninstall"

[ "$(id -u)" = 0 ] || die "this installs a system service and must run as root: curl -fsSL $FALCONET_HTTP/install/agent.sh | sudo sh -s -- ..."

has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

stop_agent() {
  if has_systemd; then
    if systemctl is-active --quiet falconet-agent.service 2>/dev/null || systemctl is-enabled --quiet falconet-agent.service 2>/dev/null; then
      systemctl disable --now falconet-agent.service
      say "stopped and disabled falconet-agent.service"
    fi
  elif [ -x "$BIN" ] && [ -f "$CONFIG" ]; then
    "$BIN" stop --config "$CONFIG" || die "could not stop the running agent ($BIN stop --config $CONFIG failed)"
  fi
}

if [ $uninstall = 1 ]; then
  stop_agent
  rm -f "$UNIT" "$LINK" "$BIN"
  if has_systemd; then systemctl daemon-reload; fi
  if [ $purge = 1 ]; then
    rm -rf /var/lib/falconet "$CONFIG_DIR"
    if id -u "$USER_NAME" >/dev/null 2>&1; then userdel "$USER_NAME" 2>/dev/null || deluser "$USER_NAME" >/dev/null 2>&1 || true; fi
    say "uninstalled the Falconet agent and removed its data, configuration and user"
  else
    say "uninstalled the Falconet agent; kept $DATA_DIR and $CONFIG (--uninstall --purge removes them)"
  fi
  exit 0
fi

[ "$(uname -s)" = Linux ] || die "unsupported system $(uname -s): the Falconet agent runs on Linux"
arch=$(uname -m)
case $arch in
x86_64 | amd64) target=linux-x64 ;;
aarch64 | arm64) target=linux-arm64 ;;
*) die "unsupported architecture $arch: Falconet agents are built for x86_64 (linux-x64) and aarch64 (linux-arm64)" ;;
esac
command -v curl >/dev/null 2>&1 || die "curl is needed (apt-get install curl)"
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  die "sha256sum (coreutils) is needed to check the download"
fi

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch URL FILE [curl options]: the body in FILE; a refusal or failure ends the script with the server's words.
fetch() {
  url=$1
  out=$2
  shift 2
  code=$(curl -sS -o "$out" -w '%{http_code}' "$@" "$url" 2>"$tmp/curl.err") || die "cannot download $url: $(cat "$tmp/curl.err")"
  [ "$code" = 200 ] || die "$url answered HTTP $code: $(head -c 600 "$out")"
}

fetch "$FALCONET_HTTP/install/falconet-agent-$target.sha256" "$tmp/sha256"
expected=$(cut -d' ' -f1 <"$tmp/sha256")
case $expected in
'' | *[!0-9a-f]*) die "$FALCONET_HTTP/install/falconet-agent-$target.sha256 is not a SHA-256: $(head -c 200 "$tmp/sha256")" ;;
esac
[ ${#expected} -eq 64 ] || die "$FALCONET_HTTP/install/falconet-agent-$target.sha256 is not a SHA-256: $expected"
say "downloading the agent for $target from $FALCONET_HTTP"
fetch "$FALCONET_HTTP/install/falconet-agent-$target" "$tmp/falconet-agent"
actual=$(sha256 "$tmp/falconet-agent")
[ "$actual" = "$expected" ] ||
  die "checksum mismatch: the downloaded falconet-agent-$target has SHA-256 $actual, but the server announced $expected; the file was changed on the server or on the way, and nothing was installed"
chmod 0755 "$tmp/falconet-agent"
"$tmp/falconet-agent" version >/dev/null 2>&1 || die "the downloaded agent does not run here ($tmp/falconet-agent version failed)"

# Exchanges an enrollment token for this host's own agent token (one use of the enrollment token).
enroll() {
  host=$(uname -n)
  case $host in '' | *[!A-Za-z0-9._-]*) die "this host's name '$host' is not one an agent token can name (letters, digits, . _ -)" ;; esac
  printf '{"token":"%s","hostname":"%s"}' "$1" "$host" >"$tmp/enroll.json"
  fetch "$FALCONET_HTTP/install/enroll" "$tmp/agent-token" -H 'content-type: application/json' --data-binary @"$tmp/enroll.json"
  head -n 1 "$tmp/agent-token"
}

write_config=1
if [ -f "$CONFIG" ] && [ -z "$token" ]; then
  write_config=0
elif [ -z "$token" ]; then
  die "--token is needed on a first install: an enrollment token (fne_...) from the dashboard's Add host, or an agent token (fnt_...) from falconet-server create-token --agent NAME"
fi
if [ $write_config = 1 ]; then
  case $token in
  *[!A-Za-z0-9_-]*) die "--token: not a Falconet token (letters, digits, _ and - only)" ;;
  fne_*) agent_token=$(enroll "$token") ;;
  fnt_*) agent_token=$token ;;
  *) die "--token: expected an enrollment token (fne_...) or an agent token (fnt_...)" ;;
  esac
  case $agent_token in
  fnt_*) ;;
  *) die "the server answered the enrollment with no agent token" ;;
  esac
  case $agent_token in *[!A-Za-z0-9_-]*) die "the server answered the enrollment with no agent token" ;; esac
fi

if ! id -u "$USER_NAME" >/dev/null 2>&1; then
  if command -v useradd >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/falconet --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
  elif command -v adduser >/dev/null 2>&1; then
    adduser --system --group --home /var/lib/falconet --no-create-home "$USER_NAME" >/dev/null
  else
    die "cannot create the $USER_NAME user: neither useradd nor adduser is installed"
  fi
  say "created the system user $USER_NAME"
fi

stop_agent
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 /var/lib/falconet "$BIN_DIR"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$DATA_DIR"
install -d -m 0755 "$CONFIG_DIR"
# Owned by falconet, so the agent can swap in a new version of itself; renamed into place in one step.
install -o "$USER_NAME" -g "$USER_NAME" -m 0755 "$tmp/falconet-agent" "$BIN.new"
mv -f "$BIN.new" "$BIN"
mkdir -p "$(dirname "$LINK")"
ln -sf "$BIN" "$LINK"
say "installed $BIN ($("$BIN" version | head -n 1)), linked from $LINK"

if [ $write_config = 1 ]; then
  case $grpc_addr in
  127.* | localhost:* | '[::1]':*) loopback=1 ;;
  *) loopback=0 ;;
  esac
  if [ "$FALCONET_GRPC_TLS" = yes ]; then url="grpcs://$grpc_addr"; else url="grpc://$grpc_addr"; fi
  plaintext=false
  if [ "$FALCONET_GRPC_TLS" != yes ] && [ $loopback = 0 ]; then plaintext=true; fi
  cat >"$tmp/config.yaml" <<EOF
# Written by the Falconet install script from $FALCONET_HTTP; every key: docs/agent-config.md.
server:
  url: "$url"
  token: "$agent_token"
listen: "$listen"
data_dir: $DATA_DIR
transport:
  tls:
    fingerprint: "$FALCONET_FINGERPRINT"
    allow_plaintext: $plaintext
# The server's release key: the agent takes the signed updates its rollouts offer (docs/update.md).
update:
  public_keys: ["$FALCONET_RELEASE_KEY"]
EOF
  install -o root -g "$USER_NAME" -m 0640 "$tmp/config.yaml" "$CONFIG"
  say "wrote $CONFIG (server $url)"
else
  say "kept $CONFIG (give --token to write a new one)"
fi

install -d -m 0755 "$(dirname "$UNIT")"
cat >"$tmp/unit" <<'FALCONET_UNIT_END'
@UNIT@
FALCONET_UNIT_END
sed "s#^ExecStart=.*#ExecStart=$BIN run --config $CONFIG --data-dir $DATA_DIR#" "$tmp/unit" >"$tmp/unit.new"
install -m 0644 "$tmp/unit.new" "$UNIT"

if has_systemd; then
  systemctl daemon-reload
  if [ $start = 1 ]; then
    systemctl enable --now falconet-agent.service
    say "started falconet-agent.service (systemctl status falconet-agent)"
  else
    systemctl enable falconet-agent.service
    say "installed falconet-agent.service; start it with: systemctl start falconet-agent"
  fi
elif [ $start = 1 ]; then
  if command -v runuser >/dev/null 2>&1; then
    runuser -u "$USER_NAME" -- "$BIN" start --config "$CONFIG" </dev/null
  else
    su -s /bin/sh "$USER_NAME" -c "'$BIN' start --config '$CONFIG'" </dev/null
  fi
  say "systemd is not running here: started the agent in the background; it will not start again after a reboot"
else
  say "systemd is not running here; start the agent with: runuser -u $USER_NAME -- $BIN start --config $CONFIG"
fi
}

main "$@"
