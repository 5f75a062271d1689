/* restore_nocodb.h - put a backup's NocoDB export (bases/, see
 * doc/NOCODB.md) back into a running NocoDB through its REST API (v2):
 * the schema (bases, tables, physical columns), the records (in batches
 * of 100, system fields left out, attachments uploaded again when asked)
 * or only the attachments of records that exist.
 *
 * The backup is read through the catalog and the repository
 * (bfs_restore_cat_cb): records.jsonl is streamed a line at a time, an
 * attachment through a temporary file; never a table in memory.
 *
 * Thread safety: one call uses the catalog connection and the client
 * from the calling thread only.
 */
#ifndef BFS_RESTORE_NOCODB_H
#define BFS_RESTORE_NOCODB_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "repo.h"
#include "source_nocodb.h"
#include "util.h"

enum bfs_ncr_mode {
	BFS_NCR_SCHEMA,	     /* restore-schema */
	BFS_NCR_RECORDS,     /* restore-records */
	BFS_NCR_ATTACHMENTS, /* restore-attachments */
};

struct bfs_ncr_opts {
	enum bfs_ncr_mode mode;
	const char *from;      /* the export's directory in the backup
				  ("bases") */
	const char *base;      /* only this base (title or name), or NULL */
	const char *table;     /* only this table (title or name), or NULL */
	bool skip_existing;    /* schema: leave tables that exist alone
				  (else one that exists is an error) */
	bool with_attachments; /* records: upload and link attachments */
	/* Only say what would be done (GET requests only).  An error the
	 * restore would meet before writing (a table that exists, one
	 * missing for its records) is returned here as well. */
	bool plan;
	/* Each step, one line (no newline; titles as they are: the caller
	 * quotes the line for the terminal).  May be NULL. */
	void (*say)(void *arg, const char *line);
	void *arg;
};

struct bfs_ncr_stats {
	uint64_t bases;	      /* created */
	uint64_t tables;      /* created, or whose records/attachments
				 were restored */
	uint64_t skipped;     /* tables left alone (--skip-existing) */
	uint64_t manual;      /* virtual columns to recreate by hand */
	uint64_t records;     /* inserted (or updated: attachments) */
	uint64_t missing;     /* attachments: records not in NocoDB */
	uint64_t attachments; /* uploaded */
	uint64_t bytes;	      /* of the uploaded attachments */
};

/* Restore the export under directory o->from of the backup whose root
 * entry is root into the NocoDB that h talks to (borrowed; its token is
 * never put in a message).  Bases and tables are matched by title.
 * *st (zeroed here) counts what was done (or would be, with o->plan).
 * Returns 0 or -errno with err naming the base, table and batch:
 * -ENOENT (no such directory, base or table), -EEXIST (a table exists,
 * schema without skip_existing), -EUCLEAN (a file of the export is not
 * what the export writes), the server's errors (nc_send_json). */
int bfs_nocodb_restore(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t root, struct nc_http *h,
		       const struct bfs_ncr_opts *o, struct bfs_ncr_stats *st,
		       struct bfs_err *err);

/* True for a column NocoDB computes or links (Links, Lookup, Rollup,
 * Formula, ...): not a stored field, recreated by hand.  uidt may be
 * NULL.  Thread-safe. */
bool bfs_ncr_virtual(const char *uidt);

/* The create payload (POST meta/bases/{id}/tables) of the table whose
 * schema.json is schema: title, table_name and the stored columns
 * (column_name, title, uidt, rqd, cdf, description, meta without the
 * per-view keys, select options' title/color/order).  Columns NocoDB
 * makes (system, primary key, Order) are left out; each virtual one is
 * handed to manual(arg, title, uidt) (may be NULL).  *out (cJSON_Delete)
 * and *ncols, the stored columns.  0, -EUCLEAN (no title), -ENOMEM.
 * Thread-safe. */
int bfs_ncr_table_payload(const struct cJSON *schema, struct cJSON **out,
			  void (*manual)(void *arg, const char *title,
					 const char *uidt),
			  void *arg, unsigned *ncols);

#endif
