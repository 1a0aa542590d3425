#!/usr/bin/env bash
# The highest call rate with no failed call, kemi and Kamailio 5.6 + app_lua
# side by side, with the shared harness's search.sh: the same scripts and
# scenarios as compare.sh, one search after the other.
#
#   examples/bench/max.sh [ROWS]
#
# ROWS  which rows, in order (default "stateless stateful"; see compare.sh)
#
# search.sh doubles the rate from START until a run is dirty (a failed call,
# too many retransmissions, or sipp below 95 % of the rate), bisects to 10 %
# and confirms the best rate once. Each run lasts about BENCH_DURATION
# seconds (default 12) plus about 10 s of start and stop, so one search takes
# 3 to 5 minutes and the four of them 15 to 20.
#
# Environment: BENCH_HARNESS, KEMI, BENCH_CHILDREN, BENCH_KAMAILIO_ARGS,
# BENCH_OUT and BENCH_STRICT as in compare.sh; BENCH_SEARCH_START (default
# 1000) and BENCH_SEARCH_MAX (default 32000) calls/s; every search.sh and
# run.sh knob (BENCH_DURATION, BENCH_RES, BENCH_PIN, ...) passes through.
# Exit status: 0 when every search finished, 1 otherwise, 2 usage.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROWS=${1:-"stateless stateful"}
START=${BENCH_SEARCH_START:-1000}
MAX=${BENCH_SEARCH_MAX:-32000}
# shellcheck source=examples/bench/harness.sh
. "$ROOT/examples/bench/harness.sh"
bench_setup "$ROOT" || exit 2

echo "highest clean rate, $CHILDREN workers, sipp strict=$BENCH_STRICT, harness $HARNESS"
machine
declare -A BEST DIRTY
rc=0
for row in $ROWS; do
	scenario=$(scenario_of "$row") || exit 2
	for target in kemi kamailio; do
		if [ $target = kemi ]; then
			out=$(BENCH_LABEL=kemi-$row "$HARNESS/search.sh" cmd "$(kemi_cmd "$KEMI" "$row")" "$CHILDREN" "$scenario" "$START" "$MAX" | tee /dev/stderr)
		else
			out=$(BENCH_LABEL=kamailio-$row "$HARNESS/search.sh" kamailio "$row" "$CHILDREN" "$scenario" "$START" "$MAX" | tee /dev/stderr)
		fi
		line=$(grep '^MAXRATE ' <<<"$out" | tail -n 1)
		[ -n "$line" ] || { echo "no MAXRATE for $target $row" >&2; rc=1; }
		BEST[$row.$target]=$(sed -n 's/.*max_clean_cps=\([0-9]*\).*/\1/p' <<<"$line")
		DIRTY[$row.$target]=$(sed -n 's/.*first_dirty_cps=\([0-9]*\).*/\1/p' <<<"$line")
	done
done

echo
echo "| highest clean calls/s, $CHILDREN workers | kemi | $KLABEL | ratio | first dirty kemi / Kamailio |"
echo "|---|---|---|---|---|"
for row in $ROWS; do
	k=${BEST[$row.kemi]:-} m=${BEST[$row.kamailio]:-}
	ratio=$(awk -v a="$k" -v b="$m" 'BEGIN{ if (a != "" && b + 0 > 0) printf "%.2f×", a / b; else print "–" }')
	echo "| $row | ${k:-–} | ${m:-–} | $ratio | ${DIRTY[$row.kemi]:-–} / ${DIRTY[$row.kamailio]:-–} |"
done
if [ "$BENCH_STRICT" = 1 ]; then
	echo
	echo "sipp ran with its default behaviours: a call with a message out of order fails. Kamailio's"
	echo "children reorder some calls at any rate (180 after 200, BYE before ACK), so its clean rate"
	echo "can be 0; BENCH_STRICT=0 make bench-max compares with reordering tolerated."
fi
exit $rc
