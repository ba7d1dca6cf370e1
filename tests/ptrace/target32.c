// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A 32-bit target for test-ptrace (i386 or 32-bit ARM, built with a cross
 * compiler; tests/ptrace/meson.build): prints the address of
 * a private page filled with 0x5a, then on each command from stdin prints
 * the page's first byte and the result of a loop, to show it still runs
 * correctly: 'x' reports, 'f' refills and reports, EOF exits.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	if (page == MAP_FAILED)
		return 1;
	memset(page, 0x5a, 4096);
	printf("%08lx\n", (unsigned long)page);
	fflush(stdout);
	while (read(0, &c, 1) == 1) {
		volatile unsigned int n = 0;

		if (c == 'f')
			memset(page, 0x5a, 4096);
		for (unsigned int i = 0; i < 12345678; i++)
			n++;
		printf("%02x %08u\n", page[0], n);
		fflush(stdout);
	}
	return 0;
}
