/* notify-sinks.c - see notify-sinks.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/notify-sinks.h"

static void die(const char *what)
{
	fprintf(stderr, "notify-sinks: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---------------------------------------------------------------- sockets */

static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		die("cannot listen on loopback");
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Wait up to 100 ms for a connection; -1 if none. */
static int accept_poll(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};

	if (poll(&p, 1, 100) <= 0)
		return -1;
	return accept(lfd, NULL, NULL);
}

static void send_str(int fd, const char *s)
{
	(void)!bfs_write_full(fd, s, strlen(s));
}

/* Read one line (without CRLF) into buf; -1 at EOF. */
static int read_line(int fd, char *buf, size_t sz)
{
	size_t n = 0;
	char ch;

	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < sz)
			buf[n++] = ch;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (int)n;
}

/* ----------------------------------------------------------- HTTP receiver */

static void http_conn(struct httpd *h, int fd)
{
	char hdr[8192], line[2048];
	struct req r;
	size_t clen = 0, used = 0;
	int status;

	memset(&r, 0, sizeof(r));
	if (read_line(fd, line, sizeof(line)) < 0)
		return;
	sscanf(line, "%15s %1023s", r.method, r.path);
	hdr[0] = '\0';
	while (read_line(fd, line, sizeof(line)) > 0) {
		if (!strncasecmp(line, "Content-Length:", 15))
			clen = strtoul(line + 15, NULL, 10);
		if (used + strlen(line) + 2 < sizeof(hdr))
			used += (size_t)snprintf(hdr + used, sizeof(hdr) - used,
						 "%s\n", line);
	}
	memcpy(r.headers, hdr, sizeof(r.headers));
	r.body = calloc(1, clen + 1);
	if (clen && bfs_read_full(fd, r.body, clen) != (ssize_t)clen)
		fprintf(stderr, "receiver: short body\n");
	pthread_mutex_lock(&h->mu);
	h->total++;
	status = h->total <= h->fail_first ? h->fail_status : 200;
	if (h->n < MAXREQ)
		h->reqs[h->n++] = r;
	else
		free(r.body);
	pthread_mutex_unlock(&h->mu);
	snprintf(line, sizeof(line),
		 "HTTP/1.1 %d X\r\nContent-Length: 2\r\n"
		 "Connection: close\r\n\r\nok",
		 status);
	send_str(fd, line);
}

static void *http_main(void *arg)
{
	struct httpd *h = arg;

	while (!h->stop) {
		int fd = accept_poll(h->lfd);

		if (fd < 0)
			continue;
		http_conn(h, fd);
		close(fd);
	}
	return NULL;
}

void http_reset(struct httpd *h, int fail_first, int fail_status)
{
	pthread_mutex_lock(&h->mu);
	for (int i = 0; i < h->n; i++)
		free(h->reqs[i].body);
	h->n = 0;
	h->total = 0;
	h->fail_first = fail_first;
	h->fail_status = fail_status;
	pthread_mutex_unlock(&h->mu);
}

/* The first recorded request whose path starts with prefix. */
struct req *http_find(struct httpd *h, const char *prefix)
{
	for (int i = 0; i < h->n; i++)
		if (!strncmp(h->reqs[i].path, prefix, strlen(prefix)))
			return &h->reqs[i];
	return NULL;
}

int http_count(struct httpd *h, const char *prefix)
{
	int n = 0;

	for (int i = 0; i < h->n; i++)
		n += !strncmp(h->reqs[i].path, prefix, strlen(prefix));
	return n;
}

/* -------------------------------------------------------------- SMTP sink */

/* Decode base64 into out (NUL-terminated, may hold NULs inside). */
static void b64_to(const char *in, char *out, size_t outsz)
{
	uint8_t *d = NULL;
	size_t n = 0;

	memset(out, 0, outsz);
	if (bfs_b64_decode(in, &d, &n) == 0) {
		memcpy(out, d, BFS_MIN(n, outsz - 2));
		free(d);
	}
}

static void smtp_conn(struct smtpd *s, int fd)
{
	char line[4096], tmp[512];

	send_str(fd, "220 sink.test ESMTP\r\n");
	while (read_line(fd, line, sizeof(line)) >= 0) {
		if (!strncasecmp(line, "EHLO", 4)) {
			snprintf(tmp, sizeof(tmp),
				 "250-sink.test\r\n"
				 "250-AUTH %s\r\n250 8BITMIME\r\n",
				 s->mechs);
			send_str(fd, tmp);
		} else if (!strncasecmp(line, "AUTH PLAIN", 10)) {
			char dec[640], *u, *p;

			snprintf(s->mech, sizeof(s->mech), "PLAIN");
			if (line[10] == ' ') {
				b64_to(line + 11, dec, sizeof(dec));
			} else {
				send_str(fd, "334 \r\n");
				read_line(fd, line, sizeof(line));
				b64_to(line, dec, sizeof(dec));
			}
			/* authzid NUL authcid NUL passwd */
			u = dec + strnlen(dec, 200) + 1;
			p = u + strnlen(u, 200) + 1;
			snprintf(s->user, sizeof(s->user), "%.127s", u);
			snprintf(s->pass, sizeof(s->pass), "%.127s", p);
			send_str(fd, "235 ok\r\n");
		} else if (!strncasecmp(line, "AUTH LOGIN", 10)) {
			snprintf(s->mech, sizeof(s->mech), "LOGIN");
			if (line[10] == ' ') {
				b64_to(line + 11, s->user, sizeof(s->user));
			} else {
				send_str(fd, "334 VXNlcm5hbWU6\r\n");
				read_line(fd, line, sizeof(line));
				b64_to(line, s->user, sizeof(s->user));
			}
			send_str(fd, "334 UGFzc3dvcmQ6\r\n");
			read_line(fd, line, sizeof(line));
			b64_to(line, s->pass, sizeof(s->pass));
			send_str(fd, "235 ok\r\n");
		} else if (!strncasecmp(line, "MAIL FROM:", 10)) {
			snprintf(s->from, sizeof(s->from), "%.255s", line + 10);
			send_str(fd, "250 ok\r\n");
		} else if (!strncasecmp(line, "RCPT TO:", 8)) {
			if (s->nrcpt < 4)
				snprintf(s->rcpt[s->nrcpt++], 256, "%.255s",
					 line + 8);
			send_str(fd, "250 ok\r\n");
		} else if (!strcasecmp(line, "DATA")) {
			send_str(fd, "354 go\r\n");
			while (read_line(fd, line, sizeof(line)) >= 0 &&
			       strcmp(line, ".")) {
				bfs_buf_printf(&s->raw, "%s\r\n", line);
				bfs_buf_printf(&s->msg, "%s\r\n",
					       line[0] == '.' ? line + 1
							      : line);
			}
			bfs_buf_append(&s->raw, "", 1);
			bfs_buf_append(&s->msg, "", 1);
			s->msgs++;
			send_str(fd, "250 queued\r\n");
		} else if (!strcasecmp(line, "QUIT")) {
			send_str(fd, "221 bye\r\n");
			return;
		} else {
			send_str(fd, "250 ok\r\n");
		}
	}
}

static void *smtp_main(void *arg)
{
	struct smtpd *s = arg;

	while (!s->stop) {
		int fd = accept_poll(s->lfd);

		if (fd < 0)
			continue;
		smtp_conn(s, fd);
		close(fd);
	}
	return NULL;
}

/* Only between sends (the sink thread is idle then). */
void smtp_reset(struct smtpd *s, const char *mechs)
{
	bfs_buf_free(&s->raw);
	bfs_buf_free(&s->msg);
	memset(&s->raw, 0, sizeof(s->raw));
	memset(&s->msg, 0, sizeof(s->msg));
	s->mechs = mechs;
	s->msgs = s->nrcpt = 0;
	s->from[0] = s->user[0] = s->pass[0] = s->mech[0] = '\0';
}

void http_start(struct httpd *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->lfd = listen_loopback(&h->port);
	if (pthread_create(&h->th, NULL, http_main, h) != 0)
		die("pthread_create");
}

void http_stop(struct httpd *h)
{
	h->stop = 1;
	pthread_join(h->th, NULL);
	close(h->lfd);
	http_reset(h, 0, 0);
	pthread_mutex_destroy(&h->mu);
}

void smtp_start(struct smtpd *s, const char *mechs)
{
	memset(s, 0, sizeof(*s));
	s->mechs = mechs;
	s->lfd = listen_loopback(&s->port);
	if (pthread_create(&s->th, NULL, smtp_main, s) != 0)
		die("pthread_create");
}

void smtp_stop(struct smtpd *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	smtp_reset(s, NULL);
}

int dead_port(void)
{
	int port, fd = listen_loopback(&port);

	close(fd);
	return port;
}

int mute_listener(int *port)
{
	return listen_loopback(port);
}
