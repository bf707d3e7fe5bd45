# promfuzz: the two commands a person needs are `make fuzz` and `make test`.
# Everything they need is installed here: the Python venv in .venv and the Go engine
# hosts in .build/ (Go builds are incremental: a warm `make hosts` takes seconds).

PY        ?= python3
VENV      := .venv
VPY       := $(VENV)/bin/python
BUILD     := .build
GO        ?= go
GOFLAGS_BUILD := CGO_ENABLED=0
FUZZ_ARGS ?= --budget 2m

HOSTKIT_SRC := $(shell find hosts/hostkit -name '*.go' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null)
define host_src
$(shell find hosts/$(1) -name '*.go' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null) $(HOSTKIT_SRC)
endef

HOSTS := $(BUILD)/prometheus-host $(BUILD)/mimir-host $(BUILD)/thanos-host $(BUILD)/prometheus-server $(BUILD)/mimir-server \
         $(BUILD)/promqltest-runner $(BUILD)/promqltest-runner-mimir $(BUILD)/promqltest-runner-thanos

.PHONY: all venv hosts deps fuzz test test-go test-py lint clean help

help:
	@echo "make fuzz   - install everything, build the engine hosts, run a short campaign (mqe vs mimir-prometheus)"
	@echo "make test   - install everything, build the engine hosts, run the Go and Python tests"
	@echo "make hosts  - build only the Go engine hosts into $(BUILD)/"
	@echo "make lint   - ruff and mypy"

all: venv hosts

# Debian packages the tests use: Chromium renders the HTML report in a browser test.
deps: $(BUILD)/thanos
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian package chromium (for the report rendering test)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@test -x $(BUILD)/victoria-metrics || { \
	  echo "building VictoriaMetrics v1.151.0 from its Go module into $(BUILD)/ (victoriametrics-live)"; \
	  mkdir -p $(BUILD) && GOBIN=$(abspath $(BUILD)) GOTOOLCHAIN=local \
	    go install github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@v1.151.0; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

hosts: $(HOSTS)

$(BUILD)/prometheus-host: $(call host_src,prometheus)
	@mkdir -p $(BUILD)
	cd hosts/prometheus && $(GOFLAGS_BUILD) $(GO) build -o ../../$@ .

$(BUILD)/mimir-host: $(call host_src,mimir)
	@mkdir -p $(BUILD)
	cd hosts/mimir && $(GOFLAGS_BUILD) $(GO) build -o ../../$@ .

$(BUILD)/thanos-host: $(call host_src,thanos)
	@mkdir -p $(BUILD)
	cd hosts/thanos && $(GOFLAGS_BUILD) $(GO) build -o ../../$@ .

# Each engine family's own promqltest runner (test binaries: promqltest.RunTest needs a
# *testing.T): a stored case must pass the harness of the Prometheus version whose answer
# it stores (promfuzz/corpus/runner.py).
$(BUILD)/promqltest-runner: $(call host_src,prometheus)
	@mkdir -p $(BUILD)
	cd hosts/prometheus && $(GOFLAGS_BUILD) $(GO) test -c -o ../../$@ ./promqltestrun

$(BUILD)/promqltest-runner-mimir: $(call host_src,mimir)
	@mkdir -p $(BUILD)
	cd hosts/mimir && $(GOFLAGS_BUILD) $(GO) test -c -o ../../$@ ./promqltestrun

$(BUILD)/promqltest-runner-thanos: $(call host_src,thanos)
	@mkdir -p $(BUILD)
	cd hosts/thanos && $(GOFLAGS_BUILD) $(GO) test -c -o ../../$@ ./promqltestrun

# Thanos Receive + Query for thanos-live. Thanos's go.mod has replace directives, so
# `go install pkg@version` refuses it: it is built inside the downloaded module, with the
# build tags of its own .promu.yml (slicelabels is the labels layout its unsafe casts
# assume: without it Receive panics on Query's first Info call). v0.42.5 needs Go 1.26.10.
THANOS_VERSION := v0.42.4
$(BUILD)/thanos:
	@mkdir -p $(BUILD)
	@echo "building Thanos $(THANOS_VERSION) from its Go module into $(BUILD)/thanos (thanos-live)"
	GOTOOLCHAIN=local $(GO) mod download github.com/thanos-io/thanos@$(THANOS_VERSION)
	cd "$$(GOTOOLCHAIN=local $(GO) list -m -f '{{.Dir}}' github.com/thanos-io/thanos@$(THANOS_VERSION))" && \
	  GOTOOLCHAIN=local $(GOFLAGS_BUILD) $(GO) build -tags netgo,slicelabels \
	    -ldflags "-X github.com/prometheus/common/version.Version=$(THANOS_VERSION:v%=%) -X github.com/prometheus/common/version.Revision=module-$(THANOS_VERSION) -X github.com/prometheus/common/version.Branch=promfuzz" \
	    -o $(abspath $@) ./cmd/thanos

# The real Prometheus server, from the same module version as hosts/prometheus.
$(BUILD)/prometheus-server: hosts/prometheus/go.mod hosts/prometheus/go.sum
	@mkdir -p $(BUILD)
	bash hosts/prometheus/build-server.sh ../../$@

# The Mimir monolith (mimir-live), at the same pinned Mimir commit as hosts/mimir.
$(BUILD)/mimir-server: hosts/mimir-server/go.mod hosts/mimir-server/go.sum hosts/mimir-server/build.sh hosts/mimir/go.mod
	@mkdir -p $(BUILD)
	bash hosts/mimir-server/build.sh ../../$@

# promtool from the same Prometheus module as hosts/prometheus (the tee's tests use it as a
# real client). promtool needs a few modules the host's go.sum lacks, so it is built in a
# temporary copy of that go.mod (hostkit dropped), leaving hosts/prometheus untouched.
$(BUILD)/promtool: hosts/prometheus/go.mod hosts/prometheus/go.sum
	@mkdir -p $(BUILD)
	tmp=$$(mktemp -d) && cp hosts/prometheus/go.mod hosts/prometheus/go.sum $$tmp/ && \
	  ( cd $$tmp && $(GO) mod edit -droprequire=github.com/promfuzz/promfuzz/hosts/hostkit \
	      -dropreplace=github.com/promfuzz/promfuzz/hosts/hostkit && \
	    $(GOFLAGS_BUILD) $(GO) build -mod=mod -o $(abspath $@) github.com/prometheus/prometheus/cmd/promtool ); \
	  rc=$$?; rm -rf $$tmp; exit $$rc

fuzz: venv hosts
	$(VENV)/bin/promfuzz run $(FUZZ_ARGS)

test: venv hosts deps test-go test-py

test-go: hosts
	cd hosts/hostkit && $(GO) test ./...
	cd hosts/prometheus && $(GO) test ./...
	cd hosts/mimir && $(GO) test ./...
	cd hosts/thanos && $(GO) test ./...

test-py: venv hosts $(BUILD)/promtool
	$(VENV)/bin/pytest -q

lint: venv
	$(VENV)/bin/ruff check promfuzz tests bench
	$(VENV)/bin/mypy promfuzz

clean:
	rm -rf $(BUILD)
