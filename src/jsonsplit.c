/* jsonsplit.c - JSON array (or value sequence) to JSON lines, streamed
 * (jsonsplit.h).  A pushdown automaton over bytes: the stack holds the
 * open containers of the record being copied, `x` what may come next. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsonsplit.h"

#define OUT_BUF (64u * 1024)
#define SCALAR_MAX 512 /* longest number copied (digits and exponent) */

enum top {
	T_START,       /* nothing but blanks (and a BOM) so far */
	T_ARRAY_FIRST, /* after the top-level '[' */
	T_ARRAY_ELEM,  /* after a ',' between records */
	T_ARRAY_NEXT,  /* after a record in the array */
	T_SEQ,	       /* a sequence of values */
	T_END,	       /* after the top-level ']' */
};

enum expect {
	X_VALUE,
	X_VALUE_OR_CLOSE, /* after '[' */
	X_KEY,		  /* after ',' in an object */
	X_KEY_OR_CLOSE,	  /* after '{' */
	X_COLON,
	X_COMMA_OR_CLOSE,
};

struct bfs_jsplit {
	bfs_jsplit_write_fn write;
	void *arg;
	int error; /* sticky */
	uint64_t pos, records;
	enum top top;
	unsigned bom; /* bytes of a UTF-8 BOM seen at the start */
	bool in_record, in_str, is_key, in_scalar;
	unsigned esc; /* in a string: 0, 1 after '\', 2..5 hex digits due */
	enum expect x;
	unsigned depth;
	char stack[BFS_JSPLIT_DEPTH];
	size_t scn;
	char sc[SCALAR_MAX + 1];
	size_t outn;
	uint8_t out[OUT_BUF];
};

int bfs_jsplit_new(bfs_jsplit_write_fn write, void *arg,
		   struct bfs_jsplit **out)
{
	struct bfs_jsplit *j = calloc(1, sizeof(*j));

	*out = j;
	if (!j)
		return -ENOMEM;
	j->write = write;
	j->arg = arg;
	return 0;
}

void bfs_jsplit_free(struct bfs_jsplit *j)
{
	free(j);
}

uint64_t bfs_jsplit_records(const struct bfs_jsplit *j)
{
	return j->records;
}

static int fail(struct bfs_jsplit *j, struct bfs_err *err, const char *what)
{
	j->error = bfs_err_set(err, -EUCLEAN, "byte %llu: %s",
			       (unsigned long long)j->pos, what);
	return j->error;
}

static int flush(struct bfs_jsplit *j, struct bfs_err *err)
{
	int rc;

	if (!j->outn)
		return 0;
	rc = j->write(j->arg, j->out, j->outn, err);
	j->outn = 0;
	if (rc)
		j->error = rc;
	return rc;
}

static int emit(struct bfs_jsplit *j, const void *p, size_t n,
		struct bfs_err *err)
{
	int rc;

	if (j->outn + n > sizeof(j->out)) {
		rc = flush(j, err);
		if (rc)
			return rc;
	}
	memcpy(j->out + j->outn, p, n);
	j->outn += n;
	return 0;
}

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_scalar_char(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}

static bool digits(const char **p)
{
	const char *s = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

/* RFC 8259 number, or true/false/null. */
static bool scalar_valid(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "null"))
		return true;
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (!digits(&s))
		return false;
	if (*s == '.') {
		s++;
		if (!digits(&s))
			return false;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!digits(&s))
			return false;
	}
	return !*s;
}

/* A value ended: the record, or the next thing in its container. */
static int value_done(struct bfs_jsplit *j, struct bfs_err *err)
{
	int rc;

	if (j->depth) {
		j->x = X_COMMA_OR_CLOSE;
		return 0;
	}
	rc = emit(j, "\n", 1, err);
	if (rc)
		return rc;
	j->records++;
	j->in_record = false;
	j->top = j->top == T_SEQ ? T_SEQ : T_ARRAY_NEXT;
	return 0;
}

static int end_scalar(struct bfs_jsplit *j, struct bfs_err *err)
{
	int rc;

	j->sc[j->scn] = '\0';
	j->in_scalar = false;
	if (!scalar_valid(j->sc))
		return fail(j, err, "not a JSON number, true, false or null");
	rc = emit(j, j->sc, j->scn, err);
	return rc ? rc : value_done(j, err);
}

static int string_byte(struct bfs_jsplit *j, uint8_t c, struct bfs_err *err)
{
	int rc = emit(j, &c, 1, err);

	if (rc)
		return rc;
	if (j->esc == 1) {
		if (!strchr("\"\\/bfnrtu", c) || !c)
			return fail(j, err, "invalid escape in a string");
		j->esc = c == 'u' ? 5 : 0;
		return 0;
	}
	if (j->esc > 1) {
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F')))
			return fail(j, err, "expected a hex digit in \\u");
		j->esc = j->esc == 2 ? 0 : j->esc - 1;
		return 0;
	}
	if (c == '\\') {
		j->esc = 1;
	} else if (c == '"') {
		j->in_str = false;
		if (j->is_key) {
			j->x = X_COLON;
			return 0;
		}
		return value_done(j, err);
	} else if (c < 0x20) {
		return fail(j, err, "control character in a string");
	}
	return 0;
}

static int open_container(struct bfs_jsplit *j, uint8_t c, struct bfs_err *err)
{
	if (j->depth >= BFS_JSPLIT_DEPTH)
		return fail(j, err, "nesting too deep (at most 256 levels)");
	j->stack[j->depth++] = (char)c;
	j->x = c == '{' ? X_KEY_OR_CLOSE : X_VALUE_OR_CLOSE;
	return emit(j, &c, 1, err);
}

static int close_container(struct bfs_jsplit *j, uint8_t c, struct bfs_err *err)
{
	int rc;

	j->depth--;
	rc = emit(j, &c, 1, err);
	return rc ? rc : value_done(j, err);
}

static bool closes_top(const struct bfs_jsplit *j, uint8_t c)
{
	return j->depth && ((c == '}' && j->stack[j->depth - 1] == '{') ||
			    (c == ']' && j->stack[j->depth - 1] == '['));
}

/* One byte of a record, outside strings and scalars. */
static int record_byte(struct bfs_jsplit *j, uint8_t c, struct bfs_err *err)
{
	if (is_blank(c))
		return 0;
	switch (j->x) {
	case X_VALUE_OR_CLOSE:
		if (c == ']')
			return close_container(j, c, err);
		/* fall through */
	case X_VALUE:
		if (c == '{' || c == '[')
			return open_container(j, c, err);
		if (c == '"') {
			j->in_str = true;
			j->is_key = false;
			return emit(j, &c, 1, err);
		}
		if (c == '-' || (c >= '0' && c <= '9') || c == 't' ||
		    c == 'f' || c == 'n') {
			j->in_scalar = true;
			j->sc[0] = (char)c;
			j->scn = 1;
			return 0;
		}
		return fail(j, err, "expected a JSON value");
	case X_KEY_OR_CLOSE:
		if (c == '}')
			return close_container(j, c, err);
		/* fall through */
	case X_KEY:
		if (c != '"')
			return fail(j, err,
				    "expected a string (an object key)");
		j->in_str = true;
		j->is_key = true;
		return emit(j, &c, 1, err);
	case X_COLON:
		if (c != ':')
			return fail(j, err, "expected ':' after an object key");
		j->x = X_VALUE;
		return emit(j, &c, 1, err);
	case X_COMMA_OR_CLOSE:
		if (c == ',') {
			j->x = j->stack[j->depth - 1] == '{' ? X_KEY : X_VALUE;
			return emit(j, &c, 1, err);
		}
		if (closes_top(j, c))
			return close_container(j, c, err);
		return fail(j, err,
			    "expected ',' or the end of the object "
			    "or array");
	}
	return fail(j, err, "internal state");
}

/* One byte between records. */
static int top_byte(struct bfs_jsplit *j, uint8_t c, struct bfs_err *err)
{
	static const uint8_t bom[3] = {0xef, 0xbb, 0xbf};

	if (j->top == T_START && j->pos == j->bom && j->bom < 3 &&
	    c == bom[j->bom]) {
		j->bom++;
		return 0;
	}
	if (j->top == T_START && j->bom && j->bom < 3)
		return fail(j, err, "not UTF-8 (a broken byte order mark)");
	if (is_blank(c))
		return 0;
	switch (j->top) {
	case T_START:
		if (c == '[') {
			j->top = T_ARRAY_FIRST;
			return 0;
		}
		j->top = T_SEQ;
		break;
	case T_ARRAY_FIRST:
		if (c == ']') {
			j->top = T_END;
			return 0;
		}
		break;
	case T_ARRAY_NEXT:
		if (c == ',') {
			j->top = T_ARRAY_ELEM;
			return 0;
		}
		if (c == ']') {
			j->top = T_END;
			return 0;
		}
		return fail(j, err, "expected ',' or ']' between records");
	case T_END:
		return fail(j, err, "data after the array's closing ']'");
	case T_ARRAY_ELEM:
	case T_SEQ:
		break;
	}
	j->in_record = true;
	j->depth = 0;
	j->x = X_VALUE;
	return record_byte(j, c, err);
}

int bfs_jsplit_feed(struct bfs_jsplit *j, const void *data, size_t n,
		    struct bfs_err *err)
{
	const uint8_t *p = data;
	size_t i;
	int rc = 0;

	if (j->error)
		return j->error;
	for (i = 0; i < n && !rc; i++, j->pos++) {
		uint8_t c = p[i];

		if (j->in_str) {
			rc = string_byte(j, c, err);
			continue;
		}
		if (j->in_scalar) {
			if (is_scalar_char(c)) {
				if (j->scn >= SCALAR_MAX)
					rc = fail(j, err, "number too long");
				else
					j->sc[j->scn++] = (char)c;
				continue;
			}
			rc = end_scalar(j, err);
			if (rc)
				break;
		}
		rc =
		    j->in_record ? record_byte(j, c, err) : top_byte(j, c, err);
	}
	if (rc)
		j->error = rc;
	return rc;
}

int bfs_jsplit_finish(struct bfs_jsplit *j, struct bfs_err *err)
{
	int rc;

	if (j->error)
		return j->error;
	if (j->in_scalar && !j->depth) {
		rc = end_scalar(j, err);
		if (rc)
			return rc;
	}
	if (j->in_record)
		return fail(j, err, "the input ends inside a record");
	if (j->top == T_ARRAY_FIRST || j->top == T_ARRAY_ELEM ||
	    j->top == T_ARRAY_NEXT)
		return fail(j, err, "the input ends before the array's ']'");
	if (j->bom && j->bom < 3)
		return fail(j, err, "not UTF-8 (a broken byte order mark)");
	return flush(j, err);
}
