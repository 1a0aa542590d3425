#!/usr/bin/env bash
# Load kemi with sipp at rising call rates and print, per rate: calls
# completed and failed, kemi's CPU seconds per 1000 calls and its RSS.
#
#   examples/bench/bench.sh [SCRIPT] [RATES] [SECONDS]
#
# SCRIPT  routing script (default examples/bench/stateless.lua)
# RATES   call rates, calls/s (default "500 1000 2000 3000")
# SECONDS length of each run (default 10)
# Ports (loopback only): kemi 15060, sipp UAS 15070, sipp UAC 15080;
# override with BENCH_PROXY_PORT, BENCH_UAS_PORT, BENCH_UAC_PORT.
# KEMI_ARGS adds flags to `kemi run` (e.g. "-n 4").
set -eu
cd "$(dirname "$0")/../.."
SCRIPT=${1:-examples/bench/stateless.lua}
RATES=${2:-"500 1000 2000 3000"}
SECS=${3:-10}
PP=${BENCH_PROXY_PORT:-15060}; UP=${BENCH_UAS_PORT:-15070}; CP=${BENCH_UAC_PORT:-15080}
KEMI=./bin/kemi
OUT=$(mktemp -d /tmp/kemi-bench.XXXXXX)
command -v sipp >/dev/null || { echo "sipp is missing (apt-get install sip-tester)"; exit 1; }
[ -x "$KEMI" ] || { echo "build kemi first (make build)"; exit 1; }
HZ=$(getconf CLK_TCK)

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

export BENCH_UAS_URI=sip:127.0.0.1:$UP
echo "script: $SCRIPT, ${SECS}s per rate"
printf '%-8s %-10s %-8s %-8s %-14s %-8s %s\n' rate calls ok failed cpu_s/1000calls rss_MB cps
for RATE in $RATES; do
	TOTAL=$((RATE * SECS))
	$KEMI run -f "$SCRIPT" -l udp:127.0.0.1:$PP --metrics-addr off --log-level warn ${KEMI_ARGS:-} >"$OUT/kemi-$RATE.log" 2>&1 &
	KPID=$!
	for _ in $(seq 50); do ss -Hlun "sport = :$PP" | grep -q . && break; sleep 0.1; done
	timeout $((SECS + 60)) sipp -sn uas -i 127.0.0.1 -p $UP -nostdin -bg -default_behaviors all,-abortunexp \
		-trace_err -error_file "$OUT/uas-$RATE.err" >/dev/null 2>&1 || true
	T0=$(ticks $KPID); START=$(date +%s.%N)
	set +e
	timeout $((SECS + 60)) sipp 127.0.0.1:$PP -sn uac -i 127.0.0.1 -p $CP -r $RATE -m $TOTAL -nostdin \
		-default_behaviors all,-abortunexp -timeout $((SECS + 40))s -trace_stat -stf "$OUT/uac-$RATE.csv" \
		>"$OUT/uac-$RATE.out" 2>&1
	set -e
	END=$(date +%s.%N); T1=$(ticks $KPID); RSS=$(rss_mb $KPID)
	pkill -f "sipp -sn uas -i 127.0.0.1 -p $UP" 2>/dev/null || true
	kill $KPID 2>/dev/null; wait $KPID 2>/dev/null || true
	LAST=$(tail -n 1 "$OUT/uac-$RATE.csv")
	HDR=$(head -n 1 "$OUT/uac-$RATE.csv")
	col() { echo "$HDR" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
	OK=$(echo "$LAST" | cut -d';' -f"$(col SuccessfulCall\(C\))")
	FAIL=$(echo "$LAST" | cut -d';' -f"$(col FailedCall\(C\))")
	CPU=$(awk -v t=$((T1 - T0)) -v hz=$HZ -v n="$OK" 'BEGIN{ if (n>0) printf "%.3f", t/hz/n*1000; else print "-" }')
	CPS=$(awk -v n="$OK" -v a="$START" -v b="$END" 'BEGIN{ printf "%.0f", n/(b-a) }')
	printf '%-8s %-10s %-8s %-8s %-14s %-8s %s\n' "$RATE" "$TOTAL" "$OK" "$FAIL" "$CPU" "$RSS" "$CPS"
	sleep 1
done
echo "logs: $OUT"
