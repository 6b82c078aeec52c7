#!/usr/bin/env bash
# Soak: many seeds of every scenario and both mutants, through the release binary.
# Opt-in (not part of CI). Usage: ops/sim/soak.sh [SEEDS_PER_SCENARIO] (default 20000)
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-20000}"
swift build -c release --product florian
bin=.build/release/florian
status=0
for s in Simulations/*.scenario; do
  echo "== $s"
  "$bin" simulate --seeds "$n" --scenario "$s" | tail -1 || status=1
done
for m in figure8 vote-without-log-check stale-read; do
  echo "== mutant $m (must report violations)"
  if "$bin" simulate --seeds 2000 --mutant "$m" | tail -1 | grep -q ' 0 violations$'; then
    echo "mutant $m was NOT found"; status=1
  fi
done
exit $status
