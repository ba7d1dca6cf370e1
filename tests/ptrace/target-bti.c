// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * An aarch64 target for test-ptrace whose code is BTI-guarded: built
 * freestanding with -mbranch-protection=standard (tests/ptrace/meson.build),
 * so that its ELF carries the BTI property and the kernel maps its text
 * with PROT_BTI; no libc, whose Debian build has no landing pads. It
 * speaks target32.c's protocol: prints the address of a page filled with
 * 0x5a (mapped below 4 GiB), then answers 'x' (the page's first byte and
 * a loop's sum), 'f' (refill, then the same) and 'r' (whether x19-x28
 * held a pattern across the read it waits in) until EOF. Like a static Go
 * program, it has no "svc #0; ret" of a libc.
 */
typedef unsigned long u64;

/* Inlined, so that no "svc #0; ret" is in its code (nor in the vDSO,
 * whose syscalls end in "autiasp; ret" under pointer authentication):
 * the rung writes the sequences it arms the thread with over _start. */
static inline __attribute__((always_inline)) long
sys(long nr, long a, long b, long c, long d, long e, long f)
{
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	register long x8 __asm__("x8") = nr;

	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5), "r"(x8)
			 : "memory");
	return x0;
}

static int regs_bad;

/* read(0, c, 1) with x19-x28 holding a pattern across it */
static long read_checked(char *c)
{
	register long x0 __asm__("x0") = 0;
	register long x1 __asm__("x1") = (long)c;
	register long x2 __asm__("x2") = 1;
	register long x8 __asm__("x8") = 63; /* read */
	long bad;

	__asm__ volatile("mov x19, #1900\n\t"
			 "mov x20, #2000\n\t"
			 "mov x21, #2100\n\t"
			 "mov x22, #2200\n\t"
			 "mov x23, #2300\n\t"
			 "mov x24, #2400\n\t"
			 "mov x25, #2500\n\t"
			 "mov x26, #2600\n\t"
			 "mov x27, #2700\n\t"
			 "mov x28, #2800\n\t"
			 "svc #0\n\t"
			 "mov %[bad], #0\n\t"
			 "cmp x19, #1900\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x20, #2000\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x21, #2100\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x22, #2200\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x23, #2300\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x24, #2400\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x25, #2500\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x26, #2600\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x27, #2700\n\tcset x9, ne\n\torr %[bad], %[bad], x9\n\t"
			 "cmp x28, #2800\n\tcset x9, ne\n\torr %[bad], %[bad], x9"
			 : "+r"(x0), [bad] "=&r"(bad)
			 : "r"(x1), "r"(x2), "r"(x8)
			 : "memory", "cc", "x9", "x19", "x20", "x21", "x22",
			   "x23", "x24", "x25", "x26", "x27", "x28");
	if (x0 >= 0 && bad)
		regs_bad = 1;
	return x0;
}

static void put(const char *s, long n)
{
	sys(64, 1, (long)s, n, 0, 0, 0); /* write */
}

static void hex(char *out, u64 v, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = "0123456789abcdef"[v & 15];
}

static void fill(volatile unsigned char *p)
{
	for (int i = 0; i < 4096; i++)
		p[i] = 0x5a;
}

__attribute__((noreturn)) void start(void)
{
	/* mmap(0x10000000, 4096, RW, MAP_PRIVATE|ANONYMOUS|FIXED_NOREPLACE) */
	volatile unsigned char *page = (void *)sys(222, 0x10000000, 4096, 3,
						   0x100022, -1, 0);
	char line[16];
	char c;

	if ((u64)page != 0x10000000)
		sys(93, 2, 0, 0, 0, 0, 0);
	fill(page);
	hex(line, (u64)page, 8);
	line[8] = '\n';
	put(line, 9);
	while (read_checked(&c) == 1) {
		volatile unsigned int n = 0;

		if (c == 'r') {
			if (regs_bad)
				put("regs bad\n", 9);
			else
				put("regs ok\n", 8);
			continue;
		}
		if (c == 'f')
			fill(page);
		for (unsigned int i = 0; i < 12345678; i++)
			n++;
		hex(line, page[0], 2);
		line[2] = ' ';
		for (int i = 10, v = (int)n; i >= 3; i--, v /= 10)
			line[i] = (char)('0' + v % 10);
		line[11] = '\n';
		put(line, 12);
	}
	sys(93, 0, 0, 0, 0, 0, 0); /* exit */
	__builtin_unreachable();
}

/* _start: the stack as the kernel left it, into start */
__asm__(".globl _start\n"
	".type _start, %function\n"
	"_start:\n\t"
	"bti c\n\t"
	"mov x29, #0\n\t"
	"mov x30, #0\n\t"
	"bl start\n");
