/* dumpmap.c - the streaming dump scanner (dumpmap.h).
 *
 * One pass, byte by byte where it must be, memchr where it can: a lexer
 * keeps the quoting state (strings, quoted identifiers, dollar quotes,
 * comments, COPY data up to a line exactly "\."), so a header comment or
 * a "\." inside a string or a function body never starts a section.  A
 * section starts at a header comment block at a statement boundary:
 *   pg_dump:   "--" / "-- Name: X; Type: T; Schema: S; Owner: O" / "--"
 *   mysqldump: "--" / "-- Table structure for table `x`" / "--"
 * A pg_dump section's class needs its first statement (an INDEX belongs
 * to the table after ON), so the open range is classified when that
 * statement ends.  Only the first HEAD_KEEP bytes of a line and of a
 * statement are kept.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dumpmap.h"
#include "dumpmap_int.h"
#include "hmap.h"

int bfs_dumpscan_new(struct bfs_dumpscan **out)
{
	struct bfs_dumpscan *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->delim[0] = ';';
	s->delim_n = 1;
	s->line_boundary = true;
	s->rng_cls = BFS_DC_PRE;
	if (bfs_hmap_init(&s->tables, sizeof(struct seqown), BFS_HASH_LEN, 64,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&s->seqs, sizeof(struct seqown), BFS_HASH_LEN, 64,
			  BFS_HMAP_PREHASHED)) {
		bfs_dumpscan_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void bfs_dumpscan_free(struct bfs_dumpscan *s)
{
	if (!s)
		return;
	dm_vec_free(&s->out);
	bfs_hmap_fini(&s->tables);
	bfs_hmap_fini(&s->seqs);
	free(s);
}

bool bfs_dumpscan_ok(const struct bfs_dumpscan *s)
{
	return !s->bad;
}

/* ---- statements -------------------------------------------------------- */

static void stmt_start(struct bfs_dumpscan *s)
{
	s->in_stmt = true;
	s->stmt_this_line = true;
	s->stmt_line_off = s->line_off;
	s->head_n = 0;
	s->tail_n = 0;
	s->pending = false;
}

static bool head_starts(const struct bfs_dumpscan *s, const char *p)
{
	size_t n = strlen(p);

	return s->head_n >= n && !strncasecmp(s->head, p, n);
}

/* Whether the statement's last bytes are p (at most TAIL_KEEP). */
static bool tail_ends(const struct bfs_dumpscan *s, const char *p)
{
	size_t n = strlen(p), i;

	if (s->tail_n < n)
		return false;
	for (i = 0; i < n; i++)
		if (s->tail[(s->tail_n - n + i) % TAIL_KEEP] != p[i])
			return false;
	return true;
}

static void stmt_end(struct bfs_dumpscan *s)
{
	s->in_stmt = false;
	s->stmt_count++;
	if (s->kind == BFS_DUMP_PG) {
		if (s->rng_cls < 0)
			dm_pg_classify(s);
		if (head_starts(s, "COPY ") && tail_ends(s, "FROM stdin;"))
			s->copy_next = true;
		return;
	}
	/* MySQL: the trailer is the last run of "... = @OLD_..." guards */
	if (head_starts(s, "/*!") &&
	    dm_memmem(s->head, s->head_n, "=@OLD_", 6)) {
		if (!s->in_trail) {
			s->in_trail = true;
			s->trail_off = s->stmt_line_off;
		}
	} else {
		s->in_trail = false;
	}
}

/* MySQL: a trigger block after a table's data goes to _after. */
static void my_stmt_begun(struct bfs_dumpscan *s)
{
	if (s->rng_cls == BFS_DC_TABLE && s->head_n >= 8 &&
	    (head_starts(s, "/*!50003") || head_starts(s, "DELIMITER ")))
		dm_range_switch(s, s->stmt_line_off, BFS_DC_AFTER, 0);
}

static void head_add(struct bfs_dumpscan *s, char c)
{
	if (s->head_n < HEAD_KEEP) {
		s->head[s->head_n++] = c;
		if (s->head_n == 10 && s->kind == BFS_DUMP_MYSQL)
			my_stmt_begun(s);
	}
	s->tail[s->tail_n++ % TAIL_KEEP] = c;
}

/* ---- the lexer ----------------------------------------------------------- */

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || (unsigned char)c >= 0x80;
}

static void set_prev(struct bfs_dumpscan *s, char c)
{
	s->prev2 = s->prev;
	s->prev = c;
}

/* One SQL byte in L_NORMAL; raw: a '-' or '/' that turned out not to
 * start a comment. */
static void normal_byte(struct bfs_dumpscan *s, char c, bool raw)
{
	bool my = s->kind == BFS_DUMP_MYSQL;

	if (c == ' ' || c == '\t' || c == '\r') {
		if (s->in_stmt)
			head_add(s, c);
		set_prev(s, c);
		return;
	}
	if (!raw && c == '-') {
		s->lex = L_DASH;
		return;
	}
	if (!raw && c == '/') {
		s->lex = L_SLASH;
		return;
	}
	if (my && c == '#') {
		s->lex = L_LINECMT;
		return;
	}
	if (!s->in_stmt) {
		stmt_start(s);
		if (c == '\\' && !my) {
			s->lex = L_META; /* psql \restrict, \connect */
			return;
		}
	}
	head_add(s, c);
	if (c == s->delim[s->delim_match]) {
		if (++s->delim_match == s->delim_n) {
			s->delim_match = 0;
			if (!(my && head_starts(s, "DELIMITER ")))
				stmt_end(s);
		}
		set_prev(s, c);
		return;
	}
	s->delim_match = c == s->delim[0];
	if (c == '\'')
		s->lex = my || ((s->prev == 'E' || s->prev == 'e') &&
				!ident_char(s->prev2))
			     ? L_SQE
			     : L_SQ;
	else if (c == '"')
		s->lex = my ? L_DQE : L_DQ;
	else if (c == '`' && my)
		s->lex = L_BT;
	else if (c == '$' && !my && !ident_char(s->prev)) {
		s->lex = L_DOPEN;
		s->dtag_n = 0;
	}
	set_prev(s, c);
}

/* One byte of a statement line (not COPY data, not '\n'). */
static void lex_byte(struct bfs_dumpscan *s, char c)
{
	bool my = s->kind == BFS_DUMP_MYSQL;

again:
	switch (s->lex) {
	case L_NORMAL:
		normal_byte(s, c, false);
		return;
	case L_SQ:
		head_add(s, c);
		if (c == '\'')
			s->lex = L_NORMAL, set_prev(s, c);
		return;
	case L_SQE:
		head_add(s, c);
		if (c == '\\')
			s->lex = L_SQE_BS;
		else if (c == '\'')
			s->lex = L_NORMAL, set_prev(s, c);
		return;
	case L_SQE_BS:
		head_add(s, c);
		s->lex = L_SQE;
		return;
	case L_DQ:
		head_add(s, c);
		if (c == '"')
			s->lex = L_NORMAL, set_prev(s, c);
		return;
	case L_DQE:
		head_add(s, c);
		if (c == '\\')
			s->lex = L_DQE_BS;
		else if (c == '"')
			s->lex = L_NORMAL, set_prev(s, c);
		return;
	case L_DQE_BS:
		head_add(s, c);
		s->lex = L_DQE;
		return;
	case L_BT:
		head_add(s, c);
		if (c == '`')
			s->lex = L_NORMAL, set_prev(s, c);
		return;
	case L_DASH:
		if (c == '-') {
			s->lex = L_LINECMT;
			return;
		}
		s->lex = L_NORMAL;
		normal_byte(s, '-', true);
		goto again;
	case L_SLASH:
		if (c == '*' && !my) {
			s->lex = L_BLOCK;
			s->depth = 1;
			return;
		}
		if (c == '*') {
			/* MySQL: slash-star-! and slash-star-M! are executable:
			 * lexed as SQL; decided by the next byte */
			s->lex = L_BLOCK_STAR;
			s->depth = -1;
			return;
		}
		s->lex = L_NORMAL;
		normal_byte(s, '/', true);
		goto again;
	case L_LINECMT:
	case L_META:
		return;
	case L_BLOCK_STAR:
		if (s->depth == -1) { /* MySQL, right after slash-star */
			s->depth = 0;
			if (c == '!' || c == 'M') {
				if (!s->in_stmt)
					stmt_start(s);
				head_add(s, '/');
				head_add(s, '*');
				s->lex = L_NORMAL;
				goto again;
			}
			s->lex = L_BLOCK;
			goto again;
		}
		if (c == '/') {
			s->lex = --s->depth > 0 ? L_BLOCK : L_NORMAL;
			return;
		}
		s->lex = L_BLOCK;
		goto again;
	case L_BLOCK:
		if (c == '*')
			s->lex = L_BLOCK_STAR;
		else if (c == '/' && !my)
			s->lex = L_BLOCK_SLASH;
		if (s->depth < 1)
			s->depth = 1;
		return;
	case L_BLOCK_SLASH:
		s->lex = L_BLOCK;
		if (c == '*') {
			if (s->depth < 1000000)
				s->depth++;
			return;
		}
		goto again;
	case L_DOPEN:
		head_add(s, c);
		if (c == '$') {
			s->lex = L_DOLLAR;
			return;
		}
		if (ident_char(c) &&
		    !(s->dtag_n == 0 && c >= '0' && c <= '9') &&
		    s->dtag_n < sizeof(s->dtag)) {
			s->dtag[s->dtag_n++] = c;
			return;
		}
		/* not a dollar quote ($1, a$b): back to SQL */
		s->lex = L_NORMAL;
		set_prev(s, c);
		return;
	case L_DOLLAR:
		head_add(s, c);
		if (c == '$') {
			s->lex = L_DCLOSE;
			s->dmatch = 0;
		}
		return;
	case L_DCLOSE:
		head_add(s, c);
		if (c == '$' && s->dmatch == s->dtag_n) {
			s->lex = L_NORMAL;
			set_prev(s, c);
		} else if (c == '$') {
			s->dmatch = 0;
		} else if (s->dmatch < s->dtag_n && c == s->dtag[s->dmatch]) {
			s->dmatch++;
		} else {
			s->lex = L_DOLLAR;
		}
		return;
	}
}

/* How many bytes at p can skip the lexer once the statement's head is
 * full: bytes that change nothing but the tail (no quote, no delimiter,
 * no comment start, no escape). */
static size_t skip_plain(const struct bfs_dumpscan *s, const char *p, size_t n)
{
	const char d = s->delim[0];
	size_t i = 0;
	char q;

	switch (s->lex) {
	case L_NORMAL:
		while (i < n) {
			char c = p[i];

			if (c == '\'' || c == '"' || c == '`' || c == '$' ||
			    c == '-' || c == '/' || c == '#' || c == '\\' ||
			    c == d)
				break;
			i++;
		}
		return i;
	case L_SQ:
	case L_SQE:
		q = '\'';
		break;
	case L_DQ:
	case L_DQE:
		q = '"';
		break;
	case L_BT:
		q = '`';
		break;
	case L_DOLLAR:
		q = '$';
		break;
	default:
		return 0;
	}
	while (i < n && p[i] != q && p[i] != '\\')
		i++;
	return i;
}

/* Bytes of one line (no '\n') outside COPY data. */
static void lex_run(struct bfs_dumpscan *s, const char *p, size_t n)
{
	size_t i = 0, j, k;

	while (i < n) {
		if (s->lex == L_LINECMT || s->lex == L_META)
			return;
		if (s->in_stmt && s->head_n >= HEAD_KEEP &&
		    (j = skip_plain(s, p + i, n - i))) {
			for (k = j > TAIL_KEEP ? j - TAIL_KEEP : 0; k < j; k++)
				s->tail[s->tail_n++ % TAIL_KEEP] = p[i + k];
			if (s->lex == L_NORMAL) {
				s->delim_match = 0;
				set_prev(s, j > 1 ? p[i + j - 2] : s->prev);
				set_prev(s, p[i + j - 1]);
			}
			i += j;
			continue;
		}
		lex_byte(s, p[i++]);
	}
}

/* ---- lines -------------------------------------------------------------- */

static void detect_kind(struct bfs_dumpscan *s, const char *l, size_t n)
{
	if (n >= 27 && !memcmp(l, "-- PostgreSQL database dump", 27) &&
	    (n == 27 || l[27] == '\r'))
		s->kind = BFS_DUMP_PG;
	else if ((n >= 14 && !memcmp(l, "-- MySQL dump ", 14)) ||
		 (n >= 16 && !memcmp(l, "-- MariaDB dump ", 16)))
		s->kind = BFS_DUMP_MYSQL;
	else if (s->in_stmt || s->nlines > 8)
		dm_set_bad(s, "no pg_dump or mysqldump banner");
}

static void line_end(struct bfs_dumpscan *s)
{
	const char *l = s->line;
	size_t n = s->line_n;

	if (n && l[n - 1] == '\r')
		n--;
	if (!s->kind && !s->bad)
		detect_kind(s, l, n);
	if (s->lex == L_LINECMT || s->lex == L_DASH || s->lex == L_SLASH)
		s->lex = L_NORMAL;
	if (s->lex == L_META) {
		s->lex = L_NORMAL;
		s->in_stmt = false;
	}
	if (s->in_stmt && s->stmt_this_line && s->kind == BFS_DUMP_MYSQL &&
	    head_starts(s, "DELIMITER ") && s->line_len <= HEAD_KEEP) {
		/* the client's DELIMITER command ends at the line's end */
		const char *d = l + 10;
		size_t dn = n - 10;

		while (dn && *d == ' ')
			d++, dn--;
		while (dn && d[dn - 1] == ' ')
			dn--;
		if (!dn || dn >= sizeof(s->delim) || memchr(d, ' ', dn)) {
			dm_set_bad(s, "a DELIMITER line without a delimiter");
		} else {
			memcpy(s->delim, d, dn);
			s->delim_n = dn;
		}
		s->in_stmt = false;
		s->stmt_count++;
	}
	if (s->in_stmt && s->kind == BFS_DUMP_MYSQL && s->stmt_this_line &&
	    head_starts(s, "/*M!999999\\-")) /* the sandbox-mode line */
		s->in_stmt = false;
	s->delim_match = 0;
	set_prev(s, '\n');
	if (s->in_stmt)
		head_add(s, '\n');
	s->stmt_this_line = false;
	if (s->line_boundary && s->lex == L_NORMAL && !s->bad && s->kind &&
	    s->line_len <= HEAD_KEEP) {
		if (n == 2 && l[0] == '-' && l[1] == '-') {
			s->pending = true;
			s->pend_off = s->line_off;
		} else if (n >= 3 && l[0] == '-' && l[1] == '-' &&
			   l[2] == ' ') {
			if (s->kind == BFS_DUMP_PG)
				dm_pg_header(s, l, n);
			else if (!dm_my_header(s, l, n) && s->nlines < 8)
				dm_my_banner(s, l, n);
		} else if (!n) {
			s->pending = false;
		}
	}
	if (s->copy_next) {
		s->copy_next = false;
		s->copy = true;
	}
	s->nlines++;
	s->line_n = 0;
	s->line_len = 0;
	s->line_off = s->off;
	s->line_boundary = !s->in_stmt && s->lex == L_NORMAL && !s->copy;
}

static void line_keep(struct bfs_dumpscan *s, const char *p, size_t n)
{
	size_t k = HEAD_KEEP - s->line_n;

	if (k > n)
		k = n;
	memcpy(s->line + s->line_n, p, k);
	s->line_n += k;
	s->line_len += n;
}

/* End of a line of COPY data. */
static void copy_line_end(struct bfs_dumpscan *s)
{
	if (s->line_len == 2 && s->line[0] == '\\' && s->line[1] == '.')
		s->copy = false;
	s->nlines++;
	s->line_n = 0;
	s->line_len = 0;
	s->line_off = s->off;
	s->line_boundary = !s->copy;
}

void bfs_dumpscan_feed(struct bfs_dumpscan *s, const void *data, size_t len)
{
	const char *p = data, *end = p + len, *nl;
	size_t n, k;

	while (p < end && !s->bad) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl ? nl : end) - p);
		if (s->copy) {
			/* COPY data ends only at a line exactly "\." */
			k = s->line_n < 3 ? 3 - s->line_n : 0;
			if (k > n)
				k = n;
			memcpy(s->line + s->line_n, p, k);
			s->line_n += k;
			s->line_len += n;
		} else {
			line_keep(s, p, n);
			lex_run(s, p, n);
		}
		s->off += n;
		p += n;
		if (nl) {
			s->off++;
			p++;
			if (s->copy)
				copy_line_end(s);
			else
				line_end(s);
		}
	}
	if (p < end)
		s->off += (size_t)(end - p);
}

int bfs_dumpscan_finish(struct bfs_dumpscan *s, struct bfs_dumpmap **out,
			struct bfs_err *err)
{
	*out = NULL;
	if (!s->bad && (s->line_len || s->line_n))
		line_end(s); /* a last line without '\n' */
	if (!s->bad && !s->kind)
		dm_set_bad(s, "no pg_dump or mysqldump banner");
	if (!s->bad && s->copy)
		dm_set_bad(s, "COPY data does not end with \\.");
	if (!s->bad && s->lex != L_NORMAL)
		dm_set_bad(s, "the dump ends inside a string or comment");
	if (!s->bad && s->kind == BFS_DUMP_MYSQL && s->in_trail &&
	    s->trail_off > s->rng_off)
		dm_range_switch(s, s->trail_off, BFS_DC_POST, 0);
	if (!s->bad && s->kind == BFS_DUMP_MYSQL && s->in_trail &&
	    s->trail_off == s->rng_off)
		s->rng_cls = BFS_DC_POST;
	if (!s->bad)
		dm_range_switch(s, s->off, BFS_DC_POST, 0);
	if (s->bad)
		return bfs_err_set(err, -ENOTSUP, "not a dump to map: %s",
				   s->why);
	return dm_vec_finish(&s->out, s->kind, s->off, out, err);
}
