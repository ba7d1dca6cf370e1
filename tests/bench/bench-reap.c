// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Benchmark of kill-and-reap: how long until the memory of a victim with
 * SIZE (default 1 GiB) of anonymous memory is free, after
 *   waitpid     SIGKILL through its pidfd, then waitpid until its exit
 *               has freed everything (the exit unmaps before the zombie)
 *   mrelease    SIGKILL through its pidfd, then process_mrelease(2); when
 *               that finds the exit already unmapping (ESRCH: exit_mm has
 *               detached the memory), waitpid as above
 *   kill_reap   pmadv_kill_reap(SIGKILL): the same through the library
 *               (its ns: from the signal to the memory freed)
 * The runs whose memory the exit freed first are counted.
 * The three are interleaved within each repetition; medians of the
 * repetitions are printed as a markdown table, with the ratio to waitpid.
 * With "idle", the victim runs under SCHED_IDLE, as a background app
 * that a low-memory killer picks often does (a cached app in a throttled
 * cgroup): woken by the signal, it no longer preempts the killer.
 * Usage: bench-reap [repeats (default 9)] [size in MiB (default 1024)]
 *                   [idle]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procmadvise.h"
#include "benchstat.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define MAXREP 51
enum { M_WAITPID, M_MRELEASE, M_KILL_REAP, NMETHODS };
static const char *names[NMETHODS] = { "kill + waitpid",
				       "kill + process_mrelease",
				       "pmadv_kill_reap" };

static bool idle;

/* A child that writes every page of size bytes, then waits to die. */
static pid_t victim(size_t size)
{
	int fd[2];
	char b;
	pid_t pid;

	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (p == MAP_FAILED)
			_exit(1);
		for (size_t off = 0; off < size; off += 4096)
			p[off] = 1;
		if (idle) {
			struct sched_param sp = { 0 };

			if (sched_setscheduler(0, SCHED_IDLE, &sp))
				_exit(1);
		}
		if (write(fd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fd[1]);
	if (pid < 0 || read(fd[0], &b, 1) != 1) {
		close(fd[0]);
		return -1;
	}
	close(fd[0]);
	return pid;
}

/* Microseconds until the victim's memory is free, by method m. */
static int exit_won[NMETHODS];

static double one(int m, size_t size)
{
	pid_t pid = victim(size);
	struct pmadv_target *t;
	struct pmadv_reap_result r;
	double t0, us = -1;
	int fd;

	if (pid < 0 || pmadv_open(pid, PMADV_OPEN_PIDFD, &t) < 0)
		return -1;
	fd = pmadv_target_pidfd(t);
	t0 = bench_now_us();
	switch (m) {
	case M_WAITPID:
		if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0 &&
		    waitpid(pid, NULL, 0) == pid)
			us = bench_now_us() - t0;
		break;
	case M_MRELEASE:
		if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0))
			break;
		if (pmadv_process_mrelease(fd, 0) == 0) {
			us = bench_now_us() - t0;
		} else if (waitpid(pid, NULL, 0) == pid) {
			us = bench_now_us() - t0;
			exit_won[m]++;
		}
		break;
	default:
		if (pmadv_kill_reap(t, SIGKILL, 0, &r, sizeof(r)) == 0) {
			us = (double)r.ns / 1e3;
			exit_won[m] += r.freed_by == PMADV_FREED_EXIT;
		}
		break;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	pmadv_close(t);
	return us;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 9;
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
	double v[NMETHODS][MAXREP], med[NMETHODS];

	idle = argc > 3 && !strcmp(argv[3], "idle");

	if (reps < 1 || reps > MAXREP || !mib) {
		fprintf(stderr, "usage: %s [repeats 1..%d] [MiB]\n", argv[0],
			MAXREP);
		return 2;
	}
	for (int i = 0; i < reps; i++)
		for (int k = 0; k < NMETHODS; k++) {
			int m = (i + k) % NMETHODS; /* rotate the order */

			v[m][i] = one(m, mib << 20);
			if (v[m][i] < 0) {
				fprintf(stderr, "%s failed (is process_mrelease "
					"there? root?)\n", names[m]);
				return 1;
			}
		}
	printf("victim: %zu MiB of anonymous memory%s, %d repetitions, "
	       "medians\n\n", mib, idle ? ", SCHED_IDLE" : "", reps);
	printf("| until the memory is free | median ms | min ms | max ms | "
	       "vs kill + waitpid | exit freed it first |\n"
	       "|---|---|---|---|---|---|\n");
	for (int m = 0; m < NMETHODS; m++)
		med[m] = bench_median(v[m], reps); /* sorts v[m] */
	for (int m = 0; m < NMETHODS; m++)
		printf("| %s | %.2f | %.2f | %.2f | %.2fx | %d of %d |\n",
		       names[m], med[m] / 1e3, v[m][0] / 1e3,
		       v[m][reps - 1] / 1e3, med[M_WAITPID] / med[m],
		       m == M_WAITPID ? reps : exit_won[m], reps);
	return 0;
}
