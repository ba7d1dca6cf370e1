/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Timing and medians for the benchmark programs (tests/bench, and the VM's
 * guest/t_bench.c, which is linked statically: hence a header of static
 * functions rather than a library).
 */
#ifndef PMTEST_BENCHSTAT_H
#define PMTEST_BENCHSTAT_H

#include <stdlib.h>
#include <time.h>

static inline double bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place. */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* PMTEST_BENCHSTAT_H */
