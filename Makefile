# kemi — build, run, test, lint, bench.
#
#   make run     build and run kemi on the embedded default script
#                (SIP on udp+tcp 127.0.0.1:5060, metrics on 127.0.0.1:9090)
#   make man     write docs/kemi.1, the man page, from the CLI's help
#   make test    all tests, with the race detector (installs sipp, lua5.1,
#                redis-server, rtpengine-daemon, chromium and npm first when
#                they are missing and make runs as root, then JsSIP with npm)
#   make bench   Go benchmarks, sipp load runs (prints calls/s and CPU per call,
#                registrations/s and CPU per registration) and the side-by-side
#                table with Kamailio (bench-compare)
#                make bench RATES="100 300" DURATION=5 STATEFUL_RATES=500 STATEFUL_DURATION=10
#                make bench-compare COMPARE_RATE=2000 COMPARE_CALLS=30000 COMPARE_PROFILE=/tmp/prof
#                make bench-transport TRANSPORT_RATE=1000 TRANSPORT_DURATION=10s (udp, tls, wss)
#                make bench-max      highest clean call rates, kemi and Kamailio (15-20 min)
#                make bench-register REGISTER_TARGETS="kemi-sqlite kamailio" REGISTER_RATES=500
#                make bench-lb LB_TARGETS=kemi LB_RATES=500

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

# REGISTER with digest auth over UDP (examples/bench/register.sh): rates
# (registrations/s), seconds per rate, and the registrars to load: kemi on
# SQLite and on Redis, and Kamailio 5.6 on SQLite with the same load and
# script (skipped unless kamailio, kamailio-lua-modules and
# kamailio-sqlite-modules are installed)
REGISTER_RATES    ?= 200 500 1000
REGISTER_DURATION ?= 10
REGISTER_TARGETS  ?= kemi-sqlite kemi-redis kamailio

# scripts/loadbalancer.lua (round robin over three sipp UASs,
# examples/bench/lb.sh): rates (calls/s), seconds per rate, and the
# balancers: kemi, and Kamailio 5.6's dispatcher with app_lua on the same
# script (skipped unless kamailio and kamailio-lua-modules are installed)
LB_RATES    ?= 500 1000
LB_DURATION ?= 10
LB_TARGETS  ?= kemi kamailio

# kemi and Kamailio 5.6 + app_lua side by side (examples/bench/compare.sh)
# with the shared benchmark harness, which is not in this repository: it is
# the bench folder next to it (../shared/bench) unless BENCH_HARNESS names
# it. The same harness scripts and sipp load for both, at COMPARE_RATE
# calls/s, COMPARE_CALLS calls per run, 2 workers, Kamailio with
# KAMAILIO_ARGS; COMPARE_PROFILE=DIR also takes a CPU profile of kemi and
# prints its top ten functions. bench-max searches the highest clean rate
# of each (examples/bench/max.sh).
BENCH_HARNESS ?= ../shared/bench
COMPARE_RATE  ?= 2000
COMPARE_CALLS ?= 30000
COMPARE_PROFILE ?=
KAMAILIO_ARGS ?= -x tlsf

.PHONY: all build run test tools lint man bench bench-go bench-sipp bench-register bench-lb bench-compare bench-max bench-kamailio bench-transport clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kemi

run: build
	./$(BIN) run $(ARGS)

# docs/kemi.1, the man page, made from the CLI's own help (kemi's hidden
# man command); a test fails when the committed page is stale
man:
	$(GO) run ./cmd/kemi man > docs/kemi.1.tmp && mv docs/kemi.1.tmp docs/kemi.1

test: tools
	$(GO) test -race -count=1 -timeout 15m ./...

# The tools the tests drive, as command:Debian package: sipp for the SIP
# load and scenario tests, lua5.1 as the reference of luaext/luastr's
# differential tests, redis-server for the Redis backends (each test starts
# its own on a free loopback port, so a packaged service that the install
# may start on 6379 is in nobody's way). Missing ones are installed with
# apt-get when make runs as root (CI does); otherwise the tests that need
# them skip with a message. rtpengine-daemon is the media relay of
# core/rtpengine's tests (each starts its own, userspace only); chromium is
# the browser of the WebSocket and WebRTC tests (headless), and npm installs
# JsSIP, pinned by scripts/testdata/webrtc/package-lock.json, for the latter.
TOOLS := sipp:sip-tester lua5.1:lua5.1 redis-server:redis-server rtpengine:rtpengine-daemon chromium:chromium npm:npm
JSSIP_DIR := scripts/testdata/webrtc

tools:
	@need=""; \
	for t in $(TOOLS); do command -v "$${t%%:*}" >/dev/null 2>&1 || need="$$need $${t#*:}"; done; \
	if [ -z "$$need" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$need"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need; \
	else \
	  echo "missing$$need (apt-get install$$need as root): the tests that need them skip"; \
	fi
	@if [ ! -f $(JSSIP_DIR)/node_modules/jssip/package.json ]; then \
	  if command -v npm >/dev/null 2>&1; then (cd $(JSSIP_DIR) && npm ci --no-audit --no-fund --loglevel=error); \
	  else echo "npm missing (apt-get install npm): the WebRTC test skips"; fi; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: bench-go bench-sipp bench-register bench-lb bench-compare bench-transport

TRANSPORT_RATE ?= 1000
TRANSPORT_DURATION ?= 10s
# REGISTER and call rates over udp, tls and wss with kemi's CPU per request,
# and the memory of 1000 idle WSS connections (examples/bench/transport)
bench-transport: build
	$(GO) run ./examples/bench/transport -kemi $(BIN) -rate $(TRANSPORT_RATE) -duration $(TRANSPORT_DURATION) -clients 50

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./luaext/ ./engine/ ./core/tm/ ./core/rr/

# Kamailio 5.6 with app_lua, for bench-compare and bench-max: installed
# with apt-get when missing and make runs as root, as tools does.
bench-kamailio:
	@if command -v kamailio >/dev/null 2>&1 && { ! command -v dpkg >/dev/null 2>&1 || dpkg -s kamailio-lua-modules >/dev/null 2>&1; }; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing kamailio kamailio-lua-modules"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio kamailio-lua-modules; \
	else \
	  echo "missing kamailio with app_lua (apt-get install kamailio kamailio-lua-modules as root)"; exit 1; \
	fi

bench-compare: build tools bench-kamailio
	BENCH_HARNESS="$(abspath $(BENCH_HARNESS))" BENCH_KAMAILIO_ARGS="$(KAMAILIO_ARGS)" BENCH_PROFILE="$(COMPARE_PROFILE)" \
	  ./examples/bench/compare.sh $(COMPARE_RATE) $(COMPARE_CALLS)

bench-max: build tools bench-kamailio
	BENCH_HARNESS="$(abspath $(BENCH_HARNESS))" BENCH_KAMAILIO_ARGS="$(KAMAILIO_ARGS)" ./examples/bench/max.sh

# stateless at RATES, then the stateful proxy (tm) at STATEFUL_RATES; an
# empty list skips that part
bench-sipp: build tools
	@if [ -n "$(strip $(RATES))" ]; then ./examples/bench/bench.sh examples/bench/stateless.lua "$(RATES)" $(DURATION); fi
	@if [ -n "$(strip $(STATEFUL_RATES))" ]; then ./examples/bench/bench.sh examples/bench/stateful.lua "$(STATEFUL_RATES)" $(STATEFUL_DURATION); fi

# each target at REGISTER_RATES; an empty list skips it
bench-register: build tools
	@for t in $(REGISTER_TARGETS); do \
	  if [ -n "$(strip $(REGISTER_RATES))" ]; then ./examples/bench/register.sh "$$t" "$(REGISTER_RATES)" $(REGISTER_DURATION) || exit 1; fi; \
	done

# each target at LB_RATES; an empty list skips it
bench-lb: build tools
	@for t in $(LB_TARGETS); do \
	  if [ -n "$(strip $(LB_RATES))" ]; then ./examples/bench/lb.sh "$$t" "$(LB_RATES)" $(LB_DURATION) || exit 1; fi; \
	done

clean:
	rm -rf bin
