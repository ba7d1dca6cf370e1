// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Signals: SIGINT, SIGTERM and SIGHUP ask pmadvise to stop cleanly (the
 * library sees the cancel flag between kernel calls, the demo removes its
 * child and its zram device), and SIGALRM implements --timeout. Handlers
 * only set flags; no SA_RESTART, so a blocking wait returns EINTR and the
 * code around it notices.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "pmadvise.h"

volatile sig_atomic_t cli_cancel;
volatile sig_atomic_t cli_signal;
volatile sig_atomic_t cli_timed_out;

static void on_stop(int sig)
{
	cli_signal = sig;
	__atomic_store_n(&cli_cancel, 1, __ATOMIC_RELEASE);
}

static void on_alarm(int sig)
{
	(void)sig;
	cli_timed_out = 1;
	__atomic_store_n(&cli_cancel, 1, __ATOMIC_RELEASE);
}

void signals_install(void)
{
	static const int stop[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		sigaction(stop[i], &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

bool cli_stopping(void)
{
	return cli_signal != 0;
}

/* One deadline per target: the flag is cleared for the next one unless a
 * stop signal arrived meanwhile. */
void deadline_arm(int ms)
{
	struct itimerval it;

	cli_timed_out = 0;
	if (!cli_signal)
		__atomic_store_n(&cli_cancel, 0, __ATOMIC_RELEASE);
	if (ms <= 0)
		return;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

void deadline_disarm(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
}
