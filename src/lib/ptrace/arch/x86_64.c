// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * x86_64 side of the ptrace rung: 64-bit targets (syscall, rax/rdi...) and
 * 32-bit targets on a 64-bit kernel (int 0x80, i386 numbers, ebx/ecx...).
 * PTRACE_GETREGSET hands out the register view of the target's own ABI, so
 * the size of the set says which one we are talking to.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
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

size_t pmadv_arch_syscall_at(const struct pmadv_regs *r,
			     const unsigned char *b, size_t n)
{
	size_t len;
	const unsigned char *insn = pmadv_arch_insn(pmadv_arch_compat(r), &len);

	return n >= len && !memcmp(b, insn, len) ? len : 0;
}

uint64_t pmadv_arch_code_addr(bool compat, uint64_t a)
{
	(void)compat;
	return a;
}

size_t pmadv_arch_code_align(bool compat)
{
	(void)compat;
	return 1;
}

/* The kernel's flat user segments of a 32-bit task (__USER32_CS,
 * __USER_DS): base 0, limit 4 GiB. */
#define FLAT32_CS 0x23
#define FLAT32_DS 0x2b

/* Our code runs with the flat segments, whatever the thread had loaded: a
 * thread in 16-bit code (Wine, dosemu) or with an LDT data segment would
 * otherwise run it at the wrong place, or read and write its block
 * through a base the target chose. The saved registers, and the frame,
 * keep the thread's own; the tracer's restore or rt_sigreturn puts them
 * back. */
static void flat32(struct regs32 *p)
{
	p->xcs = FLAT32_CS;
	p->xds = p->xes = p->xss = FLAT32_DS;
}

bool pmadv_arch_flat_stack(const struct pmadv_regs *r)
{
	/* in 64-bit mode the stack segment's base is ignored */
	return !pmadv_arch_compat(r) || (cr32(r)->xss & 0xffff) == FLAT32_DS;
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

		flat32(p);
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

	return compat ? pmadv_arch_listed(n32, sizeof(n32) / sizeof(n32[0]), nr)
		      : pmadv_arch_listed(n64, sizeof(n64) / sizeof(n64[0]), nr);
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

	return compat ? pmadv_arch_listed(n32, sizeof(n32) / sizeof(n32[0]), nr)
		      : pmadv_arch_listed(n64, sizeof(n64) / sizeof(n64[0]), nr);
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
 * returns 0 on success for every advice. Its tail (arch.h) lingers in
 * select(2) and returns through the frame, or parks in pause(2).
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
	0x49, 0x83, 0x7f, 0x38, 0x00,       /*    cmpq $0, 56(%r15)       */
	0x74, 0x29,                         /*    je 4f                   */
	0x49, 0x83, 0x7f, 0x30, 0x00,       /*    cmpq $0, 48(%r15)       */
	0x75, 0x07,                         /*    jne 5f                  */
	0x49, 0x83, 0x7f, 0x28, 0x00,       /*    cmpq $0, 40(%r15)       */
	0x74, 0x14,                         /*    je 6f                   */
	0x31, 0xff,                         /* 5: xor %edi, %edi          */
	0x31, 0xf6,                         /*    xor %esi, %esi          */
	0x31, 0xd2,                         /*    xor %edx, %edx          */
	0x45, 0x31, 0xd2,                   /*    xor %r10d, %r10d        */
	0x4d, 0x8d, 0x47, 0x28,             /*    lea 40(%r15), %r8       */
	0xb8, 0x17, 0x00, 0x00, 0x00,       /*    mov $23, %eax (select)  */
	0x0f, 0x05,                         /*    syscall                 */
	0xb8, 0x0f, 0x00, 0x00, 0x00,       /* 6: mov $15, %eax           */
	0x0f, 0x05,                         /*    syscall (rt_sigreturn)  */
	0xb8, 0x22, 0x00, 0x00, 0x00,       /* 4: mov $34, %eax (pause)   */
	0x0f, 0x05,                         /*    syscall                 */
	0xeb, 0xf7,                         /*    jmp 4b                  */
};

/* The same for i386 (.code32): block in edi, vector in ebp, index in esi;
 * int 0x80 changes only eax. Its tail lingers in _newselect(2) on the
 * 32-bit struct timeval at LINGER (tv_sec, then tv_usec at LINGER + 4). */
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
	0x83, 0x7f, 0x38, 0x00,             /*    cmpl $0, 56(%edi)       */
	0x74, 0x25,                         /*    je 4f                   */
	0x83, 0x7f, 0x2c, 0x00,             /*    cmpl $0, 44(%edi)       */
	0x75, 0x06,                         /*    jne 5f                  */
	0x83, 0x7f, 0x28, 0x00,             /*    cmpl $0, 40(%edi)       */
	0x74, 0x12,                         /*    je 6f                   */
	0x31, 0xdb,                         /* 5: xor %ebx, %ebx          */
	0x31, 0xc9,                         /*    xor %ecx, %ecx          */
	0x31, 0xd2,                         /*    xor %edx, %edx          */
	0x31, 0xf6,                         /*    xor %esi, %esi          */
	0x8d, 0x7f, 0x28,                   /*    lea 40(%edi), %edi      */
	0xb8, 0x8e, 0x00, 0x00, 0x00,       /*    mov $142, %eax (select) */
	0xcd, 0x80,                         /*    int $0x80               */
	0xb8, 0xad, 0x00, 0x00, 0x00,       /* 6: mov $173, %eax          */
	0xcd, 0x80,                         /*    int $0x80 (rt_sigreturn)*/
	0xb8, 0x1d, 0x00, 0x00, 0x00,       /* 4: mov $29, %eax (pause)   */
	0xcd, 0x80,                         /*    int $0x80               */
	0xeb, 0xf7,                         /*    jmp 4b                  */
};

const unsigned char *pmadv_arch_loop_code(bool compat, size_t *len)
{
	*len = compat ? sizeof(loop32) : sizeof(loop64);
	return compat ? loop32 : loop64;
}

void pmadv_arch_set_loop(struct pmadv_regs *r, uint64_t pc, uint64_t block)
{
	if (pmadv_arch_compat(r)) {
		struct regs32 *p = r32(r);

		flat32(p);
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

uint64_t pmadv_arch_sp(const struct pmadv_regs *r)
{
	return pmadv_arch_compat(r) ? cr32(r)->esp : cr64(r)->rsp;
}

void pmadv_arch_set_sp(struct pmadv_regs *r, uint64_t sp)
{
	if (pmadv_arch_compat(r))
		r32(r)->esp = (uint32_t)sp;
	else
		r64(r)->rsp = sp;
}

/* ---- the rt_sigreturn frame (64-bit targets) ---- */

const unsigned char *pmadv_arch_gadget(bool compat, size_t *len)
{
	static const unsigned char syscall_ret[] = { 0x0f, 0x05, 0xc3 };
	/* the 32-bit vDSO's __kernel_vsyscall ends so: int $0x80; pop %ebp;
	 * pop %edx; pop %ecx; ret. The frame leaves three words for the
	 * pops below the return address. */
	static const unsigned char int80_ret[] = { 0xcd, 0x80, 0x5d, 0x5a,
						   0x59, 0xc3 };

	*len = compat ? sizeof(int80_ret) : sizeof(syscall_ret);
	return compat ? int80_ret : syscall_ret;
}

const unsigned char *pmadv_arch_restorer(bool compat, unsigned int i,
					 size_t *len)
{
	/* glibc and musl: mov $15, %rax; syscall. Go: mov $15, %eax;
	 * syscall. i386 (the vDSO's __kernel_rt_sigreturn, glibc's
	 * __restore_rt): mov $173, %eax; int $0x80. */
	static const unsigned char movq[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00,
					      0x00, 0x00, 0x0f, 0x05 };
	static const unsigned char movl[] = { 0xb8, 0x0f, 0x00, 0x00, 0x00,
					      0x0f, 0x05 };
	static const unsigned char movl32[] = { 0xb8, 0xad, 0x00, 0x00, 0x00,
						0xcd, 0x80 };

	*len = 0;
	if (compat) {
		if (i > 0)
			return NULL;
		*len = sizeof(movl32);
		return movl32;
	}
	if (i > 1)
		return NULL;
	*len = i ? sizeof(movl) : sizeof(movq);
	return i ? movl : movq;
}

#ifndef NT_PRXFPREG
#define NT_PRXFPREG 0x46e62b7f
#endif

ssize_t pmadv_arch_getfpu(pid_t tid, unsigned char *buf, size_t len)
{
	struct iovec iov = { buf, len };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) == 0)
		return (ssize_t)iov.iov_len;
	/* no XSAVE: the FXSAVE image, which rt_sigreturn takes as such
	 * (a 32-bit task's NT_PRFPREG is the older FSAVE layout; its
	 * FXSAVE image is NT_PRXFPREG) */
	iov.iov_len = len;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) == 0 &&
	    iov.iov_len >= 512)
		return (ssize_t)iov.iov_len;
	iov.iov_len = len;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRXFPREG, &iov) < 0)
		return -errno;
	return (ssize_t)iov.iov_len;
}

/* The kernel's struct sigcontext, ucontext and rt_sigframe (x86_64). */
struct kctx {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate, reserved[8];
};

struct kframe {
	uint64_t pretcode;
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, ss_pad;
	uint64_t ss_size;
	struct kctx mc;
	uint64_t sigmask;
	unsigned char info[128];
};

_Static_assert(sizeof(struct kctx) == 256, "sigcontext layout");
_Static_assert(offsetof(struct kframe, mc) == 48 &&
		       offsetof(struct kframe, sigmask) == 304 &&
		       sizeof(struct kframe) == 440,
	       "rt_sigframe layout");

#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4
#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U
#define FXSAVE_LEN 512
#define XSAVE_MIN (FXSAVE_LEN + 64)  /* legacy area and XSAVE header */
#define XSAVE_SW 464                 /* the bytes left to software */

/*
 * The length of the XSAVE image up to the last component it holds
 * (XSTATE_BV), from CPUID leaf 0xD: rt_sigreturn restores what lies in
 * that length and initialises the rest, which XSTATE_BV says is in its
 * initial state anyway. 0 for an image that is not XSAVE.
 */
/* Where component i ends in the standard XSAVE layout, 0 for a component
 * without a user offset. CPUID traps to the hypervisor in a VM: each
 * answer is kept (the same for every thread; lock-free, since the tracer
 * may not take locks). */
static size_t xsave_end(unsigned int i)
{
	static uint64_t known[64]; /* bit 63: known; low bits: the end */
	uint64_t k = __atomic_load_n(&known[i], __ATOMIC_RELAXED);
	unsigned int eax, ebx, ecx, edx;

	if (!(k >> 63)) {
		k = __get_cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx) && ebx
			    ? (uint64_t)ebx + eax
			    : 0;
		__atomic_store_n(&known[i], k | 1ULL << 63, __ATOMIC_RELAXED);
	}
	return (size_t)(k & ~(1ULL << 63));
}

static size_t xsave_len(const unsigned char *fpu, size_t fpulen)
{
	uint64_t bv;
	size_t end = XSAVE_MIN;

	if (fpulen < XSAVE_MIN)
		return 0;
	memcpy(&bv, fpu + FXSAVE_LEN, sizeof(bv));
	for (unsigned int i = 2; i < 64; i++) {
		size_t e;

		if (!(bv & (1ULL << i)))
			continue;
		e = xsave_end(i);
		if (!e || e > fpulen)
			return 0; /* not a user component we can place */
		if (e > end)
			end = e;
	}
	return end;
}

/* The FPU image as a signal frame carries it: with XSAVE, the software
 * bytes that say so, and the second magic after the image (written by
 * the caller at *xlen). Returns the bytes it takes, 0 for an image too
 * short. */
static size_t fpu_sigframe(unsigned char *fpu, size_t fpulen, size_t *xlen)
{
	if (fpulen < FXSAVE_LEN)
		return 0;
	*xlen = xsave_len(fpu, fpulen);
	if (*xlen) {
		struct {
			uint32_t magic1, extended_size;
			uint64_t xfeatures;
			uint32_t xstate_size, pad[7];
		} sw = { FP_XSTATE_MAGIC1, (uint32_t)*xlen + 4, 0,
			 (uint32_t)*xlen, { 0 } };
		uint64_t bv;

		memcpy(&bv, fpu + FXSAVE_LEN, sizeof(bv));
		bv |= 3; /* x87 and SSE: the image holds them either way */
		memcpy(fpu + FXSAVE_LEN, &bv, sizeof(bv));
		sw.xfeatures = bv;
		memcpy(fpu + XSAVE_SW, &sw, sizeof(sw));
		return *xlen + 4;
	}
	memset(fpu + XSAVE_SW, 0, FXSAVE_LEN - XSAVE_SW);
	return FXSAVE_LEN;
}

/* Copies the image fpu_sigframe prepared to out, with the magic after
 * an XSAVE one. */
static void fpu_put(unsigned char *out, const unsigned char *fpu, size_t xlen)
{
	memcpy(out, fpu, xlen ? xlen : FXSAVE_LEN);
	if (xlen) {
		uint32_t m2 = FP_XSTATE_MAGIC2;

		memcpy(out + xlen, &m2, sizeof(m2));
	}
}

/* rt_sigreturn leaves no call to restart: what the kernel does for a
 * signal without a handler, done now on the frame's copy (pc, the return
 * register). ERESTART_RESTARTBLOCK (nanosleep...) cannot be restarted,
 * since rt_sigreturn resets the restart block: it ends with EINTR, as
 * under a handler. */
static void restart_as_unhandled(long nr, long ret, uint64_t *pc,
				 uint64_t *rv)
{
	if (nr < 0)
		return;
	if (ret == -512 || ret == -513 || ret == -514) {
		*rv = (uint64_t)nr;
		*pc -= 2;
	} else if (ret == -516) {
		*rv = (uint64_t)-EINTR;
	}
}

static size_t frame64(const struct user_regs_struct *q, uint64_t mask,
		      unsigned char *fpu, size_t fpulen, uint64_t restorer,
		      unsigned char *out, size_t outlen, uint64_t *at)
{
	size_t xlen, fplen = fpu_sigframe(fpu, fpulen, &xlen), total;
	uint64_t fp, frame, pc, rv;
	struct kframe f;

	if (!fplen)
		return 0;
	/* As the kernel places a signal frame: below the red zone, the FPU
	 * image 64-byte aligned, the frame under it so that the stack
	 * pointer is 16-byte aligned once the return address is popped. */
	fp = (q->rsp - 128 - fplen) & ~(uint64_t)63;
	frame = ((fp - sizeof(f)) & ~(uint64_t)15) - 8;
	total = (size_t)(fp + fplen - frame);
	if (q->rsp < 128 + fplen + sizeof(f) + 64 || total > outlen)
		return 0;
	memset(&f, 0, sizeof(f));
	f.pretcode = restorer;
	f.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	/* an invalid mode: the sigaltstack call inside rt_sigreturn fails
	 * (EINVAL, ignored) and the thread's alternate stack stays as is */
	f.ss_flags = 3;
	pc = q->rip;
	rv = q->rax;
	restart_as_unhandled((long)q->orig_rax, (long)q->rax, &pc, &rv);
	f.mc = (struct kctx){
		.r8 = q->r8, .r9 = q->r9, .r10 = q->r10, .r11 = q->r11,
		.r12 = q->r12, .r13 = q->r13, .r14 = q->r14, .r15 = q->r15,
		.rdi = q->rdi, .rsi = q->rsi, .rbp = q->rbp, .rbx = q->rbx,
		.rdx = q->rdx, .rax = rv, .rcx = q->rcx, .rsp = q->rsp,
		.rip = pc, .eflags = q->eflags, .cs = (uint16_t)q->cs,
		.ss = (uint16_t)q->ss, .oldmask = mask, .fpstate = fp,
	};
	f.sigmask = mask;
	memset(out, 0, total);
	memcpy(out, &f, sizeof(f));
	fpu_put(out + (fp - frame), fpu, xlen);
	*at = frame;
	return total;
}

/* The i386 frame (the kernel's rt_sigframe_ia32, ucontext_ia32 and
 * sigcontext_32), byte offsets from the return address. */
#define F32_UC 144            /* after pretcode, sig, pinfo, puc, info */
#define F32_MC (F32_UC + 20)  /* after uc_flags, uc_link, uc_stack */
#define F32_MASK (F32_MC + 88)
#define F32_SIZE (F32_MASK + 8 + 8) /* the mask, retcode[8] */
#define FSAVE_LEN 112         /* the i387 environment before the image */

static void put32(unsigned char *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

/*
 * An i386 signal frame keeps the x87 state twice: in the FXSAVE image,
 * and in the older FSAVE layout in front of it, which is what
 * rt_sigreturn takes for the x87 part (its environment and registers;
 * convert_to_fxsr). Made from the image as the kernel's convert_from_fxsr
 * does, but keeping the last opcode in the top of FCS, where
 * convert_to_fxsr takes it back from.
 */
static void fsave_env(unsigned char *env, const unsigned char *fx,
		      uint16_t cs, uint16_t ds)
{
	uint16_t cwd, swd, fop;
	uint32_t twd = 0xffff0000u, fip, foo;

	memcpy(&cwd, fx, 2);
	memcpy(&swd, fx + 2, 2);
	memcpy(&fop, fx + 6, 2);
	memcpy(&fip, fx + 8, 4);
	memcpy(&foo, fx + 16, 4);
	/* the abridged tags say only empty or not, all convert_to_fxsr
	 * looks at: valid (00) or empty (11) */
	for (int i = 0; i < 8; i++)
		if (!(fx[4] & (1u << i)))
			twd |= 3u << (2 * i);
	put32(env, 0, 0xffff0000u | cwd);
	put32(env, 4, 0xffff0000u | swd);
	put32(env, 8, twd);
	put32(env, 12, fip);
	put32(env, 16, (uint32_t)fop << 16 | cs);
	put32(env, 20, foo);
	put32(env, 24, 0xffff0000u | ds);
	for (int i = 0; i < 8; i++) /* 80-bit registers, packed */
		memcpy(env + 28 + 10 * i, fx + 32 + 16 * i, 10);
	memcpy(env + 108, &swd, 2); /* status; magic 0: FXSR data follows */
}

static size_t frame32(const struct regs32 *q, uint64_t mask,
		      unsigned char *fpu, size_t fpulen, uint64_t restorer,
		      unsigned char *out, size_t outlen, uint64_t *at)
{
	size_t xlen, fplen = fpu_sigframe(fpu, fpulen, &xlen), total;
	uint64_t fx, env, frame, pc = q->eip, rv = q->eax;
	unsigned char *f, *mc;

	if (!fplen || q->esp < FSAVE_LEN + fplen + F32_SIZE + 256)
		return 0;
	/* As the kernel places it (no red zone in the i386 ABI): the image
	 * 64-byte aligned, the FSAVE environment under it, the frame under
	 * that so that the stack pointer is 16-byte aligned once the return
	 * address is popped; and three words below the frame for the pops
	 * of the "int $0x80" sequence (pmadv_arch_gadget). */
	fx = (q->esp - fplen) & ~(uint64_t)63;
	env = fx - FSAVE_LEN;
	frame = ((env - F32_SIZE + 4) & ~(uint64_t)15) - 4;
	*at = frame - 12;
	total = (size_t)(fx + fplen - *at);
	if (total > outlen)
		return 0;
	memset(out, 0, total);
	f = out + 12;
	put32(f, 0, (uint32_t)restorer);
	put32(f, F32_UC, xlen ? UC_FP_XSTATE : 0);
	put32(f, F32_UC + 12, 3); /* uc_stack.ss_flags: see frame64 */
	restart_as_unhandled((long)(int32_t)q->orig_eax, (long)(int32_t)q->eax,
			     &pc, &rv);
	mc = f + F32_MC;
	put32(mc, 0, q->xgs & 0xffff);
	put32(mc, 4, q->xfs & 0xffff);
	put32(mc, 8, q->xes & 0xffff);
	put32(mc, 12, q->xds & 0xffff);
	put32(mc, 16, q->edi);
	put32(mc, 20, q->esi);
	put32(mc, 24, q->ebp);
	put32(mc, 28, q->esp);
	put32(mc, 32, q->ebx);
	put32(mc, 36, q->edx);
	put32(mc, 40, q->ecx);
	put32(mc, 44, (uint32_t)rv);
	put32(mc, 56, (uint32_t)pc);
	put32(mc, 60, q->xcs & 0xffff);
	put32(mc, 64, q->eflags);
	put32(mc, 68, q->esp);
	put32(mc, 72, q->xss & 0xffff);
	put32(mc, 76, (uint32_t)env);
	put32(mc, 80, (uint32_t)mask);
	memcpy(f + F32_MASK, &mask, sizeof(mask));
	fsave_env(out + (env - *at), fpu, (uint16_t)q->xcs, (uint16_t)q->xds);
	fpu_put(out + (fx - *at), fpu, xlen);
	return total;
}

size_t pmadv_arch_frame(const struct pmadv_regs *r, uint64_t mask,
			unsigned char *fpu, size_t fpulen, uint64_t restorer,
			unsigned char *out, size_t outlen, uint64_t *at)
{
	if (pmadv_arch_compat(r))
		return frame32(cr32(r), mask, fpu, fpulen, restorer, out,
			       outlen, at);
	return frame64(cr64(r), mask, fpu, fpulen, restorer, out, outlen,
		       at);
}

uint64_t pmadv_arch_loop_sp(bool compat, uint64_t at)
{
	/* rt_sigreturn finds the frame at sp - 8 (i386: sp - 4, and the
	 * frame starts three words above at) */
	return compat ? at + 16 : at + 8;
}

/* A syscall leaves the x87/SSE/AVX state alone: nothing to put back. */
int pmadv_arch_restore_fpu(pid_t tid, const unsigned char *fpu, size_t len)
{
	(void)tid, (void)fpu, (void)len;
	return 0;
}

/* A shadow stack (6.6+, a CET processor, a program and libc that ask for
 * it) checks every return against a copy the program cannot write: the
 * gadget's ret into the restorer, and rt_sigreturn on a frame the kernel
 * did not push a token for, would both kill the thread. The kernel lists
 * it in the thread's status (arch_proc_pid_thread_features). Read there,
 * not from NT_X86_SHSTK, whose read of a thread without one warned in the
 * kernel log before 6.13. A processor without CET's shadow stack
 * (CPUID.(EAX=7,ECX=0):ECX bit 7, which a hypervisor may also hide) gives
 * the kernel none to turn on: then no thread has one, and the status (one
 * of the costliest reads of a request) is not read. */
static bool cpu_has_shstk(void)
{
	/* 0 not asked yet, 1 no, 2 yes; the tracer runs this too, outside
	 * any pthread: a plain atomic, and a race only asks twice */
	static int known;
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	unsigned int eax, ebx, ecx, edx;

	if (!k) {
		k = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) &&
				    (ecx & (1u << 7))
			    ? 2
			    : 1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k == 2;
}

int pmadv_arch_foreign_state(pid_t pid, pid_t tid, bool compat, char *what,
			     size_t len)
{
	char path[64], buf[4096];

	(void)compat;
	if (!cpu_has_shstk())
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)tid);
	if (pmadv_read_proc(path, buf, sizeof(buf)) <= 0 ||
	    !pmadv_status_lists(buf, "x86_Thread_features:", "shstk"))
		return 0;
	snprintf(what, len, "an x86 shadow stack (CET)");
	return 1;
}

/* "syscall; ret" pops its return address: the frame holds it. */
void pmadv_arch_set_link(struct pmadv_regs *r, uint64_t to)
{
	(void)r, (void)to;
}

/* The restart logic runs after the stop (orig_ax and ax show it). */
bool pmadv_arch_restarts_before_stop(void)
{
	return false;
}

/* Stopped with the call's -ERESTART_RESTARTBLOCK in ax (restart_syscall
 * comes after the stop). */
bool pmadv_arch_restarts_by_block(const struct pmadv_regs *r)
{
	long nr, ret;

	pmadv_arch_syscall_state(r, &nr, &ret);
	return nr >= 0 && ret == -516;
}

/* Syscall stops show the thread's registers as they are. */
void pmadv_arch_syscall_stop_regs(struct pmadv_regs *r,
				  const struct pmadv_regs *before)
{
	(void)r, (void)before;
}
