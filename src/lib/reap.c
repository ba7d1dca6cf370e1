// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_kill_reap: what a low-memory killer does to its victim. The signal
 * goes through the handle's pidfd (a reused PID is never hit), and only
 * then process_mrelease(2) frees the memory at once, instead of when the
 * exit gets to it. Where the kernel lacks it or refuses, the exit is
 * awaited on the pidfd, within a bound.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "errnos.h"
#include "internal.h"

#define REAP_WAIT_MS 5000
/* process_mrelease answers EAGAIN when it could not reap every VMA (one
 * locked by a racing page fault, say): ask again a few times */
#define MRELEASE_TRIES 8

struct mem {
	uint64_t rss, swap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* VmRSS and VmSwap of /proc/PID/status, in bytes: the kernel's counters,
 * which the reaper and the exit bring down as they free, read in O(1).
 * Not smaps_rollup: its walk of every page table under the victim's
 * mmap lock (milliseconds per GiB), just before the signal, spent the
 * killer's time slice, and the woken victim then preempted it and won
 * the race to its own memory (README, "Kill and reap"). Zeros once the
 * process or its memory is gone (no such lines, or no file). */
static void read_mem(pid_t pid, struct mem *m)
{
	char path[64], small[4096], *buf = small;
	size_t cap = sizeof(small);
	const char *p;
	ssize_t n;

	m->rss = m->swap = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	/* The Groups line comes first and holds up to 65536 IDs: read the
	 * whole file, in a larger buffer when it fills this one. */
	while ((n = pmadv_read_proc(path, buf, cap)) > 0 &&
	       (size_t)n == cap - 1 && cap < (4u << 20)) {
		char *bigger = realloc(buf == small ? NULL : buf, cap * 4);

		if (!bigger)
			break;
		buf = bigger;
		cap *= 4;
	}
	if (n > 0) {
		if ((p = strstr(buf, "\nVmRSS:")))
			m->rss = strtoull(p + 7, NULL, 10) * 1024;
		if ((p = strstr(buf, "\nVmSwap:")))
			m->swap = strtoull(p + 8, NULL, 10) * 1024;
	}
	if (buf != small)
		free(buf);
}

/* Whether process pid shares its memory with its parent or a child
 * (vfork, clone with CLONE_VM), as kcmp(KCMP_VM) tells: then its exit
 * frees none of it. Where kcmp is refused, false. */
static bool shares_mm(pid_t pid)
{
	char path[96], buf[4096], *p, *end;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pmadv_read_proc(path, buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "\nPPid:")) &&
	    syscall(SYS_kcmp, pid, (pid_t)strtol(p + 6, NULL, 10),
		    1 /* KCMP_VM */, 0UL, 0UL) == 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
		 (int)pid);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	for (p = buf; n > 0; p = end) {
		long child = strtol(p, &end, 10);

		if (end == p)
			break;
		if (syscall(SYS_kcmp, pid, (pid_t)child, 1 /* KCMP_VM */, 0UL,
			    0UL) == 0)
			return true;
	}
	return false;
}

/* 1 once the whole thread group has exited (its memory with it), 0 when
 * the bound passed first, -errno. */
static int wait_exit(int pidfd, int timeout_ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		uint64_t now = now_ns();
		int ret;

		if (now >= end)
			return 0;
		ret = poll(&p, 1, (int)((end - now + 999999) / 1000000));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret > 0)
			return 1;
	}
}

/* process_mrelease's errno, 0 when it reaped. */
static int mrelease(int pidfd)
{
	for (int i = 0; i < MRELEASE_TRIES; i++) {
		if (pmadv_sys->process_mrelease(pidfd, 0) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return errno;
	}
	return EAGAIN;
}

static int kill_reap(struct pmadv_target *t, int sig, unsigned int flags,
		     struct pmadv_reap_result *r)
{
	struct mem before, after;
	bool shared;
	uint64_t t0;
	int ret;

	/* not the caller: a self handle, or its own PID opened by number */
	if (!t || t->self || t->pid == getpid() || sig <= 0 || sig >= NSIG ||
	    (flags & ~PMADV_REAP_NOWAIT))
		return -EINVAL;
	if (t->pidfd < 0) {
		pmadv_debug("reap: PID %d has no pidfd: killing it by number "
			    "could hit a reused PID", (int)t->pid);
		return -ENOSYS;
	}
	/* Read, then checked alive through the pidfd: the reading was of
	 * this process, not of a stranger that took its PID. */
	read_mem(t->pid, &before);
	ret = pmadv_target_alive(t);
	/* a zombie is still in the process table, and takes the signal:
	 * it exited before it, nothing to kill or free */
	if (ret == 0 && pmadv_target_runs(t) == 0)
		ret = -ESRCH;
	if (ret < 0)
		return ret;
	r->rss_before = before.rss;
	r->swap_before = before.swap;
	shared = shares_mm(t->pid);
	t0 = now_ns();
	if (pmadv_sys->pidfd_send_signal(t->pidfd, sig) < 0)
		return -errno;
	r->error = mrelease(t->pidfd);
	if (r->error == 0) {
		r->freed_by = PMADV_FREED_MRELEASE;
	} else {
		pmadv_debug("reap: process_mrelease on PID %d: %s%s",
			    (int)t->pid, strerror(r->error),
			    flags & PMADV_REAP_NOWAIT ? ""
						      : "; waiting for its exit");
		ret = flags & PMADV_REAP_NOWAIT ? 0
						: wait_exit(t->pidfd, REAP_WAIT_MS);
		if (ret < 0)
			return ret;
		if (ret > 0)
			r->freed_by = PMADV_FREED_EXIT;
	}
	r->ns = now_ns() - t0;
	read_mem(t->pid, &after);
	if (pmadv_target_alive(t) < 0) /* a stranger's, if anything */
		after.rss = after.swap = 0;
	r->rss_after = after.rss;
	r->swap_after = after.swap;
	if (before.rss + before.swap > after.rss + after.swap)
		r->released = before.rss + before.swap - after.rss - after.swap;
	if (shared) {
		/* another process keeps the memory: the victim is gone,
		 * nothing was freed */
		pmadv_debug("reap: PID %d shared its memory with its parent "
			    "or a child: nothing freed", (int)t->pid);
		if (!r->freed_by && !(flags & PMADV_REAP_NOWAIT))
			return -ETIMEDOUT;
		r->freed_by = PMADV_FREED_NONE;
		r->released = 0;
		return 0;
	}
	if (!r->freed_by && !(flags & PMADV_REAP_NOWAIT))
		return -ETIMEDOUT;
	return 0;
}

PMADV_API int pmadv_kill_reap(struct pmadv_target *t, int sig,
			      unsigned int flags, struct pmadv_reap_result *res,
			      size_t ressz)
{
	struct pmadv_reap_result r;
	int saved = errno, ret;

	memset(&r, 0, sizeof(r));
	ret = kill_reap(t, sig, flags, &r);
	if (res)
		pmadv_struct_out(res, ressz, &r, sizeof(r));
	errno = saved;
	return (int)PMADV_RC(pmadv_kill_reap, ret);
}
