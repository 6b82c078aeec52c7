# Sourced by the chaos scripts: finds the release binary (FLORIAN_BIN overrides), building it
# when it is missing. Debug builds are many times slower and would distort the timings.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FLORIAN_BIN="${FLORIAN_BIN:-$repo/.build/release/florian}"
if [ ! -x "$FLORIAN_BIN" ]; then
  echo "building $FLORIAN_BIN (swift build -c release --product florian)…" >&2
  (cd "$repo" && swift build -c release --product florian >&2) || { echo "build failed" >&2; exit 2; }
fi
