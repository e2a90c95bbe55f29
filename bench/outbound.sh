#!/usr/bin/env bash
# bench/outbound.sh — outbound relay throughput: how fast a queue of N messages (default 10,000)
# to 100 recipient domains drains into Postfix's smtp-sink, Tern against Postfix, in one run.
#
#   bench/outbound.sh [REPETITIONS]        (default 3; run as root on Debian for the installs)
#
# Each repetition, for each server:
#   1. fill: N messages of 10 KB go in with smtp-source (100 runs of N/100, one domain each,
#      d1.bench.test .. d100.bench.test) while delivery is held back — Tern's sink is not
#      listening yet (every first attempt is refused and deferred for an hour); Postfix has
#      `defer_transports = smtp`;
#   2. drain: the sink starts, the queue is released (`tern queue retry all`; Postfix:
#      `defer_transports =`, `postqueue -f`), and the clock runs until the queue is empty.
# The rate is N / drain time. Both servers keep their own defaults (Tern: 16 jobs in flight,
# connection reuse per server address; Postfix: 20 per destination, its connection cache).
#
# Routing: Tern looks up each domain's MX in a loopback NSD (every domain's MX is
# sink.bench.test = 127.0.0.1) and connects to the sink's port (`[outbound] port`). Postfix has
# no way to use that DNS server without changing the machine's resolver, so it relays
# everything to `[127.0.0.1]:PORT` (no DNS at all): if anything, that favours Postfix.
# Postfix's settings are restored on exit. Results go to bench/results/outbound-<time>.csv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPS=${1:-3}
MESSAGES=${BENCH_MESSAGES:-10000}
DOMAINS=100
TERN_PORT=${TERN_PORT:-2640}
SINK_PORT=${SINK_PORT:-2641}
DNS_PORT=${DNS_PORT:-2653}
PERF_KIT=${PERF_KIT:-$(cd .. && pwd)/shared/tools/perf}
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" -eq 0 ] || { echo "bench/outbound.sh: run as root (it installs and drives Postfix)" >&2; exit 1; }

. bench/lib.sh
need=()
[ -x /usr/sbin/smtp-source ] || need+=(postfix)
[ -x /usr/sbin/nsd ] || need+=(nsd)
bench_install "${need[@]}"
bench_start_postfix
bench_build_tern

work=$(mktemp -d /tmp/tern-outbound.XXXXXX)
saved_default=$(postconf -h default_transport) saved_relay=$(postconf -h relay_transport)
saved_defer=$(postconf -h defer_transports)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$peer" ]; then
    postconf -e "default_transport = $saved_default" "relay_transport = $saved_relay" "defer_transports = $saved_defer"
    postfix reload >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- DNS: NSD serving bench.test, every d<N> with the sink as MX ---------------------------------
mkdir -p "$work/nsd"
{
  echo '$ORIGIN bench.test.'
  echo '$TTL 3600'
  echo '@ SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 3600'
  echo '@ NS ns'
  echo 'ns A 127.0.0.1'
  echo 'sink A 127.0.0.1'
  for i in $(seq 1 $DOMAINS); do echo "d$i MX 10 sink"; done
} > "$work/nsd/bench.test.zone"
cat > "$work/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$DNS_PORT
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$work/nsd"
    pidfile: "$work/nsd/nsd.pid"
    database: ""
    zonelistfile: "$work/nsd/zone.list"
    xfrdfile: "$work/nsd/xfrd.state"
    xfrdir: "$work/nsd"
    logfile: "$work/nsd/nsd.log"
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: "bench.test.zone"
EOF
/usr/sbin/nsd -d -c "$work/nsd/nsd.conf" >"$work/nsd/out" 2>&1 &
pids+=($!)

# --- Tern: serve mode relaying for loopback ---------------------------------------------------------
cat > "$work/tern.toml" <<EOF
hostname = "bench.tern.test"
data_dir = "$work/tern-data"
log_level = "warning"

[[listener]]
address = "127.0.0.1"
port = $TERN_PORT
role = "mx"

[mail]
domains = ["tern.bench.test"]
relay_networks = ["127.0.0.0/8"]

[outbound]
port = $SINK_PORT

[dns]
servers = ["127.0.0.1:$DNS_PORT"]

[queue]
retry_delay = "1h"
retry_max_delay = "4h"
${TERN_QUEUE_EXTRA:-}
EOF
"$bin" serve --config "$work/tern.toml" >"$work/tern.stdout" 2>"$work/tern.stderr" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "tern: ready" "$work/tern.stdout" && break; sleep 0.1; done
grep -q "tern: ready" "$work/tern.stdout" || { cat "$work/tern.stderr" >&2; exit 1; }

fill() { # target
  local per=$((MESSAGES / DOMAINS)) running=()
  for i in $(seq 1 $DOMAINS); do
    /usr/sbin/smtp-source -s 4 -m "$per" -l 10240 -f sender@tern.bench.test -t "rcpt@d$i.bench.test" \
      -M fill.bench.test "$1" >/dev/null &
    running+=($!)
    # Ten smtp-source runs at a time.
    if [ "${#running[@]}" -ge 10 ]; then wait "${running[@]}"; running=(); fi
  done
  [ "${#running[@]}" -eq 0 ] || wait "${running[@]}"
}
tern_queue_size() { find "$work/tern-data/spool/queue" -name '*.json' | wc -l; }
postfix_queue_size() {
  find /var/spool/postfix/incoming /var/spool/postfix/active /var/spool/postfix/deferred \
    /var/spool/postfix/maildrop -type f 2>/dev/null | wc -l
}
wait_until() { # command expected-output timeout
  local deadline=$((SECONDS + $3))
  while [ "$($1)" != "$2" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}
start_sink() {
  /usr/sbin/smtp-sink -u nobody -m 512 "127.0.0.1:$SINK_PORT" 4096 &
  sink_pid=$!
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$SINK_PORT) 2>/dev/null && return; sleep 0.1; done
}
stop_sink() { kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; }

run_tern() {
  fill "127.0.0.1:$TERN_PORT"
  # Every message has had its refused first attempt once the queue holds N deferred records.
  wait_until tern_queue_size "$MESSAGES" 600 || { echo "tern: queue did not fill" >&2; return 1; }
  local t=0
  while [ "$(grep -l '"status":"pending"' "$work"/tern-data/spool/queue/*.json 2>/dev/null | head -1)" != "" ] \
    && [ $t -lt 600 ]; do sleep 0.2; t=$((t + 1)); done
  start_sink
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" queue retry all --data "$work/tern-data" >/dev/null
  wait_until tern_queue_size 0 900 || { echo "tern: queue did not drain" >&2; stop_sink; return 1; }
  t1=$(date +%s.%N)
  stop_sink
  awk -v a="$t0" -v b="$t1" -v n="$MESSAGES" 'BEGIN { printf "%.1f", n / (b - a) }'
}

run_postfix() {
  postconf -e "default_transport = smtp:[127.0.0.1]:$SINK_PORT" "relay_transport = smtp:[127.0.0.1]:$SINK_PORT" \
    "defer_transports = smtp"
  postfix reload >/dev/null 2>&1
  fill "$peer"
  wait_until postfix_queue_size "$MESSAGES" 600 || { echo "postfix: queue did not fill" >&2; return 1; }
  start_sink
  local t0 t1
  t0=$(date +%s.%N)
  postconf -e "defer_transports ="
  postfix reload >/dev/null 2>&1
  postqueue -f
  wait_until postfix_queue_size 0 900 || { echo "postfix: queue did not drain" >&2; stop_sink; return 1; }
  t1=$(date +%s.%N)
  stop_sink
  awk -v a="$t0" -v b="$t1" -v n="$MESSAGES" 'BEGIN { printf "%.1f", n / (b - a) }'
}

mkdir -p bench/results
csv="bench/results/outbound-$(date +%Y%m%dT%H%M%S).csv"
echo "scenario,server,repetition,msgs_per_s" > "$csv"
scenario="relay $MESSAGES x 10 KB to $DOMAINS domains"
tern_rates=() peer_rates=()
for rep in $(seq 1 "$REPS"); do
  rate=$(run_tern); tern_rates+=("$rate"); echo "$scenario,tern,$rep,$rate" >> "$csv"
  echo "repetition $rep: tern $rate msg/s" >&2
  if [ -n "$peer" ]; then
    rate=$(run_postfix); peer_rates+=("$rate"); echo "$scenario,postfix,$rep,$rate" >> "$csv"
    echo "repetition $rep: postfix $rate msg/s" >&2
  fi
done
tern_median=$(printf '%s\n' "${tern_rates[@]}" | median)
peer_median="-" ratio="-"
if [ -n "$peer" ]; then
  peer_median=$(printf '%s\n' "${peer_rates[@]}" | median)
  ratio=$(awk -v a="$tern_median" -v b="$peer_median" 'BEGIN { printf "%.2f", a / b }')
fi
printf '%-44s %12s %14s %8s\n' "scenario" "tern msg/s" "postfix msg/s" "ratio"
printf '%-44s %12s %14s %8s\n' "$scenario" "$tern_median" "$peer_median" "$ratio"
echo "raw results: $csv"
