#!/usr/bin/env bash
# Load a registrar with REGISTER + digest authentication over UDP (sipp's
# register.xml: REGISTER, 401, REGISTER with credentials, 200), spread over
# many users, at rising rates, and print per rate: registrations completed
# and failed, the registrar's CPU seconds per 1000 registrations, its
# resident memory and the registrations per second achieved.
#
#   examples/bench/register.sh TARGET [RATES] [SECONDS]
#
# TARGET  kemi-sqlite  kemi, subscribers and bindings in one SQLite file
#         kemi-redis   kemi, bindings in a redis-server started here (its CPU
#                      is printed apart), subscribers in SQLite
#         kamailio     Kamailio 5.6 with app_lua, auth_db and usrloc (db_mode
#                      1) on db_sqlite (register-kamailio.cfg); add
#                      BENCH_KAMAILIO_ARGS="-x tlsf" for its other allocator
#         All run examples/bench/register.lua.
# RATES   registrations per second (default "200 500 1000")
# SECONDS length of each run (default 10)
#
# REG_USERS users (default 1000), u0001..., password pw0001..., in domain
# bench.kemi, each run with a fresh database holding only them. Ports
# (loopback only): registrar 15060, sipp 15080, redis 16379, or the next
# free ones; BENCH_PROXY_PORT, BENCH_UAC_PORT choose. KEMI_ARGS adds flags to
# `kemi run`, KAMAILIO_CHILDREN sets Kamailio's -n (default 1: db_sqlite
# has no busy timeout, so with several children a write that meets
# another fails at once, "database is locked", and the REGISTER gets a 500
# or no answer; with 2 children 5-50% of them failed here). The logs are removed at exit; BENCH_KEEP_LOGS=1 keeps them.
set -eu
cd "$(dirname "$0")/../.."
TARGET=${1:?usage: register.sh kemi-sqlite|kemi-redis|kamailio [RATES] [SECONDS]}
RATES=${2:-"200 500 1000"}
SECS=${3:-10}
USERS=${REG_USERS:-1000}
DOMAIN=bench.kemi
SCRIPT=$PWD/examples/bench/register.lua
SCENARIO=$PWD/examples/bench/register.xml
KAMCFG=$PWD/examples/bench/register-kamailio.cfg
KAMSQL=/usr/share/kamailio/db_sqlite
KAMMODS=${KAMAILIO_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
KEMI=./bin/kemi
. examples/bench/lib.sh
need_sipp

case $TARGET in
kemi-sqlite | kemi-redis)
	need_kemi
	# until kemi has the registrar, auth and auth_db modules
	if ! out=$($KEMI check -f "$SCRIPT" 2>&1); then
		echo "$TARGET: skipped, kemi cannot run $SCRIPT yet:"
		echo "$out" | sed 's/^/  /'
		exit 0
	fi
	if [ "$TARGET" = kemi-redis ]; then
		command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)"; exit 1; }
	fi
	;;
kamailio)
	# the reference figure: skipped where Kamailio is not installed
	if ! command -v kamailio >/dev/null || [ ! -r "$KAMSQL/usrloc-create.sql" ] || [ ! -r "$KAMMODS/app_lua.so" ]; then
		echo "kamailio: skipped, not installed (apt-get install kamailio kamailio-lua-modules kamailio-sqlite-modules)"
		exit 0
	fi
	;;
*)
	echo "unknown target $TARGET (kemi-sqlite, kemi-redis, kamailio)"; exit 2
	;;
esac

bench_init kemi-bench-register
PP=${BENCH_PROXY_PORT:-$(free_port 15060 -u)}
CP=${BENCH_UAC_PORT:-$(free_port 15080 -u)}

# The users, for sipp: one line per registration, taken in turn.
{
	echo SEQUENTIAL
	for i in $(seq -f %04g 1 "$USERS"); do
		echo "u$i;$DOMAIN;[authentication username=u$i password=pw$i]"
	done
} >"$OUT/users.csv"

# make_db FILE: a SQLite file with Kamailio's tables and the users in
# subscriber (password and ha1/ha1b, as kamctl add stores them).
make_db() {
	if [ -r "$KAMSQL/usrloc-create.sql" ] && command -v sqlite3 >/dev/null; then
		{
			cat "$KAMSQL/standard-create.sql" "$KAMSQL/usrloc-create.sql" "$KAMSQL/auth_db-create.sql"
			echo "BEGIN;"
			local i u p
			for i in $(seq -f %04g 1 "$USERS"); do
				u=u$i p=pw$i
				echo "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ('$u', '$DOMAIN', '$p'," \
					"'$(printf '%s' "$u:$DOMAIN:$p" | md5sum | cut -d' ' -f1)'," \
					"'$(printf '%s' "$u@$DOMAIN:$DOMAIN:$p" | md5sum | cut -d' ' -f1)');"
			done
			echo "COMMIT;"
			# WAL, as kemi sets it: readers go on while a writer commits
			# (Kamailio's db_sqlite has no busy timeout)
			echo "PRAGMA journal_mode=WAL;"
		} | sqlite3 "$1" >/dev/null
	else # kemi makes its tables itself
		local i
		for i in $(seq -f %04g 1 "$USERS"); do
			echo "pw$i" | $KEMI user add --db-url "sqlite://$1" "u$i@$DOMAIN" >/dev/null
		done
	fi
}

echo "target: $TARGET${BENCH_KAMAILIO_ARGS:+ $BENCH_KAMAILIO_ARGS}$([ "$TARGET" = kamailio ] && echo " -n ${KAMAILIO_CHILDREN:-1}"), $USERS users, ${SECS}s per rate, sipp default behaviours"
printf '%-8s %-8s %-8s %-8s %-15s %-8s %-8s %s\n' rate regs ok failed cpu_s/1000regs rss_MB regs/s "$([ "$TARGET" = kemi-redis ] && echo redis_cpu_s/1000regs)"
for RATE in $RATES; do
	TOTAL=$((RATE * SECS))
	DB=$OUT/db-$RATE.sqlite
	make_db "$DB"
	RPID=""
	case $TARGET in
	kemi-sqlite)
		$KEMI run -f "$SCRIPT" -l udp:127.0.0.1:$PP --db-url "sqlite://$DB" \
			--metrics-addr off --log-level warn ${KEMI_ARGS:-} >"$OUT/server-$RATE.log" 2>&1 &
		;;
	kemi-redis)
		RP=$(free_port 16379 -t)
		redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" \
			>"$OUT/redis-$RATE.log" 2>&1 &
		RPID=$!
		PIDS+=("$RPID")
		wait_port "$RP" -t || { echo "redis-server did not start:"; cat "$OUT/redis-$RATE.log"; exit 1; }
		printf '[auth_db]\ndb_url = "sqlite://%s"\n' "$DB" >"$OUT/kemi-$RATE.toml"
		$KEMI run --config "$OUT/kemi-$RATE.toml" -f "$SCRIPT" -l udp:127.0.0.1:$PP \
			--db-url "redis://127.0.0.1:$RP/0" \
			--metrics-addr off --log-level warn ${KEMI_ARGS:-} >"$OUT/server-$RATE.log" 2>&1 &
		;;
	kamailio)
		kamailio -DD -E -f "$KAMCFG" -L "$KAMMODS" -n "${KAMAILIO_CHILDREN:-1}" \
			-A "KSR_SCRIPT=\"$SCRIPT\"" -A "DBURL=\"sqlite://$DB\"" -A BENCH_CLI_LISTEN -l "udp:127.0.0.1:$PP" \
			${BENCH_KAMAILIO_ARGS:-} >"$OUT/server-$RATE.log" 2>&1 &
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
	wait_port "$PP" -u || { echo "$TARGET did not start:"; cat "$OUT/server-$RATE.log"; exit 1; }
	sleep 0.5 # Kamailio's children start after the socket is bound
	T0=$(ticks "$SPID"); R0=0; [ -n "$RPID" ] && R0=$(ticks "$RPID")
	START=$(date +%s.%N)
	# in the background, so that a signal to this script stops it at once
	timeout $((SECS + 60)) sipp "127.0.0.1:$PP" -sf "$SCENARIO" -inf "$OUT/users.csv" -i 127.0.0.1 -p "$CP" \
		-r "$RATE" -m "$TOTAL" -nostdin -timeout $((SECS + 40))s \
		-trace_stat -stf "$OUT/uac-$RATE.csv" -trace_err -error_file "$OUT/uac-$RATE.err" >"$OUT/uac-$RATE.out" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	wait "$CPID" || true # sipp exits 1 when a registration failed: reported below
	stop_pid "$CPID"
	END=$(date +%s.%N); T1=$(ticks "$SPID"); RSS=$(rss_mb "$SPID")
	R1=0; [ -n "$RPID" ] && R1=$(ticks "$RPID")
	stop_pid "$SPID"
	[ -n "$RPID" ] && stop_pid "$RPID"
	if [ ! -s "$OUT/uac-$RATE.csv" ]; then
		echo "$RATE: sipp wrote no statistics:"; tail -n 20 "$OUT/uac-$RATE.out"; exit 1
	fi
	read -r OK FAIL < <(sipp_counts "$OUT/uac-$RATE.csv")
	CPU=$(per1000 $((T1 - T0)) "$OK")
	RCPU=""; [ -n "$RPID" ] && RCPU=$(per1000 $((R1 - R0)) "$OK")
	RPS=$(per_second "$OK" "$START" "$END")
	printf '%-8s %-8s %-8s %-8s %-15s %-8s %-8s %s\n' "$RATE" "$TOTAL" "$OK" "$FAIL" "$CPU" "$RSS" "$RPS" "$RCPU"
	sleep 1
done
