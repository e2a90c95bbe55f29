#!/usr/bin/env bash
# bench/inbound.sh — inbound SMTP acceptance rate of Tern, measured with Postfix's smtp-source,
# side by side with Postfix itself (smtpd + its fsync'd queue) when it is set up, in one run.
#
#   bench/inbound.sh [REPETITIONS]          (default 3; run as root on Debian for the installs)
#
# Scenarios (10 KB messages): 1 session, 20 sessions (new connection per message), 20 sessions
# reusing connections. For each, Tern and the peer run alternately REPETITIONS times; the script
# prints medians in messages per second and the ratio Tern/Postfix. Tern runs in dev mode
# (every message fsync'ed into a Maildir before its 250), release build, with the catcher's web
# UI and index off (--http off): this measures SMTP acceptance, as Postfix's side does. Loopback
# only.
#
# The Postfix peer comes from the perf kit (PERF_KIT, default ../shared/tools/perf relative to
# the repository): its install-peers.sh configures Postfix on 127.0.0.1:2525. Without the kit,
# only Tern is measured. Results go to bench/results/inbound-<time>.csv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPS=${1:-3}
MESSAGES=${BENCH_MESSAGES:-2000}
TERN_PORT=${TERN_PORT:-2630}
PERF_KIT=${PERF_KIT:-$(cd .. && pwd)/shared/tools/perf}
export DEBIAN_FRONTEND=noninteractive

. bench/lib.sh
[ -x /usr/sbin/smtp-source ] || bench_install postfix
bench_start_postfix
bench_build_tern
data=$(mktemp -d /tmp/tern-bench.XXXXXX)
"$bin" dev --smtp "127.0.0.1:$TERN_PORT" --http off --data "$data" --hostname bench.tern.test >"$data/stdout" 2>"$data/stderr" &
tern_pid=$!
trap 'kill $tern_pid 2>/dev/null; wait $tern_pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do grep -q "tern: ready" "$data/stdout" && break; sleep 0.1; done

run() { # target sessions reuse -> msgs/s
  local target=$1 sessions=$2 reuse=$3 flags=()
  [ "$reuse" = yes ] && flags+=(-d)
  local t0 t1
  t0=$(date +%s.%N)
  timeout 300 /usr/sbin/smtp-source -s "$sessions" -m "$MESSAGES" -l 10240 -f a@example.test \
    -t bench@bench.example.test -M bench-client.example.test "${flags[@]}" "$target" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v n="$MESSAGES" 'BEGIN { printf "%.1f", n / (b - a) }'
}

mkdir -p bench/results
csv="bench/results/inbound-$(date +%Y%m%dT%H%M%S).csv"
echo "scenario,server,repetition,msgs_per_s" > "$csv"
printf '%-34s %12s %12s %8s\n' "scenario (10 KB, $MESSAGES msgs)" "tern msg/s" "postfix msg/s" "ratio"
for scenario in "1 no" "20 no" "20 yes"; do
  set -- $scenario
  name="$1 session(s), $([ "$2" = yes ] && echo reused || echo new) connections"
  tern_rates=() peer_rates=()
  for rep in $(seq 1 "$REPS"); do
    rate=$(run "127.0.0.1:$TERN_PORT" "$1" "$2"); tern_rates+=("$rate")
    echo "$name,tern,$rep,$rate" >> "$csv"
    if [ -n "$peer" ]; then
      rate=$(run "$peer" "$1" "$2"); peer_rates+=("$rate")
      echo "$name,postfix,$rep,$rate" >> "$csv"
    fi
  done
  tern_median=$(printf '%s\n' "${tern_rates[@]}" | median)
  if [ -n "$peer" ]; then
    peer_median=$(printf '%s\n' "${peer_rates[@]}" | median)
    ratio=$(awk -v a="$tern_median" -v b="$peer_median" 'BEGIN { printf "%.2f", a / b }')
  else
    peer_median="-" ratio="-"
  fi
  printf '%-34s %12s %12s %8s\n' "$name" "$tern_median" "$peer_median" "$ratio"
done
echo "raw results: $csv"
