#!/bin/bash
# Backups of jobs (issue 10): backup --job records the job in the
# manifest header; show and list print it (list --job filters, --json has
# "job", null for an ad-hoc backup); forget --job applies a policy to
# that job's backups only (grouped within the job as without --job);
# --group-by job; bad job names are usage errors.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq

R=$T/repo
ok_cmd "init" bfs init "$R"

# job "app": four daily backups; job "web": two; one ad-hoc backup; all
# with the same source path, so that grouping by sources alone would mix
# them
for d in 1 2 3 4; do
	bfs backup -q -r "$R" --job app --command "data.txt=echo app $d" \
		--time "2026-03-0${d}T02:00:00Z" || bail_out "backup app $d"
done
for d in 1 2; do
	bfs backup -q -r "$R" --job web --command "data.txt=echo web $d" \
		--time "2026-03-0${d}T03:00:00Z" || bail_out "backup web $d"
done
bfs backup -q -r "$R" --command "data.txt=echo adhoc" \
	--time "2026-03-05T04:00:00Z" || bail_out "ad-hoc backup"

# ---- the header, show, list
zstd -dc "$R/manifests/2026-03-01_02-00-00" 2>/dev/null | head -n 1 >"$T/hdr"
is "$(jq -r .job "$T/hdr")" app "the manifest header has \"job\""
zstd -dc "$R/manifests/2026-03-05_04-00-00" 2>/dev/null | head -n 1 >"$T/hdr"
is "$(jq -r 'has("job")' "$T/hdr")" false "an ad-hoc backup has no \"job\" key"

ok_cmd "show" bfs show -r "$R" 2026-03-02_03-00-00
like "$(cat "$T/stdout")" "^job +web$" "show prints the job"
ok_cmd "show ad hoc" bfs show -r "$R" 2026-03-05_04-00-00
unlike "$(cat "$T/stdout")" "^job " "no job line for an ad-hoc backup"
ok_cmd "show --json" bfs show -r "$R" --json 2026-03-01_02-00-00
is "$(jq -r .job "$T/stdout")" app "show --json has the header's job"

ok_cmd "list" bfs list -r "$R"
like "$(head -n 1 "$T/stdout")" "STORED +JOB +TAGS" "list has a JOB column"
like "$(cat "$T/stdout")" "^2026-03-02_03-00-00 .* web *$" "the job of a row"
like "$(cat "$T/stdout")" "^2026-03-05_04-00-00 .* - *$" "'-' for no job"
ok_cmd "list --json" bfs list -r "$R" --json
is "$(jq -r '[.[] | .job // "null"] | join(" ")' "$T/stdout")" \
	"app web app web app app null" "list --json: job per backup, null"
is "$(bfs_ids -r "$R" --job web | tr '\n' ' ')" \
	"2026-03-01_03-00-00 2026-03-02_03-00-00 " "list --job web"
is "$(bfs_ids -r "$R" --job nosuch | wc -l)" 0 "list --job of no backup"

# ---- forget --job: only that job's backups are considered
ok_cmd "forget --job app --keep-last 1 --dry-run --json" \
	bfs forget -r "$R" --job app --keep-last 1 --dry-run --json
is "$(jq length "$T/stdout")" 1 "one group (sources, within the job)"
is "$(jq -r '[.[0].remove[].id] | join(" ")' "$T/stdout")" \
	"2026-03-03_02-00-00 2026-03-02_02-00-00 2026-03-01_02-00-00" \
	"only app's older backups would go"
ok_cmd "forget --job app --keep-last 2" bfs forget -r "$R" --job app --keep-last 2
is "$(bfs_ids -r "$R" | tr '\n' ' ')" \
	"2026-03-01_03-00-00 2026-03-02_03-00-00 2026-03-03_02-00-00 2026-03-04_02-00-00 2026-03-05_04-00-00 " \
	"app kept two, web and the ad-hoc backup untouched"

# ---- --group-by job
ok_cmd "--group-by job" bfs forget -r "$R" --group-by job --keep-last 1 \
	--dry-run --json
is "$(jq length "$T/stdout")" 3 "groups: app, web, no job"
is "$(jq -r '[.[] | .job // "-"] | sort | join(" ")' "$T/stdout")" \
	"- app web" "each group names its job"
ok_cmd "--group-by job (text)" bfs forget -r "$R" --group-by job \
	--keep-last 1 --dry-run
like "$(cat "$T/stdout")" "^group job web:" "text output names the job"

# ---- usage errors
fails_with 2 "backup --job ../x" bfs backup -r "$R" --job ../x \
	--command "a=echo a"
like "$(cat "$T/stderr")" "invalid job name '../x'" "names the bad job"
fails_with 2 "forget --job with ids" bfs forget -r "$R" --job app latest
fails_with 2 "list --job -x" bfs list -r "$R" --job=-x
is "$(bfs_ids -r "$R" | wc -l)" 5 "nothing removed by the refusals"

done_testing
