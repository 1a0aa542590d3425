# kemi — build, run, test, lint, bench.
#
#   make run     build and run kemi on the embedded default script
#                (SIP on udp+tcp 127.0.0.1:5060, metrics on 127.0.0.1:9090)
#   make test    all tests, with the race detector
#   make bench   Go benchmarks and sipp load runs (prints calls/s and CPU per call)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/kemi
ARGS    ?=

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

# stateless at rising rates, then the stateful proxy (tm) 30 s at each rate
bench-sipp: build sipp
	./examples/bench/bench.sh examples/bench/stateless.lua "500 1000 2000 3000" 10
	./examples/bench/bench.sh examples/bench/stateful.lua "1000 2000" 30

clean:
	rm -rf bin
