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
 * signal frame after its tracer died gets them back from that frame.
 */
#include <fenv.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int regs_bad;

#if defined(__i386__)
/* read(0, c, 1) made directly, with xmm7 holding a pattern across it */
__attribute__((target("sse2"))) static int read_checked(char *c)
{
	static const unsigned int pat[4] = { 0x11223344, 0x55667788,
					     0x99aabbcc, 0xddeeff00 };
	unsigned int got[4];
	int ret;

	__asm__ volatile("movdqu %[p], %%xmm7\n\t"
			 "int $0x80\n\t"
			 "movdqu %%xmm7, %[g]"
			 : "=a"(ret), [g] "=m"(got)
			 : "a"(3), "b"(0), "c"(c), "d"(1), [p] "m"(pat)
			 : "memory", "xmm7");
	if (ret >= 0 && memcmp(got, pat, sizeof(pat)))
		regs_bad = 1;
	return ret;
}
#else
static int read_checked(char *c)
{
	return (int)read(0, c, 1);
}
#endif

int main(void)
{
	unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	if (page == MAP_FAILED)
		return 1;
	memset(page, 0x5a, 4096);
	fesetround(FE_TOWARDZERO);
	printf("%08lx\n", (unsigned long)page);
	fflush(stdout);
	while (read_checked(&c) == 1) {
		volatile unsigned int n = 0;

		if (fegetround() != FE_TOWARDZERO)
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
	return 0;
}
