// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Real programs no one here wrote (python3, perl, sh, sleep), run once alone
 * and once under 1,000 injections through the ptrace rung: their output
 * must be byte-identical and their exit status the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ptest.h"

/* 1,000 by default; PT_PROGRAMS_N lowers it where time is scarce (the
 * VM suite under TCG). */
static int injections(void)
{
	const char *e = getenv("PT_PROGRAMS_N");
	int n = e ? atoi(e) : 0;

	return n > 0 ? n : 1000;
}
#define OUT_MAX (1 << 20)

struct run {
	char *out;
	size_t len;
	int status;
	double elapsed;
	double injecting; /* seconds until the last injection ended */
	int injected;
};

/* The target's mappings worth advising: everything but the special ones
 * no advice applies to. */
static size_t ranges(pid_t pid, struct iovec *iov, size_t max)
{
	char path[64], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 ||
		    strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
			continue;
		iov[n++] = (struct iovec){ (void *)lo, hi - lo };
	}
	fclose(f);
	return n;
}

static void drain(int fd, struct run *r)
{
	ssize_t n;

	while (r->len < OUT_MAX &&
	       (n = read(fd, r->out + r->len, OUT_MAX - r->len)) > 0)
		r->len += (size_t)n;
}

static void run(char *const argv[], bool inject, struct run *r)
{
	struct iovec iov[256];
	int in[2], out[2];
	double t0 = pt_now();
	size_t n = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->out = malloc(OUT_MAX);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(in[1]), close(out[0]);
		fcntl(1, F_SETFL, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]), close(out[1]);
	while (inject && r->injected < injections()) {
		ssize_t ret;

		if (r->injected % 50 == 0 || !n)
			n = ranges(pid, iov, 256);
		if (!n) { /* in the middle of its exec: no mappings yet */
			if (pt_now() - t0 > 10)
				break;
			usleep(1000);
			continue;
		}
		/* both paths: the process_madvise fast path and one
		 * madvise per range */
		if (r->injected % 2)
			setenv("PMADV_PTRACE_FAST", "0", 1);
		else
			unsetenv("PMADV_PTRACE_FAST");
		ret = pt_advise(pid, iov, n,
				r->injected % 3 ? MADV_COLD : MADV_WILLNEED, 0,
				NULL);
		/* a range the program just unmapped fails alone; losing the
		 * program or the time is a failure */
		if (ret == -ESRCH)
			break;
		assert_true(ret >= 0 || ret == -ENOMEM || ret == -EINVAL);
		r->injected++;
		drain(out[0], r);
	}
	unsetenv("PMADV_PTRACE_FAST");
	r->injecting = pt_now() - t0;
	close(in[1]); /* EOF: the program finishes */
	for (;;) {
		struct pollfd p = { out[0], POLLIN, 0 };

		/* a loaded machine can keep a program quiet for long: the
		 * test's alarm (120 s) bounds a real hang */
		if (poll(&p, 1, 90000) <= 0)
			break;
		{
			size_t before = r->len;

			drain(out[0], r);
			if (r->len == before && (p.revents & POLLHUP))
				break;
		}
	}
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	r->elapsed = pt_now() - t0;
	close(out[0]);
}

static void compare(char *const argv[])
{
	struct run a, b;

	run(argv, false, &a);
	run(argv, true, &b);
	print_message("%s: %zu bytes, %d injections, %.2f s vs %.2f s\n",
		      argv[0], a.len, b.injected, a.elapsed, b.elapsed);
	assert_int_equal(b.injected, injections());
	assert_true(WIFEXITED(a.status));
	assert_int_equal(a.status, b.status);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.out, b.out, a.len);
	free(a.out), free(b.out);
}

static void need(const char *prog)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	PT_REQUIRE(system(cmd) == 0, prog);
}

static void test_python3(void **state)
{
	char *const argv[] = {
		"python3", "-c",
		"import sys\n"
		"for i in range(2000000):\n"
		"    x = i * i % 1000003\n"
		"    if i % 5000 == 0:\n"
		"        print(i, x, sum(range(i % 97)), 1.0 / (i + 1))\n"
		"sys.stdin.read()\n"
		"print('end')\n",
		NULL
	};

	(void)state;
	need("python3");
	compare(argv);
}

static void test_perl(void **state)
{
	char *const argv[] = {
		"perl", "-e",
		"for my $i (0..4000000) { my $x = ($i * $i) % 1000003;"
		" print \"$i $x \", 1.0 / ($i + 1), \"\\n\" if $i % 5000 == 0 }"
		" my @in = <STDIN>; print \"end\\n\";",
		NULL
	};

	(void)state;
	need("perl");
	compare(argv);
}

static void test_sh(void **state)
{
	char *const argv[] = {
		"sh", "-c",
		"i=0; s=0; while [ $i -lt 150000 ]; do s=$((s + i * i % 7));"
		" i=$((i + 1)); [ $((i % 5000)) -eq 0 ] && echo $i $s; done;"
		" read x; echo end $x",
		NULL
	};

	(void)state;
	compare(argv);
}

static void test_sleep(void **state)
{
	/* long enough for 1,000 injections on a loaded machine */
	char *const argv[] = { "sleep", "8", NULL };
	struct run r;

	(void)state;
	run(argv, true, &r);
	print_message("sleep 8: %d injections in %.3f s, %.3f s\n",
		      r.injected, r.injecting, r.elapsed);
	assert_int_equal(r.injected, injections());
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_int_equal(r.len, 0);
	/* Neither cut short nor started over late: 8 s, or as long as the
	 * injections kept it stopped, plus start-up and exit on a loaded
	 * machine (ASan). test-ptrace's nanosleep test pins the restart to
	 * the millisecond. */
	assert_true(r.elapsed >= 8.0);
	assert_true(r.elapsed < (r.injecting > 8.0 ? r.injecting : 8.0) + 1.5);
	free(r.out);
}

static int setup(void **state)
{
	(void)state;
	alarm(120);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_python3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sleep, setup, teardown),
	};

	if (getenv("PT_FILTER"))
		cmocka_set_test_filter(getenv("PT_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
