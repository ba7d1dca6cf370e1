// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * aarch64 side of the ptrace rung: 64-bit targets (svc #0, x8 and x0-x5,
 * the generic syscall table), and 32-bit ARM (AArch32) targets on an
 * arm64 kernel, whose NT_PRSTATUS is 18 words (r0-r15, cpsr, orig_r0;
 * r7 the syscall number, r0-r5 the arguments, the ARM EABI numbers). An
 * AArch32 thread may run ARM or Thumb code (CPSR.T); everything the rung
 * runs there is Thumb: the madvise loop, and from the target's own code
 * the "svc #0", the "svc #0; pop {r7, pc}" of glibc's __libc_do_syscall
 * and the restorer "mov r7, #173; svc #0", which glibc's Thumb-2 builds
 * have (Debian's armhf, Android's are ARM code: unarmed there, see
 * libprocmadvise(7)).
 *
 * What differs from x86, all of it read in arch/arm64/kernel/signal.c,
 * ptrace.c and syscall.c of 5.10 to 6.12:
 * - The syscall number the kernel acts on is not x8 but the pt_regs field
 *   syscallno, which PTRACE_GETREGSET/SETREGSET NT_ARM_SYSTEM_CALL reads
 *   and writes (3.19+); pmadv_regs keeps it after the 34 words of
 *   NT_PRSTATUS. -1 is "no call": at an entry stop the call is skipped,
 *   elsewhere no restart logic looks at the registers.
 * - do_signal rewinds an interrupted call for its restart (pc back on the
 *   svc, x0 = orig_x0) and forgets its number before get_signal, where
 *   the stop is: a stopped thread shows no call, only a pc on an svc
 *   (pmadv_arch_restarts_before_stop; tracer.c takes such a thread to the
 *   restarted call's entry stop).
 * - At syscall stops x7 reads 0 (entry) or 1 (exit), and what the tracer
 *   writes there is overwritten with the saved value when the stop ends:
 *   the rung takes it from the same context's last other stop.
 * - A syscall discards the SVE state past the FP/SIMD registers
 *   (fp_user_discard): the state is read before and written back after.
 * - "svc #0; ret" returns through x30, not the stack.
 * - AArch32: the register a syscall stop hides is r12, not x7; a rewound
 *   call's pc goes back 2 bytes in Thumb state, 4 in ARM state; the
 *   signal frame is arch/arm's (signal32.c), its VFP record included.
 */
#define _GNU_SOURCE
#include <asm/ptrace.h>
#include <asm/sigcontext.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "../arch.h"

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif
#ifndef NT_ARM_SVE
#define NT_ARM_SVE 0x405
#endif

/* NT_PRSTATUS of a 64-bit task: x0-x30, sp, pc, pstate (struct
 * user_pt_regs); w[NR_AT] holds the syscall number. */
#define REGS64_LEN (34 * sizeof(uint64_t))
#define REGS32_LEN (18 * sizeof(uint32_t))
#define X(n) (n)
#define SP 31
#define PC 32
#define PSTATE 33
#define NR_AT 34
/* PSTATE.BTYPE: the branch type a BTI landing check looks at. The
 * registers we set are no branch: cleared so that the code there, which
 * need not start with a landing pad, runs. */
#define PSTATE_BTYPE (3ULL << 10)

_Static_assert(REGS64_LEN + sizeof(uint64_t) <=
		       sizeof(((struct pmadv_regs *)0)->w),
	       "pmadv_regs too small");

/* NT_PRSTATUS of an AArch32 task (compat_gpr_get): r0-r14, pc, the
 * AArch32 CPSR, orig_r0. */
struct c32 {
	uint32_t r[15], pc, cpsr, orig_r0;
};

_Static_assert(sizeof(struct c32) == REGS32_LEN, "compat register set");

/* CPSR.T (Thumb), and the IT state of a Thumb IT block (bits 15:10 and
 * 26:25), which must not carry over to code we move the thread to. */
#define CPSR_T (1u << 5)
#define CPSR_IT 0x0600fc00u

static struct c32 *c32(struct pmadv_regs *r)
{
	return (struct c32 *)(void *)r->w;
}

static const struct c32 *cc32(const struct pmadv_regs *r)
{
	return (const struct c32 *)(const void *)r->w;
}

int pmadv_arch_getregs(pid_t tid, struct pmadv_regs *r)
{
	struct iovec iov = { r->w, REGS64_LEN };
	int nr = -1;

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	r->len = iov.iov_len;
	if (r->len != REGS64_LEN && r->len != REGS32_LEN)
		return -EOPNOTSUPP;
	iov = (struct iovec){ &nr, sizeof(nr) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		/* a kernel whose AArch32 view lacks it: the call a thread is
		 * in could be neither read nor cancelled */
		return errno == EINVAL && r->len == REGS32_LEN ? -EOPNOTSUPP
							       : -errno;
	r->w[NR_AT] = (uint64_t)(int64_t)nr;
	return 0;
}

int pmadv_arch_setregs(pid_t tid, const struct pmadv_regs *r)
{
	struct iovec iov = { (void *)r->w, r->len };
	int nr = (int)(int64_t)r->w[NR_AT];

	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	iov = (struct iovec){ &nr, sizeof(nr) };
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		return -errno;
	return 0;
}

bool pmadv_arch_compat(const struct pmadv_regs *r)
{
	return r->len == REGS32_LEN;
}

bool pmadv_arch_flat_stack(const struct pmadv_regs *r)
{
	(void)r;
	return true;
}

/* A64 instructions are little-endian whatever the data's byte order. */
#define I(w)                                                             \
	(unsigned char)((w) & 0xff), (unsigned char)((w) >> 8 & 0xff),   \
		(unsigned char)((w) >> 16 & 0xff),                       \
		(unsigned char)((w) >> 24 & 0xff)

/* Thumb instructions: halfwords, little-endian, a 32-bit one as two. */
#define H(h) (unsigned char)((h) & 0xff), (unsigned char)((h) >> 8 & 0xff)

#define SVC0 0xd4000001u
#define RET 0xd65f03c0u
#define T_SVC0 0xdf00u

const unsigned char *pmadv_arch_insn(bool compat, size_t *len)
{
	static const unsigned char svc[] = { I(SVC0) };
	static const unsigned char tsvc[] = { H(T_SVC0) };

	*len = compat ? sizeof(tsvc) : sizeof(svc);
	return compat ? tsvc : svc;
}

/* Whether AArch32 condition cond (0-14) holds under the CPSR's NZCV. */
static bool cond_holds(uint32_t cpsr, unsigned int cond)
{
	bool n = cpsr >> 31 & 1, z = cpsr >> 30 & 1, c = cpsr >> 29 & 1,
	     v = cpsr >> 28 & 1, ok;

	switch (cond >> 1) {
	case 0: ok = z; break;             /* EQ */
	case 1: ok = c; break;             /* CS */
	case 2: ok = n; break;             /* MI */
	case 3: ok = v; break;             /* VS */
	case 4: ok = c && !z; break;       /* HI */
	case 5: ok = n == v; break;        /* GE */
	case 6: ok = !z && n == v; break;  /* GT */
	default: return true;              /* AL */
	}
	return (cond & 1) ? !ok : ok;
}

/* A thread is on a call to restart only where the svc at its pc runs:
 * an AArch32 one may be conditional (ARM's condition field, Thumb's IT
 * block), and one whose condition fails is passed over, not entered. */
size_t pmadv_arch_syscall_at(const struct pmadv_regs *r,
			     const unsigned char *b, size_t n)
{
	uint32_t w, cpsr, it;

	if (n < 4)
		return 0;
	w = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
	if (!pmadv_arch_compat(r)) /* svc #imm */
		return (w & 0xffe0001fu) == SVC0 ? 4 : 0;
	cpsr = cc32(r)->cpsr;
	if (cpsr & CPSR_T) { /* Thumb svc #imm8, in an IT block or not */
		/* ITSTATE[7:0] = CPSR[15:10]:CPSR[26:25] */
		it = (cpsr >> 8 & 0xfc) | (cpsr >> 25 & 3);
		if (b[1] != 0xdf)
			return 0;
		return !(it & 0xf) || cond_holds(cpsr, it >> 4) ? 2 : 0;
	}
	/* ARM svc #imm24: the unconditional space (cond 15) holds none */
	if ((w & 0x0f000000u) != 0x0f000000u || w >> 28 == 0xf)
		return 0;
	return cond_holds(cpsr, w >> 28) ? 4 : 0;
}

uint64_t pmadv_arch_code_addr(bool compat, uint64_t a)
{
	/* interworking addresses (AT_ENTRY of a Thumb _start) have bit 0 set */
	return compat ? a & ~(uint64_t)1 : a;
}

size_t pmadv_arch_code_align(bool compat)
{
	return compat ? 2 : 4;
}

long pmadv_arch_nr(bool compat, enum pmadv_nr nr)
{
	/* include/uapi/asm-generic/unistd.h; arch/arm's EABI numbers
	 * (arch/arm64/include/asm/unistd32.h), mmap2 for mmap */
	static const long t[PMADV_NR_COUNT] = { 233, 222, 215, 57, 434, 440,
						226 };
	static const long t32[PMADV_NR_COUNT] = { 220, 192, 91, 6, 434, 440,
						  125 };

	if ((unsigned int)nr >= PMADV_NR_COUNT)
		return -1;
	return compat ? t32[nr] : t[nr];
}

void pmadv_arch_set_call(struct pmadv_regs *r, uint64_t pc, long nr,
			 const uint64_t args[6])
{
	if (pmadv_arch_compat(r)) {
		struct c32 *c = c32(r);

		for (int i = 0; i < 6; i++)
			c->r[i] = (uint32_t)args[i];
		c->r[7] = (uint32_t)nr;
		/* Our sequences are Thumb code; a call where the thread
		 * stands (skipped at its entry stop) keeps its state. */
		if (pc != c->pc)
			c->cpsr = (c->cpsr | CPSR_T) & ~CPSR_IT;
		c->pc = (uint32_t)pc;
		r->w[NR_AT] = UINT64_MAX;
		return;
	}
	for (int i = 0; i < 6; i++)
		r->w[X(i)] = args[i];
	r->w[X(8)] = (uint64_t)nr;
	r->w[PC] = pc;
	r->w[PSTATE] &= ~PSTATE_BTYPE;
	/* no call: an entry stop skips it, no restart logic looks at us;
	 * the svc at pc loads x8 itself */
	r->w[NR_AT] = UINT64_MAX;
}

long pmadv_arch_ret(const struct pmadv_regs *r)
{
	if (pmadv_arch_compat(r))
		return (long)(int32_t)cc32(r)->r[0];
	return (long)r->w[X(0)];
}

void pmadv_arch_syscall_state(const struct pmadv_regs *r, long *nr, long *ret)
{
	*nr = (long)(int64_t)r->w[NR_AT];
	*ret = pmadv_arch_ret(r);
}

bool pmadv_arch_swaps_sigmask(bool compat, long nr)
{
	/* epoll_pwait, pselect6, ppoll, rt_sigsuspend, io_pgetevents,
	 * epoll_pwait2; AArch32 also sigsuspend and the time64 variants */
	static const long t[] = { 22, 72, 73, 133, 292, 441 };
	static const long t32[] = { 346, 335, 336, 179, 399, 441,
				    72, 413, 414, 416 };

	return compat ? pmadv_arch_listed(t32, sizeof(t32) / sizeof(t32[0]), nr)
		      : pmadv_arch_listed(t, sizeof(t) / sizeof(t[0]), nr);
}

bool pmadv_arch_never_restarted(bool compat, long nr)
{
	/* epoll_pwait, epoll_pwait2, rt_sigtimedwait, semop, semtimedop,
	 * io_getevents, io_pgetevents, io_uring_enter (arm64 has no
	 * epoll_wait); AArch32 also epoll_wait and the time64 variants */
	static const long t[] = { 22, 441, 137, 193, 192, 4, 292, 426 };
	static const long t32[] = { 346, 441, 177, 298, 312, 245, 399, 426,
				    252, 421, 420, 416 };

	return compat ? pmadv_arch_listed(t32, sizeof(t32) / sizeof(t32[0]), nr)
		      : pmadv_arch_listed(t, sizeof(t) / sizeof(t[0]), nr);
}

void pmadv_arch_rewind(struct pmadv_regs *r)
{
	/* At an entry stop x8 (r7) still holds the number and x0 (r0) the
	 * first argument: back over the svc, and no call pending, so that
	 * the registers, once put back, run the call afresh. */
	if (pmadv_arch_compat(r))
		c32(r)->pc -= (c32(r)->cpsr & CPSR_T) ? 2 : 4;
	else
		r->w[PC] -= 4;
	r->w[NR_AT] = UINT64_MAX;
}

bool pmadv_arch_restarts_before_stop(void)
{
	return true;
}

/* Taken to its entry stop (tracer.c), a thread whose call returned
 * -ERESTART_RESTARTBLOCK is saved about to run restart_syscall (128),
 * which do_signal put in x8 after the first stop. */
bool pmadv_arch_restarts_by_block(const struct pmadv_regs *r)
{
	if (pmadv_arch_compat(r)) /* AArch32's restart_syscall: 0, in r7 */
		return cc32(r)->r[7] == 0 && (int64_t)r->w[NR_AT] < 0;
	return r->w[X(8)] == 128 && (int64_t)r->w[NR_AT] < 0;
}

void pmadv_arch_syscall_stop_regs(struct pmadv_regs *r,
				  const struct pmadv_regs *before)
{
	if (pmadv_arch_compat(r) && pmadv_arch_compat(before))
		c32(r)->r[12] = cc32(before)->r[12];
	else if (!pmadv_arch_compat(r) && !pmadv_arch_compat(before))
		r->w[X(7)] = before->w[X(7)];
}

uint64_t pmadv_arch_pc(const struct pmadv_regs *r)
{
	return pmadv_arch_compat(r) ? cc32(r)->pc : r->w[PC];
}

void pmadv_arch_set_pc(struct pmadv_regs *r, uint64_t pc)
{
	if (pmadv_arch_compat(r))
		c32(r)->pc = (uint32_t)pc;
	else
		r->w[PC] = pc;
}

uint64_t pmadv_arch_sp(const struct pmadv_regs *r)
{
	return pmadv_arch_compat(r) ? cc32(r)->r[13] : r->w[SP];
}

void pmadv_arch_set_sp(struct pmadv_regs *r, uint64_t sp)
{
	if (pmadv_arch_compat(r))
		c32(r)->r[13] = (uint32_t)sp;
	else
		r->w[SP] = sp;
}

void pmadv_arch_set_link(struct pmadv_regs *r, uint64_t to)
{
	/* AArch32's gadget returns through the frame's words, not lr */
	if (!pmadv_arch_compat(r))
		r->w[X(30)] = to;
}

/*
 * The madvise loop (arch.h has the block), block in x20, vector in x21,
 * index in x22; only x0-x11, x20-x22 and x8 change, and the tracer puts
 * all of them back. Assembled with GNU as from the source in the
 * comments. No stack, no call, no branch a BTI check applies to.
 */
static const unsigned char loop64[] = {
	I(0x91010295), /*    add  x21, x20, #64          */
	I(0xd2800016), /*    mov  x22, #0                */
	I(0xf9400e89), /* 1: ldr  x9, [x20, #24]         */
	I(0xeb0902df), /*    cmp  x22, x9                */
	I(0x54000142), /*    b.hs 2f                     */
	I(0xf9000296), /*    str  x22, [x20]             */
	I(0x8b1612aa), /*    add  x10, x21, x22, lsl #4  */
	I(0xa9400540), /*    ldp  x0, x1, [x10]          */
	I(0xf9401282), /*    ldr  x2, [x20, #32]         */
	I(0xd2801d28), /*    mov  x8, #233 (madvise)     */
	I(0xd4000001), /*    svc  #0                     */
	I(0xb7f80080), /*    tbnz x0, #63, 3f            */
	I(0x910006d6), /*    add  x22, x22, #1           */
	I(0x17fffff5), /*    b    1b                     */
	I(0xd2800000), /* 2: mov  x0, #0                 */
	I(0xf9000296), /* 3: str  x22, [x20]             */
	I(0xf9000680), /*    str  x0, [x20, #8]          */
	I(0xd2800029), /*    mov  x9, #1                 */
	I(0xf9000a89), /*    str  x9, [x20, #16]         */
	I(0xf9401e89), /*    ldr  x9, [x20, #56]         */
	I(0xb4000229), /*    cbz  x9, 4f                 */
	I(0xa942aa89), /*    ldp  x9, x10, [x20, #40]    */
	I(0xaa0a012b), /*    orr  x11, x9, x10           */
	I(0xb400018b), /*    cbz  x11, 6f                */
	I(0xd2807d0b), /*    mov  x11, #1000             */
	I(0x9b0b7d4a), /*    mul  x10, x10, x11 (ns)     */
	I(0xf9001a8a), /*    str  x10, [x20, #48]        */
	I(0xd2800000), /*    mov  x0, #0                 */
	I(0xd2800001), /*    mov  x1, #0                 */
	I(0xd2800002), /*    mov  x2, #0                 */
	I(0xd2800003), /*    mov  x3, #0                 */
	I(0x9100a284), /*    add  x4, x20, #40           */
	I(0xd2800005), /*    mov  x5, #0                 */
	I(0xd2800908), /*    mov  x8, #72 (pselect6)     */
	I(0xd4000001), /*    svc  #0                     */
	I(0xd2801168), /* 6: mov  x8, #139 (rt_sigreturn)*/
	I(0xd4000001), /*    svc  #0                     */
	I(0xd2800000), /* 4: mov  x0, #0                 */
	I(0xd2800001), /*    mov  x1, #0                 */
	I(0xd2800002), /*    mov  x2, #0                 */
	I(0xd2800003), /*    mov  x3, #0                 */
	I(0xd2800104), /*    mov  x4, #8                 */
	I(0xd2800928), /*    mov  x8, #73 (ppoll)        */
	I(0xd4000001), /*    svc  #0                     */
	I(0x17fffff9), /*    b    4b                     */
};

/* The same for AArch32, in Thumb: block in r4, vector in r5, index in
 * r6; the slots' low halves, 8-byte iovecs, the linger in _newselect
 * (a 32-bit struct timeval), the park in pause. */
static const unsigned char loop32[] = {
	H(0xf104), H(0x0540), /*    add.w r5, r4, #64          */
	H(0x2600),            /*    movs  r6, #0               */
	H(0x69a3),            /* 1: ldr   r3, [r4, #24]        */
	H(0x429e),            /*    cmp   r6, r3               */
	H(0xd20b),            /*    bhs   2f                   */
	H(0x6026),            /*    str   r6, [r4]             */
	H(0xeb05), H(0x02c6), /*    add.w r2, r5, r6, lsl #3   */
	H(0x6810),            /*    ldr   r0, [r2]             */
	H(0x6851),            /*    ldr   r1, [r2, #4]         */
	H(0x6a22),            /*    ldr   r2, [r4, #32]        */
	H(0x27dc),            /*    movs  r7, #220 (madvise)   */
	H(0xdf00),            /*    svc   #0                   */
	H(0x2800),            /*    cmp   r0, #0               */
	H(0xdb02),            /*    blt   3f                   */
	H(0x3601),            /*    adds  r6, #1               */
	H(0xe7f0),            /*    b     1b                   */
	H(0x2000),            /* 2: movs  r0, #0               */
	H(0x6026),            /* 3: str   r6, [r4]             */
	H(0x60a0),            /*    str   r0, [r4, #8]         */
	H(0x2301),            /*    movs  r3, #1               */
	H(0x6123),            /*    str   r3, [r4, #16]        */
	H(0x6ba3),            /*    ldr   r3, [r4, #56]        */
	H(0xb163),            /*    cbz   r3, 4f               */
	H(0x6aa3),            /*    ldr   r3, [r4, #40]        */
	H(0x6ae2),            /*    ldr   r2, [r4, #44]        */
	H(0x4313),            /*    orrs  r3, r2               */
	H(0xd006),            /*    beq   6f                   */
	H(0x2000),            /*    movs  r0, #0               */
	H(0x2100),            /*    movs  r1, #0               */
	H(0x2200),            /*    movs  r2, #0               */
	H(0x2300),            /*    movs  r3, #0               */
	H(0x3428),            /*    adds  r4, #40              */
	H(0x278e),            /*    movs  r7, #142 (_newselect)*/
	H(0xdf00),            /*    svc   #0                   */
	H(0x27ad),            /* 6: movs  r7, #173 (rt_sigreturn) */
	H(0xdf00),            /*    svc   #0                   */
	H(0x271d),            /* 4: movs  r7, #29 (pause)      */
	H(0xdf00),            /*    svc   #0                   */
	H(0xe7fc),            /*    b     4b                   */
};

const unsigned char *pmadv_arch_loop_code(bool compat, size_t *len)
{
	*len = compat ? sizeof(loop32) : sizeof(loop64);
	return compat ? loop32 : loop64;
}

void pmadv_arch_set_loop(struct pmadv_regs *r, uint64_t pc, uint64_t block)
{
	if (pmadv_arch_compat(r)) {
		struct c32 *c = c32(r);

		c->pc = (uint32_t)pc;
		c->r[4] = (uint32_t)block;
		c->cpsr = (c->cpsr | CPSR_T) & ~CPSR_IT;
		r->w[NR_AT] = UINT64_MAX;
		return;
	}
	r->w[PC] = pc;
	r->w[X(20)] = block;
	r->w[PSTATE] &= ~PSTATE_BTYPE;
	r->w[NR_AT] = UINT64_MAX;
}

uint64_t pmadv_arch_loop_sp(bool compat, uint64_t at)
{
	/* rt_sigreturn takes the frame at sp; AArch32's is above the two
	 * words the gadget pops */
	return compat ? at + 8 : at;
}

/* ---- the rt_sigreturn frame ---- */

const unsigned char *pmadv_arch_gadget(bool compat, size_t *len)
{
	/* glibc's wrappers of calls that cannot fail (getpid...), and the
	 * vDSO's fallbacks: mov x8, #NR; svc #0; ret */
	static const unsigned char svc_ret[] = { I(SVC0), I(RET) };
	/* AArch32: glibc's Thumb __libc_do_syscall, "svc #0; pop {r7, pc}",
	 * which pops the two words below the frame (pmadv_arch_frame) */
	static const unsigned char svc_pop[] = { H(T_SVC0), H(0xbd80) };

	*len = compat ? sizeof(svc_pop) : sizeof(svc_ret);
	return compat ? svc_pop : svc_ret;
}

const unsigned char *pmadv_arch_restorer(bool compat, unsigned int i,
					 size_t *len)
{
	/* the vDSO's __kernel_rt_sigreturn, which the kernel returns a
	 * handler to unless SA_RESTORER names another (glibc has none):
	 * mov x8, #139; svc #0 */
	static const unsigned char vdso[] = { I(0xd2801168), I(SVC0) };
	/* AArch32, Thumb: glibc's __default_rt_sa_restorer, "mov.w r7,
	 * #173; svc #0", and the same with "movs r7, #173" */
	static const unsigned char t32[][6] = {
		{ H(0xf04f), H(0x07ad), H(T_SVC0) },
		{ H(0x27ad), H(T_SVC0) },
	};
	static const size_t t32len[] = { 6, 4 };

	*len = 0;
	if (compat) {
		if (i >= sizeof(t32len) / sizeof(t32len[0]))
			return NULL;
		*len = t32len[i];
		return t32[i];
	}
	if (i > 0)
		return NULL;
	*len = sizeof(vdso);
	return vdso;
}

/* NT_ARM_SVE: struct user_sve_header, then the registers in the format
 * its flags name (user_fpsimd_state, or the SVE layout). Without SVE in
 * the kernel or the CPU, the same header is made up over NT_PRFPREG. */
struct sve_hdr {
	uint32_t size, max_size;
	uint16_t vl, max_vl, flags, reserved;
};

_Static_assert(sizeof(struct sve_hdr) == sizeof(struct user_sve_header),
	       "user_sve_header layout");

/* NT_ARM_VFP's size (VFP_STATE_SIZE), and the flag of the header we make
 * up over it: a bit no SVE header has, and SVE_PT_REGS_SVE clear. */
#define VFP_LEN (32 * 8 + 4)
#define FLAG_VFP 0x8000u
#ifndef NT_ARM_VFP
#define NT_ARM_VFP 0x400
#endif

_Static_assert(!(FLAG_VFP & SVE_PT_REGS_MASK), "not an SVE flag");

ssize_t pmadv_arch_getfpu(pid_t tid, unsigned char *buf, size_t len)
{
	struct iovec iov = { buf, len };
	struct sve_hdr h;

	if (len < sizeof(h) + sizeof(struct user_fpsimd_state))
		return -ENOBUFS;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SVE, &iov) == 0 &&
	    iov.iov_len >= sizeof(h)) {
		memcpy(&h, buf, sizeof(h));
		/* a set bigger than buf comes back cut: not one to use */
		if (h.size > iov.iov_len)
			return -ENOBUFS;
		return (ssize_t)h.size;
	}
	iov = (struct iovec){ buf + sizeof(h), len - sizeof(h) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) < 0) {
		/* AArch32: NT_ARM_VFP, d0-d31 then the FPSCR */
		iov = (struct iovec){ buf + sizeof(h), VFP_LEN };
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_VFP, &iov) < 0)
			return -errno;
		if (iov.iov_len != VFP_LEN)
			return -EIO;
		h = (struct sve_hdr){ .size = sizeof(h) + VFP_LEN,
				      .flags = FLAG_VFP };
		memcpy(buf, &h, sizeof(h));
		return (ssize_t)h.size;
	}
	if (iov.iov_len < sizeof(struct user_fpsimd_state))
		return -EIO;
	h = (struct sve_hdr){ .size = (uint32_t)(sizeof(h) + iov.iov_len),
			      .flags = SVE_PT_REGS_FPSIMD };
	memcpy(buf, &h, sizeof(h));
	return (ssize_t)h.size;
}

#ifndef NT_ARM_SSVE
#define NT_ARM_SSVE 0x40b
#endif
#ifndef NT_ARM_ZA
#define NT_ARM_ZA 0x40c
#endif
#ifndef NT_ARM_GCS
#define NT_ARM_GCS 0x410
#endif

/*
 * What the frame and the FPU image here do not carry, read from the
 * thread's register sets (EINVAL where the kernel or the CPU has none):
 * - a guarded control stack (6.13+, NT_ARM_GCS: features_enabled bit 0,
 *   PR_SHADOW_STACK_ENABLE), which the made-up frame's return would
 *   fail;
 * - SME's streaming mode (5.19+, NT_ARM_SSVE's header says SVE format
 *   only while the thread is in it), which any system call ends, its
 *   registers lost; NT_ARM_SVE shows no registers then;
 * - SME's ZA storage in use (NT_ARM_ZA's header bigger than itself),
 *   which a frame without a ZA record switches off.
 * AArch32 threads have none of them.
 */
int pmadv_arch_foreign_state(pid_t pid, pid_t tid, bool compat, char *what,
			     size_t len)
{
	uint64_t gcs[3] = { 0, 0, 0 };
	struct sve_hdr h;
	struct iovec iov = { gcs, sizeof(gcs) };

	(void)pid;
	if (compat)
		return 0;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_GCS, &iov) == 0 &&
	    iov.iov_len >= sizeof(gcs[0]) && (gcs[0] & 1)) {
		snprintf(what, len, "an arm64 guarded control stack (GCS)");
		return 1;
	}
	iov = (struct iovec){ &h, sizeof(h) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SSVE, &iov) == 0 &&
	    iov.iov_len >= sizeof(h) &&
	    (h.flags & SVE_PT_REGS_MASK) == SVE_PT_REGS_SVE) {
		snprintf(what, len, "SME streaming mode");
		return 1;
	}
	/* struct user_za_header has user_sve_header's size and layout */
	iov = (struct iovec){ &h, sizeof(h) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_ZA, &iov) == 0 &&
	    iov.iov_len >= sizeof(h) && h.size > sizeof(h)) {
		snprintf(what, len, "SME's ZA storage");
		return 1;
	}
	return 0;
}

static bool sve_live(const unsigned char *fpu, size_t len, struct sve_hdr *h)
{
	if (len < sizeof(*h))
		return false;
	memcpy(h, fpu, sizeof(*h));
	return !(h->flags & FLAG_VFP) &&
	       (h->flags & SVE_PT_REGS_MASK) == SVE_PT_REGS_SVE &&
	       h->size <= len && sve_vl_valid(h->vl) &&
	       h->size >= SVE_PT_SIZE(sve_vq_from_vl(h->vl), SVE_PT_REGS_SVE);
}

int pmadv_arch_restore_fpu(pid_t tid, const unsigned char *fpu, size_t len)
{
	struct sve_hdr h;
	struct iovec iov = { (void *)fpu, len };

	/* FP/SIMD registers survive a syscall; live SVE ones do not */
	if (!sve_live(fpu, len, &h))
		return 0;
	iov.iov_len = h.size;
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SVE, &iov) < 0)
		return -errno;
	return 0;
}

/* struct rt_sigframe: siginfo (128), then struct ucontext: uc_flags,
 * uc_link, uc_stack (24), uc_sigmask (8 of 128), uc_mcontext at 176,
 * 16-byte aligned: struct sigcontext with fault_address, regs[31], sp,
 * pc, pstate and __reserved[4096] at 288. */
#define F_UC 128
#define F_SS_FLAGS (F_UC + 16 + 8)
#define F_MASK (F_UC + 40)
#define F_MC (F_UC + 176)
#define F_REGS (F_MC + 8)
#define F_RESERVED (F_MC + 288)
#define F_RESERVED_LEN 4096
#define F_SIZE (F_RESERVED + F_RESERVED_LEN)

_Static_assert(offsetof(struct sigcontext, __reserved) == 288 &&
		       sizeof(struct sigcontext) == 288 + F_RESERVED_LEN,
	       "sigcontext layout");

static void put(unsigned char *p, size_t off, const void *v, size_t n)
{
	memcpy(p + off, v, n);
}

/* The FP/SIMD record (fpsr and fpcr of every frame live here, SVE or
 * not) and, for live SVE registers, the SVE record, then the terminator:
 * the bytes written at out, or 0 when they do not fit the 4 KiB the
 * frame has (an SVE vector length past 512 bits would need an
 * extra_context: not armed). */
static size_t fp_records(unsigned char *out, const unsigned char *fpu,
			 size_t fpulen)
{
	struct fpsimd_context fc = { .head = { FPSIMD_MAGIC, sizeof(fc) } };
	struct sve_hdr h;
	size_t at = 0;

	if (fpulen < sizeof(h))
		return 0;
	memcpy(&h, fpu, sizeof(h));
	if (h.flags & FLAG_VFP)
		return 0;
	if ((h.flags & SVE_PT_REGS_MASK) == SVE_PT_REGS_FPSIMD) {
		struct user_fpsimd_state st;

		if (fpulen < sizeof(h) + sizeof(st))
			return 0;
		memcpy(&st, fpu + sizeof(h), sizeof(st));
		memcpy(fc.vregs, st.vregs, sizeof(fc.vregs));
		fc.fpsr = st.fpsr;
		fc.fpcr = st.fpcr;
		put(out, at, &fc, sizeof(fc));
		at += sizeof(fc);
	} else if (sve_live(fpu, fpulen, &h)) {
		unsigned int vq = sve_vq_from_vl(h.vl);
		size_t regs = SVE_SIG_REGS_SIZE(vq);
		/* every record starts 16-byte aligned: the kernel rounds the
		 * record's size up (P and FFR are 2 * vq bytes each) and
		 * refuses a next record that is not aligned */
		size_t rec = (SVE_SIG_CONTEXT_SIZE(vq) + 15) & ~(size_t)15;
		struct sve_context sc = {
			.head = { SVE_MAGIC, (uint32_t)rec },
			.vl = h.vl,
		};
		uint32_t fpsr, fpcr;

		if (sizeof(fc) + rec + 16 > F_RESERVED_LEN ||
		    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
			return 0;
		/* rt_sigreturn loads the Z registers, then writes this
		 * record's V registers over their low 128 bits
		 * (fpsimd_update_current_state): those must be the Z ones'
		 * (their first 16 bytes, little-endian) */
		for (int n = 0; n < 32; n++)
			memcpy(&fc.vregs[n], fpu + SVE_PT_SVE_ZREG_OFFSET(vq, n),
			       sizeof(fc.vregs[n]));
		memcpy(&fpsr, fpu + SVE_PT_SVE_FPSR_OFFSET(vq), sizeof(fpsr));
		memcpy(&fpcr, fpu + SVE_PT_SVE_FPCR_OFFSET(vq), sizeof(fpcr));
		fc.fpsr = fpsr;
		fc.fpcr = fpcr;
		put(out, at, &fc, sizeof(fc));
		at += sizeof(fc);
		put(out, at, &sc, sizeof(sc));
		/* the ptrace layout of the registers is the signal one */
		put(out, at + SVE_SIG_REGS_OFFSET,
		    fpu + SVE_PT_SVE_OFFSET, regs);
		at += rec;
	} else {
		return 0; /* streaming mode or a header we do not know */
	}
	/* the terminator: magic 0, size 0 (out is zeroed) */
	return at + 16;
}

/*
 * AArch32 (arch/arm64/kernel/signal32.c): struct compat_rt_sigframe, a
 * compat siginfo (128) and struct compat_sigframe: the ucontext at 128
 * with uc_stack at +8 (ss_flags +12), uc_mcontext at +20 (trap_no,
 * error_code, oldmask, r0-r10, fp, ip, sp, lr, pc, cpsr, fault_address),
 * uc_sigmask at +104 and uc_regspace at +232, where the VFP record goes:
 * magic, size 288, d0-d31, fpscr, fpexc, fpinst, fpinst2, then a zero
 * word. rt_sigreturn finds it at sp, which must be 8-byte aligned; below
 * it the two words "pop {r7, pc}" takes, the second the restorer with the
 * Thumb bit.
 */
#define C_UC (8 + 128)
#define C_SS_FLAGS (C_UC + 12)
#define C_OLDMASK (C_UC + 20 + 8)
#define C_REGS (C_UC + 20 + 12)
#define C_MASK (C_UC + 104)
#define C_VFP (C_UC + 232)
#define C_VFP_MAGIC 0x56465001u
#define C_VFP_SIZE 288u
#define C_SIZE (8 + 128 + 744 + 8)

static void put32(unsigned char *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static size_t frame32(const struct pmadv_regs *r, uint64_t mask,
		      const unsigned char *fpu, size_t fpulen,
		      uint64_t restorer, unsigned char *out, size_t outlen,
		      uint64_t *at)
{
	const struct c32 *c = cc32(r);
	uint64_t sp = c->r[13], sig;
	struct sve_hdr h;

	if (outlen < C_SIZE || sp < C_SIZE + 4096 || fpulen < sizeof(h))
		return 0;
	memcpy(&h, fpu, sizeof(h));
	if (!(h.flags & FLAG_VFP) || h.size != sizeof(h) + VFP_LEN ||
	    fpulen < h.size)
		return 0;
	/* as compat_get_sigframe places it: no red zone, 8-byte aligned */
	sig = (sp - (C_SIZE - 8)) & ~(uint64_t)7;
	memset(out, 0, C_SIZE);
	put32(out, 0, c->r[7]);
	put32(out, 4, (uint32_t)restorer | 1);
	put32(out, C_SS_FLAGS, 3); /* invalid: the alternate stack stays */
	put32(out, C_OLDMASK, (uint32_t)mask);
	/* r0-r14, pc, cpsr: the order of the register set */
	memcpy(out + C_REGS, c, 17 * sizeof(uint32_t));
	put32(out, C_MASK, (uint32_t)mask);
	put32(out, C_MASK + 4, (uint32_t)(mask >> 32));
	put32(out, C_VFP, C_VFP_MAGIC);
	put32(out, C_VFP + 4, C_VFP_SIZE);
	memcpy(out + C_VFP + 8, fpu + sizeof(h), VFP_LEN); /* d0-d31, fpscr */
	put32(out, C_VFP + 8 + 264, 1u << 30); /* fpexc.EN, as the kernel */
	*at = sig - 8;
	return C_SIZE;
}

size_t pmadv_arch_frame(const struct pmadv_regs *r, uint64_t mask,
			unsigned char *fpu, size_t fpulen, uint64_t restorer,
			unsigned char *out, size_t outlen, uint64_t *at)
{
	uint64_t sp = r->w[SP], frame;
	int32_t ss_flags = 3;

	if (r->len == REGS32_LEN)
		return frame32(r, mask, fpu, fpulen, restorer, out, outlen,
			       at);
	/* the restorer is in x30: pmadv_arch_set_link */
	if (r->len != REGS64_LEN || outlen < F_SIZE || sp < F_SIZE + 4096)
		return 0;
	/* As the kernel places it: the frame record of the handler's
	 * frame chain under the stack pointer, then the frame, 16-byte
	 * aligned; no red zone in the AArch64 ABI. */
	frame = ((sp - 16) & ~(uint64_t)15) - F_SIZE;
	memset(out, 0, F_SIZE);
	if (!fp_records(out + F_RESERVED, fpu, fpulen))
		return 0;
	/* an invalid mode: the sigaltstack call inside rt_sigreturn fails
	 * (EINVAL, ignored) and the thread's alternate stack stays as is */
	put(out, F_SS_FLAGS, &ss_flags, sizeof(ss_flags));
	put(out, F_MASK, &mask, sizeof(mask));
	/* x0-x30, sp, pc, pstate, the order of struct user_pt_regs; an
	 * interrupted call is already rewound for its restart (see the top) */
	put(out, F_REGS, r->w, REGS64_LEN);
	*at = frame;
	return F_SIZE;
}
