#!/usr/bin/env bash
# The demo: the operators' whole stack on 127.0.0.1. A collector, one real agent on this
# machine, a simulated fleet of the province (4,130 agents) playing the demo scenario
# (a commune's WAN goes dark, antivirus disabled, a threat, a disk filling...), Prometheus with
# the shipped rules, and Alertmanager routed to a local receiver that prints each notification
# as on-call staff read it. Ctrl-C stops every process.
#
# Settings (environment): FLEETWATCH_DEMO_AGENTS (4130), FLEETWATCH_DEMO_INTERVAL (15),
# FLEETWATCH_DEMO_TIME_SCALE (0.1: every alert's `for` times this), FLEETWATCH_DEMO_DURATION
# (seconds, default: until Ctrl-C), FLEETWATCH_DEMO_*_PORT, DEMO_DIR (.demo).
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
AGENTS=${FLEETWATCH_DEMO_AGENTS:-4130}
INTERVAL=${FLEETWATCH_DEMO_INTERVAL:-15}
TIME_SCALE=${FLEETWATCH_DEMO_TIME_SCALE:-0.1}
DURATION=${FLEETWATCH_DEMO_DURATION:-}

mkdir -p "$DEMO_DIR"
rm -f "$DEMO_DIR/notifications.jsonl"
# Enrolment tokens: one for this machine's site, one "any site" token for the simulated fleet.
# Both agents keep their credentials in $DEMO_DIR, so a second demo run reuses them.
"$BIN/fleetwatch-collector" token create --site so-thong-tin-va-truyen-thong \
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

wait_for_http() {  # URL PID LOG NAME
  for _ in $(seq 1 100); do
    if "$BIN/python" -c "import urllib.request as u; u.urlopen('$1', timeout=1)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$4 did not start:"; tail -20 "$3"; exit 1
    fi
    sleep 0.2
  done
  echo "$4 did not answer at $1"; exit 1
}

"$BIN/fleetwatch-collector" run \
  --grpc-listen "127.0.0.1:$GRPC_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --data-dir "$DEMO_DIR/collector" >"$DEMO_DIR/collector.log" 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$HTTP_PORT/healthz" "${pids[-1]}" "$DEMO_DIR/collector.log" "the collector"

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
  stack+=("  alerts:       http://127.0.0.1:$PROM_PORT/alerts   (Prometheus, the shipped rules; 'for' x $TIME_SCALE)")
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
  dashboards:   grafana/dashboards/*.json (import into Grafana, or: docker compose -f deploy/compose/compose.yaml up)
Alerts fire within a few minutes (a commune's WAN goes dark after 1 minute). Logs: $DEMO_DIR/*.log
Press Ctrl-C to stop.
MSG

if [[ -n "$DURATION" ]]; then
  sleep "$DURATION"
  exit 0
fi
wait -n "${pids[@]}" || true
echo "a demo process exited early; see $DEMO_DIR/*.log"
