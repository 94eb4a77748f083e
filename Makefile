# The README's test command is `make test`.
GO        ?= go
# An execution count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" as the time
# runs out (golang/go#75804, fixed in Go 1.27), which would fail CI for nothing.
FUZZTIME  ?= 100000x
KAFKA_SH  := integration/kafka.sh
export KAFKA_BOOTSTRAP ?= 127.0.0.1:9092

.PHONY: all build test unit fuzz kafka-start kafka-stop run vet fmt bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mqtt-kafka-bridge ./cmd/mqtt-kafka-bridge

# Unit, end-to-end and integration tests (with -race), then short fuzz runs.
# A real Apache Kafka is started first; if it cannot start, the run fails.
test: vet kafka-start unit fuzz

# gofmt, go.mod/go.sum tidy (go mod tidy -diff prints what tidy would
# change and fails; it changes nothing), then go vet.
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	@$(GO) mod tidy -diff || (echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1)
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

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

kafka-start:
	$(KAFKA_SH) start

kafka-stop:
	$(KAFKA_SH) stop

# Runs the bridge with the local-development config.yaml. Starts the local
# Kafka from integration/kafka.sh unless KAFKA_BOOTSTRAP points elsewhere.
run: build
	@if [ "$(KAFKA_BOOTSTRAP)" = "127.0.0.1:9092" ]; then $(KAFKA_SH) start; fi
	./bin/mqtt-kafka-bridge --config config.yaml

# Go micro-benchmarks, then the scenarios S1-S6 of integration/bench
# (real Kafka, the built bridge, bare sarama and Mosquitto; ~10 min on 2
# cores; results under integration/bench/out/, summarised in RESULTS.md).
# BENCH_SCENARIOS="S2 S3" runs a subset; BENCH_SCENARIOS=none skips them.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ "$(BENCH_SCENARIOS)" != none ]; then integration/bench/run.sh $(BENCH_SCENARIOS); fi

clean:
	rm -rf bin
