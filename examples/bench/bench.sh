#!/usr/bin/env bash
# Load kemi with sipp's stock uac and uas scenarios, with sipp's default
# behaviours (a message out of order fails the call), at rising call rates,
# and print per rate: calls completed and failed, kemi's CPU seconds per
# 1000 calls, its resident memory and the calls per second achieved.
#
#   examples/bench/bench.sh [SCRIPT] [RATES] [SECONDS]
#
# SCRIPT  routing script (default examples/bench/stateless.lua); it finds
#         the UAS with KSR.kx.get_def("BENCH_UAS_URI")
# RATES   call rates, calls/s (default "500 1000 2000 3000")
# SECONDS length of each run (default 10)
# Ports (loopback only): kemi 15060, sipp UAS 15070, sipp UAC 15080, or the
# next free ones; set BENCH_PROXY_PORT, BENCH_UAS_PORT, BENCH_UAC_PORT to
# choose. KEMI_ARGS adds flags to `kemi run` (e.g. "-n 4"). The logs are
# removed at exit; BENCH_KEEP_LOGS=1 keeps them.
set -eu
cd "$(dirname "$0")/../.."
SCRIPT=${1:-examples/bench/stateless.lua}
RATES=${2:-"500 1000 2000 3000"}
SECS=${3:-10}
KEMI=./bin/kemi
. examples/bench/lib.sh
need_sipp
need_kemi
bench_init kemi-bench
PP=${BENCH_PROXY_PORT:-$(free_port 15060)}
UP=${BENCH_UAS_PORT:-$(free_port 15070)}
CP=${BENCH_UAC_PORT:-$(free_port 15080)}

echo "script: $SCRIPT, ${SECS}s per rate, sipp default behaviours"
printf '%-8s %-10s %-8s %-8s %-14s %-8s %s\n' rate calls ok failed cpu_s/1000calls rss_MB cps
for RATE in $RATES; do
	TOTAL=$((RATE * SECS))
	$KEMI run -f "$SCRIPT" -l udp:127.0.0.1:$PP -D BENCH_UAS_URI=sip:127.0.0.1:$UP \
		--metrics-addr off --log-level warn ${KEMI_ARGS:-} >"$OUT/kemi-$RATE.log" 2>&1 &
	KPID=$!
	PIDS+=("$KPID")
	wait_port "$PP" || { echo "kemi did not start:"; cat "$OUT/kemi-$RATE.log"; exit 1; }
	sipp -sn uas -i 127.0.0.1 -p "$UP" -nostdin -trace_err -error_file "$OUT/uas-$RATE.err" \
		>"$OUT/uas-$RATE.out" 2>&1 &
	UPID=$!
	PIDS+=("$UPID")
	wait_port "$UP" || { echo "sipp uas did not start:"; cat "$OUT/uas-$RATE.out"; exit 1; }
	T0=$(ticks "$KPID"); START=$(date +%s.%N)
	# in the background, so that a signal to this script stops it at once
	timeout $((SECS + 60)) sipp 127.0.0.1:$PP -sn uac -i 127.0.0.1 -p "$CP" -r "$RATE" -m "$TOTAL" -nostdin \
		-timeout $((SECS + 40))s -trace_stat -stf "$OUT/uac-$RATE.csv" >"$OUT/uac-$RATE.out" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	wait "$CPID" || true # sipp exits 1 when a call failed: reported below
	stop_pid "$CPID"
	END=$(date +%s.%N); T1=$(ticks "$KPID"); RSS=$(rss_mb "$KPID")
	stop_pid "$UPID"
	stop_pid "$KPID"
	if [ ! -s "$OUT/uac-$RATE.csv" ]; then
		echo "$RATE: sipp wrote no statistics:"; tail -n 20 "$OUT/uac-$RATE.out"; exit 1
	fi
	read -r OK FAIL < <(sipp_counts "$OUT/uac-$RATE.csv")
	CPU=$(per1000 $((T1 - T0)) "$OK")
	CPS=$(per_second "$OK" "$START" "$END")
	printf '%-8s %-10s %-8s %-8s %-14s %-8s %s\n' "$RATE" "$TOTAL" "$OK" "$FAIL" "$CPU" "$RSS" "$CPS"
	sleep 1
done
