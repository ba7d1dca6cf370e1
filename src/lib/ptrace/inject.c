// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Making the tracee execute one system call of ours, and finding the
 * sequences of its code it executes it from (a syscall instruction, and
 * for frame.c "syscall; return" and a restorer): in its vDSO, else in its
 * executable mappings, else, for the syscall instruction, written over its
 * entry point for the request.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "ptrace.h"
#include "../vma.h"

/* ---- injection ---- */

/*
 * Makes the tracee execute one system call from our instruction and
 * returns its result in *out. 0, or -errno when the session broke (then
 * s->broken is set). The tracee is in a syscall-exit stop afterwards.
 * Armed (frame.c), it runs the call from its "syscall; return" sequence
 * with its stack pointer on the frame, so the return goes to rt_sigreturn
 * should the tracer vanish before it sets the registers again.
 */
int pt_inject(struct session *s, enum pmadv_nr which, uint64_t a0, uint64_t a1,
	      uint64_t a2, uint64_t a3, uint64_t a4, long *out)
{
	const uint64_t args[6] = { a0, a1, a2, a3, a4, 0 };
	long nr = pmadv_arch_nr(s->compat, which), got_nr, ret;
	struct pmadv_regs r = s->saved;

	if (s->broken)
		return -s->broken;
	if (s->frame) {
		pmadv_arch_set_call(&r, s->gadget, nr, args);
		pmadv_arch_set_sp(&r, s->frame);
		pmadv_arch_set_link(&r, s->restorer);
	} else {
		pmadv_arch_set_call(&r, s->insn, nr, args);
	}
	ret = pmadv_arch_setregs(s->tid, &r);
	/* entry stop, then exit stop */
	if (ret == 0)
		ret = pt_run_until(s, PTRACE_SYSCALL, true, false, false,
				   pt_deadline_of(s));
	if (ret == 0) {
		s->in_syscall = true;
		ret = pt_run_until(s, PTRACE_SYSCALL, true, false, false,
				   pt_deadline_of(s));
	}
	if (ret == 0) {
		s->in_syscall = false;
		ret = pmadv_arch_getregs(s->tid, &r);
	}
	if (ret == 0) {
		pmadv_arch_syscall_state(&r, &got_nr, out);
		if (got_nr != nr)
			ret = -EIO; /* not the stop we expected */
	}
	if (ret < 0) {
		s->broken = (int)-ret;
		pmadv_debug("ptrace: injection into PID %d failed: %s",
			    (int)s->pid, pmadv_errdesc((int)-ret));
	}
	return (int)ret;
}

/* ---- finding sequences of the tracee's code ---- */

/* Looks for each sequence still missing in one chunk of the tracee's
 * executable memory at addr. */
static void scan(struct session *s, struct pt_seqs *q, uint64_t addr,
		 size_t len)
{
	unsigned char buf[65536];
	size_t align = pmadv_arch_code_align(s->compat);
	ssize_t n;

	if (len > sizeof(buf))
		len = sizeof(buf);
	n = pread(s->memfd, buf, len, (off_t)addr);
	for (unsigned int k = 0; n > 0 && k < q->n; k++) {
		const unsigned char *hit = buf;

		if (*q->at[k])
			continue;
		/* only where an instruction can start */
		while ((hit = memmem(hit, (size_t)(buf + n - hit), q->pat[k],
				     q->len[k])) &&
		       (addr + (uint64_t)(hit - buf)) % align)
			hit++;
		if (hit)
			*q->at[k] = addr + (uint64_t)(hit - buf);
	}
}

static bool all_found(const struct pt_seqs *q)
{
	for (unsigned int k = 0; k < q->n; k++)
		if (!*q->at[k])
			return false;
	return true;
}

/*
 * Whether a VMA's bytes can be trusted to stay code while we run them:
 * readable and executable now (the ELF headers say what was mapped, not
 * what the target's mprotect left), never writable (a JIT's pages, data
 * under READ_IMPLIES_EXEC), and a private file mapping or the vDSO, not
 * anonymous memory the request itself may zero (MADV_DONTNEED).
 */
static bool code_vma(const struct pmadv_vma_rec *r)
{
	return (r->attrs & PMADV_VMA_READ) && (r->attrs & PMADV_VMA_EXEC) &&
	       !(r->attrs & PMADV_VMA_WRITE) &&
	       !(r->attrs & PMADV_VMA_VSYSCALL) &&
	       ((r->attrs & PMADV_VMA_FILE) || (r->attrs & PMADV_VMA_VDSO));
}

bool pt_code_at(const struct session *s, uint64_t at, size_t len)
{
	struct pmadv_vma_rec r;

	return pt_vma_at(s, at, &r) == 1 && code_vma(&r) &&
	       at + len <= r.end;
}

/* A value of the target's auxiliary vector, or 0. */
static uint64_t auxv_value(struct session *s, uint64_t want)
{
	char path[64];
	unsigned char aux[4096];
	uint64_t val;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/auxv", (int)s->pid,
		 (int)s->tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, aux, sizeof(aux));
	close(fd);
	if (n <= 0 || !pt_auxv_find(aux, (size_t)n, s->compat, want, &val))
		return 0;
	return val;
}

/* The vDSO: present in every process, never written, same code for all. */
static void find_in_vdso(struct session *s, struct pt_seqs *q)
{
	unsigned char hdr[4096];
	uint64_t base = auxv_value(s, AT_SYSINFO_EHDR);
	struct pmadv_vma_rec r;
	Elf64_Phdr ph;
	ssize_t n;

	/* mprotected (PROT_READ, PROT_NONE) or unmapped by the target: its
	 * code would fault in our hands */
	if (!base || pt_vma_at(s, base, &r) != 1 || !code_vma(&r))
		return;
	n = pread(s->memfd, hdr, sizeof(hdr), (off_t)base);
	if (n <= 0)
		return;
	/* The vDSO is a few pages: an executable segment the header places
	 * further away is a lie, and not scanned. */
	for (unsigned int i = 0; pt_elf_phdr(hdr, (size_t)n, i, &ph); i++)
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
		    ph.p_offset < VDSO_MAX && ph.p_filesz <= VDSO_MAX &&
		    base + ph.p_offset + ph.p_filesz <= r.end)
			scan(s, q, base + ph.p_offset, ph.p_filesz);
}

struct text_pass {
	struct session *s;
	struct pt_seqs *q;
	bool libc_only;
};

/* Whether a VMA's path names the C library or the dynamic loader (glibc's
 * libc.so.6 and ld-linux*, musl's libc.so and ld-musl*), not any library
 * whose name starts with "libc" (libcurl, libcrypto). */
static bool is_libc(const char *name)
{
	static const char *const names[] = { "libc.so", "libc-", "ld-linux",
					      "ld-musl" };
	const char *base = strrchr(name, '/');

	if (!base)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(base + 1, names[i], strlen(names[i])))
			return true;
	return false;
}

/* One VMA: scanned when it holds code (code_vma; on the first pass, only
 * the C library's and the dynamic loader's). */
static bool text_vma(void *ctx, const struct pmadv_vma_rec *r)
{
	struct text_pass *t = ctx;

	if (!code_vma(r))
		return false;
	if (t->libc_only && !is_libc(r->name))
		return false;
	for (uint64_t a = r->start; a < r->end && !all_found(t->q);
	     a += 65536 - 16)
		scan(t->s, t->q, a, (size_t)(r->end - a));
	return all_found(t->q);
}

/*
 * Finds each sequence of q in the tracee's executable memory: its vDSO,
 * then its C library, then any executable mapping. Addresses already set
 * (hints) are checked, not searched. True when all were found.
 */
bool pt_find_seqs(struct session *s, struct pt_seqs *q)
{

	for (unsigned int k = 0; k < q->n; k++) {
		unsigned char b[16];

		if (*q->at[k] &&
		    (q->len[k] > sizeof(b) ||
		     *q->at[k] % pmadv_arch_code_align(s->compat) ||
		     pread(s->memfd, b, q->len[k], (off_t)*q->at[k]) !=
			     (ssize_t)q->len[k] ||
		     memcmp(b, q->pat[k], q->len[k]) ||
		     !pt_code_at(s, *q->at[k], q->len[k])))
			*q->at[k] = 0;
	}
	if (all_found(q))
		return true;
	find_in_vdso(s, q);
	for (int pass = 0; pass < 2 && !all_found(q); pass++) {
		struct text_pass t = { s, q, pass == 0 };

		pt_each_vma(s, text_vma, &t);
	}
	return all_found(q);
}

/*
 * Last resort: write our own code over the program's entry point, which
 * ran once at start-up and no thread runs again, and put the bytes back
 * once the thread has its own registers again (pt_unpatch). Writing goes
 * through /proc/PID/mem, which a kernel may forbid
 * (proc_mem.force_override). Bytes left there by a tracer that died are
 * never run. The address written at, or 0.
 */
static uint64_t patch_entry(struct session *s, const unsigned char *code,
			    size_t len)
{
	uint64_t entry = pmadv_arch_code_addr(s->compat,
					      auxv_value(s, AT_ENTRY));
	unsigned char check[sizeof(s->patch_orig)];

	if (!entry || s->patched || len > sizeof(s->patch_orig) ||
	    entry % pmadv_arch_code_align(s->compat) ||
	    !pt_code_at(s, entry, len) ||
	    pread(s->memfd, s->patch_orig, len, (off_t)entry) != (ssize_t)len)
		return 0;
	if (pwrite(s->memfd, code, len, (off_t)entry) != (ssize_t)len)
		return 0;
	s->patched = entry;
	s->patch_len = len;
	if (pread(s->memfd, check, len, (off_t)entry) != (ssize_t)len ||
	    memcmp(check, code, len))
		return 0; /* pt_unpatch still restores what was there */
	return entry;
}

/* A syscall instruction for unarmed injections (ENOEXEC without). */
bool pt_patch_entry(struct session *s)
{
	size_t ilen;
	const unsigned char *insn = pmadv_arch_insn(s->compat, &ilen);
	uint64_t at = patch_entry(s, insn, ilen);

	if (!at)
		return false;
	s->insn = at;
	pmadv_debug("ptrace: no syscall instruction found in PID %d; wrote "
		    "one over its entry point for this request", (int)s->pid);
	return true;
}

/*
 * The sequences pt_arm needs, "syscall; return" then the first restorer,
 * where its code has none: a libc-less program (a static Go one) on
 * aarch64, whose vDSO ends its syscalls in "autiasp; ret" under pointer
 * authentication.
 */
bool pt_patch_seqs(struct session *s)
{
	size_t glen, rlen;
	const unsigned char *g = pmadv_arch_gadget(s->compat, &glen);
	const unsigned char *r = pmadv_arch_restorer(s->compat, 0, &rlen);
	unsigned char code[sizeof(s->patch_orig)];
	uint64_t at;

	if (!g || !r || glen + rlen > sizeof(code))
		return false;
	memcpy(code, g, glen);
	memcpy(code + glen, r, rlen);
	at = patch_entry(s, code, glen + rlen);
	if (!at)
		return false;
	s->gadget = at;
	s->restorer = at + glen;
	pmadv_debug("ptrace: no \"syscall; return\" or rt_sigreturn "
		    "sequence in PID %d's code; wrote them over its entry "
		    "point for this request", (int)s->pid);
	return true;
}

void pt_unpatch(struct session *s)
{
	if (!s->patched)
		return;
	if (pwrite(s->memfd, s->patch_orig, s->patch_len,
		   (off_t)s->patched) != (ssize_t)s->patch_len)
		pmadv_debug("ptrace: restoring PID %d's code at %#llx failed",
			    (int)s->pid, (unsigned long long)s->patched);
	s->patched = 0;
}
