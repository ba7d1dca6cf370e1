// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Ends the VM with a status qemu passes on: (BYTE << 1) | 1 on every
 * architecture, so that verdict.sh reads them alike. A powered-off or
 * panicked guest makes qemu exit 0, so only this path can say "passed".
 *  - x86-64: a byte written to the isa-debug-exit port (0xf4), which makes
 *    qemu exit with (byte << 1) | 1.
 *  - arm64: Arm semihosting's SYS_EXIT (`hlt #0xf000`, operation 0x18) with
 *    ADP_Stopped_ApplicationExit and that status as its subcode; qemu takes
 *    it from EL0 only with -semihosting-config ...,userspace=on (qemu 7.2),
 *    and without it the kernel answers the hlt with SIGILL.
 * Usage: vm-exit BYTE
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/io.h>
#endif

#if defined(__aarch64__)
static void on_sigill(int sig)
{
	static const char msg[] = "vm-exit: the semihosting call (hlt #0xf000) "
		"trapped with SIGILL: qemu does not take semihosting calls from "
		"user space (-semihosting-config enable=on,userspace=on)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}
#endif

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 1;

#if defined(__x86_64__)
	if (ioperm(0xf4, 1, 1)) {
		perror("vm-exit: ioperm");
		return 1;
	}
	outb((unsigned char)code, 0xf4);
	/* Only reached without the isa-debug-exit device. */
	fprintf(stderr, "vm-exit: no isa-debug-exit device\n");
#elif defined(__aarch64__)
	/* SYS_EXIT's parameter block: the reason and, for an application
	 * exit, the status (qemu's exit status). */
	volatile uint64_t block[2] = { 0x20026, ((uint64_t)(code & 0xff) << 1) | 1 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigill;
	sigaction(SIGILL, &sa, NULL);
	/* The registers are set last: a call in between would clobber them. */
	register uint64_t x0 __asm__("x0") = 0x18;
	register const volatile uint64_t *x1 __asm__("x1") = block;
	__asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
	/* Only reached when qemu has no semihosting at all (the hlt is then a
	 * debug halt it ignores) or refused the call. */
	fprintf(stderr, "vm-exit: semihosting SYS_EXIT returned %lld: qemu "
		"runs without -semihosting-config enable=on\n", (long long)x0);
#else
#error "vm-exit: no way to give qemu an exit status on this architecture"
#endif
	return 1;
}
