// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Benchmark inside the VM: MADV_COLD over N one-page VMAs of a child,
 * through pmadv_advise restricted to the native rung (process_madvise) and
 * to the ioctl rung, and through the raw syscall and raw ioctl in batches
 * of 1024. Runs interleave, medians are reported with the ratio
 * ioctl/native (the target is <= 1.1). Prints a table; fails only when a
 * call fails. Under TCG the absolute times are not a real machine's; the
 * ratio is what to read.
 *
 * Usage: t_bench [REPEATS]   (N = 1024 and 4096)
 */
#include <time.h>

#include "procmadvise.h"
#include "vmtest.h"
#include "benchstat.h"

#define PAGE 4096UL
#define BATCH 1024

struct layout {
	char *base;
	size_t n;
};

static void touch_every_other(void *arg)
{
	struct layout *l = arg;
	size_t i;

	for (i = 0; i < l->n; i++)
		l->base[2 * i * PAGE] = (char)i;
}

static int lib_run(struct pmadv_target *t, const struct iovec *v, size_t n,
		   unsigned method)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result res;

	o.methods = method;
	return pmadv_advise(t, v, n, MADV_COLD, &o, &res) == (ssize_t)(n * PAGE) &&
	       res.method == method ? 0 : -1;
}

static int raw_syscall(int pidfd, const struct iovec *v, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = n - i < BATCH ? n - i : BATCH;
		if (pmadv_process_madvise(pidfd, v + i, k, MADV_COLD, 0) !=
		    (ssize_t)(k * PAGE))
			return -1;
	}
	return 0;
}

static int raw_ioctl(int fd, int pidfd, const struct iovec *v, size_t n)
{
	struct procmadvise_req r;
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = n - i < BATCH ? n - i : BATCH;
		vt_req(&r, pidfd, 0, v + i, (unsigned)k, MADV_COLD);
		if (vt_ioctl(fd, &r) || r.bytes != k * PAGE)
			return -1;
	}
	return 0;
}

static void bench(size_t n, int reps, int dev)
{
	struct layout l;
	struct vt_target t;
	struct pmadv_target *pt;
	struct iovec *v = calloc(n, sizeof(*v));
	double *s[4];
	size_t i;
	int r, m, bad = 0;

	l.n = n;
	l.base = mmap(NULL, 2 * n * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!v || l.base == MAP_FAILED)
		vt_die("allocate");
	/* Holes between the pages keep the VMAs from merging. */
	for (i = 0; i < n; i++) {
		munmap(l.base + (2 * i + 1) * PAGE, PAGE);
		v[i].iov_base = l.base + 2 * i * PAGE;
		v[i].iov_len = PAGE;
	}
	t = vt_spawn(touch_every_other, &l);
	if (pmadv_open(t.pid, 0, &pt) < 0)
		vt_die("pmadv_open");
	for (m = 0; m < 4; m++)
		s[m] = calloc((size_t)reps, sizeof(double));
	for (r = 0; r < reps; r++) {
		/* Rotate the order so no method always runs first. */
		for (m = 0; m < 4; m++) {
			int which = (m + r) % 4, ret = 0;
			double t0 = bench_now_us();

			switch (which) {
			case 0: ret = lib_run(pt, v, n, PMADV_METHOD_SYSCALL); break;
			case 1: ret = lib_run(pt, v, n, PMADV_METHOD_IOCTL); break;
			case 2: ret = raw_syscall(t.pidfd, v, n); break;
			case 3: ret = raw_ioctl(dev, t.pidfd, v, n); break;
			}
			s[which][r] = bench_now_us() - t0;
			bad += ret != 0;
		}
	}
	{
		double lib_n = bench_median(s[0], reps), lib_i = bench_median(s[1], reps);
		double raw_n = bench_median(s[2], reps), raw_i = bench_median(s[3], reps);

		printf("BENCH n=%zu reps=%d native_lib_us=%.0f ioctl_lib_us=%.0f "
		       "ratio_lib=%.3f native_raw_us=%.0f ioctl_raw_us=%.0f "
		       "ratio_raw=%.3f\n", n, reps, lib_n, lib_i, lib_i / lib_n,
		       raw_n, raw_i, raw_i / raw_n);
	}
	CHECK(bad == 0, "n=%zu: %d runs failed", n, bad);
	for (m = 0; m < 4; m++)
		free(s[m]);
	pmadv_close(pt);
	vt_kill(&t);
	munmap(l.base, 2 * n * PAGE);
	free(v);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 11;
	int dev = vt_open_dev(O_RDWR);

	if (dev < 0) {
		fprintf(stderr, "open %s: %s\n", VT_DEV, strerror(-dev));
		return 1;
	}
	bench(1024, reps, dev);
	bench(4096, reps, dev);
	close(dev);
	return vt_finish("bench");
}
