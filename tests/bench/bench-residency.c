// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Benchmark of pmadv_residency: its cost per GiB of ranges, by the
 * PAGEMAP_SCAN ioctl and by pagemap entries (in a helper process whose
 * seccomp filter refuses the ioctl with ENOTTY, as a pre-6.7 kernel does),
 * against one read of /proc/PID/smaps_rollup of the same target. The
 * target maps 1 GiB of private anonymous memory (no huge pages) in one of
 * three states: every page resident, every other page resident (the worst
 * case for the ioctl, which returns one region per run of like pages),
 * none resident. Interleaved, medians of the repeats, microseconds per GiB.
 * Not a test: it prints a table for README.
 *
 * Usage: bench-residency [-r REPEATS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procmadvise.h"
#include "pmtest.h"
#include "benchstat.h"

#define GiB (1024UL * 1024 * 1024)
#define PAGE 4096UL
#define MAX_REPEATS 64

/* One timed pmadv_residency over v: microseconds, or -1. */
static double time_residency(struct pmadv_target *t, const struct iovec *v,
			     unsigned int *method)
{
	struct pmadv_residency r;
	double t0 = bench_now_us();

	if (pmadv_residency(t, v, 1, &r, sizeof(r)))
		return -1;
	*method = r.method;
	return bench_now_us() - t0;
}

static double time_rollup(pid_t pid)
{
	char path[64], buf[4096];
	double t0 = bench_now_us();
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return bench_now_us() - t0;
}

/* The helper that times the pagemap method: one byte in, a double out. */
struct helper {
	pid_t pid;
	int req, resp;
};

static int helper_start(struct helper *h, pid_t target, const struct iovec *v)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		return -1;
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (!h->pid) {
		struct pmadv_target *t;
		unsigned int m = 0;
		char c;

		close(a[1]);
		close(b[0]);
		if (pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY) || pmadv_open(target, 0, &t))
			_exit(1);
		while (read(a[0], &c, 1) == 1) {
			double us = time_residency(t, v, &m);

			if (m != PMADV_RESIDENCY_PAGEMAP)
				us = -1;
			if (write(b[1], &us, sizeof(us)) != sizeof(us))
				_exit(1);
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	h->req = a[1];
	h->resp = b[0];
	return 0;
}

static double helper_time(struct helper *h)
{
	double us = -1;
	char c = 1;

	if (write(h->req, &c, 1) != 1 ||
	    read(h->resp, &us, sizeof(us)) != sizeof(us))
		return -1;
	return us;
}

static void helper_stop(struct helper *h)
{
	close(h->req);
	close(h->resp);
	waitpid(h->pid, NULL, 0);
}

static const char *const state_name[] = { "all resident", "every other page",
					  "none resident" };

static int run(int state, int repeats)
{
	char *p = mmap(NULL, GiB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	double scan[MAX_REPEATS], entries[MAX_REPEATS], rollup[MAX_REPEATS];
	struct iovec v = { p, GiB };
	struct pmadv_target *t;
	struct pmtest_child c;
	struct helper h;
	unsigned int m = 0;
	int ret = -1;

	if (p == MAP_FAILED)
		return -1;
	madvise(p, GiB, MADV_NOHUGEPAGE);
	/* the child writes what it gets: every page, every other one, none */
	{
		void *bases[1] = { p };
		size_t lens[1] = { state == 2 ? 0 : GiB };

		if (state == 1) {
			static void *b2[GiB / PAGE / 2];
			static size_t l2[GiB / PAGE / 2];

			for (size_t i = 0; i < GiB / PAGE / 2; i++) {
				b2[i] = p + 2 * i * PAGE;
				l2[i] = PAGE;
			}
			if (pmtest_spawn(&c, b2, l2, GiB / PAGE / 2, NULL,
					 NULL))
				return -1;
		} else if (pmtest_spawn(&c, bases, lens, 1, NULL, NULL)) {
			return -1;
		}
	}
	munmap(p, GiB);
	if (pmadv_open(c.pid, 0, &t) || helper_start(&h, c.pid, &v))
		goto out;
	for (int r = 0; r < repeats; r++) {
		/* rotate the order so that no method always goes first */
		for (int k = 0; k < 3; k++) {
			switch ((r + k) % 3) {
			case 0:
				scan[r] = time_residency(t, &v, &m);
				break;
			case 1:
				entries[r] = helper_time(&h);
				break;
			default:
				rollup[r] = time_rollup(c.pid);
			}
		}
		if (scan[r] < 0 || entries[r] < 0 || rollup[r] < 0)
			goto stop;
	}
	{
		double s = bench_median(scan, repeats);
		double e = bench_median(entries, repeats);
		double ro = bench_median(rollup, repeats);

		printf("| %s | %.0f | %.0f | %.0f | %.2f | %.2f |\n",
		       state_name[state], m == PMADV_RESIDENCY_SCAN ? s : -1,
		       e, ro, m == PMADV_RESIDENCY_SCAN ? s / ro : -1, e / ro);
	}
	ret = 0;
stop:
	helper_stop(&h);
out:
	pmtest_reap(&c);
	return ret;
}

int main(int argc, char **argv)
{
	int repeats = 9;

	if (argc == 3 && !strcmp(argv[1], "-r"))
		repeats = atoi(argv[2]);
	if (repeats < 1 || repeats > MAX_REPEATS) {
		fprintf(stderr, "usage: %s [-r REPEATS(1-%d)]\n", argv[0],
			MAX_REPEATS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("microseconds per GiB of ranges, medians of %d\n", repeats);
	printf("| target's 1 GiB | PAGEMAP_SCAN | pagemap entries | "
	       "smaps_rollup | scan/rollup | entries/rollup |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (int s = 0; s < 3; s++)
		if (run(s, repeats)) {
			fprintf(stderr, "state %d failed\n", s);
			return 1;
		}
	return 0;
}
