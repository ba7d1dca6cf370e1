// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ptrace rung: the target runs the advice itself. A worker thread seizes
 * the target (PTRACE_SEIZE + PTRACE_INTERRUPT), saves its registers and
 * signal mask, and makes it execute madvise(2) -- or, where the kernel lets
 * a process advise itself through process_madvise(2), one process_madvise on
 * its own pidfd per batch, with the iovec array in a scratch mapping -- from
 * a syscall instruction that already exists in its vDSO or libc. Where the
 * kernel does not let it, batches run through a small loop of madvise calls
 * copied into an executable scratch page (see run_loop). Then it restores
 * everything and detaches, so the target ends up as it was, minus the
 * advised pages.
 *
 * Why a worker thread: only the thread that attached may drive the tracee,
 * and a tracee that never stops (D state, freezer) cannot be detached with
 * PTRACE_DETACH; the kernel detaches it when its tracer thread exits. The
 * worker can exit, or keep waiting for a stuck target in the background,
 * while the caller gets -ETIMEDOUT on time.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define DEFAULT_TIMEOUT_MS 5000
#define PF_EXITING_FLAG 0x00000004UL
#define PF_KTHREAD_FLAG 0x00200000UL
#define MAX_HELD 64

/* Batches of more ranges than this take a fast path (process_madvise on
 * the target's own pidfd, or the madvise loop). */
#define FAST_MIN 4

/* Scratch area: one batch of iovecs in the target's ABI. */
#define SCRATCH_LEN (PMADV_IOV_MAX * 16)

/*
 * How batches are advised. PMADV_PTRACE_FAST (read at each request) picks:
 * unset or anything else: PATH_PM where the kernel lets the target give
 *           itself the advice through process_madvise, else PATH_LOOP, for
 *           batches of more than FAST_MIN ranges;
 * "0":      PATH_EACH, one injected madvise per range;
 * "loop":   PATH_LOOP for every batch, whatever its size (tests, benchmark).
 * Whatever cannot be set up (no mapping, no pidfd, no executable page)
 * degrades to PATH_EACH, which always works.
 */
enum path { PATH_EACH, PATH_PM, PATH_LOOP };

enum cmd { CMD_NONE, CMD_ADVISE, CMD_END };

struct session {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int refs;            /* caller + worker */
	bool attached;       /* attach finished (attach_ret valid) */
	bool ended;          /* the worker let go of the target */
	bool gave_up;        /* the caller stopped waiting for the worker */
	unsigned long progress; /* stops seen: the worker is alive */
	enum cmd cmd;        /* posted by the caller, CMD_NONE once answered */
	int attach_ret;

	/* the current command; a copy, since a caller that gave up on a
	 * stuck worker may free its vector */
	struct iovec iov[PMADV_IOV_MAX];
	size_t n;
	ssize_t ret;
	int err;

	/* set before the worker starts, read-only afterwards */
	pid_t pid;
	pid_t nspid;        /* the target's PID in its own namespace */
	int pidfd;
	unsigned long long starttime;
	int advice;
	int timeout_ms;
	enum path want;     /* the path the request asked for */
	bool force;         /* PMADV_PTRACE_FAST=loop: whatever the size */
	bool want_patch;    /* PMADV_PTRACE_PATCH=1 (tests): skip the search */
	bool suspend_seccomp;

	/* worker-only */
	pid_t tid;
	int memfd;
	bool compat;
	bool entry_mode;    /* saved at a syscall-entry stop, see begin */
	bool stopped;       /* tracee is in a ptrace stop we caused */
	bool regs_saved;    /* s->saved holds the registers to give back */
	bool mask_changed;
	bool in_syscall;    /* an injected call passed its entry stop */
	bool in_loop;       /* the tracee runs the madvise loop */
	enum path path;     /* PATH_EACH once a fast path failed to set up */
	int broken;         /* sticky errno once the session cannot go on */
	struct pmadv_regs saved;
	uint64_t saved_mask;
	uint64_t insn;
	uint64_t patched;   /* where we wrote our own instruction, or 0 */
	unsigned char patch_orig[8]; /* the bytes it replaced */
	size_t patch_len;
	uint64_t scratch;
	size_t scratch_len;
	long tfd;           /* the target's pidfd for itself, or -1 */
	int held[MAX_HELD];
	unsigned int nheld;
};

/* ---- /proc reading, shared by begin and diagnose ---- */

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

struct tinfo {
	pid_t tid;          /* the thread to seize */
	char state;
	unsigned long flags;
	pid_t tracer;
	int seccomp;
	pid_t nspid;
};

static const char *field(const char *buf, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = buf; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, name, len))
			return p + len;
	}
	return NULL;
}

static int read_tinfo(pid_t pid, struct tinfo *ti)
{
	char path[64], buf[4096];
	const char *p;
	ssize_t n;
	int f;

	memset(ti, 0, sizeof(*ti));
	ti->seccomp = -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	ti->state = p[2];
	/* flags are field 9; field 3 (state) starts at p + 2 */
	for (f = 3, p += 2; f < 9 && *p; p++)
		if (*p == ' ')
			f++;
	ti->flags = strtoul(p, NULL, 10);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if ((p = field(buf, "TracerPid:")))
		ti->tracer = (pid_t)strtol(p, NULL, 10);
	if ((p = field(buf, "Seccomp:")))
		ti->seccomp = (int)strtol(p, NULL, 10);
	ti->nspid = pid;
	if ((p = field(buf, "NSpid:"))) {
		/* the last value is the PID in the target's own namespace */
		char *end;

		for (;;) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			ti->nspid = (pid_t)v;
			p = end;
		}
	}
	return 0;
}

static void comm_of(pid_t pid, char *comm, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_file(path, comm, len) <= 0)
		snprintf(comm, len, "?");
	comm[strcspn(comm, "\n")] = '\0';
}

/* Mount points of the cgroup v2 hierarchy and of a v1 freezer, from
 * mountinfo (hybrid layouts put v2 at /sys/fs/cgroup/unified). */
static void cgroup_mounts(char *v2, char *v1, size_t len)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	v2[0] = v1[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[512], *dash = strstr(line, " - ");
		char type[32], opts[256];

		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(dash + 3, "%31s %*s %255s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup2") && !v2[0])
			snprintf(v2, len, "%s", mnt);
		else if (!strcmp(type, "cgroup") && strstr(opts, "freezer") &&
			 !v1[0])
			snprintf(v1, len, "%s", mnt);
	}
	fclose(f);
}

/* Cgroup hierarchies are mounted once at boot: read mountinfo once. */
static char mnt_v2[512], mnt_v1[512];
static pthread_once_t mnt_once = PTHREAD_ONCE_INIT;

static void read_mounts(void)
{
	cgroup_mounts(mnt_v2, mnt_v1, sizeof(mnt_v2));
}

/* 1 when the target's cgroup is frozen (v2 cgroup.freeze or the v1
 * freezer): the target cannot run injected code until thawed. */
static int cgroup_frozen(pid_t pid, char *cg, size_t cglen)
{
	char path[4200], buf[4096], ev[512], *save = NULL;
	const char *v2 = mnt_v2, *v1 = mnt_v1;

	pthread_once(&mnt_once, read_mounts);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		const char *p;

		if (!strncmp(l, "0::", 3) && v2[0]) {
			snprintf(cg, cglen, "%s", l + 3);
			snprintf(path, sizeof(path), "%s%s/cgroup.events", v2,
				 l + 3);
			if (read_file(path, ev, sizeof(ev)) > 0 &&
			    (p = field(ev, "frozen ")) && *p == '1')
				return 1;
		} else if ((p = strstr(l, ":freezer:")) && v1[0]) {
			snprintf(cg, cglen, "%s", p + 9);
			snprintf(path, sizeof(path), "%s%s/freezer.state", v1,
				 p + 9);
			if (read_file(path, ev, sizeof(ev)) > 0 &&
			    strncmp(ev, "THAWED", 6))
				return 1;
		}
	}
	return 0;
}

static bool can_suspend_seccomp(void)
{
	char buf[4096];
	const char *p;

	if (pmadv_have_cap(CAP_SYS_ADMIN) != 1)
		return false;
	/* a filtered tracer may not suspend its tracee's filters */
	if (read_file("/proc/self/status", buf, sizeof(buf)) < 0)
		return false;
	p = field(buf, "Seccomp:");
	return p && strtol(p, NULL, 10) == 0;
}

/* The kernel answers EPERM, not ESRCH, for a task on its way out. */
static bool exiting(pid_t tid)
{
	struct tinfo ti;

	return read_tinfo(tid, &ti) < 0 || ti.state == 'Z' ||
	       ti.state == 'X' || (ti.flags & PF_EXITING_FLAG);
}

/* A main thread that called pthread_exit stays a zombie while the others
 * run: inject through one of them. */
static pid_t live_thread(pid_t pid)
{
	char path[64], state[300];
	struct dirent *d;
	pid_t found = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while (!found && (d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		const char *p;

		if (tid <= 0 || tid == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
			 (int)tid);
		if (read_file(path, state, sizeof(state)) > 0 &&
		    (p = strrchr(state, ')')) && p[1] == ' ' && p[2] != 'Z' &&
		    p[2] != 'X')
			found = tid;
	}
	closedir(dir);
	return found;
}

/* Everything that can be said without touching the target. */
static int preflight(const struct pmadv_target *t, struct tinfo *ti,
		     bool *suspend, char *msg, size_t len)
{
	char comm[64], cg[4096];
	int fd, ret;

#ifndef PMADV_ARCH_PTRACE
	(void)t, (void)ti, (void)suspend;
	pmadv_msg(msg, len, "the ptrace rung does not support this "
		  "architecture yet");
	return -ENOSYS;
#endif
	*suspend = false;
	if (t->pid == getpid()) {
		pmadv_msg(msg, len, "PID %d is this process: a process cannot "
			  "trace itself", (int)t->pid);
		return -EPERM;
	}
	ret = read_tinfo(t->pid, ti);
	if (ret < 0) {
		pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
		return ret;
	}
	ti->tid = t->pid;
	if ((ti->state == 'Z' || ti->state == 'X') &&
	    (ti->tid = live_thread(t->pid)) <= 0) {
		pmadv_msg(msg, len, "PID %d is a zombie: it has no memory left "
			  "to advise", (int)t->pid);
		return -ESRCH;
	}
	if (ti->flags & PF_KTHREAD_FLAG) {
		pmadv_msg(msg, len, "PID %d is a kernel thread: it has no user "
			  "memory and cannot be traced", (int)t->pid);
		return -EPERM;
	}
	if (ti->tracer) {
		comm_of(ti->tracer, comm, sizeof(comm));
		pmadv_msg(msg, len, "PID %d is already traced by PID %d (%s)",
			  (int)t->pid, (int)ti->tracer, comm);
		return -EBUSY;
	}
	if (ti->seccomp > 0) {
		if (!can_suspend_seccomp()) {
			pmadv_msg(msg, len, "PID %d runs under seccomp "
				  "(mode %d): an injected call could kill "
				  "it, and suspending the filter needs "
				  "CAP_SYS_ADMIN",
				  (int)t->pid, ti->seccomp);
			return -EPERM;
		}
		*suspend = true;
	}
	if (cgroup_frozen(t->pid, cg, sizeof(cg)) == 1) {
		pmadv_msg(msg, len, "PID %d is in frozen cgroup %s: it cannot "
			  "run injected code until thawed", (int)t->pid, cg);
		return -EBUSY;
	}
	/* Opening mem asks exactly the ptrace attach question (uids,
	 * dumpable, capabilities, Yama) and changes nothing. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/task/%d/mem",
			 (int)t->pid, (int)ti->tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		ret = errno;
		if (ret == ENOENT || ret == ESRCH || exiting(ti->tid)) {
			pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
			return -ESRCH;
		}
		pmadv_msg(msg, len, "no ptrace permission over PID %d (other "
			  "owner, not dumpable, or a Yama/LSM policy)",
			  (int)t->pid);
		return -EPERM;
	}
	close(fd);
	return 0;
}

/* ---- the fast path's precondition ---- */

/* Whether this kernel lets a process give itself this advice through
 * process_madvise (6.13+ any advice; before, only COLD, PAGEOUT, WILLNEED,
 * COLLAPSE). A zero-length call on our own pidfd runs the same checks;
 * the target runs on the same kernel. Cached per advice. */
static bool self_process_madvise(int advice)
{
	static signed char cache[128];
	unsigned int i = (unsigned int)advice;
	signed char v = i < 128 ? __atomic_load_n(&cache[i], __ATOMIC_RELAXED)
				: 0;
	struct iovec none;
	int fd;

	if (v)
		return v > 0;
	fd = (int)pmadv_sys->pidfd_open(getpid(), 0);
	if (fd < 0)
		return false;
	v = pmadv_sys->process_madvise(fd, &none, 0, advice, 0) == 0 ? 1 : -1;
	close(fd);
	if (i < 128)
		__atomic_store_n(&cache[i], v, __ATOMIC_RELAXED);
	return v > 0;
}

/* ---- waiting for the tracee ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool tracee_dead(const struct session *s)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)s->tid, &si,
		   WEXITED | WNOHANG | WNOWAIT | __WALL) < 0)
		return errno == ECHILD;
	/* a tracer's wait reports ptrace stops even without WSTOPPED */
	return si.si_pid == s->tid &&
	       (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED ||
		si.si_code == CLD_DUMPED);
}

static void bump_progress(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	s->progress++;
	pthread_mutex_unlock(&s->lock);
}

/* Waiting for the tracee: a stop usually comes within microseconds, so
 * yield first (the tracee may be waiting for this CPU), then nap, doubling
 * up to 200 us, a bound on the latency added to a slow stop. */
static void backoff(unsigned int i, struct timespec *nap)
{
	if (i < 2000) {
		sched_yield();
		return;
	}
	nanosleep(nap, NULL);
	if (nap->tv_nsec < 200000)
		nap->tv_nsec *= 2;
}

/*
 * The next ptrace stop of the tracee, as waitpid would encode it without
 * the 0x7f: signal | event << 8. Polls, because a library cannot count on
 * SIGCHLD and must keep its deadline; exits are peeked at (WNOWAIT) and
 * never reaped, so the target's parent still gets its status.
 * deadline < 0: wait as long as it takes (restoring a stuck target).
 */
static int wait_stop(struct session *s, int64_t deadline, int *status)
{
	struct timespec nap = { 0, 10000 };
	unsigned int i;

	for (i = 0;; i++) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)s->tid, &si,
			   WSTOPPED | WNOHANG | __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECHILD ? -ESRCH : -errno;
		}
		if (si.si_pid == s->tid) {
			*status = si.si_status;
			bump_progress(s);
			return 0;
		}
		if ((i & 15) == 15 && tracee_dead(s))
			return -ESRCH;
		if (deadline >= 0 && now_ms() > deadline)
			return -ETIMEDOUT;
		backoff(i, &nap);
	}
}

static int64_t deadline_of(const struct session *s)
{
	return now_ms() + s->timeout_ms;
}

static int resume(struct session *s, int req, int sig)
{
	if (ptrace((enum __ptrace_request)req, s->tid, NULL,
		   (void *)(long)sig) < 0)
		return -errno;
	return 0;
}

/* A signal that must not reach the target while it runs our code: keep it
 * and raise it again after the detach. */
static void hold(struct session *s, int sig)
{
	for (unsigned int i = 0; i < s->nheld; i++)
		if (s->held[i] == sig && sig < SIGRTMIN)
			return; /* standard signals do not queue */
	if (s->nheld < MAX_HELD)
		s->held[s->nheld++] = sig;
}

/*
 * Resumes with req and waits until a stop of the kind wanted: a syscall
 * stop (want_syscall) or an event stop (PTRACE_EVENT_STOP). Stops on the
 * way are dealt with so nothing is lost. While our code runs, SIGSTOP, the
 * only signal our mask cannot hold back, is passed on so the group stop
 * happens as it would have, and anything else is held for later; before we
 * changed anything (pass), every signal is simply delivered.
 * deadline < 0: no deadline. no_resume: the tracee is already running.
 */
static int run_until(struct session *s, int req, bool want_syscall,
		     bool pass, bool no_resume, int64_t deadline)
{
	int ret, st, sig = 0;

	for (;;) {
		if (!no_resume && (ret = resume(s, req, sig)) < 0)
			return ret;
		no_resume = false;
		sig = 0;
		ret = wait_stop(s, deadline, &st);
		if (ret < 0)
			return ret;
		if ((st & 0xff) == (SIGTRAP | 0x80)) {
			if (want_syscall)
				return 0;
			continue;
		}
		if ((st >> 8) == PTRACE_EVENT_STOP) {
			if (!want_syscall)
				return 0;
			continue;
		}
		if (st >> 8)
			continue; /* an event we did not ask for */
		if (pass || (st & 0xff) == SIGSTOP)
			sig = st & 0xff;
		else
			hold(s, st & 0xff);
	}
}

/* ---- injection ---- */

/*
 * Makes the tracee execute one system call from our instruction and
 * returns its result in *out. 0, or -errno when the session broke (then
 * s->broken is set). The tracee is in a syscall-exit stop afterwards.
 */
static int inject(struct session *s, enum pmadv_nr which, uint64_t a0,
		  uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		  long *out)
{
	const uint64_t args[6] = { a0, a1, a2, a3, a4, 0 };
	long nr = pmadv_arch_nr(s->compat, which), got_nr, ret;
	struct pmadv_regs r = s->saved;

	if (s->broken)
		return -s->broken;
	pmadv_arch_set_call(&r, s->insn, nr, args);
	ret = pmadv_arch_setregs(s->tid, &r);
	/* entry stop, then exit stop */
	if (ret == 0)
		ret = run_until(s, PTRACE_SYSCALL, true, false, false,
				deadline_of(s));
	if (ret == 0) {
		s->in_syscall = true;
		ret = run_until(s, PTRACE_SYSCALL, true, false, false,
				deadline_of(s));
	}
	if (ret == 0) {
		s->in_syscall = false;
		ret = pmadv_arch_getregs(s->tid, &r);
	}
	if (ret == 0) {
		pmadv_arch_syscall_state(&r, &got_nr, out);
		if (got_nr != nr)
			ret = -EIO; /* not the stop we expected */
	}
	if (ret < 0) {
		s->broken = (int)-ret;
		pmadv_debug("ptrace: injection into PID %d failed: %s",
			    (int)s->pid, strerror((int)-ret));
	}
	return (int)ret;
}

/* ---- finding a syscall instruction ---- */

static bool scan(struct session *s, uint64_t addr, size_t len)
{
	size_t ilen;
	const unsigned char *insn = pmadv_arch_insn(s->compat, &ilen);
	unsigned char buf[65536];
	ssize_t n;

	if (len > sizeof(buf))
		len = sizeof(buf);
	n = pread(s->memfd, buf, len, (off_t)addr);
	if (n < (ssize_t)ilen)
		return false;
	for (size_t i = 0; i + ilen <= (size_t)n; i++)
		if (!memcmp(buf + i, insn, ilen)) {
			s->insn = addr + i;
			return true;
		}
	return false;
}

/* A value of the target's auxiliary vector, or 0. */
static uint64_t auxv_value(struct session *s, uint64_t want)
{
	char path[64];
	unsigned char aux[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/auxv", (int)s->pid,
		 (int)s->tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, aux, sizeof(aux));
	close(fd);
	for (ssize_t i = 0; n > 0; ) {
		uint64_t type, val;

		if (s->compat) {
			uint32_t e[2];

			if (i + 8 > n)
				break;
			memcpy(e, aux + i, 8);
			type = e[0], val = e[1];
			i += 8;
		} else {
			uint64_t e[2];

			if (i + 16 > n)
				break;
			memcpy(e, aux + i, 16);
			type = e[0], val = e[1];
			i += 16;
		}
		if (type == AT_NULL)
			break;
		if (type == want)
			return val;
	}
	return 0;
}

/* Program header i of the ELF image in hdr[0..n), 64- or 32-bit, in the
 * 64-bit layout; false past the last one. */
static bool vdso_phdr(const unsigned char *hdr, size_t n, unsigned int i,
		      Elf64_Phdr *out)
{
	size_t off;

	if (hdr[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		memcpy(&eh, hdr, sizeof(eh));
		off = eh.e_phoff + (size_t)i * sizeof(*out);
		if (i >= eh.e_phnum || off + sizeof(*out) > n)
			return false;
		memcpy(out, hdr + off, sizeof(*out));
	} else {
		Elf32_Ehdr eh;
		Elf32_Phdr ph;

		memcpy(&eh, hdr, sizeof(eh));
		off = eh.e_phoff + (size_t)i * sizeof(ph);
		if (i >= eh.e_phnum || off + sizeof(ph) > n)
			return false;
		memcpy(&ph, hdr + off, sizeof(ph));
		out->p_type = ph.p_type;
		out->p_flags = ph.p_flags;
		out->p_offset = ph.p_offset;
		out->p_filesz = ph.p_filesz;
	}
	return true;
}

/* The vDSO: present in every process, never written, same code for all. */
static bool find_in_vdso(struct session *s)
{
	unsigned char hdr[4096];
	uint64_t base = auxv_value(s, AT_SYSINFO_EHDR);
	Elf64_Phdr ph;
	ssize_t n;

	if (!base)
		return false;
	n = pread(s->memfd, hdr, sizeof(hdr), (off_t)base);
	if (n < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(hdr, ELFMAG, SELFMAG))
		return false;
	for (unsigned int i = 0; vdso_phdr(hdr, (size_t)n, i, &ph); i++)
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
		    scan(s, base + ph.p_offset, ph.p_filesz))
			return true;
	return false;
}

/* Otherwise any executable mapping (libc's text has plenty). */
static bool find_in_text(struct session *s)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", (int)s->pid,
		 (int)s->tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (perms[0] != 'r' || perms[2] != 'x' ||
		    strstr(line, "[vsyscall]"))
			continue;
		for (uint64_t a = lo; !found && a < hi; a += 65536 - 2)
			found = scan(s, a, (size_t)(hi - a));
	}
	fclose(f);
	return found;
}

/*
 * Last resort: write our own instruction over the program's entry point,
 * which ran once at start-up and no thread runs again, and put the bytes
 * back before we detach (unpatch). Writing goes through /proc/PID/mem,
 * which a kernel may forbid (proc_mem.force_override): then ENOEXEC.
 */
static bool patch_entry(struct session *s)
{
	size_t ilen;
	const unsigned char *insn = pmadv_arch_insn(s->compat, &ilen);
	uint64_t entry = auxv_value(s, AT_ENTRY);
	unsigned char check[8];

	if (!entry || ilen > sizeof(s->patch_orig) ||
	    pread(s->memfd, s->patch_orig, ilen, (off_t)entry) != (ssize_t)ilen)
		return false;
	if (pwrite(s->memfd, insn, ilen, (off_t)entry) != (ssize_t)ilen)
		return false;
	s->patched = entry;
	s->patch_len = ilen;
	if (pread(s->memfd, check, ilen, (off_t)entry) != (ssize_t)ilen ||
	    memcmp(check, insn, ilen))
		return false; /* unpatch still restores what was there */
	s->insn = entry;
	pmadv_debug("ptrace: no syscall instruction found in PID %d; wrote "
		    "one over its entry point for this request", (int)s->pid);
	return true;
}

static void unpatch(struct session *s)
{
	if (!s->patched)
		return;
	if (pwrite(s->memfd, s->patch_orig, s->patch_len,
		   (off_t)s->patched) != (ssize_t)s->patch_len)
		pmadv_debug("ptrace: restoring PID %d's code at %#llx failed",
			    (int)s->pid, (unsigned long long)s->patched);
	s->patched = 0;
}

/* ---- attach and detach (worker) ---- */

static int set_all_blocked(struct session *s)
{
	uint64_t all = ~(uint64_t)0;

	if (ptrace(PTRACE_GETSIGMASK, s->tid, (void *)sizeof(uint64_t),
		   &s->saved_mask) < 0)
		return -errno;
	if (ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof(uint64_t),
		   &all) < 0)
		return -errno;
	s->mask_changed = true;
	return 0;
}

/*
 * The target waits in a call that swapped its signal mask (sigsuspend,
 * ppoll...): the mask to return to lives where ptrace cannot restore it,
 * and PTRACE_SETSIGMASK would drop it. Let the kernel restart the call as
 * it would anyway and catch the thread at the restarted call's entry, where
 * its own mask is back in place; the call is skipped now and run again from
 * its instruction when we leave.
 */
static int enter_entry_mode(struct session *s)
{
	struct pmadv_regs r;
	int ret;

	ret = run_until(s, PTRACE_SYSCALL, true, true, false, deadline_of(s));
	if (ret < 0)
		return ret;
	ret = pmadv_arch_getregs(s->tid, &s->saved);
	if (ret < 0)
		return ret;
	s->entry_mode = true;
	r = s->saved;
	pmadv_arch_rewind(&s->saved);
	{
		const uint64_t none[6] = { 0 };

		/* number -1: the kernel skips the call, nothing runs */
		pmadv_arch_set_call(&r, pmadv_arch_pc(&r), -1, none);
	}
	ret = pmadv_arch_setregs(s->tid, &r);
	if (ret < 0)
		return ret;
	s->regs_saved = true;
	s->in_syscall = true;
	ret = run_until(s, PTRACE_SYSCALL, true, false, false, deadline_of(s));
	if (ret < 0)
		s->broken = -ret;
	else
		s->in_syscall = false;
	return ret;
}

static int check_identity(const struct session *s)
{
	unsigned long long st;

	if (s->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, s->pidfd, 0, NULL, 0) < 0
			       ? -ESRCH : 0;
	if (pmadv_read_starttime(s->pid, &st) < 0 || st != s->starttime)
		return -ESRCH;
	return 0;
}

/* The loop's scratch mapping: the code page, then the block and vector. */
static size_t loop_len(void)
{
	size_t page = pmadv_page_size();

	return page + ((PMADV_LOOP_VEC + SCRATCH_LEN + page - 1) & ~(page - 1));
}

/*
 * Sets up the scratch mapping for s->path: for PATH_PM the iovec area and a
 * pidfd of the target for itself; for PATH_LOOP a page of loop code, made
 * read+exec (never writable and executable at once) once written, and the
 * block after it. Anything that fails leaves PATH_EACH; a mapping already
 * made is unmapped by detach.
 */
static void setup_scratch(struct session *s)
{
	bool loop = s->path == PATH_LOOP;
	size_t len = loop ? loop_len() : SCRATCH_LEN, clen = 0;
	const unsigned char *code;
	long addr, fd, rv;

	s->path = PATH_EACH;
	if (inject(s, PMADV_NR_MMAP, 0, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, &addr) < 0)
		return;
	if (addr < 0 && addr > -4096) {
		pmadv_debug("ptrace: mmap in PID %d: %s", (int)s->pid,
			    strerror((int)-addr));
		return;
	}
	s->scratch = s->compat ? (uint32_t)addr : (uint64_t)addr;
	s->scratch_len = len;
	if (loop) {
		code = pmadv_arch_loop_code(s->compat, &clen);
		if (!code || pwrite(s->memfd, code, clen, (off_t)s->scratch) !=
				     (ssize_t)clen)
			return;
		/* W^X policies (SELinux execmem, PR_SET_MDWE, PaX) may
		 * refuse: then per-range injection, which needs no code of
		 * ours */
		if (inject(s, PMADV_NR_MPROTECT, s->scratch, pmadv_page_size(),
			   PROT_READ | PROT_EXEC, 0, 0, &rv) < 0)
			return;
		if (rv < 0) {
			pmadv_debug("ptrace: mprotect in PID %d: %s",
				    (int)s->pid, strerror((int)-rv));
			return;
		}
		s->path = PATH_LOOP;
		return;
	}
	if (inject(s, PMADV_NR_PIDFD_OPEN, (uint64_t)s->nspid, 0, 0, 0, 0,
		   &fd) < 0)
		return;
	if (fd < 0) {
		pmadv_debug("ptrace: pidfd_open in PID %d: %s", (int)s->pid,
			    strerror((int)-fd));
		return;
	}
	s->tfd = fd;
	s->path = PATH_PM;
}

static int attach(struct session *s)
{
	char path[64];
	long nr, rv;
	int ret, st;
	unsigned long opts = PTRACE_O_TRACESYSGOOD;

	if (s->suspend_seccomp)
		opts |= PTRACE_O_SUSPEND_SECCOMP;
	if (ptrace(PTRACE_SEIZE, s->tid, NULL, (void *)opts) < 0) {
		ret = errno;
		if (ret == EPERM) {
			/* the kernel says EPERM for a tracee that is exiting
			 * or already traced, too */
			struct tinfo ti;

			if (exiting(s->tid))
				return -ESRCH;
			if (read_tinfo(s->tid, &ti) == 0 && ti.tracer)
				return -EBUSY;
		}
		return -ret;
	}
	if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
		return -errno;
	/* A real signal can win the race to the first stop: let it through
	 * now, the interrupt stays pending and follows. */
	for (int64_t deadline = deadline_of(s);;) {
		ret = wait_stop(s, deadline, &st);
		if (ret < 0)
			return ret;
		if ((st >> 8) == PTRACE_EVENT_STOP)
			break;
		ret = resume(s, PTRACE_CONT, (st >> 8) ? 0 : st & 0xff);
		if (ret < 0)
			return ret;
	}
	s->stopped = true;
	ret = check_identity(s);
	if (ret < 0) {
		pmadv_debug("ptrace: PID %d is no longer the process the "
			    "handle named", (int)s->pid);
		return ret;
	}
	ret = pmadv_arch_getregs(s->tid, &s->saved);
	if (ret < 0)
		return ret;
	s->regs_saved = true;
	s->compat = pmadv_arch_compat(&s->saved);
	pmadv_arch_syscall_state(&s->saved, &nr, &rv);
	if (nr >= 0 && rv >= -516 && rv <= -512 &&
	    pmadv_arch_swaps_sigmask(s->compat, nr)) {
		s->regs_saved = false; /* nothing changed yet */
		ret = enter_entry_mode(s);
		if (ret < 0)
			return ret;
	}
	ret = set_all_blocked(s);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/mem", (int)s->pid,
		 (int)s->tid);
	s->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (s->memfd < 0)
		return -errno;
	if (s->want_patch || (!find_in_vdso(s) && !find_in_text(s))) {
		/* A target on its way out has no memory left to read: that
		 * is ESRCH, not a target without syscall instructions. */
		if (exiting(s->tid) || exiting(s->pid))
			return -ESRCH;
		if (!patch_entry(s)) {
			pmadv_debug("ptrace: no syscall instruction in PID "
				    "%d's executable memory, and none could "
				    "be written", (int)s->pid);
			return -ENOEXEC;
		}
	}
	/* the scratch area comes with the first batch worth it */
	s->path = s->want;
	{
		size_t clen;

		if (s->path == PATH_LOOP &&
		    !pmadv_arch_loop_code(s->compat, &clen))
			s->path = PATH_EACH;
	}
	pmadv_debug("ptrace: PID %d seized (%s%s%s), %s", (int)s->pid,
		    s->compat ? "32-bit" : "64-bit",
		    s->entry_mode ? ", at a syscall entry" : "",
		    s->suspend_seccomp ? ", seccomp suspended" : "",
		    s->path == PATH_PM
			    ? "process_madvise fast path for batches"
		    : s->path == PATH_LOOP ? "madvise loop for batches"
					   : "one madvise per range");
	return 0;
}

/* A timed-out injected call: only its end gives the registers back. The
 * caller has had its answer; wait as long as it takes (or until death). */
static int finish_stuck(struct session *s)
{
	int ret;

	if (s->in_loop) {
		/* A loop past its deadline: stop it where it is. The madvise
		 * in progress ends first; the rest of the vector is left. */
		if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
			return -errno;
		ret = run_until(s, PTRACE_CONT, false, false, true, -1);
		if (ret == 0) {
			s->in_loop = false;
			s->broken = 0;
		}
		return ret;
	}
	if (!s->in_syscall) {
		ret = run_until(s, PTRACE_SYSCALL, true, false, true, -1);
		if (ret < 0)
			return ret;
		ret = run_until(s, PTRACE_SYSCALL, true, false, false, -1);
	} else {
		ret = run_until(s, PTRACE_SYSCALL, true, false, true, -1);
	}
	s->in_syscall = false;
	if (ret == 0)
		s->broken = 0;
	return ret;
}

/* Puts everything back and lets go. Runs in every path after a SEIZE. */
static void detach(struct session *s)
{
	long dummy;
	int ret;

	if (!s->stopped)
		return; /* never stopped: the worker's exit detaches it */
	if (!s->regs_saved) {
		/* nothing changed: a plain detach leaves it as it was */
		ptrace(PTRACE_DETACH, s->tid, NULL, NULL);
		return;
	}
	for (int round = 0; round < 3; round++) {
		if (s->broken == ETIMEDOUT && finish_stuck(s) < 0) {
			unpatch(s);
			return;
		}
		if (s->broken)
			break;
		if (s->tfd >= 0 &&
		    inject(s, PMADV_NR_CLOSE, (uint64_t)s->tfd, 0, 0, 0, 0,
			   &dummy) == 0)
			s->tfd = -1;
		if (s->scratch && !s->broken &&
		    inject(s, PMADV_NR_MUNMAP, s->scratch, s->scratch_len, 0, 0,
			   0, &dummy) == 0)
			s->scratch = 0;
		if (s->broken != ETIMEDOUT)
			break;
	}
	/* No more injections: the program's own bytes go back now, in
	 * every path below. */
	unpatch(s);
	if (s->broken == ESRCH && !tracee_dead(s)) {
		/* ptrace said ESRCH, yet it lives: not in the stop we
		 * thought. Get it into one and restore rather than leave it
		 * running our registers. */
		int st;

		ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL);
		if (wait_stop(s, deadline_of(s), &st) == 0)
			s->broken = EIO;
	}
	/* ESRCH: gone, nothing to restore. EIO: an unexpected stop; still
	 * try to put the registers back. */
	if (s->broken && s->broken != EIO)
		return;
	if (!s->entry_mode) {
		/* Back to an interrupt stop inside the kernel's signal code:
		 * restored there, the saved registers go through the same
		 * restart logic (read, nanosleep...) as if we had never been
		 * there. The stop comes before any return to user mode. */
		if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0 ||
		    run_until(s, PTRACE_CONT, false, false, false, -1) < 0)
			return;
	}
	ret = pmadv_arch_setregs(s->tid, &s->saved);
	if (ret == 0 && s->mask_changed &&
	    ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof(uint64_t),
		   &s->saved_mask) < 0)
		ret = -errno;
	if (ret < 0)
		pmadv_debug("ptrace: restoring PID %d failed: %s", (int)s->pid,
			    strerror(-ret));
	/* From an event stop a group-stopped target stays stopped. */
	ptrace(PTRACE_DETACH, s->tid, NULL, NULL);
	s->stopped = false;
	for (unsigned int i = 0; i < s->nheld; i++)
		syscall(SYS_tgkill, s->pid, s->tid, s->held[i]);
}

/* ---- advising (worker) ---- */

static ssize_t advise_each(struct session *s, const struct iovec *iov,
			   size_t n, int *err)
{
	size_t done = 0;
	long rv;

	for (size_t i = 0; i < n; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;
		int ret;

		if (s->compat && (base > UINT32_MAX || len > UINT32_MAX - base))
			rv = -ENOMEM; /* beyond a 32-bit address space */
		else if ((ret = inject(s, PMADV_NR_MADVISE, base, len,
				       (uint64_t)s->advice, 0, 0, &rv)) < 0)
			rv = ret;
		if (rv < 0) {
			if (i == 0)
				return rv;
			*err = (int)-rv;
			return (ssize_t)done;
		}
		done += len;
	}
	return (ssize_t)done;
}

static ssize_t advise_fast(struct session *s, const struct iovec *iov,
			   size_t n, int *err)
{
	unsigned char buf[SCRATCH_LEN];
	size_t total = 0, sz = s->compat ? 8 : 16, k;
	long rv;
	int ret;

	if (n > PMADV_IOV_MAX)
		return advise_each(s, iov, n, err);
	for (size_t i = 0; i < n; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;

		if (s->compat) {
			uint32_t e[2] = { (uint32_t)base, (uint32_t)len };

			if (base > UINT32_MAX || len > UINT32_MAX - base)
				return advise_each(s, iov, n, err);
			memcpy(buf + i * sz, e, sz);
		} else {
			uint64_t e[2] = { base, len };

			memcpy(buf + i * sz, e, sz);
		}
		total += len;
	}
	if (pwrite(s->memfd, buf, n * sz, (off_t)s->scratch) !=
	    (ssize_t)(n * sz))
		return advise_each(s, iov, n, err);
	ret = inject(s, PMADV_NR_PROCESS_MADVISE, (uint64_t)s->tfd, s->scratch,
		     n, (uint64_t)s->advice, 0, &rv);
	if (ret < 0)
		return ret;
	if (rv < 0) {
		/* Element 0, or process_madvise itself (capabilities before
		 * 6.12, advice before 6.13): one madvise per range knows. */
		ssize_t r = advise_each(s, iov, n, err);

		if (r > 0 || (r < 0 && r != rv)) {
			pmadv_debug("ptrace: process_madvise in PID %d: %s; "
				    "one madvise per range from now on",
				    (int)s->pid, strerror((int)-rv));
			s->path = PATH_EACH;
		}
		return r;
	}
	if ((size_t)rv >= total)
		return rv;
	/* Stopped at element k; its errno is lost: ask it alone. */
	for (k = 0, total = 0; k < n; k++) {
		if (iov[k].iov_len && total + iov[k].iov_len > (size_t)rv)
			break;
		total += iov[k].iov_len;
	}
	{
		ssize_t r = advise_each(s, iov + k, n - k, err);

		if (r < 0) {
			*err = (int)-r;
			return rv;
		}
		return rv + r;
	}
}

/*
 * The madvise loop (PATH_LOOP): for kernels that do not let a process give
 * itself this advice through process_madvise (MADV_DONTNEED before 6.13,
 * anything before 5.10), the target runs the routine of arch.h over the
 * whole batch, at the cost of one stop instead of two per range.
 *
 * How the tracer gets the tracee back at the routine's end, and why so:
 * - Under PTRACE_SYSCALL every madvise of the loop stops twice: counting
 *   the stops is deterministic but brings back most of the per-range cost.
 * - A self-signal (tgkill SIGSTOP, a fault, int3) would stop it under
 *   PTRACE_CONT, but SIGSTOP flushes a pending SIGCONT and coalesces with
 *   a SIGSTOP someone else sends meanwhile (which we would then swallow),
 *   any other signal must first be unblocked, which lets through one of
 *   the target's own pending ones, and forced signals (faults, int3) reset
 *   the target's handler when the signal is blocked or ignored.
 * So the routine sends nothing: it runs under PTRACE_CONT with every signal
 * still blocked, publishes its progress and, last, DONE in the scratch
 * block, then parks in pause(2). The tracer watches the block through
 * /proc/PID/mem (the same polling as wait_stop, plus an 8-byte read) and,
 * once DONE is set, stops it with PTRACE_INTERRUPT: the interrupt stop can
 * only come after the results are stored, wherever exactly in the tail it
 * lands, and registers are reset before the tracee runs again, so pause's
 * restart is never taken. No signal is sent, none is unblocked, and stops
 * that come meanwhile (SIGSTOP, group stop) are handled as in run_until.
 * Each change of INDEX re-arms the deadline and counts as progress, so the
 * timeout bounds one madvise, as with per-range injection.
 */
static int run_loop(struct session *s, uint64_t block)
{
	struct timespec nap = { 0, 10000 };
	int64_t deadline = deadline_of(s);
	uint64_t seen = 0;
	int ret;

	ret = resume(s, PTRACE_CONT, 0);
	if (ret < 0)
		return ret;
	s->in_loop = true;
	for (unsigned int i = 0;; i++) {
		uint64_t st[3]; /* INDEX, RESULT, DONE */
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)s->tid, &si,
			   WSTOPPED | WNOHANG | __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECHILD ? -ESRCH : -errno;
		}
		if (si.si_pid == s->tid) {
			int sig = 0;

			/* a signal-delivery stop: SIGSTOP passes (the group
			 * stop happens), anything else waits for the detach;
			 * event stops (group stop) just go on */
			bump_progress(s);
			if (!(si.si_status >> 8) &&
			    (si.si_status & 0xff) != (SIGTRAP | 0x80)) {
				if ((si.si_status & 0xff) == SIGSTOP)
					sig = SIGSTOP;
				else
					hold(s, si.si_status & 0xff);
			}
			ret = resume(s, PTRACE_CONT, sig);
			if (ret < 0)
				return ret;
			continue;
		}
		if (pread(s->memfd, st, sizeof(st), (off_t)block) !=
		    (ssize_t)sizeof(st))
			return exiting(s->tid) ? -ESRCH : -EIO;
		if (st[2])
			break;
		if (st[0] != seen) {
			seen = st[0];
			deadline = deadline_of(s);
			bump_progress(s);
		}
		if ((i & 15) == 15 && tracee_dead(s))
			return -ESRCH;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		backoff(i, &nap);
	}
	/* Results stored, the tracee parks in pause: take it back. */
	if (ptrace(PTRACE_INTERRUPT, s->tid, NULL, NULL) < 0)
		return -errno;
	ret = run_until(s, PTRACE_CONT, false, false, true, deadline_of(s));
	if (ret == 0)
		s->in_loop = false;
	return ret;
}

static ssize_t advise_loop(struct session *s, const struct iovec *iov,
			   size_t n, int *err)
{
	unsigned char buf[PMADV_LOOP_VEC + SCRATCH_LEN];
	uint64_t block = s->scratch + pmadv_page_size(), st[2] = { 0, 0 };
	size_t sz = s->compat ? 8 : 16, k, done = 0;
	struct pmadv_regs r = s->saved;
	long res = 0;
	int ret;

	if (n > PMADV_IOV_MAX)
		return advise_each(s, iov, n, err);
	/* A 32-bit target ends at the first element beyond its address
	 * space, with the ENOMEM madvise would give. */
	for (k = 0; k < n; k++) {
		uint64_t base = (uintptr_t)iov[k].iov_base;
		uint64_t len = iov[k].iov_len;

		if (s->compat && (base > UINT32_MAX || len > UINT32_MAX - base))
			break;
		/* Advice over the loop's own code or vector (DONTNEED, FREE)
		 * would pull them from under it: such a batch goes range by
		 * range. */
		if (len && base < s->scratch + s->scratch_len &&
		    s->scratch < base + len)
			return advise_each(s, iov, n, err);
	}
	if (k == 0)
		return -ENOMEM;
	memset(buf, 0, PMADV_LOOP_VEC);
	{
		uint64_t hdr[2] = { k, (uint64_t)(int64_t)s->advice };

		memcpy(buf + PMADV_LOOP_N, hdr, sizeof(hdr));
	}
	for (size_t i = 0; i < k; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;
		unsigned char *e = buf + PMADV_LOOP_VEC + i * sz;

		if (s->compat) {
			uint32_t v[2] = { (uint32_t)base, (uint32_t)len };

			memcpy(e, v, sz);
		} else {
			uint64_t v[2] = { base, len };

			memcpy(e, v, sz);
		}
	}
	if (pwrite(s->memfd, buf, PMADV_LOOP_VEC + k * sz, (off_t)block) !=
	    (ssize_t)(PMADV_LOOP_VEC + k * sz))
		return advise_each(s, iov, n, err);
	pmadv_arch_set_loop(&r, s->scratch, block);
	ret = pmadv_arch_setregs(s->tid, &r);
	if (ret == 0)
		ret = run_loop(s, block);
	if (ret < 0) {
		s->broken = -ret;
		pmadv_debug("ptrace: madvise loop in PID %d failed: %s",
			    (int)s->pid, strerror(-ret));
		return ret;
	}
	/* The tracee is in an interrupt stop of ours: whatever the block
	 * says, the session goes on (and the scratch area gets unmapped). */
	if (pread(s->memfd, st, sizeof(st), (off_t)block) !=
	    (ssize_t)sizeof(st))
		st[0] = SIZE_MAX; /* unreadable: fails the check below */
	res = s->compat ? (long)(int32_t)st[1] : (long)st[1];
	/* what no run of the routine can leave */
	if (st[0] > k || (res == 0 && st[0] != k) || res > 0 || res < -4095) {
		pmadv_debug("ptrace: madvise loop in PID %d left nonsense; "
			    "one madvise per range from now on", (int)s->pid);
		s->path = PATH_EACH;
		return -EIO;
	}
	for (size_t i = 0; i < st[0]; i++)
		done += iov[i].iov_len;
	pmadv_debug("ptrace: madvise loop ran in PID %d: %zu of %zu ranges%s%s",
		    (int)s->pid, (size_t)st[0], k, res < 0 ? ", then " : "",
		    res < 0 ? strerror((int)-res) : "");
	if (res < 0) {
		if (st[0] == 0)
			return res;
		*err = (int)-res;
		return (ssize_t)done;
	}
	if (k < n)
		*err = ENOMEM; /* beyond a 32-bit address space */
	return (ssize_t)done;
}

static ssize_t do_advise(struct session *s, const struct iovec *iov,
			 size_t n, int *err)
{
	if (s->broken)
		return -s->broken;
	/* Two injections to set up and one or two to clean up: for a
	 * handful of ranges one madvise each is cheaper. */
	if (s->path != PATH_EACH && !s->scratch && (n > FAST_MIN || s->force))
		setup_scratch(s);
	if (s->broken)
		return -s->broken;
	if (s->path == PATH_PM && s->tfd >= 0)
		return advise_fast(s, iov, n, err);
	if (s->path == PATH_LOOP)
		return advise_loop(s, iov, n, err);
	return advise_each(s, iov, n, err);
}

/* ---- the worker thread and its hand-off ---- */

static void session_put(struct session *s)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static void *worker(void *arg)
{
	struct session *s = arg;
	int ret = attach(s);

	pthread_mutex_lock(&s->lock);
	s->attach_ret = ret;
	s->attached = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);

	while (ret == 0) {
		enum cmd cmd;

		pthread_mutex_lock(&s->lock);
		while (s->cmd == CMD_NONE && !s->gave_up)
			pthread_cond_wait(&s->cond, &s->lock);
		cmd = s->gave_up ? CMD_END : s->cmd;
		pthread_mutex_unlock(&s->lock);
		if (cmd != CMD_ADVISE)
			break;
		{
			int err = 0;
			ssize_t r = do_advise(s, s->iov, s->n, &err);

			pthread_mutex_lock(&s->lock);
			s->ret = r;
			s->err = err;
			s->cmd = CMD_NONE;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
		}
	}
	detach(s);
	if (s->memfd >= 0)
		close(s->memfd);
	pthread_mutex_lock(&s->lock);
	s->ended = true;
	s->cmd = CMD_NONE;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	session_put(s);
	return NULL;
}

/* Waits (caller side, lock held) until done() holds. Gives up when the
 * worker makes no progress for a whole timeout: it is stuck on the target. */
static int await(struct session *s, bool (*done)(const struct session *))
{
	unsigned long seen = s->progress;

	while (!done(s)) {
		struct timespec ts;
		int64_t ms;

		clock_gettime(CLOCK_REALTIME, &ts);
		ms = s->timeout_ms + 250;
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) ==
			    ETIMEDOUT &&
		    !done(s)) {
			if (s->progress == seen)
				return -ETIMEDOUT;
			seen = s->progress;
		}
	}
	return 0;
}

static bool attach_done(const struct session *s)
{
	return s->attached;
}

static bool cmd_done(const struct session *s)
{
	return s->cmd == CMD_NONE || s->ended;
}

static bool worker_ended(const struct session *s)
{
	return s->ended;
}

/* The caller stops waiting: the worker finishes alone and frees. */
static void give_up(struct session *s)
{
	s->gave_up = true;
	pthread_cond_broadcast(&s->cond);
	pthread_detach(s->thread);
}

/* PMADV_PTRACE_FAST: see enum path. */
static enum path env_path(int advice, bool *force)
{
	const char *e = getenv("PMADV_PTRACE_FAST");

	*force = false;
	if (e && e[0] == '0')
		return PATH_EACH;
	if (e && !strcmp(e, "loop")) {
		*force = true;
		return PATH_LOOP;
	}
	/* MADV_DONTNEED before 6.13, any advice before 5.10: the loop */
	return self_process_madvise(advice) ? PATH_PM : PATH_LOOP;
}

/* ---- the rung ---- */

static int ptrace_probe(void)
{
#ifndef PMADV_ARCH_PTRACE
	return -ENOSYS;
#else
	long v = 0;

	/* PID 0 names no process: ESRCH proves ptrace is callable; a
	 * seccomp filter answers ENOSYS or EPERM instead. */
	if (syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, NULL, &v) == 0)
		return 0;
	return errno == ESRCH ? 0 : -errno;
#endif
}

static int ptrace_begin(struct pmadv_call *c)
{
	struct session *s;
	struct tinfo ti;
	sigset_t all, old;
	bool suspend;
	char msg[256];
	int ret;

	ret = preflight(c->t, &ti, &suspend, msg, sizeof(msg));
	if (ret < 0) {
		pmadv_debug("ptrace: %s", msg);
		return ret;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->refs = 2;
	s->pid = c->t->pid;
	s->tid = ti.tid;
	s->nspid = ti.nspid;
	s->pidfd = c->t->pidfd;
	s->starttime = c->t->starttime;
	s->advice = c->advice;
	s->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->want = env_path(c->advice, &s->force);
	s->want_patch = getenv("PMADV_PTRACE_PATCH") &&
			!strcmp(getenv("PMADV_PTRACE_PATCH"), "1");
	s->suspend_seccomp = suspend;
	s->memfd = -1;
	s->tfd = -1;

	/* The worker must not run the caller's signal handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
		free(s);
		return ret;
	}
	pthread_mutex_lock(&s->lock);
	ret = await(s, attach_done);
	if (ret == 0)
		ret = s->attach_ret;
	if (ret < 0) {
		/* the worker is on its way out, or stuck on the target */
		if (s->attached && await(s, worker_ended) == 0) {
			pthread_mutex_unlock(&s->lock);
			pthread_join(s->thread, NULL);
		} else {
			give_up(s);
			pthread_mutex_unlock(&s->lock);
		}
		session_put(s);
		return ret;
	}
	pthread_mutex_unlock(&s->lock);
	c->priv = s;
	return 0;
}

static ssize_t ptrace_advise(struct pmadv_call *c, const struct iovec *iov,
			     size_t n, int *err)
{
	struct session *s = c->priv;
	ssize_t ret;

	if (!s)
		return -ENOSYS;
	pthread_mutex_lock(&s->lock);
	if (s->gave_up || s->ended) {
		ret = s->gave_up ? -ETIMEDOUT : -ESRCH;
		pthread_mutex_unlock(&s->lock);
		return ret;
	}
	if (n > PMADV_IOV_MAX)
		n = PMADV_IOV_MAX; /* the engine never sends more */
	memcpy(s->iov, iov, n * sizeof(*iov));
	s->n = n;
	s->err = 0;
	s->cmd = CMD_ADVISE;
	pthread_cond_broadcast(&s->cond);
	ret = await(s, cmd_done);
	if (ret < 0) {
		give_up(s);
	} else if (s->ended) {
		ret = -ESRCH;
	} else {
		ret = s->ret;
		if (ret >= 0 && s->err)
			*err = s->err;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void ptrace_end(struct pmadv_call *c)
{
	struct session *s = c->priv;
	bool join = false;

	if (!s)
		return;
	c->priv = NULL;
	pthread_mutex_lock(&s->lock);
	if (!s->gave_up) {
		s->cmd = CMD_END;
		pthread_cond_broadcast(&s->cond);
		if (await(s, worker_ended) == 0)
			join = true;
		else
			give_up(s);
	}
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(s->thread, NULL);
	session_put(s);
}

static enum pmadv_verdict ptrace_judge(struct pmadv_call *c, int err)
{
	(void)c;
	switch (err) {
	case ENOSYS:
		return PMADV_NEXT; /* no ptrace here: nothing to report */
	case ESRCH:
	case ETIMEDOUT:
	case EBUSY:
	case ENOEXEC:
		/* the target, not the element: as the last rung, this is
		 * the answer */
		return PMADV_STOP;
	default:
		/* begin's refusals (EPERM...) end the ladder either way;
		 * from advise, it is element 0's own error */
		return PMADV_SERVE;
	}
}

static int ptrace_diagnose(const struct pmadv_target *t, int advice,
			   char *msg, size_t len)
{
	struct tinfo ti;
	bool suspend;
	int ret = pmadv_rung_available(&pmadv_rung_ptrace);

	if (ret < 0) {
		if (ret == -ENOSYS)
			pmadv_msg(msg, len, "ptrace is not available here "
				  "(architecture not supported, or ptrace "
				  "hidden by seccomp)");
		else
			pmadv_msg(msg, len, "ptrace is refused in this "
				  "process (%s): seccomp filter or LSM",
				  strerror(-ret));
		return ret;
	}
	ret = preflight(t, &ti, &suspend, msg, len);
	if (ret < 0)
		return ret;
	pmadv_msg(msg, len, "PID %d can run %s itself through ptrace%s%s",
		  (int)t->pid, pmadv_advice_name(advice),
		  suspend ? " (its seccomp filter suspended meanwhile)" : "",
		  pmadv_advice_destructive(advice)
			  ? "; destructive advice: needs PMADV_F_DESTRUCTIVE"
			  : "");
	return 0;
}

const struct pmadv_rung pmadv_rung_ptrace = {
	.method = PMADV_METHOD_PTRACE,
	.name = "ptrace",
	.probe = ptrace_probe,
	.begin = ptrace_begin,
	.advise = ptrace_advise,
	.end = ptrace_end,
	.judge = ptrace_judge,
	.diagnose = ptrace_diagnose,
};
