// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ptrace rung's operations for the ladder: probe, begin (a turn, the
 * preflight, then the tracer that attaches), advise and end through the
 * tracer, and the verdict and diagnosis. See ptrace.h for how the rung works.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ptrace.h"

/* PMADV_PTRACE_FAST: see enum path. */
static enum path env_path(int advice, bool *force)
{
	const char *e = pmadv_env("PMADV_PTRACE_FAST");

	*force = false;
	if (e && e[0] == '0')
		return PATH_EACH;
	if (e && !strcmp(e, "loop")) {
		*force = true;
		return PATH_LOOP;
	}
	/* MADV_DONTNEED before 6.13, any advice before 5.10: the loop */
	return pt_self_process_madvise(advice) != SELF_NO ? PATH_PM : PATH_LOOP;
}

/* PMADV_PTRACE_LINGER_US (tests): how long the armed loop's tail waits for
 * the tracer, 0 to 10,000,000 us (*forced); else 100 ms (see linger_of in
 * paths.c). */
static long env_linger(bool *forced)
{
	const char *e = pmadv_env("PMADV_PTRACE_LINGER_US");
	char *end;
	long v = e && *e ? strtol(e, &end, 10) : -1;

	*forced = e && *e && !*end && v >= 0 && v <= 10000000;
	return *forced ? v : 100000;
}

/* ---- the rung ---- */

static int ptrace_probe(void)
{
#ifndef PMADV_ARCH_PTRACE
	return -ENOSYS;
#else
	long v = 0;

	/* PID 0 names no process: ESRCH proves ptrace is callable; a
	 * seccomp filter answers ENOSYS or EPERM instead. */
	if (syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, NULL, &v) == 0)
		return 0;
	return errno == ESRCH ? 0 : -errno;
#endif
}

/* PMADV_PTRACE_KEEP_MS: how long a tracer stays for the next request of
 * the same thread, in ms: 1,000 when unset, at most 60,000, 0 for what
 * is not a positive number (see tracer.c). */
static int env_keep(void)
{
	const char *e = pmadv_env("PMADV_PTRACE_KEEP_MS");
	char *end;
	long v;

	if (!e)
		return 1000;
	/* An opt-out must not fail open: what does not read as a number
	 * (blanks around it allowed) keeps none, and more than a minute
	 * is a minute. */
	errno = 0;
	v = strtol(e, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (end == e || *end || errno || v <= 0)
		return 0;
	return v > 60000 ? 60000 : (int)v;
}

/* 1: the kept tracer claimed had exited (killed while idle): try again
 * with a fresh one. */
static int begin_once(struct pmadv_call *c, bool fresh)
{
	struct session *s;
	struct tinfo ti;
	bool suspend, claimed;
	char msg[256];
	int ret, timeout_ms = c->timeout_ms > 0 ? c->timeout_ms
						: DEFAULT_TIMEOUT_MS;

	ret = pt_take_turn(c->t->pid, timeout_ms);
	if (ret < 0) {
		pmadv_debug("ptrace: PID %d: another request of this process "
			    "held it for %d ms", (int)c->t->pid, timeout_ms);
		return ret;
	}
	ret = pt_preflight(c->t, &ti, &suspend, msg, sizeof(msg));
	if (ret < 0) {
		pmadv_debug("ptrace: %s", msg);
		pt_end_turn(c->t->pid);
		return ret;
	}
	/* The debug log goes to the standard error the tracer had at its
	 * start: with the log on, a tracer is neither kept nor reused, so
	 * each request's lines go where the caller's standard error is. */
	s = fresh || pmadv_debug_on() ? NULL : pt_session_claim();
	claimed = s != NULL;
	if (!s && !(s = calloc(1, sizeof(*s)))) {
		pt_end_turn(c->t->pid);
		return -ENOMEM;
	}
	s->keep = pmadv_debug_on() ? 0 : env_keep();
	s->pid = c->t->pid;
	s->tid = ti.tid;
	s->nspid = ti.nspid;
	s->pidfd = c->t->pidfd;
	s->starttime = c->t->starttime;
	s->advice = c->advice;
	s->timeout_ms = timeout_ms;
	s->want = env_path(c->advice, &s->force);
	s->want_patch = pmadv_env("PMADV_PTRACE_PATCH") &&
			!strcmp(pmadv_env("PMADV_PTRACE_PATCH"), "1");
	s->suspend_seccomp = suspend;
	s->rt = pt_rt_policy();
	s->linger_us = env_linger(&s->linger_forced);
	pt_hint_get(s);
	s->memfd = -1;
	s->mapsfd = -1;
	s->tfd = -1;

	ret = pt_session_start(s);
	if (ret == -ECHILD) {
		/* a kept tracer that did not answer (stopped, say) */
		pt_session_lost(s);
		return 1;
	}
	if (ret < 0) {
		free(s);
		pt_end_turn(c->t->pid);
		return ret;
	}
	ret = pt_await(s, pt_attach_done);
	if (ret == 0 && pt_tracer_lost(s)) {
		pt_session_lost(s);
		if (claimed)
			return 1;
		/* killed (it says why it ends otherwise): as mid-request */
		pmadv_debug("ptrace: the tracer for PID %d was killed before "
			    "it attached", (int)c->t->pid);
		return -EIO;
	}
	if (ret == 0)
		ret = s->attach_ret;
	if (ret < 0) {
		/* the tracer is on its way out, or stuck on the target */
		if (pt_attach_done(s) && pt_await(s, pt_tracer_ended) == 0) {
			pt_session_done(s);
		} else {
			pt_give_up(s);
			pt_session_put(s);
		}
		return ret;
	}
	c->priv = s;
	return 0;
}

static int begin_any(struct pmadv_call *c)
{
	int ret = begin_once(c, false);

	return ret == 1 ? begin_once(c, true) : ret;
}

/* The thread chosen may exit before it is seized or armed, while its
 * process runs on (a main thread gone, short-lived workers): another
 * thread is chosen (pmadv_thread_retry). */
static int ptrace_begin(struct pmadv_call *c)
{
	int64_t start = 0;
	int ret = begin_any(c);

	for (int tries = 0; ret == -ESRCH && pmadv_target_alive(c->t) == 0 &&
			    pmadv_target_runs(c->t) == 1 &&
			    pmadv_thread_retry(tries, &start);
	     tries++) {
		pmadv_debug("ptrace: the thread of PID %d chosen has exited, "
			    "its process runs: choosing again",
			    (int)c->t->pid);
		ret = begin_any(c);
	}
	return ret;
}

/* The tracer ended without a word: it let go because its target exited
 * (ESRCH), or it was killed, which says nothing of the target (EIO; the
 * next request starts a new tracer). */
static int lost_err(const struct session *s)
{
	return pt_tracer_exited(s) && !__atomic_load_n(&s->ended,
							__ATOMIC_ACQUIRE)
		       ? -EIO
		       : -ESRCH;
}

static ssize_t ptrace_advise(struct pmadv_call *c, const struct iovec *iov,
			     size_t n, int *err)
{
	struct session *s = c->priv;
	bool at_end;
	ssize_t ret;

	if (!s)
		return -ENOSYS;
	if (s->gave_up)
		return -ETIMEDOUT;
	if (pt_tracer_ended(s))
		return s->end_err ? -s->end_err : lost_err(s);
	if (n > PMADV_IOV_MAX)
		n = PMADV_IOV_MAX; /* the engine never sends more */
	memcpy(s->iov, iov, n * sizeof(*iov));
	s->n = n;
	s->last = c->last;
	s->err = 0;
	pt_post(s, CMD_ADVISE);
	ret = pt_await(s, pt_cmd_done);
	/* A last batch all advised is answered before the tracer lets go
	 * (serve): a target that does not stop for the detach, or a tracer
	 * killed meanwhile, leaves that answer standing. */
	at_end = __atomic_load_n(&s->answer_at_end, __ATOMIC_ACQUIRE);
	if (ret < 0 && at_end) {
		pt_give_up(s); /* its detach is stuck: end waits no more */
		ret = 0;
	}
	if (ret == 0 && !at_end &&
	    __atomic_load_n(&s->cmd, __ATOMIC_ACQUIRE) != CMD_NONE) {
		/* the tracer ended without answering */
		ret = s->end_err ? -s->end_err : lost_err(s);
	} else if (ret == 0) {
		ret = s->ret;
		if (ret >= 0 && s->err)
			*err = s->err;
	}
	/* ETIMEDOUT from the tracer as from the wait: it is seeing a stuck
	 * call through, and the caller has waited its timeout already */
	if (ret == -ETIMEDOUT)
		pt_give_up(s);
	return ret;
}

static void ptrace_end(struct pmadv_call *c)
{
	struct session *s = c->priv;

	if (!s)
		return;
	c->priv = NULL;
	pt_session_end(s);
}

static struct pmadv_judgement ptrace_judge(struct pmadv_call *c, int err)
{
	(void)c;
	switch (err) {
	case ENOSYS: /* no ptrace here: nothing to report */
		return pmadv_judged(PMADV_NEXT, err);
	case ESRCH:
	case ETIMEDOUT:
	case EBUSY:
	case ENOEXEC:
		/* the target, not the element: as the last rung, this is
		 * the answer */
		return pmadv_judged(PMADV_STOP, err);
	default:
		/* begin's refusals (EPERM...) end the ladder either way;
		 * from advise, it is element 0's own error */
		return pmadv_judged(PMADV_SERVE, err);
	}
}

static int ptrace_diagnose(const struct pmadv_target *t, int advice,
			   char *msg, size_t len)
{
	struct tinfo ti;
	bool suspend;
	int ret = pmadv_rung_available(&pmadv_rung_ptrace);

	if (ret < 0) {
		if (ret == -ENOSYS)
			pmadv_msg(msg, len, "ptrace is not available here "
				  "(architecture not supported, or ptrace "
				  "hidden by seccomp)");
		else
			pmadv_msg(msg, len, "ptrace is refused in this "
				  "process (%s): seccomp filter or LSM",
				  pmadv_errdesc(-ret));
		return ret;
	}
	ret = pt_preflight(t, &ti, &suspend, msg, len);
	if (ret < 0)
		return ret;
	pmadv_msg(msg, len, "PID %d can run %s itself through ptrace%s%s",
		  (int)t->pid, pmadv_advice_name(advice),
		  suspend ? " (its seccomp filter suspended meanwhile)" : "",
		  pmadv_advice_destructive(advice)
			  ? "; destructive advice: needs PMADV_F_DESTRUCTIVE"
			  : "");
	return 0;
}

const struct pmadv_rung pmadv_rung_ptrace = {
	.method = PMADV_METHOD_PTRACE,
	.name = "ptrace",
	.probe = ptrace_probe,
	.begin = ptrace_begin,
	.advise = ptrace_advise,
	.end = ptrace_end,
	.judge = ptrace_judge,
	.diagnose = ptrace_diagnose,
};
