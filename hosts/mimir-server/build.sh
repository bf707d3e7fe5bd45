#!/usr/bin/env bash
# Build the Grafana Mimir monolith (github.com/grafana/mimir/cmd/mimir) at the SAME
# pinned Mimir commit as hosts/mimir (this module's go.mod copies hosts/mimir's requires
# and replaces; `tool github.com/grafana/mimir/cmd/mimir` keeps the binary's whole
# dependency graph in go.sum). promfuzz's mimir-live engine starts it
# (promfuzz/engines/mimir_live.py).
#
# Usage: hosts/mimir-server/build.sh [OUTPUT]   (default: .build/mimir-server)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../.build/mimir-server}"
mkdir -p "$(dirname "$out")"
cd "$here"
want="$(cd ../mimir && go list -m -f '{{.Version}}' github.com/grafana/mimir)"
have="$(go list -m -f '{{.Version}}' github.com/grafana/mimir)"
if [ "$want" != "$have" ]; then
  echo "hosts/mimir-server pins Mimir $have but hosts/mimir pins $want: copy the require/replace lines over and run go mod tidy" >&2
  exit 1
fi
moddir="$(go list -m -f '{{.Dir}}' github.com/grafana/mimir)"
release="$(cat "$moddir/VERSION" 2>/dev/null || echo "$have")"
pkg=github.com/grafana/mimir/pkg/util/version
CGO_ENABLED=0 go build -tags netgo,stringlabels \
  -ldflags "-X $pkg.Version=$release -X $pkg.Revision=module-$have -X $pkg.Branch=promfuzz" \
  -o "$out" github.com/grafana/mimir/cmd/mimir
echo "built $out (Mimir $release, module $have)" >&2
