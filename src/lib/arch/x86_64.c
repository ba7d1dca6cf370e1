// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * x86_64 side of the ptrace rung: 64-bit targets (syscall, rax/rdi...) and
 * 32-bit targets on a 64-bit kernel (int 0x80, i386 numbers, ebx/ecx...).
 * PTRACE_GETREGSET hands out the register view of the target's own ABI, so
 * the size of the set says which one we are talking to.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "../arch.h"

/* The i386 struct user_regs_struct, as the kernel's compat regset lays it
 * out; the 64-bit headers do not describe it. */
struct regs32 {
	uint32_t ebx, ecx, edx, esi, edi, ebp, eax;
	uint32_t xds, xes, xfs, xgs, orig_eax, eip, xcs, eflags, esp, xss;
};

_Static_assert(sizeof(struct user_regs_struct) <=
		       sizeof(((struct pmadv_regs *)0)->w),
	       "pmadv_regs too small");

static struct user_regs_struct *r64(struct pmadv_regs *r)
{
	return (struct user_regs_struct *)r->w;
}

static const struct user_regs_struct *cr64(const struct pmadv_regs *r)
{
	return (const struct user_regs_struct *)r->w;
}

static struct regs32 *r32(struct pmadv_regs *r)
{
	return (struct regs32 *)r->w;
}

static const struct regs32 *cr32(const struct pmadv_regs *r)
{
	return (const struct regs32 *)r->w;
}

int pmadv_arch_getregs(pid_t tid, struct pmadv_regs *r)
{
	struct iovec iov = { r->w, sizeof(r->w) };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	r->len = iov.iov_len;
	if (r->len != sizeof(struct user_regs_struct) &&
	    r->len != sizeof(struct regs32))
		return -EOPNOTSUPP;
	return 0;
}

int pmadv_arch_setregs(pid_t tid, const struct pmadv_regs *r)
{
	struct iovec iov = { (void *)r->w, r->len };

	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	return 0;
}

bool pmadv_arch_compat(const struct pmadv_regs *r)
{
	return r->len == sizeof(struct regs32);
}

const unsigned char *pmadv_arch_insn(bool compat, size_t *len)
{
	static const unsigned char syscall64[] = { 0x0f, 0x05 };
	static const unsigned char int80[] = { 0xcd, 0x80 };

	*len = 2;
	return compat ? int80 : syscall64;
}

long pmadv_arch_nr(bool compat, enum pmadv_nr nr)
{
	/* x86_64 numbers and i386 numbers; mmap2 (192) on i386 because old
	 * mmap (90) takes a pointer to an argument block. */
	static const long nr64[PMADV_NR_COUNT] = { 28, 9, 11, 3, 434, 440 };
	static const long nr32[PMADV_NR_COUNT] = { 219, 192, 91, 6, 434, 440 };

	if ((unsigned int)nr >= PMADV_NR_COUNT)
		return -1;
	return compat ? nr32[nr] : nr64[nr];
}

void pmadv_arch_set_call(struct pmadv_regs *r, uint64_t pc, long nr,
			 const uint64_t args[6])
{
	if (pmadv_arch_compat(r)) {
		struct regs32 *p = r32(r);

		p->eip = (uint32_t)pc;
		p->eax = (uint32_t)nr;
		/* -1: "not in a syscall", so no restart logic touches us. */
		p->orig_eax = UINT32_MAX;
		p->ebx = (uint32_t)args[0];
		p->ecx = (uint32_t)args[1];
		p->edx = (uint32_t)args[2];
		p->esi = (uint32_t)args[3];
		p->edi = (uint32_t)args[4];
		p->ebp = (uint32_t)args[5];
		return;
	}
	struct user_regs_struct *q = r64(r);

	q->rip = pc;
	q->rax = (uint64_t)nr;
	q->orig_rax = UINT64_MAX;
	q->rdi = args[0];
	q->rsi = args[1];
	q->rdx = args[2];
	q->r10 = args[3];
	q->r8 = args[4];
	q->r9 = args[5];
}

long pmadv_arch_ret(const struct pmadv_regs *r)
{
	if (pmadv_arch_compat(r))
		return (long)(int32_t)cr32(r)->eax;
	return (long)cr64(r)->rax;
}

void pmadv_arch_syscall_state(const struct pmadv_regs *r, long *nr, long *ret)
{
	if (pmadv_arch_compat(r)) {
		*nr = (long)(int32_t)cr32(r)->orig_eax;
		*ret = (long)(int32_t)cr32(r)->eax;
		return;
	}
	*nr = (long)cr64(r)->orig_rax;
	*ret = (long)cr64(r)->rax;
}

bool pmadv_arch_swaps_sigmask(bool compat, long nr)
{
	/* rt_sigsuspend, pselect6, ppoll, epoll_pwait, io_pgetevents,
	 * epoll_pwait2; on i386 also sigsuspend and the time64 variants. */
	static const long n64[] = { 130, 270, 271, 281, 333, 441 };
	static const long n32[] = { 72, 179, 308, 309, 319, 385, 413, 414,
				    416, 441 };
	const long *t = compat ? n32 : n64;
	size_t n = compat ? sizeof(n32) / sizeof(n32[0])
			  : sizeof(n64) / sizeof(n64[0]);

	for (size_t i = 0; i < n; i++)
		if (t[i] == nr)
			return true;
	return false;
}

void pmadv_arch_rewind(struct pmadv_regs *r)
{
	/* What the kernel does to restart a call: back over the two-byte
	 * instruction (syscall, int 0x80, and the vDSO's sysenter landing
	 * which is laid out for exactly this) with the number reloaded. */
	if (pmadv_arch_compat(r)) {
		struct regs32 *p = r32(r);

		p->eip -= 2;
		p->eax = p->orig_eax;
		return;
	}
	struct user_regs_struct *q = r64(r);

	q->rip -= 2;
	q->rax = q->orig_rax;
}

uint64_t pmadv_arch_pc(const struct pmadv_regs *r)
{
	return pmadv_arch_compat(r) ? cr32(r)->eip : cr64(r)->rip;
}
