// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A process that no signal stops: it prints its PID, then vforks a child
 * that never execs, and waits for it in uninterruptible sleep (state D)
 * until the child dies. For the CLI's --hold timeout message.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (vfork() == 0) {
		for (;;)
			pause(); /* a system call: allowed in a vfork child */
	}
	return 0;
}
