#!/usr/bin/env bash
# Load scripts/loadbalancer.lua (dispatcher algorithm 4, round robin) in
# front of three sipp UASs with calls from one sipp UAC, at rising call
# rates, on kemi or on Kamailio 5.6 (dispatcher + app_lua running the same
# script, lb-kamailio.cfg), and print per rate: calls completed and
# failed, the balancer's CPU seconds per 1000 calls, its resident memory,
# the calls per second achieved and the calls each UAS took.
#
#   examples/bench/lb.sh TARGET [RATES] [SECONDS]
#
# TARGET  kemi      kemi with two workers
#         kamailio  Kamailio 5.6 with two children (skipped unless
#                   kamailio and kamailio-lua-modules are installed); add
#                   BENCH_KAMAILIO_ARGS="-x tlsf" for its other allocator
# RATES   call rates, calls/s (default "500 1000")
# SECONDS length of each run (default 10)
#
# The call is sipp's stock one with the route set honoured
# (examples/sipp/uac_rr.xml, uas_rr.xml: INVITE, 180, 200 after 200 ms,
# ACK and BYE along the Record-Route, 200), sipp's default behaviours.
# Ports (loopback only): balancer 15060, UASs 15071-15073, UAC 15080, or
# the next free ones; BENCH_PROXY_PORT and BENCH_UAC_PORT choose.
# LB_WORKERS sets kemi's -n and Kamailio's -n (default 2). KEMI_ARGS adds
# flags to `kemi run`. The logs are removed at exit; BENCH_KEEP_LOGS=1
# keeps them.
set -eu
cd "$(dirname "$0")/../.."
TARGET=${1:?usage: lb.sh kemi|kamailio [RATES] [SECONDS]}
RATES=${2:-"500 1000"}
SECS=${3:-10}
WORKERS=${LB_WORKERS:-2}
SCRIPT=$PWD/scripts/loadbalancer.lua
UAC=$PWD/examples/sipp/uac_rr.xml
UAS=$PWD/examples/sipp/uas_rr.xml
KAMCFG=$PWD/examples/bench/lb-kamailio.cfg
KAMMODS=${KAMAILIO_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
KEMI=./bin/kemi
. examples/bench/lib.sh
need_sipp

case $TARGET in
kemi) need_kemi ;;
kamailio)
	# the reference figure: skipped where Kamailio is not installed
	if ! command -v kamailio >/dev/null || [ ! -r "$KAMMODS/app_lua.so" ] || [ ! -r "$KAMMODS/dispatcher.so" ]; then
		echo "kamailio: skipped, not installed (apt-get install kamailio kamailio-lua-modules)"
		exit 0
	fi
	;;
*)
	echo "unknown target $TARGET (kemi, kamailio)"; exit 2
	;;
esac

bench_init kemi-bench-lb
PP=${BENCH_PROXY_PORT:-$(free_port 15060)}
CP=${BENCH_UAC_PORT:-$(free_port 15080)}
UPORTS=()
p=15071
for i in 1 2 3; do
	p=$(free_port "$p")
	UPORTS+=("$p")
	p=$((p + 1))
done

# The pool: set 1, the three UASs.
{
	echo "# setid destination flags priority attrs"
	for p in "${UPORTS[@]}"; do echo "1 sip:127.0.0.1:$p 0 0"; done
} >"$OUT/dispatcher.list"
# kemi's parameters, as lb-kamailio.cfg sets Kamailio's
cat >"$OUT/kemi.toml" <<TOML
[dispatcher]
list_file = "$OUT/dispatcher.list"
flags = 2
[tm]
fr_timer = 2000
fr_inv_timer = 20000
TOML

# sipp_col CSV COLUMN prints a counter of sipp's last statistics line.
sipp_col() {
	local i
	i=$(head -n 1 "$1" | tr ';' '\n' | grep -n "^$2\$" | cut -d: -f1)
	tail -n 1 "$1" | cut -d';' -f"$i"
}

echo "target: $TARGET${BENCH_KAMAILIO_ARGS:+ $BENCH_KAMAILIO_ARGS} -n $WORKERS, scripts/loadbalancer.lua, alg 4 over 3 UASs, ${SECS}s per rate, sipp default behaviours"
printf '%-8s %-8s %-8s %-8s %-16s %-8s %-8s %s\n' rate calls ok failed cpu_s/1000calls rss_MB cps calls_per_uas
for RATE in $RATES; do
	TOTAL=$((RATE * SECS))
	case $TARGET in
	kemi)
		$KEMI run --config "$OUT/kemi.toml" -f "$SCRIPT" -l udp:127.0.0.1:$PP -n "$WORKERS" -D LB_ALG=4 \
			--metrics-addr off --log-level warn ${KEMI_ARGS:-} >"$OUT/server-$RATE.log" 2>&1 &
		;;
	kamailio)
		kamailio -DD -E -f "$KAMCFG" -L "$KAMMODS" -n "$WORKERS" -m 512 \
			-A "KSR_SCRIPT=\"$SCRIPT\"" -A "DS_LIST=\"$OUT/dispatcher.list\"" -A LB_ALG=4 \
			-A BENCH_CLI_LISTEN -l "udp:127.0.0.1:$PP" ${BENCH_KAMAILIO_ARGS:-} >"$OUT/server-$RATE.log" 2>&1 &
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
	wait_port "$PP" || { echo "$TARGET did not start:"; cat "$OUT/server-$RATE.log"; exit 1; }
	UPIDS=()
	for p in "${UPORTS[@]}"; do
		sipp -sf "$UAS" -i 127.0.0.1 -p "$p" -nostdin -trace_stat -stf "$OUT/uas-$p-$RATE.csv" \
			-trace_err -error_file "$OUT/uas-$p-$RATE.err" >"$OUT/uas-$p-$RATE.out" 2>&1 &
		UPIDS+=("$!")
		PIDS+=("$!")
		wait_port "$p" || { echo "sipp uas did not start:"; cat "$OUT/uas-$p-$RATE.out"; exit 1; }
	done
	sleep 0.5 # Kamailio's children start after the socket is bound
	T0=$(ticks "$SPID"); START=$(date +%s.%N)
	# in the background, so that a signal to this script stops it at once
	timeout $((SECS + 60)) sipp "127.0.0.1:$PP" -sf "$UAC" -i 127.0.0.1 -p "$CP" -r "$RATE" -m "$TOTAL" -nostdin \
		-timeout $((SECS + 40))s -trace_stat -stf "$OUT/uac-$RATE.csv" \
		-trace_err -error_file "$OUT/uac-$RATE.err" >"$OUT/uac-$RATE.out" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	wait "$CPID" || true # sipp exits 1 when a call failed: reported below
	stop_pid "$CPID"
	END=$(date +%s.%N); T1=$(ticks "$SPID"); RSS=$(rss_mb "$SPID")
	SPREAD=""
	for i in "${!UPIDS[@]}"; do
		stop_pid "${UPIDS[$i]}" # SIGTERM: sipp writes its last statistics
		SPREAD="$SPREAD${SPREAD:+/}$(sipp_col "$OUT/uas-${UPORTS[$i]}-$RATE.csv" 'IncomingCall(C)')"
	done
	stop_pid "$SPID"
	if [ ! -s "$OUT/uac-$RATE.csv" ]; then
		echo "$RATE: sipp wrote no statistics:"; tail -n 20 "$OUT/uac-$RATE.out"; exit 1
	fi
	read -r OK FAIL < <(sipp_counts "$OUT/uac-$RATE.csv")
	CPU=$(per1000 $((T1 - T0)) "$OK")
	CPS=$(per_second "$OK" "$START" "$END")
	printf '%-8s %-8s %-8s %-8s %-16s %-8s %-8s %s\n' "$RATE" "$TOTAL" "$OK" "$FAIL" "$CPU" "$RSS" "$CPS" "$SPREAD"
	sleep 1
done
