// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * aarch64 side of the ptrace rung: 64-bit targets (svc #0, x8 and x0-x5,
 * the generic syscall table). 32-bit ARM (AArch32) targets on an arm64
 * kernel have no backend yet: the preflight refuses them by their ELF
 * class (pmadv_arch_compat_missing), and their register set of 18 words
 * from NT_PRSTATUS is refused here too (-EOPNOTSUPP, the rung's ENOEXEC).
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
 */
#define _GNU_SOURCE
#include <asm/ptrace.h>
#include <asm/sigcontext.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
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

int pmadv_arch_getregs(pid_t tid, struct pmadv_regs *r)
{
	struct iovec iov = { r->w, REGS64_LEN };
	int nr = -1;

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	r->len = iov.iov_len;
	if (r->len != REGS64_LEN)
		return -EOPNOTSUPP; /* AArch32: no backend yet */
	iov = (struct iovec){ &nr, sizeof(nr) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		return -errno;
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
	(void)r;
	return false;
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

#define SVC0 0xd4000001u
#define RET 0xd65f03c0u

const unsigned char *pmadv_arch_insn(bool compat, size_t *len)
{
	static const unsigned char svc[] = { I(SVC0) };

	(void)compat;
	*len = sizeof(svc);
	return svc;
}

long pmadv_arch_nr(bool compat, enum pmadv_nr nr)
{
	/* include/uapi/asm-generic/unistd.h */
	static const long t[PMADV_NR_COUNT] = { 233, 222, 215, 57, 434, 440,
						226 };

	(void)compat;
	if ((unsigned int)nr >= PMADV_NR_COUNT)
		return -1;
	return t[nr];
}

void pmadv_arch_set_call(struct pmadv_regs *r, uint64_t pc, long nr,
			 const uint64_t args[6])
{
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
	return (long)r->w[X(0)];
}

void pmadv_arch_syscall_state(const struct pmadv_regs *r, long *nr, long *ret)
{
	*nr = (long)(int64_t)r->w[NR_AT];
	*ret = (long)r->w[X(0)];
}

bool pmadv_arch_swaps_sigmask(bool compat, long nr)
{
	/* epoll_pwait, pselect6, ppoll, rt_sigsuspend, io_pgetevents,
	 * epoll_pwait2 */
	static const long t[] = { 22, 72, 73, 133, 292, 441 };

	(void)compat;
	return pmadv_arch_listed(t, sizeof(t) / sizeof(t[0]), nr);
}

bool pmadv_arch_never_restarted(bool compat, long nr)
{
	/* epoll_pwait, epoll_pwait2, rt_sigtimedwait, semop, semtimedop,
	 * io_getevents, io_pgetevents, io_uring_enter (arm64 has no
	 * epoll_wait) */
	static const long t[] = { 22, 441, 137, 193, 192, 4, 292, 426 };

	(void)compat;
	return pmadv_arch_listed(t, sizeof(t) / sizeof(t[0]), nr);
}

void pmadv_arch_rewind(struct pmadv_regs *r)
{
	/* At an entry stop x8 still holds the number and x0 the first
	 * argument: back over the svc, and no call pending, so that the
	 * registers, once put back, run the call afresh. */
	r->w[PC] -= 4;
	r->w[NR_AT] = UINT64_MAX;
}

bool pmadv_arch_restarts_before_stop(void)
{
	return true;
}

const char *pmadv_arch_compat_missing(void)
{
	return "32-bit ARM (AArch32)";
}

/* Taken to its entry stop (tracer.c), a thread whose call returned
 * -ERESTART_RESTARTBLOCK is saved about to run restart_syscall (128),
 * which do_signal put in x8 after the first stop. */
bool pmadv_arch_restarts_by_block(const struct pmadv_regs *r)
{
	return r->w[X(8)] == 128 && (int64_t)r->w[NR_AT] < 0;
}

void pmadv_arch_syscall_stop_regs(struct pmadv_regs *r,
				  const struct pmadv_regs *before)
{
	r->w[X(7)] = before->w[X(7)];
}

uint64_t pmadv_arch_pc(const struct pmadv_regs *r)
{
	return r->w[PC];
}

void pmadv_arch_set_pc(struct pmadv_regs *r, uint64_t pc)
{
	r->w[PC] = pc;
}

uint64_t pmadv_arch_sp(const struct pmadv_regs *r)
{
	return r->w[SP];
}

void pmadv_arch_set_sp(struct pmadv_regs *r, uint64_t sp)
{
	r->w[SP] = sp;
}

void pmadv_arch_set_link(struct pmadv_regs *r, uint64_t to)
{
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

const unsigned char *pmadv_arch_loop_code(bool compat, size_t *len)
{
	(void)compat;
	*len = sizeof(loop64);
	return loop64;
}

void pmadv_arch_set_loop(struct pmadv_regs *r, uint64_t pc, uint64_t block)
{
	r->w[PC] = pc;
	r->w[X(20)] = block;
	r->w[PSTATE] &= ~PSTATE_BTYPE;
	r->w[NR_AT] = UINT64_MAX;
}

uint64_t pmadv_arch_loop_sp(bool compat, uint64_t at)
{
	(void)compat;
	return at; /* rt_sigreturn takes the frame at sp */
}

/* ---- the rt_sigreturn frame ---- */

const unsigned char *pmadv_arch_gadget(bool compat, size_t *len)
{
	/* glibc's wrappers of calls that cannot fail (getpid...), and the
	 * vDSO's fallbacks: mov x8, #NR; svc #0; ret */
	static const unsigned char svc_ret[] = { I(SVC0), I(RET) };

	(void)compat;
	*len = sizeof(svc_ret);
	return svc_ret;
}

const unsigned char *pmadv_arch_restorer(bool compat, unsigned int i,
					 size_t *len)
{
	/* the vDSO's __kernel_rt_sigreturn, which the kernel returns a
	 * handler to unless SA_RESTORER names another (glibc has none):
	 * mov x8, #139; svc #0 */
	static const unsigned char vdso[] = { I(0xd2801168), I(SVC0) };

	(void)compat;
	*len = 0;
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
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) < 0)
		return -errno;
	if (iov.iov_len < sizeof(struct user_fpsimd_state))
		return -EIO;
	h = (struct sve_hdr){ .size = (uint32_t)(sizeof(h) + iov.iov_len),
			      .flags = SVE_PT_REGS_FPSIMD };
	memcpy(buf, &h, sizeof(h));
	return (ssize_t)h.size;
}

static bool sve_live(const unsigned char *fpu, size_t len, struct sve_hdr *h)
{
	if (len < sizeof(*h))
		return false;
	memcpy(h, fpu, sizeof(*h));
	return (h->flags & SVE_PT_REGS_MASK) == SVE_PT_REGS_SVE &&
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

size_t pmadv_arch_frame(const struct pmadv_regs *r, uint64_t mask,
			unsigned char *fpu, size_t fpulen, uint64_t restorer,
			unsigned char *out, size_t outlen, uint64_t *at)
{
	uint64_t sp = r->w[SP], frame;
	int32_t ss_flags = 3;

	(void)restorer; /* in x30: pmadv_arch_set_link */
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
