// SPDX-License-Identifier: LGPL-2.1-or-later
/* test-breaker13: 64 MiB of its own, then a vfork child that sleeps 60 s
 * sharing it (never execs). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
int main(void)
{
	char *m = mmap(0, 64 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 1, 64 << 20);
	printf("ready\n");
	fflush(stdout);
	if (vfork() == 0) {
		struct timespec ts = { 60, 0 };
		nanosleep(&ts, 0);
		_exit(0);
	}
	sleep(60);
	return 0;
}
