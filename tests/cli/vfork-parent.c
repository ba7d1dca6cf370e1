// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A process that no signal stops: it prints its PID, then vforks a child
 * that never execs, and waits for it in uninterruptible sleep (state D)
 * until the child dies. For the CLI's --hold timeout message, and, with
 * --answer, as the gated slow target of cli-stream where the kernel has
 * no MADV_POPULATE_READ: once the child is gone it answers each line on
 * its stdin with "ok" (it runs, and its stack and data are its own).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char data[1 << 16];
	char line[64];

	memset(data, 0xab, sizeof(data));
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (vfork() == 0) {
		for (;;)
			pause(); /* a system call: allowed in a vfork child */
	}
	if (argc < 2 || strcmp(argv[1], "--answer"))
		return 0;
	while (fgets(line, sizeof(line), stdin)) {
		size_t bad = 0;

		for (size_t i = 0; i < sizeof(data); i++)
			bad += data[i] != (char)0xab;
		printf("%s\n", bad ? "bad" : "ok");
		fflush(stdout);
	}
	return 0;
}
