// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Waiting for the tracee: polling for its next ptrace stop within a
 * deadline, resuming it, and holding back the signals that come while it
 * runs our code, to raise them again after the detach.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include "ptrace.h"

int64_t pt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool pt_tracee_dead(const struct session *s)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)s->tid, &si,
		   WEXITED | WNOHANG | WNOWAIT | __WALL) < 0)
		return errno == ECHILD;
	/* a tracer's wait reports ptrace stops even without WSTOPPED */
	return si.si_pid == s->tid &&
	       (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED ||
		si.si_code == CLD_DUMPED);
}

void pt_bump_progress(struct session *s)
{
	__atomic_add_fetch(&s->progress, 1, __ATOMIC_RELAXED);
}

bool pt_rt_policy(void)
{
	int p = sched_getscheduler(0);

	if (p < 0)
		return false;
	p &= ~SCHED_RESET_ON_FORK;
	return p == SCHED_FIFO || p == SCHED_RR;
}

/* Waiting for the tracee: a stop usually comes within microseconds, so
 * yield first (the tracee may be waiting for this CPU), then nap, doubling
 * up to 200 us, a bound on the latency added to a slow stop. A real-time
 * tracer naps at once (pt_rt_policy). */
void pt_backoff(const struct session *s, unsigned int i,
		struct timespec *nap)
{
	if (i < 2000 && !s->rt) {
		sched_yield();
		return;
	}
	nanosleep(nap, NULL);
	if (nap->tv_nsec < 200000)
		nap->tv_nsec *= 2;
}

/*
 * The next ptrace stop of the tracee, as waitpid would encode it without
 * the 0x7f: signal | event << 8. Polls, because a library cannot count on
 * SIGCHLD and must keep its deadline; exits are peeked at (WNOWAIT) and
 * never reaped, so the target's parent still gets its status.
 * deadline < 0: wait as long as it takes (restoring a stuck target).
 */
int pt_poll_stop(struct session *s, int *status)
{
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)s->tid, &si,
			   WSTOPPED | WNOHANG | __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECHILD ? -ESRCH : -errno;
		}
		if (si.si_pid != s->tid)
			return 0;
		*status = si.si_status;
		pt_bump_progress(s);
		return 1;
	}
}

int pt_wait_stop(struct session *s, int64_t deadline, int *status)
{
	struct timespec nap = { 0, 10000 };
	unsigned int i;

	for (i = 0;; i++) {
		int ret = pt_poll_stop(s, status);

		if (ret)
			return ret < 0 ? ret : 0;
		if ((i & 15) == 15 && pt_tracee_dead(s))
			return -ESRCH;
		if (deadline >= 0 && pt_now_ms() > deadline)
			return -ETIMEDOUT;
		pt_backoff(s, i, &nap);
	}
}

int64_t pt_deadline_of(const struct session *s)
{
	return pt_now_ms() + s->timeout_ms;
}

int pt_resume(struct session *s, int req, int sig)
{
	if (ptrace((enum __ptrace_request)req, s->tid, NULL,
		   (void *)(long)sig) < 0)
		return -errno;
	return 0;
}

/*
 * A signal-delivery stop while the tracee is ours. Every signal is blocked
 * while our code runs, so none of the target's own signals is dequeued
 * then (they stay pending, siginfo and all, for after the detach); what
 * can stop the thread is SIGSTOP, which passes so the group stop happens
 * as it would have, or a fault our code caused (SIGSEGV at a borrowed
 * instruction the target unmapped, SIGSYS...), which the kernel forces
 * through the mask. That one is ours: the target must never see it. -EIO
 * ends the session, and the detach resumes the thread from this stop with
 * no signal, which discards it, before it puts the registers back. Any
 * other signal can only come to a thread that returned through its frame
 * (frame.c) and runs its own code again: it passes, as it would have.
 */
int pt_signal_stop(struct session *s, int sig, int *pass)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (sig == SIGSTOP ||
	    (sig > 0 && sig <= 64 && !((1ULL << (sig - 1)) & FAULT_SIGS)) ||
	    (ptrace(PTRACE_GETSIGINFO, s->tid, NULL, &si) == 0 &&
	     si.si_code <= 0)) {
		*pass = sig;
		return 0;
	}
	pmadv_debug("ptrace: our code in PID %d raised signal %d: "
		    "discarded, restoring the target", (int)s->pid, sig);
	return -EIO;
}

int pt_run_until(struct session *s, int req, bool want_syscall, bool pass,
		 bool no_resume, int64_t deadline)
{
	int ret, st, sig = 0;

	for (;;) {
		if (!no_resume && (ret = pt_resume(s, req, sig)) < 0)
			return ret;
		no_resume = false;
		sig = 0;
		ret = pt_wait_stop(s, deadline, &st);
		if (ret < 0)
			return ret;
		if ((st & 0xff) == (SIGTRAP | 0x80)) {
			if (want_syscall)
				return 0;
			continue;
		}
		if ((st >> 8) == PTRACE_EVENT_STOP) {
			if (!want_syscall)
				return 0;
			continue;
		}
		if (st >> 8)
			continue; /* an event we did not ask for */
		if (pass)
			sig = st & 0xff;
		else if ((ret = pt_signal_stop(s, st & 0xff, &sig)) < 0)
			return ret;
	}
}
