// SPDX-License-Identifier: AGPL-3.0-only

// Command mimir-host serves Grafana Mimir's streaming query engine (MQE, engine "mqe") and
// the Prometheus engine of Mimir's Prometheus fork (engine "mimir-prometheus") over one
// in-memory TSDB, speaking the promfuzz host protocol (docs/host-protocol.md) through
// hostkit.
//
// This program links Mimir, so it is licensed AGPL-3.0-only (see LICENSE here); the rest of
// promfuzz talks to it over HTTP only.
//
// Importing MQE runs its init, which re-adds holt_winters (an alias of
// double_exponential_smoothing) to the parser's global function table: both engines of
// this host therefore accept holt_winters, as Mimir does.
package main

import (
	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

func main() {
	hostkit.MainWithOptions(newHost, knownOptions())
}
