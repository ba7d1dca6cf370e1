// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Advising a batch (tracer): the scratch mapping in the target, and the
 * three paths of enum path: one injected madvise per range, one
 * process_madvise on the target's own pidfd, or the madvise loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptrace.h"

/* ---- the scratch mapping (tracer) ---- */

/* The loop's scratch mapping: the code page, then the block and vector. */
static size_t loop_len(void)
{
	size_t page = pmadv_page_size();

	return page + ((PMADV_LOOP_VEC + SCRATCH_LEN + page - 1) & ~(page - 1));
}

/*
 * Sets up the scratch mapping for s->path: for PATH_PM the iovec area and a
 * pidfd of the target for itself; for PATH_LOOP a page of loop code, made
 * read+exec (never writable and executable at once) once written, and the
 * block after it. Anything that fails leaves PATH_EACH; a mapping already
 * made is unmapped by detach.
 */
static void setup_scratch(struct session *s)
{
	bool loop = s->path == PATH_LOOP;
	size_t len = loop ? loop_len() : SCRATCH_LEN, clen = 0;
	const unsigned char *code;
	long addr, fd, rv;

	s->path = PATH_EACH;
	if (pt_inject(s, PMADV_NR_MMAP, 0, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, &addr) < 0)
		return;
	if (addr < 0 && addr > -4096) {
		pmadv_debug("ptrace: mmap in PID %d: %s", (int)s->pid,
			    pmadv_errdesc((int)-addr));
		return;
	}
	s->scratch = s->compat ? (uint32_t)addr : (uint64_t)addr;
	s->scratch_len = len;
	/* A child another thread of the target forks meanwhile must not
	 * inherit it: it would keep it for good. */
	if (pt_inject(s, PMADV_NR_MADVISE, s->scratch, len, MADV_DONTFORK, 0,
		      0, &rv) < 0)
		return;
	if (rv < 0)
		pmadv_debug("ptrace: MADV_DONTFORK in PID %d: %s", (int)s->pid,
			    pmadv_errdesc((int)-rv));
	if (loop) {
		code = pmadv_arch_loop_code(s->compat, &clen);
		if (!code || pwrite(s->memfd, code, clen, (off_t)s->scratch) !=
				     (ssize_t)clen)
			return;
		/* W^X policies (SELinux execmem, PR_SET_MDWE, PaX) may
		 * refuse: then per-range injection, which needs no code of
		 * ours */
		if (pt_inject(s, PMADV_NR_MPROTECT, s->scratch,
			      pmadv_page_size(), PROT_READ | PROT_EXEC, 0, 0,
			      &rv) < 0)
			return;
		if (rv < 0) {
			pmadv_debug("ptrace: mprotect in PID %d: %s",
				    (int)s->pid, pmadv_errdesc((int)-rv));
			return;
		}
		s->path = PATH_LOOP;
		return;
	}
	/* Other threads of the target keep running and may close and reuse
	 * any fd number we create there: where the kernel has it, name the
	 * process without one. */
	if (pt_self_process_madvise(s->advice) == SELF_SENTINEL) {
		s->tfd = PT_PIDFD_SELF;
		s->tfd_sentinel = true;
		s->path = PATH_PM;
		return;
	}
	if (pt_inject(s, PMADV_NR_PIDFD_OPEN, (uint64_t)s->nspid, 0, 0, 0, 0,
		      &fd) < 0)
		return;
	if (fd < 0) {
		pmadv_debug("ptrace: pidfd_open in PID %d: %s", (int)s->pid,
			    pmadv_errdesc((int)-fd));
		return;
	}
	s->tfd = fd;
	s->path = PATH_PM;
}

/* ---- advising (tracer) ---- */

static ssize_t advise_each(struct session *s, const struct iovec *iov,
			   size_t n, int *err)
{
	size_t done = 0;
	long rv;

	for (size_t i = 0; i < n; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;
		int ret;

		/* A batch is up to 1,024 injections, seconds under emulation:
		 * a caller that died meanwhile (nobody reads the result) has
		 * the target let go within 16 of them, not after the batch. */
		if (i && !(i % 16) && pt_caller_gone(s)) {
			*err = ECANCELED;
			return (ssize_t)done;
		}
		if (s->compat && (base > UINT32_MAX || len > UINT32_MAX - base))
			rv = -ENOMEM; /* beyond a 32-bit address space */
		else if ((ret = pt_inject(s, PMADV_NR_MADVISE, base, len,
					  (uint64_t)s->advice, 0, 0, &rv)) < 0)
			rv = ret;
		if (rv < 0) {
			if (i == 0)
				return rv;
			*err = (int)-rv;
			return (ssize_t)done;
		}
		done += len;
	}
	return (ssize_t)done;
}

static ssize_t advise_fast(struct session *s, const struct iovec *iov,
			   size_t n, int *err)
{
	unsigned char buf[SCRATCH_LEN];
	size_t total = 0, sz = s->compat ? 8 : 16, k;
	long rv;
	int ret;

	if (n > PMADV_IOV_MAX)
		return advise_each(s, iov, n, err);
	for (size_t i = 0; i < n; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;

		if (s->compat) {
			uint32_t e[2] = { (uint32_t)base, (uint32_t)len };

			if (base > UINT32_MAX || len > UINT32_MAX - base)
				return advise_each(s, iov, n, err);
			memcpy(buf + i * sz, e, sz);
		} else {
			uint64_t e[2] = { base, len };

			memcpy(buf + i * sz, e, sz);
		}
		total += len;
	}
	if (pwrite(s->memfd, buf, n * sz, (off_t)s->scratch) !=
	    (ssize_t)(n * sz))
		return advise_each(s, iov, n, err);
	ret = pt_inject(s, PMADV_NR_PROCESS_MADVISE, (uint64_t)s->tfd,
			s->scratch, n, (uint64_t)s->advice, 0, &rv);
	if (ret < 0)
		return ret;
	if (rv < 0) {
		/* Element 0, or process_madvise itself (capabilities before
		 * 6.12, advice before 6.13): one madvise per range knows. */
		ssize_t r = advise_each(s, iov, n, err);

		if (r > 0 || (r < 0 && r != rv)) {
			pmadv_debug("ptrace: process_madvise in PID %d: %s; "
				    "one madvise per range from now on",
				    (int)s->pid, pmadv_errdesc((int)-rv));
			s->path = PATH_EACH;
		}
		return r;
	}
	if ((size_t)rv >= total)
		return rv;
	/* Stopped at element k; its errno is lost: ask it alone. */
	for (k = 0, total = 0; k < n; k++) {
		if (iov[k].iov_len && total + iov[k].iov_len > (size_t)rv)
			break;
		total += iov[k].iov_len;
	}
	{
		ssize_t r = advise_each(s, iov + k, n - k, err);

		if (r < 0) {
			*err = (int)-r;
			return rv;
		}
		return rv + r;
	}
}

/*
 * The madvise loop (PATH_LOOP): for kernels that do not let a process give
 * itself this advice through process_madvise (MADV_DONTNEED before 6.13,
 * anything before 5.10), the target runs the routine of arch.h over the
 * whole batch, at the cost of one stop instead of two per range.
 *
 * How the tracer gets the tracee back at the routine's end, and why so:
 * - Under PTRACE_SYSCALL every madvise of the loop stops twice: counting
 *   the stops is deterministic but brings back most of the per-range cost.
 * - A self-signal (tgkill SIGSTOP, a fault, int3) would stop it under
 *   PTRACE_CONT, but SIGSTOP flushes a pending SIGCONT and coalesces with
 *   a SIGSTOP someone else sends meanwhile (which we would then swallow),
 *   any other signal must first be unblocked, which lets through one of
 *   the target's own pending ones, and forced signals (faults, int3) reset
 *   the target's handler when the signal is blocked or ignored.
 * So the routine sends nothing: it runs under PTRACE_CONT with every signal
 * still blocked, publishes its progress and, last, DONE in the scratch
 * block, then lingers (armed: arch.h) or parks in pause(2). The tracer
 * watches the block through
 * /proc/PID/mem (the same polling as pt_wait_stop, plus an 8-byte read) and,
 * once DONE is set, stops it with PTRACE_INTERRUPT: the interrupt stop can
 * only come after the results are stored, wherever exactly in the tail it
 * lands, and registers are reset before the tracee runs again, so pause's
 * restart is never taken. No signal is sent, none is unblocked, and stops
 * that come meanwhile (SIGSTOP, group stop) are handled as in pt_run_until.
 * Each change of INDEX re-arms the deadline and counts as progress, so the
 * timeout bounds one madvise, as with per-range injection.
 */
static int run_loop(struct session *s, uint64_t block)
{
	struct timespec nap = { 0, 10000 };
	int64_t deadline = pt_deadline_of(s);
	uint64_t seen = 0;
	int ret;

	ret = pt_resume(s, PTRACE_CONT, 0);
	if (ret < 0)
		return ret;
	s->in_loop = true;
	for (unsigned int i = 0;; i++) {
		uint64_t st[3]; /* INDEX, RESULT, DONE */
		int status;

		ret = pt_poll_stop(s, &status);
		if (ret < 0)
			return ret;
		if (ret) {
			int sig = 0;

			/* a signal-delivery stop: see pt_signal_stop;
			 * event stops (group stop) just go on */
			if (!(status >> 8) &&
			    (status & 0xff) != (SIGTRAP | 0x80) &&
			    (ret = pt_signal_stop(s, status & 0xff, &sig)) < 0)
				return ret;
			ret = pt_resume(s, PTRACE_CONT, sig);
			if (ret < 0)
				return ret;
			continue;
		}
		if (pread(s->memfd, st, sizeof(st), (off_t)block) !=
		    (ssize_t)sizeof(st))
			return pt_exiting(s->pid, s->tid) ? -ESRCH : -EIO;
		if (st[2])
			break;
		if (st[0] != seen) {
			seen = st[0];
			deadline = pt_deadline_of(s);
			pt_bump_progress(s);
		}
		if ((i & 15) == 15 && pt_tracee_dead(s))
			return -ESRCH;
		if (pt_now_ms() > deadline)
			return -ETIMEDOUT;
		pt_backoff(s, i, &nap);
	}
	/* Results stored, the tracee parks in pause: take it back. */
	if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
		return -errno;
	ret = pt_run_until(s, PTRACE_CONT, false, false, true,
			   pt_deadline_of(s));
	if (ret == 0)
		ret = pt_after_loop(s);
	if (ret == 0)
		s->in_loop = false;
	return ret;
}

/*
 * How long the loop's tail waits for the tracer before it returns through
 * the frame by itself. rt_sigreturn resets the thread's restart block, so
 * a thread stopped in nanosleep, clock_nanosleep, poll or a futex wait
 * with a timeout (ERESTART_RESTARTBLOCK) that returns that way gets EINTR
 * where the tracer would have restarted the call: such a thread waits as
 * long as the tracer waits for a command (2 s), so that only a tracer
 * dead, or stopped that long with its caller, costs it that EINTR.
 * PMADV_PTRACE_LINGER_US (tests) overrides both.
 */
static long linger_of(const struct session *s)
{
	if (s->linger_forced)
		return s->linger_us;
	if (pmadv_arch_restarts_by_block(&s->saved) &&
	    s->linger_us < PT_IDLE_MS * 1000L)
		return PT_IDLE_MS * 1000L;
	return s->linger_us;
}

static ssize_t advise_loop(struct session *s, const struct iovec *iov,
			   size_t n, int *err)
{
	unsigned char buf[PMADV_LOOP_VEC + SCRATCH_LEN];
	uint64_t block = s->scratch + pmadv_page_size(), st[2] = { 0, 0 };
	size_t sz = s->compat ? 8 : 16, k, done = 0;
	struct pmadv_regs r = s->saved;
	long res = 0;
	int ret;

	if (n > PMADV_IOV_MAX)
		return advise_each(s, iov, n, err);
	/* A 32-bit target ends at the first element beyond its address
	 * space, with the ENOMEM madvise would give. */
	for (k = 0; k < n; k++) {
		uint64_t base = (uintptr_t)iov[k].iov_base;
		uint64_t len = iov[k].iov_len;

		if (s->compat && (base > UINT32_MAX || len > UINT32_MAX - base))
			break;
		/* Advice over the loop's own code or vector (DONTNEED, FREE)
		 * would pull them from under it: such a batch goes range by
		 * range. */
		if (len && base < s->scratch + s->scratch_len &&
		    s->scratch < base + len)
			return advise_each(s, iov, n, err);
	}
	if (k == 0)
		return -ENOMEM;
	memset(buf, 0, PMADV_LOOP_VEC);
	{
		uint64_t hdr[2] = { k, (uint64_t)(int64_t)s->advice };
		/* armed: how long the tail waits for us before it returns
		 * through the frame by itself (a struct timeval) */
		long us = linger_of(s);
		uint64_t linger[3] = { (uint64_t)(us / 1000000),
				       (uint64_t)(us % 1000000), 1 };

		/* the 32-bit struct timeval: tv_sec, tv_usec in 4 bytes
		 * each (the flag after it is read as 4 bytes too) */
		uint32_t linger32[2] = { (uint32_t)linger[0],
					 (uint32_t)linger[1] };

		memcpy(buf + PMADV_LOOP_N, hdr, sizeof(hdr));
		if (s->frame && s->compat) {
			memcpy(buf + PMADV_LOOP_LINGER, linger32,
			       sizeof(linger32));
			memcpy(buf + PMADV_LOOP_ARMED, &linger[2],
			       sizeof(linger[2]));
		} else if (s->frame) {
			memcpy(buf + PMADV_LOOP_LINGER, linger,
			       sizeof(linger));
		}
	}
	for (size_t i = 0; i < k; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;
		unsigned char *e = buf + PMADV_LOOP_VEC + i * sz;

		if (s->compat) {
			uint32_t v[2] = { (uint32_t)base, (uint32_t)len };

			memcpy(e, v, sz);
		} else {
			uint64_t v[2] = { base, len };

			memcpy(e, v, sz);
		}
	}
	if (pwrite(s->memfd, buf, PMADV_LOOP_VEC + k * sz, (off_t)block) !=
	    (ssize_t)(PMADV_LOOP_VEC + k * sz))
		return advise_each(s, iov, n, err);
	pmadv_arch_set_loop(&r, s->scratch, block);
	if (s->frame)
		pmadv_arch_set_sp(&r, pmadv_arch_loop_sp(s->compat, s->frame));
	ret = pmadv_arch_setregs(s->tid, &r);
	if (ret == 0)
		ret = run_loop(s, block);
	if (ret < 0) {
		s->broken = -ret;
		pmadv_debug("ptrace: madvise loop in PID %d failed: %s",
			    (int)s->pid, pmadv_errdesc(-ret));
		return ret;
	}
	/* The tracee is in an interrupt stop of ours: whatever the block
	 * says, the session goes on (and the scratch area gets unmapped). */
	if (pread(s->memfd, st, sizeof(st), (off_t)block) !=
	    (ssize_t)sizeof(st))
		st[0] = SIZE_MAX; /* unreadable: fails the check below */
	res = s->compat ? (long)(int32_t)st[1] : (long)st[1];
	/* what no run of the routine can leave */
	if (st[0] > k || (res == 0 && st[0] != k) || res > 0 || res < -4095) {
		pmadv_debug("ptrace: madvise loop in PID %d left nonsense; "
			    "one madvise per range from now on", (int)s->pid);
		s->path = PATH_EACH;
		return -EIO;
	}
	for (size_t i = 0; i < st[0]; i++)
		done += iov[i].iov_len;
	pmadv_debug("ptrace: madvise loop ran in PID %d: %zu of %zu ranges%s%s",
		    (int)s->pid, (size_t)st[0], k, res < 0 ? ", then " : "",
		    res < 0 ? pmadv_errdesc((int)-res) : "");
	if (res < 0) {
		if (st[0] == 0)
			return res;
		*err = (int)-res;
		return (ssize_t)done;
	}
	if (k < n)
		*err = ENOMEM; /* beyond a 32-bit address space */
	return (ssize_t)done;
}

ssize_t pt_do_advise(struct session *s, const struct iovec *iov, size_t n,
		     int *err)
{
	if (s->broken)
		return -s->broken;
	/* Two injections to set up and one or two to clean up: for a
	 * handful of ranges one madvise each is cheaper. */
	if (s->path != PATH_EACH && !s->scratch && (n > FAST_MIN || s->force))
		setup_scratch(s);
	if (s->broken)
		return -s->broken;
	if (s->path == PATH_PM && (s->tfd >= 0 || s->tfd_sentinel))
		return advise_fast(s, iov, n, err);
	if (s->path == PATH_LOOP)
		return advise_loop(s, iov, n, err);
	return advise_each(s, iov, n, err);
}
