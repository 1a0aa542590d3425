# Helpers of the sipp load runs (bench.sh, register.sh), sourced by them
# after `set -eu`: the processes they start and stop by pid, free ports,
# CPU and memory of a process, and sipp's statistics.
#
# bench_init NAME makes $OUT (a temporary folder for logs, removed at
# exit unless BENCH_KEEP_LOGS=1) and stops every pid in $PIDS at exit.

HZ=$(getconf CLK_TCK)

bench_init() {
	OUT=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=() # every process started here, stopped by pid at exit
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM HUP PIPE
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "${BENCH_KEEP_LOGS:-0}" = 1 ]; then
		echo "logs: $OUT"
	else
		rm -rf "$OUT"
	fi
}

# need_sipp stops the run when sipp is not installed.
need_sipp() {
	command -v sipp >/dev/null || { echo "sipp is missing (apt-get install sip-tester)"; exit 1; }
}

# need_kemi stops the run when kemi ($KEMI) is not built.
need_kemi() {
	[ -x "$KEMI" ] || { echo "build kemi first (make build)"; exit 1; }
}

# stop_pid stops one process started here and forgets it.
stop_pid() {
	local p keep=()
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

free_port() { # the first port from $1 up that nothing listens on ($2: -u UDP, the default, or -t TCP)
	local p=$1 proto=${2:--u}
	while ss -Hl"${proto#-}"n "sport = :$p" | grep -q .; do p=$((p + 1)); done
	echo "$p"
}

wait_port() { # wait until something listens on port $1 ($2: -u, the default, or -t), 10 s at most
	local i proto=${2:--u}
	for i in $(seq 100); do
		ss -Hl"${proto#-}"n "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

ticks() { # utime+stime of a pid and its children, in clock ticks
	local s=0 p
	for p in $(pgrep -P "$1") "$1"; do
		[ -r /proc/$p/stat ] || continue
		set -- $(sed 's/^.*) //' /proc/$p/stat)
		s=$((s + ${12} + ${13}))
	done
	echo $s
}

rss_mb() { # resident memory of a pid and its children, MB
	local s=0 p
	for p in $(pgrep -P "$1") "$1"; do
		[ -r /proc/$p/status ] && s=$((s + $(awk '/VmRSS/{print $2}' /proc/$p/status)))
	done
	echo $((s / 1024))
}

# sipp_counts CSV prints the successful and the failed calls of sipp's
# statistics file (-trace_stat -stf CSV), from its last line.
sipp_counts() {
	local hdr last
	hdr=$(head -n 1 "$1")
	last=$(tail -n 1 "$1")
	col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
	echo "$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')")" \
		"$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")"
}

per1000() { # CPU seconds per 1000 of $2 for $1 clock ticks ("-" when $2 is 0)
	awk -v t="$1" -v hz="$HZ" -v n="$2" 'BEGIN{ if (n>0) printf "%.3f", t/hz/n*1000; else print "-" }'
}

per_second() { # $1 done between the times $2 and $3 (date +%s.%N), per second
	awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{ printf "%.0f", n/(b-a) }'
}
