// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ptrace rung's madvise loop (PMADV_PTRACE_FAST=loop forces it, as on a
 * kernel where a process may not give itself the advice through
 * process_madvise): MADV_DONTNEED over thousands of one-page VMAs of a
 * forked target, which then checks its own pages; a failing element in the
 * middle; the scratch mapping and no fd left behind; a target blocked in
 * read(); a 32-bit target. Each case checks the target, not just our
 * return value. Root-only: skips for users, fails under CI=true.
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
#include <dirent.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmadvise.h"
#include "ptest.h"

#define PAGE 4096UL
#define NPAGES 2000
#define MSG 16

/* Page i of the target holds this byte everywhere until advised. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(0x40 | (i % 61));
}

/* The target: NPAGES one-page VMAs at base + 2 i PAGE (the odd pages left
 * unmapped, so no two merge and each odd page is a hole). It sends base,
 * then on each MSG-byte command read() from its pipe answers the command
 * echoed back, a computation only a correctly running process gets right,
 * and one byte per page: 0 all zero, 1 pattern intact, 2 anything else. */
struct tgt {
	int in[2], out[2];
};

struct report {
	char echo[MSG];
	unsigned long sum;
	unsigned char page[NPAGES];
};

static unsigned long work(void)
{
	volatile unsigned long n = 0;

	for (unsigned long i = 0; i < 1000000; i++)
		n += i ^ (i >> 3);
	return n;
}

static void target(void *arg)
{
	struct tgt *t = arg;
	struct report *r = malloc(sizeof(*r));
	char *base = mmap(NULL, NPAGES * 2 * PAGE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	close(t->in[1]), close(t->out[0]);
	if (!r || base == MAP_FAILED)
		_exit(2);
	munmap(base, NPAGES * 2 * PAGE);
	for (size_t i = 0; i < NPAGES; i++) {
		char *p = base + i * 2 * PAGE;

		if (mmap(p, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == MAP_FAILED)
			_exit(3);
		memset(p, pattern(i), PAGE);
	}
	if (write(t->out[1], &base, sizeof(base)) != sizeof(base))
		_exit(4);
	for (;;) {
		size_t got = 0;

		while (got < MSG) {
			ssize_t n = read(t->in[0], r->echo + got, MSG - got);

			if (n <= 0)
				_exit(n == 0 ? 0 : 5);
			got += (size_t)n;
		}
		r->sum = work();
		for (size_t i = 0; i < NPAGES; i++) {
			const unsigned char *p =
				(unsigned char *)base + i * 2 * PAGE;
			bool zero = true, pat = true;

			for (size_t b = 0; b < PAGE; b++) {
				zero &= p[b] == 0;
				pat &= p[b] == pattern(i);
			}
			r->page[i] = zero ? 0 : pat ? 1 : 2;
		}
		if (write(t->out[1], r, sizeof(*r)) != sizeof(*r))
			_exit(6);
	}
}

static pid_t start(struct tgt *t, char **base)
{
	pid_t pid;

	assert_int_equal(pipe(t->in), 0);
	assert_int_equal(pipe(t->out), 0);
	pid = pt_fork(target, t);
	assert_true(pid > 0);
	close(t->in[0]), close(t->out[1]);
	assert_int_equal(pt_read_full(t->out[0], base, sizeof(*base), 10000),
			 (ssize_t)sizeof(*base));
	return pid;
}

static void stop(struct tgt *t, pid_t pid)
{
	pt_kill(pid);
	close(t->in[1]), close(t->out[0]);
}

/* Sends msg, which the target is blocked in read() for, and reads its
 * report. */
static void ask(struct tgt *t, const char *msg, struct report *r)
{
	assert_int_equal(write(t->in[1], msg, MSG), MSG);
	assert_int_equal(pt_read_full(t->out[0], r, sizeof(*r), 20000),
			 (ssize_t)sizeof(*r));
	assert_memory_equal(r->echo, msg, MSG);
	assert_int_equal(r->sum, work());
}

/* Until the target sleeps in read(): then its registers show the call. */
static void wait_read(pid_t pid)
{
	double end = pt_now() + 5;

	while (pt_now() < end && pmtest_state(pid, 0) != 'S')
		usleep(1000);
	assert_int_equal(pmtest_state(pid, 0), 'S');
	usleep(20000);
}

/* The whole of /proc/PID/maps (pt_snap keeps 64 KiB: 2000 VMAs are more). */
static char *maps_of(pid_t pid)
{
	char path[64];
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(buf && fd >= 0);
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0) {
		len += (size_t)n;
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* DONTNEED forced through the loop. The decision log (PMADV_DEBUG=1, on
 * stderr, caught in a file meanwhile) must show that the loop did run:
 * per-range injection, its fallback, would give the same results. */
static ssize_t loop_advise(pid_t pid, const struct iovec *iov, size_t n,
			   struct pmadv_result *res)
{
	FILE *log = tmpfile();
	int saved = dup(2);
	char line[512];
	bool ran = false;
	ssize_t ret;

	assert_non_null(log);
	assert_true(saved >= 0);
	fflush(stderr);
	dup2(fileno(log), 2);
	setenv("PMADV_PTRACE_FAST", "loop", 1);
	setenv("PMADV_DEBUG", "1", 1);
	ret = pt_advise(pid, iov, n, MADV_DONTNEED, PMADV_F_DESTRUCTIVE, res);
	unsetenv("PMADV_DEBUG");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(log);
	while (fgets(line, sizeof(line), log)) {
		if (strstr(line, "madvise loop ran"))
			ran = true;
		/* anything that went wrong, for the test's log */
		if (strstr(line, "failed") || strstr(line, "mprotect"))
			fputs(line, stderr);
	}
	fclose(log);
	if (!ran)
		fail_msg("the madvise loop did not run (returned %zd)", ret);
	return ret;
}

static void fill(struct iovec *iov, char *base, size_t n)
{
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec){ base + i * 2 * PAGE, PAGE };
}

/* ---- 2000 one-page VMAs ---- */

static void test_loop_dontneed(void **state)
{
	static struct iovec iov[NPAGES];
	struct report *r = malloc(sizeof(*r));
	struct pt_snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct pmadv_result res;
	struct tgt t;
	char *base, *m0, *m1;
	double t0;
	pid_t pid;
	ssize_t ret;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	pid = start(&t, &base);
	ask(&t, "before-the-loop!", r);
	for (size_t i = 0; i < NPAGES; i++)
		assert_int_equal(r->page[i], 1);
	wait_read(pid);
	assert_int_equal(pt_snapshot(pid, a), 0);
	m0 = maps_of(pid);

	fill(iov, base, NPAGES);
	t0 = pt_now();
	ret = loop_advise(pid, iov, NPAGES, &res);
	t0 = pt_now() - t0;
	print_message("loop: %d ranges in %.0f us, %u calls\n", NPAGES,
		      t0 * 1e6, res.calls);
	assert_int_equal(ret, (ssize_t)(NPAGES * PAGE));
	assert_int_equal(res.done, NPAGES);
	assert_int_equal(res.bytes, NPAGES * PAGE);
	assert_int_equal(res.failed, SIZE_MAX);
	assert_int_equal(res.method, PMADV_METHOD_PTRACE);
	/* 1024 ranges per batch: two batches, not 2000 injections */
	assert_true(res.calls >= 1 && res.calls <= 4);

	/* no scratch mapping, no fd, same signal state */
	m1 = maps_of(pid);
	assert_string_equal(m0, m1);
	assert_int_equal(pt_snapshot(pid, b), 0);
	pt_assert_same(a, b, true);
	wait_read(pid); /* back in its read(), restarted */

	/* the target, still blocked in read(), gets the right bytes and
	 * finds every page zero */
	ask(&t, "after-the-loop!!", r);
	for (size_t i = 0; i < NPAGES; i++)
		if (r->page[i] != 0)
			fail_msg("page %zu reads %s after DONTNEED", i,
				 r->page[i] == 1 ? "its pattern" : "garbage");
	stop(&t, pid);
	free(m0), free(m1), free(r), free(a), free(b);
}

/* ---- no syscall instruction to borrow: one written and taken back ---- */

/* The target's entry point (AT_ENTRY) and the 16 bytes there. */
static uint64_t entry_bytes(pid_t pid, unsigned char out[16])
{
	char path[64];
	uint64_t aux[512], entry = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, aux, sizeof(aux));
	close(fd);
	for (ssize_t i = 0; i + 1 < n / 8; i += 2)
		if (aux[i] == AT_ENTRY)
			entry = aux[i + 1];
	assert_true(entry != 0);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, out, 16, (off_t)entry), 16);
	close(fd);
	return entry;
}

static void test_patch_entry(void **state)
{
	static struct iovec iov[8];
	struct report *r = malloc(sizeof(*r));
	unsigned char before[16], after[16];
	struct pmadv_result res;
	FILE *log = tmpfile();
	int saved = dup(2);
	char line[512];
	bool wrote = false;
	struct tgt t;
	char *base;
	pid_t pid;
	ssize_t ret;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	pid = start(&t, &base);
	wait_read(pid);
	entry_bytes(pid, before);
	fill(iov, base, 8);
	assert_true(log && saved >= 0);
	fflush(stderr);
	dup2(fileno(log), 2);
	setenv("PMADV_PTRACE_PATCH", "1", 1);
	setenv("PMADV_PTRACE_FAST", "0", 1);
	setenv("PMADV_DEBUG", "1", 1);
	ret = pt_advise(pid, iov, 8, MADV_DONTNEED, PMADV_F_DESTRUCTIVE, &res);
	unsetenv("PMADV_DEBUG");
	unsetenv("PMADV_PTRACE_FAST");
	unsetenv("PMADV_PTRACE_PATCH");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(log);
	while (fgets(line, sizeof(line), log))
		wrote |= strstr(line, "over its entry point") != NULL;
	fclose(log);
	assert_true(wrote);
	assert_int_equal(ret, (ssize_t)(8 * PAGE));
	assert_int_equal(res.method, PMADV_METHOD_PTRACE);
	/* the program's code is its own again */
	entry_bytes(pid, after);
	assert_memory_equal(before, after, 16);
	/* and it carries on: right bytes, right sums, advised pages zero */
	wait_read(pid);
	ask(&t, "entry-put-back!!", r);
	for (size_t i = 0; i < NPAGES; i++)
		assert_int_equal(r->page[i], i < 8 ? 0 : 1);
	stop(&t, pid);
	free(r);
}

/* ---- a hole in the vector ---- */

static void hole_case(size_t n, size_t hole)
{
	static struct iovec iov[NPAGES];
	struct report *r = malloc(sizeof(*r));
	struct pmadv_result res;
	struct tgt t;
	char *base, *m0, *m1;
	pid_t pid;

	pid = start(&t, &base);
	wait_read(pid);
	m0 = maps_of(pid);
	fill(iov, base, n);
	/* the odd page after page hole is never mapped */
	iov[hole].iov_base = base + hole * 2 * PAGE + PAGE;
	assert_int_equal(loop_advise(pid, iov, n, &res), -ENOMEM);
	assert_int_equal(res.failed, hole);
	assert_int_equal(res.error, ENOMEM);
	assert_int_equal(res.done, hole);
	assert_int_equal(res.bytes, hole * PAGE);
	assert_int_equal(res.method, PMADV_METHOD_PTRACE);
	assert_true(res.calls <= 4);
	m1 = maps_of(pid);
	assert_string_equal(m0, m1);

	ask(&t, "after-a-hole....", r);
	for (size_t i = 0; i < NPAGES; i++) {
		/* before the hole: advised; the hole's own page (not in the
		 * vector) and everything after it: untouched */
		unsigned char want = i < hole ? 0 : 1;

		if (r->page[i] != want)
			fail_msg("hole at %zu of %zu: page %zu is %u, not %u",
				 hole, n, i, r->page[i], want);
	}
	stop(&t, pid);
	free(m0), free(m1), free(r);
}

static void test_loop_hole(void **state)
{
	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	hole_case(1000, 500);  /* in the first batch */
	hole_case(2000, 1500); /* in the second (the engine's offsets) */
	hole_case(600, 0);     /* element 0 */
	hole_case(600, 599);   /* the last one */
}

/* ---- the loop's leftovers under repetition ---- */

static void test_loop_repeat(void **state)
{
	static struct iovec iov[64];
	struct pt_snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct report *r = malloc(sizeof(*r));
	struct pmadv_result res;
	struct tgt t;
	char *base;
	pid_t pid;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	pid = start(&t, &base);
	wait_read(pid);
	assert_int_equal(pt_snapshot(pid, a), 0);
	fill(iov, base, 64);
	/* small batches too, since the knob forces the loop: 1 and 64 */
	for (int i = 0; i < 200; i++) {
		size_t n = i % 2 ? 64 : 1;

		assert_int_equal(loop_advise(pid, iov, n, &res),
				 (ssize_t)(n * PAGE));
		assert_int_equal(res.done, n);
	}
	assert_int_equal(pt_snapshot(pid, b), 0);
	pt_assert_same(a, b, true);
	ask(&t, "repeated-loops..", r);
	for (size_t i = 0; i < NPAGES; i++)
		assert_int_equal(r->page[i], i < 64 ? 0 : 1);
	stop(&t, pid);
	free(a), free(b), free(r);
}

/* ---- a stopped target stays stopped ---- */

static void test_loop_stopped(void **state)
{
	static struct iovec iov[NPAGES];
	struct report *r = malloc(sizeof(*r));
	struct pmadv_result res;
	struct tgt t;
	char *base;
	pid_t pid;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	pid = start(&t, &base);
	wait_read(pid);
	kill(pid, SIGSTOP);
	for (int i = 0; i < 500 && pmtest_state(pid, 0) != 'T'; i++)
		usleep(1000);
	assert_int_equal(pmtest_state(pid, 0), 'T');
	fill(iov, base, NPAGES);
	assert_int_equal(loop_advise(pid, iov, NPAGES, &res),
			 (ssize_t)(NPAGES * PAGE));
	usleep(50000);
	assert_int_equal(pmtest_state(pid, 0), 'T');
	kill(pid, SIGCONT);
	ask(&t, "was-stopped.....", r);
	for (size_t i = 0; i < NPAGES; i++)
		assert_int_equal(r->page[i], 0);
	stop(&t, pid);
	free(r);
}

/* ---- a target killed while it runs the loop ---- */

#define BIGN 1024
#define BIGLEN (64 * 1024UL)

static void big_target(void *arg)
{
	int *out = arg;
	char *m = mmap(NULL, BIGN * BIGLEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		_exit(2);
	memset(m, 0x33, BIGN * BIGLEN);
	if (write(out[1], &m, sizeof(m)) != sizeof(m))
		_exit(3);
	for (;;)
		pause();
}

struct killer {
	pid_t pid;
	useconds_t delay;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	usleep(k->delay);
	kill(k->pid, SIGKILL);
	return NULL;
}

/* Threads of this process: the rung's workers must all be gone. */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void wait_threads(int want)
{
	for (int i = 0; i < 300 && threads() != want; i++)
		usleep(10000);
	assert_int_equal(threads(), want);
}

static void test_loop_exit_during(void **state)
{
	static struct iovec iov[BIGN];
	int before = threads(), esrch = 0, whole = 0;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	for (int round = 0; round < 12; round++) {
		struct pmadv_result res;
		struct killer k;
		pthread_t th;
		int out[2];
		char *m;
		double t0;
		ssize_t ret;

		assert_int_equal(pipe(out), 0);
		k.pid = pt_fork(big_target, out);
		assert_int_equal(pt_read_full(out[0], &m, sizeof(m), 10000),
				 (ssize_t)sizeof(m));
		for (size_t i = 0; i < BIGN; i++)
			iov[i] = (struct iovec){ m + i * BIGLEN, BIGLEN };
		/* from before the attach to well after the loop's end */
		k.delay = (useconds_t)(round * 1500);
		assert_int_equal(pthread_create(&th, NULL, kill_later, &k), 0);
		t0 = pt_now();
		setenv("PMADV_PTRACE_FAST", "loop", 1);
		ret = pt_advise(k.pid, iov, BIGN, MADV_DONTNEED,
				PMADV_F_DESTRUCTIVE, &res);
		t0 = pt_now() - t0;
		pthread_join(th, NULL);
		if (ret == -ESRCH)
			esrch++;
		else if (ret == (ssize_t)(BIGN * BIGLEN))
			whole++;
		else
			fail_msg("round %d: %zd (%s)", round, ret,
				 strerror((int)-ret));
		assert_true(t0 < 3.0); /* no hang */
		pt_kill(k.pid);
		close(out[0]), close(out[1]);
	}
	print_message("killed during the loop: %d ESRCH, %d completed\n",
		      esrch, whole);
	wait_threads(before);
}

/* ---- a loop that cannot finish: the deadline ---- */

/* A region registered with userfaultfd whose faults nobody serves:
 * MADV_POPULATE_READ over it waits forever (killable only). */
static void uffd_target(void *arg)
{
	int *out = arg;
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	char *m = mmap(NULL, 17 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (uffd < 0 || m == MAP_FAILED || ioctl(uffd, UFFDIO_API, &api) < 0)
		_exit(2);
	memset(m, 1, PAGE); /* page 0 is an ordinary, populated page */
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)m + PAGE;
	reg.range.len = 16 * PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		_exit(3);
	if (write(out[1], &m, sizeof(m)) != sizeof(m))
		_exit(4);
	for (;;)
		pause();
}

static void test_loop_timeout(void **state)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	struct pmadv_result res;
	struct iovec iov[3];
	int before = threads(), out[2];
	double t0;
	ssize_t ret;
	pid_t pid;
	char *m;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	assert_int_equal(pipe(out), 0);
	pid = pt_fork(uffd_target, out);
	assert_int_equal(pt_read_full(out[0], &m, sizeof(m), 10000),
			 (ssize_t)sizeof(m));
	iov[0] = (struct iovec){ m, PAGE };
	iov[1] = (struct iovec){ m, PAGE };
	iov[2] = (struct iovec){ m + PAGE, 16 * PAGE };
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	o.methods = PMADV_METHOD_PTRACE;
	o.timeout_ms = 300;
	setenv("PMADV_PTRACE_FAST", "loop", 1);
	t0 = pt_now();
	ret = pmadv_advise(t, iov, 3, MADV_POPULATE_READ, &o, &res);
	t0 = pt_now() - t0;
	print_message("stuck loop: %zd after %.3f s\n", ret, t0);
	if (madvise(m, 0, MADV_POPULATE_READ) < 0) {
		/* before 5.14 (asked of madvise(2) here): no advice the loop
		 * runs can wait on a fault; POPULATE_READ is refused at once */
		print_message("MADV_POPULATE_READ: not on this kernel\n");
		assert_int_equal(ret, -EINVAL);
		assert_true(t0 < 1.5);
	} else {
		assert_int_equal(ret, -ETIMEDOUT);
		/* the deadline plus the caller's grace, not much more */
		assert_true(t0 >= 0.25 && t0 < 1.5);
	}
	pmadv_close(t);
	/* the worker waits for the madvise in the background; the target's
	 * death ends it */
	pt_kill(pid);
	wait_threads(before);
	close(out[0]), close(out[1]);
}

/* ---- a 32-bit target (i386, AArch32) ---- */

static void test_loop_compat32(void **state)
{
	const char *path;
	struct pt_snap *a, *b;
	struct pmadv_result res;
	struct iovec iov[8];
	char line[128];
	unsigned long addr;
	int in[2], out[2];
	pid_t pid;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	path = pt_target32();
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]), close(out[0]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]), close(out[1]);
	assert_int_equal(pt_read_full(out[0], line, 9, 5000), 9);
	line[8] = '\0';
	addr = strtoul(line, NULL, 16);
	assert_true(addr != 0 && addr < 0xffffffffUL);
	wait_read(pid);
	assert_int_equal(pt_snapshot(pid, a), 0);

	/* eight elements, all its one page: the 32-bit routine runs them */
	for (int i = 0; i < 8; i++)
		iov[i] = (struct iovec){ (void *)addr, PAGE };
	assert_int_equal(loop_advise(pid, iov, 8, &res), (ssize_t)(8 * PAGE));
	assert_int_equal(res.done, 8);
	assert_int_equal(write(in[1], "x", 1), 1);
	assert_int_equal(pt_read_full(out[0], line, 12, 5000), 12);
	line[12] = '\0';
	assert_string_equal(line, "00 12345678\n");

	/* 'f' refills; then a hole at element 2 (page 1 is below
	 * mmap_min_addr, never mapped) */
	assert_int_equal(write(in[1], "f", 1), 1);
	assert_int_equal(pt_read_full(out[0], line, 12, 5000), 12);
	line[12] = '\0';
	assert_string_equal(line, "5a 12345678\n");
	wait_read(pid);
	iov[2].iov_base = (void *)0x1000UL;
	assert_int_equal(loop_advise(pid, iov, 8, &res), -ENOMEM);
	assert_int_equal(res.failed, 2);
	assert_int_equal(res.error, ENOMEM);
	assert_int_equal(res.done, 2);

	/* an element beyond 4 GiB ends the batch there, with ENOMEM */
	iov[2].iov_base = (void *)addr;
	iov[5].iov_base = (void *)0x7f0000000000UL;
	assert_int_equal(loop_advise(pid, iov, 8, &res), -ENOMEM);
	assert_int_equal(res.failed, 5);
	assert_int_equal(res.error, ENOMEM);
	assert_int_equal(res.done, 5);

	assert_int_equal(pt_snapshot(pid, b), 0);
	pt_assert_same(a, b, true);
	assert_int_equal(write(in[1], "x", 1), 1);
	assert_int_equal(pt_read_full(out[0], line, 12, 5000), 12);
	line[12] = '\0';
	assert_string_equal(line, "00 12345678\n");
	pt_kill(pid);
	close(in[1]), close(out[0]);
	free(a), free(b);
}

static int setup(void **state)
{
	(void)state;
	alarm(120); /* no test may hang */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	unsetenv("PMADV_PTRACE_FAST");
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_loop_dontneed),
		T(test_loop_hole),
		T(test_loop_repeat),
		T(test_loop_stopped),
		T(test_loop_exit_during),
		T(test_loop_timeout),
		/* the i386 or AArch32 routine */
		T(test_loop_compat32),
		T(test_patch_entry),
	};

	/* the ladder is forced through ptrace by pt_advise's methods */
	unsetenv("PMADV_METHODS");
	if (getenv("PT_FILTER"))
		cmocka_set_test_filter(getenv("PT_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
