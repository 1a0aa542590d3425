# kemi — build, run, test, lint, bench.
#
#   make run     build and run kemi on the embedded default script
#                (SIP on udp+tcp 127.0.0.1:5060, metrics on 127.0.0.1:9090)
#   make test    all tests, with the race detector
#   make bench   Go benchmarks and sipp load runs (prints calls/s and CPU per call)
#                make bench RATES="100 300" DURATION=5 STATEFUL_RATES=500 STATEFUL_DURATION=10

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/kemi
ARGS    ?=

# sipp load runs: call rates (calls/s) and seconds per rate, stateless then
# stateful (tm)
RATES             ?= 500 1000 2000 3000
DURATION          ?= 10
STATEFUL_RATES    ?= 1000 2000
STATEFUL_DURATION ?= 30

.PHONY: all build run test lint bench bench-go bench-sipp sipp clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kemi

run: build
	./$(BIN) run $(ARGS)

test:
	$(GO) test -race -count=1 -timeout 15m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: bench-go bench-sipp

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./luaext/ ./engine/

# sipp is installed from Debian's sip-tester package when missing (needs root).
sipp:
	@command -v sipp >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq sip-tester; \
	  else echo "sipp is missing: apt-get install sip-tester"; exit 1; fi; }

# stateless at RATES, then the stateful proxy (tm) at STATEFUL_RATES; an
# empty list skips that part
bench-sipp: build sipp
	@if [ -n "$(strip $(RATES))" ]; then ./examples/bench/bench.sh examples/bench/stateless.lua "$(RATES)" $(DURATION); fi
	@if [ -n "$(strip $(STATEFUL_RATES))" ]; then ./examples/bench/bench.sh examples/bench/stateful.lua "$(STATEFUL_RATES)" $(STATEFUL_DURATION); fi

clean:
	rm -rf bin
