// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Race control: hold a target still while its VMAs are read and advised,
 * then put it back exactly as it was. The kernel does not synchronise a
 * process_madvise caller with the target's own mmap/munmap, so a caller that
 * needs "the ranges I listed are the ranges I advised" stops the target.
 *
 * Default: PTRACE_SEIZE + PTRACE_INTERRUPT on every thread, done by a
 * tracer of the ptrace rung's kind (ptrace/tracer.c): a clone child of a
 * worker thread, with exit signal 0, outside the caller's thread group.
 * So the caller's waitpid(-1) and waitid(P_ALL, __WALL) never see its
 * stops, and when the caller dies the tracer notices (its parent changes)
 * and lets go. Nothing of the target changes while it is held, so the
 * kernel's own detach when the tracer exits (however it exits) leaves the
 * target as it was. Neither the target nor its parent sees a signal, and a
 * group stop in effect before is re-armed by the kernel at the detach.
 * PMADV_HOLD_SIGSTOP is the fallback where ptrace is not allowed: it is
 * visible, and it leaves an already stopped target alone.
 *
 * The helper (tracer or watchdog) sees its caller's death, not a caller
 * that is stopped (SIGSTOP, a debugger) or stuck. PMADV_HOLD_LEASE gives
 * the hold an end of its own, timeout_ms after pmadv_hold() was called:
 * the helper lets go then as a release would, and the release, later,
 * finds it done and says -ETIMEDOUT. The tracer looks at the lease only in
 * its wait for the next command (pt_next_cmd), so it never cuts one short.
 * The helpers leave the caller's process group, so that a stop of the
 * caller's whole job does not stop them too.
 *
 * Exec in another thread while the threads are seized one by one: exec
 * waits in de_thread, holding the target's cred_guard_mutex, until the
 * other threads are reaped, and a traced thread is reaped by its tracer
 * alone; PTRACE_SEIZE of the next thread waits for that mutex. So while
 * a seize blocks, a timer interrupts it every few milliseconds (the kernel
 * restarts the seize afterwards), and the handler reaps the seized threads
 * that exited, which lets the exec finish; past the deadline it jumps out
 * of the seize. The thread that exec'd now has the leader's TID: a TID
 * seen again is trusted only if /proc says we trace it and it is stopped.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errnos.h"
#include "hold.h"
#include "ptrace/ptrace.h"
#include "vma.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* How often a blocked seize is interrupted to reap exited threads. */
#define SEIZE_TICK_US 5000
/* What the caller allows the tracer beyond the deadline to report. */
#define SLACK_MS 250
/* Between two looks at a target that has not stopped (SIGSTOP mode). */
#define POLL_NS 1000000L

struct thread {
	pid_t tid;    /* negative once it exited: nothing to detach */
	bool stopped; /* in a ptrace stop (or gone) */
};

/* A ptrace hold's session: the rung's session first (freeing it frees
 * all), then what the hold's tracer keeps. */
struct held {
	struct session s;
	int64_t deadline;    /* CLOCK_MONOTONIC ms, for taking the hold */
	int64_t lease;       /* when it lets go by itself (the same), or -1 */
	pid_t self;          /* the tracer's PID */
	sigjmp_buf past;     /* out of a seize past the deadline */
	struct thread *th;   /* the tracer's mmap: it must not malloc */
	size_t n, cap;
};

struct pmadv_hold {
	struct pmadv_hold *next; /* in the list of active ptrace holds */
	struct pmadv_target *t;
	unsigned int flags;
	int timeout_ms;     /* as given, 0 replaced by the default */
	int64_t lease;      /* PMADV_HOLD_LEASE: CLOCK_MONOTONIC ms; or -1 */
	pid_t owner;        /* the thread that took it */
	bool sent_stop;     /* SIGSTOP mode: we stopped it, so we continue it */
	int watch_fd;       /* SIGSTOP mode: the watchdog's socket, or -1 */
	pid_t watch_pid;    /* and the watchdog */
	int watch_pidfd;    /* and its pidfd (CLONE_PIDFD, 5.2), or -1 */
	struct held *hd;    /* ptrace mode */
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

static pid_t tid_of(const struct thread *th)
{
	return __atomic_load_n(&th->tid, __ATOMIC_ACQUIRE);
}

int pmadv_hold_tracee(const struct pmadv_target *t, pid_t *tid)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	int ret = -ENOENT;

	pthread_mutex_lock(&holds_lock);
	for (struct pmadv_hold *h = holds; h && ret; h = h->next) {
		/* a hold whose lease ended holds nothing any more */
		if (h->t->pid != t->pid || h->owner != self ||
		    pt_tracer_ended(&h->hd->s))
			continue;
		/* Prefer the thread group leader, as injectors do. */
		for (size_t i = 0; i < h->hd->n; i++) {
			pid_t x = tid_of(&h->hd->th[i]);

			if (x <= 0)
				continue;
			if (ret || x == t->pid)
				*tid = x;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&holds_lock);
	return ret;
}

/* ---- the hold's tracer (a clone child: no malloc, no lock, no stdio) ---- */

/* The held thread th exited: nothing to detach or wait for. */
static void gone(struct thread *th)
{
	th->stopped = true;
	__atomic_store_n(&th->tid, -tid_of(th), __ATOMIC_RELEASE);
}

/*
 * Reaps the seized threads that exited. A traced thread stays a zombie
 * until its tracer collects it; that holds up an exec (de_thread) and the
 * report of the whole process's death to its parent. The tracer is not
 * of the target's parent's thread group, so a leader collected here goes
 * back to its parent, status and all (the kernel's EXIT_TRACE). The first
 * look does not consume a stop (WNOWAIT).
 */
static void reap_exited(struct held *h)
{
	for (size_t i = 0; i < h->n; i++) {
		pid_t tid = tid_of(&h->th[i]);
		siginfo_t si;

		if (tid <= 0)
			continue;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)tid, &si,
			   WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 ||
		    si.si_pid != tid ||
		    (si.si_code != CLD_EXITED && si.si_code != CLD_KILLED &&
		     si.si_code != CLD_DUMPED))
			continue;
		waitid(P_PID, (id_t)tid, &si, WEXITED | WNOHANG | __WALL);
		gone(&h->th[i]);
	}
}

/* The tracer runs on its worker's thread-local storage, its own. */
static __thread struct held *seizing;

static void on_tick(int sig)
{
	struct held *h = seizing;
	int saved = errno;

	(void)sig;
	reap_exited(h);
	if (pt_now_ms() > h->deadline)
		siglongjmp(h->past, 1);
	errno = saved;
}

/* PTRACE_SEIZE that reaps exited threads while it waits, and gives up
 * at the deadline: 0 or -errno. */
static int seize(struct held *h, pid_t tid)
{
	struct itimerval on = { { 0, SEIZE_TICK_US }, { 0, SEIZE_TICK_US } };
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	sigset_t tick;
	long r;
	int err;

	sigemptyset(&tick);
	sigaddset(&tick, SIGALRM);
	seizing = h;
	if (sigsetjmp(h->past, 1)) { /* the mask is back: SIGALRM blocked */
		setitimer(ITIMER_REAL, &off, NULL);
		return -ETIMEDOUT;
	}
	setitimer(ITIMER_REAL, &on, NULL);
	sigprocmask(SIG_UNBLOCK, &tick, NULL);
	r = ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACEEXEC);
	err = errno;
	sigprocmask(SIG_BLOCK, &tick, NULL);
	setitimer(ITIMER_REAL, &off, NULL);
	return r < 0 ? -err : 0;
}

static struct thread *find(struct held *h, pid_t tid)
{
	for (size_t i = 0; i < h->n; i++)
		if (tid_of(&h->th[i]) == tid)
			return &h->th[i];
	return NULL;
}

static int add_thread(struct held *h, pid_t tid)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 256;
		void *p = h->th ? mremap(h->th, h->cap * sizeof(*h->th),
					 ncap * sizeof(*h->th), MREMAP_MAYMOVE)
				: mmap(NULL, ncap * sizeof(*h->th),
				       PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -ENOMEM;
		h->th = p;
		h->cap = ncap;
	}
	h->th[h->n].tid = tid;
	h->th[h->n].stopped = false;
	h->n++;
	return 0;
}

/* Whether a TID seen before is still a thread we hold: after an exec,
 * the thread that exec'd has the leader's. One of ours that is not
 * stopped yet is waited for again; a stranger is seized. */
static bool still_held(struct held *h, struct thread *th, int *added)
{
	struct tinfo ti;

	if (pt_read_tinfo(h->s.pid, tid_of(th), &ti) < 0 || ti.state == 'Z' ||
	    ti.state == 'X')
		return true; /* nothing there to hold */
	if (ti.tracer == h->self) {
		if (ti.state != 't') {
			th->stopped = false;
			(*added)++;
		}
		return true;
	}
	gone(th);
	return false;
}

/*
 * Seizes one listed thread: 0, 1 when there is nothing to hold, or -errno.
 * The kernel says EPERM for a thread on its way out, for a zombie leader
 * whose other threads live on, and, for a moment, for the leader's TID
 * while an exec in another thread takes it over (the old leader, a
 * zombie, still answers to it); and for a thread traced already, by
 * someone else or by us (the thread that exec'd, seized under its old
 * TID).
 */
static int seize_one(struct held *h, pid_t tid)
{
	for (;;) {
		struct timespec nap = { 0, 1000000L };
		struct tinfo ti;
		int ret = seize(h, tid);

		if (ret == -ESRCH)
			return 1;
		if (ret != -EPERM)
			return ret;
		if (pt_read_tinfo(h->s.pid, tid, &ti) < 0 || ti.state == 'Z' ||
		    ti.state == 'X' || (ti.flags & PF_EXITING_FLAG))
			return 1;
		if (ti.tracer == h->self)
			return 0; /* ours already: waited for like the rest */
		if (ti.tracer || pt_now_ms() > h->deadline)
			return -EPERM;
		nanosleep(&nap, NULL);
	}
}

/* Seizes and interrupts every thread of the listing not held yet;
 * *added counts those it will have to wait for. */
static int seize_listed(struct held *h, int *added)
{
	char path[64], buf[4096];
	int fd, ret = 0;
	long got;

	*added = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)h->s.pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (ret == 0 &&
	       (got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; ret == 0 && off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
			struct thread *th;

			off += d->d_reclen;
			if (tid <= 0)
				continue;
			th = find(h, tid);
			if (th && (!th->stopped || still_held(h, th, added)))
				continue;
			ret = seize_one(h, tid);
			if (ret == 1) { /* nothing there to hold */
				ret = 0;
				continue;
			}
			if (ret < 0)
				break;
			if ((ret = add_thread(h, tid)) < 0) {
				ptrace(PTRACE_DETACH, tid, NULL, NULL);
				break;
			}
			(*added)++;
			if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 &&
			    errno != ESRCH)
				ret = -errno;
		}
	}
	close(fd);
	return ret;
}

/* Whether the hold is still wanted: its caller lives and waits. */
static bool wanted(const struct held *h)
{
	return !pt_caller_gone(&h->s) &&
	       !__atomic_load_n(&h->s.gave_up, __ATOMIC_ACQUIRE);
}

/* Waits for th's stop. A real signal that won the race to the first stop
 * is delivered now; the interrupt stays pending and follows. Any other
 * stop (PTRACE_EVENT_STOP, a group stop, the stop after an exec) holds.
 * A thread that does not stop soon (uninterruptible sleep: a vfork
 * parent, I/O) is waited for in slices of 100 ms, between which a caller
 * that died or gave up ends the wait (-ECANCELED): the tracer lets go at
 * once instead of at the hold's deadline. */
static int wait_held(struct held *h, struct thread *th)
{
	for (;;) {
		int64_t slice = pt_now_ms() + 100;
		int st, ret;

		h->s.tid = tid_of(th);
		ret = pt_wait_stop(&h->s, slice < h->deadline ? slice
							      : h->deadline,
				   &st);
		if (ret == -ETIMEDOUT && pt_now_ms() <= h->deadline) {
			if (!wanted(h))
				return -ECANCELED;
			continue;
		}
		if (ret == -ESRCH) { /* gone, or its TID went to an exec */
			reap_exited(h);
			gone(th);
			return 0;
		}
		if (ret < 0)
			return ret;
		if (st >> 8) {
			th->stopped = true;
			return 0;
		}
		if (ptrace(PTRACE_CONT, h->s.tid, NULL, (void *)(long)st) < 0 &&
		    errno != ESRCH)
			return -errno;
	}
}

/* Whether the process has a thread that is not a zombie: its leader, or
 * (a leader that called pthread_exit) another thread, by the count. */
static bool process_lives(const struct held *h)
{
	struct tinfo ti;

	return pt_read_tinfo(h->s.pid, h->s.pid, &ti) == 0 &&
	       ((ti.state != 'Z' && ti.state != 'X') || ti.threads > 1);
}

/* Until a listing shows no thread we do not hold: only running threads
 * can create threads, and all listed ones are stopped. Every thread
 * held may be gone while the process lives on: an exec in one thread
 * ends the others and takes the leader's TID (de_thread), and the new
 * leader is listed again (test_exec_storm in a CI run: ESRCH for a
 * live target, 1 hold of 100 in the arm64 guest). */
static int take(struct held *h)
{
	int added, ret;

	for (;;) {
		size_t live = 0;

		do {
			if (!wanted(h))
				return -ECANCELED; /* no one waits for it */
			if (pt_now_ms() > h->deadline)
				return -ETIMEDOUT;
			ret = seize_listed(h, &added);
			if (ret < 0)
				return ret;
			for (size_t i = 0; i < h->n; i++) {
				if (h->th[i].stopped)
					continue;
				ret = wait_held(h, &h->th[i]);
				if (ret < 0)
					return ret;
			}
		} while (added);
		for (size_t i = 0; i < h->n; i++)
			live += tid_of(&h->th[i]) > 0;
		if (live)
			return 0;
		if (!process_lives(h))
			return -ESRCH;
	}
}

/* Lets go of every stopped thread. The threads that never stopped (the
 * hold timed out on them) cannot be detached by the kernel's rules: the
 * tracer's exit, right after, detaches them, and the interrupt they owe
 * goes with it. */
static void let_go(struct held *h)
{
	for (size_t i = 0; i < h->n; i++) {
		pid_t tid = tid_of(&h->th[i]);

		if (tid > 0 && h->th[i].stopped &&
		    ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0)
			pmadv_debug("hold: thread %d of PID %d: detach: %s",
				    (int)tid, (int)h->s.pid,
				    pmadv_errdesc(errno));
	}
	reap_exited(h);
}

static void hold_tick(struct session *s)
{
	reap_exited((struct held *)s);
}

/* The tracer process: take the hold, keep it until the caller releases
 * it, gives up, or dies, or its lease ends, then let go. The lease is
 * seen only in the wait for a command (pt_next_cmd), never in one. */
static int hold_tracer(struct session *s)
{
	struct held *h = (struct held *)s;
	struct sigaction sa;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick; /* no SA_RESTART: the kernel restarts the
				  * seize anyway, and nothing else waits */
	sigaction(SIGALRM, &sa, NULL); /* the tracer's own handlers */
	h->self = getpid();
	ret = take(h);
	s->attach_ret = ret;
	pt_set(s, &s->attached);
	if (ret == 0 && pt_next_cmd(s, h->lease, hold_tick) == CMD_END &&
	    s->end_err == ETIMEDOUT)
		pmadv_debug("hold: the lease on PID %d ended: letting go",
			    (int)s->pid);
	let_go(h);
	if (h->th)
		munmap(h->th, h->cap * sizeof(*h->th));
	pt_set(s, &s->ended);
	return 0;
}

/* ---- the caller's side ---- */

static int hold_ptrace(struct pmadv_hold *h, int64_t deadline)
{
	int timeout_ms = h->timeout_ms;
	const struct pmadv_target *t = h->t;
	struct session *s;
	struct held *hd;
	int ret;

	/* Holds and requests of this process on one target take turns. */
	ret = pt_take_turn_as(t->pid, timeout_ms, h->owner);
	if (ret < 0)
		return ret;
	hd = calloc(1, sizeof(*hd));
	if (!hd) {
		pt_end_turn(t->pid);
		return -ENOMEM;
	}
	s = &hd->s;
	s->pid = s->tid = t->pid;
	s->pidfd = t->pidfd;
	s->starttime = t->starttime;
	s->timeout_ms = timeout_ms;
	s->rt = pt_rt_policy();
	s->memfd = -1;
	s->mapsfd = -1;
	s->tfd = -1;
	s->run = hold_tracer;
	hd->deadline = deadline;
	hd->lease = h->lease;
	ret = pt_session_start(s);
	if (ret < 0) {
		free(hd);
		pt_end_turn(t->pid);
		return ret;
	}
	ret = pt_await_until(s, pt_attach_done, deadline + SLACK_MS);
	if (ret == 0)
		ret = s->attach_ret;
	if (ret == 0) /* the process the handle named, not a reused PID */
		ret = pmadv_target_alive(t);
	if (ret < 0) {
		/* Its end is waited for within the hold's own bound, not a
		 * fresh timeout: a tracer still letting go of threads that
		 * exec (or still seizing them, past that bound already) is
		 * given up on, and finishes alone. */
		pt_session_end_by(s, deadline + SLACK_MS);
		return ret;
	}
	h->hd = hd;
	return 0;
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
		struct tinfo ti;
		char st;

		if (tid <= 0 || pt_read_tinfo(t->pid, tid, &ti) < 0)
			continue;
		st = ti.state;
		if (st != 'T' && st != 't' && st != 'Z' && st != 'X') {
			ret = 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

/*
 * A SIGSTOP hold must end with its caller, however the caller ends
 * (SIGKILL, the OOM killer): a watchdog process, forked with exit signal
 * 0 (so the caller's waitpid(-1) does not see it), blocks on a socket
 * whose only peer the caller keeps. The caller's death closes it: read()
 * answers 0 and the watchdog continues the target. A release writes one
 * byte first, after its own SIGCONT: the watchdog then leaves the target
 * alone. With a lease, the watchdog also continues the target when the
 * lease ends, whatever the caller is doing (stopped, stuck), and writes
 * 'x' for the release to find.
 *
 * The watchdog sends the SIGSTOP itself, once it has left the caller's
 * process group (so that a SIGSTOP of the caller's whole job does not
 * stop it too), and then says so: 's', or 'e' and the errno. Every
 * SIGCONT it sends thus follows a SIGSTOP it sent, whenever the caller
 * dies; a caller that sent the stop itself and died before it could
 * left a watchdog that continued a target nobody had stopped. The child
 * runs only async-signal-safe calls (the caller may have other threads).
 */
static void __attribute__((noreturn))
watch(int fd, const struct pmadv_target *t, int64_t lease)
{
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = lease - pt_now_ms();
		ssize_t n;
		char c;

		if (lease >= 0 && left <= 0) {
			/* 'x' first: a release that finds it leaves the
			 * target to us, and one that does not (it came
			 * first) continues it; sent the other way round, a
			 * release between our SIGCONT and the 'x' continued
			 * the target again, after someone had stopped it */
			if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
				(void)0; /* the caller is gone: no one asks */
			send_signal(t, SIGCONT);
			_exit(0);
		}
		/* every signal is blocked: only an error ends poll early */
		if (lease >= 0 &&
		    poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) == 0)
			continue;
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* the caller is gone (or exec'd) holding it */
			send_signal(t, SIGCONT);
		_exit(0);
	}
}

static void __attribute__((noreturn))
watchdog_main(int fd, const struct pmadv_target *t, int64_t lease)
{
	sigset_t all;
	char word[2];
	int err;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	setsid();
	err = -send_signal(t, SIGSTOP);
	word[0] = err ? 'e' : 's';
	word[1] = (char)(err > 0 && err < 128 ? err : EIO);
	if (send(fd, word, sizeof(word), MSG_NOSIGNAL) != sizeof(word)) {
		/* the caller is gone before it knew: undo our stop */
		if (!err)
			send_signal(t, SIGCONT);
		_exit(0);
	}
	if (err)
		_exit(0);
	watch(fd, t, lease);
}

/* Waits for the watchdog's exit; through its pidfd where the kernel gave
 * one (5.2, waitid P_PIDFD 5.4): a waitid(P_ALL, __WALL) of the caller
 * may have reaped it, and its PID may name another process by now. */
static void reap_watchdog(pid_t pid, int pidfd)
{
	siginfo_t si;
	int ret = -1;

	if (pidfd >= 0) {
		while ((ret = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si,
				     WEXITED | __WALL)) < 0 && errno == EINTR)
			;
		close(pidfd);
		if (ret == 0 || errno != EINVAL)
			return; /* ECHILD: reaped by the caller's reaper */
	}
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

/* Starts the watchdog, which stops the target: 0 once the SIGSTOP is
 * sent, else -errno (the target is not stopped by us then). */
static int spawn_watchdog(struct pmadv_hold *h)
{
	int p[2], pidfd = -1;
	char word[2];
	ssize_t n;
	pid_t pid;

	/* a socket pair, not a pipe: the release's send() with MSG_NOSIGNAL
	 * never raises SIGPIPE in the caller when the watchdog is gone */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
		return -errno;
	pid = (pid_t)syscall(SYS_clone, (unsigned long)CLONE_PIDFD, 0UL,
			     &pidfd, 0UL, 0UL);
	if (pid < 0 && errno == EINVAL) { /* before 5.2 */
		pidfd = -1;
		pid = (pid_t)syscall(SYS_clone, 0UL, 0UL, 0UL, 0UL, 0UL);
	}
	if (pid < 0) {
		int err = errno;

		close(p[0]);
		close(p[1]);
		return -err;
	}
	if (pid == 0) {
		close(p[1]);
		watchdog_main(p[0], h->t, h->lease);
	}
	close(p[0]);
	/* Its word: until the stop is sent, a SIGSTOP of the caller's whole
	 * job would stop the watchdog too, and the lease would not end. */
	while ((n = recv(p[1], word, sizeof(word), MSG_WAITALL)) < 0 &&
	       errno == EINTR)
		;
	if (n == sizeof(word) && word[0] == 's') {
		h->watch_fd = p[1];
		h->watch_pid = pid;
		h->watch_pidfd = pidfd;
		h->sent_stop = true;
		return 0;
	}
	close(p[1]);
	reap_watchdog(pid, pidfd);
	if (n == sizeof(word) && word[0] == 'e')
		return -(int)(unsigned char)word[1];
	/* Killed before its word (by whom? not by the caller's job: it would
	 * have taken the caller too): its stop may have been sent, and the
	 * target was running when we began. Continue it. */
	if (send_signal(h->t, SIGCONT) < 0)
		(void)0; /* gone: nothing to continue */
	return -EAGAIN;
}

/* Whether the watchdog's lease ended: its 'x' waits on the socket. */
static bool lease_ended(const struct pmadv_hold *h)
{
	char c;

	return h->watch_fd >= 0 &&
	       recv(h->watch_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
	       c == 'x';
}

/* Tells the watchdog that the hold is over, and waits for it to go:
 * true when its lease had ended first (its 'x', written before it
 * exited, waits on the socket). */
static bool end_watchdog(struct pmadv_hold *h)
{
	bool ended;

	if (h->watch_fd < 0)
		return false;
	if (send(h->watch_fd, "r", 1, MSG_NOSIGNAL) < 0)
		(void)0; /* it is gone already: nothing waits for the byte */
	reap_watchdog(h->watch_pid, h->watch_pidfd);
	h->watch_pidfd = -1;
	ended = lease_ended(h);
	close(h->watch_fd);
	h->watch_fd = -1;
	return ended;
}

static int hold_sigstop(struct pmadv_hold *h, int64_t deadline)
{
	int ret = all_stopped(h->t);

	if (ret < 0)
		return ret;
	if (ret) /* already stopped: not ours to continue later */
		return 0;
	ret = spawn_watchdog(h); /* which sends the SIGSTOP */
	if (ret < 0)
		return ret;
	while ((ret = all_stopped(h->t)) == 0) {
		struct timespec nap = { 0, POLL_NS };

		if (pt_now_ms() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
	}
	return ret < 0 ? ret : 0;
}

static int release(struct pmadv_hold *h)
{
	int ret = 0;

	if (h->flags & PMADV_HOLD_SIGSTOP) {
		/* A target that died meanwhile has nothing to restore; one
		 * that the lease continued is not ours any more (someone may
		 * have stopped it since). */
		bool ended = lease_ended(h);

		if (h->sent_stop && !ended &&
		    (ret = send_signal(h->t, SIGCONT)) == -ESRCH)
			ret = 0;
		if (end_watchdog(h) && ret == 0)
			ret = -ETIMEDOUT;
	} else if (h->hd) {
		holds_remove(h);
		/* -ETIMEDOUT: the tracer let go at the end of the lease, or
		 * did not finish within the timeout; then it lets go when it
		 * can, and its exit detaches the rest. */
		ret = pt_session_end(&h->hd->s);
	}
	free(h);
	return ret;
}

static int hold(struct pmadv_target *t, unsigned int flags, int timeout_ms,
		struct pmadv_hold **out)
{
	struct pmadv_hold *h;
	int64_t deadline;
	int ret;

	if (!t || !out || (flags & ~(PMADV_HOLD_SIGSTOP | PMADV_HOLD_LEASE)) ||
	    timeout_ms < 0 || (!timeout_ms && (flags & PMADV_HOLD_LEASE)))
		return -EINVAL;
	/* Stopping ourselves would never come back. */
	if (t->self || t->pid == getpid())
		return -EINVAL;
	ret = pmadv_target_alive(t);
	/* a zombie is not a stopped process: it has nothing left to hold */
	if (ret == 0 && (ret = pmadv_target_runs(t)) == 0)
		ret = -ESRCH;
	if (ret < 0)
		return ret;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->t = t;
	h->flags = flags;
	h->watch_fd = -1;
	h->watch_pidfd = -1;
	h->owner = (pid_t)syscall(SYS_gettid);
	if (!timeout_ms)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	h->timeout_ms = timeout_ms;
	deadline = pt_now_ms() + timeout_ms;
	h->lease = flags & PMADV_HOLD_LEASE ? deadline : -1;
	if (flags & PMADV_HOLD_SIGSTOP)
		ret = hold_sigstop(h, deadline);
	else
		ret = hold_ptrace(h, deadline);
	/* taken just as the lease ended: the helper is letting go */
	if (ret == 0 && h->lease >= 0 && pt_now_ms() >= h->lease)
		ret = -ETIMEDOUT;
	if (ret < 0) {
		release(h); /* undo whatever part was done */
		return ret;
	}
	if (!(flags & PMADV_HOLD_SIGSTOP))
		holds_add(h);
	pmadv_debug("holding PID %d (%s, %zu threads%s)", (int)t->pid,
		    flags & PMADV_HOLD_SIGSTOP ? "SIGSTOP" : "ptrace",
		    h->hd ? h->hd->n : 0,
		    h->lease >= 0 ? ", leased" : "");
	*out = h;
	return 0;
}

/* Neither is a cancellation point (see pmadv_advise): a thread cancelled
 * in a wait of theirs would leave a lock or a turn taken for good. */
PMADV_API int pmadv_hold(struct pmadv_target *t, unsigned int flags,
			 int timeout_ms, struct pmadv_hold **out)
{
	int saved = errno, cs, ret;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	ret = hold(t, flags, timeout_ms, out);
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return (int)PMADV_RC(pmadv_hold, ret);
}

PMADV_API int pmadv_release(struct pmadv_hold *h)
{
	int saved = errno, cs, ret = 0;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	if (h)
		ret = release(h);
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return (int)PMADV_RC(pmadv_release, ret);
}
