# The README's test command is `make test`; `make deps` installs what it needs.
GO        ?= go
SHELL     := bash
.SHELLFLAGS := -o pipefail -c
# An execution count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" as the time
# runs out (golang/go#75804, fixed in Go 1.27), which would fail CI for nothing.
FUZZTIME  ?= 100000x
KAFKA_SH  := integration/kafka.sh

# Two brokers, never the same one:
# - make run (and kafka-start/kafka-stop) use the developer's broker on 9092;
#   its data is kept between runs.
# - make test starts its own on TEST_KAFKA_PORT (controller on the next port)
#   with its own data dir, wiped at every start and stopped at the end, so it
#   never reads or touches what make run left. KAFKA_BOOTSTRAP=host:port
#   runs the tests against that broker instead (none is started); the tests
#   use run-unique topics and groups, so a broker holding data is fine.
TEST_KAFKA_PORT ?= 19092
TEST_KAFKA_DIR  ?= $(CURDIR)/integration/.kafka-data/test-$(TEST_KAFKA_PORT)
TEST_KAFKA      := KAFKA_PORT=$(TEST_KAFKA_PORT) KAFKA_DATA_DIR=$(TEST_KAFKA_DIR) $(KAFKA_SH)
TEST_REPORT     := $(CURDIR)/bin/test-report.txt

# The version in `mqtt-kafka-bridge version`, /api/v1/overview and the
# dashboard. Without it (a plain go build) the binary reads its build info.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS   := $(if $(VERSION),-X main.version=$(VERSION))

.PHONY: all build deps test-deps test unit fuzz kafka-start kafka-stop test-kafka-start test-kafka-stop run vet fmt bench clean

all: build

BUILD_OUT ?= bin/mqtt-kafka-bridge
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BUILD_OUT) ./cmd/mqtt-kafka-bridge

# Installs what the tests need (Java 17, Maven, mosquitto-clients, kcat,
# chromium, chromium-driver) with apt-get when run as root; otherwise fails
# with the list of what is missing. See integration/deps.sh.
deps:
	integration/deps.sh

# make test's variant: outside CI a missing optional tool only warns.
test-deps:
	@integration/deps.sh --test

# vet, then every unit, end-to-end and integration test with -race against
# make test's own Kafka (or KAFKA_BOOTSTRAP), then short fuzz runs. Ends
# with the counts and one line naming each skipped test and why. Outside
# CI a missing mosquitto-clients, kcat or chromium only skips their tests;
# with CI=true those tests fail.
#
# The recipe calls make through SUBMAKE, not $(MAKE): make runs a line
# naming $(MAKE) even under -n, and `make -n test` must not wipe or stop
# anything.
SUBMAKE = $(MAKE) --no-print-directory
test: test-deps vet
	@set -euo pipefail; \
	if [ -z "$${KAFKA_BOOTSTRAP:-}" ]; then \
	  trap '$(TEST_KAFKA) stop' EXIT; \
	  $(TEST_KAFKA) reset; \
	  KAFKA_BOOTSTRAP="$$($(TEST_KAFKA) start)"; \
	  export KAFKA_BOOTSTRAP; \
	  echo "make test: own Kafka on $$KAFKA_BOOTSTRAP (data $(TEST_KAFKA_DIR), wiped at start)"; \
	else \
	  echo "make test: Kafka at KAFKA_BOOTSTRAP=$$KAFKA_BOOTSTRAP (not started, not wiped)"; \
	fi; \
	$(SUBMAKE) unit fuzz; \
	echo "make test: passed"; cat $(TEST_REPORT)

# gofmt, go.mod/go.sum tidy (go mod tidy -diff prints what tidy would
# change and fails; it changes nothing), then go vet.
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	@$(GO) mod tidy -diff || (echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1)
	$(GO) vet ./...

# The packages (PKGS, default all) with -race, through testreport: plain go
# test output, then the counts and the skipped tests. Without KAFKA_BOOTSTRAP
# the Kafka tests start (or reuse) integration/kafka.sh's default broker on
# 9092; make test sets it to its own.
PKGS ?= ./...
unit:
	@mkdir -p bin
	@$(GO) build -o bin/testreport ./integration/testenv/cmd/testreport
	$(GO) test -race -count=1 -timeout 45m -json $(PKGS) | bin/testreport -o $(TEST_REPORT)

# Each fuzz target gets a short run; the committed corpora are replayed by
# `unit` as ordinary tests.
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -c6-); do \
	    echo "fuzz $$t in $$pkg ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# make run's broker (port 9092, data kept).
kafka-start:
	$(KAFKA_SH) start

kafka-stop:
	$(KAFKA_SH) stop

# make test's broker: wiped, then started; prints its bootstrap address.
test-kafka-start:
	@$(TEST_KAFKA) reset >&2
	@$(TEST_KAFKA) start

test-kafka-stop:
	$(TEST_KAFKA) stop

# Runs the bridge with the local-development config.yaml. Starts the local
# Kafka from integration/kafka.sh (port 9092; never make test's broker)
# unless BRIDGE_KAFKA_BOOTSTRAP_SERVERS points the bridge elsewhere.
run: build
	@if [ -z "$${BRIDGE_KAFKA_BOOTSTRAP_SERVERS:-}" ]; then $(KAFKA_SH) start; fi
	./bin/mqtt-kafka-bridge --config config.yaml

# Go micro-benchmarks, then the scenarios S1-S6 of integration/bench
# (real Kafka, the built bridge, bare sarama and Mosquitto; ~10 min on 2
# cores; results under integration/bench/out/, summarised in RESULTS.md).
# BENCH_SCENARIOS="S2 S3" runs a subset; BENCH_SCENARIOS=none skips them.
# The cluster scenarios of issue 12 are not in the default set (~12 min
# more): BENCH_SCENARIOS="K1 K2 K3" runs them (RESULTS.md, "Issue 12").
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ "$(BENCH_SCENARIOS)" != none ]; then integration/bench/run.sh $(BENCH_SCENARIOS); fi

clean:
	rm -rf bin
