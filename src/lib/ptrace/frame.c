// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The target without its tracer. The tracer can die at any instruction
 * along with its caller: the OOM killer, a cgroup killed as a whole, a
 * signal to the process group. The kernel then detaches the tracee and it
 * runs on from whatever registers and signal mask it has. So, as CRIU's
 * parasite does, every moment the tracee holds anything of ours, its
 * registers lead back to its own state without help:
 * - Arming (pt_arm) writes below its stack pointer and red zone the very
 *   frame the kernel writes there to deliver a signal: its registers, its
 *   signal mask, its FPU state, and as return address a restorer (the
 *   libc's "rt_sigreturn" sequence, found in its own code).
 * - From then on it is only ever stopped, or running one of our calls from
 *   a "syscall; return" sequence of its own code with its stack pointer on
 *   that return address, or running the madvise loop, whose tail returns
 *   through the frame too (arch.h). Without a tracer, the call completes,
 *   returns into the restorer, and rt_sigreturn puts back registers, mask
 *   and FPU state as a signal handler's return does.
 * - The mask is blocked only once armed, and given back before the
 *   registers when the tracer lets go (tracer.c).
 * i386 targets get the i386 frame, and return through the 32-bit vDSO's
 * "int $0x80; pop; pop; pop; ret" (pmadv_arch_frame leaves the three
 * words). What remains (libprocmadvise(7)): a target without those
 * sequences, or where no frame fits (a stack pointer too close to the end
 * of its mapping), is injected unarmed; the rt_sigreturn path gives an
 * interrupted nanosleep-like call EINTR, as a handler would; a thread whose
 * seccomp filter we suspended meets that filter again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "ptrace.h"
#include "../vma.h"

/*
 * Where the sequences were in the last targets: searching a libc's text
 * costs a millisecond or so per request, and they stay put for the life of
 * the process. Only hints: pt_find_seqs checks the bytes before it trusts
 * one. Used by the caller's threads (begin, and the worker once its
 * tracer is gone), never by the tracer, so a mutex is fine.
 */
#define HINTS 16

static struct hint {
	pid_t pid;
	unsigned long long starttime;
	uint64_t gadget, restorer;
} hints[HINTS];
static unsigned int hint_next;
static pthread_mutex_t hints_lock = PTHREAD_MUTEX_INITIALIZER;

void pt_hint_atfork(void)
{
	pthread_mutex_init(&hints_lock, NULL);
}

void pt_hint_get(struct session *s)
{
	pthread_mutex_lock(&hints_lock);
	for (unsigned int i = 0; i < HINTS; i++)
		if (hints[i].pid == s->pid &&
		    hints[i].starttime == s->starttime) {
			s->gadget = hints[i].gadget;
			s->restorer = hints[i].restorer;
		}
	pthread_mutex_unlock(&hints_lock);
}

void pt_hint_put(const struct session *s)
{
	unsigned int i;

	if (!s->gadget || !s->restorer)
		return;
	pthread_mutex_lock(&hints_lock);
	for (i = 0; i < HINTS; i++)
		if (hints[i].pid == s->pid &&
		    hints[i].starttime == s->starttime)
			break;
	if (i == HINTS)
		i = hint_next++ % HINTS;
	hints[i] = (struct hint){ s->pid, s->starttime, s->gadget,
				  s->restorer };
	pthread_mutex_unlock(&hints_lock);
}

/* The restorer: the hint if it holds any encoding, else each encoding in
 * turn, the first found wins. */
static bool find_restorer(struct session *s)
{
	uint64_t hint = s->restorer;
	const unsigned char *pat;
	unsigned char b[16];
	size_t len;

	for (int search = 0; search < 2; search++) {
		for (unsigned int i = 0;
		     (pat = pmadv_arch_restorer(s->compat, i, &len)); i++) {
			struct pt_seqs q = { 1, { pat }, { len },
					     { &s->restorer } };

			if (!search) {
				if (hint && len <= sizeof(b) &&
				    !(hint % pmadv_arch_code_align(s->compat)) &&
				    pread(s->memfd, b, len, (off_t)hint) ==
					    (ssize_t)len &&
				    !memcmp(b, pat, len) &&
				    pt_code_at(s, hint, len))
					return true;
				continue;
			}
			s->restorer = 0;
			if (pt_find_seqs(s, &q))
				return true;
		}
	}
	return false;
}

int pt_arm(struct session *s)
{
	unsigned char buf[PMADV_FPU_MAX + 1024];
	struct pmadv_regs r = s->saved;
	const uint64_t none[6] = { 0 };
	struct pmadv_vma_rec v;
	size_t glen, ilen, len;
	const unsigned char *g = pmadv_arch_gadget(s->compat, &glen);
	uint64_t at;
	ssize_t n;
	const char *why = NULL;

	s->frame = 0;
	s->under_len = 0;
	pmadv_arch_insn(s->compat, &ilen);
	if (!g)
		why = "no rt_sigreturn frame for its ABI";
	else if (!pmadv_arch_flat_stack(&s->saved))
		why = "its stack segment is not the flat one (16-bit code?): "
		      "its stack pointer is no address";
	else if ((!pt_find_seqs(s, &(struct pt_seqs){ 1, { g }, { glen },
						      { &s->gadget } }) ||
		  !find_restorer(s)) &&
		 !pt_patch_seqs(s))
		why = "no \"syscall; return\" or rt_sigreturn sequence in its "
		      "code, and none could be written";
	else if (!s->fpulen)
		why = "its FPU state cannot be read";
	else if (!(len = pmadv_arch_frame(&s->saved, s->saved_mask, s->fpu,
					  s->fpulen, s->restorer, buf,
					  sizeof(buf), &at)))
		why = "no room for a frame below its stack pointer";
	/* the VMA that holds the stack pointer: private, readable and
	 * writable, and holding the whole frame below it */
	if (!why && (pt_vma_at(s, pmadv_arch_sp(&s->saved) - 1, &v) != 1 ||
		     v.start > at || !(v.attrs & PMADV_VMA_READ) ||
		     !(v.attrs & PMADV_VMA_WRITE) ||
		     (v.attrs & PMADV_VMA_SHARED)))
		why = "its stack mapping does not hold a frame below the "
		      "stack pointer";
	else if (!why && (len > sizeof(s->under) ||
			  pread(s->memfd, s->under, len, (off_t)at) !=
				  (ssize_t)len))
		why = "the memory the frame goes over could not be read";
	else if (!why &&
		 pwrite(s->memfd, buf, len, (off_t)at) != (ssize_t)len)
		why = "the frame could not be written";
	if (!why)
		s->under_len = len;
	if (why) {
		pmadv_debug("ptrace: PID %d thread %d injected unarmed (%s): "
			    "should the tracer die mid-request, the thread "
			    "may not recover", (int)s->pid, (int)s->tid, why);
		return -ENOEXEC;
	}
	/* As if one of our calls had just returned: what runs next is the
	 * return into the restorer. */
	pmadv_arch_set_call(&r, s->gadget + ilen, 0, none);
	pmadv_arch_set_sp(&r, at);
	pmadv_arch_set_link(&r, s->restorer);
	s->frame = at;
	n = pmadv_arch_setregs(s->tid, &r);
	if (n < 0) { /* not armed after all: the bytes go back now */
		pt_unarm(s);
		s->frame = 0;
		return (int)n;
	}
	return 0;
}

/*
 * After the loop's end: the tracee stopped either in the loop code, or,
 * when the tracer came later than the loop's linger, back in its own code
 * through the frame: then it restored itself and ran on, and what is saved
 * is stale. Captures its state afresh.
 */
int pt_after_loop(struct session *s)
{
	struct pmadv_regs r;
	uint64_t pc;
	int ret = pmadv_arch_getregs(s->tid, &r);

	if (ret < 0)
		return ret;
	pc = pmadv_arch_pc(&r);
	if (!s->frame || (pc >= s->scratch && pc < s->scratch + s->scratch_len))
		return 0;
	pmadv_debug("ptrace: PID %d returned through its frame before the "
		    "tracer came: capturing its state again", (int)s->pid);
	/* It ran on below its stack pointer since: those bytes are its own
	 * now, not ours to give back. */
	s->under_len = 0;
	return pt_capture(s);
}

void pt_unarm(struct session *s)
{
	if (!s->frame || !s->under_len)
		return;
	if (pwrite(s->memfd, s->under, s->under_len, (off_t)s->frame) !=
	    (ssize_t)s->under_len)
		pmadv_debug("ptrace: PID %d: the %zu bytes under the frame "
			    "could not be put back", (int)s->pid,
			    s->under_len);
	s->under_len = 0;
}
