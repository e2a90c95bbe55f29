#!/usr/bin/env bash
# bench/micro/run.sh — micro benchmarks of Tern's pure cores (SMTP commands and session, DATA
# dot-unstuffing, MIME parsing, the DNS codec), with malloc counts per operation.
#
#   bench/micro/run.sh [benchmark options...]     e.g. --target SMTPData, --filter 'MIME.*'
#
# Runs ordo-one/benchmark's plugin on the separate package in bench/micro (release build), then
# writes bench/results/micro-<time>.md (the plugin's tables and a one-line-per-benchmark
# summary) and bench/results/micro-<time>.csv (target, benchmark, metric, unit, p0…p100,
# samples), and prints the summary. Figures are per operation.
#
# Needs Swift 6.3 or later (the plugin counts mallocs with its interposer from 6.3 on; older
# toolchains would want jemalloc, which this setup does not use) and python3 for the CSV. It
# installs nothing. Builds go to .build-micro (MICRO_SCRATCH overrides), never to .build.
#
# The whole run, build and measurement, holds the machine's build lock (TERN_BUILD_LOCK,
# default /tmp/tern-build.lock): on 2 shared cores a concurrent build would both slow ours and
# disturb the timings. Malloc counts are exact whatever the load; times are not, so the
# summary shows p0 (the least disturbed sample) next to p50.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
package="$root/bench/micro"
scratch="${MICRO_SCRATCH:-$root/.build-micro}"
results="${MICRO_RESULTS:-$root/bench/results}"  # bench/run puts them beside its own
lock="${TERN_BUILD_LOCK:-/tmp/tern-build.lock}"
stamp="$(date +%Y%m%dT%H%M%S)"

command -v swift >/dev/null || { echo "run.sh: swift is not on PATH" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: python3 is needed for the CSV (apt-get install python3)" >&2; exit 1; }
version="$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n 1)"
read -r major minor <<<"${version:-0 0}"
if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 3 ]; }; then
  echo "run.sh: Swift 6.3 or later is needed (found ${major}.${minor})" >&2
  exit 1
fi

mkdir -p "$results"
log="$results/micro-$stamp.log"
report="$results/micro-$stamp.md"
csv="$results/micro-$stamp.csv"

echo "running the micro benchmarks (build and measurement hold $lock)..." >&2
status=0
flock "$lock" swift package --package-path "$package" --scratch-path "$scratch" \
  benchmark --no-progress --format markdown "$@" >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ] || ! grep -q '^## Baseline' "$log"; then
  tail -n 40 "$log" >&2
  echo "run.sh: the benchmark run failed (exit $status); full output in $log" >&2
  exit 1
fi

# The report is what follows the build output: the baseline heading, host, then the tables.
sed -n '/^## Baseline/,$p' "$log" >"$report.tables"
summary="$(python3 "$package/summarize.py" "$report.tables" "$csv")"
{
  echo "# Tern micro benchmarks, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "Commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with local changes)'), $(swift --version 2>/dev/null | head -n 1)."
  echo "Per operation: wall clock in ns, throughput in operations per second, mallocs and malloc bytes exact."
  echo
  echo "$summary"
  echo
  cat "$report.tables"
} >"$report"
rm -f "$report.tables" "$log"

echo "$summary"
echo >&2
echo "report: $report" >&2
echo "csv:    $csv" >&2
