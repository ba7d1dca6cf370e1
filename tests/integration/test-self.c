// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_open_self against the real kernel: DONTNEED through the handle
 * zeroes the caller's pages; after fork the child's handle advises the
 * child and not the parent, checked on the memory of each; without
 * PIDFD_SELF (a seccomp filter answers EBADF for it) and without
 * process_madvise (ENOSYS) the fallbacks do the same; the native path
 * neither allocates nor minds running in a signal handler.
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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocount.h"
#include "internal.h"
#include "pmtest.h"

#define PAGE 4096UL
#define NR 8           /* ranges, one page apart */
#define RLEN (4 * PAGE) /* bytes per range */

/* NR ranges of RLEN, each followed by a page that is never advised. */
struct area {
	char *p;
	struct iovec v[NR];
};

static void area_map(struct area *a)
{
	a->p = mmap(NULL, NR * (RLEN + PAGE), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(a->p != MAP_FAILED);
	for (int i = 0; i < NR; i++) {
		a->v[i].iov_base = a->p + i * (RLEN + PAGE);
		a->v[i].iov_len = RLEN;
	}
}

/* 1 when every advised byte is zero and every gap page holds c. */
static int area_advised(const struct area *a, char c)
{
	for (int i = 0; i < NR; i++) {
		const char *r = a->v[i].iov_base;

		for (size_t k = 0; k < RLEN; k++)
			if (r[k])
				return 0;
		for (size_t k = 0; k < PAGE; k++)
			if (r[RLEN + k] != c)
				return 0;
	}
	return 1;
}

/* 1 when every byte holds c. */
static int area_holds(const struct area *a, char c)
{
	for (size_t k = 0; k < NR * (RLEN + PAGE); k++)
		if (a->p[k] != c)
			return 0;
	return 1;
}

/* The method DONTNEED on oneself takes: the vector call where the kernel
 * takes any advice for oneself (6.13+), madvise before. Tried, not
 * assumed: a zero-length call on a pidfd of our own. */
static unsigned int dontneed_method(void)
{
	int fd = pmadv_pidfd_open(getpid(), 0);
	unsigned int m = PMADV_METHOD_MADVISE;

	if (fd >= 0 && pmadv_process_madvise(fd, NULL, 0, MADV_DONTNEED,
					     0) == 0)
		m = PMADV_METHOD_SYSCALL;
	if (fd >= 0)
		close(fd);
	return m;
}

/* DONTNEED through h on a: 0 when the effect and the report are right. */
static int dontneed(struct pmadv_target *h, struct area *a, char c,
		    unsigned int method)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	memset(a->p, c, NR * (RLEN + PAGE));
	/* the flag is about intent, whoever the target is */
	if (pmadv_advise(h, a->v, NR, MADV_DONTNEED, NULL, &r) != -EPERM)
		return 1;
	if (!area_holds(a, c))
		return 2;
	o.flags = PMADV_F_DESTRUCTIVE;
	if (pmadv_advise(h, a->v, NR, MADV_DONTNEED, &o, &r) !=
	    (ssize_t)(NR * RLEN))
		return 3;
	if (r.done != NR || r.method != method)
		return 4;
	/* before reading them back, which maps the zero page */
	for (int i = 0; i < NR; i++)
		if (pmtest_resident_pages(a->v[i].iov_base, RLEN) != 0)
			return 5;
	if (!area_advised(a, c))
		return 6;
	return 0;
}

static void test_dontneed_zeroes(void **state)
{
	struct pmadv_target *h;
	struct area a;

	(void)state;
	area_map(&a);
	assert_int_equal(pmadv_open_self(0, &h), 0);
	assert_int_equal(pmadv_target_pid(h), getpid());
	assert_int_equal(dontneed(h, &a, 'x', dontneed_method()), 0);
	/* COLD, allowed to every caller: the pages stay */
	memset(a.p, 'y', NR * (RLEN + PAGE));
	assert_int_equal(pmadv_advise(h, a.v, NR, MADV_COLD, NULL, NULL),
			 (ssize_t)(NR * RLEN));
	assert_true(area_holds(&a, 'y'));
	pmadv_close(h);
	munmap(a.p, NR * (RLEN + PAGE));
}

static void test_refusals(void **state)
{
	struct pmadv_target *h;
	struct pmadv_hold *hold;
	struct pmadv_reap_result rr;
	char why[256];

	(void)state;
	assert_int_equal(pmadv_open_self(1, &h), -EINVAL);
	assert_int_equal(pmadv_open_self(0, NULL), -EINVAL);
	assert_int_equal(pmadv_open_self(0, &h), 0);
	assert_int_equal(pmadv_target_pidfd(h), -ENOSYS);
	assert_int_equal(pmadv_hold(h, 0, 1000, &hold), -EINVAL);
	assert_int_equal(pmadv_kill_reap(h, SIGKILL, 0, &rr, sizeof(rr)),
			 -EINVAL);
	/* the forecasts: the two methods it uses, and none other */
	assert_int_equal(pmadv_diagnose(h, MADV_DONTNEED, PMADV_METHOD_MADVISE,
					why, sizeof(why)), 0);
	assert_int_equal(pmadv_diagnose(h, MADV_COLD, PMADV_METHOD_PTRACE,
					why, sizeof(why)), -ENOSYS);
	assert_non_null(strstr(why, "only the system call and madvise"));
	assert_int_equal(pmadv_diagnose(h, MADV_COLD, PMADV_METHOD_IOCTL,
					why, sizeof(why)), -ENOSYS);
	assert_string_equal(pmadv_method_name(PMADV_METHOD_MADVISE),
			    "madvise");
	pmadv_close(h);
}

struct fork_case {
	int mode_filter; /* 0: none; EBADF: no PIDFD_SELF; ENOSYS: no
			  * process_madvise */
	unsigned int method;
	bool every_call; /* mode_filter answers every process_madvise */
};

/* Parent ('P') and child ('C', its own copy-on-write pages) share the
 * handle; the child advises through it. Exit 0 when the child's pages,
 * and not the parent's, were advised. */
static int fork_caller(void *arg)
{
	struct fork_case *fc = arg;
	struct pmadv_target *h;
	struct area a;
	pid_t pid;
	int st, ret;

	area_map(&a);
	if (fc->every_call &&
	    pmtest_seccomp_errno(SYS_process_madvise, fc->mode_filter, false,
				 0))
		return 10;
	if (!fc->every_call && fc->mode_filter == EBADF &&
	    pmtest_seccomp_errno(SYS_process_madvise, EBADF, true,
				 (uint32_t)PMADV_PIDFD_SELF))
		return 10;
	if (fc->mode_filter == ENOSYS &&
	    pmtest_seccomp_errno(SYS_process_madvise, ENOSYS, false, 0))
		return 10;
	/* the filter answers as asked */
	if (fc->mode_filter &&
	    (syscall(SYS_process_madvise, PMADV_PIDFD_SELF, NULL, 0,
		     MADV_COLD, 0) != -1 || errno != fc->mode_filter))
		return 11;
	if (pmadv_open_self(0, &h))
		return 12;
	memset(a.p, 'P', NR * (RLEN + PAGE));
	pid = fork();
	if (pid == 0) {
		if (pmadv_target_pid(h) != getpid())
			_exit(20);
		_exit(dontneed(h, &a, 'C', fc->method) ? 21 : 0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 13;
	if (WEXITSTATUS(st))
		return WEXITSTATUS(st);
	if (!area_holds(&a, 'P')) /* the parent's memory is its own */
		return 14;
	/* and the parent's handle is still the parent's */
	if ((ret = dontneed(h, &a, 'Q', fc->method)))
		return 30 + ret;
	pmadv_close(h);
	return 0;
}

static void test_fork(void **state)
{
	struct fork_case fc = { 0, dontneed_method(), false };

	(void)state;
	assert_int_equal(pmtest_in_child(fork_caller, &fc), 0);
}

/* Without PIDFD_SELF: a pidfd, which the child replaces by its own. */
static void test_fork_without_pidfd_self(void **state)
{
	struct fork_case fc = { EBADF, dontneed_method(), false };

	(void)state;
	assert_int_equal(pmtest_in_child(fork_caller, &fc), 0);
}

/* A vfork child shares the handle's memory and not the parent's file
 * descriptors: its request must leave the parent's handle and
 * descriptors as they were. Exit 0 when they are. */
static int vfork_caller(void *arg)
{
	struct pmadv_target *h;
	struct area a;
	volatile ssize_t child_ret = -1;
	int st, dummy;
	pid_t pid;

	(void)arg;
	area_map(&a);
	if (pmtest_seccomp_errno(SYS_process_madvise, EBADF, true,
				 (uint32_t)PMADV_PIDFD_SELF))
		return 10;
	if (pmadv_open_self(0, &h))
		return 11;
	dummy = dup(2);
	pid = vfork();
	if (pid == 0) {
		child_ret = pmadv_advise(h, a.v, NR, MADV_COLD, NULL, NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 12;
	if (child_ret != (ssize_t)(NR * RLEN))
		return 13;
	for (int i = 0; i < 3; i++) {
		struct pmadv_result r;

		if (pmadv_advise(h, a.v, NR, MADV_COLD, NULL, &r) !=
		    (ssize_t)(NR * RLEN) || r.method != PMADV_METHOD_SYSCALL)
			return 14;
		if (pmadv_target_pid(h) != getpid())
			return 15;
	}
	if (fcntl(dummy, F_GETFD) < 0) /* not closed by the library */
		return 16;
	pmadv_close(h);
	return fcntl(dummy, F_GETFD) < 0 ? 17 : 0;
}

static void test_vfork_child(void **state)
{
	(void)state;
	assert_int_equal(pmtest_in_child(vfork_caller, NULL), 0);
}

/* Without process_madvise: madvise per range. */
static void test_fork_without_process_madvise(void **state)
{
	struct fork_case fc = { ENOSYS, PMADV_METHOD_MADVISE, false };

	(void)state;
	assert_int_equal(pmtest_in_child(fork_caller, &fc), 0);
}

/* A filter (or LSM) that answers every process_madvise with an error the
 * kernel would give for bad ranges or a bad pidfd: an empty vector gets it
 * too, so it is the call that is refused, and madvise serves. */
static void test_every_call_refused(void **state)
{
	static const int errs[] = { EBADF, EACCES, ENOMEM, EFAULT };

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct fork_case fc = { errs[i], PMADV_METHOD_MADVISE, true };

		assert_int_equal(pmtest_in_child(fork_caller, &fc), 0);
	}
}

static struct pmadv_target *sig_handle;
static struct area sig_area;
static volatile sig_atomic_t sig_ret = -1;

static void on_usr1(int sig)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;

	(void)sig;
	o.flags = PMADV_F_DESTRUCTIVE;
	sig_ret = pmadv_advise(sig_handle, sig_area.v, NR, MADV_DONTNEED, &o,
			       NULL) == (ssize_t)(NR * RLEN);
}

/* No allocation on the native path, and it runs from a signal handler. */
static void test_allocation_free(void **state)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	(void)state;
	area_map(&sig_area);
	assert_int_equal(pmadv_open_self(0, &sig_handle), 0);
	memset(sig_area.p, 'z', NR * (RLEN + PAGE));
	o.flags = PMADV_F_DESTRUCTIVE;
	/* once to warm the probes, then counted */
	assert_int_equal(pmadv_advise(sig_handle, sig_area.v, 1, MADV_COLD,
				      &o, &r), (ssize_t)RLEN);
	counting = 1;
	allocations = 0;
	assert_int_equal(pmadv_advise(sig_handle, sig_area.v, NR,
				      MADV_DONTNEED, &o, &r),
			 (ssize_t)(NR * RLEN));
	counting = 0;
	assert_int_equal(allocations, 0);
	assert_true(area_advised(&sig_area, 'z'));
	memset(sig_area.p, 'z', NR * (RLEN + PAGE));
	signal(SIGUSR1, on_usr1);
	raise(SIGUSR1);
	assert_int_equal(sig_ret, 1);
	assert_true(area_advised(&sig_area, 'z'));
	signal(SIGUSR1, SIG_DFL);
	pmadv_close(sig_handle);
	munmap(sig_area.p, NR * (RLEN + PAGE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dontneed_zeroes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_fork_without_pidfd_self),
		cmocka_unit_test(test_fork_without_process_madvise),
		cmocka_unit_test(test_every_call_refused),
		cmocka_unit_test(test_vfork_child),
		cmocka_unit_test(test_allocation_free),
	};

	count_allocations();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
