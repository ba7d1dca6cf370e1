// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_hold against what a system manager's process and its targets do:
 * a caller thread that reaps every child, a caller SIGKILLed at random
 * moments, a target that re-execs itself all the time, a vfork parent, a
 * frozen cgroup, a caller that execs while it holds, several caller
 * threads holding one target at once, the ptrace rung asked while a hold
 * is active, a target waiting in io_uring_enter, and a caller stopped
 * while it holds with a lease. After
 * each, the target must be untraced in every thread, in no trace stop,
 * and still computing right.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pmtest.h"
#include "procmadvise.h"

#define PAGE 4096

/* The target's self-check, in a page shared with the test. */
struct shared {
	atomic_ulong rounds;
	atomic_long errors;
	atomic_long result;  /* io_uring target: what its wait returned */
	atomic_int waiting;  /* io_uring target: in its wait */
	atomic_llong held_at; /* lease: when the caller asked, mono_ms() */
};

static struct shared *sh;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The margin allowed beyond a timeout, and the time given a target to
 * show it runs, scaled by PMADV_TEST_SLOWDOWN (at least 1; default 1):
 * set where the machine is emulated several times slower than the ones
 * the margins were measured on (the arm64 guest under TCG, where
 * execve of 64 threads and a starved caller thread each take hundreds
 * of ms). What is checked stays the same: a bound, and the target as
 * found. */
static double slow(double s)
{
	const char *env = getenv("PMADV_TEST_SLOWDOWN");
	double k = env ? strtod(env, NULL) : 1;

	return s * (k > 1 ? k : 1);
}

static long long mono_ms(void)
{
	return (long long)(now() * 1000);
}

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* Sums a buffer over and over and checks the result: a target that runs
 * when it should and computes right. */
static void compute(void)
{
	static unsigned char buf[64 * 1024];
	uint64_t want = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7);
	for (size_t i = 0; i < sizeof(buf); i++)
		want += buf[i] * (i + 1);
	for (;;) {
		uint64_t h = 0;

		for (size_t i = 0; i < sizeof(buf); i++)
			h += buf[i] * (i + 1);
		if (h != want)
			atomic_fetch_add(&sh->errors, 1);
		atomic_fetch_add(&sh->rounds, 1);
	}
}

/* A child with nthreads idle threads and a main thread that computes. */
static pid_t start_target(int nthreads)
{
	pid_t pid;
	double end;

	memset(sh, 0, sizeof(*sh));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int i = 0; i < nthreads; i++) {
			pthread_t t;

			if (pthread_create(&t, NULL, idle, NULL))
				_exit(1);
		}
		compute();
	}
	end = now() + 10;
	while (atomic_load(&sh->rounds) < 1 && now() < end)
		nap_ms(1);
	assert_true(atomic_load(&sh->rounds) >= 1);
	return pid;
}

static void stop_target(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* /proc/PID/task/TID/<file> into buf, NUL-terminated; false if gone. */
static bool task_file(pid_t pid, pid_t tid, const char *file, char *buf,
		      size_t len)
{
	char path[96];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid,
		 file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* A field of /proc/PID/task/TID/status, or -1. */
static long task_field(pid_t pid, pid_t tid, const char *name)
{
	char buf[4096], *p;

	if (!task_file(pid, tid, "status", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, name);
	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

/* State letter of /proc/PID/task/TID/stat, or 0. */
static char task_state(pid_t pid, pid_t tid)
{
	char buf[1024], *p;

	if (!task_file(pid, tid, "stat", buf, sizeof(buf)))
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

struct census {
	int threads;
	int traced;      /* TracerPid != 0 */
	int trace_stop;  /* state 't' */
	int stopped;     /* state 'T' */
	int by_caller;   /* traced by the caller's own process */
	long tracer;     /* one TracerPid seen, or 0 */
};

/* Every thread's tracer and state, from /proc/PID/task. */
static void census(pid_t pid, pid_t caller, struct census *c)
{
	char path[64];
	struct dirent *d;
	DIR *dir;

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		long tr;
		char st;

		if (tid <= 0)
			continue;
		tr = task_field(pid, tid, "TracerPid:");
		st = task_state(pid, tid);
		if (!st)
			continue;
		c->threads++;
		if (tr > 0) {
			c->traced++;
			c->tracer = tr;
			c->by_caller += tr == caller;
		}
		c->trace_stop += st == 't';
		c->stopped += st == 'T';
	}
	closedir(dir);
}

/* Held: every thread in a trace stop, traced by a process that is not
 * the caller's (the hold's tracer). */
static bool held_right(pid_t pid, pid_t caller)
{
	struct census c;

	census(pid, caller, &c);
	return c.threads > 0 && c.trace_stop == c.threads &&
	       c.traced == c.threads && !c.by_caller;
}

/* Held as flags say: every thread stopped by SIGSTOP, or in a trace stop
 * under a helper of caller. */
static void assert_held(pid_t pid, pid_t caller, unsigned int flags)
{
	struct census c;

	census(pid, caller, &c);
	if (flags & PMADV_HOLD_SIGSTOP)
		assert_true(c.threads > 0 && c.stopped == c.threads);
	else
		assert_true(held_right(pid, caller));
}

/* Left as found: within secs no thread traced or in a stop, and the
 * self-check advancing without errors. */
static void assert_target_fine(pid_t pid, double secs)
{
	double end = now() + secs;
	unsigned long r0;
	struct census c;

	for (;;) {
		census(pid, 0, &c);
		if ((!c.traced && !c.trace_stop && !c.stopped) || now() > end)
			break;
		nap_ms(1);
	}
	if (c.traced || c.trace_stop || c.stopped)
		fail_msg("PID %d: %d of %d threads traced (by %ld), %d in "
			 "trace stop, %d stopped", (int)pid, c.traced,
			 c.threads, c.tracer, c.trace_stop, c.stopped);
	r0 = atomic_load(&sh->rounds);
	end = now() + 5;
	while (atomic_load(&sh->rounds) < r0 + 2 && now() < end)
		nap_ms(1);
	assert_true(atomic_load(&sh->rounds) >= r0 + 2);
	assert_int_equal(atomic_load(&sh->errors), 0);
}

/* ---- a caller whose other thread reaps every child ---- */

#define HOLDS 100

/* The caller process: HOLDS holds and releases while a thread reaps;
 * exits with the number that went wrong, +100 if the reaper saw a stop. */
static int reaping_caller(pid_t target, int mode)
{
	struct pmtest_reaper r = { .mode = mode };
	struct pmadv_target *t;
	pthread_t th;
	int bad = 0;

	if (pmadv_open(target, 0, &t) < 0 ||
	    pthread_create(&th, NULL, pmtest_reap_all, &r))
		return 99;
	for (int i = 0; i < HOLDS; i++) {
		struct pmadv_hold *h;
		int ret = pmadv_hold(t, 0, 2000, &h);

		if (ret < 0) {
			fprintf(stderr, "hold %d: %s\n", i, strerror(-ret));
			bad++;
			continue;
		}
		if (!held_right(target, getpid())) {
			fprintf(stderr, "hold %d: not every thread held\n", i);
			bad++;
		}
		ret = pmadv_release(h);
		if (ret < 0) {
			fprintf(stderr, "release %d: %s\n", i, strerror(-ret));
			bad++;
		}
	}
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	pmadv_close(t);
	if (r.stops)
		fprintf(stderr, "the caller's reaper saw %ld stops\n",
			(long)r.stops);
	return (bad > 99 ? 99 : bad) + (r.stops ? 100 : 0);
}

static void run_reaping(int mode)
{
	pid_t target = start_target(8), caller;
	int st;

	caller = fork();
	assert_true(caller >= 0);
	if (caller == 0)
		_exit(reaping_caller(target, mode));
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_target_fine(target, 2);
	stop_target(target);
}

static void test_reaper_waitpid(void **state)
{
	(void)state;
	run_reaping(0);
}

static void test_reaper_waitid_wall(void **state)
{
	(void)state;
	run_reaping(1);
}

/* ---- a caller SIGKILLed at random moments ---- */

/* Callers SIGKILLed at random points of hold/release loops, with the
 * given hold flags: a SIGSTOP hold's watchdog continues the target as the
 * ptrace hold's tracer lets go of it. */
static void caller_killed(unsigned int flags)
{
	const char *env = getenv("PMADV_HOLD_TRIALS");
	int trials = env ? atoi(env) : 60;
	unsigned int seed = (unsigned int)time(NULL);
	pid_t target = start_target(16);

	print_message("%s: seed %u, %d trials\n",
		      flags & PMADV_HOLD_SIGSTOP ? "SIGSTOP" : "ptrace", seed,
		      trials);
	srand(seed);
	for (int i = 0; i < trials; i++) {
		pid_t caller = fork();
		int st;

		assert_true(caller >= 0);
		if (caller == 0) {
			struct pmadv_target *t;

			if (pmadv_open(target, 0, &t) < 0)
				_exit(1);
			for (;;) {
				struct pmadv_hold *h;

				if (pmadv_hold(t, flags, 1000, &h) == 0)
					pmadv_release(h);
			}
		}
		nap_ms(rand() % 30);
		kill(caller, SIGKILL);
		assert_int_equal(waitpid(caller, &st, 0), caller);
		assert_true(WIFSIGNALED(st));
		/* the tracer notices its caller's death within 100 ms */
		assert_target_fine(target, 2);
	}
	stop_target(target);
}

static void test_caller_killed(void **state)
{
	(void)state;
	caller_killed(0);
}

static void test_caller_killed_sigstop(void **state)
{
	(void)state;
	caller_killed(PMADV_HOLD_SIGSTOP);
}

/* ---- a caller that dies or execs while it holds ---- */

static void *exec_sleep(void *arg)
{
	(void)arg;
	execl("/proc/self/exe", "test-hold-caller", "--sleep", (char *)NULL);
	return NULL;
}

/* Forks a caller that holds target (without a lease), says so, then
 * runs then() (NULL: waits to be killed). Returns once it holds. */
static pid_t holding_caller(pid_t target, unsigned int flags,
			    void (*then)(void))
{
	pid_t caller;
	int p[2];
	char c;

	assert_int_equal(pipe(p), 0);
	caller = fork();
	assert_true(caller >= 0);
	if (caller == 0) {
		struct pmadv_target *t;
		struct pmadv_hold *h;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept across an exec */
		if (pmadv_open(target, 0, &t) < 0 ||
		    pmadv_hold(t, flags, 2000, &h) < 0)
			_exit(1);
		c = 'h';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		close(p[1]);
		if (then)
			then();
		pause();
		_exit(1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return caller;
}

static void caller_dies_holding(unsigned int flags)
{
	pid_t target = start_target(4), caller;
	int st;

	caller = holding_caller(target, flags, NULL);
	assert_held(target, caller, flags);
	kill(caller, SIGKILL);
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_target_fine(target, 1);
	stop_target(target);
}

static void test_caller_dies_holding(void **state)
{
	(void)state;
	caller_dies_holding(0);
}

static void exec_in_main(void)
{
	exec_sleep(NULL);
}

static void exec_in_thread(void)
{
	pthread_t th;

	pthread_create(&th, NULL, exec_sleep, NULL);
}

/* The caller execs (from its main thread, or another one) while it holds
 * without a lease: the program it becomes knows of no hold, so the hold
 * ends as at the caller's death. Before, a ptrace hold's tracer saw the
 * same parent PID and held the target for as long as the new program
 * ran. */
static void caller_execs_holding(unsigned int flags, void (*how)(void))
{
	pid_t target = start_target(4), caller;
	int st;

	caller = holding_caller(target, flags, how);
	assert_target_fine(target, 1);
	/* still the exec'd program, not a caller that failed to exec */
	assert_int_equal(waitpid(caller, &st, WNOHANG), 0);
	kill(caller, SIGKILL);
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFSIGNALED(st));
	stop_target(target);
}

static void test_caller_execs_holding(void **state)
{
	(void)state;
	caller_execs_holding(0, exec_in_main);
	caller_execs_holding(0, exec_in_thread);
	caller_execs_holding(PMADV_HOLD_SIGSTOP, exec_in_main);
	caller_execs_holding(PMADV_HOLD_SIGSTOP, exec_in_thread);
}

/* The caller's children, from /proc/self/task/TID/children. */
static int children_of_self(pid_t *out, int max)
{
	char path[96], buf[512], *p, *end;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children",
		 (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		for (p = buf; n < max; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			out[n++] = (pid_t)v;
		}
	fclose(f);
	return n;
}

/* A SIGSTOP hold whose watchdog was killed (by the OOM killer, say): the
 * release still continues the target, and the caller, whose SIGPIPE
 * keeps its default action, survives telling the watchdog. */
static void test_watchdog_killed(void **state)
{
	pid_t target = start_target(2), caller;
	int st;

	(void)state;
	caller = fork();
	assert_true(caller >= 0);
	if (caller == 0) {
		struct pmadv_target *t;
		struct pmadv_hold *h;
		pid_t kids[8];
		int n;

		signal(SIGPIPE, SIG_DFL);
		if (pmadv_open(target, 0, &t) < 0 ||
		    pmadv_hold(t, PMADV_HOLD_SIGSTOP, 2000, &h) < 0)
			_exit(1);
		n = children_of_self(kids, 8);
		if (n != 1 || kill(kids[0], SIGKILL) < 0)
			_exit(2);
		nap_ms(50);
		_exit(pmadv_release(h) == 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_target_fine(target, 1);
	stop_target(target);
}

/* The same with a SIGSTOP hold: its watchdog sends SIGCONT. */
static void test_caller_dies_holding_sigstop(void **state)
{
	(void)state;
	caller_dies_holding(PMADV_HOLD_SIGSTOP);
}

/* ---- a target that re-execs itself all the time ---- */

#define STORM_THREADS 64

/* The exec storm target (this program run with --exec-storm FD): 64 idle
 * threads and, created last (seized last), one that re-execs the program
 * after 2-6 ms, while the main thread idles. It writes a byte to FD at
 * each start: the test counts the execs. */
static int storm_fd;

static void *storm_exec(void *arg)
{
	struct timespec ts = { 0, 2000000L + (long)(getpid() % 5) * 1000000L };
	char num[16];

	(void)arg;
	nanosleep(&ts, NULL);
	snprintf(num, sizeof(num), "%d", storm_fd);
	execl("/proc/self/exe", "test-hold-caller", "--exec-storm", num,
	      (char *)NULL);
	_exit(2);
}

static void exec_storm(int fd)
{
	pthread_t t;

	storm_fd = fd;
	if (write(fd, "x", 1) != 1)
		_exit(1);
	for (int i = 0; i < STORM_THREADS; i++)
		if (pthread_create(&t, NULL, idle, NULL))
			_exit(1);
	if (pthread_create(&t, NULL, storm_exec, NULL))
		_exit(1);
	idle(NULL);
	_exit(1);
}

/* Bytes waiting in a non-blocking pipe, read away. */
static long drain(int fd)
{
	char buf[4096];
	long total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	return total;
}

/* pmadvise --hold on the storm: ends within its timeout (300 ms) plus
 * the program's own start, with 0 or 6 (timed out). */
static void cli_storm(pid_t pid)
{
	const char *exe = getenv("PMADVISE");
	int codes[2] = { 0, 0 };
	char num[16];

	if (!exe)
		return; /* built without the program */
	snprintf(num, sizeof(num), "%d", (int)pid);
	for (int i = 0; i < 10; i++) {
		double t0 = now(), took;
		pid_t cli = fork();
		int st;

		assert_true(cli >= 0);
		if (cli == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
			execl(exe, "pmadvise", "--hold", "--timeout", "300",
			      "--all", num, (char *)NULL);
			_exit(127);
		}
		while (waitpid(cli, &st, WNOHANG) == 0) {
			if (now() - t0 > 5) {
				kill(cli, SIGKILL);
				waitpid(cli, &st, 0);
				fail_msg("pmadvise --hold still ran after 5 s");
			}
			nap_ms(1);
		}
		took = now() - t0;
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 6)
			fail_msg("pmadvise --hold exited with %d",
				 WEXITSTATUS(st));
		if (took > slow(1.3))
			fail_msg("pmadvise --hold took %.3f s", took);
		codes[WEXITSTATUS(st) != 0]++;
	}
	print_message("pmadvise --hold: %d done, %d timed out\n", codes[0],
		      codes[1]);
}

static void test_exec_storm(void **state)
{
	const char *env = getenv("PMADV_HOLD_STORM");
	int storm_holds = env ? atoi(env) : 100;
	int p[2], held = 0, timed_out = 0, slow_releases = 0;
	struct pmadv_target *t;
	char arg[16];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		snprintf(arg, sizeof(arg), "%d", p[1]);
		execl("/proc/self/exe", "test-hold-caller", "--exec-storm", arg,
		      (char *)NULL);
		_exit(2);
	}
	close(p[1]);
	nap_ms(100);
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	for (int i = 0; i < storm_holds; i++) {
		struct pmadv_hold *h;
		double t0 = now(), took;
		int ret = pmadv_hold(t, 0, 300, &h);

		took = now() - t0;
		if (took > 0.3 + slow(0.35))
			fail_msg("hold %d took %.3f s (timeout 0.3 s)", i, took);
		if (ret == 0) {
			held++;
			assert_true(held_right(pid, getpid()));
			/* the helper may take longer than the 300 ms to let
			 * go of a target that execs (it goes on alone, as
			 * pmadv_hold(3) says; seen in a loaded TCG guest):
			 * the target is checked below */
			ret = pmadv_release(h);
			if (ret == -ETIMEDOUT)
				slow_releases++;
			else
				assert_int_equal(ret, 0);
		} else {
			assert_int_equal(ret, -ETIMEDOUT);
			timed_out++;
		}
		nap_ms(i % 7);
	}
	print_message("%d held (%d released late), %d timed out\n", held,
		      slow_releases, timed_out);
	cli_storm(pid);
	/* left as found: untraced, no stop, and still exec-ing */
	{
		double end = now() + 2;
		struct census c;

		do {
			census(pid, 0, &c);
		} while ((c.traced || c.trace_stop || c.stopped) &&
			 now() < end && (nap_ms(1), 1));
		assert_int_equal(c.traced, 0);
		assert_int_equal(c.trace_stop, 0);
		assert_int_equal(c.stopped, 0);
	}
	drain(p[0]);
	nap_ms((int)slow(1000));
	assert_true(drain(p[0]) >= 3);
	pmadv_close(t);
	stop_target(pid);
	close(p[0]);
}

/* ---- a vfork parent: blocked in D state until its child goes ---- */

static void test_vfork_parent(void **state)
{
	struct pmadv_target *t;
	struct pmadv_hold *h;
	int p[2], ret;
	double t0, took;
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		if (vfork() == 0) {
			struct timespec ts = { 2, 500000000L };

			nanosleep(&ts, NULL); /* the parent waits in D */
			_exit(0);
		}
		c = 'v'; /* the parent runs again */
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	for (double end = now() + 5; task_state(pid, pid) != 'D';) {
		assert_true(now() < end);
		nap_ms(1);
	}
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	t0 = now();
	ret = pmadv_hold(t, 0, 1000, &h);
	took = now() - t0;
	print_message("vfork parent: %s after %.3f s\n", strerror(-ret), took);
	assert_int_equal(ret, -ETIMEDOUT);
	assert_true(took < 1 + slow(0.25));
	/* as found: still in its vfork, and untraced */
	nap_ms(100);
	assert_int_equal(task_state(pid, pid), 'D');
	assert_int_equal(task_field(pid, pid, "TracerPid:"), 0);
	/* when its child goes, it runs on, and no trace stop catches it */
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'v');
	nap_ms(50);
	assert_true(strchr("SR", task_state(pid, pid)) != NULL);
	pmadv_close(t);
	stop_target(pid);
	close(p[0]);
}

/* ---- a frozen cgroup ---- */

/* The v1 freezer's mount point, or the v2 hierarchy's when it has
 * cgroup.freeze in its children; *v2 tells which. */
static bool freezer(char *root, size_t len, bool *v2)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	if (!f)
		return false;
	root[0] = '\0';
	while (!found && fgets(line, sizeof(line), f)) {
		char mnt[512], type[32], opts[256], *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(dash + 3, "%31s %*s %255s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup") && strstr(opts, "freezer")) {
			snprintf(root, len, "%s", mnt);
			*v2 = false;
			found = true;
		} else if (!strcmp(type, "cgroup2") && !root[0]) {
			snprintf(root, len, "%s", mnt);
			*v2 = true;
		}
	}
	fclose(f);
	return found || root[0];
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

static bool file_has(const char *path, const char *what)
{
	char buf[256] = "";
	FILE *f = fopen(path, "re");
	bool yes;

	if (!f)
		return false;
	yes = fread(buf, 1, sizeof(buf) - 1, f) > 0 && strstr(buf, what);
	fclose(f);
	return yes;
}

static void test_frozen_cgroup(void **state)
{
	char root[512], dir[600], path[700], num[32];
	struct pmadv_target *t;
	struct pmadv_hold *h;
	bool v2 = false;
	pid_t pid;
	int ret;

	(void)state;
	pmtest_require_root();
	pmtest_require(freezer(root, sizeof(root), &v2), "no cgroup freezer");
	snprintf(dir, sizeof(dir), "%s/pmadv-hold-%d", root, (int)getpid());
	assert_int_equal(mkdir(dir, 0755), 0);
	pid = start_target(4);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(num, sizeof(num), "%d\n", (int)pid);
	write_file(path, num);
	snprintf(path, sizeof(path), "%s/%s", dir,
		 v2 ? "cgroup.freeze" : "freezer.state");
	write_file(path, v2 ? "1\n" : "FROZEN\n");
	snprintf(path, sizeof(path), "%s/%s", dir,
		 v2 ? "cgroup.events" : "freezer.state");
	for (double end = now() + 5;
	     !file_has(path, v2 ? "frozen 1" : "FROZEN");) {
		assert_true(now() < end);
		nap_ms(2);
	}
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	ret = pmadv_hold(t, 0, 300, &h);
	print_message("frozen (%s): %s\n", v2 ? "v2" : "v1 freezer",
		      strerror(-ret));
	if (ret == 0) /* v2 freezing is a kind of stop the tracer may see */
		assert_int_equal(pmadv_release(h), 0);
	else if (!v2)
		assert_int_equal(ret, -ETIMEDOUT);
	snprintf(path, sizeof(path), "%s/%s", dir,
		 v2 ? "cgroup.freeze" : "freezer.state");
	write_file(path, v2 ? "0\n" : "THAWED\n");
	assert_target_fine(pid, 2);
	pmadv_close(t);
	stop_target(pid);
	nap_ms(50);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- several caller threads hold one target ---- */

struct turn {
	struct pmadv_target *t;
	pid_t pid;
	int ok, bad;
};

static void *hold_often(void *arg)
{
	struct turn *w = arg;

	for (int i = 0; i < 10; i++) {
		struct pmadv_hold *h;

		if (pmadv_hold(w->t, 0, 5000, &h) < 0) {
			w->bad++;
			continue;
		}
		if (held_right(w->pid, getpid()))
			w->ok++;
		else
			w->bad++;
		nap_ms(2);
		if (pmadv_release(h) < 0)
			w->bad++;
	}
	return NULL;
}

static void test_threads_take_turns(void **state)
{
	struct turn w[4];
	pthread_t th[4];
	pid_t pid = start_target(4);
	struct pmadv_target *t;

	(void)state;
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct turn){ .t = t, .pid = pid };
		assert_int_equal(pthread_create(&th[i], NULL, hold_often, &w[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
		assert_int_equal(w[i].ok, 10);
	}
	assert_target_fine(pid, 1);
	pmadv_close(t);
	stop_target(pid);
}

/* ---- the ptrace rung while a hold is active ---- */

struct rung_req {
	pid_t pid;
	ssize_t ret;
	double took;
};

static ssize_t rung_cold(pid_t pid, int timeout_ms)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct iovec iov = { (void *)((uintptr_t)sh & ~(uintptr_t)(PAGE - 1)),
			     PAGE };
	struct pmadv_target *t;
	ssize_t ret;

	if (pmadv_open(pid, 0, &t) < 0)
		return -ESRCH;
	o.methods = PMADV_METHOD_PTRACE;
	o.timeout_ms = timeout_ms;
	ret = pmadv_advise(t, &iov, 1, MADV_COLD, &o, NULL);
	pmadv_close(t);
	return ret;
}

static void *ask_rung(void *arg)
{
	struct rung_req *q = arg;
	double t0 = now();

	q->ret = rung_cold(q->pid, 3000);
	q->took = now() - t0;
	return NULL;
}

/* The holding thread's own request cannot wait for itself: EBUSY at once.
 * Another thread's waits for the release, then is served. */
static void test_rung_during_hold(void **state)
{
	struct pmadv_target *t;
	struct pmadv_hold *h, *h2;
	struct rung_req q;
	pthread_t th;
	pid_t pid = start_target(2);
	double t0;

	(void)state;
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	assert_int_equal(pmadv_hold(t, 0, 0, &h), 0);
	t0 = now();
	assert_int_equal(rung_cold(pid, 2000), -EBUSY);
	assert_int_equal(pmadv_hold(t, 0, 2000, &h2), -EBUSY);
	assert_true(now() - t0 < 0.5);
	q.pid = pid;
	assert_int_equal(pthread_create(&th, NULL, ask_rung, &q), 0);
	nap_ms(300);
	assert_true(held_right(pid, getpid()));
	assert_int_equal(pmadv_release(h), 0);
	pthread_join(th, NULL);
	print_message("rung after the release: %zd after %.3f s\n", q.ret,
		      q.took);
	assert_int_equal(q.ret, PAGE);
	assert_true(q.took >= 0.25);
	assert_target_fine(pid, 1);
	pmadv_close(t);
	stop_target(pid);
}

/* ---- a hold given up on, then asked for again by its thread ---- */

/* The release of a hold whose tracer is stopped (a debugger, a stray
 * SIGSTOP) times out and leaves the tracer to let go when it can: its
 * turn on the target stays taken until then, but no longer by the thread
 * that held it. That thread asking again waits for the turn like any
 * other (it was told -EBUSY at once, as if it still held the target:
 * seen as an exec storm's hold failing with EBUSY in the arm64 guest),
 * and holds it once the tracer has gone. */
static void test_hold_after_given_up(void **state)
{
	struct pmadv_target *t;
	struct pmadv_hold *h;
	pid_t pid = start_target(2);
	long tracer;
	double t0, took;
	int ret;

	(void)state;
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	assert_int_equal(pmadv_hold(t, 0, 300, &h), 0);
	tracer = task_field(pid, pid, "TracerPid:");
	assert_true(tracer > 0);
	assert_int_equal(kill((pid_t)tracer, SIGSTOP), 0);
	nap_ms(50);
	assert_int_equal(pmadv_release(h), -ETIMEDOUT);
	t0 = now();
	ret = pmadv_hold(t, 0, 300, &h);
	took = now() - t0;
	print_message("held again while the stopped tracer keeps its turn: "
		      "%s after %.3f s\n", strerror(-ret), took);
	assert_int_equal(ret, -ETIMEDOUT);
	assert_true(took >= 0.25);
	assert_int_equal(kill((pid_t)tracer, SIGCONT), 0);
	assert_target_fine(pid, slow(2));
	assert_int_equal(pmadv_hold(t, 0, 2000, &h), 0);
	assert_true(held_right(pid, getpid()));
	assert_int_equal(pmadv_release(h), 0);
	assert_target_fine(pid, slow(1));
	pmadv_close(t);
	stop_target(pid);
}

/* ---- a target waiting in io_uring_enter ---- */

/* Waits for one completion that never comes, 2 s at most, and reports
 * what the wait returned (-ETIME: its timeout; -EINTR: interrupted). */
static void uring_waiter(void)
{
	struct io_uring_params p;
	struct io_uring_getevents_arg a;
	struct __kernel_timespec ts = { 2, 0 };
	long fd, r;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0 || !(p.features & IORING_FEAT_EXT_ARG)) {
		atomic_store(&sh->result, 1);
		_exit(0);
	}
	memset(&a, 0, sizeof(a));
	a.ts = (uint64_t)(uintptr_t)&ts;
	atomic_store(&sh->waiting, 1);
	r = syscall(__NR_io_uring_enter, fd, 0, 1,
		    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &a,
		    sizeof(a));
	atomic_store(&sh->result, r < 0 ? -errno : r);
	compute();
}

/* pmadv_hold(3) CAVEATS: such a wait returns EINTR at the hold, and the
 * target goes on. */
static void test_io_uring_wait(void **state)
{
	struct pmadv_target *t;
	struct pmadv_hold *h;
	pid_t pid;

	(void)state;
	memset(sh, 0, sizeof(*sh));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		uring_waiter();
	}
	while (!atomic_load(&sh->waiting) && !atomic_load(&sh->result))
		nap_ms(1);
	if (atomic_load(&sh->result) == 1)
		stop_target(pid);
	pmtest_require(atomic_load(&sh->result) != 1,
		       "no io_uring with timeouts here");
	nap_ms(200);
	assert_int_equal(task_state(pid, pid), 'S');
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	assert_int_equal(pmadv_hold(t, 0, 0, &h), 0);
	assert_int_equal(pmadv_release(h), 0);
	for (double end = now() + 5; !atomic_load(&sh->result);) {
		assert_true(now() < end);
		nap_ms(1);
	}
	assert_int_equal(atomic_load(&sh->result), -EINTR);
	assert_target_fine(pid, 1);
	pmadv_close(t);
	stop_target(pid);
}

/* ---- a caller stopped while it holds with a lease ---- */

#define LEASE_MS 1000
/* What the helper may take past the lease's end to let go, on a loaded
 * 2-core machine: its wake-up, and the detach of every thread or the
 * watchdog's SIGCONT. */
#define LEASE_SLACK_MS 400

/* The caller: holds with a lease, says so, then stops itself, or its
 * whole process group as a job-control stop does (which, without the
 * helper's own session, stopped the helper too). Continued, it releases:
 * exits 0 when the release said -ETIMEDOUT. */
static int stopped_caller(pid_t target, unsigned int flags, bool group,
			  int wfd)
{
	struct pmadv_target *t;
	struct pmadv_hold *h;
	int ret;

	if (setpgid(0, 0) < 0 || pmadv_open(target, 0, &t) < 0)
		return 1;
	atomic_store(&sh->held_at, mono_ms());
	ret = pmadv_hold(t, flags | PMADV_HOLD_LEASE, LEASE_MS, &h);
	if (ret < 0) {
		fprintf(stderr, "hold: %s\n", strerror(-ret));
		return 2;
	}
	if (write(wfd, "h", 1) != 1)
		return 3;
	if (group)
		kill(0, SIGSTOP);
	else
		raise(SIGSTOP);
	ret = pmadv_release(h);
	pmadv_close(t);
	if (ret != -ETIMEDOUT)
		fprintf(stderr, "release: %d, not -ETIMEDOUT\n", ret);
	return ret == -ETIMEDOUT ? 0 : 4;
}

static void lease_caller_stopped(unsigned int flags, bool group)
{
	pid_t target = start_target(4), caller;
	long long ran_at;
	unsigned long r0;
	struct census c;
	int p[2], st;
	char ch;

	assert_int_equal(pipe(p), 0);
	caller = fork();
	assert_true(caller >= 0);
	if (caller == 0) {
		close(p[0]);
		_exit(stopped_caller(target, flags, group, p[1]));
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ch, 1), 1);
	close(p[0]);
	assert_held(target, caller, flags);
	assert_int_equal(waitpid(caller, &st, WUNTRACED), caller);
	assert_true(WIFSTOPPED(st));
	/* The target runs again by the lease's end, and not before, while
	 * its caller stays stopped. */
	for (;;) {
		census(target, 0, &c);
		ran_at = mono_ms();
		if (!c.traced && !c.trace_stop && !c.stopped)
			break;
		if (ran_at - atomic_load(&sh->held_at) >
		    LEASE_MS + LEASE_SLACK_MS)
			fail_msg("PID %d still held %lld ms after a %d ms lease "
				 "(%d of %d threads traced, %d stopped)",
				 (int)target,
				 ran_at - atomic_load(&sh->held_at), LEASE_MS,
				 c.traced, c.threads, c.stopped + c.trace_stop);
		nap_ms(1);
	}
	ran_at -= atomic_load(&sh->held_at);
	r0 = atomic_load(&sh->rounds);
	while (atomic_load(&sh->rounds) < r0 + 2 &&
	       mono_ms() - atomic_load(&sh->held_at) <
		       LEASE_MS + LEASE_SLACK_MS)
		nap_ms(1);
	assert_true(atomic_load(&sh->rounds) >= r0 + 2);
	print_message("%s lease of %d ms, caller %s stopped: the target ran "
		      "again after %lld ms\n",
		      flags & PMADV_HOLD_SIGSTOP ? "SIGSTOP" : "ptrace",
		      LEASE_MS, group ? "and its process group" : "alone",
		      ran_at);
	assert_true(ran_at >= LEASE_MS - 1);
	assert_int_equal(pmtest_state(caller, 0), 'T');
	/* Stopped by someone else meanwhile, it is not the release's to
	 * continue: the release leaves it alone. */
	kill(target, SIGSTOP);
	for (double end = now() + 2; pmtest_state(target, 0) != 'T';) {
		assert_true(now() < end);
		nap_ms(1);
	}
	kill(caller, SIGCONT);
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	nap_ms(50);
	assert_int_equal(pmtest_state(target, 0), 'T');
	census(target, 0, &c);
	assert_int_equal(c.traced, 0);
	kill(target, SIGCONT);
	assert_target_fine(target, 1);
	stop_target(target);
}

static void test_lease_caller_stopped(void **state)
{
	(void)state;
	lease_caller_stopped(0, false);
	lease_caller_stopped(0, true);
}

static void test_lease_caller_stopped_sigstop(void **state)
{
	(void)state;
	lease_caller_stopped(PMADV_HOLD_SIGSTOP, false);
	lease_caller_stopped(PMADV_HOLD_SIGSTOP, true);
}

/* The caller stops its whole job right after pmadv_hold returns, on one
 * CPU, so that the watchdog it just forked has not run yet: before, the
 * watchdog was still in the caller's process group, was stopped with it,
 * and the target stayed stopped past the lease. The lease is the hold's
 * timeout too, so where the caller is starved of CPU (a loaded TCG
 * guest: 200 ms were not enough once) the hold itself may run out before
 * it is taken: such a round says so and is tried again, at most
 * RACE_RETRIES times in all; what is checked stays the same. */
#define RACE_LEASE_MS 200
#define RACE_ROUNDS 10
#define RACE_RETRIES 10

static void test_lease_job_stop_at_once(void **state)
{
	pid_t target = start_target(1);
	int lease_ms = (int)slow(RACE_LEASE_MS), retries = 0;

	(void)state;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		long long t0 = mono_ms();
		pid_t caller = fork();
		struct census c;
		int st;

		assert_true(caller >= 0);
		if (caller == 0) {
			struct pmadv_target *t;
			struct pmadv_hold *h;
			cpu_set_t one;
			int ret;

			CPU_ZERO(&one);
			CPU_SET(0, &one);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (setpgid(0, 0) < 0 ||
			    sched_setaffinity(0, sizeof(one), &one) < 0 ||
			    pmadv_open(target, 0, &t) < 0)
				_exit(1);
			ret = pmadv_hold(t, PMADV_HOLD_SIGSTOP |
					 PMADV_HOLD_LEASE, lease_ms, &h);
			if (ret < 0)
				_exit(ret == -ETIMEDOUT ? 3 : 4);
			kill(0, SIGSTOP);
			_exit(pmadv_release(h) == -ETIMEDOUT ? 0 : 2);
		}
		assert_int_equal(waitpid(caller, &st, WUNTRACED), caller);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3 &&
		    retries < RACE_RETRIES) {
			print_message("round %d: the hold ran out of its %d ms "
				      "before it was taken (a starved caller): "
				      "again\n", i, lease_ms);
			retries++;
			i--;
			continue;
		}
		if (!WIFSTOPPED(st))
			fail_msg("round %d: the caller did not stop: %s %d "
				 "(1: open, 3: hold timed out, 4: hold "
				 "failed)", i,
				 WIFEXITED(st) ? "exit" : "signal",
				 WIFEXITED(st) ? WEXITSTATUS(st)
					       : WTERMSIG(st));
		for (;;) {
			census(target, 0, &c);
			if (!c.stopped)
				break;
			if (mono_ms() - t0 > lease_ms + slow(LEASE_SLACK_MS))
				fail_msg("round %d: PID %d still stopped %lld ms "
					 "after a %d ms lease", i, (int)target,
					 mono_ms() - t0, lease_ms);
			nap_ms(1);
		}
		kill(caller, SIGCONT);
		assert_int_equal(waitpid(caller, &st, 0), caller);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_target_fine(target, 1);
	stop_target(target);
}

/* Released within its lease: 0 as without one, and the lease's end
 * later does nothing (a target stopped by someone else since stays
 * stopped). (Its refusals are in test-hold's test_errors.) */
static void test_lease_kept(void **state)
{
	static const unsigned int modes[] = { 0, PMADV_HOLD_SIGSTOP };
	pid_t pid = start_target(2);
	struct pmadv_target *t;
	struct pmadv_hold *h;
	struct census c;

	(void)state;
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	for (size_t i = 0; i < 2; i++) {
		unsigned int f = modes[i] | PMADV_HOLD_LEASE;

		assert_int_equal(pmadv_hold(t, f, LEASE_MS, &h), 0);
		nap_ms(LEASE_MS / 2);
		assert_held(pid, getpid(), f);
		assert_int_equal(pmadv_release(h), 0);
		assert_target_fine(pid, 1);
		kill(pid, SIGSTOP);
		nap_ms(LEASE_MS / 2 + LEASE_SLACK_MS);
		census(pid, 0, &c);
		assert_int_equal(c.stopped, c.threads);
		assert_int_equal(c.traced, 0);
		kill(pid, SIGCONT);
		assert_target_fine(pid, 1);
	}
	pmadv_close(t);
	stop_target(pid);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reaper_waitpid),
		cmocka_unit_test(test_reaper_waitid_wall),
		cmocka_unit_test(test_caller_dies_holding),
		cmocka_unit_test(test_caller_dies_holding_sigstop),
		cmocka_unit_test(test_caller_execs_holding),
		cmocka_unit_test(test_watchdog_killed),
		cmocka_unit_test(test_caller_killed),
		cmocka_unit_test(test_caller_killed_sigstop),
		cmocka_unit_test(test_exec_storm),
		cmocka_unit_test(test_vfork_parent),
		cmocka_unit_test(test_frozen_cgroup),
		cmocka_unit_test(test_threads_take_turns),
		cmocka_unit_test(test_rung_during_hold),
		cmocka_unit_test(test_hold_after_given_up),
		cmocka_unit_test(test_io_uring_wait),
		cmocka_unit_test(test_lease_kept),
		cmocka_unit_test(test_lease_caller_stopped),
		cmocka_unit_test(test_lease_caller_stopped_sigstop),
		cmocka_unit_test(test_lease_job_stop_at_once),
	};

	if (argc == 2 && !strcmp(argv[1], "--sleep")) { /* an exec'd caller */
		sleep(60);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--exec-storm"))
		exec_storm(atoi(argv[2]));
	if (getenv("PMADV_TEST_FILTER")) /* one test, e.g. test_exec_storm */
		cmocka_set_test_filter(getenv("PMADV_TEST_FILTER"));
	sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
