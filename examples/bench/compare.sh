#!/usr/bin/env bash
# kemi and Kamailio 5.6 + app_lua side by side, with the shared harness
# (run.sh of the kemi project's bench folder): the same Lua scripts, the
# same sipp load, one after the other in one run, and one table with the
# ratios.
#
#   examples/bench/compare.sh [RATE] [CALLS] [ROWS]
#
# RATE   calls/s (default 2000)
# CALLS  calls per run (default 30000: 15 s of load at 2000 calls/s)
# ROWS   which rows, in order (default "stateless stateful"):
#          stateless  scripts/stateless.lua, sipp's built-in uac/uas
#          stateful   scripts/stateful.lua (tm + record-route), the
#                     record-route call flow (the harness's uac_rr scenario)
#
# Environment:
#   BENCH_HARNESS        the harness folder (default ../shared/bench from the
#                        repository root); it is not part of this repository
#   KEMI                 the kemi binary (default bin/kemi; make builds it)
#   BENCH_CHILDREN       workers of both proxies (default 2)
#   BENCH_KAMAILIO_ARGS  extra Kamailio flags (default "-x tlsf": its TLSF
#                        allocator; "" measures Kamailio as Debian ships it)
#   BENCH_TRIES          tries per run while the harness flags it noisy
#                        (exit 75: another process used CPU), default 3; when
#                        every try is noisy the least noisy one counts
#   BENCH_PROFILE=DIR    also take a 10 s CPU profile of kemi in every kemi
#                        run (Go's pprof on a loopback port; it costs kemi a
#                        little CPU) and print its ten top functions; the
#                        profiles are left in DIR
#   BENCH_OUT            where the harness writes its logs and results.csv
#                        (default /tmp/kemi-bench-compare)
#   BENCH_STATEFUL_SCENARIO  the stateful row's sipp scenario (default uac_rr;
#                        uac: sipp's built-in call flow, no route set)
#   KEMI_BENCH_MODULES   kemi's modules (default: those the harness's
#                        kamailio.cfg loads); KEMI_ARGS more `kemi run` flags
# Every other BENCH_* knob of run.sh passes through. sipp keeps its default
# behaviours (BENCH_STRICT=1: a message out of order fails the call), for
# both proxies.
#
# Exit status: 0 when every run gave a result line (clean, dirty or noisy:
# see the table), 2 usage, 1 a run gave no result.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=${1:-2000}
CALLS=${2:-30000}
ROWS=${3:-"stateless stateful"}
TRIES=${BENCH_TRIES:-3}
# shellcheck source=examples/bench/harness.sh
. "$ROOT/examples/bench/harness.sh"
bench_setup "$ROOT" || exit 2
case "$RATE$CALLS" in *[!0-9]*) echo "RATE and CALLS are integers" >&2; exit 2;; esac
if [ -n "${BENCH_PROFILE:-}" ]; then
	mkdir -p "$BENCH_PROFILE"
	BENCH_PROFILE=$(cd "$BENCH_PROFILE" && pwd)
fi

echo "kemi $("$KEMI" --version 2>/dev/null | awk '{print $NF}') vs $(kamailio -v 2>/dev/null | awk 'NR==1{print $3}' | sed 's/^/Kamailio /')${BENCH_KAMAILIO_ARGS:+ ($BENCH_KAMAILIO_ARGS)}: $RATE calls/s, $CALLS calls per run, $CHILDREN workers, harness $HARNESS"
machine

declare -A RES # RES[row.target] = the harness's RESULT line
failed_run=0
for row in $ROWS; do
	scenario=$(scenario_of "$row") || exit 2
	for target in kemi kamailio; do
		if [ $target = kemi ]; then
			port="" fetcher=""
			if [ -n "${BENCH_PROFILE:-}" ]; then
				port=$(free_tcp_port 19090)
				secs=$((CALLS / RATE - 4))
				[ $secs -gt 10 ] && secs=10
				[ $secs -lt 3 ] && secs=3
				fetch_profile "$port" "$BENCH_PROFILE/kemi-$row.pprof" $secs &
				fetcher=$!
			fi
			line=$(BENCH_LABEL=kemi-$row harness_run "$HARNESS" cmd "$(kemi_cmd "$KEMI" "$row" "$port")" "$CHILDREN" "$RATE" "$CALLS" "$scenario" "$TRIES")
			if [ -n "$fetcher" ]; then
				kill "$fetcher" 2>/dev/null
				wait "$fetcher" 2>/dev/null
			fi
		else
			line=$(BENCH_LABEL=kamailio-$row harness_run "$HARNESS" kamailio "$row" "$CHILDREN" "$RATE" "$CALLS" "$scenario" "$TRIES")
		fi
		if [ -z "$line" ]; then
			echo "no result for $target $row" >&2
			failed_run=1
			continue
		fi
		echo "$line"
		RES[$row.$target]=$line
	done
done

echo
echo "| $RATE calls/s, $CHILDREN workers | kemi CPU | kemi µs/call | $KLABEL CPU | $KLABEL µs/call | CPU ratio | kemi PSS | $KLABEL PSS | PSS ratio | failed calls kemi / Kamailio | noisy or dirty |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for row in $ROWS; do
	k=${RES[$row.kemi]:-}
	m=${RES[$row.kamailio]:-}
	case $row in stateless) name="stateless" ;; stateful) name="stateful (tm + record-route)" ;; esac
	awk -v name="$name" -v k="$k" -v m="$m" -f "$ROOT/examples/bench/row.awk"
done
if [ -n "${BENCH_PROFILE:-}" ]; then
	for row in $ROWS; do
		f=$BENCH_PROFILE/kemi-$row.pprof
		echo
		if [ -s "$f" ]; then
			echo "kemi $row, CPU profile ($f), top ten functions:"
			top_functions "$f"
		else
			echo "kemi $row: no CPU profile taken"
		fi
	done
fi
exit $failed_run
