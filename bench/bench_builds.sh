#!/usr/bin/env bash
# Build time of each Go engine host, cold and warm. Numbers only, nothing asserted.
#
# Usage: bash bench/bench_builds.sh
#
# cold: an empty GOCACHE (a temporary one; the Go module cache stays as it is, so module
#       downloads are not counted -- a fresh machine adds them once, see the cold
#       `make test` figure in the README);
# warm: the same build again with that cache (what `make hosts` costs after an edit-free
#       pull). Outputs go to a temporary folder; .build/ is not touched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export GOCACHE="$tmp/gocache" CGO_ENABLED=0
now() { date +%s%N; }
build() {  # name, then the command run inside hosts/<dir>
  local name="$1" dir="$2"; shift 2
  for kind in cold warm; do
    local t0; t0=$(now)
    (cd "$root/hosts/$dir" && "$@") >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    local ms=$(( ($(now) - t0) / 1000000 ))
    printf '%-20s %-5s %4d.%01d s\n' "$name" "$kind" $((ms / 1000)) $((ms % 1000 / 100))
  done
  rm -rf "$GOCACHE"   # the next host starts cold as well
}
echo "Go $(go env GOVERSION), $(nproc) cores; GOCACHE empty before each cold build"
build prometheus-host prometheus go build -o "$tmp/prometheus-host" .
build mimir-host mimir go build -o "$tmp/mimir-host" .
build thanos-host thanos go build -o "$tmp/thanos-host" .
build prometheus-server prometheus bash build-server.sh "$tmp/prometheus-server"
