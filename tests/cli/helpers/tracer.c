// SPDX-License-Identifier: LGPL-2.1-or-later
/* test-breaker9: seizes PID argv[1] with ptrace, named argv[2]; says
 * "seized" and sleeps. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <unistd.h>
int main(int c, char **v) { prctl(PR_SET_NAME, v[2]);
	if (ptrace(PTRACE_SEIZE, atoi(v[1]), 0, 0)) return 1;
	puts("seized"); fflush(stdout); sleep(120); return 0; }
