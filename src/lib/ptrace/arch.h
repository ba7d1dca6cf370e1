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

#if defined(__x86_64__)
#define PMADV_ARCH_PTRACE 1
#endif

/* Big enough for any NT_PRSTATUS register set we know; len says which view
 * the kernel gave (on x86_64 it tells a 64-bit from a 32-bit target). */
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
 * The madvise loop: a position-independent routine the rung copies into an
 * executable scratch page of the target, which calls madvise(2) for each
 * element of a vector and stops at the first failure. It reads and writes
 * one block (LOOP_*, byte offsets; the 32-bit routine uses the low half of
 * each slot), the vector follows the block in the target's iovec layout:
 *   in:  N (elements), ADVICE
 *   out: INDEX (the element being advised, then the one it stopped at),
 *        RESULT (0, or the failing madvise's -errno), then DONE = 1 last.
 * After DONE it parks in pause(2) forever (every signal is blocked while
 * it runs), where the tracer interrupts it.
 */
#define PMADV_LOOP_INDEX 0
#define PMADV_LOOP_RESULT 8
#define PMADV_LOOP_DONE 16
#define PMADV_LOOP_N 24
#define PMADV_LOOP_ADVICE 32
#define PMADV_LOOP_VEC 64

#ifdef PMADV_ARCH_PTRACE
/* PTRACE_GETREGSET / SETREGSET NT_PRSTATUS: 0 or -errno. */
int pmadv_arch_getregs(pid_t tid, struct pmadv_regs *r) PMADV_HIDDEN;
int pmadv_arch_setregs(pid_t tid, const struct pmadv_regs *r) PMADV_HIDDEN;
/* True when r is the register view of a 32-bit (compat) task. */
bool pmadv_arch_compat(const struct pmadv_regs *r) PMADV_HIDDEN;
/* The bytes of the syscall instruction of the ABI of r. */
const unsigned char *pmadv_arch_insn(bool compat, size_t *len) PMADV_HIDDEN;
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
