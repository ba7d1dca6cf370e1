// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ptrace rung's view of /proc: what the target's thread is (state,
 * flags, tracer, seccomp, PID in its namespace), whether its cgroup is
 * frozen, and the preflight that says, without touching the target,
 * whether it can be traced at all. Also whether this kernel lets a process
 * advise itself through process_madvise, which picks the fast path.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptrace.h"
#include "../vma.h"

/* ---- /proc reading, shared by begin and diagnose ---- */


bool pt_each_line(const char *path, bool (*fn)(void *ctx, char *line),
		  void *ctx)
{
	char buf[8192];
	bool stop = false, overlong = false;
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (!stop) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		while (!stop && (nl = memchr(line, '\n',
					     (size_t)(buf + have - line)))) {
			*nl = '\0';
			/* the tail of a line longer than buf: its start has
			 * been seen */
			if (!overlong)
				stop = fn(ctx, line);
			overlong = false;
			line = nl + 1;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
		/* a line longer than buf: its start once, never the pieces
		 * after it (a path of the target's choosing could spell a
		 * line of its own there) */
		if (have == sizeof(buf) - 1 && !stop) {
			buf[have] = '\0';
			if (!overlong)
				stop = fn(ctx, buf);
			have = 0;
			overlong = true;
		}
	}
	close(fd);
	return stop;
}

static void maps_path(const struct session *s, char *path, size_t len)
{
	snprintf(path, len, "/proc/%d/task/%d/maps", (int)s->pid, (int)s->tid);
}

struct vma_lines {
	bool (*fn)(void *ctx, const struct pmadv_vma_rec *r);
	void *ctx;
	struct pmadv_vma_rec r;
};

static bool vma_line(void *ctx, char *line)
{
	struct vma_lines *v = ctx;

	return pmadv_maps_parse_header(line, strlen(line), &v->r) == 0 &&
	       v->fn(v->ctx, &v->r);
}

bool pt_each_vma(const struct session *s,
		 bool (*fn)(void *ctx, const struct pmadv_vma_rec *r),
		 void *ctx)
{
	struct vma_lines v = { .fn = fn, .ctx = ctx };
	char path[64];

	maps_path(s, path, sizeof(path));
	return pt_each_line(path, vma_line, &v);
}

struct vma_at {
	uint64_t addr;
	struct pmadv_vma_rec *r;
	bool found;
};

/* The lines come in address order: the first VMA ending above addr
 * holds it, or none does. */
static bool at_line(void *ctx, const struct pmadv_vma_rec *r)
{
	struct vma_at *a = ctx;

	if (r->end <= a->addr)
		return false;
	a->found = r->start <= a->addr;
	if (a->found)
		*a->r = *r;
	return true;
}

int pt_vma_at(const struct session *s, uint64_t addr, struct pmadv_vma_rec *r)
{
	struct vma_at a = { addr, r, false };
	char path[64];
	int fd, ret = -1;

	if (s->mapsfd >= 0) {
		ret = pmadv_vma_query(s->mapsfd, addr, false, r);
	} else {
		maps_path(s, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ret = pmadv_vma_query(fd, addr, false, r);
			close(fd);
		}
	}
	if (ret >= 0)
		return ret;
	pt_each_vma(s, at_line, &a);
	return a.found;
}

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

/* The thread's state and flags, from its stat. */
static int read_stat(pid_t pid, pid_t tid, struct tinfo *ti)
{
	char path[96], buf[4096];
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	p = pmadv_stat_field(buf, 3);
	if (!p)
		return -EIO;
	ti->state = *p;
	p = pmadv_stat_field(buf, 9); /* flags */
	ti->flags = p ? strtoul(p, NULL, 10) : 0;
	return 0;
}

/* The rest, from its status (the thread's own: seccomp filters and
 * tracers are per thread). With whole, also the state and PF_KTHREAD
 * where the kernel lists Kthread there (6.18 does, 6.1 does not), and
 * *whole says whether it did. */
static int read_status(pid_t pid, pid_t tid, struct tinfo *ti, bool *whole)
{
	char path[96], buf[4096];
	const char *p;
	ssize_t n;

	if (whole)
		*whole = false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)tid);
	n = pmadv_read_proc(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if (whole && (p = field(buf, "Kthread:"))) {
		ti->flags = strtol(p, NULL, 10) == 1 ? PF_KTHREAD_FLAG : 0;
		if ((p = field(buf, "State:")) && *(p += strspn(p, " \t"))) {
			ti->state = *p;
			*whole = true;
		}
	}
	if ((p = field(buf, "TracerPid:")))
		ti->tracer = (pid_t)strtol(p, NULL, 10);
	if ((p = field(buf, "Seccomp:")))
		ti->seccomp = (int)strtol(p, NULL, 10);
	if ((p = field(buf, "Threads:")))
		ti->threads = (int)strtol(p, NULL, 10);
	ti->nspid = pid;
	if ((p = field(buf, "NStgid:"))) {
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

static void tinfo_init(pid_t tid, struct tinfo *ti)
{
	memset(ti, 0, sizeof(*ti));
	ti->seccomp = -1;
	ti->tid = tid;
}

int pt_read_tinfo(pid_t pid, pid_t tid, struct tinfo *ti)
{
	int ret;

	tinfo_init(tid, ti);
	ret = read_stat(pid, tid, ti);
	return ret < 0 ? ret : read_status(pid, tid, ti, NULL);
}

/* The preflight's first look at the main thread: without its stat where
 * the status has the state and PF_KTHREAD. PF_EXITING is not known then;
 * it matters only where threads are chosen among (pt_choose_thread reads
 * both), and a seize of an exiting thread fails, which the tracer tells
 * from a refusal (pt_exiting). One /proc read fewer a request. */
static int read_tinfo_brief(pid_t pid, pid_t tid, struct tinfo *ti)
{
	bool whole;
	int ret;

	tinfo_init(tid, ti);
	ret = read_status(pid, tid, ti, &whole);
	return ret < 0 || whole ? ret : read_stat(pid, tid, ti);
}

static void comm_of(pid_t pid, char *comm, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (pmadv_read_proc(path, comm, len) <= 0)
		snprintf(comm, len, "?");
	/* the kernel's newline ends it; the name may hold one of its own */
	if (comm[0] && comm[strlen(comm) - 1] == '\n')
		comm[strlen(comm) - 1] = '\0';
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
	if (pmadv_read_proc(path, buf, sizeof(buf)) < 0)
		return 0;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		const char *p;

		/* "/" is the root of the caller's cgroup namespace, which
		 * may be any cgroup (a manager inside a container): its
		 * freezer files are looked at as any other's. */
		if (!strncmp(l, "0::", 3) && v2[0]) {
			snprintf(cg, cglen, "%s", l + 3);
			snprintf(path, sizeof(path), "%s%s/cgroup.events", v2,
				 l + 3);
			if (pmadv_read_proc(path, ev, sizeof(ev)) > 0 &&
			    (p = field(ev, "frozen ")) && *p == '1')
				return 1;
		} else if ((p = strstr(l, ":freezer:")) && v1[0]) {
			snprintf(cg, cglen, "%s", p + 9);
			snprintf(path, sizeof(path), "%s%s/freezer.state", v1,
				 p + 9);
			if (pmadv_read_proc(path, ev, sizeof(ev)) > 0 &&
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
	if (pmadv_read_proc("/proc/self/status", buf, sizeof(buf)) < 0)
		return false;
	p = field(buf, "Seccomp:");
	return p && strtol(p, NULL, 10) == 0;
}

/* The kernel answers EPERM, not ESRCH, for a task on its way out. */
bool pt_exiting(pid_t pid, pid_t tid)
{
	struct tinfo ti;

	return pt_read_tinfo(pid, tid, &ti) < 0 || ti.state == 'Z' ||
	       ti.state == 'X' || (ti.flags & PF_EXITING_FLAG);
}

/*
 * How well a thread suits the injection, higher is better, -1 for none:
 * - a seccomp filter we cannot suspend would see (and may kill) the
 *   injected calls: filters are per thread;
 * - a thread blocked in a call the kernel never restarts after a stop
 *   (epoll_wait, sigtimedwait, semop...: see signal(7)) would see EINTR;
 * - otherwise the main thread, as injectors do.
 * A main thread that called pthread_exit stays a zombie while the others
 * run: they serve.
 */
static int thread_score(pid_t pid, pid_t tid, bool compat, int *suspend_ok,
			struct tinfo *ti)
{
	char path[96], sc[128];
	int score = 1;

	if (pt_read_tinfo(pid, tid, ti) < 0 || ti->state == 'Z' ||
	    ti->state == 'X' || (ti->flags & PF_EXITING_FLAG))
		return -1;
	if (ti->seccomp > 0 && *suspend_ok < 0)
		*suspend_ok = can_suspend_seccomp();
	if (ti->seccomp <= 0 || *suspend_ok > 0)
		score += 4;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid,
		 (int)tid);
	/* "running", "-1 sp pc" outside a call, or "nr args... sp pc" */
	if (pmadv_read_proc(path, sc, sizeof(sc)) <= 0 ||
	    !pmadv_arch_never_restarted(compat, strtol(sc, NULL, 10)))
		score += 2;
	return score;
}

/* The ELF class byte of the program at path, or -1. */
static int elf_class(const char *path)
{
	unsigned char id[EI_NIDENT];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, id, sizeof(id));
	close(fd);
	return n == (ssize_t)sizeof(id) && !memcmp(id, ELFMAG, SELFMAG)
		       ? id[EI_CLASS]
		       : -1;
}

/* Whether the process runs a 32-bit program on a 64-bit kernel, by its
 * executable's ELF header. Its exe link is gone once
 * its main thread has exited (a zombie leader has no mm): then any
 * other thread's is read. */
static bool compat_process(pid_t pid)
{
	char path[96];
	struct dirent *d;
	DIR *dir;
	int cls;

	if (sizeof(long) != 8)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	cls = elf_class(path);
	if (cls < 0) {
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		dir = opendir(path);
		while (dir && cls < 0 && (d = readdir(dir))) {
			if (d->d_name[0] < '1' || d->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%.20s/exe",
				 (int)pid, d->d_name);
			cls = elf_class(path);
		}
		if (dir)
			closedir(dir);
	}
	return cls == ELFCLASS32;
}

/* The thread to inject into, in *ti (which holds the main thread's facts
 * on entry); -ESRCH when none lives. Of threads that suit equally, the main
 * thread, else the newest: where each thread starts the next and exits (a
 * relay of short-lived workers), the oldest is the one about to exit. */
int pt_choose_thread(pid_t pid, int *suspend_ok, struct tinfo *ti)
{
	bool compat;
	int best;
	char path[64];
	struct dirent *d;
	DIR *dir;

	if (ti->threads == 1 && ti->state != 'Z' && ti->state != 'X')
		return 0; /* no other thread to choose */
	compat = compat_process(pid);
	best = thread_score(pid, pid, compat, suspend_ok, ti);
	if (best >= 7) /* the main thread, and nothing to avoid */
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return best >= 0 ? 0 : errno == ENOENT ? -ESRCH : -errno;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		struct tinfo cand;
		int score;

		if (tid <= 0 || tid == pid)
			continue;
		score = thread_score(pid, tid, compat, suspend_ok, &cand);
		if (score > best || (score == best && ti->tid != pid)) {
			best = score;
			*ti = cand;
		}
	}
	closedir(dir);
	return best >= 0 ? 0 : -ESRCH;
}

/* Whether the mem file was refused for its mode, not by ptrace's check:
 * a caller with CAP_SYS_PTRACE, without CAP_DAC_OVERRIDE, another owner. */
static bool mem_needs_dac(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) == 0 && st.st_uid != geteuid() &&
	       pmadv_have_cap(CAP_SYS_PTRACE) == 1 &&
	       pmadv_have_cap(CAP_DAC_OVERRIDE) == 0;
}

/* Everything that can be said without touching the target. */
int pt_preflight(const struct pmadv_target *t, struct tinfo *ti, bool *suspend,
		 char *msg, size_t len)
{
	char comm[64], cg[4096];
	int fd, ret, suspend_ok = -1; /* unknown until a filter matters */

#ifndef PMADV_ARCH_PTRACE
	(void)t, (void)ti, (void)suspend;
	pmadv_msg(msg, len, "the ptrace rung does not support this "
		  "architecture yet");
	return -ENOSYS;
#endif
	*suspend = false;
	/* the kernel lets a deadline task create no process or thread
	 * (sched_fork: EAGAIN), so it cannot start the tracer */
	ret = sched_getscheduler(0);
	if (ret >= 0 && (ret & ~SCHED_RESET_ON_FORK) == 6 /* DEADLINE */) {
		pmadv_msg(msg, len, "the calling thread runs under "
			  "SCHED_DEADLINE, which may not create the tracer "
			  "process (clone(2) fails with EAGAIN for it)");
		return -EAGAIN;
	}
	if (t->pid == getpid()) {
		pmadv_msg(msg, len, "PID %d is this process: a process cannot "
			  "trace itself", (int)t->pid);
		return -EPERM;
	}
	ret = read_tinfo_brief(t->pid, t->pid, ti);
	if (ret == -ESRCH || ret == -ENOENT) {
		pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
		return -ESRCH;
	}
	if (ret < 0) { /* EMFILE, ENOMEM...: ours, not the target's */
		pmadv_msg(msg, len, "cannot read the state of PID %d in "
			  "/proc: %s", (int)t->pid, pmadv_errdesc(-ret));
		return ret;
	}
	ret = pt_choose_thread(t->pid, &suspend_ok, ti);
	if (ret < 0 && ret != -ESRCH) {
		pmadv_msg(msg, len, "cannot list the threads of PID %d in "
			  "/proc: %s", (int)t->pid, pmadv_errdesc(-ret));
		return ret;
	}
	if (ret < 0) {
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
		if (suspend_ok < 0)
			suspend_ok = can_suspend_seccomp();
		if (!suspend_ok) {
			pmadv_msg(msg, len, "PID %d runs under seccomp "
				  "(mode %d, thread %d): an injected call "
				  "could kill it, and suspending the filter "
				  "needs CAP_SYS_ADMIN",
				  (int)t->pid, ti->seccomp, (int)ti->tid);
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
		if (ret == ENOENT || ret == ESRCH ||
		    pt_exiting(t->pid, ti->tid)) {
			pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
			return -ESRCH;
		}
		if (ret != EACCES && ret != EPERM) {
			pmadv_msg(msg, len, "cannot open /proc/%d/task/%d/mem "
				  "(the ptrace attach check): %s", (int)t->pid,
				  (int)ti->tid, pmadv_errdesc(ret));
			return -ret;
		}
		if (mem_needs_dac(t->pid)) {
			pmadv_msg(msg, len, "the rung reaches PID %d's memory "
				  "through /proc/PID/mem, which belongs to its "
				  "owner: CAP_SYS_PTRACE alone does not open "
				  "it, CAP_DAC_OVERRIDE must come with it",
				  (int)t->pid);
			return -EPERM;
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

/*
 * Whether this kernel lets a process give itself this advice through
 * process_madvise (6.13+ any advice; before, only COLD, PAGEOUT, WILLNEED,
 * COLLAPSE): SELF_NO; SELF_PIDFD through a pidfd of its own; SELF_SENTINEL
 * also through PIDFD_SELF_THREAD (6.15+), which needs no file descriptor
 * in the target. A zero-length call runs the same checks, and the target
 * runs on the same kernel. Cached per advice.
 */
int pt_self_process_madvise(int advice)
{
	static signed char cache[128];
	unsigned int i = (unsigned int)advice;
	signed char v = i < 128 ? __atomic_load_n(&cache[i], __ATOMIC_RELAXED)
				: 0;
	struct iovec none = { NULL, 0 };
	int fd;

	if (v)
		return v < 0 ? SELF_NO : v;
	if (pmadv_sys->process_madvise(PT_PIDFD_SELF, &none, 0, advice, 0) ==
	    0) {
		v = SELF_SENTINEL;
	} else {
		fd = (int)pmadv_sys->pidfd_open(getpid(), 0);
		if (fd < 0)
			return SELF_NO;
		v = pmadv_sys->process_madvise(fd, &none, 0, advice, 0) == 0
			    ? SELF_PIDFD
			    : -1;
		close(fd);
	}
	if (i < 128)
		__atomic_store_n(&cache[i], v, __ATOMIC_RELAXED);
	return v < 0 ? SELF_NO : v;
}
