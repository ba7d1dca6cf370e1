// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadvise --via memory.reclaim and --compare, end to end.
 *
 * Where the cgroup v2 hierarchy has no memory controller (the hosts here:
 * it is bound to v1), pmadvise must refuse in one line that says what it
 * would need, exit 5. Where it has one (the VM guest: this program mounts
 * cgroup2 at /sys/fs/cgroup if nothing is there), a cgroup made here holds
 * two python3 processes with 32 MiB of anonymous memory each, with swap
 * (the guest's zram); then
 *  - memory.reclaim of 16 MiB reclaims at least that, and what pmadvise
 *    reports equals what memory.stat shows around its run (within 1 MiB);
 *    the members' Swap (smaps_rollup) grows;
 *  - --swappiness is refused (exit 5) exactly when the kernel refuses
 *    "0 swappiness=60" (6.1: it does), else used;
 *  - --compare: both phases start with the members' memory faulted back
 *    in (the first test left 16 MiB in swap; the starts within 10%);
 *    PAGEOUT moves most of the 64 MiB to swap; memory.reclaim is asked
 *    PAGEOUT's reclaimed bytes and reclaims them (or says EAGAIN),
 *    consistent with memory.stat;
 *  - pmadvise demo --compare: its target alone in a cgroup of its own,
 *    both methods take its memory out, the target's memory intact, the
 *    cgroup removed at the end, also when pmadvise is killed with SIGKILL
 *    (on the host: refused in one line, exit 5, no cgroup left behind).
 * Where the cgroup has no memory.reclaim file (before 5.19: found by
 * looking, not by the version), --via memory.reclaim, --compare and demo
 * --compare are each refused in one line that names the missing file,
 * exit 5, nothing on stdout, no cgroup left behind.
 * Usage: test-cgreclaim [PMADVISE [PYTHON3]] (default: $PMADV_PMADVISE,
 * /usr/bin/python3); exit 0 pass, 77 skip, 1 fail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024LL * 1024)

static int failures;
static const char *pmadvise, *python = "/usr/bin/python3";

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			printf("ok: ");                                    \
		} else {                                                   \
			printf("FAIL: ");                                  \
			failures++;                                        \
		}                                                          \
		printf(__VA_ARGS__);                                       \
		printf("\n");                                              \
	} while (0)

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1 &&
	       (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Runs pmadvise with args; its stdout and stderr into out/err; status. */
static int run(char *const *args, char *out, size_t olen, char *err,
	       size_t elen)
{
	int po[2], pe[2], st;
	pid_t pid;

	if (pipe(po) || pipe(pe))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(pmadvise, args);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	{
		ssize_t n, a = 0, b = 0;

		while ((n = read(po[0], out + a, olen - 1 - (size_t)a)) > 0)
			a += n;
		while ((n = read(pe[0], err + b, elen - 1 - (size_t)b)) > 0)
			b += n;
		out[a] = err[b] = '\0';
	}
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A number of key in the phase named section of pmadvise's JSON document
 * (schema 2: "phases": [{"phase": "pageout", ...}, ...]), or of the
 * document itself with no section; LLONG_MIN when absent or null. */
static long long jnum(const char *doc, const char *section, const char *key)
{
	char k[128];
	const char *p = doc, *end = NULL;

	if (section) {
		snprintf(k, sizeof(k), "\"phase\": \"%s\"", section);
		p = strstr(doc, k);
		if (!p)
			return LLONG_MIN;
		end = strchr(p, '}'); /* the phase's object ends there */
	}
	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = strstr(p, k);
	if (!p || (end && p > end) || p[strlen(k)] == 'n')
		return LLONG_MIN;
	return (long long)strtod(p + strlen(k), NULL);
}

static long long stat_of(const char *cg, const char *key)
{
	char path[PATH_MAX], buf[16384];
	size_t n = strlen(key);

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p += !!p)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static long long rollup_kb(pid_t pid, const char *field)
{
	char path[64], buf[4096], k[32];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	snprintf(k, sizeof(k), "\n%s:", field);
	if (read_file(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, k)))
		return -1;
	return strtoll(p + strlen(k), NULL, 10);
}

/* Whether a cgroup the demo made (pmadvise-demo-*) is left in root. */
static bool demo_cgroup_left(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;
	bool left = false;

	if (!d)
		return true; /* cannot tell: a failure */
	while (!left && (e = readdir(d)))
		left = !strncmp(e->d_name, "pmadvise-demo-", 14);
	closedir(d);
	return left;
}

/* pmadvise demo --compare killed with SIGKILL once its target is in
 * the cgroup: its guardian still removes the cgroup. */
static void test_demo_killed(const char *root)
{
	char buf[4096];
	size_t got = 0;
	int po[2];
	bool in = false, left = true;
	pid_t pid;

	if (pipe(po))
		return;
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		close(po[0]);
		execl(pmadvise, pmadvise, "demo", "--compare", "--size", "64M",
		      (char *)NULL);
		_exit(127);
	}
	close(po[1]);
	while (!in && got < sizeof(buf) - 1) {
		ssize_t n = read(po[0], buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		in = strstr(buf, "alone in the cgroup") != NULL;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(po[0]);
	CHECK(in, "demo --compare started its target in its cgroup");
	for (int i = 0; i < 100 && (left = demo_cgroup_left(root)); i++)
		usleep(50000);
	CHECK(in && !left, "demo --compare killed by SIGKILL: its cgroup "
	      "removed all the same");
}

/* Starts pmadvise demo --compare (with extra, or NULL) and reads its
 * output until the target is in its cgroup, whose path goes to cg: the
 * PID, with its stdout at *fd; -1 when it did not get there. */
static pid_t demo_start(const char *size, const char *extra, char *cg,
			size_t cglen, int *fd)
{
	char buf[4096];
	size_t got = 0;
	const char *p;
	int po[2];
	pid_t pid;

	if (pipe(po))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		close(po[0]);
		execl(pmadvise, pmadvise, "demo", "--compare", "--size", size,
		      extra, (char *)NULL);
		_exit(127);
	}
	close(po[1]);
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(po[0], buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if ((p = strstr(buf, "alone in the cgroup ")) &&
		    strchr(p, '\n')) {
			p += strlen("alone in the cgroup ");
			snprintf(cg, cglen, "%.*s", (int)(strchr(p, '\n') - p),
				 p);
			*fd = po[0];
			return pid;
		}
	}
	close(po[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SIGINT while the demo's PAGEOUT phase runs: it went on to fault the
 * memory back, ran memory.reclaim in full, printed the table and read
 * 128 MiB back for its check; now it stops there, exit 130, nothing
 * left. The signal goes once the cgroup's swap passes 16 MiB, which only
 * PAGEOUT does before memory.reclaim (between them the memory is faulted
 * back in). */
static void test_demo_sigint(const char *root)
{
	char cg[PATH_MAX], path[PATH_MAX + 32], buf[64], rest[16384];
	size_t got = 0;
	bool paging = false;
	double t0, t1;
	int fd, st;
	pid_t pid = demo_start("128M", NULL, cg, sizeof(cg), &fd);
	ssize_t n;

	CHECK(pid > 0, "demo --compare started its target in its cgroup");
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "%s/memory.swap.current", cg);
	for (int i = 0; i < 12000 && !paging; i++) {
		paging = read_file(path, buf, sizeof(buf)) == 0 &&
			 atoll(buf) > 16 * MiB;
		if (!paging)
			usleep(5000);
	}
	t0 = mono_s();
	kill(pid, SIGINT);
	while (got < sizeof(rest) - 1 &&
	       (n = read(fd, rest + got, sizeof(rest) - 1 - got)) > 0)
		got += (size_t)n;
	rest[got] = '\0';
	close(fd);
	waitpid(pid, &st, 0);
	t1 = mono_s();
	printf("demo --compare, SIGINT in PAGEOUT (%.1f s to exit):\n%s", t1 - t0,
	       rest);
	CHECK(paging, "the PAGEOUT phase was seen running (swap > 16 MiB)");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 130,
	      "exit 130 after SIGINT (%d)", WIFEXITED(st) ? WEXITSTATUS(st)
							: 128 + WTERMSIG(st));
	CHECK(!strstr(rest, "moved to swap") && !strstr(rest, "read its "
							   "memory back"),
	      "no memory.reclaim, table or memory check after SIGINT");
	for (int i = 0; i < 100 && demo_cgroup_left(root); i++)
		usleep(50000);
	CHECK(!demo_cgroup_left(root), "its cgroup removed");
}

/* In a cgroup namespace whose cgroup2 mount was inherited, mounted with
 * nsdelegate (as systemd mounts it): the demo made its cgroup outside the
 * namespace, its target could not join it (ENOENT), and it said "the
 * target process did not start: Broken pipe", exit 7. Now one line
 * saying why, exit 5, nothing left. */
static void test_demo_cgroupns(const char *root)
{
	char ns[PATH_MAX], out[8192], err[4096];
	char *args[] = { (char *)pmadvise, "demo", "--compare", "--size",
			 "16M", NULL };
	int po[2], pe[2], st;
	pid_t pid;

	snprintf(ns, sizeof(ns), "%s/pmadv-nsdemo-%d", root, (int)getpid());
	if (mount(NULL, root, NULL, MS_REMOUNT, "nsdelegate") < 0) {
		printf("cannot remount %s with nsdelegate: %s; cgroupns "
		       "demo skipped\n", root, strerror(errno));
		return;
	}
	if (mkdir(ns, 0755) < 0 || pipe(po) || pipe(pe)) {
		CHECK(0, "mkdir %s", ns);
		mount(NULL, root, NULL, MS_REMOUNT, "");
		return;
	}
	pid = fork();
	if (pid == 0) {
		char me[32];
		char procs[PATH_MAX + 16];

		snprintf(me, sizeof(me), "%d", (int)getpid());
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", ns);
		if (write_file(procs, me) < 0 || unshare(CLONE_NEWCGROUP) < 0)
			_exit(126);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(pmadvise, args);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	{
		ssize_t n, a = 0, b = 0;

		while ((n = read(po[0], out + a, sizeof(out) - 1 - (size_t)a)) > 0)
			a += n;
		while ((n = read(pe[0], err + b, sizeof(err) - 1 - (size_t)b)) > 0)
			b += n;
		out[a] = err[b] = '\0';
	}
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &st, 0);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	printf("demo --compare in a cgroup namespace: rc %d\n%s%s", st, out,
	       err);
	CHECK(st == 5 && strstr(err, "cannot join") &&
		      strchr(err, '\n') == err + strlen(err) - 1,
	      "refused in one line that says why, exit 5 (%d)", st);
	for (int i = 0; i < 100 && demo_cgroup_left(root); i++)
		usleep(50000);
	CHECK(!demo_cgroup_left(root), "no pmadvise-demo-* cgroup left");
	rmdir(ns);
	mount(NULL, root, NULL, MS_REMOUNT, "");
}

/* The swap devices of /proc/swaps, by name (its Used column moves). */
static void swap_names(char *out, size_t len)
{
	char buf[4096], *save = NULL;
	size_t o = 0;

	out[0] = '\0';
	if (read_file("/proc/swaps", buf, sizeof(buf)) < 0)
		return;
	for (char *l = strtok_r(buf, "\n", &save); l && o < len;
	     l = strtok_r(NULL, "\n", &save))
		if (l[0] == '/')
			o += (size_t)snprintf(out + o, len - o, "%.*s ",
					      (int)strcspn(l, " \t"), l);
}

/* Two demos at once, one with --zram: each in its own cgroup, both
 * intact, nothing left: no cgroup, no swap device. */
static void test_demo_two(const char *root)
{
	char swaps0[4096], swaps1[4096], out[2][16384];
	pid_t pid[2];
	int fd[2], st[2];

	swap_names(swaps0, sizeof(swaps0));
	for (int i = 0; i < 2; i++) {
		char cg[PATH_MAX];

		pid[i] = demo_start("32M", i ? "--zram" : NULL, cg,
				    sizeof(cg), &fd[i]);
		CHECK(pid[i] > 0, "demo %d started", i);
		if (pid[i] <= 0) {
			if (i) {
				kill(pid[0], SIGKILL);
				waitpid(pid[0], NULL, 0);
				close(fd[0]);
			}
			return;
		}
	}
	for (int i = 0; i < 2; i++) {
		size_t got = 0;
		ssize_t n;

		while (got < sizeof(out[i]) - 1 &&
		       (n = read(fd[i], out[i] + got,
				 sizeof(out[i]) - 1 - got)) > 0)
			got += (size_t)n;
		out[i][got] = '\0';
		close(fd[i]);
		waitpid(pid[i], &st[i], 0);
		st[i] = WIFEXITED(st[i]) ? WEXITSTATUS(st[i]) : 128;
		printf("demo %d: rc %d\n%s", i, st[i], out[i]);
		CHECK((st[i] == 0 || st[i] == 1) &&
			      strstr(out[i], "every byte intact"),
		      "demo %d%s: done, memory intact (rc %d)", i,
		      i ? " --zram" : "", st[i]);
	}
	for (int i = 0; i < 100 && demo_cgroup_left(root); i++)
		usleep(50000);
	CHECK(!demo_cgroup_left(root), "no pmadvise-demo-* cgroup left");
	for (int i = 0; i < 100; i++) {
		swap_names(swaps1, sizeof(swaps1));
		if (!strcmp(swaps0, swaps1))
			break;
		usleep(50000);
	}
	CHECK(!strcmp(swaps0, swaps1), "the swap devices as before: %s, "
	      "then %s", swaps0, swaps1);
}

/* pmadvise demo --compare; on the host (refused) or in the guest. */
static void test_demo_compare(const char *root, bool host)
{
	char out[16384], err[4096];
	char *args[] = { (char *)pmadvise, "demo", "--compare", "--size",
			 "64M", NULL };
	int rc = run(args, out, sizeof(out), err, sizeof(err));

	printf("pmadvise demo --compare: rc %d\n%s%s", rc, out, err);
	if (host) {
		CHECK(rc == 5 && strstr(err, "no memory controller") &&
			      strchr(err, '\n') == err + strlen(err) - 1 &&
			      !out[0],
		      "demo --compare on the host: refused in one line, exit "
		      "5, nothing on stdout");
	} else {
		CHECK(rc == 0 || rc == 1, "exit 0 or 1: %d", rc);
		CHECK(strstr(out, "PAGEOUT") && strstr(out, "memory.reclaim") &&
			      strstr(out, "moved to swap"),
		      "the side-by-side table");
		CHECK(strstr(out, "every byte intact") != NULL,
		      "the target's memory read back intact");
	}
	CHECK(!demo_cgroup_left(root), "no pmadvise-demo-* cgroup left in %s",
	      root);
}

static int host_refusal(const char *root)
{
	char cg[PATH_MAX], out[4096], err[4096];
	char *args[] = { (char *)pmadvise, "--cgroup", cg, "--via",
			 "memory.reclaim", "--max-bytes", "16M", NULL };
	int rc;

	snprintf(cg, sizeof(cg), "%s/pmadv-reclaim-%d", root, (int)getpid());
	if (mkdir(cg, 0755) < 0)
		return 77;
	rc = run(args, out, sizeof(out), err, sizeof(err));
	rmdir(cg);
	printf("pmadvise said: %s", err);
	CHECK(rc == 5, "exit 5 (not possible here): %d", rc);
	CHECK(strstr(err, "no memory controller") &&
	      strstr(err, "memory.reclaim needs cgroup v2 with the memory "
			  "controller"),
	      "the line says what is missing and what it would need");
	CHECK(strchr(err, '\n') == err + strlen(err) - 1, "one line");
	CHECK(out[0] == '\0', "nothing on stdout");
	test_demo_compare(root, true);
	return failures ? 1 : 0;
}

/* A kernel whose cgroups lack memory.reclaim: every way to it refused. */
static void test_no_reclaim_file(const char *root, const char *cg)
{
	char out[16384], err[4096];
	char *via[] = { (char *)pmadvise, "--cgroup", (char *)cg, "--via",
			"memory.reclaim", "--max-bytes", "16M", NULL };
	char *cmp[] = { (char *)pmadvise, "--cgroup", (char *)cg, "--compare",
			"--anon", NULL };
	char *demo[] = { (char *)pmadvise, "demo", "--compare", "--size",
			 "64M", NULL };
	char *const *runs[] = { via, cmp, demo };

	for (int i = 0; i < 3; i++) {
		int rc = run(runs[i], out, sizeof(out), err, sizeof(err));

		printf("%s: rc %d\n%s%s", i == 2 ? "demo --compare"
			   : runs[i][3], rc, out, err);
		CHECK(rc == 5, "exit 5 (not possible on this kernel): %d", rc);
		CHECK(strstr(err, "memory.reclaim cannot be opened") &&
			      strstr(err, "(ENOENT)"),
		      "the line says memory.reclaim is missing");
		CHECK(strchr(err, '\n') == err + strlen(err) - 1, "one line");
		CHECK(i == 2 || out[0] == '\0', "nothing on stdout");
	}
	CHECK(!demo_cgroup_left(root), "no pmadvise-demo-* cgroup left in %s",
	      root);
}

/* A python3 that joins cg and keeps 32 MiB of anonymous memory. */
static pid_t member(const char *cg)
{
	static const char code[] =
		"import sys, time\n"
		"open(sys.argv[1] + '/cgroup.procs', 'w').write('0')\n"
		"b = bytearray(32 << 20)\n"
		"for i in range(0, len(b), 4096): b[i] = 1\n"
		"sys.stdout.write('in\\n'); sys.stdout.flush()\n"
		"time.sleep(600)\n";
	int pfd[2];
	char c[4] = "";
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		close(pfd[0]);
		execl(python, "python3", "-c", code, cg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], c, 3) != 3 || strncmp(c, "in", 2)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(pfd[0]);
	return pid;
}

static long long members_kb(const pid_t *m, int n, const char *field)
{
	long long sum = 0;

	for (int i = 0; i < n; i++)
		sum += rollup_kb(m[i], field);
	return sum;
}

static void test_reclaim(const char *cg, const pid_t *m, int n)
{
	char out[8192], err[4096];
	char *args[] = { (char *)pmadvise, "--cgroup", (char *)cg, "--via",
			 "memory.reclaim", "--max-bytes", "16M", "--json",
			 NULL };
	long long a0 = stat_of(cg, "anon"), f0 = stat_of(cg, "file"), a1, f1;
	long long swap0 = members_kb(m, n, "Swap"), got, mine;
	int rc = run(args, out, sizeof(out), err, sizeof(err));

	a1 = stat_of(cg, "anon");
	f1 = stat_of(cg, "file");
	printf("memory.reclaim: rc %d\n%s%s", rc, out, err);
	got = jnum(out, "memory_reclaim", "bytes_reclaimed");
	mine = (a0 - a1) + (f0 - f1);
	CHECK(rc == 0 || rc == 1, "exit 0, or 1 with EAGAIN: %d", rc);
	CHECK(rc != 0 || got >= 16 * MiB - 4096,
	      "at least 16 MiB reclaimed when it succeeded: %lld", got);
	CHECK(got != LLONG_MIN && llabs(got - mine) <= MiB,
	      "reported %lld, memory.stat around the run %lld", got, mine);
	CHECK(jnum(out, "memory_reclaim", "anon_reclaimed") +
		      jnum(out, "memory_reclaim", "file_reclaimed") == got,
	      "anon + file = bytes_reclaimed");
	CHECK(jnum(out, "memory_reclaim", "bytes_asked") == 16 * MiB,
	      "16 MiB asked");
	CHECK(jnum(out, "memory_reclaim", "time_ms") > 0, "time measured");
	CHECK(a0 - a1 <= 0 ||
		      members_kb(m, n, "Swap") - swap0 >= (a0 - a1) / 1024 / 2,
	      "the anon part went to the members' swap: Swap %lld -> %lld kB "
	      "for %lld kB anon", swap0, members_kb(m, n, "Swap"),
	      (a0 - a1) / 1024);
}

/* --swappiness: what pmadvise does must follow the kernel's own answer to
 * "0 swappiness=60" (EINVAL before 6.9), whatever the version says. */
static void test_swappiness(const char *cg)
{
	char path[PATH_MAX], out[4096], err[4096];
	char *args[] = { (char *)pmadvise, "--cgroup", (char *)cg, "--via",
			 "memory.reclaim", "--max-bytes", "1M",
			 "--swappiness", "60", NULL };
	int fd, takes, rc;

	if (snprintf(path, sizeof(path), "%s/memory.reclaim", cg) >=
	    (int)sizeof(path))
		path[0] = '\0';
	fd = open(path, O_WRONLY);
	takes = fd >= 0 && write(fd, "0 swappiness=60", 15) == 15;
	if (fd >= 0)
		close(fd);
	rc = run(args, out, sizeof(out), err, sizeof(err));
	printf("--swappiness 60: rc %d (the kernel %s it)\n%s%s", rc,
	       takes ? "takes" : "refuses", out, err);
	if (takes)
		CHECK(rc == 0 || rc == 1, "taken: reclaimed (exit %d)", rc);
	else
		CHECK(rc == 5 && strstr(err, "refuses 'swappiness='") &&
			      out[0] == '\0',
		      "refused by the kernel: exit 5 (%d), said, nothing "
		      "reclaimed", rc);
}

static void test_compare(const char *cg, const pid_t *m, int n)
{
	char out[8192], err[8192];
	char *args[] = { (char *)pmadvise, "--cgroup", (char *)cg,
			 "--compare", "--anon", "--json", NULL };
	long long pg_swap, pg_got, rc_ask, rc_got, s0, s1;
	int rc;

	/* start from everything resident: the members fault back in */
	s0 = stat_of(cg, "anon");
	rc = run(args, out, sizeof(out), err, sizeof(err));
	s1 = stat_of(cg, "anon");
	printf("--compare: rc %d\n%s%s", rc, out, err);
	pg_swap = jnum(out, "pageout", "swap_added");
	pg_got = jnum(out, "pageout", "anon_reclaimed");
	rc_ask = jnum(out, "memory_reclaim", "bytes_asked");
	rc_got = jnum(out, "memory_reclaim", "bytes_reclaimed");
	CHECK(rc == 0 || rc == 1, "exit 0 or 1: %d", rc);
	CHECK(pg_got >= 32 * MiB, "PAGEOUT took most of 64 MiB of anon "
	      "memory out of the cgroup: %lld", pg_got);
	CHECK(pg_swap >= pg_got / 2, "and it went to swap: %lld", pg_swap);
	CHECK(jnum(out, "pageout", "anon_before") >= 60 * MiB &&
		      jnum(out, "pageout", "anon_before") >= s0,
	      "PAGEOUT starts with the members' 64 MiB faulted back in "
	      "(%lld; %lld before the run, after the first test's reclaim)",
	      jnum(out, "pageout", "anon_before"), s0);
	CHECK(llabs(jnum(out, "memory_reclaim", "anon_before") -
		    jnum(out, "pageout", "anon_before")) <=
		      jnum(out, "pageout", "anon_before") / 10,
	      "the same starting state, within 10%%: anon %lld then %lld",
	      jnum(out, "pageout", "anon_before"),
	      jnum(out, "memory_reclaim", "anon_before"));
	CHECK(rc_ask > 0 && rc_ask % 4096 == 0 &&
		      llabs(rc_ask - jnum(out, "pageout", "bytes_reclaimed")) <
			      4096,
	      "memory.reclaim asked PAGEOUT's reclaimed bytes: %lld", rc_ask);
	/* memory.stat's net drop: the members run and may fault a few
	 * pages meanwhile (a full VM run saw 3 pages fewer than asked,
	 * with swap_added exactly the bytes asked) */
	CHECK(rc_got >= rc_ask - 256 * 1024 ||
		      strstr(out, "\"error\": \"EAGAIN\""),
	      "memory.reclaim reclaimed them within 256 KiB (%lld of %lld), "
	      "or said EAGAIN", rc_got, rc_ask);
	CHECK(llabs(jnum(out, "memory_reclaim", "anon_reclaimed") +
		    jnum(out, "memory_reclaim", "file_reclaimed") - rc_got) == 0,
	      "anon + file = bytes_reclaimed");
	CHECK(s1 <= jnum(out, "memory_reclaim", "anon_before") -
			   jnum(out, "memory_reclaim", "anon_reclaimed") + MiB,
	      "memory.stat after the run agrees: anon %lld", s1);
	CHECK(members_kb(m, n, "Swap") > 0, "the members hold swap: %lld kB",
	      members_kb(m, n, "Swap"));
	/* --percent 50 is PAGEOUT's budget: the fault-in before each phase
	 * took it too, so that only half of what the last run left in swap
	 * came back and PAGEOUT started from 32 MiB, not 64 */
	{
		char *half[] = { (char *)pmadvise, "--cgroup", (char *)cg,
				 "--compare", "--anon", "--percent", "50",
				 "--json", NULL };

		rc = run(half, out, sizeof(out), err, sizeof(err));
		printf("--compare --percent 50: rc %d\n%s%s", rc, out, err);
		CHECK(jnum(out, "pageout", "anon_before") >= 60 * MiB,
		      "--percent does not cut the fault-in: PAGEOUT starts "
		      "from %lld", jnum(out, "pageout", "anon_before"));
		CHECK(jnum(out, "pageout", "anon_reclaimed") <= 40 * MiB,
		      "and PAGEOUT takes about half: %lld",
		      jnum(out, "pageout", "anon_reclaimed"));
	}
	/* the table a person reads (README shows one from here) */
	args[5] = NULL;
	rc = run(args, out, sizeof(out), err, sizeof(err));
	printf("--compare, human: rc %d\n%s%s", rc, out, err);
	CHECK(strstr(out, "PAGEOUT") && strstr(out, "memory.reclaim") &&
		      strstr(out, "moved to swap"),
	      "the human table has both columns");
}

int main(int argc, char **argv)
{
	char root[] = "/sys/fs/cgroup", path[PATH_MAX], buf[1024];
	char cg[PATH_MAX];
	pid_t m[2];
	bool reclaim_file;
	int n = 0;

	pmadvise = argc > 1 ? argv[1] : getenv("PMADV_PMADVISE");
	if (!pmadvise)
		return 2;
	if (argc > 2)
		python = argv[2];
	if (geteuid() != 0)
		return 77;
	/* the host's hybrid layout: v2 at unified, without controllers */
	snprintf(path, sizeof(path), "%s/unified/cgroup.controllers", root);
	if (read_file(path, buf, sizeof(buf)) == 0 && !strstr(buf, "memory"))
		return host_refusal("/sys/fs/cgroup/unified");
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (read_file(path, buf, sizeof(buf)) < 0)
		mount("cgroup2", root, "cgroup2", 0, NULL);
	if (read_file(path, buf, sizeof(buf)) < 0 || !strstr(buf, "memory")) {
		printf("no cgroup v2 memory controller at %s\n", root);
		return 77;
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	write_file(path, "+memory");
	if (access(python, X_OK) < 0 || read_file("/proc/swaps", buf,
						   sizeof(buf)) < 0 ||
	    !strchr(buf, '\n') || !strchr(strchr(buf, '\n') + 1, '/')) {
		printf("needs %s and swap\n", python);
		return 77;
	}
	snprintf(cg, sizeof(cg), "%s/pmadv-reclaim-%d", root, (int)getpid());
	if (mkdir(cg, 0755) < 0) {
		printf("mkdir %s: %s\n", cg, strerror(errno));
		return 1;
	}
	if (snprintf(path, sizeof(path), "%s/memory.reclaim", cg) >=
	    (int)sizeof(path))
		return 1;
	reclaim_file = access(path, F_OK) == 0;
	if (!reclaim_file)
		printf("memory.reclaim: not on this kernel (%s)\n",
		       strerror(errno));
	for (; n < 2; n++)
		if ((m[n] = member(cg)) < 0)
			break;
	if (n == 2 && !reclaim_file) {
		test_no_reclaim_file(root, cg);
	} else if (n == 2) {
		test_reclaim(cg, m, n);
		test_swappiness(cg);
		test_compare(cg, m, n);
	} else {
		CHECK(0, "two python3 members started");
	}
	for (int i = 0; i < n; i++) {
		kill(m[i], SIGKILL);
		waitpid(m[i], NULL, 0);
	}
	for (int i = 0; i < 100 && rmdir(cg) < 0; i++)
		usleep(10000);
	/* demo --compare needs memory.reclaim: refused before (above) */
	if (reclaim_file) {
		test_demo_compare(root, false);
		test_demo_killed(root);
		test_demo_sigint(root);
		test_demo_cgroupns(root);
		test_demo_two(root);
	}
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
