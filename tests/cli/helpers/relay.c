// SPDX-License-Identifier: LGPL-2.1-or-later
/* test-breaker9: a process whose threads each start the next and exit,
 * holding 16 MiB; prints its PID (argv[1]: microseconds between). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
static long us;
static void *w(void *a) { pthread_t t; if (us) usleep(us);
	while (pthread_create(&t, NULL, w, NULL)) usleep(100);
	pthread_detach(t); return a; }
int main(int c, char **v) { size_t n = 16 << 20; pthread_t t;
	char *p = mmap(NULL, n, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	us = c > 1 ? atol(v[1]) : 0; memset(p, 1, n);
	printf("%d\n", getpid()); fflush(stdout);
	pthread_create(&t, NULL, w, NULL); pthread_detach(t); pthread_exit(0); }
