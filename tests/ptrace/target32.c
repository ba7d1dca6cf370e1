// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A 32-bit target for test-ptrace (i386 or 32-bit ARM, built with a cross
 * compiler; tests/ptrace/meson.build): prints the address of
 * a private page filled with 0x5a, then on each command from stdin prints
 * the page's first byte and the result of a loop, to show it still runs
 * correctly: 'x' reports, 'f' refills and reports, 'r' says whether the
 * state it keeps in registers across its wait for a command was kept,
 * EOF exits.
 *
 * That state (i386): a pattern in SSE register xmm7 and a rounding mode
 * of its own (the x87 control word and MXCSR), live across the read(2)
 * it waits in, where an injection lands: a thread restored through its
 * signal frame after its tracer died gets them back from that frame; and
 * its SIGSEGV handler, which a fault of injected code would have the
 * kernel reset.
 *
 * That state (32-bit ARM): a pattern in d8 and d15 across the read, its
 * rounding mode (FPSCR) and its SIGSEGV handler. Its modes: "arm" waits
 * in ARM code instead of Thumb code; "condsvc" (below).
 *
 * Mode "mainexit", both: the main thread exits, a second one answers the
 * commands and a third waits in epoll_wait (below), which must never
 * return.
 *
 * i386 modes, a comma-separated list in argv[1], each a way a real
 * program makes the injector's life hard:
 *   vdsoro  its vDSO mprotected PROT_READ (glibc's syscalls sent to an
 *           "int $0x80; ret" of its own first)
 *   ldtds   it waits with ds loaded with an LDT data segment of base
 *           64 KiB, as code with segments of its own does (Wine)
 *   ldtss   the same for ss: its stack pointer is then no address
 *   jit     its vDSO unmapped, and the injector's sequences ("int $0x80;
 *           pop; pop; pop; ret" and the rt_sigreturn call) in a
 *           read-write-execute page of its own, whose address it prints
 *           on a second line
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vdso.h"

static int regs_bad;
static void on_segv(int sig)
{
	(void)sig;
	_exit(99);
}

#if defined(__i386__)
#include <asm/ldt.h>

/* The LDT selector of entry 0 (TI=1, RPL=3), or the flat data one. */
static unsigned short ldt_ds = 0x2b, ldt_ss = 0x2b;

/* read(0, c, 1) made directly, with xmm7 holding a pattern across it and
 * ds and ss as the modes ask: nothing between their loads uses the stack,
 * and they are put back through cs, the one segment known flat (static
 * addresses: built -fno-pie) */
static unsigned short saved_ds, saved_ss;

__attribute__((target("sse2"))) static int read_checked(char *c)
{
	static const unsigned int pat[4] = { 0x11223344, 0x55667788,
					     0x99aabbcc, 0xddeeff00 };
	unsigned int got[4];
	int ret;

	__asm__ volatile("movdqu %[p], %%xmm7\n\t"
			 "mov %%ds, %[sds]\n\t"
			 "mov %%ss, %[sss]\n\t"
			 "mov %[nds], %%ds\n\t"
			 "mov %[nss], %%ss\n\t"
			 "int $0x80\n\t"
			 "mov %%cs:%[sss], %%ss\n\t"
			 "mov %%cs:%[sds], %%ds\n\t"
			 "movdqu %%xmm7, %[g]"
			 : "=a"(ret), [g] "=m"(got), [sds] "+m"(saved_ds),
			   [sss] "+m"(saved_ss)
			 : "a"(3), "b"(0), "c"(c), "d"(1), [p] "m"(pat),
			   [nds] "S"(ldt_ds), [nss] "D"(ldt_ss)
			 : "memory", "xmm7");
	if (ret >= 0 && memcmp(got, pat, sizeof(pat)))
		regs_bad = 1;
	return ret;
}

/* glibc's syscalls go through %gs:0x10, the vDSO's __kernel_vsyscall:
 * sent here, they need no vDSO */
__attribute__((naked)) static void own_vsyscall(void)
{
	__asm__ volatile("int $0x80\n\tret");
}

static int set_modes(const char *modes, unsigned long *jit)
{
	unsigned long vend, vdso = pt_vdso_span(&vend);

	*jit = 0;
	if (strstr(modes, "vdsoro") || strstr(modes, "jit")) {
		__asm__ volatile("movl %0, %%gs:0x10" : : "r"(own_vsyscall));
		if (!vdso)
			return -1;
	}
	if (strstr(modes, "vdsoro") &&
	    mprotect((void *)vdso, vend - vdso, PROT_READ) < 0)
		return -1;
	if (strstr(modes, "jit")) {
		static const unsigned char seqs[] = {
			0xcd, 0x80, 0x5d, 0x5a, 0x59, 0xc3,       /* gadget */
			0xb8, 0xad, 0x00, 0x00, 0x00, 0xcd, 0x80, /* restorer */
			0x0f, 0x0b };
		unsigned char *p = mmap(NULL, 4096,
					PROT_READ | PROT_WRITE | PROT_EXEC,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || munmap((void *)vdso, vend - vdso) < 0)
			return -1;
		memcpy(p, seqs, sizeof(seqs));
		*jit = (unsigned long)p;
	}
	if (strstr(modes, "ldtds") || strstr(modes, "ldtss")) {
		struct user_desc d = {
			.entry_number = 0, .base_addr = 0x10000,
			.limit = 0xfffff, .seg_32bit = 1,
			.limit_in_pages = 1, .useable = 1,
		};

		if (syscall(SYS_modify_ldt, 1, &d, sizeof(d)) < 0)
			return -1;
		if (strstr(modes, "ldtds"))
			ldt_ds = 7;
		if (strstr(modes, "ldtss"))
			ldt_ss = 7;
	}
	return 0;
}
#elif defined(__arm__)
/* read(0, c, 1) made directly, with d8 and d15 holding a pattern across
 * it (the VFP registers a thread restored through its frame gets back
 * from that frame's VFP record); from Thumb code, as glibc's, or from ARM
 * code (mode "arm"), where a call is rewound by 4 bytes, not 2 */
static const unsigned long long pat[2] = { 0x1122334455667788ULL,
					   0x99aabbccddeeff00ULL };

#define READ_BODY                                                      \
	unsigned long long got[2];                                     \
	register long r0 __asm__("r0") = 0;                            \
	register long r1 __asm__("r1") = (long)c;                      \
	register long r2 __asm__("r2") = 1;                            \
	register long r7 __asm__("r7") = 3; /* read */                 \
                                                                       \
	__asm__ volatile("vldr d8, [%[p]]\n\t"                          \
			 "vldr d15, [%[p], #8]\n\t"                     \
			 "svc #0\n\t"                                   \
			 "vstr d8, [%[g]]\n\t"                          \
			 "vstr d15, [%[g], #8]"                          \
			 : "+r"(r0)                                    \
			 : "r"(r1), "r"(r2), "r"(r7), [p] "r"(pat),    \
			   [g] "r"(got)                                \
			 : "memory", "d8", "d15");                     \
	if (r0 >= 0 && memcmp(got, pat, sizeof(pat)))                  \
		regs_bad = 1;                                          \
	return (int)r0;

__attribute__((noinline, target("thumb"))) static int read_thumb(char *c)
{
	READ_BODY
}

__attribute__((noinline, target("arm"))) static int read_arm(char *c)
{
	READ_BODY
}

static int arm_state;

static int read_checked(char *c)
{
	return arm_state ? read_arm(c) : read_thumb(c);
}

/* Mode "condsvc": the main thread spins in ARM code over an "svcne #0"
 * whose condition never holds: stopped with its pc on that svc, it is in
 * no call and will make none (an injector that takes it for a rewound
 * call to restart waits for it forever). */
__attribute__((noreturn, noinline, target("arm"))) static void
spin_condsvc(void)
{
	/* the loop starts at the svc, where an interrupt (under qemu, at
	 * the start of a translated block) finds the pc */
	__asm__ volatile("cmp r0, r0\n\t"
			 "mov r7, #20\n" /* getpid, were it taken */
			 "1:\tsvcne #0\n\t"
			 "b 1b"
			 :
			 :
			 : "cc", "memory", "r7");
	__builtin_unreachable();
}

static int set_modes(const char *modes, unsigned long *jit)
{
	*jit = 0;
	arm_state = !strcmp(modes, "arm");
	return *modes && !arm_state && strcmp(modes, "condsvc") &&
			       strcmp(modes, "mainexit")
		       ? -1
		       : 0;
}
#else
static int read_checked(char *c)
{
	return (int)read(0, c, 1);
}

static int set_modes(const char *modes, unsigned long *jit)
{
	*jit = 0;
	return *modes ? -1 : 0;
}
#endif

static unsigned char *page;

/* The commands on stdin until EOF (see the top). */
static void *serve(void *arg)
{
	struct sigaction sa;
	char c;

	(void)arg;
	fesetround(FE_TOWARDZERO); /* this thread's own, in every mode */
	while (read_checked(&c) == 1) {
		volatile unsigned int n = 0;

		if (fegetround() != FE_TOWARDZERO)
			regs_bad = 1;
		sigaction(SIGSEGV, NULL, &sa);
		if (sa.sa_handler != on_segv)
			regs_bad = 1;
		if (c == 'r') {
			printf(regs_bad ? "regs bad\n" : "regs ok\n");
			fflush(stdout);
			continue;
		}
		if (c == 'f')
			memset(page, 0x5a, 4096);
		for (unsigned int i = 0; i < 12345678; i++)
			n++;
		printf("%02x %08u\n", page[0], n);
		fflush(stdout);
	}
	exit(0);
}

/* Mode "mainexit": a thread that waits in epoll_wait(2) for an event that
 * never comes, a call the kernel never restarts (an injection into it
 * would end it with EINTR: the rung must choose another thread, knowing
 * the process is 32-bit with its main thread gone). */
static void *epoll_forever(void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(0), efd = eventfd(0, 0);

	(void)arg;
	if (ep < 0 || efd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0)
		_exit(3);
	for (;;) {
		long r = syscall(SYS_epoll_wait, ep, &ev, 1, -1);

		if (r != 0)
			regs_bad = 1; /* EINTR: an injection broke its wait */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *modes = argc > 1 ? argv[1] : "";
	struct sigaction sa;
	unsigned long jit;
	pthread_t t;

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	if (set_modes(modes, &jit) < 0) {
		perror("target32: modes");
		return 2;
	}
	memset(page, 0x5a, 4096);
	fesetround(FE_TOWARDZERO);
	/* the threads of a mode first: once the lines are out, the test
	 * takes the target's mappings as they are to stay */
	if (strstr(modes, "mainexit") &&
	    (pthread_create(&t, NULL, epoll_forever, NULL) ||
	     pthread_create(&t, NULL, serve, NULL)))
		return 3;
	if (!strcmp(modes, "condsvc") && pthread_create(&t, NULL, serve, NULL))
		return 3;
	printf("%08lx\n", (unsigned long)page);
	if (jit)
		printf("%08lx\n", jit);
	fflush(stdout);
	if (strstr(modes, "mainexit"))
		pthread_exit(NULL);
#if defined(__arm__)
	if (!strcmp(modes, "condsvc"))
		spin_condsvc();
#endif
	serve(NULL);
	return 0;
}
