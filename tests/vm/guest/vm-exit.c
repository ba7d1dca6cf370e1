// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Ends the VM with a status qemu passes on: a byte written to the
 * isa-debug-exit port (0xf4) makes qemu exit with (byte << 1) | 1. A
 * powered-off or panicked guest makes qemu exit 0, so only this path can
 * say "passed".
 * Usage: vm-exit BYTE
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 1;

	if (ioperm(0xf4, 1, 1)) {
		perror("vm-exit: ioperm");
		return 1;
	}
	outb((unsigned char)code, 0xf4);
	/* Only reached without the isa-debug-exit device. */
	fprintf(stderr, "vm-exit: no isa-debug-exit device\n");
	return 1;
}
