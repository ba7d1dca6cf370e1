// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Race control: hold a target still while its VMAs are read and advised,
 * then put it back exactly as it was. The kernel does not synchronise a
 * process_madvise caller with the target's own mmap/munmap, so a caller that
 * needs "the ranges I listed are the ranges I advised" stops the target.
 *
 * Default: PTRACE_SEIZE + PTRACE_INTERRUPT on every thread. Neither the
 * target nor its parent can see it (no SIGSTOP, no SIGCHLD, no SIGCONT), and
 * detaching restores a group stop that was in effect before: the kernel
 * re-arms it when the tracer goes. PMADV_HOLD_SIGSTOP is the fallback where
 * ptrace is not allowed: it is visible, and it leaves an already stopped
 * target alone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hold.h"
#include "vma.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define DEFAULT_TIMEOUT_MS 5000
/* Between two looks at a thread that has not stopped yet. */
#define POLL_NS 1000000L

struct thread {
	pid_t tid;
	int sig;      /* a signal caught in signal-delivery-stop, to give back */
	bool stopped;
};

struct pmadv_hold {
	struct pmadv_hold *next; /* in the list of active ptrace holds */
	struct pmadv_target *t;
	unsigned int flags;
	pid_t tracer;       /* ptrace requests must come from this thread */
	bool sent_stop;     /* SIGSTOP mode: we stopped it, so we continue it */
	struct thread *th;
	size_t n, cap;
};

/* Active ptrace holds of this process, for pmadv_hold_tracee. */
static pthread_mutex_t holds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pmadv_hold *holds;

static void holds_add(struct pmadv_hold *h)
{
	pthread_mutex_lock(&holds_lock);
	h->next = holds;
	holds = h;
	pthread_mutex_unlock(&holds_lock);
}

static void holds_remove(struct pmadv_hold *h)
{
	pthread_mutex_lock(&holds_lock);
	for (struct pmadv_hold **p = &holds; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&holds_lock);
}

int pmadv_hold_tracee(const struct pmadv_target *t, pid_t *tid)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	int ret = -ENOENT;

	pthread_mutex_lock(&holds_lock);
	for (struct pmadv_hold *h = holds; h && ret; h = h->next) {
		if (h->t->pid != t->pid || h->tracer != self)
			continue;
		/* Prefer the thread group leader, as injectors do. */
		for (size_t i = 0; i < h->n; i++) {
			if (h->th[i].tid <= 0)
				continue;
			if (ret || h->th[i].tid == t->pid)
				*tid = h->th[i].tid;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&holds_lock);
	return ret;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void nap(void)
{
	struct timespec ts = { 0, POLL_NS };

	nanosleep(&ts, NULL);
}

/* State letter of /proc/PID/task/TID/stat, or 0 when the thread is gone. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[96], buf[512];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold ')' */
	return p && p[1] == ' ' ? p[2] : 0;
}

static bool known(const struct pmadv_hold *h, pid_t tid)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->th[i].tid == tid)
			return true;
	return false;
}

static int add_thread(struct pmadv_hold *h, pid_t tid)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 16;
		struct thread *nt = realloc(h->th, ncap * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		h->th = nt;
		h->cap = ncap;
	}
	h->th[h->n].tid = tid;
	h->th[h->n].sig = 0;
	h->th[h->n].stopped = false;
	h->n++;
	return 0;
}

/* Seizes and interrupts every thread not seized yet; *added counts them. */
static int seize_new(struct pmadv_hold *h, int *added)
{
	pid_t pid = h->t->pid;
	char path[64];
	struct dirent *d;
	DIR *dir;
	int ret = 0;

	*added = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);

		if (tid <= 0 || known(h, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
			int err = errno;

			/* Exited meanwhile, or a zombie leader whose other
			 * threads live on: nothing there to hold. The kernel
			 * answers EPERM for a thread that is exiting. */
			if (err == ESRCH)
				continue;
			if (err == EPERM) {
				char st = thread_state(pid, tid);

				if (!st || st == 'Z' || st == 'X')
					continue;
			}
			ret = -err;
			break;
		}
		if ((ret = add_thread(h, tid)) < 0) {
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			break;
		}
		(*added)++;
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 &&
		    errno != ESRCH) {
			ret = -errno;
			break;
		}
	}
	closedir(dir);
	return ret;
}

/* A thread that exited while traced. Unless it is the leader (whose exit
 * status may belong to the caller as its parent), collect it: a traced
 * thread stays a zombie until its tracer does, and holds up the report of
 * the whole process's death to its parent. */
static void forget(struct pmadv_hold *h, struct thread *th)
{
	siginfo_t si;

	if (th->tid != h->t->pid)
		waitid(P_PID, (id_t)th->tid, &si, WEXITED | __WALL | WNOHANG);
	th->stopped = true;
	th->tid = -th->tid; /* nothing to detach */
}

/* Waits for thread i's first stop. waitid without WEXITED never reaps: the
 * target may be the caller's own child, whose exit status is not ours. */
static int wait_stop(struct pmadv_hold *h, struct thread *th, long deadline)
{
	for (;;) {
		siginfo_t si;
		char st;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)th->tid, &si,
			   WSTOPPED | __WALL | WNOHANG) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD) { /* gone */
				forget(h, th);
				return 0;
			}
			return -errno;
		}
		if (si.si_pid == th->tid) {
			int status = si.si_status;

			/* Event stops carry PTRACE_EVENT_STOP << 8; a plain
			 * signal number is a signal-delivery-stop: the signal
			 * is owed to the thread when we let go. */
			if ((status >> 8) != PTRACE_EVENT_STOP &&
			    si.si_code == CLD_TRAPPED)
				th->sig = status & 0xff;
			th->stopped = true;
			return 0;
		}
		st = thread_state(h->t->pid, th->tid);
		if (st == 0 || st == 'Z' || st == 'X') {
			forget(h, th);
			return 0;
		}
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		nap();
	}
}

static int detach_all(struct pmadv_hold *h)
{
	long deadline = now_ms() + DEFAULT_TIMEOUT_MS;
	int ret = 0;

	for (size_t i = 0; i < h->n; i++) {
		struct thread *th = &h->th[i];

		if (th->tid <= 0)
			continue;
		/* A thread never seen stopped (the hold failed or timed out
		 * before it stopped) cannot be detached by the kernel's
		 * rules: its interrupt is pending, wait for it, within one
		 * deadline for all threads. */
		if (!th->stopped && wait_stop(h, th, deadline) < 0) {
			ret = ret ? ret : -ETIMEDOUT;
			continue;
		}
		if (th->tid <= 0)
			continue;
		if (ptrace(PTRACE_DETACH, th->tid, NULL,
			   (void *)(long)th->sig) == 0)
			continue;
		if (errno == ESRCH) /* it died while held */
			forget(h, th);
		else if (!ret)
			ret = -errno;
	}
	return ret;
}

static int hold_ptrace(struct pmadv_hold *h, long deadline)
{
	int added, ret;

	/* Until a listing shows no thread we have not stopped: only running
	 * threads can create threads, and all listed ones are stopped. */
	do {
		ret = seize_new(h, &added);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < h->n; i++) {
			if (h->th[i].stopped)
				continue;
			ret = wait_stop(h, &h->th[i], deadline);
			if (ret < 0)
				return ret;
		}
	} while (added);
	if (!h->n)
		return -ESRCH;
	return pmadv_target_alive(h->t);
}

static int send_signal(const struct pmadv_target *t, int sig)
{
	long ret;

	if (t->pidfd >= 0)
		ret = syscall(SYS_pidfd_send_signal, t->pidfd, sig, NULL, 0);
	else
		ret = kill(t->pid, sig);
	return ret < 0 ? -errno : 0;
}

/* True when every thread is in a stop ('T', or 't' under a debugger). */
static int all_stopped(const struct pmadv_target *t)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int ret = 1;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
		char st;

		if (tid <= 0)
			continue;
		st = thread_state(t->pid, tid);
		if (st && st != 'T' && st != 't' && st != 'Z' && st != 'X') {
			ret = 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

static int hold_sigstop(struct pmadv_hold *h, long deadline)
{
	int ret = all_stopped(h->t);

	if (ret < 0)
		return ret;
	if (ret) /* already stopped: not ours to continue later */
		return 0;
	ret = send_signal(h->t, SIGSTOP);
	if (ret < 0)
		return ret;
	h->sent_stop = true;
	while ((ret = all_stopped(h->t)) == 0) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		nap();
	}
	return ret < 0 ? ret : 0;
}

static int release(struct pmadv_hold *h)
{
	int ret = 0;

	if (h->flags & PMADV_HOLD_SIGSTOP) {
		/* A target that died meanwhile has nothing to restore. */
		if (h->sent_stop && (ret = send_signal(h->t, SIGCONT)) == -ESRCH)
			ret = 0;
	} else {
		if ((pid_t)syscall(SYS_gettid) != h->tracer)
			return -EINVAL;
		holds_remove(h);
		ret = detach_all(h);
	}
	free(h->th);
	free(h);
	return ret;
}

static int hold(struct pmadv_target *t, unsigned int flags, int timeout_ms,
		struct pmadv_hold **out)
{
	struct pmadv_hold *h;
	long deadline;
	int ret;

	if (!t || !out || (flags & ~PMADV_HOLD_SIGSTOP) || timeout_ms < 0)
		return -EINVAL;
	/* Stopping ourselves would never come back. */
	if (t->pid == getpid())
		return -EINVAL;
	ret = pmadv_target_alive(t);
	if (ret < 0)
		return ret;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->t = t;
	h->flags = flags;
	h->tracer = (pid_t)syscall(SYS_gettid);
	deadline = now_ms() + (timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS);
	if (flags & PMADV_HOLD_SIGSTOP)
		ret = hold_sigstop(h, deadline);
	else
		ret = hold_ptrace(h, deadline);
	if (ret < 0) {
		release(h); /* undo whatever part was done */
		return ret;
	}
	if (!(flags & PMADV_HOLD_SIGSTOP))
		holds_add(h);
	pmadv_debug("holding PID %d (%s, %zu threads)", (int)t->pid,
		    flags & PMADV_HOLD_SIGSTOP ? "SIGSTOP" : "ptrace", h->n);
	*out = h;
	return 0;
}

PMADV_API int pmadv_hold(struct pmadv_target *t, unsigned int flags,
			 int timeout_ms, struct pmadv_hold **out)
{
	int saved = errno, ret = hold(t, flags, timeout_ms, out);

	errno = saved;
	return ret;
}

PMADV_API int pmadv_release(struct pmadv_hold *h)
{
	int saved = errno, ret = 0;

	if (h)
		ret = release(h);
	errno = saved;
	return ret;
}
