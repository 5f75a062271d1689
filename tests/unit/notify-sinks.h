/* notify-sinks.h - loopback receivers for the notification tests: an
 * HTTP receiver and an SMTP sink, each a thread on 127.0.0.1:<ephemeral>.
 * Test-only code: errors abort the test program. */
#ifndef BFS_TEST_NOTIFY_SINKS_H
#define BFS_TEST_NOTIFY_SINKS_H

#include <pthread.h>

#include "util.h"

#define MAXREQ 64

/* One recorded HTTP request. */
struct req {
	char method[16];
	char path[1024];
	char headers[8192]; /* "Name: value\n" lines */
	char *body;	    /* NUL-terminated, allocated */
};

struct httpd {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu; /* protects everything below */
	volatile int stop;
	int fail_first; /* answer fail_status to the first N requests */
	int fail_status;
	int total; /* requests seen since the last reset */
	int n;
	struct req reqs[MAXREQ];
};

struct smtpd {
	int lfd, port;
	pthread_t th;
	volatile int stop;
	/* Read by the test only between sends (the sink is idle then). */
	const char *mechs; /* advertised AUTH mechanisms */
	int msgs;
	char from[256];
	char rcpt[4][256];
	int nrcpt;
	char user[128], pass[128], mech[16];
	struct bfs_buf raw; /* DATA as received (dot-stuffed) */
	struct bfs_buf msg; /* DATA after un-stuffing */
};

void http_start(struct httpd *h);
void http_stop(struct httpd *h);
void http_reset(struct httpd *h, int fail_first, int fail_status);
/* First recorded request whose path starts with prefix, or NULL. */
struct req *http_find(struct httpd *h, const char *prefix);
int http_count(struct httpd *h, const char *prefix);

void smtp_start(struct smtpd *s, const char *mechs);
void smtp_stop(struct smtpd *s);
void smtp_reset(struct smtpd *s, const char *mechs);

/* A loopback port nobody listens on (bound, then closed). */
int dead_port(void);
/* A listening socket that never accepts nor answers: the kernel completes
 * the handshake, then silence.  Returns the fd (close it); *port set. */
int mute_listener(int *port);

#endif
