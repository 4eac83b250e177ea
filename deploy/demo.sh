#!/usr/bin/env bash
# The demo: a collector, one real agent on this machine and a simulated fleet of the
# province (4,130 agents by default), all on 127.0.0.1. Ctrl-C stops every process.
set -euo pipefail
umask 077  # tokens and credentials are secrets
# The demo's agent checks only the local collector, not this machine's gateway or DNS servers.
export FLEETWATCH_LOOPBACK_ONLY=1

cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DEMO_DIR=${DEMO_DIR:-.demo}
GRPC_PORT=${FLEETWATCH_DEMO_GRPC_PORT:-50051}
HTTP_PORT=${FLEETWATCH_DEMO_HTTP_PORT:-9464}
AGENTS=${FLEETWATCH_DEMO_AGENTS:-4130}
INTERVAL=${FLEETWATCH_DEMO_INTERVAL:-15}

mkdir -p "$DEMO_DIR"
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

"$BIN/fleetwatch-collector" run \
  --grpc-listen "127.0.0.1:$GRPC_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --data-dir "$DEMO_DIR/collector" >"$DEMO_DIR/collector.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 50); do
  if "$BIN/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$HTTP_PORT/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "the collector did not start:"; cat "$DEMO_DIR/collector.log"; exit 1
  fi
  sleep 0.2
done

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
"$BIN/fleetwatch-sim" --collector "127.0.0.1:$GRPC_PORT" \
  --agents "$AGENTS" --interval "$INTERVAL" --token-file "$DEMO_DIR/fleet.token" \
  --state-file "$DEMO_DIR/simulated-agents.json" >"$DEMO_DIR/simulate.log" 2>&1 &
pids+=($!)

cat <<MSG

fleetwatch demo running: 1 real agent + $AGENTS simulated agents over 201 sites.
  metrics:  http://127.0.0.1:$HTTP_PORT/metrics
  health:   http://127.0.0.1:$HTTP_PORT/healthz
  agents up: curl -s http://127.0.0.1:$HTTP_PORT/metrics | grep '^fleetwatch_collector_agents'
Every agent reports within one interval (${INTERVAL}s) after it enrolled. Logs: $DEMO_DIR/*.log
Press Ctrl-C to stop.
MSG

wait -n "${pids[@]}" || true
echo "a demo process exited early; see $DEMO_DIR/*.log"
