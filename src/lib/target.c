// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Target handles: one process, named by a pidfd where the kernel has
 * pidfd_open, else by pid and start time, so that a reused PID is noticed
 * (-ESRCH) instead of advising a stranger. And the library's one answer to
 * identity and liveness, and its reader of small /proc files, which the
 * rungs, the VMA sources and pmadv_hold use.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "errnos.h"
#include "internal.h"

ssize_t pmadv_read_proc(const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			close(fd);
			return -err;
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

bool pmadv_status_lists(const char *status, const char *name,
			const char *word)
{
	size_t nlen = strlen(name), wlen = strlen(word);
	const char *p = status;

	while (p && strncmp(p, name, nlen)) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p || !wlen)
		return false;
	for (p += nlen; *p && *p != '\n';) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t\n");
		if (n == wlen && !strncmp(p, word, n))
			return true;
		p += n;
	}
	return false;
}

const char *pmadv_stat_field(const char *line, int field)
{
	const char *p = strrchr(line, ')');

	if (!p || p[1] != ' ' || field < 3)
		return NULL;
	p += 2; /* field 3 */
	for (int f = 3; f < field; f++) {
		p = strchr(p, ' ');
		if (!p)
			return NULL;
		p++;
	}
	return *p ? p : NULL;
}

int pmadv_read_starttime(pid_t pid, unsigned long long *out)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	if (n == -ENOENT)
		return -ESRCH;
	if (n < 0)
		return (int)n;
	p = pmadv_stat_field(buf, 22);
	if (!p)
		return -EIO;
	*out = strtoull(p, NULL, 10);
	return 0;
}

int pmadv_identity(pid_t pid, int pidfd, unsigned long long starttime)
{
	unsigned long long st;
	int ret;

	if (pidfd >= 0) {
		if (pmadv_sys->pidfd_send_signal(pidfd, 0) == 0 ||
		    errno == EPERM) /* alive, only not ours to signal */
			return 0;
		return errno == ESRCH ? -ESRCH : -errno;
	}
	ret = pmadv_read_starttime(pid, &st);
	if (ret < 0)
		return ret == -ESRCH ? -ESRCH : ret;
	return st == starttime ? 0 : -ESRCH;
}

int pmadv_target_alive(const struct pmadv_target *t)
{
	if (t->self) /* the caller: alive while it asks */
		return 0;
	return pmadv_identity(t->pid, t->pidfd, t->starttime);
}

int pmadv_target_runs(const struct pmadv_target *t)
{
	struct pollfd p = { t->pidfd, POLLIN, 0 };

	/* A pidfd is readable once the whole thread group has exited: not
	 * while a thread execs (the old leader is briefly a zombie in /proc
	 * then), nor for a main thread that called pthread_exit. */
	if (t->self)
		return 1;
	if (t->pidfd >= 0 && poll(&p, 1, 0) >= 0 && !(p.revents & POLLNVAL))
		return !(p.revents & (POLLIN | POLLHUP));
	return pmadv_process_runs(t->pid);
}

int pmadv_process_runs(pid_t pid)
{
	char path[64], buf[4096];
	const char *state, *threads;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? 0 : (int)n;
	state = strstr(buf, "\nState:\t");
	threads = strstr(buf, "\nThreads:\t");
	if (!state || !threads)
		return -EIO;
	/* a zombie leader with threads left: its process runs */
	return state[8] != 'Z' && state[8] != 'X' ? 1
	       : strtol(threads + 10, NULL, 10) > 1;
}

/* The state letter of task tid of process pid, or 0 when unreadable;
 * *vsize (unless NULL) its address space's size in bytes, 0 once the
 * exiting task has let go of it (before it is a zombie). */
static char task_state(pid_t pid, pid_t tid, unsigned long long *vsize)
{
	char path[96], buf[1024];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	if (pmadv_read_proc(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = pmadv_stat_field(buf, 3);
	if (!p)
		return 0;
	if (vsize) { /* field 23 */
		const char *f = pmadv_stat_field(buf, 23);

		*vsize = f ? strtoull(f, NULL, 10) : 0;
	}
	return *p;
}

bool pmadv_task_has_mm(pid_t pid, pid_t tid)
{
	unsigned long long vsize = 0;
	char st = task_state(pid, tid, &vsize);

	return st && st != 'Z' && st != 'X' && vsize;
}

#define RECENT 16

static pid_t proc_task_path(pid_t pid, pid_t tid, const char *file,
			    char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/task/%d/%s", (int)pid, (int)tid, file);
	return tid;
}

pid_t pmadv_proc_path(pid_t pid, const char *file, char *buf, size_t len)
{
	pid_t recent[RECENT];
	unsigned int seen = 0;
	char task[64];
	struct dirent *d;
	DIR *dir;
	char st;

	snprintf(buf, len, "/proc/%d/%s", (int)pid, file);
	st = task_state(pid, pid, NULL);
	if (st != 'Z' && st != 'X')
		return 0;
	/* The leader called pthread_exit: /proc/PID/maps is empty, a live
	 * thread's view is the process's. */
	snprintf(task, sizeof(task), "/proc/%d/task", (int)pid);
	dir = opendir(task);
	if (!dir)
		return 0;
	/* The newest threads first: the task directory lists a process's
	 * threads in the order they were made, and where each thread starts
	 * the next and exits (a relay of short-lived workers), the oldest
	 * is the one about to exit. The last RECENT are kept. */
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);

		if (tid > 0 && tid != pid)
			recent[seen++ % RECENT] = tid;
	}
	for (unsigned int i = 0; i < RECENT && i < seen; i++) {
		pid_t tid = recent[(seen - 1 - i) % RECENT];

		if (pmadv_task_has_mm(pid, tid)) {
			closedir(dir);
			return proc_task_path(pid, tid, file, buf, len);
		}
	}
	/* None of the newest has an address space (exiting, or zombies a
	 * tracer keeps): any older one that has. */
	rewinddir(dir);
	for (unsigned int i = 0; seen > RECENT && (d = readdir(dir)) &&
				 i < seen - RECENT;) {
		pid_t tid = (pid_t)atoi(d->d_name);

		if (tid <= 0 || tid == pid)
			continue;
		i++;
		if (pmadv_task_has_mm(pid, tid)) {
			closedir(dir);
			return proc_task_path(pid, tid, file, buf, len);
		}
	}
	closedir(dir);
	/* no thread to read through at this moment: the leader's own
	 * files are empty, and its process may be between two threads */
	return -ESRCH;
}

static int target_new(pid_t pid, int pidfd, struct pmadv_target **out)
{
	struct pmadv_target *t;
	int ret;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->pid = pid;
	t->pidfd = pidfd;
	ret = pmadv_read_starttime(pid, &t->starttime);
	if (ret < 0) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

/* The thread group of task pid (its process ID), or -errno. */
pid_t pmadv_tgid_of(pid_t pid)
{
	char path[64], buf[4096];
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (pid_t)n;
	p = strstr(buf, "\nTgid:\t");
	return p ? (pid_t)strtol(p + 7, NULL, 10) : -EIO;
}

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

/* 0 when /proc numbers processes as the caller's PID namespace does (or is
 * not mounted: the opens that follow say so), -EXDEV when it is the /proc
 * of another PID namespace (unshare -p without a /proc of its own): there
 * /proc/PID is another process than the PID the caller means, and the
 * library would read one process's maps and advise another. */
int pmadv_proc_check(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	struct statfs sf;

	if (n > 0) {
		buf[n] = '\0';
		if (strtol(buf, NULL, 10) == (long)getpid())
			return 0;
	} else if (errno != ENOENT || statfs("/proc", &sf) < 0 ||
		   sf.f_type != PROC_SUPER_MAGIC) {
		return 0;
	}
	/* a link to another number, or none: the caller is not in the
	 * namespace of this /proc at all */
	pmadv_debug("/proc is not of this process's PID namespace (/proc/self "
		    "is %s, this is PID %d)", n > 0 ? buf : "missing",
		    (int)getpid());
	return -EXDEV;
}

static int open_pid(pid_t pid, unsigned int flags, struct pmadv_target **out)
{
	int pidfd, ret;
	pid_t tgid;

	if (!out || pid <= 0 || (flags & ~PMADV_OPEN_PIDFD))
		return -EINVAL;
	ret = pmadv_proc_check();
	if (ret < 0)
		return ret;
	/* A thread ID (top -H, cgroup.threads) names no process here, even
	 * where /proc and pidfd_open would take it: EINVAL, always. */
	tgid = pmadv_tgid_of(pid);
	if (tgid < 0)
		return tgid;
	if (tgid != pid) {
		pmadv_debug("%d is a thread of process %d, not a process ID",
			    (int)pid, (int)tgid);
		return -EINVAL;
	}
	pidfd = (int)pmadv_sys->pidfd_open(pid, 0);
	if (pidfd < 0) {
		ret = errno;
		if (ret != ENOSYS)
			return -ret;
		if (flags & PMADV_OPEN_PIDFD) {
			pmadv_debug("pidfd_open: ENOSYS, and PMADV_OPEN_PIDFD "
				    "asks for a pidfd");
			return -ENOSYS;
		}
		pmadv_debug("pidfd_open: ENOSYS, naming PID %d by start time",
			    (int)pid);
	}
	ret = target_new(pid, pidfd, out);
	if (ret < 0 && pidfd >= 0)
		close(pidfd);
	return ret;
}

/* The PID a pidfd refers to, from its fdinfo: -1 once the process is gone
 * (-ESRCH), 0 for a live process outside the caller's PID namespace
 * (-EXDEV: it has no /proc/PID here), no Pid line when the fd is not a
 * pidfd (-EBADF). */
static int pidfd_pid(int pidfd, pid_t *pid)
{
	char path[64], buf[2048];
	const char *p;
	ssize_t n;
	long v;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -EBADF : (int)n;
	p = strstr(buf, "\nPid:");
	if (!p)
		return -EBADF;
	v = strtol(p + 5, NULL, 10);
	if (v == 0) {
		pmadv_debug("pidfd %d: its process is outside this PID "
			    "namespace (fdinfo Pid: 0)", pidfd);
		return -EXDEV;
	}
	if (v < 0)
		return -ESRCH;
	*pid = (pid_t)v;
	return 0;
}

static int open_pidfd(int pidfd, unsigned int flags,
		      struct pmadv_target **out)
{
	pid_t pid;
	int fd, ret;

	if (!out || flags)
		return -EINVAL;
	if (pidfd < 0)
		return -EBADF;
	ret = pidfd_pid(pidfd, &pid);
	if (ret < 0)
		return ret;
	/* a PIDFD_THREAD pidfd (6.9+) of a thread that is not its process's
	 * main one: refused as pmadv_open refuses a thread ID */
	if (pmadv_tgid_of(pid) >= 0 && pmadv_tgid_of(pid) != pid)
		return -EINVAL;
	fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	ret = target_new(pid, fd, out);
	if (ret < 0)
		close(fd);
	return ret;
}

/*
 * Self handles. PIDFD_SELF follows the caller across fork by itself; a
 * pidfd names the process that opened it, and is wrong in a child.
 */
int pmadv_self_pidfd(const struct pmadv_target *t, int *tmp)
{
	*tmp = -1;
	switch (t->self) {
	case PMADV_SELF_SENTINEL:
		return PMADV_PIDFD_SELF;
	case PMADV_SELF_MADVISE:
		return -1;
	case PMADV_SELF_PIDFD:
		if (getpid() == t->pid)
			return t->pidfd;
		*tmp = (int)pmadv_sys->pidfd_open(getpid(), 0);
		return *tmp >= 0 ? *tmp : -errno;
	default:
		return t->pidfd;
	}
}

/* Which way the calling process can name itself to process_madvise. */
static int self_mode(int *pidfd)
{
	struct iovec none = { NULL, 0 };
	long ret;

	*pidfd = -1;
	/* a zero-length vector: every check but the ranges' */
	ret = pmadv_sys->process_madvise(PMADV_PIDFD_SELF, &none, 0,
					 MADV_COLD, 0);
	if (ret == 0)
		return PMADV_SELF_SENTINEL;
	if (errno == ENOSYS) {
		pmadv_debug("self: no process_madvise: madvise per range");
		return PMADV_SELF_MADVISE;
	}
	pmadv_debug("self: PIDFD_SELF refused (%s): a pidfd of PID %d",
		    pmadv_errdesc(errno), (int)getpid());
	*pidfd = (int)pmadv_sys->pidfd_open(getpid(), 0);
	if (*pidfd >= 0)
		return PMADV_SELF_PIDFD;
	if (errno == ENOSYS)
		return PMADV_SELF_MADVISE;
	return -errno;
}

static int open_self(unsigned int flags, struct pmadv_target **out)
{
	struct pmadv_target *t;
	int mode, pidfd;

	if (!out || flags)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	mode = self_mode(&pidfd);
	if (mode < 0) {
		free(t);
		return mode;
	}
	t->self = mode;
	t->pid = getpid();
	t->pidfd = pidfd;
	*out = t;
	return 0;
}

PMADV_API int pmadv_open_self(unsigned int flags, struct pmadv_target **out)
{
	int saved = errno, ret = open_self(flags, out);

	errno = saved;
	return (int)PMADV_RC(pmadv_open_self, ret);
}

PMADV_API int pmadv_open(pid_t pid, unsigned int flags,
			 struct pmadv_target **out)
{
	int saved = errno, ret = open_pid(pid, flags, out);

	errno = saved;
	return (int)PMADV_RC(pmadv_open, ret);
}

PMADV_API int pmadv_open_pidfd(int pidfd, unsigned int flags,
			       struct pmadv_target **out)
{
	int saved = errno, ret = open_pidfd(pidfd, flags, out);

	errno = saved;
	return (int)PMADV_RC(pmadv_open_pidfd, ret);
}

PMADV_API void pmadv_close(struct pmadv_target *t)
{
	int saved = errno;

	if (!t)
		return;
	if (t->pidfd >= 0)
		close(t->pidfd);
	free(t);
	errno = saved;
}

PMADV_API pid_t pmadv_target_pid(const struct pmadv_target *t)
{
	if (t && t->self)
		return getpid();
	return t ? t->pid : (pid_t)PMADV_RC(pmadv_target_pid, -EINVAL);
}

PMADV_API int pmadv_target_pidfd(const struct pmadv_target *t)
{
	return (int)PMADV_RC(pmadv_target_pidfd,
			     !t			     ? -EINVAL
			     : !t->self && t->pidfd >= 0 ? t->pidfd
							 : -ENOSYS);
}

bool pmadv_thread_retry(int tries, int64_t *start)
{
	struct timespec ts, nap = { 0, 100000 };
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (tries == 0)
		*start = now;
	if (tries < PMADV_THREAD_TRIES)
		return true;
	if (now - *start >= PMADV_THREAD_RETRY_MS)
		return false;
	nanosleep(&nap, NULL);
	return true;
}

int pmadv_open_proc(const struct pmadv_target *t, const char *file,
		    pid_t *via)
{
	char path[96];
	int64_t start = 0;
	pid_t tid;
	int fd;

	/* A thread chosen for a process whose main thread has exited may
	 * exit before the open: choose again while the process runs. */
	for (int tries = 0;; tries++) {
		/* a self handle: the caller, maybe a child forked since */
		tid = pmadv_proc_path(t->self ? getpid() : t->pid, file, path,
				      sizeof(path));
		fd = tid < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (via)
				*via = tid;
			return fd;
		}
		/* ENOENT: the thread went before the lookup; ESRCH: after
		 * it, before the open took its address space (proc_mem_open;
		 * 6.x answers so too for a thread that has let go of it) */
		if (tid >= 0 && errno != ENOENT && errno != ESRCH)
			return -errno;
		if (!tid || pmadv_target_runs(t) != 1 ||
		    !pmadv_thread_retry(tries, &start))
			return -ESRCH;
		sched_yield();
	}
}
