// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Benchmark of the ptrace rung against the native rung: MADV_COLD over N
 * one-page VMAs of a child, N = 1, 64, 1024, 4096, through
 *   native     process_madvise(2)             (methods = syscall)
 *   fast       ptrace, one process_madvise in the target per 1024 ranges
 *   loop       ptrace, a loop of madvise calls run by the target per 1024
 *              ranges (PMADV_PTRACE_FAST=loop: the path of kernels where
 *              a process may not give itself the advice)
 *   per-range  ptrace, one madvise injected per range (PMADV_PTRACE_FAST=0)
 * Methods are interleaved within each repetition; medians of the
 * repetitions are printed as a markdown table.
 * Usage: bench-ptrace [repeats (default 7)]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procmadvise.h"
#include "benchstat.h"

#define PAGE 4096
#define MAXN 4096
#define MAXREP 51

/* N separate VMAs: one page each, every other page left unmapped. */
static char *map_pages(int n)
{
	char *base = mmap(NULL, (size_t)n * 2 * PAGE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		return NULL;
	munmap(base, (size_t)n * 2 * PAGE);
	for (int i = 0; i < n; i++)
		if (mmap(base + (size_t)i * 2 * PAGE, PAGE,
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == MAP_FAILED)
			return NULL;
	return base;
}

/* fast: NULL for the default, else the PMADV_PTRACE_FAST value */
static double run(struct pmadv_target *t, const struct iovec *iov, int n,
		  unsigned int method, const char *fast)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	double t0;
	ssize_t ret;

	if (!fast)
		unsetenv("PMADV_PTRACE_FAST");
	else
		setenv("PMADV_PTRACE_FAST", fast, 1);
	o.methods = method;
	t0 = bench_now_us();
	ret = pmadv_advise(t, iov, (size_t)n, MADV_COLD, &o, NULL);
	t0 = bench_now_us() - t0;
	if (ret != (ssize_t)n * PAGE) {
		fprintf(stderr, "bench-ptrace: %s advise of %d ranges: %zd\n",
			pmadv_method_name(method), n, ret);
		exit(1);
	}
	return t0;
}

int main(int argc, char **argv)
{
	static const int sizes[] = { 1, 64, 1024, 4096 };
	static struct iovec iov[MAXN];
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	struct pmadv_target *t;
	char *base;
	pid_t pid;

	if (reps < 1 || reps > MAXREP) {
		fprintf(stderr, "usage: bench-ptrace [repeats 1..%d]\n",
			MAXREP);
		return 2;
	}
	base = map_pages(MAXN);
	if (!base) {
		perror("bench-ptrace: mmap");
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int i = 0; i < MAXN; i++)
			base[(size_t)i * 2 * PAGE] = 1;
		for (;;)
			pause();
	}
	usleep(200000);
	if (pmadv_open(pid, 0, &t) < 0) {
		fprintf(stderr, "bench-ptrace: cannot open the child\n");
		return 1;
	}
	for (int i = 0; i < MAXN; i++)
		iov[i] = (struct iovec){ base + (size_t)i * 2 * PAGE, PAGE };

	printf("MADV_COLD over N one-page VMAs of a child, median of %d "
	       "interleaved runs, microseconds\n\n", reps);
	printf("| N | native | ptrace fast path | fast / native | "
	       "ptrace loop | loop / native | "
	       "ptrace per range | per range / native |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double nat[MAXREP], fast[MAXREP], loop[MAXREP], each[MAXREP];
		int n = sizes[s];

		/* warm up */
		run(t, iov, n, PMADV_METHOD_PTRACE, NULL);
		run(t, iov, n, PMADV_METHOD_PTRACE, "loop");
		for (int r = 0; r < reps; r++) {
			nat[r] = run(t, iov, n, PMADV_METHOD_SYSCALL, NULL);
			fast[r] = run(t, iov, n, PMADV_METHOD_PTRACE, NULL);
			loop[r] = run(t, iov, n, PMADV_METHOD_PTRACE, "loop");
			each[r] = run(t, iov, n, PMADV_METHOD_PTRACE, "0");
		}
		{
			double mn = bench_median(nat, reps), mf = bench_median(fast, reps);
			double ml = bench_median(loop, reps), me = bench_median(each, reps);

			printf("| %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | "
			       "%.0f | %.2fx |\n",
			       n, mn, mf, mf / mn, ml, ml / mn, me, me / mn);
		}
	}
	pmadv_close(t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}
