# Helpers of the side-by-side runs (compare.sh, max.sh) over the shared
# harness (run.sh and search.sh), sourced by them.

# bench_setup ROOT sets what both drivers share from the environment
# (HARNESS, KEMI, CHILDREN, KLABEL and the exported BENCH_* defaults; see
# compare.sh) and checks that the harness, kemi and Kamailio are there;
# it returns non-zero after saying what is missing.
bench_setup() {
	HARNESS=${BENCH_HARNESS:-$1/../shared/bench}
	KEMI=${KEMI:-$1/bin/kemi}
	CHILDREN=${BENCH_CHILDREN:-2}
	export BENCH_KAMAILIO_ARGS=${BENCH_KAMAILIO_ARGS-"-x tlsf"}
	export BENCH_OUT=${BENCH_OUT:-/tmp/kemi-bench-compare}
	export BENCH_STRICT=${BENCH_STRICT:-1}
	KLABEL="Kamailio${BENCH_KAMAILIO_ARGS:+ $BENCH_KAMAILIO_ARGS}"
	need_harness "$HARNESS" || return 1
	KEMI=$(cd "$(dirname "$KEMI")" && pwd)/$(basename "$KEMI")
	[ -x "$KEMI" ] || { echo "build kemi first (make build): $KEMI" >&2; return 1; }
	command -v kamailio >/dev/null || { echo "kamailio is missing (apt-get install kamailio kamailio-lua-modules)" >&2; return 1; }
}

# machine prints the CPUs and the kernel, for the record.
machine() {
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(uname -r)"
}

# scenario_of ROW prints the harness scenario of a row: sipp's built-in
# uac for stateless, the record-route call flow (uac_rr) for stateful
# unless BENCH_STATEFUL_SCENARIO names another (uac: no route set).
scenario_of() {
	case $1 in
	stateless) echo uac ;;
	stateful) echo "${BENCH_STATEFUL_SCENARIO:-uac_rr}" ;;
	*) echo "unknown row $1 (stateless or stateful)" >&2; return 1 ;;
	esac
}

# need_harness DIR fails with a message when DIR is not the shared harness.
need_harness() {
	if [ ! -x "$1/run.sh" ] || [ ! -x "$1/search.sh" ] || [ ! -f "$1/scripts/stateless.lua" ]; then
		cat >&2 <<EOF
the shared benchmark harness is not at $1
It is not part of this repository: it is the bench folder shared next to it
(../shared/bench, with run.sh, search.sh, scripts/ and kamailio/). Put it
there, or name its folder: make bench-compare BENCH_HARNESS=/path/to/bench
EOF
		return 1
	fi
}

# kemi_cmd KEMI ROW [PPROF_PORT] prints the command line run.sh starts for
# kemi: the harness's own script for ROW (stateless or stateful), unchanged,
# on the harness's proxy port, %CHILDREN% workers, with the modules that
# the harness's kamailio.cfg loads (KEMI_BENCH_MODULES; kemi's names for
# them) rather than all of kemi's: a module that is loaded can cost per
# message (tm looks up every reply). The scripts read the
# UAS address with os.getenv, which kemi's sandbox refuses unless
# --allow-unsafe-lua; the database is in memory (the harness folder may be
# read-only); run.sh stops it with SIGTERM and kills what is left after
# 5 s, so it lets live transactions finish for 1 s only; a PPROF_PORT serves Go's pprof on 127.0.0.1:PPROF_PORT.
kemi_cmd() {
	local metrics="--metrics-addr off"
	[ -n "${3:-}" ] && metrics="--metrics-addr 127.0.0.1:$3 --pprof"
	# $BENCH_PROXY_PORT is expanded by run.sh's bash -c, which exports it
	echo "exec $1 run -f scripts/$2.lua -l udp:127.0.0.1:\$BENCH_PROXY_PORT -n %CHILDREN% --modules ${KEMI_BENCH_MODULES:-core,kx,corex,tm,tmx,sl,rr,maxfwd,textops,siputils,xlog,sanity} --allow-unsafe-lua --db-url memory --log-level warn --shutdown-grace 1s $metrics ${KEMI_ARGS:-}"
}

# harness_run HARNESS TARGET SCRIPT CHILDREN RATE CALLS SCENARIO TRIES
# runs run.sh (TARGET kamailio or cmd) until a run is not flagged noisy,
# TRIES times at most, and prints the RESULT line of the last run, or of
# the least noisy (lowest foreign_cpu) when every run was noisy, with
# tries=N appended (nothing when run.sh gave none; its errors go to stderr).
harness_run() {
	local h=$1 target=$2 script=$3 children=$4 rate=$5 calls=$6 scenario=$7 tries=$8 try out rc line best=""
	for try in $(seq "$tries"); do
		out=$("$h/run.sh" "$target" "$script" "$children" "$rate" "$calls" "$scenario")
		rc=$?
		line=$(grep '^RESULT ' <<<"$out" | tail -n 1)
		[ -n "$line" ] || break # no result: an error, not noise
		if [ "$rc" != 75 ]; then
			best=$line
			break
		fi
		if [ -z "$best" ] || [ "$(foreign "$line")" -lt "$(foreign "$best")" ]; then
			best=$line
		fi
		[ "$try" -lt "$tries" ] && { echo "noisy run ($line), again in 20 s" >&2; sleep 20; }
	done
	[ -n "$best" ] && echo "$best tries=$try"
}

# foreign prints a RESULT line's foreign_cpu, in tenths of a percent.
foreign() {
	sed -n 's/.* foreign_cpu=\([0-9.]*\)%.*/\1/p' <<<"$1" | awk '{ printf "%d", $1 * 10 }'
}

# free_tcp_port prints a loopback TCP port nothing listens on, from $1 up.
free_tcp_port() {
	local p=$1
	while ss -Hltn "sport = :$p" | grep -q .; do p=$((p + 1)); done
	echo "$p"
}

# fetch_profile PORT FILE SECONDS waits (up to WAIT s, default 700: the
# harness may wait for an idle machine first) for kemi's pprof on
# 127.0.0.1:PORT, lets the load start, takes a CPU profile of SECONDS into
# FILE and returns; run it in the background during a harness run.
fetch_profile() {
	local port=$1 file=$2 secs=$3 i
	for i in $(seq $((${WAIT:-700} * 2))); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/debug/pprof/" && break
		sleep 0.5
	done
	sleep 2 # run.sh starts the UAC about 1.5 s after the proxy listens
	curl -sf -o "$file" "http://127.0.0.1:$port/debug/pprof/profile?seconds=$secs" || rm -f "$file"
}

# top_functions FILE prints the ten functions with the most CPU of their
# own (flat) in a pprof profile, then the fifteen of kemi's code and its
# libraries (sipgo, gopher-lua) with the most CPU below them (cum): where
# the message path spends it.
top_functions() {
	go tool pprof -top -nodecount=10 "$1" 2>/dev/null | sed -n '/flat%/,$p'
	echo "kemi, sipgo and gopher-lua by cumulative CPU:"
	go tool pprof -top -cum -nodecount=15 -show 'kemisip|emiago|gopher-lua' "$1" 2>/dev/null | sed -n '/flat%/,$p'
}
