// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of pmadv_advise's engine through the syscall seam: a fake
 * process_madvise that records every byte it is asked to advise and answers
 * what the real kernel cannot be made to answer on demand (ENOSYS, EINTR
 * mid-vector, short counts, the 5.10.0 lost count).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "ptrace/ptrace.h"

#define PAGE 4096UL
#define MAX_RW 0x7ffff000UL
#define BASE 0x10000000UL
#define MAX_LOG 20000
#define MAX_BAD 8

struct span {
	uintptr_t start, end;
};

static struct fake {
	int all_errno;        /* every non-empty call fails with this */
	int probe_errno;      /* answer of the zero-length probe call */
	bool gone;            /* the target's pidfd answers ESRCH */
	bool lose_count;      /* 5.10.0: a later failure fails the vector */
	uintptr_t bad[MAX_BAD];
	int bad_errno[MAX_BAD];
	size_t nbad;
	int interrupt_at_call; /* on that call, stop half-way as on EINTR */
	int eagain_calls;      /* that many calls answer -1 EAGAIN first */
	uintptr_t stall_at;    /* a call stops there, with no error */
	int *cancel_on_call_flag;
	int cancel_on_call;
	int calls;
	size_t max_vlen, max_bytes;
	struct span log[MAX_LOG];
	size_t nlog;
} fk;

static int bad_errno(uintptr_t base)
{
	for (size_t i = 0; i < fk.nbad; i++)
		if (fk.bad[i] == base)
			return fk.bad_errno[i];
	return 0;
}

static long fake_pm(int pidfd, const struct iovec *iov, size_t vlen,
		    int advice, unsigned int flags)
{
	size_t done = 0, total = 0;

	(void)advice, (void)flags;
	if (pidfd < 0) { /* the availability probe */
		errno = fk.all_errno == ENOSYS ? ENOSYS : EBADF;
		return -1;
	}
	if (!vlen) {
		if (fk.probe_errno) {
			errno = fk.probe_errno;
			return -1;
		}
		return 0;
	}
	fk.calls++;
	if (fk.cancel_on_call && fk.calls == fk.cancel_on_call)
		*fk.cancel_on_call_flag = 1;
	if (fk.all_errno) {
		errno = fk.all_errno;
		return -1;
	}
	if (fk.eagain_calls > 0) {
		fk.eagain_calls--;
		errno = EAGAIN;
		return -1;
	}
	for (size_t i = 0; i < vlen; i++)
		total += iov[i].iov_len;
	if (vlen > fk.max_vlen)
		fk.max_vlen = vlen;
	if (total > fk.max_bytes)
		fk.max_bytes = total;
	for (size_t i = 0; i < vlen; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		int e = iov[i].iov_len ? bad_errno(b) : 0;

		if (fk.interrupt_at_call == fk.calls && i == vlen / 2) {
			fk.interrupt_at_call = 0;
			if (!done) {
				errno = EINTR;
				return -1;
			}
			return (long)done;
		}
		if (fk.stall_at && b == fk.stall_at && iov[i].iov_len)
			return (long)done;
		if (e) {
			if (!done || fk.lose_count) {
				errno = e;
				return -1;
			}
			return (long)done;
		}
		if (iov[i].iov_len) {
			assert_true(fk.nlog < MAX_LOG);
			fk.log[fk.nlog].start = b;
			fk.log[fk.nlog].end = b + iov[i].iov_len;
			fk.nlog++;
		}
		done += iov[i].iov_len;
	}
	return (long)done;
}

static long fake_pidfd_open(pid_t pid, unsigned int flags)
{
	(void)pid, (void)flags;
	errno = ENOSYS;
	return -1;
}

/* The fake target's pidfd names a live process (fk.gone: one gone). */
static long fake_pidfd_send_signal(int pidfd, int sig)
{
	(void)pidfd, (void)sig;
	if (fk.gone) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

static const struct pmadv_sys fake_sys = {
	.pidfd_open = fake_pidfd_open,
	.process_madvise = fake_pm,
	.pidfd_send_signal = fake_pidfd_send_signal,
};

/* Fake ioctl and ptrace rungs: the ladder's decisions are under test here,
 * not those rungs, which must never touch a real process from these tests. */
static struct fake_rung {
	int probe;   /* 0 available, else -errno */
	int tried;   /* advise calls */
} fr[2];

static int fake_probe_ioctl(void) { return fr[0].probe; }
static int fake_probe_ptrace(void) { return fr[1].probe; }

static ssize_t fake_rung_advise(struct pmadv_call *c, const struct iovec *iov,
				size_t n, int *err, struct fake_rung *f)
{
	ssize_t done = 0;

	(void)c, (void)err;
	f->tried++;
	for (size_t i = 0; i < n; i++)
		done += (ssize_t)iov[i].iov_len;
	return done;
}

static ssize_t fake_advise_ioctl(struct pmadv_call *c, const struct iovec *iov,
				 size_t n, int *err)
{
	return fake_rung_advise(c, iov, n, err, &fr[0]);
}

static ssize_t fake_advise_ptrace(struct pmadv_call *c, const struct iovec *iov,
				  size_t n, int *err)
{
	return fake_rung_advise(c, iov, n, err, &fr[1]);
}

static struct pmadv_judgement fake_judge(struct pmadv_call *c, int err)
{
	(void)c;
	return pmadv_judged(PMADV_SERVE, err);
}

static const struct pmadv_rung fake_ioctl = {
	.method = PMADV_METHOD_IOCTL, .name = "ioctl",
	.probe = fake_probe_ioctl, .advise = fake_advise_ioctl,
	.judge = fake_judge,
};
static const struct pmadv_rung fake_ptrace = {
	.method = PMADV_METHOD_PTRACE, .name = "ptrace",
	.probe = fake_probe_ptrace, .advise = fake_advise_ptrace,
	.judge = fake_judge,
};

static struct pmadv_target tgt = { .pidfd = 1000 };

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	memset(fr, 0, sizeof(fr));
	fr[0].probe = fr[1].probe = -ENOSYS;
	pmadv_sys = &fake_sys;
	pmadv_rungs[1] = &fake_ioctl;
	pmadv_rungs[2] = &fake_ptrace;
	pmadv_reset_probes();
	unsetenv("PMADV_METHODS");
	tgt.pid = getpid();
	return 0;
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Every byte of want[] advised exactly once, nothing else. */
static void assert_log_covers(const struct iovec *want, size_t n, size_t skip)
{
	uintptr_t covered = 0;

	qsort(fk.log, fk.nlog, sizeof(fk.log[0]), cmp_span);
	for (size_t i = 1; i < fk.nlog; i++)
		assert_true(fk.log[i].start >= fk.log[i - 1].end);
	for (size_t i = 0; i < fk.nlog; i++)
		covered += fk.log[i].end - fk.log[i].start;
	for (size_t i = 0; i < n; i++)
		covered -= i == skip ? 0 : want[i].iov_len;
	assert_int_equal(covered, 0);
}

static struct iovec *pages(size_t n, size_t len)
{
	struct iovec *v = calloc(n, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i].iov_base = (void *)(BASE + i * 2 * len);
		v[i].iov_len = len;
	}
	return v;
}

static void test_validation(void **state)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct iovec v[2] = { { (void *)BASE, PAGE }, { (void *)(BASE + 1), PAGE } };
	unsigned char big[sizeof(o) + 8];

	(void)state;
	assert_int_equal(pmadv_advise(NULL, v, 1, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(pmadv_advise(&tgt, NULL, 1, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(pmadv_advise(&tgt, v, 2, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.error, EINVAL);
	v[1].iov_base = (void *)(UINTPTR_MAX & ~(PAGE - 1));
	assert_int_equal(pmadv_advise(&tgt, v, 2, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(r.failed, 1);
	v[1].iov_base = (void *)BASE;
	v[1].iov_len = SIZE_MAX;
	assert_int_equal(pmadv_advise(&tgt, v, 2, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(pmadv_advise(&tgt, v, 1, 999, NULL, &r), -EINVAL);
	assert_int_equal(pmadv_advise(&tgt, v, 1, -1, NULL, &r), -EINVAL);
	o.flags = 0x80;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -EINVAL);
	o.flags = 0;
	o.methods = 0x10;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -EINVAL);
	o.methods = 0;
	o.size = 8;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -EINVAL);
	o.size = sizeof(o);
	o.timeout_ms = -1;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -EINVAL);
	/* A newer caller's larger struct: its unknown tail must be zero. */
	memset(big, 0, sizeof(big));
	o.timeout_ms = 0;
	o.size = sizeof(big);
	memcpy(big, &o, sizeof(o));
	big[sizeof(o) + 3] = 1;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD,
				      (struct pmadv_opts *)big, &r), -EINVAL);
	/* Destructive advice needs the flag. */
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_DONTNEED, NULL, &r), -EPERM);
	assert_int_equal(r.error, EPERM);
	assert_int_equal(fk.calls, 0); /* nothing reached the kernel */

	big[sizeof(o) + 3] = 0;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD,
				      (struct pmadv_opts *)big, &r), PAGE);
	o.size = sizeof(o);
	o.flags = PMADV_F_DESTRUCTIVE;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_DONTNEED, &o, &r), PAGE);
	assert_int_equal(pmadv_advise(&tgt, v, 0, MADV_COLD, NULL, &r), 0);
	assert_int_equal(fk.calls, 2);
}

/* The trailing padding after deadline_ms is beyond the fields this version
 * knows: a nonzero byte there is refused, whatever size says (F8). */
static void test_opts_padding(void **state)
{
	size_t end = offsetof(struct pmadv_opts, deadline_ms) + sizeof(int);
	struct iovec v[1] = { { (void *)BASE, PAGE } };
	struct pmadv_opts init = PMADV_OPTS_INIT;
	union {
		struct pmadv_opts o;
		unsigned char b[sizeof(struct pmadv_opts) + 8];
	} u;
	struct pmadv_result r;

	(void)state;
	memset(&u, 0, sizeof(u));
	u.o = init;
	u.o.size = sizeof(u.o);
	if (end == sizeof(u.o))
		skip(); /* no trailing padding on this ABI */
	u.b[end] = 1;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &u.o, &r),
			 -EINVAL);
	u.o.size = sizeof(u.b);
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &u.o, &r),
			 -EINVAL);
	/* a caller that knows only up to deadline_ms: size ends there */
	u.o.size = end;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &u.o, &r),
			 (ssize_t)PAGE);
	assert_int_equal(fk.calls, 1);
	u.b[end] = 0;
	u.o.size = sizeof(u.b);
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &u.o, &r),
			 (ssize_t)PAGE);
	assert_int_equal(fk.calls, 2);
}

static void test_zero_length(void **state)
{
	struct iovec v[3] = { { (void *)BASE, PAGE }, { (void *)(BASE + 123), 0 },
			      { (void *)(BASE + 2 * PAGE), PAGE } };
	struct pmadv_result r;

	(void)state;
	assert_int_equal(pmadv_advise(&tgt, v, 3, MADV_COLD, NULL, &r), 2 * PAGE);
	assert_int_equal(r.done, 3);
	assert_int_equal(r.failed, SIZE_MAX);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.method, PMADV_METHOD_SYSCALL);
}

/* A request that ended at element failed with error, after done
 * elements and bytes advised. */
static void assert_stopped_at(const struct pmadv_result *r, size_t failed,
			      int error, size_t done, size_t bytes)
{
	assert_int_equal(r->failed, failed);
	assert_int_equal(r->error, error);
	assert_int_equal(r->done, done);
	assert_int_equal(r->bytes, bytes);
}

/* Elements of no length before one that fails: the vector fails as a
 * whole with nothing advised, and the request went round forever asking
 * the empty element alone (a breaker's finding, every method but ptrace). */
static void test_zero_length_then_failure(void **state)
{
	struct iovec v[4] = { { (void *)(BASE + 123), 0 },
			      { (void *)(BASE + 456), 0 },
			      { (void *)(BASE + 4 * PAGE), PAGE },
			      { (void *)(BASE + 2 * PAGE), PAGE } };
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	int errs[4];

	(void)state;
	fk.bad[0] = BASE + 4 * PAGE;
	fk.bad_errno[0] = ENOMEM;
	fk.nbad = 1;
	assert_int_equal(pmadv_advise(&tgt, v, 4, MADV_COLD, NULL, &r),
			 -ENOMEM);
	assert_stopped_at(&r, 2, ENOMEM, 2, 0);
	assert_true(r.calls <= 3);

	setup(NULL);
	fk.bad[0] = BASE + 4 * PAGE;
	fk.bad_errno[0] = ENOMEM;
	fk.nbad = 1;
	o.flags = PMADV_F_CONTINUE;
	o.errors = errs;
	memset(errs, 0x55, sizeof(errs));
	assert_int_equal(pmadv_advise(&tgt, v, 4, MADV_COLD, &o, &r), PAGE);
	assert_int_equal(r.done, 3);
	assert_int_equal(r.nfailed, 1);
	assert_int_equal(r.failed, 2);
	assert_int_equal(errs[0], 0);
	assert_int_equal(errs[1], 0);
	assert_int_equal(errs[2], ENOMEM);
	assert_int_equal(errs[3], 0);
}

/* A method that advises nothing of an element and says nothing wrong
 * (no kernel does): the element fails with EIO, and the request ends
 * instead of asking again forever. */
static void test_no_progress(void **state)
{
	struct iovec *v = pages(4, PAGE);
	struct pmadv_result r;

	(void)state;
	fk.stall_at = (uintptr_t)v[2].iov_base;
	assert_int_equal(pmadv_advise(&tgt, v, 4, MADV_COLD, NULL, &r), -EIO);
	assert_stopped_at(&r, 2, EIO, 2, 2 * PAGE);
	assert_int_equal(r.calls, 2);
	free(v);
}

static void test_split_iov_max(void **state)
{
	struct iovec *v = pages(5000, PAGE);
	struct pmadv_result r;

	(void)state;
	assert_int_equal(pmadv_advise(&tgt, v, 5000, MADV_COLD, NULL, &r),
			 5000 * PAGE);
	assert_int_equal(r.done, 5000);
	assert_int_equal(r.bytes, 5000 * PAGE);
	assert_int_equal(r.calls, 5);
	assert_int_equal(fk.max_vlen, PMADV_IOV_MAX);
	assert_log_covers(v, 5000, SIZE_MAX);
	free(v);
}

static void test_split_max_rw(void **state)
{
	struct iovec v[3] = {
		{ (void *)0x100000000UL, 5UL << 30 },
		{ (void *)0x300000000UL, 1UL << 30 },
		{ (void *)0x400000000UL, (1UL << 30) + PAGE },
	};
	struct pmadv_result r;

	(void)state;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), 5L << 30);
	assert_int_equal(r.bytes, 5UL << 30);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.calls, 3);
	assert_int_equal(fk.max_bytes, MAX_RW);
	assert_log_covers(v, 1, SIZE_MAX);

	setup(NULL);
	assert_int_equal(pmadv_advise(&tgt, v, 3, MADV_COLD, NULL, &r),
			 (7L << 30) + PAGE);
	assert_int_equal(r.done, 3);
	assert_true(fk.max_bytes <= MAX_RW);
	/* 5 GiB in three chunks, then the two 1 GiB elements cannot share. */
	assert_int_equal(r.calls, 5);
	assert_log_covers(v, 3, SIZE_MAX);
}

static void test_short_count(void **state)
{
	struct iovec *v = pages(10, PAGE);
	struct pmadv_result r;

	(void)state;
	fk.bad[0] = (uintptr_t)v[4].iov_base;
	fk.bad_errno[0] = ENOMEM;
	fk.nbad = 1;
	assert_int_equal(pmadv_advise(&tgt, v, 10, MADV_COLD, NULL, &r), -ENOMEM);
	assert_stopped_at(&r, 4, ENOMEM, 4, 4 * PAGE);
	assert_int_equal(r.nfailed, 1);
	assert_int_equal(r.calls, 2); /* the batch, then element 4 alone */

	setup(NULL);
	fk.bad[0] = (uintptr_t)v[0].iov_base;
	fk.bad_errno[0] = EINVAL;
	fk.nbad = 1;
	assert_int_equal(pmadv_advise(&tgt, v, 10, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(r.failed, 0);
	assert_int_equal(r.done, 0);
	free(v);
}

static void test_continue(void **state)
{
	struct iovec *v = pages(2000, PAGE);
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	int errs[2000];

	(void)state;
	memset(errs, 0x55, sizeof(errs));
	fk.bad[0] = (uintptr_t)v[1000].iov_base;
	fk.bad_errno[0] = ENOMEM;
	fk.bad[1] = (uintptr_t)v[1500].iov_base;
	fk.bad_errno[1] = EINVAL;
	fk.nbad = 2;
	o.flags = PMADV_F_CONTINUE;
	o.errors = errs;
	assert_int_equal(pmadv_advise(&tgt, v, 2000, MADV_PAGEOUT, &o, &r),
			 1998 * PAGE);
	assert_int_equal(r.done, 1998);
	assert_int_equal(r.nfailed, 2);
	assert_int_equal(r.failed, 1000);
	assert_int_equal(r.error, ENOMEM);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(errs[i], i == 1000 ? ENOMEM : i == 1500 ? EINVAL : 0);
	free(v);
}

static void test_lost_count(void **state)
{
	struct iovec *v = pages(50, PAGE);
	struct pmadv_result r;

	(void)state;
	fk.lose_count = true;
	fk.bad[0] = (uintptr_t)v[30].iov_base;
	fk.bad_errno[0] = ENOMEM;
	fk.nbad = 1;
	assert_int_equal(pmadv_advise(&tgt, v, 50, MADV_COLD, NULL, &r), -ENOMEM);
	assert_int_equal(r.failed, 30);
	assert_int_equal(r.done, 30);
	assert_int_equal(r.bytes, 30 * PAGE);
	free(v);
}

static void test_eintr_resumes(void **state)
{
	struct iovec *v = pages(3000, PAGE);
	struct pmadv_result r;

	(void)state;
	fk.interrupt_at_call = 2; /* half-way through the second batch */
	assert_int_equal(pmadv_advise(&tgt, v, 3000, MADV_COLD, NULL, &r),
			 3000 * PAGE);
	assert_int_equal(r.done, 3000);
	assert_int_equal(r.failed, SIZE_MAX);
	assert_log_covers(v, 3000, SIZE_MAX);

	setup(NULL);
	fk.eagain_calls = 3;
	assert_int_equal(pmadv_advise(&tgt, v, 3000, MADV_COLD, NULL, &r),
			 3000 * PAGE);
	assert_int_equal(r.calls, 3 + 3);
	assert_log_covers(v, 3000, SIZE_MAX);

	/* A target that answers EAGAIN for ever cannot hang us. */
	setup(NULL);
	fk.eagain_calls = 1000000;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EAGAIN);
	assert_int_equal(r.failed, 0);
	assert_int_equal(r.error, EAGAIN);
	assert_true(r.calls < 100);
	free(v);
}

static void test_cancel(void **state)
{
	struct iovec *v = pages(5000, PAGE);
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	int stop = 0;

	(void)state;
	o.cancel = &stop;
	fk.cancel_on_call_flag = &stop;
	fk.cancel_on_call = 2;
	assert_int_equal(pmadv_advise(&tgt, v, 5000, MADV_COLD, &o, &r),
			 -ECANCELED);
	assert_int_equal(r.done, 2048);
	assert_int_equal(r.bytes, 2048 * PAGE);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.error, ECANCELED);
	free(v);
}

/* pmadv_diagnose refuses the syscall method with EINVAL, naming the
 * environment variable that is why. */
static void assert_diagnosis_names_env(struct pmadv_target *t,
				       const char *what)
{
	char why[256];

	assert_int_equal(pmadv_diagnose(t, MADV_COLD, PMADV_METHOD_SYSCALL,
					why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, what));
}

static void test_ladder(void **state)
{
	struct iovec v[1] = { { (void *)BASE, PAGE } };
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	(void)state;
	/* ENOSYS, EPERM: fall through; the other rungs are unavailable. */
	fk.all_errno = ENOSYS;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -ENOSYS);
	assert_int_equal(r.method, 0);
	assert_int_equal(fk.calls, 0); /* the cached probe skipped the rung */
	setup(NULL);
	fk.all_errno = EPERM;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EPERM);
	assert_int_equal(r.method, 0);
	assert_int_equal(r.failed, SIZE_MAX);
	assert_int_equal(r.error, EPERM);
	/* With a later rung available, it serves and says so. */
	setup(NULL);
	fk.all_errno = EPERM;
	fr[1].probe = 0;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), PAGE);
	assert_int_equal(r.method, PMADV_METHOD_PTRACE);
	assert_int_equal(r.done, 1);
	assert_int_equal(fr[1].tried, 1);
	assert_int_equal(fr[0].tried, 0);
	setup(NULL);
	fk.all_errno = ENOSYS;
	fr[0].probe = 0;
	fr[1].probe = 0;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), PAGE);
	assert_int_equal(r.method, PMADV_METHOD_IOCTL);
	assert_int_equal(fr[1].tried, 0);
	/* EACCES: the later rungs are not even tried. */
	setup(NULL);
	fk.all_errno = EACCES;
	fr[1].probe = 0;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EACCES);
	assert_int_equal(fr[1].tried, 0);
	/* EINVAL for the advice itself (probe agrees): next rung. */
	setup(NULL);
	fk.all_errno = EINVAL;
	fk.probe_errno = EINVAL;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(r.failed, SIZE_MAX);
	assert_int_equal(r.method, 0);
	/* EINVAL, then the probe finds the target gone: ESRCH says so. */
	setup(NULL);
	fk.all_errno = EINVAL;
	fk.probe_errno = ESRCH;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -ESRCH);
	assert_int_equal(r.error, ESRCH);
	/* EINVAL for the range (probe fine): the request's own error. */
	setup(NULL);
	fk.all_errno = EINVAL;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EINVAL);
	assert_int_equal(r.failed, 0);
	assert_int_equal(r.method, PMADV_METHOD_SYSCALL);
	/* EACCES ends the ladder at once. */
	setup(NULL);
	fk.all_errno = EACCES;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EACCES);
	assert_int_equal(r.calls, 1);
	/* ENOMEM belongs to the request: no fall-through. */
	setup(NULL);
	fk.all_errno = ENOMEM;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -ENOMEM);
	assert_int_equal(r.method, PMADV_METHOD_SYSCALL);
	assert_int_equal(r.failed, 0);
	/* Restricting the methods keeps the syscall rung out. */
	setup(NULL);
	o.methods = PMADV_METHOD_IOCTL | PMADV_METHOD_PTRACE;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -ENOSYS);
	assert_int_equal(fk.calls, 0);
	/* PMADV_METHODS narrows the program's methods, never widens them:
	 * ptrace alone of syscall+ptrace leaves the syscall rung out, and
	 * ptrace for a program that allows only syscall leaves nothing */
	setenv("PMADV_METHODS", "ptrace", 1);
	o.methods = PMADV_METHOD_SYSCALL | PMADV_METHOD_PTRACE;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -ENOSYS);
	assert_int_equal(fk.calls, 0);
	o.methods = PMADV_METHOD_SYSCALL;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), -EINVAL);
	assert_int_equal(fk.calls, 0);
	assert_diagnosis_names_env(&tgt, "PMADV_METHODS=ptrace");
	setenv("PMADV_METHODS", "syscall,bogus", 1);
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r), -EINVAL);
	assert_diagnosis_names_env(&tgt, "PMADV_METHODS=syscall,bogus");
	setenv("PMADV_METHODS", "syscall", 1);
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r), PAGE);
	unsetenv("PMADV_METHODS");
}

/* Field 22 of /proc/self/stat, read another way than the library does. */
static unsigned long long own_starttime(void)
{
	char buf[1024];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_int_equal(sscanf(strrchr(buf, ')') + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				"%*u %*u %*d %*d %*d %*d %*d %*d %llu", &v), 1);
	return v;
}

/* batch_bytes caps each call, splitting elements: it shows in res.calls;
 * max_bytes stops at exactly the budget (rounded down to pages), with
 * EDQUOT and where to resume; resuming there finishes the rest once. */
static void test_budget_bytes(void **state)
{
	struct iovec *v = pages(8, 4 * PAGE); /* 8 elements of 16 KiB */
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct iovec rest[8];
	int errs[8];
	size_t n;

	(void)state;
	o.batch_bytes = 3 * PAGE + 100; /* rounded down: 3 pages */
	assert_int_equal(pmadv_advise(&tgt, v, 8, MADV_COLD, &o, &r),
			 (ssize_t)(32 * PAGE));
	assert_int_equal(fk.max_bytes, 3 * PAGE);
	/* an element longer than a call goes in pieces of its own: 3 + 1
	 * pages, two calls for each of the 8 */
	assert_int_equal(r.calls, 16);
	assert_int_equal(fk.calls, 16);
	assert_int_equal(r.next, 8);
	assert_int_equal(r.next_off, 0);
	assert_log_covers(v, 8, SIZE_MAX);

	/* a budget in the middle of element 2, not a page multiple */
	memset(&fk, 0, sizeof(fk));
	o.batch_bytes = 0;
	o.max_bytes = 10 * PAGE + 123;
	o.errors = errs;
	assert_int_equal(pmadv_advise(&tgt, v, 8, MADV_COLD, &o, &r), -EDQUOT);
	assert_int_equal(r.bytes, 10 * PAGE);
	assert_int_equal(r.done, 2);
	assert_int_equal(r.failed, SIZE_MAX);
	assert_int_equal(r.error, EDQUOT);
	assert_int_equal(r.next, 2);
	assert_int_equal(r.next_off, 2 * PAGE);
	assert_int_equal(errs[1], 0);
	assert_int_equal(errs[2], ECANCELED);
	assert_int_equal(errs[7], ECANCELED);
	/* resume from there, no budget: every byte advised exactly once */
	n = 8 - r.next;
	memcpy(rest, v + r.next, n * sizeof(*rest));
	rest[0].iov_base = (char *)rest[0].iov_base + r.next_off;
	rest[0].iov_len -= r.next_off;
	o.max_bytes = 0;
	assert_int_equal(pmadv_advise(&tgt, rest, n, MADV_COLD, &o, &r),
			 (ssize_t)(22 * PAGE));
	assert_log_covers(v, 8, SIZE_MAX);
	/* a budget that the whole vector fits is no stop */
	memset(&fk, 0, sizeof(fk));
	o.max_bytes = 32 * PAGE;
	assert_int_equal(pmadv_advise(&tgt, v, 8, MADV_COLD, &o, &r),
			 (ssize_t)(32 * PAGE));
	/* less than a page: nothing, EDQUOT at once */
	o.max_bytes = PAGE - 1;
	assert_int_equal(pmadv_advise(&tgt, v, 8, MADV_COLD, &o, &r), -EDQUOT);
	assert_int_equal(r.bytes, 0);
	free(v);
}

/* The budgets charge pages, not lengths (issue 12 F3), and a failing
 * element all its call handed over (F2): one-byte elements fill a page
 * each, and an element failing under PMADV_F_CONTINUE spends its pages. */
static void test_budget_pages(void **state)
{
	struct iovec *v = pages(16, PAGE);
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	(void)state;
	for (size_t i = 0; i < 16; i++)
		v[i].iov_len = 1;
	o.max_bytes = 3 * PAGE;
	assert_int_equal(pmadv_advise(&tgt, v, 16, MADV_COLD, &o, &r), -EDQUOT);
	assert_int_equal(r.bytes, 3);
	assert_int_equal(r.next, 3);
	assert_int_equal(fk.nlog, 3);
	/* batch_bytes of a page: one element a call */
	memset(&fk, 0, sizeof(fk));
	o.max_bytes = 0;
	o.batch_bytes = PAGE;
	assert_int_equal(pmadv_advise(&tgt, v, 16, MADV_COLD, &o, &r), 16);
	assert_int_equal(fk.max_vlen, 1);
	assert_int_equal(r.calls, 16);
	free(v);
	/* 4-page elements, the second failing: a 9-page budget stops after
	 * it with the first two charged, the third cut to one page */
	memset(&fk, 0, sizeof(fk));
	v = pages(4, 4 * PAGE);
	fk.bad[0] = (uintptr_t)v[1].iov_base;
	fk.bad_errno[0] = ENOMEM;
	fk.nbad = 1;
	o.batch_bytes = 0;
	o.max_bytes = 9 * PAGE;
	o.flags = PMADV_F_CONTINUE;
	assert_int_equal(pmadv_advise(&tgt, v, 4, MADV_COLD, &o, &r), -EDQUOT);
	assert_int_equal(r.nfailed, 1);
	assert_int_equal(r.bytes, 5 * PAGE);
	assert_int_equal(r.next, 2);
	assert_int_equal(r.next_off, PAGE);
	free(v);
}

/* deadline_ms: calls stop once it has passed (the fake kernel call that
 * lasts 30 ms makes time pass); negative refused; a 0.1 caller's size
 * leaves every budget out. */
static int slow_calls;

static ssize_t slow_advise(struct pmadv_call *c, const struct iovec *iov,
			   size_t n, int *err)
{
	slow_calls++;
	usleep(30000);
	return fake_rung_advise(c, iov, n, err, &fr[0]);
}

static const struct pmadv_rung slow_ioctl = {
	.method = PMADV_METHOD_IOCTL, .name = "ioctl",
	.probe = fake_probe_ioctl, .advise = slow_advise,
	.judge = fake_judge,
};

static void test_budget_deadline(void **state)
{
	struct iovec *v = pages(100, PAGE);
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	(void)state;
	pmadv_rungs[1] = &slow_ioctl;
	fr[0].probe = 0;
	o.methods = PMADV_METHOD_IOCTL;
	o.batch_bytes = PAGE; /* one call per element */
	o.deadline_ms = 100;
	slow_calls = 0;
	assert_int_equal(pmadv_advise(&tgt, v, 100, MADV_COLD, &o, &r), -ETIME);
	/* 30 ms a call: the 4th or 5th starts after 100 ms; a loaded
	 * machine only makes calls slower, so fewer */
	assert_true(slow_calls >= 1 && slow_calls <= 4);
	assert_int_equal(r.bytes, (size_t)slow_calls * PAGE);
	assert_int_equal(r.next, (size_t)slow_calls);
	assert_int_equal(r.error, ETIME);
	o.deadline_ms = -1;
	assert_int_equal(pmadv_advise(&tgt, v, 100, MADV_COLD, &o, &r), -EINVAL);
	/* a 0.1 caller: its struct ends at timeout_ms, budgets unseen */
	o.deadline_ms = 1;
	o.max_bytes = PAGE;
	o.size = offsetof(struct pmadv_opts, timeout_ms) + sizeof(int);
	o.batch_bytes = 0;
	slow_calls = 0;
	v[0].iov_len = 10 * PAGE;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, &o, &r),
			 (ssize_t)(10 * PAGE));
	assert_int_equal(slow_calls, 1);
	free(v);
}

static void test_no_pidfd(void **state)
{
	struct pmadv_target *t = NULL;
	struct iovec v[1] = { { (void *)BASE, PAGE } };
	struct pmadv_result r;

	(void)state;
	/* pidfd_open answers ENOSYS: the handle names the PID by start time
	 * and the syscall rung, which needs a pidfd, steps aside. */
	assert_int_equal(pmadv_open(getpid(), 0, &t), 0);
	assert_int_equal(t->starttime, own_starttime());
	assert_int_equal(pmadv_target_pidfd(t), -ENOSYS);
	assert_int_equal(pmadv_target_pid(t), getpid());
	assert_int_equal(pmadv_advise(t, v, 1, MADV_COLD, NULL, &r), -ENOSYS);
	assert_int_equal(fk.calls, 0);
	/* A start time that does not match is a reused PID. */
	t->starttime++;
	assert_int_equal(pmadv_advise(t, v, 1, MADV_COLD, NULL, &r), -ESRCH);
	pmadv_close(t);
}

static void *idle_thread(void *arg)
{
	pid_t *tid = arg;

	*tid = (pid_t)syscall(SYS_gettid);
	pause();
	return NULL;
}

/* A thread ID is not a process ID: EINVAL on every kernel, where /proc
 * and pidfd_open would take it or answer ENOENT. */
static void test_open_thread_id(void **state)
{
	pthread_t th;
	pid_t tid = 0;
	struct pmadv_target *t = NULL;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, idle_thread, &tid), 0);
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	assert_int_equal(pmadv_open(tid, 0, &t), -EINVAL);
	assert_null(t);
	pthread_cancel(th);
	pthread_join(th, NULL);
}

/* PMADV_OPEN_PIDFD: a pidfd or nothing. The fake pidfd_open answers
 * ENOSYS, as under valgrind or a seccomp filter. */
static void test_open_require_pidfd(void **state)
{
	struct pmadv_target *t = NULL;

	(void)state;
	assert_int_equal(pmadv_open(getpid(), PMADV_OPEN_PIDFD, &t), -ENOSYS);
	assert_null(t);
	assert_int_equal(pmadv_open(getpid(), 0x2, &t), -EINVAL);
}

/* The errno contract: an error not on pmadv_advise(3)'s page (EXDEV, which
 * no madvise gives) comes out as ENOTRECOVERABLE; the element's own errno
 * stays in the result. */
static void test_errno_filter(void **state)
{
	struct iovec v[1] = { { (void *)BASE, PAGE } };
	struct pmadv_result r;

	(void)state;
	fk.all_errno = EXDEV;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r),
			 -ENOTRECOVERABLE);
	assert_int_equal(r.error, EXDEV);
	fk.all_errno = ENOMEM; /* on the page: as it is */
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, &r),
			 -ENOMEM);
}

static void test_errno_untouched(void **state)
{
	struct iovec v[1] = { { (void *)BASE, PAGE } };
	struct pmadv_target *t;
	char msg[64];

	(void)state;
	fk.all_errno = EPERM;
	errno = 4242;
	assert_int_equal(pmadv_advise(&tgt, v, 1, MADV_COLD, NULL, NULL), -EPERM);
	assert_int_equal(pmadv_open(-5, 0, &t), -EINVAL);
	assert_int_equal(pmadv_open_pidfd(-1, 0, &t), -EBADF);
	assert_int_equal(pmadv_diagnose(NULL, MADV_COLD, PMADV_METHOD_SYSCALL,
					msg, sizeof(msg)), -EINVAL);
	pmadv_close(NULL);
	assert_int_equal(errno, 4242);
}

/* The library that runs says the version its headers were made with,
 * and the macros agree with each other. */
static void test_version(void **state)
{
	char v[32];

	(void)state;
	assert_int_equal(pmadv_version(), PMADV_VERSION);
	assert_int_equal(PMADV_VERSION,
			 PMADV_VERSION_CODE(PMADV_VERSION_MAJOR,
					    PMADV_VERSION_MINOR,
					    PMADV_VERSION_PATCH));
	snprintf(v, sizeof(v), "%d.%d.%d", PMADV_VERSION_MAJOR,
		 PMADV_VERSION_MINOR, PMADV_VERSION_PATCH);
	assert_string_equal(v, PMADV_VERSION_STRING);
	assert_true(pmadv_version() >= PMADV_VERSION_CODE(0, 2, 0));
}

static void test_names(void **state)
{
	unsigned int m;

	(void)state;
	assert_int_equal(pmadv_advice_from_name("pageout"), MADV_PAGEOUT);
	assert_int_equal(pmadv_advice_from_name("MADV_COLD"), MADV_COLD);
	assert_int_equal(pmadv_advice_from_name("nonsense"), -EINVAL);
	assert_int_equal(pmadv_advice_from_name(NULL), -EINVAL);
	assert_string_equal(pmadv_advice_name(MADV_WILLNEED), "willneed");
	assert_int_equal(pmadv_advice_destructive(MADV_DONTNEED), 1);
	assert_int_equal(pmadv_advice_destructive(MADV_FREE), 1);
	assert_int_equal(pmadv_advice_destructive(MADV_PAGEOUT), 0);
	/* only what the kernel gives remotely, and populate_read, go
	 * without the flag */
	for (int a = 0; a < 128; a++) {
		int d = pmadv_advice_destructive(a);
		bool mild = a == MADV_WILLNEED || a == MADV_COLD ||
			    a == MADV_PAGEOUT || a == 22 /* POPULATE_READ */ ||
			    a == 25 /* COLLAPSE */;

		if (d != -EINVAL)
			assert_int_equal(d, !mild);
	}
	assert_int_equal(pmadv_advice_destructive(19 /* KEEPONFORK */), 1);
	assert_int_equal(pmadv_advice_destructive(103 /* GUARD_REMOVE */), 1);
	assert_int_equal(pmadv_advice_destructive(77), -EINVAL);
	assert_null(pmadv_advice_name(77));
	assert_string_equal(pmadv_method_name(PMADV_METHOD_PTRACE), "ptrace");
	assert_null(pmadv_method_name(3));
	assert_int_equal(pmadv_methods_from_string("syscall,ptrace", &m), 0);
	assert_int_equal(m, PMADV_METHOD_SYSCALL | PMADV_METHOD_PTRACE);
	assert_int_equal(pmadv_methods_from_string("all", &m), 0);
	assert_int_equal(m, PMADV_METHOD_ALL);
	assert_int_equal(pmadv_methods_from_string("", &m), -EINVAL);
	assert_int_equal(pmadv_methods_from_string("syscall,", &m), -EINVAL);
	assert_int_equal(pmadv_methods_from_string("sys", &m), -EINVAL);
}

/* ---- pt_each_line: a line longer than its buffer ---- */

struct lines_seen {
	int n;
	char first[16][40];
};

static bool note_line(void *ctx, char *line)
{
	struct lines_seen *l = ctx;

	if (l->n < 16)
		snprintf(l->first[l->n], sizeof(l->first[0]), "%s", line);
	l->n++;
	return false;
}

/* A maps line whose path runs past 16 KiB (nested directories of the
 * target's choosing) passes its start once and never its later pieces,
 * one of which is written here to look like a VMA of its own. */
static void test_each_line_overlong(void **state)
{
	char path[] = "/tmp/pmadv-lines-XXXXXX";
	static const char fake[] = "7f0000000000-7fff00000000 r-xp 00000000 "
				   "00:00 0 ";
	struct lines_seen l = { 0 };
	static char text[40000];
	size_t at = 0;
	int fd;

	(void)state;
	at += (size_t)sprintf(text, "1000-2000 r-xp 00000000 08:01 7 /");
	while (at < 24000) {
		/* each 8191-byte piece of the line starts with a fake VMA */
		if (at % 8191 == 0 && at + sizeof(fake) < 24000) {
			memcpy(text + at, fake, sizeof(fake) - 1);
			at += sizeof(fake) - 1;
		} else {
			text[at++] = 'd';
		}
	}
	at += (size_t)sprintf(text + at, "\n3000-4000 rw-p 00000000 00:00 0\n");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, at), (ssize_t)at);
	close(fd);
	assert_false(pt_each_line(path, note_line, &l));
	unlink(path);
	assert_int_equal(l.n, 2);
	assert_true(!strncmp(l.first[0], "1000-2000 r-xp", 14));
	assert_string_equal(l.first[1], "3000-4000 rw-p 00000000 00:00 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_validation, setup),
		cmocka_unit_test_setup(test_opts_padding, setup),
		cmocka_unit_test_setup(test_zero_length, setup),
		cmocka_unit_test_setup(test_zero_length_then_failure, setup),
		cmocka_unit_test_setup(test_no_progress, setup),
		cmocka_unit_test_setup(test_split_iov_max, setup),
		cmocka_unit_test_setup(test_split_max_rw, setup),
		cmocka_unit_test_setup(test_short_count, setup),
		cmocka_unit_test_setup(test_continue, setup),
		cmocka_unit_test_setup(test_lost_count, setup),
		cmocka_unit_test_setup(test_eintr_resumes, setup),
		cmocka_unit_test_setup(test_cancel, setup),
		cmocka_unit_test_setup(test_ladder, setup),
		cmocka_unit_test_setup(test_budget_bytes, setup),
		cmocka_unit_test_setup(test_budget_pages, setup),
		cmocka_unit_test_setup(test_budget_deadline, setup),
		cmocka_unit_test_setup(test_no_pidfd, setup),
		cmocka_unit_test_setup(test_errno_untouched, setup),
		cmocka_unit_test_setup(test_names, setup),
		cmocka_unit_test(test_version),
		cmocka_unit_test_setup(test_errno_filter, setup),
		cmocka_unit_test_setup(test_open_thread_id, setup),
		cmocka_unit_test_setup(test_open_require_pidfd, setup),
		cmocka_unit_test(test_each_line_overlong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
