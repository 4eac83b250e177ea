#!/usr/bin/env bash
# The demo: the operators' whole stack on 127.0.0.1. A collector, one real agent on this
# machine, a simulated fleet of the province (4,130 agents, the first of each site polling the
# site's router) playing the demo scenario (a commune's WAN goes dark, antivirus disabled, a
# threat, a disk filling, a router not answering, a WAN line down, flapping, full...), Prometheus
# with the shipped rules, and Alertmanager routed to a local receiver that prints each
# notification as on-call staff read it. Where net-snmp's snmpd is installed, one real snmpd
# stands for the router of this machine's site: the collector polls it itself and receives its
# traps. Ctrl-C stops every process.
#
# Settings (environment): FLEETWATCH_DEMO_AGENTS (4130), FLEETWATCH_DEMO_INTERVAL (15),
# FLEETWATCH_DEMO_TIME_SCALE (0.1: every alert's `for` times this), FLEETWATCH_DEMO_DURATION
# (seconds, default: until Ctrl-C), FLEETWATCH_DEMO_*_PORT (SNMP_PORT: snmpd, 11161; TRAP_PORT:
# the collector's trap receiver, 11162; both UDP), DEMO_DIR (.demo).
set -euo pipefail
umask 077  # tokens and credentials are secrets
# The demo's agent checks only the local collector, not this machine's gateway or DNS servers.
export FLEETWATCH_LOOPBACK_ONLY=1

cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DEMO_DIR=${DEMO_DIR:-.demo}
GRPC_PORT=${FLEETWATCH_DEMO_GRPC_PORT:-50051}
HTTP_PORT=${FLEETWATCH_DEMO_HTTP_PORT:-9464}
PROM_PORT=${FLEETWATCH_DEMO_PROMETHEUS_PORT:-9090}
AM_PORT=${FLEETWATCH_DEMO_ALERTMANAGER_PORT:-9093}
RECEIVER_PORT=${FLEETWATCH_DEMO_RECEIVER_PORT:-9095}
SNMP_PORT=${FLEETWATCH_DEMO_SNMP_PORT:-11161}
TRAP_PORT=${FLEETWATCH_DEMO_TRAP_PORT:-11162}
AGENTS=${FLEETWATCH_DEMO_AGENTS:-4130}
INTERVAL=${FLEETWATCH_DEMO_INTERVAL:-15}
TIME_SCALE=${FLEETWATCH_DEMO_TIME_SCALE:-0.1}
DURATION=${FLEETWATCH_DEMO_DURATION:-}

SITE=so-thong-tin-va-truyen-thong  # this machine's site

mkdir -p "$DEMO_DIR"
DEMO_PATH=$(cd "$DEMO_DIR" && pwd)  # absolute, for the configuration files below
rm -f "$DEMO_DIR/notifications.jsonl"
# Enrolment tokens: one for this machine's site, one "any site" token for the simulated fleet.
# Both agents keep their credentials in $DEMO_DIR, so a second demo run reuses them.
"$BIN/fleetwatch-collector" token create --site "$SITE" \
  --data-dir "$DEMO_DIR/collector" >"$DEMO_DIR/site.token" 2>/dev/null
"$BIN/fleetwatch-collector" token create --any-site \
  --data-dir "$DEMO_DIR/collector" >"$DEMO_DIR/fleet.token" 2>/dev/null

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped; logs are in $DEMO_DIR/"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

answers() {  # URL: true when it answers 2xx (after redirects)
  "$BIN/python" -c "import urllib.request as u; u.urlopen('$1', timeout=1)" 2>/dev/null
}

wait_for_http() {  # URL PID LOG NAME
  for _ in $(seq 1 100); do
    if answers "$1"; then
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$4 did not start:"; tail -20 "$3"; exit 1
    fi
    sleep 0.2
  done
  echo "$4 did not answer at $1"; exit 1
}

# A real router for this machine's site: net-snmp's snmpd, polled by the collector itself (its
# central poller: docs/routers.md), sending its traps to the collector's trap receiver.
SNMPD=$(command -v snmpd || command -v /usr/sbin/snmpd || true)
collector_options=()
# What the banner says of the routers: the simulated ones (the first agent of each site polls its
# site's router), and snmpd when it runs.
routers=("  routers:      one per site, polled by its first simulated agent: fleetwatch_netdev_* in the metrics")
if [[ -n "$SNMPD" ]]; then
  SNMP_DIR="$DEMO_PATH/snmp"
  mkdir -p "$SNMP_DIR/persistent"  # never the config's folder: snmpd writes a snmpd.conf there
  # A new community each run, in a file only the collector reads (a secret: never on a command line).
  "$BIN/python" -c 'import secrets; print(secrets.token_hex(12))' >"$SNMP_DIR/demo.community"
  community=$(<"$SNMP_DIR/demo.community")
  cat >"$SNMP_DIR/snmpd.conf" <<CONF
sysName snmpd-local
sysDescr net-snmp snmpd on this machine, the fleetwatch demo's router of $SITE
rocommunity $community 127.0.0.1
trap2sink 127.0.0.1:$TRAP_PORT $community
dontLogTCPWrappersConnects yes
# The loopback shown as a described Ethernet port (pollers leave loopbacks out): it carries the demo.
override 1.3.6.1.2.1.2.2.1.3.1 integer 6
override 1.3.6.1.2.1.31.1.1.1.18.1 octet_str "LAN demo (loopback)"
[snmp] persistentDir $SNMP_DIR/persistent
CONF
  cat >"$SNMP_DIR/devices.toml" <<TOML
[[device]]
name = "snmpd-local"
site = "$SITE"
address = "127.0.0.1:$SNMP_PORT"
credential = "demo"
TOML
  cat >"$DEMO_DIR/collector.toml" <<TOML
[snmp]
devices_file = "$SNMP_DIR/devices.toml"
interval_seconds = $INTERVAL
deadline_seconds = 5.0
timeout_seconds = 1.0

[snmp.credentials.demo]
version = "2c"
community_file = "$SNMP_DIR/demo.community"

[snmp.traps]
listen = "127.0.0.1:$TRAP_PORT"
TOML
  collector_options+=(--config "$DEMO_DIR/collector.toml")
  routers+=("                + snmpd on 127.0.0.1:$SNMP_PORT, router snmpd-local of $SITE, polled by the collector,"
           "                  traps to 127.0.0.1:$TRAP_PORT (it just started: FleetwatchRouterRebooted fires for it)")
else
  echo "snmpd is not installed: apt-get install snmpd   (only the simulated routers show; the rest runs without it)"
fi

"$BIN/fleetwatch-collector" run "${collector_options[@]}" \
  --grpc-listen "127.0.0.1:$GRPC_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --data-dir "$DEMO_DIR/collector" >"$DEMO_DIR/collector.log" 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$HTTP_PORT/healthz" "${pids[-1]}" "$DEMO_DIR/collector.log" "the collector"
if [[ -n "$SNMPD" ]]; then
  # Started after the collector, so its coldStart trap finds the receiver listening.
  # -C: only this configuration; -I -smux: no SMUX port; -m "": no MIB files; -f: in the foreground.
  SNMP_PERSISTENT_DIR="$SNMP_DIR/persistent" "$SNMPD" -C -c "$SNMP_DIR/snmpd.conf" -I -smux -m "" -Lo -f \
    "udp:127.0.0.1:$SNMP_PORT" >"$DEMO_DIR/snmpd.log" 2>&1 &
  pids+=($!)
  sleep 0.5
  if ! kill -0 "${pids[-1]}" 2>/dev/null; then
    echo "snmpd did not start (see $DEMO_DIR/snmpd.log): snmpd-local shows as not answering"
  fi
fi

cat >"$DEMO_DIR/agent.toml" <<TOML
[agent]
data_dir = "$DEMO_DIR/agent"
interval_seconds = $INTERVAL

[collector]
addresses = ["127.0.0.1:$GRPC_PORT"]
token_file = "$DEMO_DIR/site.token"
TOML

"$BIN/fleetwatch-agent" run --config "$DEMO_DIR/agent.toml" >"$DEMO_DIR/agent.log" 2>&1 &
pids+=($!)
"$BIN/fleetwatch-sim" --collector "127.0.0.1:$GRPC_PORT" --scenario demo \
  --agents "$AGENTS" --interval "$INTERVAL" --token-file "$DEMO_DIR/fleet.token" \
  --state-file "$DEMO_DIR/simulated-agents.json" >"$DEMO_DIR/simulate.log" 2>&1 &
pids+=($!)

# Prometheus and Alertmanager with the shipped rules and routing (see fleetwatch_sim/stack.py).
"$BIN/fleetwatch-stack" --out "$DEMO_DIR/stack" --collector "127.0.0.1:$HTTP_PORT" \
  --alertmanager "127.0.0.1:$AM_PORT" --webhook "http://127.0.0.1:$RECEIVER_PORT/" \
  --time-scale "$TIME_SCALE" --interval 5s
stack=()
PROMETHEUS=$(command -v prometheus || true)
ALERTMANAGER=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [[ -n "$PROMETHEUS" ]]; then
  "$PROMETHEUS" --config.file="$DEMO_DIR/stack/prometheus.yml" --storage.tsdb.path="$DEMO_DIR/prometheus" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$DEMO_DIR/prometheus.log" 2>&1 &
  pids+=($!)
  wait_for_http "http://127.0.0.1:$PROM_PORT/-/ready" "${pids[-1]}" "$DEMO_DIR/prometheus.log" "Prometheus"
  # Debian's package leaves out the web UI of /alerts and keeps its classic pages under /classic.
  alerts_page="http://127.0.0.1:$PROM_PORT/alerts"
  if ! answers "$alerts_page"; then
    alerts_page="http://127.0.0.1:$PROM_PORT/classic/alerts"
  fi
  stack+=("  alerts:       $alerts_page   (Prometheus, the shipped rules; 'for' x $TIME_SCALE)")
  routers+=("                routers not answering: http://127.0.0.1:$PROM_PORT/graph?g0.expr=fleetwatch_netdev_up%3D%3D0&g0.tab=1")
else
  stack+=("  Prometheus is not installed: apt-get install prometheus   (the rest runs without it)")
fi
if [[ -n "$ALERTMANAGER" ]]; then
  "$BIN/fleetwatch-receiver" --listen "127.0.0.1:$RECEIVER_PORT" --record "$DEMO_DIR/notifications.jsonl" &
  pids+=($!)
  "$ALERTMANAGER" --config.file="$DEMO_DIR/stack/alertmanager.yml" --storage.path="$DEMO_DIR/alertmanager" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$DEMO_DIR/alertmanager.log" 2>&1 &
  pids+=($!)
  stack+=("  Alertmanager: http://127.0.0.1:$AM_PORT   (notifications print below, as on-call staff get them)")
else
  stack+=("  Alertmanager is not installed: apt-get install prometheus-alertmanager   (the rest runs without it)")
fi

cat <<MSG

fleetwatch demo running: 1 real agent + $AGENTS simulated agents over the 201 sites of Tiền Giang,
playing the demo scenario (sim/fleetwatch_sim/scenarios/demo.toml).
  metrics:      http://127.0.0.1:$HTTP_PORT/metrics
$(printf '%s\n' "${stack[@]}")
$(printf '%s\n' "${routers[@]}")
  dashboards:   grafana/dashboards/*.json (import into Grafana, or: docker compose -f deploy/compose/compose.yaml up)
                routers: http://127.0.0.1:3000/d/fleetwatch-routers   (a Grafana provisioned from grafana/provisioning/)
Alerts fire within a few minutes (a commune's WAN goes dark after 1 minute). Logs: $DEMO_DIR/*.log
Press Ctrl-C to stop.
MSG

if [[ -n "$DURATION" ]]; then
  sleep "$DURATION"
  exit 0
fi
wait -n "${pids[@]}" || true
echo "a demo process exited early; see $DEMO_DIR/*.log"
