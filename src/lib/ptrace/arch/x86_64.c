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
	static const long nr64[PMADV_NR_COUNT] = { 28, 9, 11, 3, 434, 440, 10 };
	static const long nr32[PMADV_NR_COUNT] = { 219, 192, 91, 6, 434, 440,
						    125 };

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

static bool listed(const long *t, size_t n, long nr)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] == nr)
			return true;
	return false;
}

bool pmadv_arch_swaps_sigmask(bool compat, long nr)
{
	/* rt_sigsuspend, pselect6, ppoll, epoll_pwait, io_pgetevents,
	 * epoll_pwait2; on i386 also sigsuspend and the time64 variants. */
	static const long n64[] = { 130, 270, 271, 281, 333, 441 };
	static const long n32[] = { 72, 179, 308, 309, 319, 385, 413, 414,
				    416, 441 };

	return compat ? listed(n32, sizeof(n32) / sizeof(n32[0]), nr)
		      : listed(n64, sizeof(n64) / sizeof(n64[0]), nr);
}

bool pmadv_arch_never_restarted(bool compat, long nr)
{
	/* epoll_wait, epoll_pwait, epoll_pwait2, rt_sigtimedwait, semop,
	 * semtimedop, io_getevents, io_pgetevents, io_uring_enter; on i386
	 * also ipc (semop) and the time64 variants. */
	static const long n64[] = { 232, 281, 441, 128, 65, 220, 208, 333,
				    426 };
	static const long n32[] = { 256, 319, 441, 177, 421, 117, 420, 247,
				    385, 416, 426 };

	return compat ? listed(n32, sizeof(n32) / sizeof(n32[0]), nr)
		      : listed(n64, sizeof(n64) / sizeof(n64[0]), nr);
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

void pmadv_arch_set_pc(struct pmadv_regs *r, uint64_t pc)
{
	if (pmadv_arch_compat(r))
		r32(r)->eip = (uint32_t)pc;
	else
		r64(r)->rip = pc;
}

/*
 * The madvise loop (see arch.h for the block). Hand-assembled from the
 * source in the comments (GNU as, AT&T syntax); it only jumps, never calls
 * or returns, so it needs no stack and cannot upset a shadow stack. Only
 * rax, rcx, r11 (syscall) and the registers named here change; the tracer
 * restores all of them afterwards. A failure is a negative return: madvise
 * returns 0 on success for every advice.
 */
static const unsigned char loop64[] = {
	0x4d, 0x8d, 0x67, 0x40,             /*    lea 64(%r15), %r12     */
	0x31, 0xdb,                         /*    xor %ebx, %ebx          */
	0x49, 0x3b, 0x5f, 0x18,             /* 1: cmp 24(%r15), %rbx      */
	0x73, 0x28,                         /*    jae 2f                  */
	0x49, 0x89, 0x1f,                   /*    mov %rbx, (%r15)        */
	0x48, 0x89, 0xd8,                   /*    mov %rbx, %rax          */
	0x48, 0xc1, 0xe0, 0x04,             /*    shl $4, %rax            */
	0x49, 0x8b, 0x3c, 0x04,             /*    mov (%r12,%rax), %rdi   */
	0x49, 0x8b, 0x74, 0x04, 0x08,       /*    mov 8(%r12,%rax), %rsi  */
	0x49, 0x8b, 0x57, 0x20,             /*    mov 32(%r15), %rdx      */
	0xb8, 0x1c, 0x00, 0x00, 0x00,       /*    mov $28, %eax (madvise) */
	0x0f, 0x05,                         /*    syscall                 */
	0x48, 0x85, 0xc0,                   /*    test %rax, %rax         */
	0x78, 0x07,                         /*    js 3f                   */
	0x48, 0xff, 0xc3,                   /*    inc %rbx                */
	0xeb, 0xd2,                         /*    jmp 1b                  */
	0x31, 0xc0,                         /* 2: xor %eax, %eax          */
	0x49, 0x89, 0x1f,                   /* 3: mov %rbx, (%r15)        */
	0x49, 0x89, 0x47, 0x08,             /*    mov %rax, 8(%r15)       */
	0x49, 0xc7, 0x47, 0x10,
	0x01, 0x00, 0x00, 0x00,             /*    movq $1, 16(%r15)       */
	0xb8, 0x22, 0x00, 0x00, 0x00,       /* 4: mov $34, %eax (pause)   */
	0x0f, 0x05,                         /*    syscall                 */
	0xeb, 0xf7,                         /*    jmp 4b                  */
};

/* The same for i386 (.code32): block in edi, vector in ebp, index in esi;
 * int 0x80 changes only eax. */
static const unsigned char loop32[] = {
	0x8d, 0x6f, 0x40,                   /*    lea 64(%edi), %ebp      */
	0x31, 0xf6,                         /*    xor %esi, %esi          */
	0x3b, 0x77, 0x18,                   /* 1: cmp 24(%edi), %esi      */
	0x73, 0x1b,                         /*    jae 2f                  */
	0x89, 0x37,                         /*    mov %esi, (%edi)        */
	0x8b, 0x5c, 0xf5, 0x00,             /*    mov (%ebp,%esi,8), %ebx */
	0x8b, 0x4c, 0xf5, 0x04,             /*    mov 4(%ebp,%esi,8), %ecx*/
	0x8b, 0x57, 0x20,                   /*    mov 32(%edi), %edx      */
	0xb8, 0xdb, 0x00, 0x00, 0x00,       /*    mov $219, %eax (madvise)*/
	0xcd, 0x80,                         /*    int $0x80               */
	0x85, 0xc0,                         /*    test %eax, %eax         */
	0x78, 0x05,                         /*    js 3f                   */
	0x46,                               /*    inc %esi                */
	0xeb, 0xe0,                         /*    jmp 1b                  */
	0x31, 0xc0,                         /* 2: xor %eax, %eax          */
	0x89, 0x37,                         /* 3: mov %esi, (%edi)        */
	0x89, 0x47, 0x08,                   /*    mov %eax, 8(%edi)       */
	0xc7, 0x47, 0x10,
	0x01, 0x00, 0x00, 0x00,             /*    movl $1, 16(%edi)       */
	0xb8, 0x1d, 0x00, 0x00, 0x00,       /* 4: mov $29, %eax (pause)   */
	0xcd, 0x80,                         /*    int $0x80               */
	0xeb, 0xf7,                         /*    jmp 4b                  */
};

_Static_assert(PMADV_LOOP_INDEX == 0 && PMADV_LOOP_RESULT == 8 &&
		       PMADV_LOOP_DONE == 16 && PMADV_LOOP_N == 24 &&
		       PMADV_LOOP_ADVICE == 32 && PMADV_LOOP_VEC == 64,
	       "the loop code has the block layout built in");

const unsigned char *pmadv_arch_loop_code(bool compat, size_t *len)
{
	*len = compat ? sizeof(loop32) : sizeof(loop64);
	return compat ? loop32 : loop64;
}

void pmadv_arch_set_loop(struct pmadv_regs *r, uint64_t pc, uint64_t block)
{
	if (pmadv_arch_compat(r)) {
		struct regs32 *p = r32(r);

		p->eip = (uint32_t)pc;
		p->edi = (uint32_t)block;
		p->orig_eax = UINT32_MAX;
		return;
	}
	struct user_regs_struct *q = r64(r);

	q->rip = pc;
	q->r15 = block;
	q->orig_rax = UINT64_MAX;
}
