// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Helpers for the ptrace rung's tests (see ptest.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ptest.h"

int pt_exec_error(const char *path)
{
	int fds[2], err = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return errno;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(fds[0]), close(fds[1]);
		return err;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* the target exits at EOF on its stdin */
		dup2(null, 0), dup2(null, 1);
		execl(path, path, (char *)NULL);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) != sizeof(err))
			_exit(126);
		_exit(127);
	}
	close(fds[1]);
	/* the close-on-exec pipe stays empty when execve succeeded */
	if (read(fds[0], &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(fds[0]);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return err;
}

const char *pt_target32(void)
{
	const char *path = getenv("PT_TARGET32");
	const char *vm = getenv("PT_TARGET32_VM");
	int err;

	PT_REQUIRE(path && *path && access(path, X_OK) == 0,
		   "no 32-bit target (gcc-i686-linux-gnu or "
		   "gcc-arm-linux-gnueabihf)");
	err = pt_exec_error(path);
	if (err == 0)
		return path;
	print_message("this kernel cannot run 32-bit programs: execve "
		      "of %s: %s\n", path, strerror(err));
	if (err == ENOEXEC && vm && *vm) {
		print_message("skipped here; the '%s' test runs this case in "
			      "a guest kernel that can\n", vm);
		skip();
	}
	PT_REQUIRE(false, "32-bit programs cannot run here and no vm test "
		   "runs this case");
	return NULL;
}

pid_t pt_fork(void (*fn)(void *), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		fn(arg);
		_exit(0);
	}
	return pid;
}

void pt_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

ssize_t pt_advise(pid_t pid, const struct iovec *iov, size_t n, int advice,
		  unsigned int flags, struct pmadv_result *res)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	ssize_t ret;
	int r;

	r = pmadv_open(pid, 0, &t);
	if (r < 0)
		return r;
	o.flags = flags;
	o.methods = PMADV_METHOD_PTRACE;
	ret = pmadv_advise(t, iov, n, advice, &o, res);
	pmadv_close(t);
	return ret;
}

static ssize_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	buf[0] = '\0';
	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1 &&
	       (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = '\0';
	close(fd);
	return got;
}

int pt_snapshot(pid_t pid, struct pt_snap *s)
{
	char path[300], link[512], status[8192];
	struct dirent *d;
	size_t used = 0, pend = 0;
	DIR *dir;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (slurp(path, s->maps, sizeof(s->maps)) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		used += (size_t)snprintf(s->fds + used, sizeof(s->fds) - used,
					 "%s->%s\n", d->d_name, link);
		if (used >= sizeof(s->fds))
			break;
	}
	closedir(dir);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (slurp(path, status, sizeof(status)) < 0)
		return -1;
	used = 0;
	for (char *l = strtok(status, "\n"); l; l = strtok(NULL, "\n")) {
		/* SigQ counts the whole user's queued signals: not ours */
		if (!strncmp(l, "SigQ", 4))
			continue;
		if (!strncmp(l, "SigPnd", 6) || !strncmp(l, "ShdPnd", 6))
			pend += (size_t)snprintf(s->pend + pend,
						 sizeof(s->pend) - pend,
						 "%s\n", l);
		else if (!strncmp(l, "Sig", 3) || !strncmp(l, "TracerPid", 9))
			used += (size_t)snprintf(s->sig + used,
						 sizeof(s->sig) - used, "%s\n",
						 l);
	}
	return 0;
}

void pt_assert_same(const struct pt_snap *a, const struct pt_snap *b,
		    bool pending)
{
	assert_string_equal(a->maps, b->maps);
	assert_string_equal(a->fds, b->fds);
	assert_string_equal(a->sig, b->sig);
	if (pending)
		assert_string_equal(a->pend, b->pend);
}

long pt_syscall_of(pid_t pid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

double pt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

ssize_t pt_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	double end = pt_now() + timeout_ms / 1000.0;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { fd, POLLIN, 0 };
		int left = (int)((end - pt_now()) * 1000);
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}


void pt_log_begin(struct pt_log *l)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	l->file = f;
	l->saved_fd = dup(STDERR_FILENO);
	assert_true(l->saved_fd >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	setenv("PMADV_DEBUG", "1", 1);
}

int pt_log_end(struct pt_log *l, const char *needle)
{
	FILE *f = l->file;
	char line[512];
	int n = 0;

	unsetenv("PMADV_DEBUG");
	dup2(l->saved_fd, STDERR_FILENO);
	close(l->saved_fd);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		n += strstr(line, needle) != NULL;
		if (getenv("PT_VERBOSE"))
			fputs(line, stdout);
	}
	fclose(f);
	return n;
}

int pt_children(pid_t pid, pid_t exclude, pid_t *out, int max)
{
	char path[320], buf[4096];
	int n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char *p, *end;
		ssize_t got;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children",
			 (int)pid, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[got > 0 ? got : 0] = '\0';
		for (p = buf;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			if (v != exclude && n < max)
				out[n++] = (pid_t)v;
		}
	}
	closedir(d);
	return n;
}
