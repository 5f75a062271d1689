/* job_profile.c - the app profiles of `backupfs job new --profile`
 * (jobprofile.h).  Each is a job file template (doc/JOBS.md) written
 * from the app's backup guide (doc/apps/APP.md says which); "@NAME@"
 * becomes the job's name, <PLACEHOLDERS> stay for the user to fill.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobprofile.h"
#include "util.h"

/* The templates, as the file will read (clang-format would rewrap them). */
/* clang-format off */
#define HEAD(desc)							\
	"{\n"								\
	"  \"name\": \"@NAME@\",\n"					\
	"  \"description\": \"" desc "\",\n"				\
	"  \"repository\": \"<REPOSITORY>\",\n"				\
	"  \"env_file\": \"/etc/backupfs/@NAME@.env\",\n"

/* when, and how long backups are kept */
#define TAIL								\
	"  \"retention\": {\"keep_daily\": 7, \"keep_weekly\": 4, "	\
	"\"keep_monthly\": 6, \"prune\": \"weekly\"},\n"			\
	"  \"schedule\": \"15 3 * * *\"\n"				\
	"}\n"

static const char nocodb[] =
	HEAD("NocoDB: its PostgreSQL database, the data directory, the "
	     "REST API export into bases/ (doc/apps/nocodb.md)")
	"  \"sources\": [\n"
	"    {\"pg_dump\": \"database=postgresql://<DB_USER>@<DB_HOST>:5432/<DB_NAME>\",\n"
	"     \"dump_timeout\": \"2h\"},\n"
	"    {\"files\": \"nocodb-data=<NOCODB_DATA_DIR>\"},\n"
	"    {\"nocodb\": \"bases=<NOCODB_URL>\"}\n"
	"  ],\n"
	TAIL;

static const char seatable[] =
	HEAD("SeaTable: ccnet_db, seafile_db and dtable_db (the big log "
	     "tables as schema only), the data directory, .env "
	     "(doc/apps/seatable.md)")
	"  \"sources\": [\n"
	"    {\"mysql_dump\": \"ccnet_db=mysql://root@<DB_HOST>:3306/ccnet_db\",\n"
	"     \"dump_timeout\": \"2h\"},\n"
	"    {\"mysql_dump\": \"seafile_db=mysql://root@<DB_HOST>:3306/seafile_db\",\n"
	"     \"dump_timeout\": \"2h\"},\n"
	"    {\"mysql_dump\": \"dtable_db=mysql://root@<DB_HOST>:3306/dtable_db\",\n"
	"     \"ignore_table_data\": [\"dtable_db.activities\",\n"
	"                           \"dtable_db.delete_operation_log\",\n"
	"                           \"dtable_db.dtable_snapshot\",\n"
	"                           \"dtable_db.notifications_usernotification\",\n"
	"                           \"dtable_db.operation_log\",\n"
	"                           \"dtable_db.session_log\"],\n"
	"     \"dump_timeout\": \"2h\"},\n"
	"    {\"files\": \"seatable=<SEATABLE_DIR>\", \"exclude\": [\"/logs\", \"/pids\"]},\n"
	"    {\"files\": \"compose/.env=<SEATABLE_COMPOSE_DIR>/.env\"}\n"
	"  ],\n"
	TAIL;

static const char mattermost[] =
	HEAD("Mattermost: its PostgreSQL database, config.json, data, "
	     "plugins; the server stopped meanwhile "
	     "(doc/apps/mattermost.md)")
	"  \"sources\": [\n"
	"    {\"pg_dump\": \"database=postgresql://<DB_USER>@<DB_HOST>:5432/<DB_NAME>\",\n"
	"     \"dump_timeout\": \"2h\"},\n"
	"    {\"files\": \"config/config.json=<MATTERMOST_DIR>/config/config.json\"},\n"
	"    {\"files\": \"data=<MATTERMOST_DIR>/data\"},\n"
	"    {\"files\": \"plugins=<MATTERMOST_DIR>/plugins\"},\n"
	"    {\"files\": \"client-plugins=<MATTERMOST_DIR>/client/plugins\"}\n"
	"  ],\n"
	"  \"hooks\": {\"pre\": [\"systemctl stop mattermost\"],\n"
	"            \"post\": [\"systemctl start mattermost\"],\n"
	"            \"timeout\": \"5m\"},\n"
	TAIL;

static const char pydio_cells[] =
	HEAD("Pydio Cells: its MySQL database and working directory "
	     "(without logs and caches); the server stopped meanwhile "
	     "(doc/apps/pydio-cells.md)")
	"  \"sources\": [\n"
	"    {\"mysql_dump\": \"cells=mysql://<DB_USER>@<DB_HOST>:3306/<DB_NAME>\",\n"
	"     \"dump_timeout\": \"2h\"},\n"
	"    {\"files\": \"cells=<CELLS_WORKING_DIR>\", \"exclude\": [\"/logs\", \"/caches\"]}\n"
	"  ],\n"
	"  \"hooks\": {\"pre\": [\"systemctl stop cells\"],\n"
	"            \"post\": [\"systemctl start cells\"],\n"
	"            \"timeout\": \"5m\"},\n"
	TAIL;

static const char dolt_files[] =
	HEAD("Dolt: the data directory (.dolt included) with the SQL "
	     "server stopped (doc/apps/dolt.md)")
	"  \"sources\": [\n"
	"    {\"files\": \"dolt=<DOLT_DATA_DIR>\"}\n"
	"  ],\n"
	"  \"hooks\": {\"pre\": [\"systemctl stop doltdb\"],\n"
	"            \"post\": [\"systemctl start doltdb\"],\n"
	"            \"timeout\": \"5m\"},\n"
	TAIL;

static const char dolt_sync[] =
	HEAD("Dolt: dolt backup sync-url of the database into a staging "
	     "directory, which is backed up (doc/apps/dolt.md)")
	"  \"sources\": [\n"
	"    {\"files\": \"dolt-backup=<STAGING_DIR>\"}\n"
	"  ],\n"
	"  \"hooks\": {\"pre\": [\"mkdir -p '<STAGING_DIR>' && cd '<DOLT_DB_DIR>' && dolt backup sync-url 'file://<STAGING_DIR>'\"],\n"
	"            \"timeout\": \"1h\"},\n"
	TAIL;
/* clang-format on */

static const struct bfs_job_profile profiles[] = {
    {"nocodb",
     "pg_dump of the NocoDB database, the data directory, the API export "
     "into bases/",
     "PGPASSWORD, NOCODB_API_TOKEN"},
    {"seatable",
     "mysqldump of ccnet_db, seafile_db, dtable_db (log tables: schema "
     "only), the data directory, .env",
     "MYSQL_PWD"},
    {"mattermost",
     "pg_dump, config.json, data/, plugins/, client/plugins/; stop/start "
     "hooks",
     "PGPASSWORD"},
    {"pydio-cells",
     "mysqldump of the cells database, the working directory without "
     "logs and caches; stop/start hooks",
     "MYSQL_PWD"},
    {"dolt",
     "the data directory with the server stopped, or (dolt on PATH) a "
     "`dolt backup sync-url` staging directory",
     "none"},
};

static const char *const texts[] = {nocodb, seatable, mattermost, pydio_cells,
				    dolt_files};

const struct bfs_job_profile *bfs_job_profiles(size_t *n)
{
	*n = BFS_ARRAY_SIZE(profiles);
	return profiles;
}

const struct bfs_job_profile *bfs_job_profile_find(const char *name)
{
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(profiles); i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

int bfs_job_profile_render(const char *profile, const char *job, int flags,
			   char **out, struct bfs_err *err)
{
	const struct bfs_job_profile *p = bfs_job_profile_find(profile);
	struct bfs_buf b = {0};
	const char *t, *at;
	size_t i;

	*out = NULL;
	if (!p) {
		bfs_buf_printf(&b, "unknown profile '%s' (", profile);
		for (i = 0; i < BFS_ARRAY_SIZE(profiles); i++)
			bfs_buf_printf(&b, "%s%s", i ? ", " : "",
				       profiles[i].name);
		bfs_buf_append(&b, ")", 2);
		bfs_err_set(err, -ENOENT, "%s",
			    b.data ? (char *)b.data : "unknown profile");
		bfs_buf_free(&b);
		return -ENOENT;
	}
	if (!bfs_job_name_valid(job))
		return bfs_err_set(err, -EINVAL,
				   "invalid job name (1-%d of A-Z a-z 0-9 . _ "
				   "-, not starting with . or -)",
				   BFS_JOB_NAME_MAX);
	t = texts[p - profiles];
	if (t == dolt_files && (flags & BFS_PROFILE_DOLT_SYNC))
		t = dolt_sync;
	/* the name is [A-Za-z0-9._-]: safe inside JSON strings and paths */
	while ((at = strstr(t, "@NAME@"))) {
		if (bfs_buf_append(&b, t, (size_t)(at - t)) ||
		    bfs_buf_append(&b, job, strlen(job)))
			goto nomem;
		t = at + 6;
	}
	if (bfs_buf_append(&b, t, strlen(t) + 1))
		goto nomem;
	*out = (char *)b.data;
	return 0;
nomem:
	bfs_buf_free(&b);
	return bfs_err_set(err, -ENOMEM, "out of memory");
}
