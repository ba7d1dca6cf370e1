// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The tracer: the process that seizes the target, runs the caller's
 * commands in it and puts everything back when it lets go, the worker
 * thread that starts it, and the hand-off through which the caller posts
 * commands and waits for them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ptrace.h"
#include "../vma.h"

/* ---- attach and detach (tracer) ---- */

/* Every signal blocked while our code runs: only once armed, since the
 * frame is what gives the thread its own mask back should we vanish. */
static int block_all(struct session *s)
{
	uint64_t all = ~(uint64_t)0;

	if (ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof(uint64_t),
		   &all) < 0)
		return -errno;
	s->mask_changed = true;
	return 0;
}

/*
 * The target waits in a call that swapped its signal mask (sigsuspend,
 * ppoll...): the mask to return to lives where ptrace cannot restore it,
 * and PTRACE_SETSIGMASK would drop it. Let the kernel restart the call as
 * it would anyway and catch the thread at the restarted call's entry, where
 * its own mask is back in place; the call is skipped now (skip_entry) and
 * run again from its instruction when we leave.
 */
static int to_entry_stop(struct session *s)
{
	struct pmadv_regs before = s->saved;
	int ret = pt_run_until(s, PTRACE_SYSCALL, true, true, false,
			       pt_deadline_of(s));

	if (ret == 0)
		ret = pmadv_arch_getregs(s->tid, &s->saved);
	if (ret < 0)
		return ret;
	/* Signals pass on the way: a handler may have run first, and this
	 * entry stop be its own call's. Where a syscall stop hides registers
	 * (aarch64's x7), they are only known from before, the same context:
	 * anywhere else, -EAGAIN, and pt_capture looks again later. */
	if (pmadv_arch_restarts_before_stop() &&
	    (pmadv_arch_pc(&s->saved) != pmadv_arch_pc(&before) + s->entry_ilen ||
	     pmadv_arch_sp(&s->saved) != pmadv_arch_sp(&before)))
		return -EAGAIN;
	pmadv_arch_syscall_stop_regs(&s->saved, &before);
	s->entry_mode = true;
	s->unrewound = s->saved;
	pmadv_arch_rewind(&s->saved);
	return 0;
}

/* At that entry stop: armed, the registers already name no call (number
 * -1, which the kernel skips) and return through the frame; unarmed, the
 * call is skipped where it stands. Then on to its exit stop. */
static int skip_entry(struct session *s)
{
	int ret = 0;

	if (!s->frame) {
		struct pmadv_regs r = s->unrewound;
		const uint64_t none[6] = { 0 };

		pmadv_arch_set_call(&r, pmadv_arch_pc(&r), -1, none);
		ret = pmadv_arch_setregs(s->tid, &r);
	}
	if (ret < 0)
		return ret;
	s->in_syscall = true;
	ret = pt_run_until(s, PTRACE_SYSCALL, true, false, false,
			   pt_deadline_of(s));
	if (ret < 0)
		s->broken = -ret;
	else
		s->in_syscall = false;
	return ret;
}

/*
 * Whether the thread is to be taken to its call's entry stop first. On x86
 * the registers say it waits in a call that swapped its mask, with a
 * restart pending. On aarch64 the kernel has rewound an interrupted call
 * for its restart before the stop and forgotten which it was: a thread
 * whose pc is on a syscall instruction may be restarting one, and the
 * restart itself may still change (a nanosleep's becomes restart_syscall
 * only after the stop), so every such thread is let run into that entry
 * stop, where the call, its mask and its number are what they will be.
 * A thread that was only about to make the call reaches the same stop.
 */
static bool restart_at_entry(struct session *s)
{
	unsigned char b[4];
	long nr, rv;

	/* (a Thumb svc may end its page: 2 bytes read are enough) */
	if (pmadv_arch_restarts_before_stop()) {
		ssize_t n = pread(s->memfd, b, sizeof(b),
				  (off_t)pmadv_arch_pc(&s->saved));

		if (n == 2)
			b[2] = b[3] = 0;
		s->entry_ilen = n >= 2 ? pmadv_arch_syscall_at(&s->saved, b,
							       sizeof(b))
				       : 0;
		return s->entry_ilen > 0;
	}
	pmadv_arch_syscall_state(&s->saved, &nr, &rv);
	return nr >= 0 && rv >= -516 && rv <= -512 &&
	       pmadv_arch_swaps_sigmask(s->compat, nr);
}

/*
 * rseq (glibc 2.35+ registers it for every thread; tcmalloc and others run
 * per-CPU critical sections on it). A thread stopped inside a critical
 * section would, on its way back to user space after our first injected
 * call, have its rseq_cs cleared by the kernel, since the IP is then
 * outside the section; the saved IP we restore later would run the rest
 * of the section unprotected. So do now what the kernel does when it
 * preempts or signals such a thread: resume it at the section's abort
 * handler, and clear rseq_cs. An abort handler without the registered
 * signature in front of it is left to the kernel, which kills the
 * process for it as it would anyway. PTRACE_GET_RSEQ_CONFIGURATION came
 * in 5.13; before, nothing is done.
 */
static void rseq_abort(struct session *s)
{
	struct {
		uint64_t abi;
		uint32_t size, sig, flags, pad;
	} conf;
	struct {
		uint32_t version, flags;
		uint64_t start_ip, post_commit_offset, abort_ip;
	} cs;
	uint64_t csp, pc = pmadv_arch_pc(&s->saved);
	uint32_t sig;
	long nr, rv;

	pmadv_arch_syscall_state(&s->saved, &nr, &rv);
	if (nr >= 0 ||
	    ptrace(PT_GET_RSEQ_CONFIGURATION, s->tid, (void *)sizeof(conf),
		   &conf) != (long)sizeof(conf) ||
	    !conf.abi || conf.size < 32)
		return;
	/* struct rseq: rseq_cs, a 64-bit field in every ABI, at 8 */
	if (pread(s->memfd, &csp, sizeof(csp), (off_t)(conf.abi + 8)) !=
		    (ssize_t)sizeof(csp) ||
	    !csp ||
	    pread(s->memfd, &cs, sizeof(cs), (off_t)csp) != (ssize_t)sizeof(cs))
		return;
	if (pc - cs.start_ip >= cs.post_commit_offset)
		return; /* not inside it (wrapping covers pc < start_ip) */
	if (pread(s->memfd, &sig, sizeof(sig), (off_t)(cs.abort_ip - 4)) !=
		    (ssize_t)sizeof(sig) ||
	    sig != conf.sig)
		return;
	s->rseq_cs_at = conf.abi + 8; /* cleared once armed (pt_capture) */
	pmadv_arch_set_pc(&s->saved, cs.abort_ip);
	pmadv_debug("ptrace: PID %d thread %d was inside an rseq critical "
		    "section: resumes at its abort handler", (int)s->pid,
		    (int)s->tid);
}

/* Fault signals pending on the thread alone, or 0 when unreadable; and
 * (start, unless NULL) field 22 of the same line, the start time of the
 * thread, which for the main thread is its process's. Field 31 of
 * /proc/PID/task/TID/stat holds the thread's own pending signals 1 to 31,
 * every fault signal among them: the same bits as SigPnd in its status,
 * at half the cost of reading that. */
static uint64_t pending_faults(const struct session *s,
			       unsigned long long *start)
{
	char path[96], buf[1024];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)s->pid,
		 (int)s->tid);
	if (start)
		*start = 0;
	if (pmadv_read_proc(path, buf, sizeof(buf)) <= 0)
		return 0;
	if (start && (p = pmadv_stat_field(buf, 22)))
		*start = strtoull(p, NULL, 10);
	p = pmadv_stat_field(buf, 31);
	return p ? strtoull(p, NULL, 10) & FAULT_SIGS : 0;
}

/* Seized, the thread's process cannot be reaped, so its PID cannot name
 * another process while we look: its start time tells whether it is
 * still the one the handle named (read with the pending faults for the
 * main thread). (The tracer has no copy of the handle's pidfd: it may
 * serve several handles, see shed_fds.) */
static int check_identity(const struct session *s, unsigned long long start)
{
	if (s->tid == s->pid)
		return start == s->starttime ? 0 : -ESRCH;
	return pmadv_identity(s->pid, -1, s->starttime) < 0 ? -ESRCH : 0;
}

/* A syscall instruction for unarmed injections: in the tracee's code, or
 * written over its entry point. */
static int find_insn(struct session *s)
{
	size_t ilen;
	const unsigned char *insn = pmadv_arch_insn(s->compat, &ilen);
	struct pt_seqs q = { 1, { insn }, { ilen }, { &s->insn } };

	if (!s->want_patch && pt_find_seqs(s, &q))
		return 0;
	/* A target on its way out has no memory left to read: that is
	 * ESRCH, not a target without syscall instructions. */
	if (pt_exiting(s->pid, s->tid) || pt_exiting(s->pid, s->pid))
		return -ESRCH;
	if (!pt_patch_entry(s)) {
		pmadv_debug("ptrace: no syscall instruction in PID %d's "
			    "executable memory, and none could be written",
			    (int)s->pid);
		return -ENOEXEC;
	}
	return 0;
}

/* State of the thread's that nothing here can carry: refused before
 * anything runs in it. */
static int foreign_state(const struct session *s)
{
	char what[64];

	if (!pmadv_arch_foreign_state(s->pid, s->tid, s->compat, what,
				      sizeof(what)))
		return 0;
	pmadv_debug("ptrace: thread %d of PID %d runs with %s, which the rung "
		    "can neither save nor put back: refused", (int)s->tid,
		    (int)s->pid, what);
	return -ENOEXEC;
}

int pt_capture(struct session *s)
{
	uint64_t zero = 0;
	ssize_t n;
	int ret;

	s->entry_mode = false;
	s->rseq_cs_at = 0;
	for (int tries = 0;; tries++) {
		ret = pmadv_arch_getregs(s->tid, &s->saved);
		if (ret == -EOPNOTSUPP)
			return -ENOEXEC; /* a register set of no ABI we know */
		if (ret < 0)
			return ret;
		s->compat = pmadv_arch_compat(&s->saved);
		if (tries == 0 && (ret = foreign_state(s)) < 0)
			return ret;
		if (!restart_at_entry(s))
			break;
		ret = to_entry_stop(s);
		if (ret != -EAGAIN) {
			if (ret < 0)
				return ret;
			break;
		}
		/* A signal handler's call: let it run as it would have, and
		 * look again from the interrupt stop that follows (a handler
		 * storm that never lets the thread be found elsewhere ends
		 * in the caller's timeout, or here). */
		if (tries == 16)
			return -EAGAIN;
		if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
			return -errno;
		ret = pt_run_until(s, PTRACE_CONT, false, true, false,
				   pt_deadline_of(s));
		if (ret < 0)
			return ret;
	}
	rseq_abort(s);
	if (ptrace(PTRACE_GETSIGMASK, s->tid, (void *)sizeof(uint64_t),
		   &s->saved_mask) < 0)
		return -errno;
	/* for the frame, and what a syscall discards (aarch64's SVE) */
	n = pmadv_arch_getfpu(s->tid, s->fpu, sizeof(s->fpu));
	s->fpulen = n > 0 ? (size_t)n : 0;
	/* Unarmed when it cannot be (the debug output says why): then the
	 * calls need a syscall instruction. The entry-point patch is a test
	 * of unarmed injection. Nothing of ours is in the thread before
	 * this. */
	if ((s->want_patch || pt_arm(s) < 0) && !s->insn &&
	    (ret = find_insn(s)) < 0)
		return ret;
	s->regs_saved = true;
	if (s->entry_mode && (ret = skip_entry(s)) < 0)
		return ret;
	/* the kernel would clear it too, on the thread's next preemption
	 * outside the section */
	if (s->rseq_cs_at &&
	    pwrite(s->memfd, &zero, sizeof(zero), (off_t)s->rseq_cs_at) !=
		    (ssize_t)sizeof(zero))
		pmadv_debug("ptrace: clearing rseq_cs in PID %d failed",
			    (int)s->pid);
	return block_all(s);
}

/* Seizes thread s->tid and waits for its first stop. */
static int seize_stopped(struct session *s)
{
	int ret, st;
	unsigned long opts = PTRACE_O_TRACESYSGOOD;

	if (s->suspend_seccomp)
		opts |= PTRACE_O_SUSPEND_SECCOMP;
	for (int tries = 0;; tries++) {
		struct tinfo ti;

		if (ptrace(PTRACE_SEIZE, s->tid, NULL, (void *)opts) == 0)
			break;
		ret = errno;
		if (ret != EPERM)
			return -ret;
		/* the kernel says EPERM for a tracee that is exiting or
		 * already traced, too; a tracer that let go between the
		 * seize and this look leaves no trace: try again */
		if (pt_exiting(s->pid, s->tid))
			return -ESRCH;
		if (pt_read_tinfo(s->pid, s->tid, &ti) == 0 && ti.tracer)
			return -EBUSY;
		if (tries == 2)
			return -EPERM;
	}
	s->seized = true;
	if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
		return -errno;
	/* A real signal can win the race to the first stop: let it through
	 * now, the interrupt stays pending and follows. */
	for (int64_t deadline = pt_deadline_of(s);;) {
		ret = pt_wait_stop(s, deadline, &st);
		if (ret < 0)
			return ret;
		if ((st >> 8) == PTRACE_EVENT_STOP)
			break;
		ret = pt_resume(s, PTRACE_CONT, (st >> 8) ? 0 : st & 0xff);
		if (ret < 0)
			return ret;
	}
	s->stopped = true;
	return 0;
}

/*
 * After seize_stopped said ESRCH: whether another thread was chosen (in
 * s->tid) to try again. Only in a process whose main thread has exited,
 * where the thread the preflight chose may be one of a relay of
 * short-lived workers: choosing again here costs a look at /proc, where
 * a new request costs a new tracer. A thread seized that exited is reaped
 * (a thread other than the main one has no status for its parent, only
 * for its tracer). The bound is the library's (pmadv_thread_retry), within
 * the request's timeout.
 */
static bool other_thread(struct session *s, int tries, int64_t *start,
			 int64_t deadline)
{
	int suspend_ok = s->suspend_seccomp ? 1 : 0;
	struct tinfo ti;

	if (s->tid == s->pid)
		return false;
	if (s->seized) {
		siginfo_t si;

		if (!pt_tracee_dead(s))
			return false; /* ESRCH for another reason */
		memset(&si, 0, sizeof(si));
		while (waitid(P_PID, (id_t)s->tid, &si,
			      WEXITED | WNOHANG | __WALL) < 0 && errno == EINTR)
			;
		s->seized = false;
	}
	while (pmadv_thread_retry(tries++, start) && pt_now_ms() <= deadline) {
		if (pmadv_process_runs(s->pid) != 1 ||
		    pmadv_identity(s->pid, -1, s->starttime) < 0)
			return false;
		if (pt_read_tinfo(s->pid, s->pid, &ti) < 0 ||
		    pt_choose_thread(s->pid, &suspend_ok, &ti) < 0)
			continue; /* between two threads */
		/* one the preflight would have refused, or another's */
		if ((ti.seccomp > 0 && !s->suspend_seccomp) || ti.tracer)
			return false;
		pmadv_debug("ptrace: thread %d of PID %d exited before its "
			    "stop, seizing thread %d", (int)s->tid,
			    (int)s->pid, (int)ti.tid);
		s->tid = ti.tid;
		return true;
	}
	return false;
}

static int attach(struct session *s)
{
	char path[64];
	unsigned long long start;
	int64_t first = 0, deadline = pt_deadline_of(s);
	int ret;

	for (int tries = 0;; tries++) {
		ret = seize_stopped(s);
		if (ret != -ESRCH || !other_thread(s, tries, &first, deadline))
			break;
	}
	if (ret < 0)
		return ret;
	s->faults_at_attach = pending_faults(s, &start);
	ret = check_identity(s, start);
	if (ret < 0) {
		pmadv_debug("ptrace: PID %d is no longer the process the "
			    "handle named", (int)s->pid);
		return ret;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/mem", (int)s->pid,
		 (int)s->tid);
	s->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (s->memfd < 0)
		return -errno;
	/* one maps descriptor for the session's lookups (pt_vma_at), where
	 * PROCMAP_QUERY is not known to be missing: bound to the thread's
	 * memory as it is now, as mem is */
	if (pmadv_vma_query_probed() != 0) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/maps",
			 (int)s->pid, (int)s->tid);
		s->mapsfd = open(path, O_RDONLY | O_CLOEXEC);
	}
	ret = pt_capture(s);
	if (ret < 0)
		return ret;
	/* the scratch area comes with the first batch worth it */
	s->path = s->want;
	{
		size_t clen;

		if (s->path == PATH_LOOP &&
		    !pmadv_arch_loop_code(s->compat, &clen))
			s->path = PATH_EACH;
	}
	pmadv_debug("ptrace: PID %d seized (%s%s%s%s), %s", (int)s->pid,
		    s->compat ? "32-bit" : "64-bit",
		    s->frame ? ", armed" : ", unarmed",
		    s->entry_mode ? ", at a syscall entry" : "",
		    s->suspend_seccomp ? ", seccomp suspended" : "",
		    s->path == PATH_PM
			    ? "process_madvise fast path for batches"
		    : s->path == PATH_LOOP ? "madvise loop for batches"
					   : "one madvise per range");
	return 0;
}

/* A timed-out injected call: only its end gives the registers back. The
 * caller has had its answer; wait as long as it takes (or until death). */
static int finish_stuck(struct session *s)
{
	int ret;

	if (s->in_loop) {
		/* A loop past its deadline: stop it where it is. The madvise
		 * in progress ends first; the rest of the vector is left. */
		if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
			return -errno;
		ret = pt_run_until(s, PTRACE_CONT, false, false, true, -1);
		if (ret == 0)
			ret = pt_after_loop(s);
		if (ret == 0) {
			s->in_loop = false;
			s->broken = 0;
		}
		return ret;
	}
	if (!s->in_syscall) {
		ret = pt_run_until(s, PTRACE_SYSCALL, true, false, true, -1);
		if (ret < 0)
			return ret;
		ret = pt_run_until(s, PTRACE_SYSCALL, true, false, false, -1);
	} else {
		ret = pt_run_until(s, PTRACE_SYSCALL, true, false, true, -1);
	}
	s->in_syscall = false;
	if (ret == 0)
		s->broken = 0;
	return ret;
}

/* Whether fd s->tfd of the target is still the pidfd we made there:
 * another thread may have closed it and put a file of its own at that
 * number, which our close must not touch. (fdinfo of a pidfd names its
 * process.) What another thread does between this look and the close
 * remains a window of a few microseconds, on kernels before 6.15. */
static bool still_our_pidfd(const struct session *s)
{
	char path[96], buf[512];

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%ld", (int)s->pid,
		 s->tfd);
	if (pmadv_read_proc(path, buf, sizeof(buf)) <= 0)
		return false;
	for (char *p = buf; (p = strstr(p, "Pid:")); p += 4)
		if ((p == buf || p[-1] == '\n') &&
		    strtol(p + 4, NULL, 10) == s->pid)
			return true;
	return false;
}

/*
 * Brings the tracee to an interrupt stop from wherever it is: in a stop of
 * ours (resumed), or running our code (the interrupt stops it). Stops on
 * the way are discarded, faults of our code included (resuming from a
 * signal-delivery stop with no signal discards it, and the interrupt is
 * taken before the thread returns to user mode), except SIGSTOP, which
 * passes. deadline < 0: as long as it takes.
 */
static int to_interrupt_stop(struct session *s, int64_t deadline)
{
	int ret, st, sig = 0;

	for (int i = 0; i < 64; i++) {
		/* Again each time: entering any stop consumes a pending
		 * interrupt, and a fault at our code would recur forever. */
		if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
			return -errno;
		ret = pt_resume(s, PTRACE_CONT, sig);
		/* ESRCH from a live tracee: it was running, not stopped,
		 * and the interrupt is on its way */
		if (ret == -ESRCH && !pt_tracee_dead(s))
			ret = 0;
		if (ret < 0)
			return ret;
		ret = pt_wait_stop(s, deadline, &st);
		if (ret < 0)
			return ret;
		if ((st >> 8) == PTRACE_EVENT_STOP)
			return 0;
		sig = !(st >> 8) && (st & 0xff) == SIGSTOP ? SIGSTOP : 0;
	}
	return -EIO;
}

/*
 * Whether the scratch area is still anonymous private memory, without a
 * gap: another thread of the target may have unmapped it and mapped a file
 * or nothing there, which our munmap must not touch. (An anonymous mapping
 * of its own in exactly that place cannot be told from ours; the area is
 * merged with its neighbours, or split by our mprotect, so its bounds do
 * not tell either.)
 */
static bool scratch_intact(const struct session *s)
{
	uint64_t at = s->scratch, end = s->scratch + s->scratch_len;
	struct pmadv_vma_rec r;

	/* private, anonymous, no name ([heap], [anon:...]), no gap */
	while (at < end) {
		if (pt_vma_at(s, at, &r) != 1 || !(r.attrs & PMADV_VMA_ANON) ||
		    r.name_len || r.long_name)
			return false;
		at = r.end;
	}
	return true;
}

/*
 * A fault of our code may still be queued behind the interrupt stop we
 * restored the registers at (the interrupt was taken first): it would be
 * delivered, with the default action, to the restored target. Called with
 * the registers and mask restored: the kernel dequeues a fault (which it
 * unblocked when it forced it) before any other signal (5.0+; before, a
 * signal of the target's own may come first, and is delivered): resumed
 * with no interrupt pending, the thread dequeues it in
 * a signal-delivery stop, where resuming or detaching with no signal
 * discards it. Returns the signal the detach must deliver (SIGSTOP, or
 * anything that is not a fault the kernel raised), or 0. Faults pending
 * before we came are left alone.
 */
static int drain_faults(struct session *s)
{
	for (int i = 0; i < 8; i++) {
		siginfo_t si;
		int st, sig;

		if (!(pending_faults(s, NULL) & ~s->faults_at_attach))
			return 0;
		if (pt_resume(s, PTRACE_CONT, 0) < 0)
			return 0;
		if (pt_wait_stop(s, pt_deadline_of(s), &st) < 0) {
			/* not dequeued after all: stop it to detach */
			ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL);
			pt_wait_stop(s, pt_deadline_of(s), &st);
			return 0;
		}
		sig = st & 0xff;
		if ((st >> 8) || sig == (SIGTRAP | 0x80))
			continue; /* not a signal: look again */
		memset(&si, 0, sizeof(si));
		if (ptrace(PTRACE_GETSIGINFO, s->tid, NULL, &si) < 0 ||
		    !((1ULL << (sig - 1)) & FAULT_SIGS) || si.si_code <= 0)
			return sig;
		pmadv_debug("ptrace: PID %d: a fault of ours (signal %d) was "
			    "pending: discarded", (int)s->pid, sig);
	}
	return 0;
}

/* Puts everything back and lets go. Runs in every path after a SEIZE. */
static void detach(struct session *s)
{
	long dummy;
	int ret, sig;

	if (!s->stopped)
		return; /* never stopped: the tracer's exit detaches it */
	if (!s->regs_saved) {
		/* nothing changed: a plain detach leaves it as it was */
		if (ptrace(PTRACE_DETACH, s->tid, NULL, NULL) == 0)
			s->seized = false;
		return;
	}
	for (int round = 0; round < 3; round++) {
		/* a call past its deadline: only its end gives the registers
		 * back */
		if (s->broken == ETIMEDOUT && finish_stuck(s) < 0)
			s->broken = EIO;
		/* ptrace said ESRCH, yet it lives: it was not in the stop we
		 * thought (running our code, or in a stop already seen) */
		if (s->broken && pt_tracee_dead(s)) {
			s->broken = ESRCH;
			break;
		}
		if (s->broken)
			s->broken = EIO; /* alive: whatever it was, restore */
		/* Our code faulted (pt_signal_stop), or went wrong while it
		 * ran: from an interrupt stop, the scratch area and the pidfd
		 * can still be taken back. */
		if (s->broken == EIO &&
		    to_interrupt_stop(s, pt_deadline_of(s)) == 0 &&
		    (!s->in_loop || pt_after_loop(s) == 0)) {
			s->broken = 0;
			s->in_syscall = false;
			s->in_loop = false;
		}
		if (s->broken)
			break;
		if (s->tfd >= 0 && !s->tfd_sentinel && !still_our_pidfd(s))
			s->tfd = -1; /* not ours any more: not ours to close */
		if (s->tfd >= 0 && !s->tfd_sentinel &&
		    pt_inject(s, PMADV_NR_CLOSE, (uint64_t)s->tfd, 0, 0, 0, 0,
			      &dummy) == 0)
			s->tfd = -1;
		if (s->scratch && !s->broken && !scratch_intact(s))
			s->scratch = 0; /* the target's now: not ours to unmap */
		if (s->scratch && !s->broken &&
		    pt_inject(s, PMADV_NR_MUNMAP, s->scratch, s->scratch_len, 0,
			      0, 0, &dummy) == 0)
			s->scratch = 0;
		if (!s->broken)
			break;
	}
	/* ESRCH: gone, nothing to restore. EIO: still try to put the
	 * registers back, from an interrupt stop. */
	if (s->broken && s->broken != EIO)
		return;
	if (!s->entry_mode || s->broken) {
		/* Back to an interrupt stop inside the kernel's signal code:
		 * restored there, the saved registers go through the same
		 * restart logic (read, nanosleep...) as if we had never been
		 * there. The stop comes before any return to user mode. */
		if (to_interrupt_stop(s, -1) < 0)
			return;
	}
	/* The mask first: until the registers are back too, the frame
	 * would restore both should we die. */
	ret = 0;
	if (s->mask_changed &&
	    ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof(uint64_t),
		   &s->saved_mask) < 0)
		ret = -errno;
	if (ret == 0)
		ret = pmadv_arch_setregs(s->tid, &s->saved);
	/* The program's own bytes go back once its registers no longer lead
	 * to ours (should we die before, it runs them, never its entry
	 * point's originals); on a failure they stay. */
	if (ret == 0) {
		pt_unpatch(s);
		pt_unarm(s);
	}
	if (ret == 0 && s->fpulen)
		ret = pmadv_arch_restore_fpu(s->tid, s->fpu, s->fpulen);
	sig = ret == 0 ? drain_faults(s) : 0;
	if (ret < 0)
		pmadv_debug("ptrace: restoring PID %d failed: %s", (int)s->pid,
			    pmadv_errdesc(-ret));
	/* From an event stop a group-stopped target stays stopped; from the
	 * signal-delivery stop of a fault of ours, it is discarded. */
	if (ptrace(PTRACE_DETACH, s->tid, NULL, (void *)(long)sig) == 0)
		s->seized = false;
	s->stopped = false;
}

/* ---- the tracer process and its hand-off ---- */

/*
 * Why the tracer is a process of its own, not a thread of the caller:
 * - The kernel reports a tracee's stops to every thread of its tracer's
 *   thread group. A daemon that reaps children with waitpid(-1) or
 *   waitid(P_ALL, __WALL) from any thread would take them, and the tracer
 *   would wait forever for a stop that never comes. A child made with
 *   clone(CLONE_VM) without CLONE_THREAD and with exit signal 0 is a thread
 *   group of its own: its tracees' stops go to it alone, and its own exit
 *   is seen only by __WALL and __WCLONE waiters.
 * - The caller can die at any instruction (SIGKILL, the OOM killer, exit
 *   right after a timeout). The tracer then lives on, puts the target back
 *   and lets go. So it must never block on anything the caller may hold
 *   when it dies: no mutex, no malloc, no stdio. The hand-off is plain
 *   atomics and a futex word, every wait of the tracer has a bound, and it
 *   watches its parent: when getppid() changes, the caller is gone.
 *   An execve(2) in any thread of the caller does not change getppid()
 *   (the tracer is handed to another thread of the same process), but it
 *   kills the worker thread, its parent: that is looked at too.
 *   It leaves the caller's session and process group (setsid), so that
 *   a SIGSTOP of the caller's whole job stops the caller, not the tracer.
 * A worker thread of the caller starts it with CLONE_VFORK and stays
 * blocked in the kernel until it exits, so the tracer can run library
 * code on the worker's thread-local storage (errno) with nobody else using
 * it. If the caller's process dies, the worker dies with it and the tracer
 * is reparented, finishes and exits; the memory they share stays until
 * then. A tracer killed along with its caller (a whole cgroup killed)
 * leaves the target as the kernel detaches it: see libprocmadvise(7).
 */

static void notify(struct session *s)
{
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &s->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
		0);
}

/*
 * Sleeps until s->seq moves from seen, or ms pass. (Looking for the
 * change for up to 50 us before sleeping was tried during 0.2 and
 * withdrawn: yielding between looks gave a busy process a time slice at
 * each hand-off, 12 ms a request on a loaded machine; keeping the CPU
 * kept a target woken on it off the CPU, 400 us a one-range request in
 * bench-ptrace. A woken thread costs a few microseconds.)
 */
static void wait_change(struct session *s, uint32_t seen, int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	syscall(SYS_futex, &s->seq, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static int load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The tracer says *flag (a field of s) is now true. */
void pt_set(struct session *s, int *flag)
{
	store(flag, 1);
	notify(s);
}

/* The caller's process died, or exec'd: no one will post a command. A
 * worker's TID is reused only once it is gone and PIDs wrapped, and
 * tgkill() checks that it is still a thread of the caller's process;
 * EPERM (the caller changed its credentials) says it is there. */
bool pt_caller_gone(const struct session *s)
{
	pid_t parent = getppid();

	/* -1: a seccomp filter of the caller's refuses getppid (the tracer
	 * has its filters); the tgkill still tells */
	return (parent > 0 && parent != s->caller) ||
	       (syscall(SYS_tgkill, s->caller, s->worker, 0) < 0 &&
		errno == ESRCH);
}

/* The tracer's wait for the next command: CMD_END when the caller gave
 * up, died, or posted nothing until the deadline `until` (CLOCK_MONOTONIC
 * ms; < 0: never), s->end_err then ETIMEDOUT. A command is only waited
 * for here, between commands, so the deadline never cuts one short. tick,
 * if any, runs at every wake-up, at least every 100 ms. */
int pt_next_cmd(struct session *s, int64_t until,
		void (*tick)(struct session *))
{
	for (;;) {
		uint32_t seen = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		int cmd = load(&s->cmd);
		int64_t nap = 100, now;

		if (load(&s->gave_up))
			return CMD_END;
		if (cmd != CMD_NONE)
			return cmd;
		if (pt_caller_gone(s)) {
			pmadv_debug("ptrace: the caller of PID %d's request is "
				    "gone: letting go", (int)s->pid);
			return CMD_END;
		}
		now = pt_now_ms();
		if (until >= 0 && now >= until) {
			s->end_err = ETIMEDOUT;
			return CMD_END;
		}
		if (tick)
			tick(s);
		if (until >= 0 && until - now < nap)
			nap = until - now;
		wait_change(s, seen, nap);
	}
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The tracer's copy of the caller's fd table holds what it does not use:
 * a shell reading the caller's output through a pipe would wait for the
 * tracer to let go of a stuck target, and a daemon's closed socket would
 * stay open meanwhile. Keeps nothing: standard input and output become
 * /dev/null, and standard error too unless the debug log writes there
 * (never closed outright: the mem fd opened later must not take number
 * 2). */
static void shed_fds(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!pmadv_debug_on())
			dup2(null, STDERR_FILENO);
		if (null > 2)
			close(null);
	}
	/* before 5.9, no close_range: the rest stays open */
	syscall(SYS_close_range, 3U, ~0U, 0U);
}

/* The request's last batch, all advised: nothing is left to do in the
 * target, so the tracer lets go before it answers, and the caller's end
 * finds the session ended instead of waiting for one more hand-off. */
static bool done_with_last(const struct session *s, ssize_t r, int err)
{
	size_t want = 0;

	if (!s->last || err || r < 0)
		return false;
	for (size_t i = 0; i < s->n; i++)
		want += s->iov[i].iov_len;
	return (size_t)r == want;
}

/* One session: attach, serve commands, detach. */
static void serve(struct session *s)
{
	int ret = attach(s);

	s->attach_ret = ret;
	pt_set(s, &s->attached);
	while (ret == 0 &&
	       pt_next_cmd(s, pt_now_ms() + PT_IDLE_MS, NULL) == CMD_ADVISE) {
		int err = 0;
		ssize_t r = pt_do_advise(s, s->iov, s->n, &err);

		s->ret = r;
		s->err = err;
		if (done_with_last(s, r, err)) {
			store(&s->answer_at_end, 1);
			break;
		}
		store(&s->cmd, CMD_NONE);
		notify(s);
	}
	detach(s);
	if (s->memfd >= 0)
		close(s->memfd);
	s->memfd = -1;
	if (s->mapsfd >= 0)
		close(s->mapsfd);
	s->mapsfd = -1;
}

/* The tracer has let go: the session's end is told, with the answer to
 * a last batch (serve) in the same wake-up of the caller. */
static void end_session(struct session *s)
{
	if (load(&s->answer_at_end))
		store(&s->cmd, CMD_NONE);
	pt_set(s, &s->ended);
}

static bool cas(int *p, int from, int to)
{
	return __atomic_compare_exchange_n(p, &from, to, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/*
 * After a session: whether to serve another. Only a tracer that let go of
 * its tracee entirely (nothing left stopped, nothing given up on) and whose
 * caller asked for it stays, IDLE, until a caller of the same thread claims
 * it and says GO (true), or it is told to EXIT, its caller is gone, or
 * keep_ms pass (false). The session's end is told before it waits.
 */
static bool stay(struct session *s)
{
	int64_t until = pt_now_ms() + s->keep;

	if (s->keep <= 0 || s->seized || load(&s->gave_up))
		return false;
	store(&s->state, ST_IDLE);
	end_session(s);
	for (;;) {
		uint32_t seen = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		int st = load(&s->state);
		int64_t now = pt_now_ms(), nap = 100;

		/* the GO is answered, so that a claimer that waited too long
		 * for it (a tracer stopped by a signal or a debugger) can take
		 * it back instead (pt_session_start) */
		if (st == ST_GO) {
			if (cas(&s->state, ST_GO, ST_BUSY))
				return true;
			continue;
		}
		if (st == ST_EXIT || st == ST_GONE)
			return false;
		/* only its owner thread may claim it: gone when that thread
		 * or the caller's process is, claimed or not */
		if (pt_caller_gone(s) ||
		    (syscall(SYS_tgkill, s->caller, s->owner, 0) < 0 &&
		     errno == ESRCH)) {
			if (cas(&s->state, ST_IDLE, ST_GONE) ||
			    cas(&s->state, ST_CLAIMED, ST_GONE))
				return false;
			continue;
		}
		if (st == ST_IDLE && (now >= until || load(&s->gave_up))) {
			cas(&s->state, ST_IDLE, ST_GONE);
			continue;
		}
		if (st == ST_IDLE && until - now < nap)
			nap = until - now;
		wait_change(s, seen, nap);
	}
}

/* The tracer process (clone child): sessions, as long as it is kept. */
static int tracer_main(void *arg)
{
	struct session *s = arg;

	store(&s->tracer, (int)syscall(SYS_getpid));
	shed_fds();
	/* Out of the caller's session and process group: a SIGSTOP sent to
	 * the caller's whole job (kill -STOP -PGID, a shell's kill %1)
	 * stops the caller, never the process that has to let go. */
	setsid();
	if (s->run)
		return s->run(s);
	do
		serve(s);
	while (stay(s));
	end_session(s);
	return 0;
}

/*
 * Tracer stacks are kept for the next session, up to STACK_CACHE of them.
 * Unmapping one that a tracer has written to costs a TLB shoot-down on
 * every CPU the process ran on, and a fresh one takes a page fault per page
 * the tracer touches: measured on a 2-CPU guest, that was half the time
 * of a one-range request (about 950 us, 400 with the stacks kept). A stack
 * comes back here only once its tracer has exited (pt_session_put, whose
 * last reference is dropped after the worker reaped it, or when none
 * started). Lock-free: the caller's threads and workers race for slots.
 */
#define STACK_CACHE 4
static void *stack_cache[STACK_CACHE];

/* Under AddressSanitizer, the instrumented tracer poisons the shadow of
 * its stack frames' redzones and unpoisons them as it returns; a tracer
 * killed (retire) leaves them poisoned, and the next user of that memory
 * (a cached stack, or a thread stack mmap puts there) would be taken for
 * an overflow. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STACK_UNPOISON(p) __asan_unpoison_memory_region((p), TRACER_STACK)
#else
#define STACK_UNPOISON(p) ((void)(p))
#endif

static void *stack_get(void)
{
	void *p;

	for (int i = 0; i < STACK_CACHE; i++)
		if ((p = __atomic_exchange_n(&stack_cache[i], NULL,
					     __ATOMIC_ACQ_REL)))
			return p;
	p = mmap(NULL, TRACER_STACK, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* a guard page below the tracer's stack */
	mprotect(p, pmadv_page_size(), PROT_NONE);
	return p;
}

static void stack_put(void *p)
{
	if (p)
		STACK_UNPOISON(p);
	for (int i = 0; p && i < STACK_CACHE; i++) {
		void *none = NULL;

		if (__atomic_compare_exchange_n(&stack_cache[i], &none, p,
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
	if (p)
		munmap(p, TRACER_STACK);
}

void pt_session_put(struct session *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	stack_put(s->stack);
	free(s);
}

/*
 * Requests of this process on one target take turns: a second tracer
 * could not attach while the first holds it (EBUSY). A turn is taken by
 * the caller before the preflight and given back by the worker once its
 * tracer has let go and exited, or by the caller when no tracer started.
 * Only threads of the caller's process touch this (never the tracer), so
 * a mutex is fine here. Turns are given in the order they were asked
 * for: a thread that gives one back and asks again at once goes behind
 * those already waiting (with a bare condition variable it often won the
 * race again, and the others could wait out their timeouts: most likely
 * why 2 of 120 requests from 4 threads failed in a loaded 5.10 guest).
 */
static pthread_mutex_t turns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turns_cond;
static pthread_once_t turns_once = PTHREAD_ONCE_INIT;
/* A thread waiting for a turn, on its own stack, in its slot's queue. */
struct turn_waiter {
	struct turn_waiter *next;
};

/* One slot per target with a turn taken or asked for (pid 0: a free
 * slot), as many as there are targets held or traced at once: the table
 * grows. Each has the thread that holds the turn for a pmadv_hold, or 0:
 * it would wait for itself; and the queue of threads waiting for it. */
static struct turn {
	pid_t pid, owner;
	bool held;
	struct turn_waiter *head, *tail;
} *turns;
static size_t nturns;

static void turns_cond_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&turns_cond, &a);
	pthread_condattr_destroy(&a);
}

static void atfork_child(void);

static void turns_init(void)
{
	turns_cond_init();
	pthread_atfork(NULL, NULL, atfork_child);
}

static int turn_slot(pid_t pid)
{
	for (size_t i = 0; i < nturns; i++)
		if (turns[i].pid == pid)
			return (int)i;
	return -1;
}

/* A free slot, the table grown if needed: its index, or -ENOMEM. */
static int free_turn(void)
{
	int i = turn_slot(0);
	size_t n = nturns ? nturns * 2 : 64;
	struct turn *p;

	if (i >= 0)
		return i;
	if (n > INT_MAX || !(p = realloc(turns, n * sizeof(*p))))
		return -ENOMEM;
	memset(p + nturns, 0, (n - nturns) * sizeof(*p));
	turns = p;
	i = (int)nturns;
	nturns = n;
	return i;
}

int pt_take_turn(pid_t pid, int timeout_ms)
{
	return pt_take_turn_as(pid, timeout_ms, 0);
}

/* Takes w out of slot i's queue; frees the slot if nothing is left. */
static void turn_unqueue(int i, struct turn_waiter *w)
{
	struct turn_waiter **pp = &turns[i].head, *prev = NULL;

	while (*pp && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = w->next;
		if (turns[i].tail == w)
			turns[i].tail = prev;
	}
	if (!turns[i].held && !turns[i].head)
		turns[i].pid = turns[i].owner = 0;
}

int pt_take_turn_as(pid_t pid, int timeout_ms, pid_t owner)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct turn_waiter w = { NULL };
	struct timespec ts;
	int ret = 0, i;

	pthread_once(&turns_once, turns_init);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&turns_lock);
	i = turn_slot(pid);
	if (i >= 0 && turns[i].held && turns[i].owner == self) {
		pthread_mutex_unlock(&turns_lock);
		return -EBUSY;
	}
	if (i < 0) {
		i = free_turn();
		if (i < 0) {
			pthread_mutex_unlock(&turns_lock);
			return i;
		}
		turns[i] = (struct turn){ .pid = pid };
	}
	/* in the queue, served when first and the turn is free (the table
	 * may move meanwhile, never the slot's index) */
	if (turns[i].tail)
		turns[i].tail->next = &w;
	else
		turns[i].head = &w;
	turns[i].tail = &w;
	while (turns[i].held || turns[i].head != &w) {
		if (pthread_cond_timedwait(&turns_cond, &turns_lock, &ts) ==
		    ETIMEDOUT &&
		    (turns[i].held || turns[i].head != &w)) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	if (ret == 0) {
		turns[i].held = true;
		turns[i].owner = owner;
	}
	turn_unqueue(i, &w);
	if (ret < 0) /* the next in line may be first now */
		pthread_cond_broadcast(&turns_cond);
	pthread_mutex_unlock(&turns_lock);
	return ret;
}

void pt_end_turn(pid_t pid)
{
	int i;

	pthread_mutex_lock(&turns_lock);
	if ((i = turn_slot(pid)) >= 0) {
		turns[i].held = false;
		turns[i].owner = 0;
		if (!turns[i].head)
			turns[i].pid = 0;
	}
	pthread_cond_broadcast(&turns_cond);
	pthread_mutex_unlock(&turns_lock);
}

static void release_turn(struct session *s)
{
	if (__atomic_exchange_n(&s->turn_held, 0, __ATOMIC_ACQ_REL))
		pt_end_turn(s->pid);
}

/* A session its caller gives up on keeps its turn until its tracer has
 * let go, but no thread holds it any more: the hold's owner asking again
 * waits for it like anyone else, instead of being told it holds the
 * target itself (EBUSY). Under the lock, the turn is still this
 * session's while turn_held is set: release_turn clears it first. */
static void disown_turn(struct session *s)
{
	int i;

	pthread_mutex_lock(&turns_lock);
	if (__atomic_load_n(&s->turn_held, __ATOMIC_ACQUIRE) &&
	    (i = turn_slot(s->pid)) >= 0 && turns[i].held)
		turns[i].owner = 0;
	pthread_mutex_unlock(&turns_lock);
}

/* The worker thread: parent of the tracer, blocked until it exits. */
static void *worker(void *arg)
{
	struct session *s = arg;
	pid_t pid;

	s->worker = (pid_t)syscall(SYS_gettid);
	/* Not CLONE_FILES: the fds it opens (the target's mem, O_RDWR) stay
	 * its own, and a fork of the caller meanwhile does not copy them. */
	pid = clone(tracer_main, (char *)s->stack + TRACER_STACK,
		    CLONE_VM | CLONE_FS | CLONE_SYSVSEM | CLONE_VFORK, s);
	if (pid < 0) {
		s->attach_ret = -errno;
		store(&s->ended, 1);
		store(&s->attached, 1);
	} else {
		int st = 0;

		/* A __WALL reaper in the caller may have taken it: ECHILD. */
		while (waitpid(pid, &st, __WCLONE) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
			pmadv_debug("ptrace: the tracer for PID %d died of "
				    "signal %d", (int)s->pid, WTERMSIG(st));
		pt_hint_put(s);
	}
	store(&s->exited, 1);
	notify(s);
	release_turn(s);
	pt_session_put(s);
	return NULL;
}

/* ---- kept tracers ---- */

/*
 * A tracer that ended its session cleanly (its tracee let go, nothing
 * given up on) stays, idle, for the next session of the thread that
 * started it, for keep ms (PMADV_PTRACE_KEEP_MS, rung.c): starting one
 * (a thread, a clone, both their exits) is most of what a small request
 * costs. Only threads of the caller's process touch the pool, never a
 * tracer, so a mutex is fine. A tracer is reused only by the thread that
 * started it, with the credentials it had then: a tracer keeps the
 * credentials, capabilities and seccomp filters of its start, and a
 * process that drops privileges must not act through an older one. After
 * a fork the pool's entries are the parent's: the child leaves them.
 */
#define POOL 2
/* How long a claimed tracer has to answer its GO. */
#define GO_MS 100
static struct session *pool[POOL];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static pid_t gettid_raw(void)
{
	return (pid_t)syscall(SYS_gettid);
}

struct cap_hdr {
	uint32_t version;
	int pid;
};

static void creds_read(struct pt_creds *c)
{
	uid_t u[3];
	gid_t g[3];
	gid_t groups[32];
	struct cap_hdr h = { 0x20080522, 0 }; /* _LINUX_CAPABILITY_VERSION_3 */
	int n;

	memset(c, 0, sizeof(*c));
	getresuid(&u[0], &u[1], &u[2]);
	getresgid(&g[0], &g[1], &g[2]);
	for (int i = 0; i < 3; i++) {
		c->ids[i] = (uint32_t)u[i];
		c->ids[3 + i] = (uint32_t)g[i];
	}
	/* the fs IDs: what /proc asks of an opener of mem (FSCREDS) */
	c->fsids[0] = (uint32_t)setfsuid((uid_t)-1);
	c->fsids[1] = (uint32_t)setfsgid((gid_t)-1);
	n = getgroups(32, groups);
	c->ngroups = n;
	for (int i = 0; i < n; i++)
		c->groups[i] = (uint32_t)groups[i];
	if (syscall(SYS_capget, &h, c->caps) < 0)
		c->ngroups = -1;
	c->seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	{
		struct sched_param sp = { 0 };

		c->policy = sched_getscheduler(0);
		if (sched_getparam(0, &sp) < 0)
			c->ngroups = -1;
		c->priority = sp.sched_priority;
		if (sched_getaffinity(0, sizeof(c->cpus),
				      (cpu_set_t *)(void *)c->cpus) < 0)
			c->ngroups = -1;
	}
}

static bool creds_same(const struct pt_creds *a, const struct pt_creds *b)
{
	return a->ngroups >= 0 && b->ngroups >= 0 && !memcmp(a, b, sizeof(*a));
}

/* Lets a kept tracer go (or waits for one already going) and drops the
 * reference held on it. */
/*
 * Lets a tracer go that has ended its session (idle, claimed, or on its
 * way out) and drops the reference held on it. Such a tracer has no
 * tracee left, so when it does not exit at once (stopped by a signal or
 * a debugger) killing it costs nothing; where it cannot be killed either
 * (it kept credentials the caller has dropped), it is left to exit when
 * it runs again, and nobody waits for it.
 */
static void retire(struct session *s)
{
	pid_t tracer = load(&s->tracer);

	if (!cas(&s->state, ST_IDLE, ST_EXIT) &&
	    !cas(&s->state, ST_CLAIMED, ST_EXIT))
		cas(&s->state, ST_GO, ST_EXIT);
	notify(s);
	if (pt_await_until(s, pt_tracer_exited, pt_now_ms() + 20) < 0 &&
	    tracer > 0 && !load(&s->exited) && kill(tracer, SIGKILL) < 0 &&
	    !load(&s->exited)) {
		pthread_detach(s->thread);
		pt_session_put(s);
		return;
	}
	pthread_join(s->thread, NULL);
	pt_session_put(s);
}

struct session *pt_session_claim(void)
{
	struct session *s = NULL, *drop[POOL];
	pid_t self = getpid(), tid = gettid_raw();
	struct pt_creds c;
	int ndrop = 0;

	creds_read(&c);
	/* A filter the thread took on since (its seccomp mode stays 2 with
	 * a second filter) may forbid ptrace: the tracer, which has the
	 * filters of its start, must not do it for the thread then. PID 0
	 * names no process: ESRCH is ptrace allowed. */
	if (c.seccomp && !(syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, NULL,
				   NULL) < 0 && errno == ESRCH))
		c.ngroups = -1; /* no match: a fresh tracer, and its refusal */
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < POOL; i++) {
		struct session *p = pool[i];

		if (!p)
			continue;
		if (p->caller != self) {
			pool[i] = NULL; /* the parent's, in a fork's child */
			continue;
		}
		if (load(&p->exited) || load(&p->state) != ST_IDLE ||
		    (p->owner == tid && !creds_same(&p->creds, &c)) ||
		    (syscall(SYS_tgkill, self, p->owner, 0) < 0 &&
		     errno == ESRCH)) {
			pool[i] = NULL;
			drop[ndrop++] = p;
			continue;
		}
		if (!s && p->owner == tid && cas(&p->state, ST_IDLE, ST_CLAIMED)) {
			pool[i] = NULL;
			s = p;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	for (int i = 0; i < ndrop; i++)
		retire(drop[i]);
	if (s)
		memset(&s->keep, 0,
		       sizeof(*s) - offsetof(struct session, keep));
	return s;
}

/* Into the pool, if there is room: true. */
static bool pool_put(struct session *s)
{
	bool put = false;

	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < POOL && !put; i++)
		if (!pool[i] || pool[i]->caller != s->caller) {
			pool[i] = s;
			put = true;
		}
	pthread_mutex_unlock(&pool_lock);
	return put;
}

/* In a fork's child the one thread there may find these locks taken by
 * threads that are not, and the turns and kept tracers are the parent's:
 * all start afresh (the parent's entries are left, not freed). Registered
 * with the first turn, before which none of them is used. */
static void atfork_child(void)
{
	pthread_mutex_init(&turns_lock, NULL);
	turns_cond_init();
	/* (the waiters were the parent's threads) */
	for (size_t i = 0; i < nturns; i++)
		turns[i] = (struct turn){ .pid = 0 };
	pthread_mutex_init(&pool_lock, NULL);
	memset(pool, 0, sizeof(pool));
	pt_hint_atfork();
}

/* At the library's unload or the process's exit: the kept tracers run its
 * code, so they go first. */
__attribute__((destructor)) static void pool_drain(void)
{
	struct session *s;
	void *st;

	for (int i = 0; i < POOL; i++) {
		pthread_mutex_lock(&pool_lock);
		s = pool[i];
		/* a vfork child's exit(3) runs this on its parent's memory */
		if (s && s->caller == getpid())
			pool[i] = NULL;
		else
			s = NULL;
		pthread_mutex_unlock(&pool_lock);
		if (s)
			retire(s);
	}
	/* the kept stacks too, at an unload: their tracers have exited */
	for (int i = 0; i < STACK_CACHE; i++)
		if ((st = __atomic_exchange_n(&stack_cache[i], NULL,
					      __ATOMIC_ACQ_REL)))
			munmap(st, TRACER_STACK);
}

void pt_session_done(struct session *s)
{
	pt_hint_put(s);
	release_turn(s);
	if (load(&s->state) == ST_IDLE && !load(&s->exited) && pool_put(s))
		return;
	retire(s);
}

bool pt_tracer_lost(const struct session *s)
{
	return !load(&s->attached) && load(&s->exited);
}

static bool gone_on(const struct session *s)
{
	return load(&s->state) != ST_GO || load(&s->exited);
}

void pt_session_lost(struct session *s)
{
	/* the worker may have given it back before it was taken; the
	 * tracer never attached, so the turn is free now */
	release_turn(s);
	retire(s);
}

int pt_session_start(struct session *s)
{
	sigset_t all, old;
	int ret;

	s->turn_held = 1;
	if (load(&s->state) == ST_CLAIMED) {
		/* A tracer that does not answer within GO_MS is taken back
		 * (stopped, say): the caller starts a fresh one instead of
		 * waiting out its timeout on it. */
		int64_t until = pt_now_ms() + GO_MS;

		store(&s->state, ST_GO);
		notify(s);
		if (pt_await_until(s, gone_on, until) == 0 ||
		    !cas(&s->state, ST_GO, ST_EXIT))
			return 0;
		return -ECHILD;
	}
	s->refs = 2;
	s->caller = getpid();
	s->owner = gettid_raw();
	creds_read(&s->creds);
	s->state = ST_BUSY;
	s->stack = stack_get();
	if (!s->stack)
		return -ENOMEM;
	/* Neither the worker nor the tracer runs the caller's signal
	 * handlers; the tracer inherits this mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0) {
		stack_put(s->stack);
		s->stack = NULL;
	}
	return ret;
}

/* Waits (caller side) until done() holds or, if the tracer makes no
 * progress, until deadline; a deadline that passes with progress made
 * moves on by extend ms (0: it does not). */
static int await(struct session *s, bool (*done)(const struct session *),
		 int64_t deadline, int64_t extend)
{
	unsigned long seen = __atomic_load_n(&s->progress, __ATOMIC_RELAXED);

	for (;;) {
		uint32_t v = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		int64_t now;

		if (done(s))
			return 0;
		now = pt_now_ms();
		if (now >= deadline) {
			unsigned long p = __atomic_load_n(&s->progress,
							  __ATOMIC_RELAXED);

			if (p == seen || !extend)
				return -ETIMEDOUT;
			seen = p;
			deadline = now + extend;
			continue;
		}
		wait_change(s, v, deadline - now);
	}
}

/* Gives up when the tracer makes no progress for a whole timeout: it is
 * stuck on the target. */
int pt_await(struct session *s, bool (*done)(const struct session *))
{
	return await(s, done, pt_now_ms() + s->timeout_ms + 250,
		     s->timeout_ms + 250);
}

int pt_await_until(struct session *s, bool (*done)(const struct session *),
		   int64_t deadline)
{
	return await(s, done, deadline, 0);
}

bool pt_attach_done(const struct session *s)
{
	return load(&s->attached) || load(&s->exited);
}

bool pt_cmd_done(const struct session *s)
{
	return load(&s->cmd) == CMD_NONE || load(&s->ended) ||
	       load(&s->exited);
}

bool pt_tracer_ended(const struct session *s)
{
	return load(&s->ended) || load(&s->exited);
}

bool pt_tracer_exited(const struct session *s)
{
	return load(&s->exited);
}

void pt_post(struct session *s, int cmd)
{
	store(&s->cmd, cmd);
	notify(s);
}

/* The caller's end of a session: asks the tracer to let go, and waits for
 * it (and its worker) to finish, or gives up on a stuck one. */
int pt_session_end_by(struct session *s, int64_t deadline)
{
	int ret = -ETIMEDOUT;

	if (!load(&s->gave_up)) {
		/* (a last batch all advised: it has let go already) */
		if (!pt_tracer_ended(s))
			pt_post(s, CMD_END);
		ret = deadline < 0 ? pt_await(s, pt_tracer_ended)
				   : pt_await_until(s, pt_tracer_ended,
						    deadline);
		if (ret == 0) {
			/* it had let go by itself, at its deadline; or it
			 * was killed: the kernel let go */
			ret = load(&s->ended) ? -s->end_err : -ETIMEDOUT;
			pt_session_done(s);
			return ret;
		}
		pt_give_up(s);
	}
	pt_session_put(s);
	return ret;
}

int pt_session_end(struct session *s)
{
	return pt_session_end_by(s, -1);
}

/* The caller stops waiting: the tracer finishes alone, the worker frees. */
void pt_give_up(struct session *s)
{
	if (load(&s->gave_up))
		return;
	disown_turn(s);
	store(&s->gave_up, 1);
	notify(s);
	pthread_detach(s->thread);
}
