#!/usr/bin/env bash
# Build the real Prometheus server from the SAME module version the prometheus host
# selects (go.mod's `tool github.com/prometheus/prometheus/cmd/prometheus` line keeps the
# server's dependencies in this module's go.sum).
#
# Usage: hosts/prometheus/build-server.sh [OUTPUT]   (default: .build/prometheus-server)
#
# remove_all_sd drops every service-discovery plugin (promfuzz only uses remote write).
# The web UI assets are not embedded (no builtinassets tag): the HTTP API is complete.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../.build/prometheus-server}"
mkdir -p "$(dirname "$out")"
cd "$here"
modver="$(go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
moddir="$(go list -m -f '{{.Dir}}' github.com/prometheus/prometheus)"
release="$(cat "$moddir/VERSION" 2>/dev/null || echo "$modver")"
pkg=github.com/prometheus/common/version
CGO_ENABLED=0 go build -tags remove_all_sd \
  -ldflags "-X $pkg.Version=$release -X $pkg.Revision=module-$modver -X $pkg.Branch=promfuzz" \
  -o "$out" github.com/prometheus/prometheus/cmd/prometheus
echo "built $out (Prometheus $release, module $modver)" >&2
