// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The native rung: process_madvise(2) on the target's pidfd. The engine
 * never hands it more than the kernel can take without truncating, so a short
 * count always means "stopped at an element".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int syscall_probe(void)
{
	/* No pidfd: EBADF proves the call exists; nothing is touched. */
	if (pmadv_sys->process_madvise(-1, NULL, 0, 0, 0) == 0)
		return 0;
	return errno == ENOSYS ? -ENOSYS : 0;
}

/* A forked child's own pidfd for a self handle without PIDFD_SELF, for
 * the request (c->priv: the descriptor + 1). */
static int syscall_begin(struct pmadv_call *c)
{
	int tmp, fd = pmadv_self_pidfd(c->t, &tmp);

	c->priv = NULL;
	if (fd < -1 && fd != PMADV_PIDFD_SELF)
		return fd;
	if (tmp >= 0)
		c->priv = (void *)(intptr_t)(tmp + 1);
	return 0;
}

static void syscall_end(struct pmadv_call *c)
{
	if (c->priv)
		close((int)(intptr_t)c->priv - 1);
}

static int call_pidfd(const struct pmadv_call *c)
{
	int tmp;

	if (c->priv)
		return (int)(intptr_t)c->priv - 1;
	/* needs no descriptor of its own: begin would have kept it */
	return pmadv_self_pidfd(c->t, &tmp);
}

static ssize_t syscall_advise(struct pmadv_call *c, const struct iovec *iov,
			      size_t n, int *err)
{
	int fd = call_pidfd(c);
	long ret;

	(void)err; /* the kernel loses the stopping element's errno */
	if (fd == -1)
		return -ENOSYS;
	ret = pmadv_sys->process_madvise(fd, iov, n, c->advice, 0);
	return ret < 0 ? -errno : ret;
}

/* A zero-length vector runs every check but the ranges': target alive,
 * advice accepted remotely, access, CAP_SYS_NICE. No side effects. */
static int zero_length_call(int pidfd, int advice)
{
	struct iovec none = { NULL, 0 };

	if (pmadv_sys->process_madvise(pidfd, &none, 0, advice, 0) == 0)
		return 0;
	return -errno;
}

static struct pmadv_judgement syscall_judge(struct pmadv_call *c, int err)
{
	int ret;

	/* The calling process itself: an error that an empty vector gets too
	 * is a refusal of the call (a seccomp filter, an LSM), not of the
	 * ranges, and madvise, the next rung, can always serve. */
	if (c->t->self && err != ENOSYS && err != EPERM && err != EINVAL &&
	    zero_length_call(call_pidfd(c), c->advice) == -err) {
		pmadv_debug("syscall: \"%s\" for the calling process even with no "
			    "ranges (seccomp filter or LSM); madvise next",
			    pmadv_errdesc(err));
		return pmadv_judged(PMADV_NEXT, err);
	}
	switch (err) {
	case ENOSYS:
		pmadv_debug("syscall: ENOSYS: no process_madvise here (old "
			    "kernel, no pidfd, or a seccomp filter); next rung");
		return pmadv_judged(PMADV_NEXT, err);
	case EPERM:
		pmadv_debug("syscall: EPERM: missing CAP_SYS_NICE or refused by "
			    "seccomp; next rung");
		return pmadv_judged(PMADV_NEXT, err);
	case EACCES:
		pmadv_debug("syscall: EACCES: may not inspect PID %d; no rung "
			    "can help", (int)c->t->pid);
		return pmadv_judged(PMADV_STOP, err);
	case ESRCH:
		return pmadv_judge_esrch(c, "syscall");
	case EBADF:
		return pmadv_judged(PMADV_STOP, err);
	case EINVAL:
		ret = zero_length_call(call_pidfd(c), c->advice);
		if (ret == -EINVAL) {
			pmadv_debug("syscall: EINVAL: this kernel refuses %s "
				    "for another process; next rung",
				    pmadv_advice_name(c->advice));
			return pmadv_judged(PMADV_NEXT, err);
		}
		if (ret < 0) /* the target changed under us: say how */
			return syscall_judge(c, -ret);
		return pmadv_judged(PMADV_SERVE, err);
	default:
		return pmadv_judged(PMADV_SERVE, err);
	}
}

static int syscall_diagnose(const struct pmadv_target *t, int advice,
			    char *msg, size_t len)
{
	int tmp, fd = pmadv_self_pidfd(t, &tmp);
	int ret = pmadv_rung_available(&pmadv_rung_syscall);

	if (ret == 0 && fd == -1)
		ret = -ENOSYS;
	else if (ret == 0 && fd < 0 && fd != PMADV_PIDFD_SELF)
		ret = fd;
	if (ret == 0)
		ret = zero_length_call(fd, advice);
	if (tmp >= 0)
		close(tmp);
	switch (-ret) {
	case 0:
		pmadv_msg(msg, len, "process_madvise accepts %s for PID %d",
			  pmadv_advice_name(advice), (int)t->pid);
		break;
	case ENOSYS:
		pmadv_msg(msg, len, "process_madvise or pidfd_open is missing "
			  "(kernel before 5.10, or hidden by seccomp)");
		break;
	case EPERM:
		if (pmadv_have_cap_sys_nice() == 0)
			pmadv_msg(msg, len, "process_madvise needs "
				  "CAP_SYS_NICE, which this process lacks");
		else
			pmadv_msg(msg, len, "process_madvise refused with "
				  "EPERM although CAP_SYS_NICE is held "
				  "(seccomp filter or LSM)");
		break;
	case EACCES:
		pmadv_msg(msg, len, "may not inspect PID %d (ptrace read "
			  "check failed: other owner or not dumpable)",
			  (int)t->pid);
		break;
	case EINVAL:
		pmadv_msg(msg, len, "this kernel does not accept %s from "
			  "another process", pmadv_advice_name(advice));
		break;
	case ESRCH:
		pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
		break;
	default:
		pmadv_msg(msg, len, "process_madvise check failed: %s",
			  strerror(-ret));
		break;
	}
	return ret;
}

const struct pmadv_rung pmadv_rung_syscall = {
	.method = PMADV_METHOD_SYSCALL,
	.name = "syscall",
	.probe = syscall_probe,
	.begin = syscall_begin,
	.advise = syscall_advise,
	.end = syscall_end,
	.judge = syscall_judge,
	.diagnose = syscall_diagnose,
};
