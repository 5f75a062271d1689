/* dumpmap_sql.c - reading table and sequence names out of the first bytes
 * of pg_dump statements and mysqldump header comments (dumpmap_int.h).
 * The text is untrusted and may be cut anywhere: every reader checks
 * bounds and fails with -EINVAL rather than guess. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "dumpmap_int.h"

const char *dm_memmem(const char *h, size_t hn, const char *n, size_t nn)
{
	size_t i;

	if (nn > hn)
		return NULL;
	for (i = 0; i + nn <= hn; i++)
		if (h[i] == n[0] && !memcmp(h + i, n, nn))
			return h + i;
	return NULL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool bare_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       (unsigned char)c >= 0x80;
}

static void skip_space(const char **p, const char *e)
{
	while (*p < e && is_space(**p))
		(*p)++;
}

/* Consume the keyword w (case-insensitive, whole word). */
static bool eat_word(const char **p, const char *e, const char *w)
{
	size_t n = strlen(w);

	skip_space(p, e);
	if ((size_t)(e - *p) < n || strncasecmp(*p, w, n))
		return false;
	if (*p + n < e && bare_char((*p)[n]))
		return false;
	*p += n;
	return true;
}

/* Consume the keywords of ws, separated by spaces in ws. */
static bool eat_words(const char **p, const char *e, const char *ws)
{
	char w[32];
	const char *q = *p, *sp;
	size_t n;

	while (*ws) {
		sp = strchr(ws, ' ');
		n = sp ? (size_t)(sp - ws) : strlen(ws);
		if (n >= sizeof(w))
			return false;
		memcpy(w, ws, n);
		w[n] = 0;
		if (!eat_word(&q, e, w))
			return false;
		ws += n + (sp ? 1 : 0);
	}
	*p = q;
	return true;
}

/* One identifier: "quoted" ("" undoubled) or bare (ASCII folded to lower
 * case, as the server does). */
static int ident(const char **p, const char *e, char *out, char quote)
{
	const char *q = *p;
	size_t n = 0;

	skip_space(&q, e);
	if (q < e && *q == quote) {
		for (q++;; q++) {
			if (q >= e)
				return -EINVAL;
			if (*q == quote) {
				if (q + 1 < e && q[1] == quote)
					q++;
				else
					break;
			}
			if (!*q || n == BFS_DUMPMAP_MAX_NAME)
				return -EINVAL;
			out[n++] = *q;
		}
		q++;
	} else {
		while (q < e && bare_char(*q)) {
			if (n == BFS_DUMPMAP_MAX_NAME)
				return -EINVAL;
			out[n++] =
			    (*q >= 'A' && *q <= 'Z') ? (char)(*q + 32) : *q;
			q++;
		}
	}
	if (!n)
		return -EINVAL;
	out[n] = 0;
	*p = q;
	return 0;
}

/* A name of 1..3 dotted parts. */
static int qname(const char **p, const char *e, struct dm_qname *q)
{
	q->n = 0;
	for (;;) {
		if (ident(p, e, q->part[q->n], '"'))
			return -EINVAL;
		q->n++;
		if (q->n == 3 || *p >= e || **p != '.')
			return 0;
		(*p)++;
	}
}

/* A table name: schema.table, or table alone (schema ""). */
static int table_name(const char **p, const char *e, struct dm_qname *q)
{
	if (qname(p, e, q) || q->n == 3)
		return -EINVAL;
	if (q->n == 1) {
		memcpy(q->part[1], q->part[0], strlen(q->part[0]) + 1);
		q->part[0][0] = 0;
		q->n = 2;
	}
	return 0;
}

int dm_pg_create_table(const char *h, const char *e, struct dm_qname *q)
{
	if (!eat_word(&h, e, "CREATE"))
		return -EINVAL;
	(void)(eat_word(&h, e, "UNLOGGED") || eat_word(&h, e, "FOREIGN"));
	if (!eat_word(&h, e, "TABLE"))
		return -EINVAL;
	(void)eat_words(&h, e, "IF NOT EXISTS");
	return table_name(&h, e, q);
}

int dm_pg_after_words(const char *h, const char *e, const char *words,
		      struct dm_qname *q)
{
	if (!eat_words(&h, e, words))
		return -EINVAL;
	return table_name(&h, e, q);
}

int dm_pg_alter_table(const char *h, const char *e, struct dm_qname *q)
{
	if (!eat_words(&h, e, "ALTER TABLE"))
		return -EINVAL;
	(void)eat_words(&h, e, "IF EXISTS");
	(void)eat_word(&h, e, "ONLY");
	return table_name(&h, e, q);
}

int dm_pg_create_index(const char *h, const char *e, struct dm_qname *q)
{
	struct dm_qname ix;

	if (!eat_word(&h, e, "CREATE"))
		return -EINVAL;
	(void)eat_word(&h, e, "UNIQUE");
	if (!eat_word(&h, e, "INDEX"))
		return -EINVAL;
	(void)eat_word(&h, e, "CONCURRENTLY");
	(void)eat_words(&h, e, "IF NOT EXISTS");
	if (!eat_word(&h, e, "ON") &&
	    (qname(&h, e, &ix) || !eat_word(&h, e, "ON")))
		return -EINVAL;
	(void)eat_word(&h, e, "ONLY");
	return table_name(&h, e, q);
}

int dm_pg_identity_seq(const char *h, const char *e, struct dm_qname *q)
{
	const char *p = dm_memmem(h, (size_t)(e - h), "SEQUENCE NAME ", 14);

	if (!p)
		return -EINVAL;
	p += 14;
	return table_name(&p, e, q);
}

int dm_pg_owned_by(const char *h, const char *e, struct dm_qname *seq,
		   struct dm_qname *table)
{
	if (!eat_words(&h, e, "ALTER SEQUENCE") || table_name(&h, e, seq) ||
	    !eat_words(&h, e, "OWNED BY") || qname(&h, e, table) ||
	    table->n < 2)
		return -EINVAL;
	if (table->n == 2) { /* table.column: no schema */
		memcpy(table->part[1], table->part[0],
		       strlen(table->part[0]) + 1);
		table->part[0][0] = 0;
	}
	table->n = 2;
	return 0;
}

int dm_pg_setval(const char *h, const char *e, struct dm_qname *q)
{
	char lit[BFS_DUMPMAP_MAX_NAME + 1];
	const char *p;
	size_t n = 0;

	if (!eat_word(&h, e, "SELECT"))
		return -EINVAL;
	skip_space(&h, e);
	if (eat_word(&h, e, "pg_catalog") && (h >= e || *h++ != '.'))
		return -EINVAL;
	if (!eat_word(&h, e, "setval"))
		return -EINVAL;
	skip_space(&h, e);
	if (h + 1 >= e || h[0] != '(' || h[1] != '\'')
		return -EINVAL;
	for (h += 2;; h++) { /* the literal, '' undoubled */
		if (h >= e || n == BFS_DUMPMAP_MAX_NAME || !*h)
			return -EINVAL;
		if (*h == '\'') {
			if (h + 1 < e && h[1] == '\'')
				h++;
			else
				break;
		}
		lit[n++] = *h;
	}
	p = lit;
	return table_name(&p, lit + n, q) || p != lit + n ? -EINVAL : 0;
}

int dm_my_backticked(const char *p, size_t n, char *name)
{
	const char *q = memchr(p, '`', n);

	if (!q)
		return -EINVAL;
	return ident(&q, p + n, name, '`');
}

void dm_seq_own(struct bfs_hmap *m, const struct dm_qname *seq, uint32_t table)
{
	struct {
		uint8_t key[BFS_HASH_LEN];
		uint32_t table;
	} rec;
	char buf[2 * BFS_DUMPMAP_MAX_NAME + 2];
	size_t a = strlen(seq->part[0]), b = strlen(seq->part[1]);

	memcpy(buf, seq->part[0], a + 1);
	memcpy(buf + a + 1, seq->part[1], b);
	bfs_sha256(rec.key, buf, a + 1 + b);
	rec.table = table;
	(void)bfs_hmap_insert(m, &rec, NULL); /* a lost owner: _before */
}

long dm_seq_owner(const struct bfs_hmap *m, const struct dm_qname *seq)
{
	char buf[2 * BFS_DUMPMAP_MAX_NAME + 2];
	size_t a = strlen(seq->part[0]), b = strlen(seq->part[1]);
	uint8_t key[BFS_HASH_LEN];
	const uint8_t *rec;
	uint32_t t;

	memcpy(buf, seq->part[0], a + 1);
	memcpy(buf + a + 1, seq->part[1], b);
	bfs_sha256(key, buf, a + 1 + b);
	rec = bfs_hmap_find(m, key);
	if (!rec)
		return -1;
	memcpy(&t, rec + BFS_HASH_LEN, sizeof(t));
	return t;
}
