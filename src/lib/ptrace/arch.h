/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The architecture seam of the ptrace rung: register sets, syscall numbers
 * and the syscall instruction of the target's ABI. One file per architecture
 * under arch/ implements it; elsewhere the stubs below make the rung report
 * itself unavailable.
 */
#ifndef PMADV_ARCH_H
#define PMADV_ARCH_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../internal.h"

#if defined(__x86_64__) || defined(__aarch64__)
#define PMADV_ARCH_PTRACE 1
#endif

/* Big enough for any NT_PRSTATUS register set we know, and what else the
 * architecture keeps with it (aarch64: the syscall number of
 * NT_ARM_SYSTEM_CALL); len says which view the kernel gave (on x86_64 it
 * tells a 64-bit from a 32-bit target). */
struct pmadv_regs {
	uint64_t w[64];
	size_t len;
};

/* System calls the rung injects, mapped to the target ABI's numbers. */
enum pmadv_nr {
	PMADV_NR_MADVISE,
	PMADV_NR_MMAP, /* mmap2 on 32-bit ABIs: the offset is in pages */
	PMADV_NR_MUNMAP,
	PMADV_NR_CLOSE,
	PMADV_NR_PIDFD_OPEN,
	PMADV_NR_PROCESS_MADVISE,
	PMADV_NR_MPROTECT,
	PMADV_NR_COUNT
};

/*
 * The rt_sigreturn frame that keeps a tracee restorable without its tracer
 * (see frame.c): the architecture's signal frame holding the registers,
 * signal mask and FPU state to return to. The tracee runs each injected
 * call from a "syscall; return" sequence of its own code with its stack
 * pointer on the frame, whose return address is a sequence of its own
 * code that makes the rt_sigreturn call: should the tracer vanish, the
 * call returns into rt_sigreturn, and the thread is back where it was.
 * PMADV_FPU_MAX bounds the FPU image (x86 XSAVE with AMX is 11 KiB).
 */
#define PMADV_FPU_MAX 16384

/*
 * The madvise loop: a position-independent routine the rung copies into an
 * executable scratch page of the target, which calls madvise(2) for each
 * element of a vector and stops at the first failure. It reads and writes
 * one block (LOOP_*, byte offsets; the 32-bit routine uses the low half of
 * each slot), the vector follows the block in the target's iovec layout:
 *   in:  N (elements), ADVICE
 *   out: INDEX (the element being advised, then the one it stopped at),
 *        RESULT (0, or the failing madvise's -errno), then DONE = 1 last.
 * After DONE, when ARMED is not zero, it sleeps for LINGER (a struct
 * timeval of the target's ABI; none if zero) in select(2) (aarch64:
 * pselect6, the loop turning the microseconds into nanoseconds in
 * place), which unlike nanosleep leaves the thread's restart_block alone,
 * and then makes the
 * rt_sigreturn call on the frame its stack pointer was set to: a tracer
 * that vanished leaves a restored thread. Otherwise it parks in pause(2)
 * forever (aarch64: ppoll with no descriptors, mask or timeout; every
 * signal is blocked while it runs). The tracer interrupts
 * it in either.
 */
#define PMADV_LOOP_INDEX 0
#define PMADV_LOOP_RESULT 8
#define PMADV_LOOP_DONE 16
#define PMADV_LOOP_N 24
#define PMADV_LOOP_ADVICE 32
#define PMADV_LOOP_LINGER 40 /* see below */
#define PMADV_LOOP_ARMED 56
#define PMADV_LOOP_VEC 64
/* The offsets are built into every backend's machine code. */
_Static_assert(PMADV_LOOP_INDEX == 0 && PMADV_LOOP_RESULT == 8 &&
		       PMADV_LOOP_DONE == 16 && PMADV_LOOP_N == 24 &&
		       PMADV_LOOP_ADVICE == 32 && PMADV_LOOP_LINGER == 40 &&
		       PMADV_LOOP_ARMED == 56 && PMADV_LOOP_VEC == 64,
	       "the loop code has the block layout built in");

#ifdef PMADV_ARCH_PTRACE
/* Whether nr is among the n syscall numbers of t (the backends' tables). */
static inline bool pmadv_arch_listed(const long *t, size_t n, long nr)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] == nr)
			return true;
	return false;
}

/* The sequences of the tracee's own code an armed injection runs from:
 * "syscall; return" (x86: the stack pointer on the frame's return
 * address; aarch64: "svc #0; ret", the link register on the restorer,
 * the stack pointer on the frame), and the restorers, "load the
 * rt_sigreturn number; syscall" in each
 * encoding libcs use, index i from 0, NULL past the last. Executed from
 * their first byte they do what they say, wherever they were found. (The
 * i386 one pops three words before it returns: see pmadv_arch_frame.) */
const unsigned char *pmadv_arch_gadget(bool compat, size_t *len) PMADV_HIDDEN;
const unsigned char *pmadv_arch_restorer(bool compat, unsigned int i,
					 size_t *len) PMADV_HIDDEN;
/* The thread's FPU state as rt_sigreturn takes it (x86: XSAVE, else
 * FXSAVE, image; aarch64: NT_ARM_SVE's header and registers, SVE or
 * FP/SIMD) into buf[0..len): its length, or -errno. */
ssize_t pmadv_arch_getfpu(pid_t tid, unsigned char *buf,
			  size_t len) PMADV_HIDDEN;
/* Puts back what of that state a system call discards (aarch64: the SVE
 * registers past their FP/SIMD part, zeroed at every syscall since 5.x;
 * x86: nothing): 0 or -errno. fpu is untouched by pmadv_arch_frame on the
 * architectures where this does anything. */
int pmadv_arch_restore_fpu(pid_t tid, const unsigned char *fpu,
			   size_t len) PMADV_HIDDEN;
/* Whether stopped thread tid of process pid runs with processor state the
 * rung can neither save nor put back, so that code run in it could leave
 * the thread broken: 1, with what it is in what[0..len), else 0. x86: a
 * shadow stack (CET, 6.6+), through which no made-up frame returns;
 * aarch64: a guarded control stack (GCS, 6.13+), SME's streaming mode or
 * its ZA storage (5.19+), which a system call ends or the frame lacks. */
int pmadv_arch_foreign_state(pid_t pid, pid_t tid, bool compat, char *what,
			     size_t len) PMADV_HIDDEN;
/* Where "syscall; return" returns to a register (aarch64's x30), sets it;
 * where it pops the stack (x86), nothing: the frame holds it. */
void pmadv_arch_set_link(struct pmadv_regs *r, uint64_t to) PMADV_HIDDEN;
/* True where the kernel rewinds an interrupted call for its restart before
 * the tracer sees the stop (aarch64: the program counter back on the
 * syscall instruction, the number forgotten), so that a thread stopped on
 * a syscall instruction may be restarting one; false where the restart
 * comes after the stop and the registers say so (x86). */
bool pmadv_arch_restarts_before_stop(void) PMADV_HIDDEN;
/* True when resuming r runs the kernel's restart block: a call that
 * returned ERESTART_RESTARTBLOCK (nanosleep, clock_nanosleep, futex and
 * poll waits with a timeout) and goes on through restart_syscall, which
 * rt_sigreturn would end in EINTR instead. */
bool pmadv_arch_restarts_by_block(const struct pmadv_regs *r) PMADV_HIDDEN;
/* Registers read at a syscall stop, with what the kernel shows only there
 * put back from before, the same thread's registers at its last other
 * stop (aarch64: x7, which reads 0 or 1 at syscall stops). */
void pmadv_arch_syscall_stop_regs(struct pmadv_regs *r,
				  const struct pmadv_regs *before) PMADV_HIDDEN;
/*
 * Lays out, in out[0..outlen), the frame that returns to r (saved at a
 * stop; an interrupted call's restart applied as signal delivery without
 * a handler would) with signal mask mask and FPU image fpu[0..fpulen),
 * below r's stack pointer and its red zone. *at gets the frame's address
 * in the tracee, the lowest byte written; the return address there is
 * restorer. Returns the number of bytes to write at *at, or 0 when the
 * ABI has no such frame or out is too small.
 */
size_t pmadv_arch_frame(const struct pmadv_regs *r, uint64_t mask,
			unsigned char *fpu, size_t fpulen, uint64_t restorer,
			unsigned char *out, size_t outlen,
			uint64_t *at) PMADV_HIDDEN;
/* The stack pointer. */
uint64_t pmadv_arch_sp(const struct pmadv_regs *r) PMADV_HIDDEN;
void pmadv_arch_set_sp(struct pmadv_regs *r, uint64_t sp) PMADV_HIDDEN;
/* The loop runs with the stack pointer here to reach the frame at at. */
uint64_t pmadv_arch_loop_sp(bool compat, uint64_t at) PMADV_HIDDEN;
/* Whether r's stack pointer is an address (i386: the flat stack segment;
 * an LDT one, as 16-bit code has, gives it a base the frame would miss).
 * The injected code itself always runs with the flat segments. */
bool pmadv_arch_flat_stack(const struct pmadv_regs *r) PMADV_HIDDEN;
/* PTRACE_GETREGSET / SETREGSET NT_PRSTATUS: 0 or -errno. */
int pmadv_arch_getregs(pid_t tid, struct pmadv_regs *r) PMADV_HIDDEN;
int pmadv_arch_setregs(pid_t tid, const struct pmadv_regs *r) PMADV_HIDDEN;
/* True when r is the register view of a 32-bit (compat) task. */
bool pmadv_arch_compat(const struct pmadv_regs *r) PMADV_HIDDEN;
/* The bytes of the syscall instruction of the ABI of r. */
const unsigned char *pmadv_arch_insn(bool compat, size_t *len) PMADV_HIDDEN;
/* The length of the syscall instruction at r's program counter, whose
 * first bytes are b[0..n) (n >= 4), in the instruction set r runs
 * (AArch32: ARM or Thumb, by CPSR.T); 0 when it is none. */
size_t pmadv_arch_syscall_at(const struct pmadv_regs *r,
			     const unsigned char *b, size_t n) PMADV_HIDDEN;
/* The byte address of code that a (an AT_ENTRY) names: AArch32's Thumb
 * entry points have bit 0 set, as interworking branches take them. */
uint64_t pmadv_arch_code_addr(bool compat, uint64_t a) PMADV_HIDDEN;
/* The alignment of an instruction of the sequences the ABI's code is
 * searched for (x86: 1, aarch64: 4, AArch32's Thumb: 2). */
size_t pmadv_arch_code_align(bool compat) PMADV_HIDDEN;
/* The ABI's number for a call, or -1 when it has none. */
long pmadv_arch_nr(bool compat, enum pmadv_nr nr) PMADV_HIDDEN;
/* Turns r (a copy of the saved registers) into "about to execute the
 * syscall instruction at pc with nr and args", with the interrupted-syscall
 * state neutralised so the kernel's restart logic leaves it alone. */
void pmadv_arch_set_call(struct pmadv_regs *r, uint64_t pc, long nr,
			 const uint64_t args[6]) PMADV_HIDDEN;
/* The return value after a syscall-exit stop, sign-extended. */
long pmadv_arch_ret(const struct pmadv_regs *r) PMADV_HIDDEN;
/* The syscall the task was in (orig_ax, -1 for none) and the value of the
 * return register, sign-extended. */
void pmadv_arch_syscall_state(const struct pmadv_regs *r, long *nr,
			      long *ret) PMADV_HIDDEN;
/* True for calls that swap the signal mask while they wait (sigsuspend,
 * ppoll, pselect6, epoll_pwait...): the kernel keeps the caller's mask
 * where ptrace cannot read or restore it. */
bool pmadv_arch_swaps_sigmask(bool compat, long nr) PMADV_HIDDEN;
/* Registers saved at a syscall-entry stop, changed so that resuming runs
 * the same call again from its instruction. */
void pmadv_arch_rewind(struct pmadv_regs *r) PMADV_HIDDEN;
/* True for blocking calls the kernel never restarts after a stop: they
 * return EINTR (signal(7)), so a thread in one is injected into last. */
bool pmadv_arch_never_restarted(bool compat, long nr) PMADV_HIDDEN;
/* The instruction pointer. */
uint64_t pmadv_arch_pc(const struct pmadv_regs *r) PMADV_HIDDEN;
void pmadv_arch_set_pc(struct pmadv_regs *r, uint64_t pc) PMADV_HIDDEN;
/* The madvise loop's machine code for the ABI, or NULL without one. */
const unsigned char *pmadv_arch_loop_code(bool compat,
					  size_t *len) PMADV_HIDDEN;
/* Turns r (a copy of the saved registers) into "about to run the loop code
 * at pc over the block at block", outside any syscall, like set_call. */
void pmadv_arch_set_loop(struct pmadv_regs *r, uint64_t pc,
			 uint64_t block) PMADV_HIDDEN;
#else
static inline const unsigned char *pmadv_arch_gadget(bool compat,
						     size_t *len)
{
	(void)compat;
	*len = 0;
	return NULL;
}
static inline const unsigned char *
pmadv_arch_restorer(bool compat, unsigned int i, size_t *len)
{
	(void)compat, (void)i;
	*len = 0;
	return NULL;
}
static inline ssize_t pmadv_arch_getfpu(pid_t tid, unsigned char *buf,
					size_t len)
{
	(void)tid, (void)buf, (void)len;
	return -ENOSYS;
}
static inline size_t pmadv_arch_frame(const struct pmadv_regs *r,
				      uint64_t mask, unsigned char *fpu,
				      size_t fpulen, uint64_t restorer,
				      unsigned char *out, size_t outlen,
				      uint64_t *at)
{
	(void)r, (void)mask, (void)fpu, (void)fpulen, (void)restorer;
	(void)out, (void)outlen, (void)at;
	return 0;
}
static inline int pmadv_arch_restore_fpu(pid_t tid, const unsigned char *fpu,
					 size_t len)
{
	(void)tid, (void)fpu, (void)len;
	return 0;
}
static inline void pmadv_arch_set_link(struct pmadv_regs *r, uint64_t to)
{
	(void)r, (void)to;
}
static inline int pmadv_arch_foreign_state(pid_t pid, pid_t tid,
					   bool compat, char *what,
					   size_t len)
{
	(void)pid, (void)tid, (void)compat, (void)what, (void)len;
	return 0;
}
static inline bool pmadv_arch_restarts_before_stop(void)
{
	return false;
}
static inline bool pmadv_arch_restarts_by_block(const struct pmadv_regs *r)
{
	(void)r;
	return false;
}
static inline void pmadv_arch_syscall_stop_regs(struct pmadv_regs *r,
					       const struct pmadv_regs *before)
{
	(void)r, (void)before;
}
static inline uint64_t pmadv_arch_sp(const struct pmadv_regs *r)
{
	(void)r;
	return 0;
}
static inline void pmadv_arch_set_sp(struct pmadv_regs *r, uint64_t sp)
{
	(void)r, (void)sp;
}
static inline uint64_t pmadv_arch_loop_sp(bool compat, uint64_t at)
{
	(void)compat;
	return at;
}
static inline bool pmadv_arch_flat_stack(const struct pmadv_regs *r)
{
	(void)r;
	return false;
}
static inline int pmadv_arch_getregs(pid_t tid, struct pmadv_regs *r)
{
	(void)tid, (void)r;
	return -ENOSYS;
}
static inline int pmadv_arch_setregs(pid_t tid, const struct pmadv_regs *r)
{
	(void)tid, (void)r;
	return -ENOSYS;
}
static inline bool pmadv_arch_compat(const struct pmadv_regs *r)
{
	(void)r;
	return false;
}
static inline const unsigned char *pmadv_arch_insn(bool compat, size_t *len)
{
	(void)compat;
	*len = 0;
	return NULL;
}
static inline size_t pmadv_arch_syscall_at(const struct pmadv_regs *r,
					   const unsigned char *b, size_t n)
{
	(void)r, (void)b, (void)n;
	return 0;
}
static inline uint64_t pmadv_arch_code_addr(bool compat, uint64_t a)
{
	(void)compat;
	return a;
}
static inline size_t pmadv_arch_code_align(bool compat)
{
	(void)compat;
	return 1;
}
static inline long pmadv_arch_nr(bool compat, enum pmadv_nr nr)
{
	(void)compat, (void)nr;
	return -1;
}
static inline void pmadv_arch_set_call(struct pmadv_regs *r, uint64_t pc,
				       long nr, const uint64_t args[6])
{
	(void)r, (void)pc, (void)nr, (void)args;
}
static inline long pmadv_arch_ret(const struct pmadv_regs *r)
{
	(void)r;
	return -ENOSYS;
}
static inline void pmadv_arch_syscall_state(const struct pmadv_regs *r,
					    long *nr, long *ret)
{
	(void)r;
	*nr = -1;
	*ret = 0;
}
static inline bool pmadv_arch_swaps_sigmask(bool compat, long nr)
{
	(void)compat, (void)nr;
	return false;
}
static inline bool pmadv_arch_never_restarted(bool compat, long nr)
{
	(void)compat, (void)nr;
	return false;
}
static inline void pmadv_arch_rewind(struct pmadv_regs *r)
{
	(void)r;
}
static inline uint64_t pmadv_arch_pc(const struct pmadv_regs *r)
{
	(void)r;
	return 0;
}
static inline void pmadv_arch_set_pc(struct pmadv_regs *r, uint64_t pc)
{
	(void)r, (void)pc;
}
static inline const unsigned char *pmadv_arch_loop_code(bool compat,
							size_t *len)
{
	(void)compat;
	*len = 0;
	return NULL;
}
static inline void pmadv_arch_set_loop(struct pmadv_regs *r, uint64_t pc,
				       uint64_t block)
{
	(void)r, (void)pc, (void)block;
}
#endif

#endif /* PMADV_ARCH_H */
