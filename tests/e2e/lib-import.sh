# tests/e2e/lib-import.sh: backup folders in the seed tools' layout, for
# the t063N-import-* tests.  Source after lib.sh.
#
#   seed_sql FILE           a real pg_dump text (pagila's schema and data,
#                           as pg_dump wrote them) into FILE
#   seed_data DIR           a NocoDB data directory (uploads, a sqlite
#                           file, nested folders, a symlink) in DIR
#   seed_folder DIR SQL DATA NREC [MANIFEST_JSON]
#                           the NocoDB container layout in DIR:
#                           database.sql.gz (SQL gzip'd), nocodb-data.tar.gz
#                           (DATA tar'd), bases/Sales/Orders and
#                           bases/Sales/Customers and bases/HR/Staff with
#                           records.json.gz (pretty-printed JSON arrays of
#                           NREC, NREC/2 and 7 records) and schema.json,
#                           bases/*/metadata.json, and manifest.json when
#                           MANIFEST_JSON is given

: "${top_srcdir:?source lib.sh first}"

seed_sql() {
	local ds
	ds=$(_bfs_datasets) ||
		skip_missing "datasets (pagila)" "$_bfs_datasets_how"
	cat "$ds/pagila/pagila-schema.sql" "$ds/pagila/pagila-data.sql" >"$1"
}

seed_data() {
	mkdir -p "$1/uploads/noco/Sales/Orders" "$1/config"
	head -c 200000 /dev/urandom >"$1/uploads/noco/Sales/Orders/invoice.pdf"
	seq 1 50000 >"$1/noco.db"
	printf 'NC_DB=pg://...\n' >"$1/config/env"
	ln -s noco.db "$1/current.db"
	find "$1" -mindepth 1 -exec touch -h -d '2025-12-01 10:00:00' {} +
}

# seed_records FILE N SEED: a pretty-printed JSON array of N records
seed_records() {
	"$BFS_PYTHON" - "$1" "$2" "$3" <<'PY'
import json, sys
path, n, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
recs = [{"Id": i, "Title": "order %d of %s" % (i, seed),
         "Note": "line one\nline two \u00e9 \u2603 \"quoted\"",
         "Amount": i * 1.25, "Paid": i % 2 == 0, "Tags": ["a", "b"],
         "Customer": {"Id": i % 13, "Name": None}} for i in range(1, n + 1)]
with open(path, "w") as f:
    json.dump(recs, f, indent=2, ensure_ascii=False)
PY
}

seed_folder() {
	local dir=$1 sql=$2 data=$3 n=$4 t
	mkdir -p "$dir/bases/Sales/Orders" "$dir/bases/Sales/Customers" \
		"$dir/bases/HR/Staff"
	gzip -c "$sql" >"$dir/database.sql.gz"
	tar -C "$data" -czf "$dir/nocodb-data.tar.gz" .
	for t in Sales/Orders:"$n" Sales/Customers:$((n / 2)) HR/Staff:7; do
		seed_records "$dir/bases/${t%%:*}/records.json" "${t##*:}" \
			"$(basename "$dir")"
		gzip "$dir/bases/${t%%:*}/records.json"
		printf '{"columns":[{"title":"Id","uidt":"ID"}]}\n' \
			>"$dir/bases/${t%%:*}/schema.json"
	done
	printf '{"title":"Sales"}\n' >"$dir/bases/Sales/metadata.json"
	printf '{"title":"HR"}\n' >"$dir/bases/HR/metadata.json"
	if [ -n "${5:-}" ]; then
		printf '%s\n' "$5" >"$dir/manifest.json"
	fi
}
