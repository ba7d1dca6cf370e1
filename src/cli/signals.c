// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Signals: SIGINT, SIGTERM and SIGHUP ask pmadvise to stop cleanly (the
 * library sees the cancel flag between kernel calls, the demo removes its
 * child and its zram device), and SIGALRM implements --timeout. Handlers
 * only set flags; no SA_RESTART, so a blocking wait returns EINTR and the
 * code around it notices.
 *
 * Some waits do not end on a signal: a kernel call that only a fatal
 * signal interrupts, or a library wait that retries after EINTR (an
 * injected call stuck on the target's page fault). For the advise
 * command, a stop signal therefore also starts a grace timer: if pmadvise
 * has not finished when it fires, or when a second stop signal comes, it
 * ends at once with 128+signal. Leaving that way is safe for the target:
 * the hold's helper lets go when its caller is gone (the ptrace hold's
 * tracer detaches, the SIGSTOP hold's watchdog continues the target unless
 * its lease already did, in which case the target is no longer ours to
 * continue), and the ptrace rung's tracer restores the target.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pmadvise.h"

/* From the stop signal to the forced exit (the message says "1 s"). */
#define GRACE_MS 1000

volatile sig_atomic_t cli_cancel;
volatile sig_atomic_t cli_signal;
volatile sig_atomic_t cli_timed_out;
volatile sig_atomic_t cli_report;

static bool grace_armed;
static timer_t grace_timer;

static void say(const char *s)
{
	if (write(STDERR_FILENO, s, strlen(s)) < 0)
		return; /* nothing better to do */
}

/* Async-signal-safe: write(2), strlen and _exit(2) only. The message
 * says what standard output holds (cli_report): a table's rows are
 * printed as each process is done, JSON only at the end. */
static void forced_exit(int sig, bool again)
{
	int report = cli_report;

	say("\n");
	say(progname);
	say(sig == SIGINT ? ": SIGINT" : sig == SIGTERM ? ": SIGTERM"
							: ": SIGHUP");
	say(again ? ", then another stop signal"
		  : ": a call into the kernel or the target did not return "
		    "within 1 s");
	say(report == REPORT_ROWS ? "; ending now: the rows printed are the "
				    "processes finished, the report ends "
				    "there\n" :
	    report == REPORT_CLOSING ? "; ending now, with the report cut "
				       "short\n" :
	    report == REPORT_JSON ? "; ending now, without the report "
				    "(--json writes it at the end)\n" :
	    "; ending now, without the report\n");
	_exit(EXIT_SIGNAL_BASE + sig);
}

static void on_stop(int sig)
{
	struct itimerspec its;

	if (cli_signal && grace_armed)
		forced_exit(cli_signal, true); /* a second stop signal */
	cli_signal = sig;
	__atomic_store_n(&cli_cancel, 1, __ATOMIC_RELEASE);
	if (!grace_armed)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = GRACE_MS / 1000;
	its.it_value.tv_nsec = (GRACE_MS % 1000) * 1000000L;
	timer_settime(grace_timer, 0, &its, NULL);
}

static void on_grace(int sig)
{
	(void)sig;
	forced_exit(cli_signal, false);
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

int signals_grace(void)
{
	struct sigevent sev;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_grace;
	if (sigaction(SIGRTMIN, &sa, NULL) < 0)
		return -1;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	if (timer_create(CLOCK_MONOTONIC, &sev, &grace_timer) < 0)
		return -1;
	grace_armed = true;
	return 0;
}

/* The work is over and only the report is left: a stop signal no longer
 * needs the grace timer (a second one still ends pmadvise at once). */
void signals_grace_disarm(void)
{
	struct itimerspec its;

	if (!grace_armed)
		return;
	memset(&its, 0, sizeof(its));
	timer_settime(grace_timer, 0, &its, NULL);
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
