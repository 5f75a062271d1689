#!/bin/bash
# A running mount (no periodic catalog sync) reads a kept dump and its
# database.sql.d/ view right after prune moved what they need but not the
# blobs the catalog points the reads at: the delta bases of the dump's
# chunks (their deltas stay in a pack prune keeps) and the dump map (shared
# with the forgotten backup, so it sat in a pack prune repacked).  The
# mount finds them again (resync, then the same chunk read once more; the
# map located anew) instead of failing with EIO.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse
require_cmd jq jq
require_cmd zstd zstd

R=$T/repo
M=$T/mnt
export XDG_CACHE_HOME=$T/cache

# dump DAY: a pg_dump-like dump of one table; day 2 changes 1 % of the
# rows in place with values of the same length, so both days have the
# same layout (the same dump map blob) but different chunks (deltas)
dump() {
	awk -v rows=60000 -v day="$1" 'BEGIN {
		print "--\n-- PostgreSQL database dump\n--\n"
		print "SET statement_timeout = 0;\n"
		print "--\n-- Name: orders; Type: TABLE; Schema: public; Owner: postgres\n--\n"
		print "CREATE TABLE public.orders (id integer NOT NULL, customer integer, status text, note text);\n"
		print "--\n-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n"
		print "COPY public.orders (id, customer, status, note) FROM stdin;"
		for (i = 1; i <= rows; i++) {
			st = (i % 4 == 0) ? "paid" : "open"
			if (day == 2 && (i * 7919) % 100 == 3)
				st = "gone"
			printf "%d\t%d\t%s\torder %d of customer %d, %s\n", i,
				i % 7919, st, i, i % 7919, (i * 2654435761) % 4294967296
		}
		print "\\.\n"
		print "--\n-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres\n--\n"
		print "ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);"
	}'
}
dump 1 >"$T/d1.sql"
dump 2 >"$T/d2.sql"
mkdir -p "$T/noise"
head -c 3000000 /dev/urandom >"$T/noise/n.bin"

ok_cmd "init" bfs init "$R"
sed -i 's/"pack_size":[0-9]*/"pack_size":1048576/' "$R/config"
ok_cmd "backup old (day 1 and noise)" bfs backup -r "$R" --id old \
	--stdin database.sql --files "$T/noise" <"$T/d1.sql"
ok_cmd "backup keep (day 2)" bfs backup -r "$R" --id keep \
	--stdin database.sql <"$T/d2.sql"
ok_cmd "cat keep's table view (CLI, before prune)" \
	bash -c "\"\$BACKUPFS\" cat -r '$R' keep:database.sql.d/public.orders.sql >'$T/view.sql'"
like "$(head -c 300 "$T/view.sql")" "CREATE TABLE public.orders" "the view holds the table"

# blobs: "id pack type base" of every blob the index objects list
blobs() {
	for i in "$R"/index/*; do zstd -dc <"$i"; done |
		jq -r '.pack as $p | .blobs[] | "\(.[0]) \($p) \(.[1]) \(.[5] // "-")"'
}
blobs >"$T/before"
ok "$([ "$(awk '$3 == 2' "$T/before" | wc -l)" -gt 10 ] && echo 0 || echo 1)" \
	"keep's dump is stored as deltas"

# two mounts with catalogs of their own (a resync by one is not seen by
# the other): one reads the dump, the other the view
for k in 1 2; do
	XDG_CACHE_HOME=$T/cache$k ok_cmd \
		"mount $k (foreground, debug log, small cache, no readahead, no sync)" \
		mount_repo_fg "$R" "$M$k" "$T/mount$k.log" -v -v --cache-size 1M \
		--readahead 0 --sync-interval 0
	ok "$([ -d "$M$k/keep/database.sql.d" ]; echo $?)" "mount $k lists keep's database.sql.d/"
done

ok_cmd "forget old" bfs forget -r "$R" old
ok_cmd "prune (grace 0, repack every pack with unused blobs)" \
	bfs prune -r "$R" --grace 0 --max-unused 0 --json
ok "$(jq -e '.repacked.packs >= 1' "$T/stdout" >/dev/null; echo $?)" \
	"prune repacked packs ($(jq -c '.repacked' "$T/stdout"))"
blobs >"$T/after"
# deltas that stayed in their pack while their base went elsewhere
awk 'NR == FNR { was[$1] = $2; next } { now[$1] = $2; line[$1] = $0 }
	END { for (id in line) { split(line[id], f, " ")
		if (f[3] == 2 && was[id] == now[id] && was[f[4]] != now[f[4]]) n++ }
		print n + 0 }' "$T/before" "$T/after" >"$T/n"
diag "deltas left in place whose base moved: $(cat "$T/n")"
ok "$([ "$(cat "$T/n")" -gt 0 ] && echo 0 || echo 1)" \
	"prune moved delta bases and left their deltas where they were"

sync
echo 3 >/proc/sys/vm/drop_caches
ok "$(cmp -s "${M}1/keep/database.sql" "$T/d2.sql"; echo $?)" \
	"after prune: the dump reads right through running mount 1"
like "$(cat "$T/mount1.log")" "reading it again \(its delta base may have moved\)" \
	"mount 1 read a delta again once its base was located anew"
ok "$(cmp -s "${M}2/keep/database.sql.d/public.orders.sql" "$T/view.sql"; echo $?)" \
	"after prune: the table view reads right through running mount 2"
like "$(cat "$T/mount2.log")" "is gone \(pruned\), reading it from pack" \
	"mount 2 located the moved dump map (and bases) anew"
unlike "$(cat "$T/mount1.log" "$T/mount2.log")" "error" "the mounts logged no error"

done_testing
