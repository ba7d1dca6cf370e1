// SPDX-License-Identifier: LGPL-2.1-or-later
/* test-breaker9: the main thread exits, one thread sleeps argv[1] s. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void *w(void *a) { sleep(atoi(a)); return NULL; }
int main(int c, char **v) { pthread_t t; printf("%d\n", getpid());
	fflush(stdout); pthread_create(&t, NULL, w, v[1]); pthread_exit(0); }
