// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Benchmark of the native path: MADV_COLD over N one-page VMAs of a child,
 * (a) one raw process_madvise per range, (b) hand-written batches of IOV_MAX
 * raw calls, (c) pmadv_advise. The three are interleaved in rotating order
 * and repeated; medians are reported, with the ratios c/b (what the library
 * costs) and a/c (what batching saves). Not a test: it prints a table.
 *
 * Usage: bench [-r REPEATS] [N...]   (default: 1 64 1024 4096 65536)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "procmadvise.h"
#include "pmtest.h"
#include "benchstat.h"

#define PAGE 4096UL
#define IOVMAX 1024

static int run_a(int pidfd, const struct iovec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pmadv_process_madvise(pidfd, &v[i], 1, MADV_COLD, 0) !=
		    (ssize_t)PAGE)
			return -1;
	return 0;
}

static int run_b(int pidfd, const struct iovec *v, size_t n)
{
	for (size_t i = 0; i < n; i += IOVMAX) {
		size_t k = n - i < IOVMAX ? n - i : IOVMAX;

		if (pmadv_process_madvise(pidfd, &v[i], k, MADV_COLD, 0) !=
		    (ssize_t)(k * PAGE))
			return -1;
	}
	return 0;
}

static int run_c(struct pmadv_target *t, const struct iovec *v, size_t n)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;

	o.methods = PMADV_METHOD_SYSCALL;
	return pmadv_advise(t, v, n, MADV_COLD, &o, NULL) ==
	       (ssize_t)(n * PAGE) ? 0 : -1;
}

/* Raises vm.max_map_count for large N when we may; returns the old value. */
static long raise_map_count(long want)
{
	char buf[32];
	long old = 0;
	int fd = open("/proc/sys/vm/max_map_count", O_RDWR | O_CLOEXEC);
	ssize_t k;

	if (fd < 0)
		return 0;
	k = read(fd, buf, sizeof(buf) - 1);
	if (k > 0) {
		buf[k] = '\0';
		old = strtol(buf, NULL, 10);
	}
	if (old && old < want) {
		snprintf(buf, sizeof(buf), "%ld", want);
		if (pwrite(fd, buf, strlen(buf), 0) < 0)
			old = 0;
	} else {
		old = 0;
	}
	close(fd);
	return old;
}

static void restore_map_count(long old)
{
	char buf[32];
	int fd;

	if (!old)
		return;
	fd = open("/proc/sys/vm/max_map_count", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(buf, sizeof(buf), "%ld", old);
	if (write(fd, buf, strlen(buf)) < 0)
		perror("max_map_count");
	close(fd);
}

static int bench(size_t n, int repeats)
{
	double *ta = calloc((size_t)repeats, sizeof(double));
	double *tb = calloc((size_t)repeats, sizeof(double));
	double *tc = calloc((size_t)repeats, sizeof(double));
	struct iovec *v = calloc(n, sizeof(*v));
	void **bases = calloc(n, sizeof(*bases));
	size_t *lens = calloc(n, sizeof(*lens));
	struct pmtest_child child;
	struct pmadv_target *t = NULL;
	char *area;
	int pidfd, ret = -1;
	double a, b, c;

	area = mmap(NULL, 2 * n * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED || !ta || !tb || !tc || !v || !bases || !lens)
		return -1;
	/* Holes between the pages: n separate VMAs. */
	for (size_t i = 0; i < n; i++) {
		munmap(area + (2 * i + 1) * PAGE, PAGE);
		v[i].iov_base = bases[i] = area + 2 * i * PAGE;
		v[i].iov_len = lens[i] = PAGE;
	}
	if (pmtest_spawn(&child, bases, lens, n, NULL, NULL)) {
		fprintf(stderr, "bench: cannot start the target\n");
		goto out;
	}
	pidfd = pmadv_pidfd_open(child.pid, 0);
	if (pidfd < 0 || pmadv_open(child.pid, 0, &t))
		goto out_child;
	for (int r = 0; r < repeats; r++) {
		for (int k = 0; k < 3; k++) {
			int which = (r + k) % 3;
			double t0 = bench_now_us();
			int err = which == 0 ? run_a(pidfd, v, n)
				: which == 1 ? run_b(pidfd, v, n)
					     : run_c(t, v, n);
			double dt = bench_now_us() - t0;

			if (err) {
				fprintf(stderr, "bench: advice failed (N=%zu)\n", n);
				goto out_t;
			}
			(which == 0 ? ta : which == 1 ? tb : tc)[r] = dt / n;
		}
	}
	a = bench_median(ta, repeats);
	b = bench_median(tb, repeats);
	c = bench_median(tc, repeats);
	printf("| %6zu | %8.3f | %8.3f | %8.3f | %6.3f | %6.2f |\n", n, a, b,
	       c, c / b, a / c);
	fflush(stdout);
	ret = 0;
out_t:
	pmadv_close(t);
	close(pidfd);
out_child:
	pmtest_reap(&child);
out:
	munmap(area, 2 * n * PAGE);
	free(ta);
	free(tb);
	free(tc);
	free(v);
	free(bases);
	free(lens);
	return ret;
}

int main(int argc, char **argv)
{
	size_t def[] = { 1, 64, 1024, 4096, 65536 };
	size_t ns[16], count = 0;
	int repeats = 9, opt, ret = 0;
	long old;

	while ((opt = getopt(argc, argv, "r:")) != -1) {
		if (opt != 'r' || (repeats = atoi(optarg)) < 1) {
			fprintf(stderr, "usage: bench [-r REPEATS] [N...]\n");
			return 2;
		}
	}
	for (; optind < argc && count < 16; optind++)
		ns[count++] = strtoul(argv[optind], NULL, 10);
	if (!count) {
		memcpy(ns, def, sizeof(def));
		count = sizeof(def) / sizeof(def[0]);
	}
	old = raise_map_count(300000);
	printf("MADV_COLD over N one-page VMAs, us/range, median of %d "
	       "interleaved runs\n\n", repeats);
	printf("| N      | a: 1/call | b: batched | c: pmadv | c/b    | a/c    |\n");
	printf("|--------|----------|----------|----------|--------|--------|\n");
	for (size_t i = 0; i < count; i++)
		if (bench(ns[i], repeats))
			ret = 1;
	restore_map_count(old);
	return ret;
}
