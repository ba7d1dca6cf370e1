// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_hold/pmadv_release: every thread of a running target stops and runs
 * again afterwards, a stopped target stays stopped, with ptrace and with
 * SIGSTOP, and a held target cannot change between enumeration and recheck.
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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmadvise.h"
#include "hold.h"
#include "layout.h"
#include "ptrace/ptrace.h"

struct kid {
	pid_t pid;
	int cmd;
	int ack; /* answers to '?' */
	struct pmadv_target *t;
};

static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

static void *spin(void *arg)
{
	volatile unsigned long n = 0;

	(void)arg;
	for (;;)
		n++;
	return NULL;
}

static void *short_lived(void *arg)
{
	return arg;
}

/* Threads come and go all the time: a hold must still catch them all. */
static void *churn(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_lived, NULL) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A child with three threads: main blocked in read(), one spinning, one
 * sleeping (or, with churn, one creating and joining threads without end).
 * Every command makes it mmap and munmap a page, so a target that runs when
 * it should be held changes its VMAs. */
static void kid_start_with(struct kid *k, void *(*second)(void *))
{
	int p[2], ack[2];
	char c;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(ack), 0);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		struct sigaction sa;
		pthread_t a, b;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[1]);
		close(ack[0]);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		pthread_create(&a, NULL, spin, NULL);
		pthread_create(&b, NULL, second, NULL);
		if (write(ack[1], "x", 1) != 1)
			_exit(1);
		/* '?': how many SIGUSR1 arrived; anything else: map and
		 * unmap a page. */
		while (read(p[0], &c, 1) == 1) {
			if (c == '?') {
				c = (char)usr1_count;
				if (write(ack[1], &c, 1) != 1)
					_exit(1);
				continue;
			}
			munmap(mmap(NULL, 4096, PROT_READ,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 4096);
		}
		_exit(0);
	}
	close(p[0]);
	close(ack[1]);
	assert_int_equal(read(ack[0], &c, 1), 1);
	k->cmd = p[1];
	k->ack = ack[0];
	assert_int_equal(pmadv_open(k->pid, 0, &k->t), 0);
	assert_true(wait_state(k->pid, "SR"));
}

static int kid_usr1(struct kid *k)
{
	char c;

	if (write(k->cmd, "?", 1) != 1 || read(k->ack, &c, 1) != 1)
		return -1;
	return c;
}

static void kid_start(struct kid *k)
{
	kid_start_with(k, sleeper);
}

static void kid_stop(struct kid *k)
{
	pmadv_close(k->t);
	close(k->cmd);
	close(k->ack);
	kill(k->pid, SIGKILL);
	waitpid(k->pid, NULL, 0);
}

static void settle(void)
{
	struct timespec ts = { 0, 100000000 };

	nanosleep(&ts, NULL);
}

static int nthreads(pid_t pid)
{
	char path[64];
	int n = 0;
	FILE *f;
	char line[256];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Threads:", 8))
			n = atoi(line + 8);
	fclose(f);
	return n;
}

/* Nothing of our doing may reach the parent: no stop, no continue. */
static void no_parent_notice(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, WUNTRACED | WCONTINUED | WNOHANG),
			 0);
}

static void test_ptrace_running(void **state)
{
	struct pmadv_hold *h;
	struct kid k;

	(void)state;
	kid_start(&k);
	assert_int_equal(nthreads(k.pid), 3);
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
	/* Every thread, the spinning one too, in a tracing stop. */
	assert_true(wait_state(k.pid, "t"));
	settle();
	assert_true(wait_state(k.pid, "t"));
	assert_int_equal(pmadv_release(h), 0);
	assert_true(wait_state(k.pid, "SR"));
	no_parent_notice(k.pid);
	kid_stop(&k);
}

static void test_ptrace_churn(void **state)
{
	struct pmadv_hold *h;
	struct kid k;
	int st;

	(void)state;
	kid_start_with(&k, churn);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
		/* Nothing runs: no thread can appear or go. */
		assert_true(wait_state(k.pid, "t"));
		assert_int_equal(pmadv_release(h), 0);
		assert_true(wait_state(k.pid, "SR"));
	}
	settle();
	assert_true(wait_state(k.pid, "SR"));
	no_parent_notice(k.pid);
	/* No traced zombie thread holds up the report of its death. */
	kill(k.pid, SIGKILL);
	assert_int_equal(waitpid(k.pid, &st, 0), k.pid);
	assert_true(WIFSIGNALED(st));
	pmadv_close(k.t);
	close(k.cmd);
	close(k.ack);
}

/* A signal sent while the target is held waits, and is delivered once,
 * after the release; the blocked read() of the main thread goes on. */
static void test_signal_while_held(void **state)
{
	struct pmadv_hold *h;
	struct kid k;

	(void)state;
	kid_start(&k);
	assert_int_equal(kid_usr1(&k), 0);
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
	kill(k.pid, SIGUSR1);
	settle();
	assert_true(wait_state(k.pid, "t"));
	assert_int_equal(pmadv_release(h), 0);
	assert_true(wait_state(k.pid, "SR"));
	assert_int_equal(kid_usr1(&k), 1);
	no_parent_notice(k.pid);
	kid_stop(&k);
}

struct tracee_q {
	struct pmadv_target *t;
	int ret;
};

static void *ask_tracee(void *arg)
{
	struct tracee_q *q = arg;
	pid_t tid;

	q->ret = pmadv_hold_tracee(q->t, &tid);
	return NULL;
}

/* The ptrace rung's way to a held thread: only for the holding thread. */
static void test_tracee_lookup(void **state)
{
	struct tracee_q q;
	struct pmadv_hold *h;
	pthread_t other;
	struct kid k;
	pid_t tid = 0;

	(void)state;
	kid_start(&k);
	assert_int_equal(pmadv_hold_tracee(k.t, &tid), -ENOENT);
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
	assert_int_equal(pmadv_hold_tracee(k.t, &tid), 0);
	assert_int_equal(tid, k.pid);
	q.t = k.t;
	assert_int_equal(pthread_create(&other, NULL, ask_tracee, &q), 0);
	pthread_join(other, NULL);
	assert_int_equal(q.ret, -ENOENT);
	assert_int_equal(pmadv_release(h), 0);
	assert_int_equal(pmadv_hold_tracee(k.t, &tid), -ENOENT);
	/* A SIGSTOP hold makes no tracee. */
	assert_int_equal(pmadv_hold(k.t, PMADV_HOLD_SIGSTOP, 0, &h), 0);
	assert_int_equal(pmadv_hold_tracee(k.t, &tid), -ENOENT);
	assert_int_equal(pmadv_release(h), 0);
	kid_stop(&k);
}

static void test_ptrace_stopped(void **state)
{
	struct pmadv_hold *h;
	struct kid k;

	(void)state;
	kid_start(&k);
	kill(k.pid, SIGSTOP);
	assert_true(wait_state(k.pid, "T"));
	{
		int st;

		/* Consume the stop report the kernel owes us as parent. */
		assert_int_equal(waitpid(k.pid, &st, WUNTRACED), k.pid);
		assert_true(WIFSTOPPED(st));
	}
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
	assert_true(wait_state(k.pid, "t"));
	assert_int_equal(pmadv_release(h), 0);
	assert_true(wait_state(k.pid, "T"));
	settle();
	assert_true(wait_state(k.pid, "T"));
	/* And it still answers to job control. */
	kill(k.pid, SIGCONT);
	assert_true(wait_state(k.pid, "SR"));
	kid_stop(&k);
}

static void test_sigstop_running(void **state)
{
	struct pmadv_hold *h;
	struct kid k;

	(void)state;
	kid_start(&k);
	assert_int_equal(pmadv_hold(k.t, PMADV_HOLD_SIGSTOP, 0, &h), 0);
	assert_true(wait_state(k.pid, "T"));
	assert_int_equal(pmadv_release(h), 0);
	assert_true(wait_state(k.pid, "SR"));
	kid_stop(&k);
}

static void test_sigstop_stopped(void **state)
{
	struct pmadv_hold *h;
	struct kid k;

	(void)state;
	kid_start(&k);
	kill(k.pid, SIGSTOP);
	assert_true(wait_state(k.pid, "T"));
	assert_int_equal(pmadv_hold(k.t, PMADV_HOLD_SIGSTOP, 0, &h), 0);
	assert_int_equal(pmadv_release(h), 0);
	settle();
	assert_true(wait_state(k.pid, "T"));
	kid_stop(&k);
}

/* Held: the commands the child gets cannot run, so nothing changes
 * between the enumeration and the recheck; released, they run. */
static void test_hold_recheck(void **state)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct pmadv_vma_change ch[4];
	struct pmadv_vma_iter *it;
	struct pmadv_hold *h;
	struct iovec iov[64];
	struct kid k;
	ssize_t n;

	(void)state;
	kid_start(&k);
	f.match_any = PMADV_VMA_ANON;
	f.match_none = PMADV_VMA_UNADVISABLE;
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
	assert_int_equal(pmadv_vma_open(k.t, &f, PMADV_VMA_F_RECORD, &it), 0);
	/* Advice needs CAP_SYS_NICE; holding and the recheck do not. */
	while ((n = pmadv_vma_fill(it, iov, 64)) > 0)
		if (geteuid() == 0)
			assert_true(pmadv_advise(k.t, iov, (size_t)n,
						 MADV_COLD, NULL, NULL) >= 0);
	assert_int_equal(n, 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(write(k.cmd, "m", 1), 1);
	settle();
	assert_int_equal(pmadv_vma_recheck(it, ch, 4), 0);
	pmadv_vma_close(it);
	assert_int_equal(pmadv_release(h), 0);
	assert_true(wait_state(k.pid, "SR"));
	kid_stop(&k);
}

static void test_errors(void **state)
{
	struct pmadv_hold *h, *h2;
	struct pmadv_target *dead;
	struct kid k;
	pid_t pid;

	(void)state;
	errno = 4321;
	kid_start(&k);
	assert_int_equal(pmadv_hold(NULL, 0, 0, &h), -EINVAL);
	assert_int_equal(pmadv_hold(k.t, 0x10, 0, &h), -EINVAL);
	assert_int_equal(pmadv_hold(k.t, 0, -1, &h), -EINVAL);
	assert_int_equal(pmadv_hold(k.t, PMADV_HOLD_LEASE, 0, &h), -EINVAL);
	assert_int_equal(pmadv_hold(k.t, PMADV_HOLD_LEASE | 0x4, 100, &h),
			 -EINVAL);
	assert_int_equal(pmadv_release(NULL), 0);
	{
		struct pmadv_target *self;

		assert_int_equal(pmadv_open(getpid(), 0, &self), 0);
		assert_int_equal(pmadv_hold(self, 0, 0, &h), -EINVAL);
		assert_int_equal(pmadv_hold(self, PMADV_HOLD_SIGSTOP, 0, &h),
				 -EINVAL);
		pmadv_close(self);
	}
	/* Held already by this thread, which would wait for itself: the
	 * second hold says EBUSY at once and the first one is untouched. */
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h), 0);
	assert_int_equal(pmadv_hold(k.t, 0, 0, &h2), -EBUSY);
	assert_true(wait_state(k.pid, "t"));
	assert_int_equal(pmadv_release(h), 0);
	assert_true(wait_state(k.pid, "SR"));
	kid_stop(&k);

	pid = fork();
	if (pid == 0)
		_exit(0);
	assert_int_equal(pmadv_open(pid, 0, &dead), 0);
	waitpid(pid, NULL, 0);
	assert_int_equal(pmadv_hold(dead, 0, 0, &h), -ESRCH);
	assert_int_equal(pmadv_hold(dead, PMADV_HOLD_SIGSTOP, 0, &h), -ESRCH);
	pmadv_close(dead);
	assert_int_equal(errno, 4321);
}

/* A lease ends the hold's tracer only in its wait for the next command
 * (pt_next_cmd): a command posted before the tracer looks is served, even
 * past the deadline, and only an idle wait ends, on time, with ETIMEDOUT.
 * (No request injects through a hold's tracer yet: the ptrace rung gets
 * EBUSY on a held target, pmadv_hold(3). This is what one would meet.) */
static void test_lease_between_commands(void **state)
{
	struct session *s = calloc(1, sizeof(*s));
	int64_t t0;

	(void)state;
	assert_non_null(s);
	s->caller = getppid(); /* the tracer's view of a live caller */
	s->cmd = CMD_ADVISE;
	assert_int_equal(pt_next_cmd(s, pt_now_ms() - 1000, NULL), CMD_ADVISE);
	assert_int_equal(s->end_err, 0);
	s->cmd = CMD_NONE;
	t0 = pt_now_ms();
	assert_int_equal(pt_next_cmd(s, t0 + 150, NULL), CMD_END);
	assert_int_equal(s->end_err, ETIMEDOUT);
	assert_true(pt_now_ms() - t0 >= 150);
	assert_true(pt_now_ms() - t0 < 250);
	free(s);
}

/* More targets held at once by one process than the 256 turns it had:
 * the 257th hold waited for a free turn and failed with ETIMEDOUT. */
#define MANY_HOLDS 300

static void test_many_holds(void **state)
{
	pid_t pid[MANY_HOLDS];
	struct pmadv_target *t[MANY_HOLDS];
	struct pmadv_hold *h[MANY_HOLDS];

	(void)state;
	for (int i = 0; i < MANY_HOLDS; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
	}
	for (int i = 0; i < MANY_HOLDS; i++) {
		int ret;

		assert_int_equal(pmadv_open(pid[i], 0, &t[i]), 0);
		ret = pmadv_hold(t[i], 0, 2000, &h[i]);
		if (ret)
			fail_msg("hold %d of %d: %s", i + 1, MANY_HOLDS,
				 strerror(-ret));
	}
	for (int i = 0; i < MANY_HOLDS; i++) {
		assert_true(wait_state(pid[i], "t"));
		assert_int_equal(pmadv_release(h[i]), 0);
		pmadv_close(t[i]);
		kill(pid[i], SIGKILL);
		assert_int_equal(waitpid(pid[i], NULL, 0), pid[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ptrace_running),
		cmocka_unit_test(test_ptrace_stopped),
		cmocka_unit_test(test_ptrace_churn),
		cmocka_unit_test(test_tracee_lookup),
		cmocka_unit_test(test_signal_while_held),
		cmocka_unit_test(test_sigstop_running),
		cmocka_unit_test(test_sigstop_stopped),
		cmocka_unit_test(test_hold_recheck),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_lease_between_commands),
		cmocka_unit_test(test_many_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
