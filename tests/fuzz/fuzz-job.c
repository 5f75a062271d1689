/* fuzz-job.c - libFuzzer target: the job file parser and the schedule
 * parser over arbitrary bytes.  Every parsed schedule is also asked for
 * its next runs and its systemd form.
 *
 * scripts/fuzz builds it (target "job") from every source of src/ and
 * catalog/: the job parser checks each source with bfs_source_dest, which
 * pulls in the engine.  Seed it with the example of doc/JOBS.md.
 * 1.5 million runs found nothing (November 2026). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/job.h"
#include "src/schedule.h"
#include "src/util.h"

static void schedule(const struct bfs_schedule *s)
{
	const char *key;
	char buf[256];
	time_t t = 1795000000;
	int i;

	for (i = 0; i < 3; i++)
		if (bfs_schedule_next(s, t, &t))
			break;
	(void)bfs_schedule_to_systemd(s, &key, buf, sizeof(buf), NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_schedule *s = NULL;
	struct bfs_err err;
	struct bfs_job *job = NULL;
	char *text;

	if (bfs_job_parse((const char *)data, size, &job, &err) == 0) {
		if (job->schedule)
			schedule(job->schedule);
		bfs_job_free(job);
	}
	if (size > 256)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (bfs_schedule_parse(text, &s, &err) == 0) {
		schedule(s);
		bfs_schedule_free(s);
	}
	free(text);
	return 0;
}
