// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_kill_reap and pmadv_process_mrelease against the real kernel. The
 * victim's exit is held at its PTRACE_EVENT_EXIT stop, before the exit
 * unmaps anything: its Rss there tells who freed the memory. Kernels
 * without process_mrelease are simulated with a seccomp filter; on one
 * that lacks it (before 5.15, found by asking it), the cases that use the
 * real call expect its ENOSYS instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "pmtest.h"

#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif

#define MiB (1024UL * 1024)
#define VICTIM (64 * MiB)

/* Whether the kernel has process_mrelease: EBADF for no descriptor where
 * it does, ENOSYS where it does not. */
static bool kernel_mrelease(void)
{
	static int have = -1;

	if (have < 0) {
		errno = 0;
		have = syscall(SYS_process_mrelease, -1, 0) == -1 &&
		       errno == EBADF;
		if (!have)
			print_message("process_mrelease: not on this kernel "
				      "(%s)\n", strerror(errno));
	}
	return have;
}

static void *victim_area(void)
{
	void *p = mmap(NULL, VICTIM, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void spawn_victim(struct pmtest_child *c, void *p)
{
	size_t len = VICTIM;

	assert_int_equal(pmtest_spawn(c, &p, &len, 1, NULL, NULL), 0);
	assert_true(pmtest_rollup_kb(c->pid, "Rss") >= (long)(VICTIM / 1024));
}

/* Rss (kB) of the victim, held at its exit stop by us, its tracer. */
static long rss_at_exit_stop(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, __WALL), pid);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(st >> 16, PTRACE_EVENT_EXIT);
	return pmtest_rollup_kb(pid, "Rss");
}

static void let_exit(struct pmtest_child *c)
{
	int st;

	assert_int_equal(ptrace(PTRACE_CONT, c->pid, 0, 0), 0);
	assert_int_equal(waitpid(c->pid, &st, __WALL), c->pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(c->poke_fd);
	close(c->ready_fd);
}

/* The memory is gone while the exit has not begun to unmap it; the
 * control, a plain kill, finds it all there at the same point. */
static void test_reaped_before_exit(void **state)
{
	void *p = victim_area();
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_reap_result r;
	int fd;

	(void)state;
	pmtest_require_root();
	for (int reap = 0; reap < 2; reap++) {
		spawn_victim(&c, p);
		assert_int_equal(ptrace(PTRACE_SEIZE, c.pid, 0,
					PTRACE_O_TRACEEXIT), 0);
		assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
		if (reap && !kernel_mrelease()) {
			/* nothing frees it before the exit, which we hold:
			 * the 5 s wait ends with ETIMEDOUT */
			memset(&r, 0xff, sizeof(r));
			assert_int_equal(pmadv_kill_reap(t, SIGKILL, 0, &r,
							 sizeof(r)), -ETIMEDOUT);
			assert_int_equal(r.error, ENOSYS);
			assert_int_equal(r.freed_by, PMADV_FREED_NONE);
			assert_true(rss_at_exit_stop(c.pid) >=
				    (long)(VICTIM / 1024));
		} else if (reap) {
			memset(&r, 0xff, sizeof(r));
			assert_int_equal(pmadv_kill_reap(t, SIGKILL, 0, &r,
							 sizeof(r)), 0);
			assert_int_equal(r.error, 0);
			assert_int_equal(r.freed_by, PMADV_FREED_MRELEASE);
			assert_true(r.rss_before >= VICTIM);
			assert_true(r.rss_after < r.rss_before / 16);
			assert_true(r.released >= VICTIM - VICTIM / 16);
			assert_true(r.ns > 0);
			assert_true(rss_at_exit_stop(c.pid) <
				    (long)(VICTIM / 1024 / 16));
		} else {
			fd = pmadv_target_pidfd(t);
			assert_int_equal(syscall(SYS_pidfd_send_signal, fd,
						 SIGKILL, NULL, 0), 0);
			assert_true(rss_at_exit_stop(c.pid) >=
				    (long)(VICTIM / 1024));
		}
		let_exit(&c);
		pmadv_close(t);
	}
	munmap(p, VICTIM);
}

static void test_mrelease_raw(void **state)
{
	void *p = victim_area();
	struct pmtest_child c;
	bool have = kernel_mrelease();
	int fd;

	(void)state;
	spawn_victim(&c, p);
	fd = pmadv_pidfd_open(c.pid, 0);
	assert_true(fd >= 0);
	/* not dying: refused, and nothing freed (without the call: ENOSYS
	 * for every argument) */
	errno = 0;
	assert_int_equal(pmadv_process_mrelease(fd, 0), -1);
	assert_int_equal(errno, have ? EINVAL : ENOSYS);
	assert_int_equal(pmadv_process_mrelease(fd, 1), -1);
	assert_int_equal(errno, have ? EINVAL : ENOSYS);
	assert_true(pmtest_rollup_kb(c.pid, "Rss") >= (long)(VICTIM / 1024));
	assert_int_equal(pmadv_process_mrelease(-1, 0), -1);
	assert_int_equal(errno, have ? EBADF : ENOSYS);
	pmtest_reap(&c);
	/* reaped: nothing left */
	assert_int_equal(pmadv_process_mrelease(fd, 0), -1);
	assert_int_equal(errno, have ? ESRCH : ENOSYS);
	close(fd);
	munmap(p, VICTIM);
}

struct enosys_case {
	void *p;
	int sig;           /* to send */
	bool term_handler; /* the victim exits by itself on SIGTERM */
	bool ignore;       /* the victim ignores sig */
	unsigned int flags;
};

static void exit_on_term(int sig)
{
	(void)sig;
	_exit(3);
}

static void arm_victim(void *arg)
{
	const struct enosys_case *ec = arg;

	if (ec->term_handler)
		signal(SIGTERM, exit_on_term);
	if (ec->ignore)
		signal(ec->sig, SIG_IGN);
}

/* A caller under a filter that answers ENOSYS for process_mrelease (a
 * kernel before 5.15): the kill is done and the exit awaited. Exit
 * status 0 when all was as expected. */
static int enosys_caller(void *arg)
{
	struct enosys_case *ec = arg;
	size_t len = VICTIM;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_reap_result r;
	int st, ret;

	if (pmtest_spawn(&c, &ec->p, &len, 1, arm_victim, ec) ||
	    pmtest_poke(&c) || pmadv_open(c.pid, 0, &t))
		return 10;
	if (pmtest_seccomp_errno(SYS_process_mrelease, ENOSYS, false, 0))
		return 11;
	ret = pmadv_kill_reap(t, ec->sig, ec->flags, &r, sizeof(r));
	if (ec->ignore) { /* alive, its memory with it */
		if (ret != 0 || r.error != ENOSYS ||
		    r.freed_by != PMADV_FREED_NONE)
			return 12;
		if (pmtest_rollup_kb(c.pid, "Rss") < (long)(VICTIM / 1024))
			return 13;
		pmtest_reap(&c);
		return 0;
	}
	if (ret != 0 || r.error != ENOSYS || r.freed_by != PMADV_FREED_EXIT)
		return 14;
	if (r.rss_before < VICTIM || r.rss_after != 0 ||
	    r.released < VICTIM)
		return 15;
	/* our zombie child: exited, by the signal sent or its handler */
	if (waitpid(c.pid, &st, WNOHANG) != c.pid)
		return 16;
	if (ec->term_handler ? !WIFEXITED(st) || WEXITSTATUS(st) != 3
			     : !WIFSIGNALED(st) || WTERMSIG(st) != ec->sig)
		return 17;
	pmadv_close(t);
	return 0;
}

static void test_enosys_waits_for_exit(void **state)
{
	struct enosys_case ec = { .p = victim_area(), .sig = SIGKILL };

	(void)state;
	assert_int_equal(pmtest_in_child(enosys_caller, &ec), 0);
	ec.sig = SIGTERM; /* caught: not dying at once; the exit comes */
	ec.term_handler = true;
	assert_int_equal(pmtest_in_child(enosys_caller, &ec), 0);
	munmap(ec.p, VICTIM);
}

/* What a daemon does meanwhile: a thread reaps every child with
 * waitpid(-1) (the victim among them) while pmadv_kill_reap, without
 * process_mrelease, waits for the exit on the pidfd. And a victim that
 * is already a zombie: ESRCH. Exit status 0 when all went as expected. */
static int reaped_meanwhile(void *arg)
{
	void *p = arg;
	size_t len = VICTIM;
	struct pmtest_reaper rp = { .mode = 0 };
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_reap_result r;
	pthread_t th;
	int ret;

	if (pmtest_spawn(&c, &p, &len, 1, NULL, NULL) ||
	    pmadv_open(c.pid, 0, &t))
		return 10;
	if (pmtest_seccomp_errno(SYS_process_mrelease, ENOSYS, false, 0))
		return 11;
	if (pthread_create(&th, NULL, pmtest_reap_all, &rp))
		return 12;
	ret = pmadv_kill_reap(t, SIGKILL, 0, &r, sizeof(r));
	atomic_store(&rp.stop, 1);
	pthread_join(th, NULL);
	if (ret != 0 || r.freed_by != PMADV_FREED_EXIT ||
	    r.released < VICTIM || r.rss_after != 0)
		return 13;
	pmadv_close(t);
	/* a zombie: it exited before the signal (the kernel would take
	 * one): ESRCH, nothing sent, nothing freed */
	if (pmtest_spawn(&c, &p, &len, 1, NULL, NULL) ||
	    pmadv_open(c.pid, 0, &t))
		return 14;
	kill(c.pid, SIGKILL);
	while (pmtest_state(c.pid, 0) != 'Z')
		usleep(1000);
	memset(&r, 0, sizeof(r));
	ret = pmadv_kill_reap(t, SIGKILL, 0, &r, sizeof(r));
	if (ret != -ESRCH || r.freed_by != PMADV_FREED_NONE || r.released)
		return 15;
	pmadv_close(t);
	return waitpid(c.pid, NULL, 0) == c.pid ? 0 : 16;
}

static void test_daemon_reaps_meanwhile(void **state)
{
	void *p = victim_area();

	(void)state;
	assert_int_equal(pmtest_in_child(reaped_meanwhile, p), 0);
	munmap(p, VICTIM);
}

/* Without the filter, a caught signal makes process_mrelease refuse
 * (EINVAL); the exit that follows frees the memory. */
static void test_not_dying(void **state)
{
	struct enosys_case ec = { .p = victim_area(), .sig = SIGUSR1,
				  .ignore = true,
				  .flags = PMADV_REAP_NOWAIT };
	void *p = ec.p;
	size_t len = VICTIM;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_reap_result r;

	(void)state;
	/* ignored and NOWAIT, under the ENOSYS filter: sent, nothing freed */
	assert_int_equal(pmtest_in_child(enosys_caller, &ec), 0);
	/* ignored, without the filter: EINVAL from the kernel (ENOSYS
	 * from one without the call), still there */
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, arm_victim, &ec), 0);
	assert_int_equal(pmtest_poke(&c), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	assert_int_equal(pmadv_kill_reap(t, SIGUSR1, PMADV_REAP_NOWAIT, &r,
					 sizeof(r)), 0);
	assert_int_equal(r.error, kernel_mrelease() ? EINVAL : ENOSYS);
	assert_int_equal(r.freed_by, PMADV_FREED_NONE);
	assert_true(r.rss_after >= VICTIM);
	assert_int_equal(pmtest_poke(&c), 0); /* it runs */
	pmadv_close(t);
	pmtest_reap(&c);
	/* a handler that exits: EINVAL, then the exit */
	ec.sig = SIGTERM;
	ec.ignore = false;
	ec.term_handler = true;
	ec.flags = 0;
	assert_int_equal(pmtest_spawn(&c, &p, &len, 1, arm_victim, &ec), 0);
	assert_int_equal(pmtest_poke(&c), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	assert_int_equal(pmadv_kill_reap(t, SIGTERM, 0, &r, sizeof(r)), 0);
	/* not dying while its handler runs, or gone already */
	if (kernel_mrelease())
		assert_true(r.error == EINVAL || r.error == ESRCH);
	else
		assert_int_equal(r.error, ENOSYS);
	assert_int_equal(r.freed_by, PMADV_FREED_EXIT);
	assert_true(r.released >= VICTIM);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(p, VICTIM);
}

/* The handle names the old process: the one that took its PID is never
 * signalled. */
static void test_pid_reuse_never_signalled(void **state)
{
	void *p = victim_area();
	struct pmtest_child a, b;
	struct pmadv_target *t;
	struct pmadv_reap_result r;

	(void)state;
	pmtest_require_root();
	spawn_victim(&a, p);
	assert_int_equal(pmadv_open(a.pid, 0, &t), 0);
	pmtest_reap(&a);
	assert_int_equal(pmtest_spawn_as(pmadv_target_pid(t), &b, p, VICTIM),
			 pmadv_target_pid(t));
	memset(&r, 0xff, sizeof(r));
	assert_int_equal(pmadv_kill_reap(t, SIGKILL, 0, &r, sizeof(r)),
			 -ESRCH);
	assert_int_equal(r.freed_by, PMADV_FREED_NONE);
	assert_int_equal(r.rss_before, 0); /* not the stranger's */
	assert_int_equal(waitpid(b.pid, NULL, WNOHANG), 0);
	assert_int_not_equal(pmtest_state(b.pid, 0), 'Z');
	assert_true(pmtest_rollup_kb(b.pid, "Rss") >= (long)(VICTIM / 1024));
	pmadv_close(t);
	pmtest_reap(&b);
	munmap(p, VICTIM);
}

/* The order of the kernel calls, through the syscall seam. */
static char calls[16];
static int send_err;

static long fake_send(int pidfd, int sig)
{
	(void)pidfd;
	strcat(calls, sig ? "K" : "0");
	if (sig && send_err) {
		errno = send_err;
		return -1;
	}
	return 0;
}

static long fake_mrelease(int pidfd, unsigned int flags)
{
	(void)pidfd, (void)flags;
	strcat(calls, "R");
	return 0;
}

static void test_never_mrelease_before_signal(void **state)
{
	struct pmadv_sys fake = pmadv_sys_kernel;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_reap_result r;
	void *p = victim_area();

	(void)state;
	spawn_victim(&c, p);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	fake.pidfd_send_signal = fake_send;
	fake.process_mrelease = fake_mrelease;
	pmadv_sys = &fake;
	for (int i = 0; i < 2; i++) {
		send_err = i ? EPERM : 0;
		calls[0] = '\0';
		assert_int_equal(pmadv_kill_reap(t, SIGKILL, 0, &r, sizeof(r)),
				 i ? -EPERM : 0);
		assert_string_equal(calls, i ? "0K" : "0KR0");
	}
	/* refused before any kernel call */
	calls[0] = '\0';
	assert_int_equal(pmadv_kill_reap(t, 0, 0, &r, sizeof(r)), -EINVAL);
	assert_int_equal(pmadv_kill_reap(t, _NSIG, 0, &r, sizeof(r)), -EINVAL);
	assert_int_equal(pmadv_kill_reap(t, SIGKILL, 2, &r, sizeof(r)),
			 -EINVAL);
	assert_int_equal(pmadv_kill_reap(NULL, SIGKILL, 0, &r, sizeof(r)),
			 -EINVAL);
	assert_string_equal(calls, "");
	pmadv_sys = &pmadv_sys_kernel;
	/* the fakes sent nothing: it still runs */
	assert_true(pmtest_rollup_kb(c.pid, "Rss") >= (long)(VICTIM / 1024));
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(p, VICTIM);
}

/* A result struct of an older, smaller size gets exactly its bytes. */
static void test_result_size(void **state)
{
	void *p = victim_area();
	struct pmtest_child c;
	struct pmadv_target *t;
	unsigned char buf[sizeof(struct pmadv_reap_result) + 8];
	size_t small = offsetof(struct pmadv_reap_result, rss_after);

	(void)state;
	spawn_victim(&c, p);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(pmadv_kill_reap(t, SIGKILL, 0,
					 (struct pmadv_reap_result *)buf,
					 small), 0);
	for (size_t i = small; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);
	assert_true(((struct pmadv_reap_result *)buf)->rss_before >= VICTIM);
	pmadv_close(t);
	pmtest_reap(&c);
	munmap(p, VICTIM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reaped_before_exit),
		cmocka_unit_test(test_mrelease_raw),
		cmocka_unit_test(test_enosys_waits_for_exit),
		cmocka_unit_test(test_not_dying),
		cmocka_unit_test(test_daemon_reaps_meanwhile),
		cmocka_unit_test(test_pid_reuse_never_signalled),
		cmocka_unit_test(test_never_mrelease_before_signal),
		cmocka_unit_test(test_result_size),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
