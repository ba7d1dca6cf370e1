// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_advise against the real kernel: each test advises a forked target and
 * checks the effect on its memory (Referenced in smaps, Rss and Swap in
 * smaps_rollup, page-cache residency with mincore), not only return values.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <cmocka.h>

#include "internal.h"
#include "allocount.h"
#include "pmtest.h"

#define PAGE 4096UL
#define MiB (1024UL * 1024)

static void *map_anon(size_t len, int extra)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* A private anonymous VMA of exactly len bytes: PROT_NONE guard pages on
 * both sides keep it from merging with its neighbours, so its smaps entry
 * speaks of it alone. */
static void *map_isolated(size_t len)
{
	char *p = mmap(NULL, len + 2 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p + PAGE, len, PROT_READ | PROT_WRITE), 0);
	return p + PAGE;
}

/* n VMAs of size bytes each, separated by PROT_NONE pages so that no two
 * neighbours merge; the area is 2 * n * size bytes. */
static struct iovec *map_separate(size_t n, size_t size, void **area)
{
	char *base = mmap(NULL, 2 * n * size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct iovec *v = calloc(n, sizeof(*v));

	assert_true(base != MAP_FAILED);
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(mprotect(base + 2 * i * size, size,
					  PROT_READ | PROT_WRITE), 0);
		v[i].iov_base = base + 2 * i * size;
		v[i].iov_len = size;
	}
	*area = base;
	return v;
}

static struct iovec *map_separate_pages(size_t n, void **area)
{
	return map_separate(n, PAGE, area);
}

/* A child that writes every page of v. */
static int spawn_on(struct pmtest_child *c, const struct iovec *v, size_t n,
		    pmtest_step_fn step, void *arg)
{
	void **b = malloc(n * sizeof(*b));
	size_t *l = malloc(n * sizeof(*l));
	int ret;

	assert_true(b && l);
	for (size_t i = 0; i < n; i++) {
		b[i] = v[i].iov_base;
		l[i] = v[i].iov_len;
	}
	ret = pmtest_spawn(c, b, l, n, step, arg);
	free(b);
	free(l);
	return ret;
}

static long referenced_total(pid_t pid)
{
	return pmtest_rollup_kb(pid, "Referenced");
}

static void test_cold_drops_referenced(void **state)
{
	size_t len = 16 * MiB;
	void *p = map_isolated(len);
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v = { p, len };
	long before, after;

	(void)state;
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, NULL, NULL), 0);
	munmap(p, len);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	before = pmtest_vma_kb(c.pid, p, "Referenced");
	assert_true(before >= 16 * 1024 - 64);
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_COLD, NULL, &r), (ssize_t)len);
	assert_int_equal(r.method, PMADV_METHOD_SYSCALL);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.calls, 1);
	after = pmtest_vma_kb(c.pid, p, "Referenced");
	assert_true(after >= 0 && after < before / 16);
	assert_int_equal(pmtest_vma_kb(c.pid, p, "Rss"), 16 * 1024);
	pmadv_close(t);
	pmtest_reap(&c);
}

/* Swap for a test that pages out kb: the host's where it has room, else
 * a zram device of the test's own, to pass to pmtest_zram_off (-1: the
 * host's). Skips (fails under CI) when there is neither. */
static int swap_for(long kb)
{
	int zram = pmtest_swap_for(kb, "256M");

	pmtest_require(zram >= -1, "no zram device for swap");
	return zram;
}

static void test_pageout_anon_to_zram(void **state)
{
	size_t len = 64 * MiB;
	void *p = map_anon(len, 0);
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v = { p, len };
	long rss0, swap0, rss1, swap1;
	int zram = -1;

	(void)state;
	pmtest_require_root();
	zram = swap_for(80 * 1024);
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, NULL, NULL), 0);
	munmap(p, len);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	rss0 = pmtest_rollup_kb(c.pid, "Rss");
	swap0 = pmtest_rollup_kb(c.pid, "Swap");
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_PAGEOUT, NULL, &r), (ssize_t)len);
	rss1 = pmtest_rollup_kb(c.pid, "Rss");
	swap1 = pmtest_rollup_kb(c.pid, "Swap");
	print_message("Rss %ld -> %ld kB, Swap %ld -> %ld kB\n", rss0, rss1,
		      swap0, swap1);
	assert_true(rss0 - rss1 >= 60 * 1024);
	assert_true(swap1 - swap0 >= 60 * 1024);
	/* The target still reads its own data back from swap. */
	assert_int_equal(pmtest_poke(&c), 0);
	pmadv_close(t);
	pmtest_reap(&c);
	pmtest_zram_off(zram);
}

struct file_target {
	char *p;
	size_t len;
};

static void touch_file(void *arg)
{
	struct file_target *f = arg;
	volatile char sum = 0;

	for (size_t off = 0; off < f->len; off += PAGE)
		sum += f->p[off];
	(void)sum;
}

static long wait_resident(void *addr, size_t len, long at_least)
{
	long n = 0;

	for (int i = 0; i < 300; i++) {
		n = pmtest_resident_pages(addr, len);
		if (n >= at_least)
			break;
		usleep(10000);
	}
	return n;
}

static void test_file_willneed_and_pageout(void **state)
{
	size_t len = 8 * MiB, pages = len / PAGE;
	int fd = pmtest_cold_file(len);
	struct file_target f = { .len = len };
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v;
	char *mine;

	(void)state;
	assert_true(fd >= 0);
	f.p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	mine = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(f.p != MAP_FAILED && mine != MAP_FAILED);
	assert_int_equal(pmtest_spawn(&c, NULL, NULL, 0, touch_file, &f), 0);
	assert_true(pmtest_resident_pages(mine, len) < (long)pages / 8);
	v.iov_base = f.p;
	v.iov_len = len;
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);

	/* WILLNEED from outside reads the file in. */
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_WILLNEED, NULL, &r), (ssize_t)len);
	assert_true(wait_resident(mine, len, (long)pages * 9 / 10) >= (long)pages * 9 / 10);

	/* PAGEOUT reclaims what the target has mapped. */
	assert_int_equal(pmtest_poke(&c), 0);
	assert_true(pmtest_vma_kb(c.pid, f.p, "Rss") >= (long)(len / 1024) * 9 / 10);
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_PAGEOUT, NULL, &r), (ssize_t)len);
	assert_true(pmtest_resident_pages(mine, len) < (long)pages / 10);
	assert_true(pmtest_vma_kb(c.pid, f.p, "Rss") < (long)(len / 1024) / 10);

	pmadv_close(t);
	pmtest_reap(&c);
	munmap(f.p, len);
	munmap(mine, len);
	close(fd);
}

static void test_five_gib_exact(void **state)
{
	size_t len = 5UL << 30;
	void *p = map_anon(len, MAP_NORESERVE);
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v = { p, len };

	(void)state;
	assert_int_equal(pmtest_spawn(&c, NULL, NULL, 0, NULL, NULL), 0);
	munmap(p, len);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_COLD, NULL, &r), (ssize_t)len);
	assert_int_equal(r.bytes, len);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.calls, 3);
	assert_int_equal(r.failed, SIZE_MAX);
	pmadv_close(t);
	pmtest_reap(&c);
}

static void test_five_thousand_vmas(void **state)
{
	size_t n = 5000;
	void *area;
	struct iovec *v = map_separate_pages(n, &area);
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_result r;
	long before, after;

	(void)state;
	assert_int_equal(spawn_on(&c, v, n, NULL, NULL), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	before = referenced_total(c.pid);
	assert_int_equal(pmadv_advise(t, v, n, MADV_COLD, NULL, &r), (ssize_t)(n * PAGE));
	after = referenced_total(c.pid);
	assert_int_equal(r.done, n);
	assert_int_equal(r.calls, 5);
	print_message("Referenced %ld -> %ld kB\n", before, after);
	assert_true(before - after >= (long)(n * 4) * 9 / 10);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(area, 2 * n * PAGE);
	free(v);
}

/* COLD leaves alone the few pages still waiting in a CPU's LRU batch:
 * regions of 64 pages make that noise small next to the effect. */
#define REGION (64 * PAGE)
#define REGION_KB ((long)(REGION / 1024))

/* Three regions A, B, C in *v: A and C mapped in a child, a hole where B
 * was, all of A and C referenced. */
static struct iovec *spawn_with_hole(void **area, struct pmtest_child *c,
				     struct pmadv_target **t)
{
	struct iovec *v = map_separate(3, REGION, area);
	struct iovec a_c[2] = { v[0], v[2] };

	munmap(v[1].iov_base, REGION);
	assert_int_equal(spawn_on(c, a_c, 2, NULL, NULL), 0);
	assert_int_equal(pmadv_open(c->pid, 0, t), 0);
	return v;
}

/* vec (3 elements over spawn_with_hole's v) under PMADV_F_CONTINUE:
 * want bytes, element 1 (the hole) failed with ENOMEM, C advised; then
 * the child, the handle and the regions go. */
static void continue_past_hole(struct pmadv_target *t, struct pmtest_child *c,
			       struct iovec *v, const struct iovec *vec,
			       ssize_t want, void *area)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	int errs[3];

	o.flags = PMADV_F_CONTINUE;
	o.errors = errs;
	assert_int_equal(pmadv_advise(t, vec, 3, MADV_COLD, &o, &r), want);
	assert_int_equal(r.done, 2);
	assert_int_equal(r.nfailed, 1);
	assert_int_equal(r.failed, 1);
	assert_int_equal(errs[0], 0);
	assert_int_equal(errs[1], ENOMEM);
	assert_int_equal(errs[2], 0);
	assert_true(pmtest_vma_kb(c->pid, v[2].iov_base, "Referenced") < REGION_KB / 2);
	pmadv_close(t);
	pmtest_reap(c);
	munmap(area, 6 * REGION);
	free(v);
}

static void test_partial_progress(void **state)
{
	void *area;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct iovec *v = spawn_with_hole(&area, &c, &t);
	struct pmadv_result r;

	(void)state;
	assert_int_equal(pmtest_vma_kb(c.pid, v[0].iov_base, "Referenced"), REGION_KB);
	assert_int_equal(pmtest_vma_kb(c.pid, v[2].iov_base, "Referenced"), REGION_KB);

	assert_int_equal(pmadv_advise(t, v, 3, MADV_COLD, NULL, &r), -ENOMEM);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.error, ENOMEM);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.bytes, REGION);
	assert_int_equal(r.method, PMADV_METHOD_SYSCALL);
	/* A advised, C untouched: the kernel stopped at the hole. */
	assert_true(pmtest_vma_kb(c.pid, v[0].iov_base, "Referenced") < REGION_KB / 2);
	assert_int_equal(pmtest_vma_kb(c.pid, v[2].iov_base, "Referenced"), REGION_KB);

	continue_past_hole(t, &c, v, v, 2 * REGION, area);
}

/* An element of no length before a hole: the kernel fails the vector as
 * a whole, nothing advised, and the request went round forever asking
 * the empty element alone (a breaker's finding). */
static void test_zero_length_before_hole(void **state)
{
	void *area;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct iovec *v = spawn_with_hole(&area, &c, &t);
	struct iovec w[3];
	struct pmadv_result r;

	(void)state;
	w[0] = (struct iovec){ v[0].iov_base, 0 };
	w[1] = v[1];
	w[2] = v[2];
	assert_int_equal(pmadv_advise(t, w, 3, MADV_COLD, NULL, &r), -ENOMEM);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.error, ENOMEM);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.bytes, 0);
	assert_int_equal(pmtest_vma_kb(c.pid, v[2].iov_base, "Referenced"), REGION_KB);

	continue_past_hole(t, &c, v, w, REGION, area);
}

struct vanish {
	void *addr;
};

static void unmap_one(void *arg)
{
	struct vanish *w = arg;

	munmap(w->addr, PAGE);
}

static void test_vanished_vma_continue(void **state)
{
	size_t n = 2000;
	void *area;
	struct iovec *v = map_separate_pages(n, &area);
	struct vanish w;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	long before, after;

	(void)state;
	w.addr = v[1000].iov_base;
	assert_int_equal(spawn_on(&c, v, n, unmap_one, &w), 0);
	assert_int_equal(pmtest_poke(&c), 0); /* VMA 1000 vanishes */
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	before = referenced_total(c.pid);
	o.flags = PMADV_F_CONTINUE;
	assert_int_equal(pmadv_advise(t, v, n, MADV_COLD, &o, &r),
			 (ssize_t)((n - 1) * PAGE));
	after = referenced_total(c.pid);
	assert_int_equal(r.done, n - 1);
	assert_int_equal(r.failed, 1000);
	assert_int_equal(r.error, ENOMEM);
	assert_int_equal(r.nfailed, 1);
	assert_true(before - after >= (long)((n - 1) * 4) * 9 / 10);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(area, 2 * n * PAGE);
	free(v);
}

static void test_dead_target(void **state)
{
	char *p = map_anon(PAGE, 0);
	struct iovec v = { p, PAGE };
	struct pmadv_target *t, *t2;
	struct pmadv_result r;
	int pidfd;
	pid_t pid;

	(void)state;
	pid = fork();
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	pidfd = pmadv_pidfd_open(pid, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(pmadv_open_pidfd(pidfd, 0, &t2), 0);
	assert_int_equal(pmadv_target_pid(t2), pid);
	kill(pid, SIGKILL);
	/* A zombie has no memory left to advise: ESRCH, and the errors
	 * array left as it was, as pmadv_advise(3) promises for a target not
	 * found alive (0.1 filled it with ECANCELED); nor can it be held. */
	usleep(50000);
	{
		struct pmadv_opts o = PMADV_OPTS_INIT;
		struct pmadv_hold *h = NULL;
		int errs[1] = { 4242 };

		o.errors = errs;
		/* whichever method: the ptrace one finds no thread, the ioctl
		 * one is absent here, the syscall one gets ESRCH */
		static const unsigned int ms[] = {
			0, PMADV_METHOD_SYSCALL, PMADV_METHOD_IOCTL,
			PMADV_METHOD_PTRACE
		};

		for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
			o.methods = ms[i];
			assert_int_equal(pmadv_advise(t, &v, 1, MADV_COLD, &o,
						      &r),
					 -ESRCH);
			assert_int_equal(errs[0], 4242);
		}
		o.methods = 0;
		assert_int_equal(pmadv_hold(t, PMADV_HOLD_SIGSTOP, 1000, &h),
				 -ESRCH);
		assert_null(h);
	}
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_COLD, NULL, &r), -ESRCH);
	waitpid(pid, NULL, 0);
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_COLD, NULL, &r), -ESRCH);
	assert_int_equal(r.error, ESRCH);
	assert_int_equal(r.done, 0);
	assert_int_equal(pmadv_advise(t2, &v, 1, MADV_COLD, NULL, &r), -ESRCH);
	pmadv_close(t2);
	assert_int_equal(pmadv_open_pidfd(pidfd, 0, &t2), -ESRCH);
	assert_int_equal(pmadv_open(pid, 0, &t2), -ESRCH);
	assert_int_equal(pmadv_open_pidfd(0, 0, &t2), -EBADF);
	close(pidfd);
	pmadv_close(t);
	munmap(p, PAGE);
}

static void *idle(void *arg)
{
	pid_t *tid = arg;

	__atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	pause();
	return NULL;
}

/* A pidfd of one thread that is not the main one (PIDFD_THREAD, 6.9+) is
 * refused by pmadv_open_pidfd as pmadv_open refuses the thread ID. */
static void test_thread_pidfd(void **state)
{
	struct pmadv_target *t = NULL;
	pthread_t th;
	pid_t tid = 0;
	int fd;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, idle, &tid), 0);
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	assert_int_equal(pmadv_open(tid, 0, &t), -EINVAL);
	fd = (int)syscall(SYS_pidfd_open, tid, O_EXCL /* PIDFD_THREAD */);
	print_message("PIDFD_THREAD: %s\n",
		      fd >= 0 ? "present" : "unavailable on this kernel");
	if (fd >= 0) {
		assert_int_equal(pmadv_open_pidfd(fd, 0, &t), -EINVAL);
		assert_null(t);
		close(fd);
	}
	pthread_cancel(th);
	pthread_join(th, NULL);
}

/*
 * A pidfd of a process outside the caller's PID namespace (passed into a
 * container): alive, but with no /proc/PID there. pmadv_open_pidfd says
 * EXDEV, not ESRCH, which would mean it exited. Root only (unshare).
 */
static void test_pidfd_other_pidns(void **state)
{
	int fd, st;
	pid_t outer;

	(void)state;
	pmtest_require(geteuid() == 0, "needs root (CLONE_NEWPID)");
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	assert_true(fd >= 0);
	/* in a child, so that this process's later children stay in its
	 * namespace */
	outer = fork();
	if (outer == 0) {
		pid_t inner;

		if (unshare(CLONE_NEWPID))
			_exit(2);
		inner = fork(); /* PID 1 of a namespace that cannot see us */
		if (inner == 0) {
			struct pmadv_target *t = NULL;
			int ret;

			/* its own /proc, so fdinfo speaks for its namespace */
			if (unshare(CLONE_NEWNS) ||
			    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
			    mount("proc", "/proc", "proc", 0, NULL))
				_exit(3);
			ret = pmadv_open_pidfd(fd, 0, &t);
			_exit(ret == -EXDEV && !t ? 0 : 10 + (-ret & 0x3f));
		}
		if (inner < 0 || waitpid(inner, &st, 0) != inner ||
		    !WIFEXITED(st))
			_exit(4);
		_exit(WEXITSTATUS(st));
	}
	assert_true(outer > 0);
	assert_int_equal(waitpid(outer, &st, 0), outer);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(fd);
}

static long enosys_pidfd_open(pid_t pid, unsigned int flags)
{
	(void)pid, (void)flags;
	errno = ENOSYS;
	return -1;
}

static void pid_reuse(bool with_pidfd)
{
	size_t len = PAGE * 64;
	void *p = map_isolated(len);
	struct pmtest_child a, b;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v = { p, len };
	struct pmadv_sys fake = pmadv_sys_kernel;

	fake.pidfd_open = enosys_pidfd_open;
	assert_int_equal(pmtest_spawn(&a, &p, &len, 1, NULL, NULL), 0);
	if (!with_pidfd)
		pmadv_sys = &fake;
	assert_int_equal(pmadv_open(a.pid, 0, &t), 0);
	pmadv_sys = &pmadv_sys_kernel;
	assert_int_equal(pmadv_target_pidfd(t) >= 0, with_pidfd);
	pmtest_reap(&a);
	/* Start times count clock ticks: a PID reused within the same tick is
	 * the one case the fallback cannot tell apart (see NOTES in
	 * pmadv_open(3)). */
	if (!with_pidfd)
		usleep(30000);
	assert_int_equal(pmtest_spawn_as(pmadv_target_pid(t), &b, p, len),
			 pmadv_target_pid(t));
	assert_int_equal(pmtest_vma_kb(b.pid, p, "Referenced"), 256);
	/* The handle names the old process: the stranger is left alone, and
	 * no method's forecast is about it (0.1's ptrace forecast was). */
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_COLD, NULL, &r), -ESRCH);
	assert_int_equal(pmtest_vma_kb(b.pid, p, "Referenced"), 256);
	for (unsigned int m = 1; m & PMADV_METHOD_ALL; m <<= 1) {
		char why[256];

		assert_int_equal(pmadv_diagnose(t, MADV_COLD, m, why,
						sizeof(why)),
				 -ESRCH);
	}
	pmadv_close(t);
	pmtest_reap(&b);
	munmap(p, len);
}

static void test_pid_reuse(void **state)
{
	(void)state;
	pmtest_require_root();
	pid_reuse(true);
	pid_reuse(false);
}

struct seccomp_case {
	int err;
	bool fresh_probe; /* forget the probe our parent cached */
	bool ioctl_up;    /* the procmadvise module is loaded (the VM) */
	pid_t target;
	void *p;
	size_t len;
};

/* Exit status 0 when the ladder left the syscall rung for the reason the
 * filter gave and said so on stderr. */
static int seccomp_caller(void *arg)
{
	struct seccomp_case *sc = arg;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v = { sc->p, sc->len };
	char log[] = "/tmp/pmadv-seccomp-XXXXXX", buf[4096];
	int fd = mkstemp(log);
	ssize_t n, ret;

	if (fd < 0 || pmadv_open(sc->target, 0, &t))
		return 10;
	unlink(log);
	if (pmtest_seccomp_errno(SYS_process_madvise, sc->err, false, 0))
		return 11;
	if (sc->fresh_probe)
		pmadv_reset_probes();
	dup2(fd, 2);
	setenv("PMADV_DEBUG", "1", 1);
	/* The module is absent on this host; leave the ptrace rung out so the
	 * verdict is the ladder's alone. */
	o.methods = PMADV_METHOD_SYSCALL | PMADV_METHOD_IOCTL;
	ret = pmadv_advise(t, &v, 1, MADV_COLD, &o, &r);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return 12;
	buf[n] = '\0';
	/* Per machine: where the procmadvise module is loaded (the 6.1 guest
	 * of tests/vm), the ladder goes on to the ioctl rung, which serves;
	 * where it is absent (the host), the syscall rung's refusal stands. */
	if (sc->ioctl_up ? ret != (ssize_t)sc->len || r.method != PMADV_METHOD_IOCTL
			 : ret != (sc->err == ENOSYS ? -ENOSYS : -EPERM) || r.method)
		return 13;
	if (sc->fresh_probe && sc->err == ENOSYS) {
		/* The availability probe itself sees ENOSYS. */
		if (!strstr(buf, "syscall: unavailable"))
			return 14;
	} else if (!strstr(buf, sc->err == ENOSYS ? "syscall: ENOSYS"
						  : "syscall: EPERM") ||
		   !strstr(buf, "next rung")) {
		return 15;
	}
	if (!strstr(buf, sc->ioctl_up ? "ioctl: trying cold" : "ioctl: unavailable"))
		return 16;
	return 0;
}

static void test_seccomp_fallback(void **state)
{
	size_t len = 64 * PAGE;
	void *p = map_isolated(len);
	struct pmtest_child c;
	struct seccomp_case sc = { .p = p, .len = len };

	(void)state;
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, NULL, NULL), 0);
	sc.target = c.pid;
	/* Probed here first: in a child that keeps this cache, the refusal
	 * comes from the advising call itself. */
	assert_int_equal(pmadv_rung_available(&pmadv_rung_syscall), 0);
	/* Feature detection, not uname: is the module's device usable? */
	sc.ioctl_up = pmadv_rung_available(&pmadv_rung_ioctl) == 0;
	for (int fresh = 0; fresh < 2; fresh++) {
		sc.fresh_probe = fresh;
		sc.err = ENOSYS;
		assert_int_equal(pmtest_in_child(seccomp_caller, &sc), 0);
		sc.err = EPERM;
		assert_int_equal(pmtest_in_child(seccomp_caller, &sc), 0);
	}
	/* Nothing reached the target, unless the ioctl rung served. */
	if (sc.ioctl_up)
		assert_true(pmtest_vma_kb(c.pid, p, "Referenced") < 256 / 2);
	else
		assert_int_equal(pmtest_vma_kb(c.pid, p, "Referenced"), 256);
	pmtest_reap(&c);
	munmap(p, len);
}

struct unpriv_case {
	pid_t root_target;
	void *p;
	size_t len;
};

static int drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return -1;
	/* setuid cleared dumpable: restore it, or our own children would
	 * answer EACCES instead of the EPERM under test. */
	return prctl(PR_SET_DUMPABLE, 1);
}

static int unpriv_caller(void *arg)
{
	struct unpriv_case *u = arg;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	struct pmadv_result r;
	struct iovec v = { u->p, u->len };
	struct pmtest_child own;
	char msg[256];
	int ret = 0;

	if (drop_to_nobody())
		return 20;
	o.methods = PMADV_METHOD_SYSCALL;
	/* Root's process: the access check fails: EACCES, ladder ends. */
	if (pmadv_open(u->root_target, 0, &t))
		return 21;
	if (pmadv_advise(t, &v, 1, MADV_COLD, &o, &r) != -EACCES)
		return 22;
	if (pmadv_diagnose(t, MADV_COLD, PMADV_METHOD_SYSCALL, msg,
			   sizeof(msg)) != -EACCES || !strstr(msg, "may not inspect"))
		return 23;
	pmadv_close(t);
	/* Our own process: access is fine, CAP_SYS_NICE is missing: EPERM. */
	if (pmtest_spawn(&own, &u->p, &u->len, 1, NULL, NULL) ||
	    pmadv_open(own.pid, 0, &t))
		return 24;
	if (pmadv_advise(t, &v, 1, MADV_COLD, &o, &r) != -EPERM)
		ret = 25;
	else if (pmadv_diagnose(t, MADV_COLD, PMADV_METHOD_SYSCALL, msg,
				sizeof(msg)) != -EPERM || !strstr(msg, "CAP_SYS_NICE"))
		ret = 26;
	else if (pmtest_vma_kb(own.pid, u->p, "Referenced") != (long)(u->len / 1024))
		ret = 27;
	pmadv_close(t);
	pmtest_reap(&own);
	return ret;
}

static void test_eperm_vs_eacces(void **state)
{
	size_t len = 16 * PAGE;
	void *p = map_isolated(len);
	struct pmtest_child c;
	struct unpriv_case u = { .p = p, .len = len };

	(void)state;
	pmtest_require_root();
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, NULL, NULL), 0);
	u.root_target = c.pid;
	assert_int_equal(pmtest_in_child(unpriv_caller, &u), 0);
	assert_int_equal(pmtest_vma_kb(c.pid, p, "Referenced"), (long)(len / 1024));
	pmtest_reap(&c);
	munmap(p, len);
}

static void test_diagnose(void **state)
{
	struct pmtest_child c;
	struct pmadv_target *t;
	char msg[256];

	(void)state;
	pmtest_require_root();
	assert_int_equal(pmtest_spawn(&c, NULL, NULL, 0, NULL, NULL), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	assert_int_equal(pmadv_diagnose(t, MADV_COLD, PMADV_METHOD_SYSCALL, msg,
					sizeof(msg)), 0);
	assert_non_null(strstr(msg, "accepts cold"));
	/* Remote DONTNEED is refused by every kernel so far. */
	assert_int_equal(pmadv_diagnose(t, MADV_DONTNEED, PMADV_METHOD_SYSCALL,
					msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "does not accept dontneed"));
	assert_int_equal(pmadv_diagnose(t, MADV_COLD, 3, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(pmadv_diagnose(t, 999, PMADV_METHOD_SYSCALL, msg, sizeof(msg)),
			 -EINVAL);
	pmadv_close(t);
	pmtest_reap(&c);
}

static void test_wrappers(void **state)
{
	struct pmtest_child c;
	struct iovec v = { NULL, 0 };
	int pidfd;

	(void)state;
	assert_int_equal(pmtest_spawn(&c, NULL, NULL, 0, NULL, NULL), 0);
	pidfd = pmadv_pidfd_open(c.pid, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(pmadv_process_madvise(pidfd, &v, 0, MADV_COLD, 0), 0);
	errno = 0;
	assert_int_equal(pmadv_process_madvise(pidfd, &v, 0, MADV_COLD, 1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(pmadv_process_madvise(0, &v, 0, MADV_COLD, 0), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(pmadv_pidfd_open(-1, 0), -1);
	assert_int_equal(errno, EINVAL);
	close(pidfd);
	pmtest_reap(&c);
}

struct canceller {
	int flag;
	struct pmtest_child *c;
	long referenced;
};

/* Sets the flag once the advice has visibly begun in the target. */
static void *cancel_soon(void *arg)
{
	struct canceller *k = arg;

	for (int i = 0; i < 100000; i++) {
		if (referenced_total(k->c->pid) < k->referenced - 64)
			break;
		usleep(100);
	}
	__atomic_store_n(&k->flag, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_cancel_from_another_thread(void **state)
{
	size_t n = 30000;
	void *area;
	struct iovec *v = map_separate_pages(n, &area);
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct canceller k = { 0 };
	pthread_t th;
	ssize_t ret;

	(void)state;
	assert_int_equal(spawn_on(&c, v, n, NULL, NULL), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	k.c = &c;
	k.referenced = referenced_total(c.pid);
	o.cancel = &k.flag;
	assert_int_equal(pthread_create(&th, NULL, cancel_soon, &k), 0);
	/* Advise the same vector until the flag stops one pass part-way. */
	do
		ret = pmadv_advise(t, v, n, MADV_COLD, &o, &r);
	while (ret >= 0 && !__atomic_load_n(&k.flag, __ATOMIC_ACQUIRE));
	pthread_join(th, NULL);
	if (ret >= 0) /* the flag came after the last pass: one more */
		ret = pmadv_advise(t, v, n, MADV_COLD, &o, &r);
	assert_int_equal(ret, -ECANCELED);
	assert_int_equal(r.error, ECANCELED);
	assert_int_equal(r.done % 1024, 0); /* stopped between calls */
	assert_true(r.done < n);
	assert_int_equal(r.bytes, r.done * PAGE);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(area, 2 * n * PAGE);
	free(v);
}

static void test_no_allocation(void **state)
{
	size_t n = 3000;
	void *area;
	struct iovec *v = map_separate_pages(n, &area);
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct vanish w;
	int errs[3000];
	ssize_t ret;

	(void)state;
	/* One vanished VMA takes the error path too: errno recovery. */
	w.addr = v[7].iov_base;
	assert_int_equal(spawn_on(&c, v, n, unmap_one, &w), 0);
	assert_int_equal(pmtest_poke(&c), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	o.flags = PMADV_F_CONTINUE;
	o.errors = errs;
	counting = 1;
	allocations = 0;
	ret = pmadv_advise(t, v, n, MADV_COLD, &o, &r);
	counting = 0;
	assert_int_equal(ret, (ssize_t)((n - 1) * PAGE));
	assert_int_equal(r.done, n - 1);
	assert_int_equal(r.failed, 7);
	assert_int_equal(allocations, 0);
	/* The count is real: an allocation in its window is seen. */
	counting = 1;
	free(malloc(16));
	counting = 0;
	assert_int_equal(allocations, 1);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(area, 2 * n * PAGE);
	free(v);
}

/* ---- pmadv_residency ---- */


/* Whether this kernel answers PAGEMAP_SCAN: tried, not assumed. */
static bool kernel_has_scan(void)
{
	uint64_t arg[12] = { sizeof(arg) };
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok;

	assert_true(fd >= 0);
	arg[2] = (uintptr_t)&arg & ~(PAGE - 1); /* start */
	arg[3] = arg[2] + PAGE;                 /* end */
	ok = ioctl(fd, PMTEST_PAGEMAP_SCAN, arg) >= 0;
	close(fd);
	return ok;
}

/* The target's own view, written into memory it shares with the test:
 * mincore per range, and pages whose data it did not find as written. */
struct res_view {
	long pages[4];
	long bad;
};

struct res_layout {
	struct iovec v[4]; /* anon written, shared file written, anon never
			    * touched, THP-eligible anon written */
	bool wrote[4];     /* by the target, which checks them */
	int fd;
	struct res_view *view;
};

static void res_look(void *arg)
{
	struct res_layout *l = arg;

	l->view->bad = 0;
	for (int i = 0; i < 4; i++) {
		l->view->pages[i] = pmtest_resident_pages(l->v[i].iov_base,
							  l->v[i].iov_len);
		if (!l->wrote[i])
			continue;
		for (size_t off = 0; off < l->v[i].iov_len; off += PAGE)
			if (((volatile char *)l->v[i].iov_base)[off] !=
			    (char)(off >> 12 | 1))
				l->view->bad++;
	}
}

static void res_layout_make(struct res_layout *l)
{
	void *p;

	l->v[0] = (struct iovec){ map_isolated(16 * MiB), 16 * MiB };
	l->fd = pmtest_cold_file(8 * MiB);
	assert_true(l->fd >= 0);
	p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
	assert_true(p != MAP_FAILED);
	l->v[1] = (struct iovec){ p, 8 * MiB };
	l->v[2] = (struct iovec){ map_isolated(4 * MiB), 4 * MiB };
	l->v[3] = (struct iovec){ map_isolated(8 * MiB), 8 * MiB };
	madvise(l->v[3].iov_base, 8 * MiB, MADV_HUGEPAGE); /* may fail: no THP */
	l->view = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(l->view != MAP_FAILED);
}

static void res_layout_free(struct res_layout *l)
{
	munmap(l->v[0].iov_base, l->v[0].iov_len);
	munmap(l->v[1].iov_base, l->v[1].iov_len);
	munmap(l->v[2].iov_base, l->v[2].iov_len);
	munmap(l->v[3].iov_base, l->v[3].iov_len);
	munmap(l->view, PAGE);
	close(l->fd);
}

static int res_spawn(struct pmtest_child *c, struct res_layout *l)
{
	struct iovec w[3] = { l->v[0], l->v[1], l->v[3] };

	l->wrote[0] = l->wrote[1] = l->wrote[3] = true;
	l->wrote[2] = false;
	return spawn_on(c, w, 3, res_look, l);
}

static long kb_diff(uint64_t bytes, long kb)
{
	long d = (long)(bytes / 1024) - kb;

	return d < 0 ? -d : d;
}

/* The counts of each range against smaps (Rss, Swap, AnonHugePages of the
 * VMA, which is exactly the range) and the target's own mincore, within
 * one page; and one call over all four is the sum. 0 or a code. */
static int res_check(pid_t pid, struct res_layout *l, unsigned int method,
		     bool huge_known)
{
	struct pmadv_residency r, all, sum = { 0 };
	struct pmadv_target *t;

	if (pmadv_open(pid, 0, &t))
		return 30;
	for (int i = 0; i < 4; i++) {
		void *b = l->v[i].iov_base;
		long kb = PAGE / 1024;

		memset(&r, 0xa5, sizeof(r));
		if (pmadv_residency(t, &l->v[i], 1, &r, sizeof(r)))
			return 31;
		fprintf(stderr, "range %d: method %u flags %#x bytes %llu "
			"resident %llu swapped %llu file %llu anon %llu huge "
			"%llu; smaps Rss %ld Swap %ld AnonHugePages %ld kB; "
			"mincore %ld pages\n", i, r.method, r.flags,
			(unsigned long long)r.bytes,
			(unsigned long long)r.resident,
			(unsigned long long)r.swapped,
			(unsigned long long)r.file, (unsigned long long)r.anon,
			(unsigned long long)r.huge,
			pmtest_vma_kb(pid, b, "Rss"),
			pmtest_vma_kb(pid, b, "Swap"),
			pmtest_vma_kb(pid, b, "AnonHugePages"),
			l->view->pages[i]);
		if (r.method != method || r.bytes != l->v[i].iov_len)
			return 32;
		if (kb_diff(r.resident, pmtest_vma_kb(pid, b, "Rss")) > kb ||
		    kb_diff(r.swapped, pmtest_vma_kb(pid, b, "Swap")) > kb)
			return 33;
		if (labs((long)(r.resident / PAGE) - l->view->pages[i]) > 1)
			return 34;
		if (r.anon + r.file != r.resident ||
		    (i == 1 ? r.anon : r.file) != 0)
			return 35;
		if (huge_known != !(r.flags & PMADV_RESIDENCY_NOHUGE))
			return 36;
		if (huge_known &&
		    kb_diff(r.huge, pmtest_vma_kb(pid, b, "AnonHugePages") +
					    pmtest_vma_kb(pid, b, "FilePmdMapped")) > kb)
			return 37;
		sum.bytes += r.bytes;
		sum.resident += r.resident;
		sum.swapped += r.swapped;
	}
	if (pmadv_residency(t, l->v, 4, &all, sizeof(all)) ||
	    all.bytes != sum.bytes || all.resident != sum.resident ||
	    all.swapped != sum.swapped)
		return 38;
	pmadv_close(t);
	return 0;
}

struct res_case {
	struct res_layout *l;
	pid_t pid;
	bool nobody;
};

/* The pagemap method, as on a kernel before 6.7: the ioctl refused. */
static int res_check_pagemap(void *arg)
{
	struct res_case *rc = arg;

	if (pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
		return 20;
	return res_check(rc->pid, rc->l, PMADV_RESIDENCY_PAGEMAP, true);
}

/* Guard regions (MADV_GUARD_INSTALL, 6.13+) hold no page: they are
 * neither swapped nor resident, as smaps says, through PAGEMAP_SCAN
 * (PAGE_IS_GUARD, 6.16) and through the pagemap entries
 * (PM_GUARD_REGION, 6.15), issue 12 F1. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

struct res_self {
	char *m;
	unsigned int method;
};

/* The caller's own [m, m + len) through the method asked for (pagemap: the
 * ioctl refused by a filter, so in a child): 0 or a code 20..22. */
static int res_self_count(const struct res_self *g, size_t len,
			  struct pmadv_residency *r)
{
	struct iovec v = { g->m, len };
	struct pmadv_target *t;
	int ret = 0;

	if (g->method == PMADV_RESIDENCY_PAGEMAP &&
	    pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
		return 20;
	if (pmadv_open_self(0, &t))
		return 21;
	if (pmadv_residency(t, &v, 1, r, sizeof(*r)) || r->method != g->method)
		ret = 22;
	pmadv_close(t);
	return ret;
}

static int res_guard_check(void *arg)
{
	struct res_self *g = arg;
	struct pmadv_residency r;
	long rss = pmtest_vma_kb(getpid(), g->m, "Rss");
	long swap = pmtest_vma_kb(getpid(), g->m, "Swap");
	int ret = res_self_count(g, 64 * PAGE, &r);

	if (!ret && (r.swapped || swap || r.resident != 32 * PAGE ||
		     kb_diff(r.resident, rss) > 0))
		ret = 23;
	fprintf(stderr, "guard (method %u): resident %llu swapped %llu; smaps "
		"Rss %ld Swap %ld kB\n", g->method,
		(unsigned long long)r.resident, (unsigned long long)r.swapped,
		rss, swap);
	return ret;
}

static void test_residency_guard(void **state)
{
	struct res_self g;

	(void)state;
	g.m = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g.m != MAP_FAILED);
	madvise(g.m, 64 * PAGE, MADV_NOHUGEPAGE);
	memset(g.m, 1, 64 * PAGE);
	if (madvise(g.m, 32 * PAGE, MADV_GUARD_INSTALL)) {
		/* before 6.13 the kernel does not know the advice: what it
		 * says then, and nothing to count */
		int err = errno;

		munmap(g.m, 64 * PAGE);
		print_message("MADV_GUARD_INSTALL: unavailable on this kernel "
			      "(%s)\n", strerror(err));
		assert_int_equal(err, EINVAL);
		return;
	}
	g.method = PMADV_RESIDENCY_SCAN;
	assert_int_equal(pmtest_in_child(res_guard_check, &g), 0);
	g.method = PMADV_RESIDENCY_PAGEMAP;
	assert_int_equal(pmtest_in_child(res_guard_check, &g), 0);
	munmap(g.m, 64 * PAGE);
}

/* userfaultfd write-protect markers over pages never populated: no page,
 * swapped only where the swap type that tells them is hidden (without
 * CAP_SYS_ADMIN), as pmadv_residency(3) says (issue 12 F1). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif

static int res_uffd_check(void *arg)
{
	struct res_self *g = arg;
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_UNPOPULATED |
			    UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	struct uffdio_register rg = {
		.range = { (uintptr_t)g->m, 64 * PAGE },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { (uintptr_t)g->m, 64 * PAGE },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	struct pmadv_residency r;
	int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	int ret;

	/* EINVAL from the kernel: UFFD_USER_MODE_ONLY (5.11) or
	 * UFFD_FEATURE_WP_UNPOPULATED (6.4) unknown there: 77; any other
	 * refusal is a failure */
	if (ufd < 0 || ioctl(ufd, UFFDIO_API, &api))
		return errno == EINVAL ? 77 : 78;
	if (ioctl(ufd, UFFDIO_REGISTER, &rg) ||
	    ioctl(ufd, UFFDIO_WRITEPROTECT, &wp))
		return 79;
	ret = res_self_count(g, 64 * PAGE, &r);
	if (!ret && (r.resident != 32 * PAGE ||
		     pmtest_vma_kb(getpid(), g->m, "Swap") != 0 ||
		     r.swapped != (geteuid() ? 32 * PAGE : 0)))
		ret = 23;
	fprintf(stderr, "uffd-wp (method %u): resident %llu swapped %llu\n",
		g->method, (unsigned long long)r.resident,
		(unsigned long long)r.swapped);
	close(ufd);
	return ret;
}

static void test_residency_uffd_wp(void **state)
{
	struct res_self g;
	int a, b;

	(void)state;
	g.m = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g.m != MAP_FAILED);
	madvise(g.m, 64 * PAGE, MADV_NOHUGEPAGE);
	memset(g.m, 1, 32 * PAGE); /* the rest never populated */
	g.method = kernel_has_scan() ? PMADV_RESIDENCY_SCAN
				     : PMADV_RESIDENCY_PAGEMAP;
	a = pmtest_in_child(res_uffd_check, &g);
	g.method = PMADV_RESIDENCY_PAGEMAP;
	b = pmtest_in_child(res_uffd_check, &g);
	munmap(g.m, 64 * PAGE);
	if (a == 77) {
		print_message("uffd-wp of unpopulated memory: unavailable on "
			      "this kernel (userfaultfd answered EINVAL)\n");
		assert_int_equal(b, 77);
		return;
	}
	assert_int_equal(a, 0);
	assert_int_equal(b, 0);
}

/* The pagemap method over the whole user address space reads the VMAs'
 * entries only (issue 12 F10): 128 TiB took minutes at 8 bytes a page. */
/* The bytes of every VMA of this process, from /proc/self/maps. */
static unsigned long long mapped_bytes(void)
{
	unsigned long long lo, hi, sum = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &lo, &hi) == 2)
			sum += hi - lo;
	if (f)
		fclose(f);
	return sum;
}

/* The user address space every kernel here gives a process by default:
 * x86_64's 47 bits (128 TiB), arm64's 48 (256 TiB, Debian's VA_BITS). */
#ifdef __aarch64__
#define SPACE_BITS 48
#else
#define SPACE_BITS 47
#endif

static int res_space_check(void *arg)
{
	char *m = arg;
	struct iovec all = { (void *)(uintptr_t)PAGE,
			     (1ULL << SPACE_BITS) - 2 * PAGE };
	struct iovec two = { m, 64 * PAGE };
	struct pmadv_residency r;
	struct pmadv_target *t;
	struct timespec a, b;
	long rss;
	int ret = 0;

	if (pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
		return 20;
	count_allocations();
	if (pmadv_open_self(0, &t))
		return 21;
	clock_gettime(CLOCK_MONOTONIC, &a);
	counting = 1;
	allocations = 0;
	if (pmadv_residency(t, &all, 1, &r, sizeof(r)) ||
	    r.method != PMADV_RESIDENCY_PAGEMAP)
		ret = 22;
	counting = 0;
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (!ret && allocations)
		ret = 26; /* allocation-free, maps text included */
	rss = pmtest_rollup_kb(getpid(), "Rss");
	fprintf(stderr, "pagemap over %llu TiB: %.2f s, resident %llu, "
		"smaps_rollup Rss %ld kB\n", 1ULL << (SPACE_BITS - 40),
		(double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
		(unsigned long long)r.resident, rss);
	/* the cost follows what is mapped: bounded where that is small
	 * (ASan's shadow maps terabytes, read at 8 bytes a page) */
	if (!ret && b.tv_sec - a.tv_sec > 10 && mapped_bytes() < (64ULL << 30))
		ret = 23;
	/* within 10 % of Rss (the zero page counts here, and the
	 * process changes while it is counted) */
	if (!ret && (r.resident < 32 * PAGE ||
		     kb_diff(r.resident, rss) > rss / 10 + 64))
		ret = 24;
	/* one element over two VMAs and the hole between them */
	if (!ret && (pmadv_residency(t, &two, 1, &r, sizeof(r)) ||
		     r.resident != 48 * PAGE || r.bytes != 64 * PAGE))
		ret = 25;
	pmadv_close(t);
	return ret;
}

static void test_residency_pagemap_space(void **state)
{
	char *m;

	(void)state;
	m = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	madvise(m, 64 * PAGE, MADV_NOHUGEPAGE);
	memset(m, 1, 64 * PAGE);
	assert_int_equal(munmap(m + 16 * PAGE, 16 * PAGE), 0);
	assert_int_equal(pmtest_in_child(res_space_check, m), 0);
	munmap(m, 64 * PAGE);
}

/* hugetlb pages count as resident and huge, though smaps has them in
 * Private_Hugetlb/Shared_Hugetlb and not in Rss (issue 12 F11: the
 * documented choice), through both methods. */
static int res_hugetlb_check(void *arg)
{
	struct res_self *h = arg;
	struct pmadv_residency r;
	long rss = pmtest_vma_kb(getpid(), h->m, "Rss");
	long hp = pmtest_vma_kb(getpid(), h->m, "Private_Hugetlb") +
		  pmtest_vma_kb(getpid(), h->m, "Shared_Hugetlb");
	int ret = res_self_count(h, 4 * MiB, &r);

	if (ret)
		;
	else if (rss != 0 || kb_diff(r.resident, rss + hp) > 0 ||
		 r.anon != 4 * MiB || r.swapped)
		ret = 23;
	else if (!(r.flags & PMADV_RESIDENCY_NOHUGE) && r.huge != 4 * MiB)
		ret = 24;
	fprintf(stderr, "hugetlb (method %u): resident %llu huge %llu; smaps "
		"Rss %ld, *_Hugetlb %ld kB\n", h->method,
		(unsigned long long)r.resident, (unsigned long long)r.huge,
		rss, hp);
	return ret;
}

static void test_residency_hugetlb(void **state)
{
	const char *nr = "/proc/sys/vm/nr_hugepages";
	struct res_self h;
	long before = -1;
	FILE *f = fopen(nr, "r+");

	(void)state;
	/* two 2 MiB pages, reserved for the test when there are none */
	if (f && fscanf(f, "%ld", &before) == 1 && before < 2) {
		rewind(f);
		fprintf(f, "%ld\n", before + 2);
		fflush(f);
	}
	h.m = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (h.m != MAP_FAILED) {
		int a, b;

		memset(h.m, 1, 4 * MiB);
		/* before 6.7 the "scan" run counts through pagemap too */
		h.method = kernel_has_scan() ? PMADV_RESIDENCY_SCAN
					     : PMADV_RESIDENCY_PAGEMAP;
		a = pmtest_in_child(res_hugetlb_check, &h);
		h.method = PMADV_RESIDENCY_PAGEMAP;
		b = pmtest_in_child(res_hugetlb_check, &h);
		munmap(h.m, 4 * MiB);
		assert_int_equal(a, 0);
		assert_int_equal(b, 0);
	}
	if (f && before >= 0 && before < 2) {
		rewind(f);
		fprintf(f, "%ld\n", before);
	}
	if (f)
		fclose(f);
	if (h.m == MAP_FAILED)
		skip(); /* no hugetlb pages to be had */
}

static void test_residency_counts(void **state)
{
	struct res_layout l;
	struct res_case rc = { .l = &l };
	struct pmtest_child c;

	(void)state;
	pmtest_require_root();
	res_layout_make(&l);
	assert_int_equal(res_spawn(&c, &l), 0);
	assert_int_equal(pmtest_poke(&c), 0);
	assert_int_equal(l.view->bad, 0);
	/* The layout is what the test meant: touched, untouched, file. */
	assert_true(l.view->pages[0] == 16 * MiB / PAGE);
	assert_true(l.view->pages[1] == 8 * MiB / PAGE);
	assert_true(l.view->pages[2] == 0);
	/* as root, both methods see huge pages (the entries' page frames) */
	assert_int_equal(res_check(c.pid, &l, kernel_has_scan() ?
				   PMADV_RESIDENCY_SCAN : PMADV_RESIDENCY_PAGEMAP,
				   true), 0);
	rc.pid = c.pid;
	assert_int_equal(pmtest_in_child(res_check_pagemap, &rc), 0);
	pmtest_reap(&c);
	res_layout_free(&l);
}

/* A private file mapping whose first half the target wrote (anonymous
 * copies) and whose second half it read (page cache): file and anon as
 * smaps' Anonymous says, by both methods; and one range over three VMAs
 * (an anonymous one between PROT_NONE guards). */
struct res_mixed {
	char *file;   /* MAP_PRIVATE, 4 MiB */
	struct iovec span;
	void *anon;   /* 1 MiB isolated, written */
};

static void res_read_half(void *arg)
{
	struct res_mixed *m = arg;
	volatile char sum = 0;

	for (size_t off = 2 * MiB; off < 4 * MiB; off += PAGE)
		sum += m->file[off];
	(void)sum;
}

static int res_mixed_check(pid_t pid, const struct res_mixed *m,
			   unsigned int method)
{
	struct iovec f = { m->file, 4 * MiB };
	struct pmadv_residency r;
	struct pmadv_target *t;
	long anon_kb = pmtest_vma_kb(pid, m->file, "Anonymous");
	long rss_kb = pmtest_vma_kb(pid, m->file, "Rss");
	int ret = 0;

	if (pmadv_open(pid, 0, &t))
		return 50;
	if (pmadv_residency(t, &f, 1, &r, sizeof(r)) || r.method != method)
		ret = 51;
	else if (kb_diff(r.anon, anon_kb) > 4 ||
		 kb_diff(r.file, rss_kb - anon_kb) > 4 ||
		 r.anon < 2 * MiB || r.file < 2 * MiB - 16 * PAGE)
		ret = 52;
	fprintf(stderr, "private file (method %u): anon %llu file %llu; smaps "
		"Anonymous %ld Rss %ld kB\n", method,
		(unsigned long long)r.anon, (unsigned long long)r.file,
		anon_kb, rss_kb);
	if (!ret && (pmadv_residency(t, &m->span, 1, &r, sizeof(r)) ||
		     r.resident != 1 * MiB || r.anon != 1 * MiB ||
		     r.bytes != m->span.iov_len))
		ret = 53;
	pmadv_close(t);
	return ret;
}

struct res_mixed_case {
	struct res_mixed *m;
	pid_t pid;
};

static int res_mixed_pagemap(void *arg)
{
	struct res_mixed_case *mc = arg;

	if (pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
		return 20;
	return res_mixed_check(mc->pid, mc->m, PMADV_RESIDENCY_PAGEMAP);
}

static void test_residency_mixed(void **state)
{
	struct res_mixed m;
	struct res_mixed_case mc = { .m = &m };
	struct pmtest_child c;
	struct iovec w[2];
	int fd = pmtest_cold_file(4 * MiB);

	(void)state;
	pmtest_require_root();
	assert_true(fd >= 0);
	m.file = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	assert_true(m.file != MAP_FAILED);
	m.anon = map_isolated(1 * MiB);
	/* over the PROT_NONE guard VMAs on both sides: three VMAs */
	m.span.iov_base = (char *)m.anon - PAGE;
	m.span.iov_len = 1 * MiB + 2 * PAGE;
	w[0] = (struct iovec){ m.file, 2 * MiB };
	w[1] = (struct iovec){ m.anon, 1 * MiB };
	assert_int_equal(spawn_on(&c, w, 2, res_read_half, &m), 0);
	assert_int_equal(pmtest_poke(&c), 0);
	assert_int_equal(res_mixed_check(c.pid, &m, kernel_has_scan() ?
					 PMADV_RESIDENCY_SCAN :
					 PMADV_RESIDENCY_PAGEMAP), 0);
	mc.pid = c.pid;
	assert_int_equal(pmtest_in_child(res_mixed_pagemap, &mc), 0);
	pmtest_reap(&c);
	munmap(m.file, 4 * MiB);
	munmap(m.anon, 1 * MiB);
	close(fd);
}

/* PAGEOUT moves what was counted resident to swap, as counted again;
 * the target then reads all its data back. 0 or a code. */
static int res_pageout(void *arg)
{
	struct res_case *rc = arg;
	struct iovec *v = &rc->l->v[0];
	struct pmadv_residency b, a;
	struct pmadv_target *t;
	struct pmtest_child c;
	unsigned int method = PMADV_RESIDENCY_SCAN;
	int ret = 0;

	if (rc->nobody) { /* the pagemap method */
		if (pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
			return 20;
		method = PMADV_RESIDENCY_PAGEMAP;
	} else if (!kernel_has_scan()) {
		method = PMADV_RESIDENCY_PAGEMAP;
	}
	memset(rc->l->wrote, 0, sizeof(rc->l->wrote));
	rc->l->wrote[0] = true;
	if (spawn_on(&c, v, 1, res_look, rc->l) || pmadv_open(c.pid, 0, &t))
		return 40;
	if (pmadv_residency(t, v, 1, &b, sizeof(b)) || b.method != method)
		ret = 41;
	else if (pmadv_advise(t, v, 1, MADV_PAGEOUT, NULL, NULL) !=
		 (ssize_t)v->iov_len)
		ret = 42;
	else if (pmadv_residency(t, v, 1, &a, sizeof(a)))
		ret = 43;
	fprintf(stderr, "pageout (method %u): resident %llu -> %llu, swapped "
		"%llu -> %llu; smaps Rss %ld Swap %ld kB\n", method,
		(unsigned long long)b.resident, (unsigned long long)a.resident,
		(unsigned long long)b.swapped, (unsigned long long)a.swapped,
		pmtest_vma_kb(c.pid, v->iov_base, "Rss"),
		pmtest_vma_kb(c.pid, v->iov_base, "Swap"));
	if (ret)
		goto out;
	if (b.resident < v->iov_len - PAGE || b.swapped > PAGE)
		ret = 44; /* all resident before */
	else if (a.resident > v->iov_len / 16)
		ret = 45; /* gone from memory after */
	else if (a.swapped + a.resident < b.resident + b.swapped - PAGE)
		ret = 46; /* and every byte of it counted in swap */
	else if (kb_diff(a.swapped, pmtest_vma_kb(c.pid, v->iov_base,
						  "Swap")) > 4 ||
		 kb_diff(a.resident, pmtest_vma_kb(c.pid, v->iov_base,
						   "Rss")) > 4)
		ret = 47;
	else if (pmtest_poke(&c) || rc->l->view->bad)
		ret = 48; /* the target found its data intact */
out:
	pmadv_close(t);
	pmtest_reap(&c);
	return ret;
}

static void test_residency_pageout(void **state)
{
	struct res_layout l;
	struct res_case rc = { .l = &l };
	int zram = -1;

	(void)state;
	pmtest_require_root();
	zram = swap_for(2 * 20 * 1024);
	res_layout_make(&l);
	assert_int_equal(res_pageout(&rc), 0);
	rc.nobody = true; /* here: the seccomp filter, in a child */
	assert_int_equal(pmtest_in_child(res_pageout, &rc), 0);
	res_layout_free(&l);
	pmtest_zram_off(zram);
}

/* Budgets on the real kernel, seen in the target: PAGEOUT of 64 MiB with
 * max_bytes 24 MiB in 1 MiB calls stops after exactly 24 calls with
 * EDQUOT, and 24 MiB (not one batch more) left for swap; resuming at
 * res.next pages out the rest. */
static void test_budget_pageout(void **state)
{
	size_t len = 64 * MiB;
	void *p = map_isolated(len);
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_residency a, b;
	struct pmadv_result r;
	struct pmadv_target *t;
	struct pmtest_child c;
	struct iovec v = { p, len }, rest;
	int zram = -1;

	(void)state;
	pmtest_require_root();
	zram = swap_for(80 * 1024);
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, NULL, NULL), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	assert_int_equal(pmadv_residency(t, &v, 1, &b, sizeof(b)), 0);
	o.methods = PMADV_METHOD_SYSCALL;
	o.max_bytes = 24 * MiB;
	o.batch_bytes = 1 * MiB;
	assert_int_equal(pmadv_advise(t, &v, 1, MADV_PAGEOUT, &o, &r), -EDQUOT);
	assert_int_equal(pmadv_residency(t, &v, 1, &a, sizeof(a)), 0);
	print_message("max_bytes 24 MiB: %zu bytes in %u calls; resident %llu "
		      "-> %llu, swapped %llu -> %llu\n", r.bytes, r.calls,
		      (unsigned long long)b.resident,
		      (unsigned long long)a.resident,
		      (unsigned long long)b.swapped,
		      (unsigned long long)a.swapped);
	assert_int_equal(r.bytes, 24 * MiB);
	assert_int_equal(r.calls, 24);
	assert_int_equal(r.next, 0);
	assert_int_equal(r.next_off, 24 * MiB);
	assert_true(b.resident >= len - PAGE);
	/* the budget, within one batch */
	assert_true(a.swapped >= 23 * MiB && a.swapped <= 25 * MiB);
	assert_true(a.resident >= len - 25 * MiB);
	rest.iov_base = (char *)p + r.next_off;
	rest.iov_len = len - r.next_off;
	o.max_bytes = 0;
	o.batch_bytes = 0;
	assert_int_equal(pmadv_advise(t, &rest, 1, MADV_PAGEOUT, &o, &r),
			 (ssize_t)(40 * MiB));
	assert_int_equal(r.calls, 1);
	assert_int_equal(pmadv_residency(t, &v, 1, &a, sizeof(a)), 0);
	assert_true(a.swapped >= len - MiB && a.resident <= MiB);
	assert_int_equal(pmtest_poke(&c), 0);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(p, len);
	pmtest_zram_off(zram);
}

/* A target that runs execve again and again (this program with
 * "exec-loop"), each time mapping 8 MiB at EXEC_AT and touching it: a
 * count that meets an execve is counted again in the new program, never
 * answered ESRCH for a process that lives. */
/* in high memory, clear of ASan's shadow and its allocator */
#define EXEC_AT ((void *)0x680000000000UL)

static void exec_loop(char **argv)
{
	char *p = mmap(EXEC_AT, 8 * MiB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE |
		       MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		_exit(1);
	/* long enough to be seen under ASan, whose start takes longer */
	usleep(2000);
	execv("/proc/self/exe", argv);
	_exit(1);
}

struct exec_case {
	pid_t pid;
	bool pagemap;
};

static int res_exec(void *arg)
{
	struct exec_case *ec = arg;
	struct iovec v = { EXEC_AT, 8 * MiB };
	struct pmadv_residency r;
	struct pmadv_target *t;
	int full = 0, again = 0;

	if (ec->pagemap &&
	    pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
		return 20;
	if (pmadv_open(ec->pid, 0, &t))
		return 21;
	/* 2,000 counts, and on until one saw the whole 8 MiB (under load
	 * the new program's brief window may escape 2,000), for 20 s at
	 * most */
	struct timespec t0, now;
	int n = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 2000 || !full; i++) {
		int ret;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 20)
			break;
		n++;
		ret = pmadv_residency(t, &v, 1, &r, sizeof(r));

		if (ret == -EAGAIN) {
			again++;
			continue;
		}
		if (ret) {
			fprintf(stderr, "call %d: %s\n", i, strerror(-ret));
			return 22;
		}
		full += r.resident == 8 * MiB;
	}
	fprintf(stderr, "exec loop (%s): %d counts, %d saw the 8 MiB, %d "
		"EAGAIN\n", ec->pagemap ? "pagemap" : "default", n, full,
		again);
	pmadv_close(t);
	return full > 0 && again < 20 + n / 100 ? 0 : 23;
}

static void test_residency_exec(void **state)
{
	struct exec_case ec = { 0 };
	int by_default, by_pagemap;

	(void)state;
	ec.pid = fork();
	if (!ec.pid) {
		/* kept across its execve: it never outlives this program */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/proc/self/exe", "test-kernel", "exec-loop", NULL);
		_exit(1);
	}
	by_default = pmtest_in_child(res_exec, &ec);
	ec.pagemap = true;
	by_pagemap = pmtest_in_child(res_exec, &ec);
	kill(ec.pid, SIGKILL);
	waitpid(ec.pid, NULL, 0);
	assert_int_equal(by_default, 0);
	assert_int_equal(by_pagemap, 0);
}

/* As nobody: root's target is out of reach (EACCES); our own is counted,
 * and the pagemap method, without CAP_SYS_ADMIN, cannot see huge pages. */
static int res_unpriv(void *arg)
{
	struct res_case *rc = arg;
	struct iovec *v = &rc->l->v[0];
	struct pmadv_residency r;
	struct pmadv_target *t;
	struct pmtest_child own;
	int ret = 0;

	if (drop_to_nobody())
		return 20;
	if (pmadv_open(rc->pid, 0, &t))
		return 21;
	if (pmadv_residency(t, v, 1, &r, sizeof(r)) != -EACCES)
		return 22;
	pmadv_close(t);
	if (spawn_on(&own, v, 1, NULL, NULL) || pmadv_open(own.pid, 0, &t))
		return 23;
	if (pmtest_refuse_syscall(SYS_ioctl, true, PMTEST_PAGEMAP_SCAN, ENOTTY))
		ret = 24;
	else if (pmadv_residency(t, v, 1, &r, sizeof(r)))
		ret = 25;
	else if (r.method != PMADV_RESIDENCY_PAGEMAP ||
		 !(r.flags & PMADV_RESIDENCY_NOHUGE) || r.huge ||
		 r.resident < v->iov_len - PAGE)
		ret = 26;
	pmadv_close(t);
	pmtest_reap(&own);
	return ret;
}

static void test_residency_errors(void **state)
{
	struct res_layout l;
	struct res_case rc = { .l = &l };
	struct pmadv_residency r, big[2];
	struct pmtest_child c;
	struct pmadv_target *t;
	struct iovec bad;
	pid_t z;

	(void)state;
	pmtest_require_root();
	res_layout_make(&l);
	assert_int_equal(res_spawn(&c, &l), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	/* sized output: too small refused, larger zero-filled past ours */
	assert_int_equal(pmadv_residency(t, l.v, 1, &r, sizeof(r) - 1), -EINVAL);
	assert_int_equal(pmadv_residency(t, l.v, 1, NULL, sizeof(r)), -EINVAL);
	memset(big, 0xa5, sizeof(big));
	assert_int_equal(pmadv_residency(t, l.v, 1, big, sizeof(big)), 0);
	for (size_t i = 0; i < sizeof(r); i++)
		assert_int_equal(((unsigned char *)&big[1])[i], 0);
	assert_int_equal(big[0].bytes, l.v[0].iov_len);
	/* ranges */
	bad = (struct iovec){ (char *)l.v[0].iov_base + 1, PAGE };
	assert_int_equal(pmadv_residency(t, &bad, 1, &r, sizeof(r)), -EINVAL);
	bad = (struct iovec){ (void *)(pmadv_user_end() & ~(PAGE - 1)), 2 * PAGE };
	assert_int_equal(pmadv_residency(t, &bad, 1, &r, sizeof(r)), -EFAULT);
	assert_int_equal(pmadv_residency(t, NULL, 1, &r, sizeof(r)), -EINVAL);
	assert_int_equal(pmadv_residency(t, NULL, 0, &r, sizeof(r)), 0);
	assert_int_equal(r.bytes, 0);
	/* a hole counts in nothing but bytes */
	bad = (struct iovec){ (char *)l.v[0].iov_base - PAGE, PAGE };
	assert_int_equal(pmadv_residency(t, &bad, 1, &r, sizeof(r)), 0);
	assert_true(r.bytes == PAGE && !r.resident && !r.swapped);
	/* allocation-free */
	counting = 1;
	allocations = 0;
	assert_int_equal(pmadv_residency(t, l.v, 4, &r, sizeof(r)), 0);
	counting = 0;
	assert_int_equal(allocations, 0);
	rc.pid = c.pid;
	assert_int_equal(pmtest_in_child(res_unpriv, &rc), 0);
	/* gone: reaped, then a zombie */
	pmtest_reap(&c);
	assert_int_equal(pmadv_residency(t, l.v, 1, &r, sizeof(r)), -ESRCH);
	pmadv_close(t);
	z = fork();
	if (!z)
		_exit(0);
	assert_int_equal(pmadv_open(z, 0, &t), 0);
	while (pmtest_state(z, 0) != 'Z')
		usleep(1000);
	assert_int_equal(pmadv_residency(t, l.v, 1, &r, sizeof(r)), -ESRCH);
	pmadv_close(t);
	waitpid(z, NULL, 0);
	res_layout_free(&l);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "exec-loop"))
		exec_loop(argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cold_drops_referenced),
		cmocka_unit_test(test_pageout_anon_to_zram),
		cmocka_unit_test(test_file_willneed_and_pageout),
		cmocka_unit_test(test_five_gib_exact),
		cmocka_unit_test(test_five_thousand_vmas),
		cmocka_unit_test(test_partial_progress),
		cmocka_unit_test(test_zero_length_before_hole),
		cmocka_unit_test(test_vanished_vma_continue),
		cmocka_unit_test(test_dead_target),
		cmocka_unit_test(test_thread_pidfd),
		cmocka_unit_test(test_pidfd_other_pidns),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_seccomp_fallback),
		cmocka_unit_test(test_eperm_vs_eacces),
		cmocka_unit_test(test_diagnose),
		cmocka_unit_test(test_wrappers),
		cmocka_unit_test(test_no_allocation),
		cmocka_unit_test(test_cancel_from_another_thread),
		cmocka_unit_test(test_residency_counts),
		cmocka_unit_test(test_residency_mixed),
		cmocka_unit_test(test_residency_guard),
		cmocka_unit_test(test_residency_uffd_wp),
		cmocka_unit_test(test_residency_pagemap_space),
		cmocka_unit_test(test_residency_hugetlb),
		cmocka_unit_test(test_residency_pageout),
		cmocka_unit_test(test_residency_errors),
		cmocka_unit_test(test_residency_exec),
		cmocka_unit_test(test_budget_pageout),
	};

	signal(SIGPIPE, SIG_IGN);
	count_allocations();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
