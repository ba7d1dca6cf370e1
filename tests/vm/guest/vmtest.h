/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers shared by the programs that test the procmadvise module
 * inside the VM: checks that count failures instead of aborting (so one run
 * reports every broken case), the ioctl call, forked targets, /proc
 * readers and module loading. Header-only so each test stays one static
 * binary built by one gcc command.
 */
#ifndef PMADV_VMTEST_H
#define PMADV_VMTEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procmadvise-ioctl.h"

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define VT_DEV "/dev/procmadvise"
#define VT_SKIP 77

static int vt_failed;
static int vt_passed;

static inline void vt_check(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline void vt_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		vt_passed++;
		return;
	}
	vt_failed++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) vt_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* Checks that an expression yielding 0 or -errno gives want. */
#define CHECK_ERR(expr, want, what) do { \
	int got_ = (expr); \
	CHECK(got_ == (want), "%s: got %d (%s), want %d (%s)", what, got_, \
	      strerror(got_ < 0 ? -got_ : 0), want, \
	      strerror((want) < 0 ? -(want) : 0)); \
} while (0)

static inline int vt_finish(const char *name)
{
	printf("%s: %d checks passed, %d failed\n", name, vt_passed, vt_failed);
	fflush(stdout);
	return vt_failed ? 1 : 0;
}

static inline void vt_die(const char *what)
{
	fprintf(stderr, "FATAL: %s: %s\n", what, strerror(errno));
	exit(2);
}

static inline void vt_req(struct procmadvise_req *r, int pidfd, pid_t pid,
		   const struct iovec *iov, unsigned vlen, int advice)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->pidfd = pidfd;
	r->pid = pid;
	r->iov = (uint64_t)(uintptr_t)iov;
	r->vlen = vlen;
	r->advice = advice;
}

/* 0 or -errno; results in *r. */
static inline int vt_ioctl(int fd, struct procmadvise_req *r)
{
	return ioctl(fd, PROCMADVISE_IOC_ADVISE, r) ? -errno : 0;
}

static inline int vt_open_dev(int flags)
{
	int fd = open(VT_DEV, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int vt_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * A target: a forked child that runs fn (which sets up its memory, e.g.
 * touching a region the parent mapped before the fork so that the pages
 * are the child's own), reports readiness through a pipe and then sleeps
 * until killed.
 */
struct vt_target {
	pid_t pid;
	int pidfd;
};

static inline struct vt_target vt_spawn(void (*fn)(void *), void *arg)
{
	struct vt_target t;
	int p[2];
	char c;

	if (pipe(p))
		vt_die("pipe");
	t.pid = fork();
	if (t.pid < 0)
		vt_die("fork");
	if (t.pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fn)
			fn(arg);
		if (write(p[1], "r", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		vt_die("target did not start");
	close(p[0]);
	t.pidfd = vt_pidfd_open(t.pid);
	if (t.pidfd < 0)
		vt_die("pidfd_open");
	return t;
}

static inline void vt_kill(struct vt_target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	if (t->pidfd >= 0)
		close(t->pidfd);
	t->pid = -1;
	t->pidfd = -1;
}

static inline void vt_touch(void *addr, size_t len)
{
	volatile unsigned char *p = addr;
	size_t i;

	/* Varying bytes, so zram stores real compressed pages rather than
	 * same-filled ones. */
	for (i = 0; i < len; i += 64)
		p[i] = (unsigned char)(i * 2654435761u >> 13);
}

/* Whether this kernel knows an advice, asked of madvise(2) itself: a
 * zero-length call returns 0 for a known one and EINVAL for any other. */
static inline int vt_kernel_knows(int advice)
{
	static char page[4096] __attribute__((aligned(4096)));

	return madvise(page, 0, advice) == 0;
}

/* A field ("Rss:", "Referenced:"...) in kB: from /proc/PID/smaps_rollup
 * when addr is 0, else from the smaps entry of the mapping at addr. */
static inline long vt_smaps_kb(pid_t pid, uintptr_t addr, const char *field)
{
	char path[64], line[256];
	long val = -1;
	int in = addr == 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid,
		 addr ? "smaps" : "smaps_rollup");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;

		/* A mapping's header line: "start-end perms ...". Field
		 * lines never parse as two hex numbers joined by '-'.
		 * smaps_rollup has one, for its single entry. */
		if (addr && sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (in && addr)
				break;
			in = start == addr;
			continue;
		}
		if (in && strncmp(line, field, strlen(field)) == 0) {
			val = strtol(line + strlen(field), NULL, 10);
			if (!addr)
				break;
		}
	}
	fclose(f);
	return val;
}

static inline int vt_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* Module loading, so tests can reload it with other parameters. */
static inline const char *vt_ko(void)
{
	const char *p = getenv("PMADV_KO");

	return p ? p : "/lib/procmadvise.ko";
}

static inline int vt_insmod(const char *params)
{
	int fd = open(vt_ko(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = (int)syscall(SYS_finit_module, fd, params, 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

static inline int vt_rmmod(void)
{
	return syscall(SYS_delete_module, "procmadvise", O_NONBLOCK) ? -errno : 0;
}

/* Reloads the module with params ("" for the defaults). */
static inline int vt_reload(const char *params)
{
	int ret = vt_rmmod();

	if (ret && ret != -ENOENT)
		return ret;
	return vt_insmod(params);
}

/* Turns the calling (forked) process into an unprivileged user that can
 * still be the target of its own checks: without PR_SET_DUMPABLE the
 * ptrace check fails with EACCES after setuid. */
static inline void vt_become_user(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) || setgid(gid) || setuid(uid))
		vt_die("drop privileges");
	prctl(PR_SET_DUMPABLE, 1);
}

#endif /* PMADV_VMTEST_H */
