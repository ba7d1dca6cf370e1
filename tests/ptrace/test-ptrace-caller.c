// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ptrace rung against what a system manager's process does to its own
 * tracer: another thread reaping every child with waitpid(-1) or
 * waitid(P_ALL, __WALL), the caller SIGKILLed at a random moment of a
 * request, the caller exiting right after a request. The target runs a
 * self-check the whole time (it recomputes a checksum of its memory and
 * counts its rounds in a page shared with the test); after each trial it
 * must be running, untraced, with the signal mask it had, and still right.
 * Last, a target whose own thread fights the rung: it takes back every fd
 * number and unmaps every mapping it did not make.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "ptest.h"

#define PAGE 4096
#define NRANGES 1500 /* separate one-page VMAs: a request takes a while */

/* The target's self-check, in a page shared with the test. */
struct shared {
	atomic_ulong rounds;
	atomic_long errors;
	atomic_int why; /* which checks failed: 1 data, 2 floating point,
			 * 4 vector registers, 8 rounding mode */
	uintptr_t base; /* the target's ranges: NRANGES pages, every other */
	atomic_int verify; /* 1: the test asks, 2: the target checked */
	atomic_int served; /* faults the slow handler answered */
};

static struct shared *sh;
static pid_t last_target; /* killed by the next test, should one fail */

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Floating point work whose result is the same every time: registers
 * the injection must leave as they were. */
static double fsum(void)
{
	volatile double x = 1.0;

	for (int i = 0; i < 1000; i++)
		x = x * 1.0000001 + 0.5;
	return x;
}

/*
 * State only the thread's registers hold, over a loop long enough for an
 * injection to land in it: a pattern in an SSE register, and where the
 * CPU has AVX, in the upper half of a YMM register too, which a restore
 * of the legacy FXSAVE image alone would clear. Returns the number of
 * rounds that found it changed.
 */
#ifdef __x86_64__
__attribute__((target("avx"))) static long ymm_check(void)
{
	static const uint64_t pat[4] __attribute__((aligned(32))) = {
		0x0123456789abcdefULL, 0xfedcba9876543210ULL,
		0x1111222233334444ULL, 0x5555666677778888ULL
	};
	long bad = 0;

	__asm__ volatile("vmovdqa (%[p]), %%ymm7\n"
			 "mov $200000, %%ecx\n"
			 "1: vpxor (%[p]), %%ymm7, %%ymm6\n"
			 "vptest %%ymm6, %%ymm6\n"
			 "jz 2f\n"
			 "inc %[bad]\n"
			 "vmovdqa (%[p]), %%ymm7\n"
			 "2: dec %%ecx\n"
			 "jnz 1b\n"
			 "vzeroupper\n"
			 : [bad] "+r"(bad)
			 : [p] "r"(pat)
			 : "rcx", "xmm6", "xmm7", "cc", "memory");
	return bad;
}

static long xmm_check(void)
{
	static const uint64_t pat[2] __attribute__((aligned(16))) = {
		0x0123456789abcdefULL, 0xfedcba9876543210ULL
	};
	long bad = 0;

	__asm__ volatile("movdqa (%[p]), %%xmm7\n"
			 "mov $200000, %%ecx\n"
			 "1: movdqa %%xmm7, %%xmm6\n"
			 "pcmpeqb (%[p]), %%xmm6\n"
			 "pmovmskb %%xmm6, %%eax\n"
			 "cmp $0xffff, %%eax\n"
			 "je 2f\n"
			 "inc %[bad]\n"
			 "movdqa (%[p]), %%xmm7\n"
			 "2: dec %%ecx\n"
			 "jnz 1b\n"
			 : [bad] "+r"(bad)
			 : [p] "r"(pat)
			 : "rax", "rcx", "xmm6", "xmm7", "cc", "memory");
	return bad;
}

static long regs_check(void)
{
	return xmm_check() +
	       (__builtin_cpu_supports("avx") ? ymm_check() : 0);
}
#elif defined(__aarch64__)
/* The same on aarch64: a pattern in v7, and where the CPU has SVE, one in
 * every byte of z7, whose bits past the first 128 a syscall discards: an
 * injected call with no SVE restore after it zeroes them. */
static long vreg_check(void)
{
	static const uint64_t pat[2] __attribute__((aligned(16))) = {
		0x0123456789abcdefULL, 0xfedcba9876543210ULL
	};
	long bad = 0;

	__asm__ volatile("ldr q7, [%[p]]\n"
			 "movz x9, #3, lsl #16\n"
			 "1: ldr q6, [%[p]]\n"
			 "cmeq v6.16b, v6.16b, v7.16b\n"
			 "uminv b6, v6.16b\n"
			 "umov w10, v6.b[0]\n"
			 "cmp w10, #0xff\n"
			 "b.eq 2f\n"
			 "add %[bad], %[bad], #1\n"
			 "ldr q7, [%[p]]\n"
			 "2: subs x9, x9, #1\n"
			 "b.ne 1b\n"
			 : [bad] "+r"(bad)
			 : [p] "r"(pat)
			 : "x9", "x10", "v6", "v7", "cc", "memory");
	return bad;
}

static long zreg_check(void)
{
	long bad = 0;

	__asm__ volatile(".arch_extension sve\n"
			 "ptrue p0.b\n"
			 "index z7.b, #1, #3\n"
			 "movz x9, #3, lsl #16\n"
			 "1: index z6.b, #1, #3\n"
			 "cmpne p1.b, p0/z, z6.b, z7.b\n"
			 "b.none 2f\n"
			 "add %[bad], %[bad], #1\n"
			 "index z7.b, #1, #3\n"
			 "2: subs x9, x9, #1\n"
			 "b.ne 1b\n"
			 : [bad] "+r"(bad)
			 :
			 : "x9", "v6", "v7", "p0", "p1", "cc", "memory");
	return bad;
}

static long regs_check(void)
{
	return vreg_check() + ((getauxval(AT_HWCAP) & HWCAP_SVE) ? zreg_check()
								  : 0);
}
#else
static long regs_check(void)
{
	return 0;
}
#endif

/* NRANGES pages, each its own VMA (every other page of the area is
 * PROT_NONE), filled with a pattern the target checks over and over with
 * floating point and integer work; SIGUSR1 blocked, as a program might.
 * arg non-NULL: it sleeps 20 ms after each round. */
static void target(void *arg)
{
	size_t len = 2 * NRANGES * PAGE;
	unsigned char *a = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t want;
	double fwant;
	sigset_t set;

	if (a == MAP_FAILED)
		_exit(1);
	for (size_t i = 0; i < NRANGES; i++) {
		memset(a + 2 * i * PAGE, (int)(i & 0xff), PAGE);
		if (mprotect(a + (2 * i + 1) * PAGE, PAGE, PROT_NONE) < 0)
			_exit(1);
	}
	want = 0;
	for (size_t i = 0; i < NRANGES; i++)
		want += fnv(a + 2 * i * PAGE, PAGE);
	/* a rounding mode of its own (MXCSR, x87 control word) */
	fesetround(FE_TOWARDZERO);
	fwant = fsum();
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sh->base = (uintptr_t)a;
	for (;;) {
		uint64_t h = 0;

		for (size_t i = 0; i < NRANGES; i++)
			h += fnv(a + 2 * i * PAGE, PAGE);
		int why = (h != want) | (fsum() != fwant) << 1 |
			  (regs_check() != 0) << 2 |
			  (fegetround() != FE_TOWARDZERO) << 3;

		if (why) {
			atomic_fetch_or(&sh->why, why);
			atomic_fetch_add(&sh->errors, 1);
		}
		atomic_fetch_add(&sh->rounds, 1);
		if (arg)
			usleep(20000);
	}
}

static void sleepy_target(void *arg)
{
	(void)arg;
	target((void *)1);
}

/* A TracerPid or SigBlk line of /proc/PID/status, or "" */
static void status_line(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = strstr(buf, name);
	if (p)
		snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
}

/* The target is left as found: untraced with its mask (within secs: a
 * tracer that outlives its caller may still be restoring), running, and
 * its self-check still advancing without errors. */
static void assert_target_fine(pid_t pid, const char *sigblk, double secs)
{
	double end = pt_now() + secs;
	char tracer[64], blk[64];
	unsigned long r0;

	/* a tracer killed with its caller leaves the thread to finish our
	 * call (or loop) and return through its frame */
	for (;;) {
		status_line(pid, "TracerPid:", tracer, sizeof(tracer));
		status_line(pid, "SigBlk:", blk, sizeof(blk));
		if ((!strcmp(tracer, "TracerPid:\t0") && !strcmp(blk, sigblk)) ||
		    pt_now() > end)
			break;
		usleep(1000);
	}
	assert_string_equal(tracer, "TracerPid:\t0");
	assert_string_equal(blk, sigblk);
	r0 = atomic_load(&sh->rounds);
	end = pt_now() + 5;
	while (atomic_load(&sh->rounds) < r0 + 2 && pt_now() < end)
		usleep(1000);
	assert_true(atomic_load(&sh->rounds) >= r0 + 2);
	if (atomic_load(&sh->errors))
		print_message("target's self-check failed %ld times (checks "
			      "%#x: 1 data, 2 floating point, 4 vector "
			      "registers, 8 rounding mode)\n",
			      (long)atomic_load(&sh->errors),
			      atomic_load(&sh->why));
	assert_int_equal(atomic_load(&sh->errors), 0);
	assert_true(strchr("RS", pmtest_state(pid, 0)) != NULL);
}

static pid_t start_target_fn(void (*fn)(void *), char *sigblk, size_t len)
{
	pid_t pid;
	double end;

	pt_kill(last_target);
	memset(sh, 0, sizeof(*sh));
	pid = pt_fork(fn, NULL);
	assert_true(pid > 0);
	last_target = pid;
	end = pt_now() + 10;
	while (atomic_load(&sh->rounds) < 1 && pt_now() < end)
		usleep(1000);
	assert_true(atomic_load(&sh->rounds) >= 1);
	status_line(pid, "SigBlk:", sigblk, len);
	assert_true(sigblk[0] != '\0');
	return pid;
}

static pid_t start_target(char *sigblk, size_t len)
{
	return start_target_fn(target, sigblk, len);
}

static void target_ranges(struct iovec *iov)
{
	for (size_t i = 0; i < NRANGES; i++)
		iov[i] = (struct iovec){ (void *)(sh->base + 2 * i * PAGE),
					 PAGE };
}

/* The tracers of process pid: its children (every thread's), up to max;
 * how many. Our targets are children too: not tracers. */
static int tracers_of(pid_t pid, pid_t *out, int max)
{
	return pt_children(pid, last_target, out, max);
}

/* Runs fn(arg) in a caller process that must exit 0; wfd, the write end
 * of a pipe it was given, is closed here once it is forked. */
static void run_caller_ok(void (*fn)(void *), void *arg, int wfd)
{
	pid_t caller = pt_fork(fn, arg);
	int st;

	close(wfd);
	assert_true(caller > 0);
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- a caller that reaps every child from another thread ---- */

/* The reaper thread is pmtest_reap_all (tests/common). */

struct caller_arg {
	pid_t target;
	int mode;
	int requests;
};

/* The caller process: requests while a thread reaps; exits with the
 * number of requests that did not advise everything (0 is right). */
static void reaping_caller(void *arg)
{
	struct caller_arg *c = arg;
	struct pmtest_reaper r = { .mode = c->mode };
	static struct iovec iov[NRANGES];
	pthread_t th;
	int bad = 0;

	target_ranges(iov);
	if (pthread_create(&th, NULL, pmtest_reap_all, &r))
		_exit(100);
	for (int i = 0; i < c->requests; i++) {
		struct pmadv_result res;
		/* small requests too: one madvise each */
		size_t n = i % 3 == 0 ? 2 : NRANGES;
		ssize_t ret = pt_advise(c->target, iov, n, MADV_COLD, 0, &res);

		if (ret != (ssize_t)(n * PAGE)) {
			if (bad < 5)
				fprintf(stderr, "request %d: %zd\n", i, ret);
			bad++;
		}
	}
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	if (r.stops)
		fprintf(stderr, "the caller's reaper saw %ld stops\n",
			(long)r.stops);
	_exit(bad > 99 ? 99 : bad + (r.stops ? 100 : 0));
}

static void run_reaping(int mode)
{
	struct caller_arg c = { .mode = mode, .requests = 150 };
	char sigblk[64];
	pid_t caller;
	int st;

	PT_REQUIRE(geteuid() == 0, "needs root");
	c.target = start_target(sigblk, sizeof(sigblk));
	caller = pt_fork(reaping_caller, &c);
	assert_true(caller > 0);
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0); /* 150 of 150, no stop seen */
	/* the caller has exited: nothing of it may linger in the target */
	assert_target_fine(c.target, sigblk, 2);
	pt_kill(c.target);
	last_target = 0;
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

/* ---- a caller SIGKILLed at a random moment ---- */

static void looping_caller(void *arg)
{
	struct caller_arg *c = arg;
	static struct iovec iov[NRANGES];

	/* a process group of its own: the test may kill it with its
	 * tracer, as a service's cgroup is killed */
	setpgid(0, 0);
	target_ranges(iov);
	for (;;) {
		struct pmadv_result res;

		pt_advise(c->target, iov, NRANGES, MADV_COLD, 0, &res);
	}
}

/*
 * A caller SIGKILLed at a random moment of a request, each of the three
 * paths in turn, every other time with its tracer (its process group, as
 * when a service's cgroup is killed or the OOM killer takes both): the
 * target, left to finish our call and return through the frame it was
 * armed with, must have its registers, mask and FPU state as they were.
 */
static void test_caller_killed(void **state)
{
	static const char *const paths[] = { "0", "pm", "loop" };
	const char *env = getenv("PT_CALLER_TRIALS");
	int trials = env ? atoi(env) : 60;
	int killed_tracers = 0;
	unsigned int seed = (unsigned int)time(NULL);
	struct caller_arg c = { 0 };
	char sigblk[64];

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	print_message("seed %u, %d trials\n", seed, trials);
	srand(seed);
	c.target = start_target(sigblk, sizeof(sigblk));
	for (int i = 0; i < trials; i++) {
		bool group = i % 2;
		pid_t caller;
		int st;

		if (!strcmp(paths[i % 3], "pm"))
			unsetenv("PMADV_PTRACE_FAST");
		else
			setenv("PMADV_PTRACE_FAST", paths[i % 3], 1);
		caller = pt_fork(looping_caller, &c);
		assert_true(caller > 0);
		if (group) {
			/* a tracer to kill with it: once there is one (a
			 * caller under emulation takes long to start) */
			pid_t tr[8];

			for (double end = pt_now() + 10;
			     !tracers_of(caller, tr, 8) && pt_now() < end;)
				usleep(200);
			usleep((useconds_t)(rand() % 20000));
		} else {
			usleep((useconds_t)(rand() % 40000));
		}
		if (group) {
			/* the tracer left the group (setsid): its caller's
			 * children, as a cgroup kill or the OOM killer
			 * (which kills every process of the victim's
			 * memory) would take them */
			pid_t tr[8];
			int n = tracers_of(caller, tr, 8);

			for (int k = 0; k < n; k++)
				kill(tr[k], SIGKILL);
			killed_tracers += n;
		}
		kill(group ? -caller : caller, SIGKILL);
		if (group)
			kill(caller, SIGKILL); /* killed before its setpgid */
		assert_int_equal(waitpid(caller, &st, 0), caller);
		assert_true(WIFSIGNALED(st));
		assert_target_fine(c.target, sigblk, 10);
	}
	unsetenv("PMADV_PTRACE_FAST");
	print_message("%d tracers killed with their callers\n",
		      killed_tracers);
	/* most kills land in a request, with a tracer to kill */
	assert_true(killed_tracers >= trials / 4);
	pt_kill(c.target);
	last_target = 0;
}

/* The loop's tail does not wait for the tracer: it returns through the
 * frame each time, and the tracer finds the target back in its own code. */
static void test_loop_returns_by_itself(void **state)
{
	static struct iovec iov[NRANGES];
	char sigblk[64];
	pid_t t;
	struct pt_log log;
	int returned;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	t = start_target(sigblk, sizeof(sigblk));
	target_ranges(iov);
	setenv("PMADV_PTRACE_FAST", "loop", 1);
	setenv("PMADV_PTRACE_LINGER_US", "0", 1);
	/* the decision log says where the tracer found it */
	pt_log_begin(&log);
	for (int i = 0; i < 20; i++) {
		struct pmadv_result res;

		assert_int_equal(pt_advise(t, iov, NRANGES, MADV_PAGEOUT, 0,
					   &res),
				 (ssize_t)NRANGES * PAGE);
	}
	returned = pt_log_end(&log, "returned through its frame");
	unsetenv("PMADV_PTRACE_LINGER_US");
	unsetenv("PMADV_PTRACE_FAST");
	print_message("%d of 20 requests found it back in its own code\n",
		      returned);
	assert_true(returned > 0);
	assert_target_fine(t, sigblk, 2);
	pt_kill(t);
	last_target = 0;
}

/*
 * A target asleep in nanosleep (1 s at a time, restarted through the
 * restart block) while
 * the caller, and so its tracer, is stopped for 300 ms just as the madvise
 * loop reaches its tail: the tail waits for the tracer (2 s for such a
 * thread) instead of returning through its frame, which would have given
 * nanosleep EINTR although the tracer lives.
 */
static void sleeper_target(void *arg)
{
	size_t len = 2 * NRANGES * PAGE;
	unsigned char *a = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)arg;
	if (a == MAP_FAILED)
		_exit(1);
	for (size_t i = 0; i < NRANGES; i++) {
		a[2 * i * PAGE] = 1;
		if (mprotect(a + (2 * i + 1) * PAGE, PAGE, PROT_NONE) < 0)
			_exit(1);
	}
	sh->base = (uintptr_t)a;
	for (;;) {
		struct timespec ts = { 1, 0 };

		atomic_fetch_add(&sh->rounds, 1);
		if (nanosleep(&ts, NULL) < 0)
			atomic_fetch_add(&sh->errors, 1); /* EINTR */
	}
}

/* One request over the target's ranges, in a process group of its own. */
static void one_request_caller(void *arg)
{
	struct caller_arg *c = arg;
	static struct iovec iov[NRANGES];
	struct pmadv_result res;

	setpgid(0, 0);
	target_ranges(iov);
	_exit(pt_advise(c->target, iov, NRANGES, MADV_COLD, 0, &res) ==
			      (ssize_t)NRANGES * PAGE
		      ? 0
		      : 1);
}

#ifdef __aarch64__
#define LINGER_NR 72
#else
#define LINGER_NR 23
#endif

static void test_stopped_caller_keeps_restart(void **state)
{
	struct caller_arg c = { 0 };
	char sigblk[64];
	int caught = 0;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	c.target = start_target_fn(sleeper_target, sigblk, sizeof(sigblk));
	setenv("PMADV_PTRACE_FAST", "loop", 1);
	for (int i = 0; i < 30 && caught < 3; i++) {
		pid_t caller = pt_fork(one_request_caller, &c);
		double end = pt_now() + 3;
		int st;

		assert_true(caller > 0);
		/* the tail's select (x86_64: 23; aarch64: pselect6, 72) */
		while (pt_syscall_of(c.target) != LINGER_NR &&
		       pt_now() < end && waitpid(caller, &st, WNOHANG) == 0)
			;
		if (pt_syscall_of(c.target) == LINGER_NR) {
			kill(-caller, SIGSTOP);
			usleep(300000);
			kill(-caller, SIGCONT);
			caught++;
		}
		/* the caller ends its request normally: its tracer lives */
		if (waitpid(caller, &st, 0) == caller)
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	unsetenv("PMADV_PTRACE_FAST");
	print_message("stopped the caller at the loop's tail %d times\n",
		      caught);
	assert_true(caught >= 1);
	assert_target_fine(c.target, sigblk, 10);
	assert_int_equal(atomic_load(&sh->errors), 0);
	pt_kill(c.target);
	last_target = 0;
}

/* ---- a stuck injected call, then a caller that exits ---- */

/* The slow range: its pages, and how long each fault waits for its
 * answer (set before the target starts; it inherits them). */
static size_t uffd_pages = 2;
static int uffd_delay_ms = 1200;

static int uffd;

/* Answers each fault on the registered range after uffd_delay_ms, with a
 * page of 0xab. */
static void *slow_fault_handler(void *arg)
{
	static unsigned char page[PAGE] __attribute__((aligned(PAGE)));

	(void)arg;
	memset(page, 0xab, PAGE);
	for (;;) {
		struct uffd_msg m;
		struct uffdio_copy c;

		if (read(uffd, &m, sizeof(m)) != (ssize_t)sizeof(m) ||
		    m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		usleep((useconds_t)uffd_delay_ms * 1000);
		c = (struct uffdio_copy){
			.dst = m.arg.pagefault.address & ~(uint64_t)(PAGE - 1),
			.src = (uintptr_t)page,
			.len = PAGE,
		};
		if (ioctl(uffd, UFFDIO_COPY, &c) == 0)
			atomic_fetch_add(&sh->served, 1);
	}
	return NULL;
}

static void uffd_target(void *arg)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	unsigned char *r, own[64 * 1024];
	uint64_t want;
	double fwant;
	pthread_t th;

	(void)arg;
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	r = mmap(NULL, uffd_pages * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || r == MAP_FAILED)
		_exit(1);
	reg = (struct uffdio_register){
		.range = { (uintptr_t)r, uffd_pages * PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) ||
	    pthread_create(&th, NULL, slow_fault_handler, NULL))
		_exit(1);
	memset(own, 7, sizeof(own));
	want = fnv(own, sizeof(own));
	fwant = fsum();
	sh->base = (uintptr_t)r;
	for (;;) {
		if (fnv(own, sizeof(own)) != want || fsum() != fwant)
			atomic_fetch_add(&sh->errors, 1);
		if (atomic_load(&sh->verify) == 1) {
			for (size_t i = 0; i < uffd_pages * PAGE; i++)
				if (r[i] != 0xab) {
					atomic_fetch_add(&sh->errors, 1000);
					break;
				}
			atomic_store(&sh->verify, 2);
		}
		atomic_fetch_add(&sh->rounds, 1);
	}
}

/* Whether the kernel knows MADV_POPULATE_READ (5.14+), asked of madvise(2):
 * a zero-length call is 0 for known advice, EINVAL for any other. */
static bool kernel_populate_read(void)
{
	return madvise(sh, 0, MADV_POPULATE_READ) == 0;
}

/* POPULATE_READ over the slow range with a 300 ms timeout, then exit at
 * once: 0 when the request timed out on time (on a kernel without
 * POPULATE_READ: when it was refused with EINVAL). */
static void impatient_caller(void *arg)
{
	struct caller_arg *c = arg;
	struct iovec iov = { (void *)sh->base, uffd_pages * PAGE };
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	double t0 = pt_now();
	ssize_t r;

	o.methods = PMADV_METHOD_PTRACE;
	o.timeout_ms = 300;
	/* its standard output is the test's pipe (c->mode) */
	if (dup2(c->mode, STDOUT_FILENO) < 0 || pmadv_open(c->target, 0, &t) < 0)
		_exit(2);
	r = pmadv_advise(t, &iov, 1, MADV_POPULATE_READ, &o, NULL);
	if (r != (kernel_populate_read() ? -ETIMEDOUT : -EINVAL)) {
		fprintf(stderr, "request: %zd\n", r);
		_exit(3);
	}
	if (pt_now() - t0 > 1.0) {
		fprintf(stderr, "ETIMEDOUT after %.2f s\n", pt_now() - t0);
		_exit(4);
	}
	_exit(0); /* without pmadv_close: the caller is gone */
}

/* Whether the target is still traced (by the tracer of a caller gone). */
static int tracer_alive(void)
{
	char line[64];

	status_line(last_target, "TracerPid:", line, sizeof(line));
	return strcmp(line, "TracerPid:\t0") != 0;
}

static void test_stuck_call_caller_exits(void **state)
{
	struct caller_arg c = { 0 };
	char sigblk[64];
	int out[2];
	char b;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	uffd_pages = 2;
	uffd_delay_ms = 1200;
	c.target = start_target_fn(uffd_target, sigblk, sizeof(sigblk));
	assert_int_equal(pipe(out), 0);
	c.mode = out[1];
	run_caller_ok(impatient_caller, &c, out[1]);
	if (!kernel_populate_read()) {
		/* No advice the rung injects can wait on a fault before
		 * 5.14: the request was refused at once (EINVAL), and the
		 * target is left as found, untraced. */
		print_message("MADV_POPULATE_READ: not on this kernel: "
			      "refused, nothing stuck\n");
		assert_int_equal(pt_read_full(out[0], &b, 1, 1000), 0);
		close(out[0]);
		assert_target_fine(c.target, sigblk, 5);
		assert_false(tracer_alive());
		assert_int_equal(atomic_load(&sh->errors), 0);
		pt_kill(c.target);
		last_target = 0;
		return;
	}
	/* The tracer, still in the stuck call, holds none of the caller's
	 * fds: whoever reads the caller's output sees its end now (a shell's
	 * $(pmadvise ...) waited for the stuck call). */
	assert_true(tracer_alive()); /* still stuck: the point of the test */
	assert_int_equal(pt_read_full(out[0], &b, 1, 1000), 0);
	close(out[0]);
	/* the fault is answered after uffd_delay_ms a page; then the tracer,
	 * alone, restores the target */
	assert_target_fine(c.target, sigblk,
			   (double)uffd_pages * uffd_delay_ms / 1000.0 + 5);
	atomic_store(&sh->verify, 1);
	for (double end = pt_now() + 5;
	     atomic_load(&sh->verify) != 2 && pt_now() < end;)
		usleep(1000);
	assert_int_equal(atomic_load(&sh->verify), 2);
	assert_int_equal(atomic_load(&sh->errors), 0);
	pt_kill(c.target);
	last_target = 0;
}

/* ---- a caller killed mid-batch: its tracer lets go within 16 calls ---- */

#define LETGO_PAGES 200

/* One injected MADV_POPULATE_READ per page of the slow range (each call
 * waits uffd_delay_ms on its fault). Exits 0 only where the kernel has no
 * POPULATE_READ and the request was refused; else it is killed first. */
static void batch_caller(void *arg)
{
	struct caller_arg *c = arg;
	static struct iovec iov[LETGO_PAGES];
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	ssize_t r;

	setenv("PMADV_PTRACE_FAST", "0", 1);
	for (size_t i = 0; i < LETGO_PAGES; i++)
		iov[i] = (struct iovec){ (void *)(sh->base + i * PAGE), PAGE };
	o.methods = PMADV_METHOD_PTRACE;
	o.timeout_ms = 60000;
	if (pmadv_open(c->target, 0, &t) < 0)
		_exit(2);
	r = pmadv_advise(t, iov, LETGO_PAGES, MADV_POPULATE_READ, &o, NULL);
	_exit(r == -EINVAL && !kernel_populate_read() ? 0 : 3);
}

/*
 * The caller alone is SIGKILLed while its tracer works through a batch of
 * 200 one-page requests that wait 20 ms each on the target's fault
 * handler. The tracer checks for its caller every 16 injected calls: the
 * target's handler answers at most 17 more faults after the kill (the
 * call in flight and 16), not the rest of the batch, and the target is
 * left untraced and intact.
 */
static void test_caller_killed_mid_batch(void **state)
{
	struct caller_arg c = { 0 };
	char sigblk[64];
	pid_t caller;
	int st, at_kill, after;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	uffd_pages = LETGO_PAGES;
	uffd_delay_ms = 20;
	c.target = start_target_fn(uffd_target, sigblk, sizeof(sigblk));
	caller = pt_fork(batch_caller, &c);
	if (!kernel_populate_read()) {
		print_message("MADV_POPULATE_READ: not on this kernel: "
			      "unavailable, refused\n");
		assert_int_equal(waitpid(caller, &st, 0), caller);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		assert_target_fine(c.target, sigblk, 5);
		pt_kill(c.target);
		last_target = 0;
		return;
	}
	for (double end = pt_now() + 30;
	     atomic_load(&sh->served) < 10 && pt_now() < end;)
		usleep(1000);
	assert_true(atomic_load(&sh->served) >= 10);
	kill(caller, SIGKILL); /* not its tracer, in a session of its own */
	at_kill = atomic_load(&sh->served);
	assert_int_equal(waitpid(caller, &st, 0), caller);
	assert_true(WIFSIGNALED(st));
	assert_target_fine(c.target, sigblk, 30);
	after = atomic_load(&sh->served);
	print_message("caller killed after %d of %d calls; %d more calls "
		      "before its tracer let go\n",
		      at_kill, LETGO_PAGES, after - at_kill);
	assert_true(after - at_kill <= 17);
	pt_kill(c.target);
	last_target = 0;
}

/* ---- several threads of one caller on one target ---- */

struct turn_arg {
	pid_t target;
	atomic_int bad;
};

static void *turn_taker(void *arg)
{
	struct turn_arg *t = arg;
	struct iovec iov[NRANGES];

	target_ranges(iov);
	for (int i = 0; i < 30; i++) {
		struct pmadv_result res;
		size_t n = i % 2 ? 3 : 200;

		ssize_t ret = pt_advise(t->target, iov, n, MADV_COLD, 0, &res);

		if (ret != (ssize_t)(n * PAGE)) {
			print_message("request %d of a thread, %zu ranges: %zd "
				      "(%s)\n", i, n, ret,
				      ret < 0 ? strerror((int)-ret) : "short");
			atomic_fetch_add(&t->bad, 1);
		}
	}
	return NULL;
}

/* 120 requests from 4 threads: served one after another, none EBUSY. */
static void test_threads_take_turns(void **state)
{
	struct turn_arg t = { 0 };
	char sigblk[64];
	pthread_t th[4];

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	t.target = start_target(sigblk, sizeof(sigblk));
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, turn_taker, &t),
				 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&t.bad), 0);
	assert_target_fine(t.target, sigblk, 2);
	pt_kill(t.target);
	last_target = 0;
}

/* ---- kept tracers: reused by the same thread, never beyond it ---- */

/* Waits up to secs for pid's tracers to number want; the number then. */
static int tracers_become(pid_t pid, int want, double secs)
{
	pid_t t[8];
	int n;

	for (double end = pt_now() + secs;
	     (n = tracers_of(pid, t, 8)) != want && pt_now() < end;)
		usleep(2000);
	return n;
}

static bool advise_two(pid_t target)
{
	struct iovec iov[NRANGES];

	target_ranges(iov);
	return pt_advise(target, iov, 2, MADV_COLD, 0, NULL) == 2 * PAGE;
}

/* Exited within secs (a zombie: reparented, it waits for init). */
static bool pid_gone(pid_t pid, double secs)
{
	for (double end = pt_now() + secs; pt_now() < end; usleep(2000)) {
		char st = pmtest_state(pid, 0);

		if (!st || st == 'Z' || st == 'X')
			return true;
	}
	return false;
}

static void *other_thread(void *arg)
{
	return (void *)(intptr_t)advise_two(*(pid_t *)arg);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Kept tracers killed at any moment: idle, claimed but not yet told to
 * go, attaching, mid-request, letting go (a cgroup-wide kill or the OOM
 * killer taking a daemon's helpers). One thread makes one-range requests
 * while another SIGKILLs the tracer it finds at random intervals of up to
 * twice the last request's time (slower under TCG or load). Each
 * request answers within its timeout with success, or EIO when its tracer
 * died under it: never a hang, EBUSY (a turn left taken), ETIMEDOUT or
 * ESRCH; the target is fine after, and the next request without the
 * killer succeeds.
 */
struct killer {
	pid_t self;
	atomic_uint max_us; /* the longest pause between kills: twice the
			     * last request's time */
	atomic_int stop, kills;
};

static void *tracer_killer(void *arg)
{
	struct killer *k = arg;
	unsigned int seed = 12345;

	while (!atomic_load(&k->stop)) {
		pid_t t[8];
		int n = tracers_of(k->self, t, 8);

		if (n > 0 && kill(t[rand_r(&seed) % (unsigned int)n],
				  SIGKILL) == 0)
			atomic_fetch_add(&k->kills, 1);
		usleep(rand_r(&seed) % atomic_load(&k->max_us));
	}
	return NULL;
}

static void test_kept_tracer_killed_anytime(void **state)
{
	struct killer k = { .self = getpid() };
	int rounds = getenv("PT_KILLS") ? atoi(getenv("PT_KILLS")) : 300;
	int ok = 0, eio = 0;
	char sigblk[64];
	struct iovec iov[NRANGES];
	pthread_t th;
	pid_t target;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	target = start_target(sigblk, sizeof(sigblk));
	target_ranges(iov);
	{
		double took[5];

		for (int i = 0; i < 5; i++) {
			double t0 = pt_now();

			assert_true(advise_two(target));
			took[i] = pt_now() - t0;
		}
		qsort(took, 5, sizeof(took[0]), cmp_double);
		atomic_store(&k.max_us, (unsigned int)(2e6 * took[2]) + 1);
	}
	assert_int_equal(pthread_create(&th, NULL, tracer_killer, &k), 0);
	for (int i = 0; i < rounds; i++) {
		struct pmadv_opts o = PMADV_OPTS_INIT;
		struct pmadv_target *t;
		double t0 = pt_now();
		ssize_t r;

		assert_int_equal(pmadv_open(target, 0, &t), 0);
		o.methods = PMADV_METHOD_PTRACE;
		o.timeout_ms = 2000;
		r = pmadv_advise(t, iov, 1, MADV_COLD, &o, NULL);
		pmadv_close(t);
		if (r == PAGE) {
			ok++;
			atomic_store(&k.max_us, (unsigned int)(2e6 * (pt_now() -
								   t0)) + 1);
		}
		else if (r == -EIO)
			eio++;
		else
			fail_msg("request %d: %zd (%s)", i, r,
				 r < 0 ? strerror((int)-r) : "short");
		if (pt_now() - t0 > 4)
			fail_msg("request %d took %.1f s", i, pt_now() - t0);
	}
	atomic_store(&k.stop, 1);
	pthread_join(th, NULL);
	print_message("%d requests: %d served, %d EIO, %d tracers killed "
		      "(pauses up to %u us at the end)\n", rounds, ok, eio,
		      atomic_load(&k.kills), atomic_load(&k.max_us));
	assert_true(atomic_load(&k.kills) >= rounds / 10);
	assert_target_fine(target, sigblk, 2);
	assert_true(advise_two(target));
	assert_target_fine(target, sigblk, 2);
	pt_kill(target);
	last_target = 0;
}

/*
 * A real-time caller (lmkd runs SCHED_FIFO) shares one CPU with its
 * target. Its tracer inherits the policy, and a real-time task that
 * yields hands the CPU only to tasks of its own priority: had the tracer
 * or the caller spun waiting for the target (an ordinary task), the
 * target would not run until the spin ran out. The target sleeps between
 * rounds (a busy one would hold the CPU against the ordinary caller).
 * The same requests from an ordinary thread on that CPU, then from a
 * SCHED_FIFO one, then from one that made its first request under
 * SCHED_FIFO and the rest as an ordinary thread (a tracer kept from the
 * first would have been real-time and spun: a kept tracer serves only
 * the policy, priority and CPUs it started with): each median at most 5
 * times the first, the target fine after. (This guards against the
 * spin, 34 times the ordinary caller's request when it was found; it is
 * no speed target. A real-time tracer naps while the target runs, which
 * costs it 2 to 3.3 times the ordinary request on a 2-vCPU machine since
 * the ordinary one got faster in 0.2: the bound was 3 and failed a CI
 * run at 3.04.) Last, a SCHED_DEADLINE thread,
 * which the kernel lets create no process, is refused at once (EAGAIN)
 * and pmadv_diagnose says why.
 */
struct rt_run {
	pid_t target;
	int cpu, first, policy; /* the first request's policy, the rest's */
	double median;
	bool ok;
};

static void *rt_thread(void *arg)
{
	struct rt_run *r = arg;
	struct sched_param sp = { .sched_priority =
					  r->first == SCHED_FIFO ? 10 : 0 };
	double took[41];
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(r->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0 ||
	    pthread_setschedparam(pthread_self(), r->first, &sp) != 0)
		return NULL;
	r->ok = advise_two(r->target); /* its tracer starts: not counted */
	sp.sched_priority = r->policy == SCHED_FIFO ? 10 : 0;
	if (pthread_setschedparam(pthread_self(), r->policy, &sp) != 0)
		return NULL;
	for (int i = 0; r->ok && i < 41; i++) {
		double t0 = pt_now();

		r->ok = advise_two(r->target);
		took[i] = pt_now() - t0;
	}
	qsort(took, 41, sizeof(took[0]), cmp_double);
	r->median = took[20];
	return r;
}

struct sched_attr_dl {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static void *deadline_thread(void *arg)
{
	struct rt_run *r = arg;
	struct sched_attr_dl a = { sizeof(a), 6 /* SCHED_DEADLINE */, 0, 0, 0,
				   2000000, 10000000, 10000000 };
	struct pmadv_target *t;
	char msg[512];
	double t0;

	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) {
		print_message("sched_setattr(SCHED_DEADLINE): %s\n",
			      strerror(errno));
		return NULL;
	}
	{
		struct iovec iov[NRANGES];
		ssize_t ret;
		int d;

		target_ranges(iov);
		t0 = pt_now();
		ret = pt_advise(r->target, iov, 2, MADV_COLD, 0, NULL);
		r->median = pt_now() - t0;
		if (pmadv_open(r->target, 0, &t) < 0)
			return NULL;
		msg[0] = '\0';
		d = pmadv_diagnose(t, MADV_COLD, PMADV_METHOD_PTRACE, msg,
				   sizeof(msg));
		print_message("SCHED_DEADLINE caller: %zd, diagnosis %d: %s\n",
			      ret, d, msg);
		r->ok = ret == -EAGAIN && d == -EAGAIN &&
			strstr(msg, "SCHED_DEADLINE");
	}
	pmadv_close(t);
	return r;
}

static void test_realtime_caller(void **state)
{
	char sigblk[64];
	struct rt_run r[4];
	pthread_t th;
	cpu_set_t set;
	pid_t target;
	void *ok;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root (SCHED_FIFO)");
	target = start_target_fn(sleepy_target, sigblk, sizeof(sigblk));
	CPU_ZERO(&set);
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		r[0] = (struct rt_run){ target, c, SCHED_OTHER, SCHED_OTHER,
					0, false };
		break;
	}
	r[1] = r[2] = r[3] = r[0];
	r[1].first = r[1].policy = SCHED_FIFO;
	r[2].first = SCHED_FIFO;
	CPU_ZERO(&set);
	CPU_SET(r[0].cpu, &set);
	assert_int_equal(sched_setaffinity(target, sizeof(set), &set), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_create(&th, NULL, rt_thread, &r[i]),
				 0);
		pthread_join(th, &ok);
		assert_true(ok != NULL);
		assert_true(r[i].ok);
	}
	print_message("one CPU: ordinary caller %.0f us, SCHED_FIFO caller "
		      "%.0f us, SCHED_FIFO then ordinary %.0f us a request "
		      "(medians)\n", r[0].median * 1e6, r[1].median * 1e6,
		      r[2].median * 1e6);
	assert_true(r[1].median <= 5 * r[0].median);
	assert_true(r[2].median <= 5 * r[0].median);
	assert_int_equal(pthread_create(&th, NULL, deadline_thread, &r[3]), 0);
	pthread_join(th, &ok);
	assert_true(ok != NULL);
	assert_true(r[3].ok);
	assert_true(r[3].median < 1);
	assert_target_fine(target, sigblk, 2);
	pt_kill(target);
	last_target = 0;
}

/*
 * The tracer stays after a request, idle and untracing, for the next
 * request of the same thread; another thread gets its own; it exits after
 * PMADV_PTRACE_KEEP_MS, at once with 0, and a kept tracer killed while
 * idle costs the next request nothing but a fresh start.
 */
static void test_kept_tracer(void **state)
{
	char sigblk[64];
	pid_t target, t1[8], t2[8], self = getpid();
	pthread_t th;
	void *ok;
	double t0;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	target = start_target(sigblk, sizeof(sigblk));
	/* those kept by the last test's threads went with them */
	assert_int_equal(tracers_become(self, 0, 1), 0);
	setenv("PMADV_PTRACE_KEEP_MS", "1500", 1);
	assert_true(advise_two(target));
	assert_int_equal(tracers_of(self, t1, 8), 1);
	assert_true(advise_two(target));
	assert_int_equal(tracers_of(self, t2, 8), 1);
	assert_int_equal(t2[0], t1[0]); /* the same one served */
	assert_target_fine(target, sigblk, 2);
	/* another thread: a tracer of its own, the first one stays */
	assert_int_equal(pthread_create(&th, NULL, other_thread, &target), 0);
	pthread_join(th, &ok);
	assert_true(ok != NULL);
	/* the thread's went with it; ours, idle too long, after it */
	assert_int_equal(tracers_become(self, 1, 0.3), 1);
	assert_int_equal(tracers_of(self, t2, 8), 1);
	assert_int_equal(t2[0], t1[0]);
	assert_int_equal(tracers_become(self, 0, 3), 0);
	/* a kept one killed while idle: the next request starts afresh */
	assert_true(advise_two(target));
	assert_int_equal(tracers_of(self, t1, 8), 1);
	kill(t1[0], SIGKILL);
	assert_true(pid_gone(t1[0], 2));
	t0 = pt_now();
	assert_true(advise_two(target));
	assert_true(pt_now() - t0 < 1);
	assert_int_equal(tracers_of(self, t2, 8), 1);
	assert_int_not_equal(t2[0], t1[0]);
	/* 0: none stays; nor with a value that does not read as a number
	 * (an opt-out must not fail open) */
	for (int i = 0; i < 4; i++) {
		static const char *const off[] = { "0", "0 ", "no", "-1" };

		setenv("PMADV_PTRACE_KEEP_MS", off[i], 1);
		assert_true(advise_two(target));
		if (tracers_become(self, 0, 0.5) != 0)
			fail_msg("PMADV_PTRACE_KEEP_MS=\"%s\" kept one", off[i]);
	}
	unsetenv("PMADV_PTRACE_KEEP_MS");
	assert_target_fine(target, sigblk, 2);
	pt_kill(target);
	last_target = 0;
}

struct cap_hdr {
	uint32_t version;
	int pid;
};

/* CAP_SETGID out of this thread's effective set (a caller process's),
 * or its exit with 11 or 12. */
static void drop_setgid_cap(void)
{
	struct cap_hdr h = { 0x20080522, 0 };
	uint32_t d[6];

	if (syscall(SYS_capget, &h, d) < 0)
		_exit(11);
	d[0] &= ~(1U << 6);
	if (syscall(SYS_capset, &h, d) < 0)
		_exit(12);
}

/* A caller process that keeps a tracer, then (by mode) 0: drops a
 * capability from its effective set and asks again; 1: forks, and its
 * child asks; 2: exits; 3 (its first request made under a filter that
 * refuses only vhangup): takes on a second filter that refuses ptrace,
 * and asks again, which must fail; 4: under a filter that refuses
 * getppid (which its tracers inherit), asks again. Writes the tracers it
 * saw to fd out. */
struct kept_arg {
	pid_t target;
	int mode, out;
};

static void kept_caller(void *arg)
{
	struct kept_arg *k = arg;
	pid_t t[2] = { 0, 0 }, seen[8];
	pid_t child;
	int st;

	setenv("PMADV_PTRACE_KEEP_MS", "10000", 1);
	if (k->mode >= 3 &&
	    pmtest_seccomp_errno(k->mode == 3 ? SYS_vhangup : SYS_getppid,
				 EPERM, false, 0) < 0)
		_exit(18);
	if (!advise_two(k->target) || tracers_of(getpid(), seen, 8) != 1)
		_exit(10);
	t[0] = seen[0];
	if (k->mode == 3) {
		/* the seccomp mode stays 2: only the refusal tells */
		if (pmtest_seccomp_errno(SYS_ptrace, EPERM, false, 0) < 0)
			_exit(19);
		if (advise_two(k->target))
			_exit(20); /* done by the tracer of before */
		t[1] = tracers_of(getpid(), seen, 8) ? seen[0] : 0;
	} else if (k->mode == 4) {
		usleep(300000); /* past a few of its looks at its caller */
		if (!advise_two(k->target) ||
		    tracers_of(getpid(), seen, 8) != 1)
			_exit(21);
		t[1] = seen[0];
	}
	if (k->mode == 0) {
		drop_setgid_cap();
		if (!advise_two(k->target) ||
		    tracers_of(getpid(), seen, 8) != 1)
			_exit(13);
		t[1] = seen[0];
	} else if (k->mode == 1) {
		child = fork();
		if (child == 0) {
			/* the parent's kept tracer is not the child's */
			_exit(advise_two(k->target) &&
					      tracers_of(getpid(), seen, 8) == 1
				      ? 0
				      : 14);
		}
		if (child < 0 || waitpid(child, &st, 0) != child ||
		    !WIFEXITED(st) || WEXITSTATUS(st))
			_exit(15);
		if (tracers_of(getpid(), seen, 8) != 1)
			_exit(16);
		t[1] = seen[0]; /* ours, still there */
	}
	if (write(k->out, t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(17);
	_exit(0);
}

static void run_kept(int mode, pid_t t[2])
{
	struct kept_arg k = { .mode = mode };
	char sigblk[64];
	int p[2];

	k.target = start_target(sigblk, sizeof(sigblk));
	assert_int_equal(pipe(p), 0);
	k.out = p[1];
	run_caller_ok(kept_caller, &k, p[1]);
	assert_int_equal(pt_read_full(p[0], t, 2 * sizeof(pid_t), 1000),
			 2 * sizeof(pid_t));
	close(p[0]);
	assert_target_fine(k.target, sigblk, 2);
	pt_kill(k.target);
	last_target = 0;
}

/* A thread whose credentials changed, or that took on a seccomp filter
 * refusing ptrace, is not served by the tracer it started before; a fork's
 * child gets its own; a caller that exits takes its kept tracer with it. */
static void test_kept_tracer_bounds(void **state)
{
	pid_t t[2];

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	run_kept(0, t);
	assert_int_not_equal(t[1], t[0]);
	assert_true(pid_gone(t[0], 1)); /* let go, not left behind */
	assert_true(pid_gone(t[1], 1)); /* with its caller */
	run_kept(1, t);
	assert_int_equal(t[1], t[0]);
	assert_true(pid_gone(t[0], 1));
	run_kept(2, t);
	assert_true(pid_gone(t[0], 1));
	run_kept(3, t);
	assert_int_not_equal(t[1], t[0]);
	assert_true(pid_gone(t[0], 1));
	/* a caller's filter that refuses getppid does not make its tracer
	 * take it for gone */
	run_kept(4, t);
	assert_int_equal(t[1], t[0]);
}

/* ---- a kept tracer stopped, a requesting thread cancelled ---- */

/* A caller process whose kept tracer is stopped (SIGSTOP, as a debugger
 * or a stray signal would): mode 0: requests again; 1: drops a capability
 * (the claim retires the stopped tracer) and requests; 2: exits with
 * exit(3) (the destructor retires it). Each must be prompt. */
static void stopped_kept_caller(void *arg)
{
	struct kept_arg *k = arg;
	pid_t seen[8];
	double t0;

	setenv("PMADV_PTRACE_KEEP_MS", "10000", 1);
	if (!advise_two(k->target) || tracers_of(getpid(), seen, 8) != 1)
		_exit(10);
	kill(seen[0], SIGSTOP);
	usleep(20000);
	if (k->mode == 2)
		exit(0); /* the test times it */
	if (k->mode == 1)
		drop_setgid_cap();
	for (int i = 0; i < 3; i++) {
		t0 = pt_now();
		if (!advise_two(k->target))
			_exit(20 + i);
		if (pt_now() - t0 > 1)
			_exit(30 + i);
	}
	kill(seen[0], SIGCONT);
	_exit(0);
}

/* A stopped kept tracer costs the next request at most its 100 ms wait
 * for an answer (then a fresh tracer serves it), and neither a change of
 * credentials nor exit(3) waits for it. */
static void test_kept_tracer_stopped(void **state)
{
	struct kept_arg k = { 0 };
	char sigblk[64];
	pid_t caller;
	double t0;
	int st;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	k.target = start_target(sigblk, sizeof(sigblk));
	for (k.mode = 0; k.mode < 3; k.mode++) {
		t0 = pt_now();
		caller = pt_fork(stopped_kept_caller, &k);
		assert_true(caller > 0);
		assert_int_equal(waitpid(caller, &st, 0), caller);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail_msg("mode %d: status %#x", k.mode, st);
		assert_true(pt_now() - t0 < 5);
		assert_target_fine(k.target, sigblk, 2);
	}
	pt_kill(k.target);
	last_target = 0;
}

static void *cancelled_requester(void *arg)
{
	for (;;)
		advise_two(*(pid_t *)arg);
	return NULL;
}

/* Threads cancelled at random moments of their requests: none leaves the
 * target's turn, or a lock, taken (pmadv_advise is not a cancellation
 * point): a request after them is served at once. */
static void test_cancelled_requests(void **state)
{
	unsigned int seed = (unsigned int)time(NULL);
	char sigblk[64];
	pid_t target;
	double t0;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
#if defined(__SANITIZE_ADDRESS__)
	/* A cancelled thread's exit is reported as a stack-buffer-overflow
	 * in ASan's own sigaltstack call (google/sanitizers#1399), with or
	 * without this library: the plain build runs this case. */
	print_message("pthread_cancel under AddressSanitizer: a false "
		      "positive of ASan's; run by the plain build\n");
	skip();
#endif
	target = start_target(sigblk, sizeof(sigblk));
	print_message("seed %u\n", seed);
	/* two at a time: one of them often waits for the other's turn */
	for (int i = 0; i < 100; i++) {
		pthread_t th[2];

		for (int j = 0; j < 2; j++)
			assert_int_equal(pthread_create(&th[j], NULL,
							cancelled_requester,
							&target),
					 0);
		usleep(1000 + rand_r(&seed) % 10000);
		for (int j = 0; j < 2; j++) {
			pthread_cancel(th[j]);
			pthread_join(th[j], NULL);
		}
	}
	t0 = pt_now();
	assert_true(advise_two(target));
	assert_true(pt_now() - t0 < 2);
	assert_target_fine(target, sigblk, 2);
	pt_kill(target);
	last_target = 0;
}

/* ---- a thread whose stack is the top of a larger mapping ---- */

#define SS_MAP (64 * 1024)
#define SS_STACK (16 * 1024)

static unsigned char *ss_map;

/* A mapping of len bytes whose first below hold a pattern (the child
 * exits where it cannot map one). */
static unsigned char *patterned_map(size_t len, size_t below)
{
	unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		_exit(1);
	for (size_t i = 0; i < below; i++)
		m[i] = (unsigned char)(i * 7);
	return m;
}

/* Checks that pattern for ever: a round at a time, an error a byte. */
static void check_pattern(const unsigned char *m, size_t below)
{
	for (;;) {
		for (size_t i = 0; i < below; i++)
			if (m[i] != (unsigned char)(i * 7))
				atomic_fetch_add(&sh->errors, 1);
		atomic_fetch_add(&sh->rounds, 1);
	}
}

/* The only thread left (its main thread exited): runs on the top 16 KiB
 * of a 64 KiB mapping whose lower 48 KiB hold a pattern it checks, as a
 * fiber pool, an alternate signal stack in a buffer or glibc's thread
 * stacks without guard pages lay memory out. */
static void *ss_worker(void *arg)
{
	(void)arg;
	check_pattern(ss_map, SS_MAP - SS_STACK);
	return NULL;
}

static void smallstack_target(void *arg)
{
	pthread_attr_t a;
	pthread_t th;

	(void)arg;
	ss_map = patterned_map(SS_MAP, SS_MAP - SS_STACK);
	pthread_attr_init(&a);
	pthread_attr_setstack(&a, ss_map + SS_MAP - SS_STACK, SS_STACK);
	if (pthread_create(&th, &a, ss_worker, NULL))
		_exit(1);
	pthread_exit(NULL);
}

/*
 * Batches through the fast path into that thread: nothing of the rung's
 * may land below the thread's own stack, in memory the mapping does not
 * say is not the stack (0.2's first placement of the vector, 16 KiB below
 * the signal frame, corrupted the pattern and killed such targets).
 */
static void test_small_stack_neighbour(void **state)
{
	static char data[8 * 2 * PAGE] __attribute__((aligned(PAGE)));
	struct iovec iov[8];
	char sigblk[64];
	pid_t target;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	target = start_target_fn(smallstack_target, sigblk, sizeof(sigblk));
	for (int i = 0; i < 8; i++) {
		data[i * 2 * PAGE] = 1; /* the child's copy is its own */
		iov[i] = (struct iovec){ data + i * 2 * PAGE, PAGE };
	}
	for (int r = 0; r < 20; r++) {
		unsigned long r0 = atomic_load(&sh->rounds);

		assert_int_equal(pt_advise(target, iov, 8, MADV_COLD, 0, NULL),
				 8 * PAGE);
		/* its main thread is a zombie: the worker must run on,
		 * its pattern intact */
		for (double end = pt_now() + 5;
		     atomic_load(&sh->rounds) < r0 + 2 && pt_now() < end;)
			usleep(1000);
		assert_true(atomic_load(&sh->rounds) >= r0 + 2);
		assert_int_equal(atomic_load(&sh->errors), 0);
	}
	(void)sigblk;
	pt_kill(target);
	last_target = 0;
}

/* ---- a thread on a tiny stack, every signal blocked ---- */

#define TS_MAP (64 * 1024)
#define TS_STACK 2048

static unsigned char *ts_map;
static ucontext_t ts_back, ts_co;

/* On the last 2 KiB of the mapping: checks the pattern below, which no
 * signal frame can reach, for every signal is blocked (a coroutine's
 * stack carved from a larger buffer). */
static void ts_loop(void)
{
	check_pattern(ts_map, TS_MAP - TS_STACK);
}

static void *ts_worker(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (getcontext(&ts_co) < 0)
		_exit(1);
	ts_co.uc_stack.ss_sp = ts_map + TS_MAP - TS_STACK;
	ts_co.uc_stack.ss_size = TS_STACK;
	ts_co.uc_link = NULL;
	makecontext(&ts_co, ts_loop, 0);
	swapcontext(&ts_back, &ts_co);
	return NULL;
}

static void tinystack_target(void *arg)
{
	pthread_t th;

	(void)arg;
	ts_map = patterned_map(TS_MAP, TS_MAP - TS_STACK);
	if (pthread_create(&th, NULL, ts_worker, NULL))
		_exit(1);
	pthread_exit(NULL);
}

/*
 * Requests on each path into that thread: the rung writes its signal
 * frame (registers and FPU state, 1 to 3 KiB) below the stack pointer,
 * where the thread's 2 KiB stack ends and other data lies. It must put
 * those bytes back before it lets go (a breaker found 1,288 of them
 * changed on x86_64, 2,656 on aarch64).
 */
static void test_tiny_stack_below(void **state)
{
	static char data[4 * 2 * PAGE] __attribute__((aligned(PAGE)));
	static const char *paths[] = { "1", "loop", "0" };
	struct iovec iov[4];
	char sigblk[64];
	pid_t target;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	target = start_target_fn(tinystack_target, sigblk, sizeof(sigblk));
	for (int i = 0; i < 4; i++) {
		data[i * 2 * PAGE] = 1;
		iov[i] = (struct iovec){ data + i * 2 * PAGE, PAGE };
	}
	for (int r = 0; r < 15; r++) {
		unsigned long r0 = atomic_load(&sh->rounds);

		setenv("PMADV_PTRACE_FAST", paths[r % 3], 1);
		assert_int_equal(pt_advise(target, iov, 4, MADV_COLD, 0, NULL),
				 4 * PAGE);
		for (double end = pt_now() + 5;
		     atomic_load(&sh->rounds) < r0 + 2 && pt_now() < end;)
			usleep(1000);
		assert_true(atomic_load(&sh->rounds) >= r0 + 2);
		if (atomic_load(&sh->errors))
			fail_msg("request %d (PMADV_PTRACE_FAST=%s): the bytes "
				 "below the thread's stack changed", r,
				 paths[r % 3]);
	}
	unsetenv("PMADV_PTRACE_FAST");
	(void)sigblk;
	pt_kill(target);
	last_target = 0;
}

/* ---- fork while another thread makes requests ---- */

struct forker_arg {
	pid_t target;
	atomic_int stop;
};

static void sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
}

static void *requester(void *arg)
{
	struct forker_arg *f = arg;

	while (!atomic_load(&f->stop))
		advise_two(f->target);
	return NULL;
}

/*
 * One thread makes requests back to back while another forks: a child may
 * be born while the library's locks are held (the turns, the kept
 * tracers, the instruction hints) by a thread it does not have. Each
 * child's own request must succeed (an alarm ends one that hangs).
 */
static void test_fork_during_requests(void **state)
{
	const char *env = getenv("PT_FORKS");
	int forks = env ? atoi(env) : 300, bad = 0;
	struct forker_arg f = { 0 };
	char sigblk[64];
	pthread_t th;
	pid_t other;
	/* the children's target: another process, which the parent's
	 * requests do not hold (one tracer at a time: EBUSY) */
	static char page[PAGE] __attribute__((aligned(PAGE)));
	struct iovec iov = { page, PAGE };

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	f.target = start_target(sigblk, sizeof(sigblk));
	page[0] = 1;
	other = pt_fork(sleeper, NULL);
	assert_true(other > 0);
	assert_int_equal(pthread_create(&th, NULL, requester, &f), 0);
	for (int i = 0; i < forks; i++) {
		pid_t c = fork();
		int st;

		assert_true(c >= 0);
		if (c == 0) {
			alarm(10);
			_exit(pt_advise(other, &iov, 1, MADV_COLD, 0, NULL) ==
					      PAGE
				      ? 0
				      : 1);
		}
		assert_int_equal(waitpid(c, &st, 0), c);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			if (bad++ < 5)
				print_message("child %d: status %#x\n", i, st);
		}
	}
	atomic_store(&f.stop, 1);
	pthread_join(th, NULL);
	pt_kill(other);
	assert_int_equal(bad, 0);
	assert_target_fine(f.target, sigblk, 2);
	pt_kill(f.target);
	last_target = 0;
}

/* ---- a target thread that takes back fds and mappings ---- */

#define OWN_FDS 8
#define MAX_FD 256

/* Shared with the churning target: what it saw itself do. */
static unsigned char own_fd[MAX_FD];       /* set: the target's own */
static unsigned long known_map[4096];      /* starts of its own mappings */
static int nknown;
static atomic_int listed;                  /* known_map is complete */

static void list_maps(void (*fn)(unsigned long start, unsigned long end))
{
	char buf[1 << 16];
	ssize_t n, got = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	for (char *l = buf; *l; ) {
		char *end;
		unsigned long a = strtoul(l, &end, 16), b;

		if (*end != '-')
			break;
		b = strtoul(end + 1, NULL, 16);
		fn(a, b);
		l = strchr(l, '\n');
		if (!l)
			break;
		l++;
	}
}

static void remember(unsigned long a, unsigned long b)
{
	(void)b;
	if (nknown < 4096)
		known_map[nknown++] = a;
}

static void unmap_stranger(unsigned long a, unsigned long b)
{
	/* a mapping of its own that grew (a stack) holds a known start */
	for (int i = 0; i < nknown; i++)
		if (known_map[i] >= a && known_map[i] < b)
			return;
	munmap((void *)a, b - a);
}

/* Under ASan the target's own runtime maps memory whenever it likes, and
 * unmapping what the churner did not make would kill the target by its own
 * hand: there it takes back fds only. */
#if defined(__SANITIZE_ADDRESS__)
#define UNMAP_STRANGERS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNMAP_STRANGERS 0
#endif
#endif
#ifndef UNMAP_STRANGERS
#define UNMAP_STRANGERS 1
#endif

/* Every fd it did not open is closed and its number taken for a file of
 * its own; every mapping it did not make is unmapped. */
static void *churn(void *arg)
{
	int null = *(int *)arg;

	while (!atomic_load(&listed))
		usleep(1000);
	for (;;) {
		for (int fd = 0; fd < MAX_FD; fd++)
			if (!own_fd[fd] && fcntl(fd, F_GETFD) >= 0 &&
			    dup2(null, fd) == fd)
				own_fd[fd] = 1;
		if (UNMAP_STRANGERS)
			list_maps(unmap_stranger);
		sched_yield();
	}
	return NULL;
}

static void churning_target(void *arg)
{
	struct stat st[OWN_FDS];
	int fds[OWN_FDS], null;
	pthread_t th;

	(void)arg;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < OWN_FDS; i++) {
		fds[i] = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0 || fds[i] >= MAX_FD || fstat(fds[i], &st[i]))
			_exit(1);
	}
	for (int fd = 0; fd < MAX_FD; fd++)
		own_fd[fd] = fcntl(fd, F_GETFD) >= 0;
	/* its own thread's stack too, before the list is taken */
	if (pthread_create(&th, NULL, churn, &null))
		_exit(1);
	list_maps(remember);
	atomic_store(&listed, 1);
	for (;;) {
		/* its own files are still its own */
		for (int i = 0; i < OWN_FDS; i++) {
			struct stat now;

			if (fstat(fds[i], &now) || now.st_ino != st[i].st_ino ||
			    now.st_dev != st[i].st_dev)
				atomic_fetch_add(&sh->errors, 1);
		}
		atomic_fetch_add(&sh->rounds, 1);
		usleep(200);
	}
}

static void test_churning_target(void **state)
{
	static const char *const paths[] = { "0", "pm", "loop" };
	static struct iovec iov[64];
	char sigblk[64], tracer[64];
	unsigned long r0;
	int served = 0;
	pid_t pid;

	(void)state;
	PT_REQUIRE(geteuid() == 0, "needs root");
	pt_kill(last_target);
	memset(sh, 0, sizeof(*sh));
	pid = last_target = pt_fork(churning_target, NULL);
	assert_true(pid > 0);
	for (double end = pt_now() + 10;
	     atomic_load(&sh->rounds) < 2 && pt_now() < end;)
		usleep(1000);
	assert_true(atomic_load(&sh->rounds) >= 2);
	status_line(pid, "SigBlk:", sigblk, sizeof(sigblk));
	/* the pages of the shared block: mapped in the target too */
	for (size_t i = 0; i < 64; i++)
		iov[i] = (struct iovec){ sh, PAGE };
	for (int i = 0; i < 300; i++) {
		struct pmadv_result res;

		if (!strcmp(paths[i % 3], "pm"))
			unsetenv("PMADV_PTRACE_FAST");
		else
			setenv("PMADV_PTRACE_FAST", paths[i % 3], 1);
		/* it may take our scratch area away mid-request: the
		 * request may fail, the target may not */
		if (pt_advise(pid, iov, 64, MADV_COLD, 0, &res) ==
		    64 * PAGE)
			served++;
	}
	unsetenv("PMADV_PTRACE_FAST");
	print_message("%d of 300 requests served\n", served);
	{
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (si.si_pid == pid)
			fail_msg("the target died: code %d status %d",
				 si.si_code, si.si_status);
	}
	assert_true(served > 0);
	status_line(pid, "TracerPid:", tracer, sizeof(tracer));
	assert_string_equal(tracer, "TracerPid:\t0");
	r0 = atomic_load(&sh->rounds);
	for (double end = pt_now() + 10;
	     atomic_load(&sh->rounds) < r0 + 5 && pt_now() < end;)
		usleep(1000);
	assert_int_equal(atomic_load(&sh->errors), 0);
	assert_target_fine(pid, sigblk, 2);
	pt_kill(pid);
	last_target = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reaper_waitpid),
		cmocka_unit_test(test_reaper_waitid_wall),
		cmocka_unit_test(test_caller_killed),
		cmocka_unit_test(test_loop_returns_by_itself),
		cmocka_unit_test(test_stopped_caller_keeps_restart),
		cmocka_unit_test(test_stuck_call_caller_exits),
		cmocka_unit_test(test_caller_killed_mid_batch),
		cmocka_unit_test(test_threads_take_turns),
		cmocka_unit_test(test_kept_tracer),
		cmocka_unit_test(test_kept_tracer_bounds),
		cmocka_unit_test(test_kept_tracer_stopped),
		cmocka_unit_test(test_cancelled_requests),
		cmocka_unit_test(test_fork_during_requests),
		cmocka_unit_test(test_small_stack_neighbour),
		cmocka_unit_test(test_tiny_stack_below),
		cmocka_unit_test(test_churning_target),
		cmocka_unit_test(test_kept_tracer_killed_anytime),
		cmocka_unit_test(test_realtime_caller),
	};

	sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	alarm(600); /* a hang fails the test instead of the CI job */
	/* PT_FILTER=test_caller_killed runs one test (cmocka glob) */
	if (getenv("PT_FILTER"))
		cmocka_set_test_filter(getenv("PT_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
