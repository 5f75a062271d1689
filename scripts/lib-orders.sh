# shellcheck shell=bash
# scripts/lib-orders.sh - the bench dataset of issue 12: a real
# PostgreSQL table of generated orders and its pg_dump on two days.
# Sourced by scripts/bench-delta and scripts/bench-read after
# tests/e2e/lib.sh (start_postgres, orders_table, orders_gen, $T).
#
# orders_dumps MB DAY1 DAY2: starts a throwaway PostgreSQL, fills a table
# of orders to about MB MiB of pg_dump, dumps it to DAY1, updates 1 % of
# its rows (skewed to recent ids: the newest 10 % of rows get 60 % of the
# updates; PostgreSQL moves updated rows, so they scatter over the dump)
# and appends 1 %, and dumps it again to DAY2.  Sets ORDERS_ROWS (day 1's
# rows).  The server stays up until the script exits (lib.sh's at_exit).

orders_dumps() {
	local mb=$1 day1=$2 day2=$3 rowbytes nrows from to
	start_postgres
	orders_table orders
	orders_gen orders 1 20000
	rowbytes=$(pg_dump -d orders | wc -c)
	nrows=$((mb * 1048576 / (rowbytes / 20000)))
	from=20001
	while [ "$from" -le "$nrows" ]; do
		to=$((from + 999999))
		[ "$to" -gt "$nrows" ] && to=$nrows
		orders_gen orders "$from" "$to"
		from=$((to + 1))
	done
	psql -X -q -d orders -c "vacuum analyze orders"
	pg_dump -d orders >"$day1"
	psql -X -q -d orders -c "update orders set status = 'paid',
		amount = amount + 1
		where id in (select $nrows - (random() ^ 3 * $nrows)::bigint
			     from generate_series(1, $nrows / 100))"
	orders_gen orders $((nrows + 1)) $((nrows + nrows / 100))
	pg_dump -d orders >"$day2"
	# shellcheck disable=SC2034 # for the caller
	ORDERS_ROWS=$nrows
}

# orders_stop: stop the server orders_dumps started (a bench that only
# needs the dumps keeps autovacuum off the cores it measures).
orders_stop() {
	_pg_as "$PG_BINDIR/pg_ctl" -D "$T/pg/data" -m fast -w -t 30 stop \
		>/dev/null
}
