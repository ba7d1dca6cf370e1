// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_cgroup_* against real cgroups made by the test: a cgroup v2
 * directory (cgroup.procs), a threaded one (cgroup.threads), a v1 memory
 * hierarchy's directory (tasks); members that leave, exit, or whose PID a
 * stranger takes between the list's read and the open are skipped; a list
 * far longer than a 64-byte buffer is walked whole with one allocation per
 * handle and none for the list; a thread list that outgrows the buffer's
 * memory of processes answers ENOBUFS; the same gap from inside a cgroup
 * namespace whose mount was inherited (its root "/.."), where members are
 * confirmed by their list. Needs root and the cgroup mounts:
 * each part skips (77) without its hierarchy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocount.h"
#include "procmadvise.h"

#define MAXKIDS 256

struct cg {
	char path[PATH_MAX];
	pid_t kids[MAXKIDS];
	int n;
};

/* The mount point of a cgroup filesystem: "cgroup2", or "cgroup" with a
 * controller among its options; NULL without one. */
static const char *mount_of(const char *fstype, const char *opt)
{
	static char found[PATH_MAX];
	char line[4096];
	FILE *f = fopen("/proc/self/mounts", "r");
	bool ok = false;

	if (!f)
		return NULL;
	while (!ok && fgets(line, sizeof(line), f)) {
		char dev[256], mnt[PATH_MAX], type[64], opts[1024];

		if (sscanf(line, "%255s %4095s %63s %1023s", dev, mnt, type,
			   opts) != 4 || strcmp(type, fstype))
			continue;
		if (opt && !strstr(opts, opt))
			continue;
		snprintf(found, sizeof(found), "%s", mnt);
		ok = true;
	}
	fclose(f);
	return ok ? found : NULL;
}

static int write_str(const char *dir, const char *file, const char *s)
{
	char path[PATH_MAX + 64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int write_pid(const char *dir, const char *file, pid_t pid)
{
	char s[32];

	snprintf(s, sizeof(s), "%d", (int)pid);
	return write_str(dir, file, s);
}

/* A directory made for the test under the mount's root. */
static bool cg_make(struct cg *c, const char *mnt, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s/pmadv-it-%s-%d", mnt, name,
		 (int)getpid());
	return mkdir(c->path, 0755) == 0;
}

static pid_t kid_sleep(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* a failed assertion must not leave it behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

static void *thread_sleep(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A child with nthreads threads besides its main one, all sleeping. */
static pid_t kid_threads(int nthreads)
{
	int pfd[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int i = 0; i < nthreads; i++) {
			pthread_t th;

			pthread_create(&th, NULL, thread_sleep, NULL);
		}
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	return pid;
}

static void cg_add(struct cg *c, pid_t pid, const char *file)
{
	assert_true(c->n < MAXKIDS);
	c->kids[c->n++] = pid;
	if (file)
		assert_int_equal(write_pid(c->path, file, pid), 0);
}

static void kill_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void cg_remove(struct cg *c)
{
	for (int i = 0; i < c->n; i++)
		if (c->kids[i] > 0)
			kill_wait(c->kids[i]);
	for (int i = 0; i < 100 && rmdir(c->path) < 0 && errno == EBUSY; i++)
		usleep(10000);
}

/* The PIDs the iterator returns, sorted, into out; its return. */
static int walk(const char *path, size_t bufsz, pid_t *out, int max, int *n,
		struct pmadv_cgroup_stats *st)
{
	struct pmadv_cgroup *cg;
	struct pmadv_target *t;
	int ret;

	*n = 0;
	ret = pmadv_cgroup_open(path, bufsz, 0, &cg);
	if (ret < 0)
		return ret;
	while ((ret = pmadv_cgroup_next(cg, &t)) > 0) {
		if (*n < max)
			out[*n] = pmadv_target_pid(t);
		(*n)++;
		pmadv_close(t);
	}
	if (st)
		assert_int_equal(pmadv_cgroup_stats(cg, st, sizeof(*st)), 0);
	pmadv_cgroup_close(cg);
	return ret;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

static void expect_members(const pid_t *got, int n, const pid_t *want,
			   int nwant)
{
	pid_t a[MAXKIDS], b[MAXKIDS];

	assert_int_equal(n, nwant);
	memcpy(a, got, (size_t)n * sizeof(pid_t));
	memcpy(b, want, (size_t)n * sizeof(pid_t));
	qsort(a, (size_t)n, sizeof(pid_t), cmp_pid);
	qsort(b, (size_t)n, sizeof(pid_t), cmp_pid);
	for (int i = 0; i < n; i++)
		assert_int_equal(a[i], b[i]);
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

/* cgroup v2: exactly the processes put in, each once. */
static void test_v2_procs(void **state)
{
	struct pmadv_cgroup_stats st;
	const char *mnt;
	pid_t got[MAXKIDS];
	struct cg c;
	int n;

	(void)state;
	need_root();
	mnt = mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&c, mnt, "v2"))
		skip();
	for (int i = 0; i < 3; i++)
		cg_add(&c, kid_sleep(), "cgroup.procs");
	cg_add(&c, kid_threads(3), "cgroup.procs");
	assert_int_equal(walk(c.path, 0, got, MAXKIDS, &n, &st), 0);
	expect_members(got, n, c.kids, c.n);
	assert_int_equal(st.source, PMADV_CGROUP_SRC_PROCS);
	assert_int_equal(st.returned, 4);
	cg_remove(&c);
}

/* The cgroup removed after the open (its container stopped): the list
 * ends (0), it does not fail forever with ENODEV; errno stays as it was
 * through open and next. */
static void test_removed(void **state)
{
	struct pmadv_cgroup *it;
	struct pmadv_target *t;
	const char *mnt;
	struct cg c;
	int ret = 0;

	(void)state;
	need_root();
	mnt = mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&c, mnt, "rm"))
		skip();
	for (int i = 0; i < 40; i++)
		cg_add(&c, kid_sleep(), "cgroup.procs");
	errno = 4321;
	assert_int_equal(pmadv_cgroup_open(c.path, 64, 0, &it), 0);
	assert_int_equal(pmadv_cgroup_next(it, &t), 1);
	assert_int_equal(errno, 4321);
	pmadv_close(t);
	cg_remove(&c); /* its members killed, the directory removed */
	for (int i = 0; i < 100 && (ret = pmadv_cgroup_next(it, &t)) != 0;
	     i++) {
		assert_true(ret == 1 || ret == 0);
		pmadv_close(t);
	}
	assert_int_equal(ret, 0);
	assert_int_equal(errno, 4321);
	pmadv_cgroup_close(it);
}

static char removing[PATH_MAX];
static volatile int remove_go;

static void *remover(void *arg)
{
	unsigned int spin = (unsigned int)(uintptr_t)arg;

	while (!remove_go)
		;
	for (volatile unsigned int i = 0; i < spin; i++)
		;
	rmdir(removing);
	return NULL;
}

/* A cgroup removed while pmadv_cgroup_open reads its list for the first
 * time (an agent walking short-lived job cgroups): the read's ENODEV came
 * out as ENOTRECOVERABLE (about 1 open in 500 here); it is ENOENT, as for
 * a cgroup removed just before. */
static void test_removed_at_open(void **state)
{
	const char *mnt;
	struct cg c;
	int other = 0;

	(void)state;
	need_root();
	mnt = mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&c, mnt, "rmopen"))
		skip();
	strcpy(removing, c.path);
	for (unsigned int i = 0; i < 4000; i++) {
		struct pmadv_cgroup *it = NULL;
		pthread_t th;
		int ret;

		if (mkdir(removing, 0755) < 0 && errno != EEXIST)
			fail();
		remove_go = 0;
		assert_int_equal(pthread_create(&th, NULL, remover,
						(void *)(uintptr_t)(i * 7919 %
								    20000)),
				 0);
		remove_go = 1;
		ret = pmadv_cgroup_open(removing, 0, 0, &it);
		pthread_join(th, NULL);
		if (ret != 0 && ret != -ENOENT)
			fprintf(stderr, "# open %u: %s\n", i,
				strerrorname_np(-ret));
		other += ret != 0 && ret != -ENOENT;
		pmadv_cgroup_close(it);
	}
	rmdir(removing);
	assert_int_equal(other, 0);
}

/* A threaded cgroup: cgroup.procs cannot be read; the process of its two
 * threads comes once. */
static void test_v2_threaded(void **state)
{
	struct pmadv_cgroup_stats st;
	struct cg top, leaf;
	const char *mnt;
	pid_t got[4], kid;
	int n;

	(void)state;
	need_root();
	mnt = mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&top, mnt, "dom"))
		skip();
	assert_true(strlen(top.path) + 3 <= sizeof(leaf.path));
	strcpy(leaf.path, top.path);
	strcat(leaf.path, "/t");
	leaf.n = 0;
	assert_int_equal(mkdir(leaf.path, 0755), 0);
	if (write_str(leaf.path, "cgroup.type", "threaded") < 0) {
		rmdir(leaf.path);
		cg_remove(&top);
		skip();
	}
	/* the process joins top; two of its threads then move to leaf */
	kid = fork();
	if (kid == 0) {
		char s[16];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(s, sizeof(s), "%d", (int)getpid());
		if (write_str(top.path, "cgroup.procs", s) < 0)
			_exit(1);
		execl("/proc/self/exe", "test-cgroup", "--threads-into",
		      leaf.path, (char *)NULL);
		_exit(1);
	}
	top.kids[0] = kid;
	top.n = 1;
	for (int i = 0; i < 500; i++) { /* wait for its two threads */
		char path[PATH_MAX + 32], buf[256] = "";
		int fd;
		ssize_t r;

		snprintf(path, sizeof(path), "%s/cgroup.threads", leaf.path);
		fd = open(path, O_RDONLY);
		r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (r > 0 && strchr(buf, '\n') != strrchr(buf, '\n'))
			break;
		usleep(10000);
	}
	assert_int_equal(walk(leaf.path, 0, got, 4, &n, &st), 0);
	assert_int_equal(st.source, PMADV_CGROUP_SRC_THREADS);
	assert_int_equal(st.listed, 2);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], kid);
	/* Its main thread moves to the threaded child too: the domain's
	 * cgroup.procs still lists the process, /proc/PID/cgroup names the
	 * child, and the process is a member of the domain's subtree. */
	{
		char s[16];

		snprintf(s, sizeof(s), "%d", (int)kid);
		assert_int_equal(write_str(leaf.path, "cgroup.threads", s), 0);
	}
	assert_int_equal(walk(top.path, 0, got, 4, &n, &st), 0);
	assert_int_equal(st.source, PMADV_CGROUP_SRC_PROCS);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], kid);
	kill_wait(kid);
	top.n = 0;
	for (int i = 0; i < 100 && rmdir(leaf.path) < 0; i++)
		usleep(10000);
	cg_remove(&top);
}

/* cgroup v1, the memory hierarchy, or where none is mounted (a machine
 * with cgroup v2 alone, the VM guests) a named v1 hierarchy of our own:
 * tasks lists threads; each process once. */
static void test_v1_tasks(void **state)
{
	static char own[] = "/tmp/pmadv-v1-XXXXXX";
	struct pmadv_cgroup_stats st;
	const char *mnt;
	bool mounted = false;
	pid_t got[MAXKIDS];
	struct cg c;
	int n;

	(void)state;
	need_root();
	mnt = mount_of("cgroup", "memory");
	if (!mnt) {
		assert_non_null(mkdtemp(own));
		if (mount("cgroup", own, "cgroup", 0, "none,name=pmadv-v1")) {
			print_message("no v1 hierarchy: %s\n", strerror(errno));
			rmdir(own);
			skip(); /* refused by .ci/run */
		}
		mounted = true;
		mnt = own;
		print_message("a named v1 hierarchy mounted on %s\n", own);
	}
	if (!cg_make(&c, mnt, "v1"))
		skip();
	cg_add(&c, kid_sleep(), "cgroup.procs");
	cg_add(&c, kid_threads(4), "cgroup.procs");
	assert_int_equal(walk(c.path, 0, got, MAXKIDS, &n, &st), 0);
	expect_members(got, n, c.kids, c.n);
	assert_int_equal(st.source, PMADV_CGROUP_SRC_TASKS);
	assert_int_equal(st.listed, 6);   /* 1 + 5 threads */
	assert_int_equal(st.skipped, 4);  /* the second process's others */
	/* a buffer that remembers one process only: ENOBUFS for the next */
	{
		struct pmadv_cgroup *it;
		struct pmadv_target *t;
		int ret, returned = 0;

		assert_int_equal(pmadv_cgroup_open(c.path, 64, 0, &it), 0);
		/* (64 - 32) / 4 = 8 processes: give it 9 */
		for (int i = 0; i < 7; i++)
			cg_add(&c, kid_sleep(), "cgroup.procs");
		pmadv_cgroup_close(it);
		assert_int_equal(pmadv_cgroup_open(c.path, 64, 0, &it), 0);
		while ((ret = pmadv_cgroup_next(it, &t)) > 0) {
			returned++;
			pmadv_close(t);
		}
		assert_int_equal(ret, -ENOBUFS);
		assert_int_equal(returned, 8);
		pmadv_cgroup_close(it);
		assert_int_equal(walk(c.path, 4096, got, MAXKIDS, &n, NULL),
				 0);
		expect_members(got, n, c.kids, c.n);
	}
	cg_remove(&c);
	if (mounted) {
		assert_int_equal(umount(own), 0);
		rmdir(own);
	}
}

/* Makes the next PID the kernel hands out be want (ns_last_pid), then
 * forks a child that stays outside any test cgroup: its PID, or 0 when
 * another fork on the system took want first. */
static pid_t stranger_at(pid_t want)
{
	for (int tries = 0; tries < 20; tries++) {
		char s[32];
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		pid_t pid;

		if (fd < 0)
			return 0;
		snprintf(s, sizeof(s), "%d", (int)want - 1);
		if (write(fd, s, strlen(s)) < 0) {
			close(fd);
			return 0;
		}
		close(fd);
		pid = kid_sleep();
		if (pid == want)
			return pid;
		kill_wait(pid);
	}
	return 0;
}

/* Where test_gap makes its cgroup and moves a member to: the mount's
 * root, or (--gap-in-ns) the root of the cgroup namespace it runs in. */
static const char *gap_base;

/* Between the read of the list (at open: the whole short list fits the
 * buffer) and the handles: one member moves out, one exits, one exits
 * and a stranger outside the cgroup takes its PID. Only the two that
 * stayed are returned. */
static void test_gap(void **state)
{
	const char *mnt;
	pid_t got[8], stayed[2], moved, gone, reused, stranger;
	struct pmadv_cgroup *it;
	struct pmadv_target *t;
	char mntdir[PATH_MAX];
	struct cg c;
	int ret, n = 0;

	(void)state;
	need_root();
	mnt = gap_base ? gap_base : mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&c, mnt, "gap"))
		skip();
	snprintf(mntdir, sizeof(mntdir), "%s", mnt);
	for (int i = 0; i < 5; i++)
		cg_add(&c, kid_sleep(), "cgroup.procs");
	moved = c.kids[0];
	gone = c.kids[1];
	reused = c.kids[2];
	stayed[0] = c.kids[3];
	stayed[1] = c.kids[4];
	assert_int_equal(pmadv_cgroup_open(c.path, 0, 0, &it), 0);
	/* the list is in the buffer now; change the cgroup under it */
	assert_int_equal(write_pid(mntdir, "cgroup.procs", moved), 0);
	kill_wait(gone);
	c.kids[1] = 0;
	kill_wait(reused);
	c.kids[2] = 0;
	stranger = stranger_at(reused);
	while ((ret = pmadv_cgroup_next(it, &t)) > 0) {
		assert_true(n < 8);
		got[n++] = pmadv_target_pid(t);
		pmadv_close(t);
	}
	assert_int_equal(ret, 0);
	pmadv_cgroup_close(it);
	expect_members(got, n, stayed, 2);
	if (stranger)
		kill_wait(stranger);
	else
		fprintf(stderr, "# PID %d was not reused (another fork took "
			"it): the reuse case ran as a plain exit\n",
			(int)reused);
	cg_remove(&c);
}

/* test_gap run by a copy of this program inside a new cgroup namespace
 * rooted at a cgroup made here: the cgroup2 mount it inherits has its
 * root above the namespace's, so /proc/PID/cgroup paths cannot be
 * matched, and the iterator checks members by reading the list again
 * (before, pmadv_cgroup_open refused with EXDEV). */
static void test_gap_ns(void **state)
{
	const char *mnt;
	struct cg root;
	int status;
	pid_t pid;

	(void)state;
	need_root();
	mnt = mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&root, mnt, "nsroot"))
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test-cgroup", "--gap-in-ns", root.path,
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	cg_remove(&root);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		skip();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* 200 members, a 64-byte buffer: all walked, each once; one allocation
 * per handle (pmadv_open's), none for the list. */
static void test_long_list(void **state)
{
	struct pmadv_cgroup_stats st;
	struct pmadv_cgroup *it;
	struct pmadv_target *t;
	const char *mnt;
	static pid_t got[MAXKIDS];
	struct cg c;
	int ret, n = 0, allocs_per_open;

	(void)state;
	need_root();
	mnt = mount_of("cgroup2", NULL);
	if (!mnt || !cg_make(&c, mnt, "long"))
		skip();
	for (int i = 0; i < 200; i++)
		cg_add(&c, kid_sleep(), "cgroup.procs");
	/* what one pmadv_open allocates, measured */
	allocations = 0;
	counting = 1;
	assert_int_equal(pmadv_open(c.kids[0], 0, &t), 0);
	counting = 0;
	allocs_per_open = allocations;
	pmadv_close(t);
	assert_int_equal(pmadv_cgroup_open(c.path, 64, 0, &it), 0);
	allocations = 0;
	counting = 1;
	while ((ret = pmadv_cgroup_next(it, &t)) > 0) {
		got[n++] = pmadv_target_pid(t);
		pmadv_close(t);
	}
	counting = 0;
	assert_int_equal(ret, 0);
	assert_int_equal(allocations, n * allocs_per_open);
	assert_int_equal(pmadv_cgroup_stats(it, &st, sizeof(st)), 0);
	assert_true(st.listed >= 200);
	pmadv_cgroup_close(it);
	expect_members(got, n, c.kids, c.n);
	cg_remove(&c);
}

static void test_refusals(void **state)
{
	struct pmadv_cgroup *it = NULL;
	struct pmadv_cgroup_stats st;

	(void)state;
	assert_int_equal(pmadv_cgroup_open("/tmp", 0, 0, &it), -EMEDIUMTYPE);
	assert_null(it);
	assert_int_equal(pmadv_cgroup_open("/nonexistent-cg", 0, 0, &it),
			 -ENOENT);
	assert_int_equal(pmadv_cgroup_open("/sys/fs/cgroup", 63, 0, &it),
			 -EINVAL);
	assert_int_equal(pmadv_cgroup_open("/sys/fs/cgroup", 0, 0x100, &it),
			 -EINVAL);
	assert_int_equal(pmadv_cgroup_open(NULL, 0, 0, &it), -EINVAL);
	/* a size that would wrap the allocation (it overflowed the heap) */
	assert_int_equal(pmadv_cgroup_open("/sys/fs/cgroup", SIZE_MAX - 8, 0,
					   &it), -EINVAL);
	assert_int_equal(pmadv_cgroup_open("/sys/fs/cgroup", (64u << 20) + 1,
					   0, &it), -EINVAL);
	assert_int_equal(pmadv_cgroup_next(NULL, NULL), -EINVAL);
	assert_int_equal(pmadv_cgroup_stats(NULL, &st, sizeof(st)), -EINVAL);
	pmadv_cgroup_close(NULL);
}

/* --threads-into DIR: start two threads that move into DIR's
 * cgroup.threads, then sleep (the threaded test's member). */
static void *mover(void *arg)
{
	write_pid(arg, "cgroup.threads", (pid_t)syscall(SYS_gettid));
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_v2_procs),
		cmocka_unit_test(test_v2_threaded),
		cmocka_unit_test(test_v1_tasks),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_gap_ns),
		cmocka_unit_test(test_long_list),
		cmocka_unit_test(test_removed),
		cmocka_unit_test(test_removed_at_open),
	};

	if (argc == 3 && strcmp(argv[1], "--threads-into") == 0) {
		pthread_t th;

		for (int i = 0; i < 2; i++)
			pthread_create(&th, NULL, mover, argv[2]);
		for (;;)
			pause();
	}
	if (argc == 3 && strcmp(argv[1], "--gap-in-ns") == 0) {
		const struct CMUnitTest gap[] = { cmocka_unit_test(test_gap) };
		char line[4096];
		bool above = false;
		FILE *f;

		if (write_pid(argv[2], "cgroup.procs", getpid()) < 0 ||
		    unshare(CLONE_NEWCGROUP) < 0)
			return 77;
		/* the inherited mount's root now shows as "/.." */
		f = fopen("/proc/self/mountinfo", "r");
		while (f && !above && fgets(line, sizeof(line), f))
			above = strstr(line, " - cgroup2 ") &&
				strstr(line, " /.. ");
		if (f)
			fclose(f);
		if (!above) {
			fprintf(stderr, "# no cgroup2 mount shows /.. here\n");
			return 1;
		}
		gap_base = argv[2];
		count_allocations();
		return cmocka_run_group_tests(gap, NULL, NULL);
	}
	count_allocations();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
