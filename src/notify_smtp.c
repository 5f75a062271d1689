/* notify_smtp.c - the email channel: an RFC 5322 plain-text message sent
 * by libcurl's SMTP client (see notify.h, doc/NOTIFY.md).
 *
 * The message is built with CRLF line ends only: libcurl's SMTP upload
 * dot-stuffs lines that start with "." and ends the DATA phase itself, but
 * it recognises a line start only after CRLF, so a bare LF would let a
 * lone "." in a log tail end the message early.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify_int.h"

#define LINE_MAX_SMTP 998 /* RFC 5322 2.1.1, without the CRLF */

/* RFC 5322 date, C-locale names whatever the process locale. */
static void rfc5322_date(char *out, size_t outsz, int64_t ns)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		snprintf(out, outsz, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday % 7], tm.tm_mday, mons[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool plain_header_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Subject: as is if printable ASCII, else RFC 2047 encoded words of at
 * most 45 input bytes (60 base64 chars), split on UTF-8 boundaries, folded
 * with CRLF SP.  Control characters become spaces first. */
static int add_subject(struct bfs_buf *b, const char *subj)
{
	size_t n = strlen(subj), i = 0;
	char *tmp = strdup(subj);
	int rc = 0;

	if (!tmp)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)tmp[k] < 0x20 || tmp[k] == 0x7f)
			tmp[k] = ' ';
	if (plain_header_text(tmp)) {
		rc = bfs_buf_printf(b, "Subject: %s\r\n", tmp);
		goto out_free;
	}
	rc = bfs_buf_printf(b, "Subject:");
	while (rc == 0 && i < n) {
		size_t len = BFS_MIN(n - i, (size_t)45);
		char *enc = NULL;

		/* Do not cut a UTF-8 sequence: back up over continuation
		 * bytes that would start the next word. */
		while (i + len < n && len > 1 &&
		       ((unsigned char)tmp[i + len] & 0xc0) == 0x80)
			len--;
		rc = bfs_b64_encode((const uint8_t *)tmp + i, len, &enc);
		if (rc == 0)
			rc = bfs_buf_printf(
			    b, "%s=?UTF-8?B?%s?=", i ? "\r\n " : " ", enc);
		free(enc);
		i += len;
	}
	if (rc == 0)
		rc = bfs_buf_printf(b, "\r\n");
out_free:
	free(tmp);
	return rc;
}

/* Append text with every line end as CRLF (lone CR dropped) and lines cut
 * at LINE_MAX_SMTP bytes. */
static int add_body(struct bfs_buf *b, const char *s, size_t n)
{
	size_t col = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] == '\r')
			continue;
		if (s[i] == '\n' || col == LINE_MAX_SMTP) {
			rc = bfs_buf_append(b, "\r\n", 2);
			col = 0;
			if (s[i] == '\n')
				continue;
		}
		if (rc == 0)
			rc = bfs_buf_append(b, s + i, 1);
		col++;
	}
	if (rc == 0 && col)
		rc = bfs_buf_append(b, "\r\n", 2);
	return rc;
}

int notify_email_message(const struct notify_ctx *c,
			 const struct bfs_notify_channel *ch,
			 struct bfs_buf *out)
{
	struct bfs_buf text = {0};
	char date[64], subj[512], rnd_hex[33];
	const char *domain;
	uint8_t rnd[16];
	int rc;

	if (!ch->from || !ch->nto || !strchr(ch->from, '@'))
		return -EINVAL;
	domain = strrchr(ch->from, '@') + 1;
	rc = bfs_random(rnd, sizeof(rnd));
	if (rc < 0)
		return rc;
	bfs_hex(rnd_hex, rnd, sizeof(rnd));
	rfc5322_date(date, sizeof(date), bfs_now_ns());
	snprintf(subj, sizeof(subj), "backupfs: %s %s", c->s.job,
		 notify_verb(c->s.status));
	rc = bfs_buf_printf(
	    out, "Date: %s\r\nFrom: backupfs <%s>\r\nTo: ", date, ch->from);
	for (size_t i = 0; rc == 0 && i < ch->nto; i++)
		rc =
		    bfs_buf_printf(out, "%s<%s>", i ? ",\r\n " : "", ch->to[i]);
	if (rc == 0)
		rc = bfs_buf_printf(out, "\r\n");
	if (rc == 0)
		rc = add_subject(out, subj);
	if (rc == 0)
		rc = bfs_buf_printf(
		    out,
		    "Message-ID: <%s.%lld@%s>\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n"
		    "Auto-Submitted: auto-generated\r\n"
		    "\r\n",
		    rnd_hex, (long long)(bfs_now_ns() / 1000000000), domain);
	if (rc == 0)
		rc = notify_text(c, &text, true);
	if (rc == 0)
		rc = add_body(out, (const char *)text.data, text.len);
	bfs_buf_free(&text);
	return rc;
}

struct upload {
	const struct bfs_buf *msg;
	size_t off;
};

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
	struct upload *u = ud;
	size_t k = BFS_MIN(sz * n, u->msg->len - u->off);

	memcpy(p, u->msg->data + u->off, k);
	u->off += k;
	return k;
}

/* A password may travel without TLS only to this host itself. */
static bool loopback_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool lo = false;

	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0))
		lo = !strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
		     !strncmp(host, "127.", 4);
	curl_free(host);
	curl_url_cleanup(u);
	return lo;
}

void notify_email_try(const struct notify_ctx *c,
		      const struct bfs_notify_channel *ch, struct notify_try *t)
{
	const char *user =
	    notify_getenv(c, ch->user_env ? ch->user_env : "SMTP_USER");
	const char *pass = notify_getenv(c, ch->password_env ? ch->password_env
							     : "SMTP_PASSWORD");
	char errbuf[CURL_ERROR_SIZE] = "", addr[300];
	struct curl_slist *rcpt = NULL, *nr;
	struct bfs_buf msg = {0};
	struct upload up = {&msg, 0};
	long ssl, code = 0;
	CURLcode cc;
	CURL *h = NULL;

	t->rc = -ENOMEM;
	t->retry = false;
	snprintf(t->msg, sizeof(t->msg), "out of memory");
	if (notify_email_message(c, ch, &msg) < 0)
		goto out_free;
	for (size_t i = 0; i < ch->nto; i++) {
		snprintf(addr, sizeof(addr), "<%s>", ch->to[i]);
		if (!(nr = curl_slist_append(rcpt, addr)))
			goto out_free;
		rcpt = nr;
	}
	if (!(h = curl_easy_init()))
		goto out_free;
	if (!strncmp(ch->smtp, "smtps:", 6))
		ssl = CURLUSESSL_ALL;
	else if (user && !loopback_host(ch->smtp))
		ssl = CURLUSESSL_ALL; /* never AUTH in clear over a network */
	else
		ssl = CURLUSESSL_TRY;
	snprintf(addr, sizeof(addr), "<%s>", ch->from);
	curl_easy_setopt(h, CURLOPT_URL, ch->smtp);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USE_SSL, ssl);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	if (user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, pass ? pass : "");
	}
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, addr);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		t->rc = 0;
		t->msg[0] = '\0';
		goto out_free;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	t->rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		: cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
		: cc == CURLE_LOGIN_DENIED     ? -EACCES
					       : -EIO;
	/* 5xx replies, bad credentials and TLS failures are permanent. */
	t->retry = !(code >= 500 && code <= 599) && cc != CURLE_LOGIN_DENIED &&
		   cc != CURLE_USE_SSL_FAILED &&
		   cc != CURLE_PEER_FAILED_VERIFICATION &&
		   cc != CURLE_URL_MALFORMAT &&
		   cc != CURLE_UNSUPPORTED_PROTOCOL;
	snprintf(t->msg, sizeof(t->msg), "%s",
		 *errbuf ? errbuf : curl_easy_strerror(cc));
out_free:
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	bfs_buf_free(&msg);
}
