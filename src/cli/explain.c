// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Errors a person can act on. A bare "Operation not permitted" does not say
 * whether a capability, the target's owner or a seccomp filter is in the
 * way; pmadv_diagnose does, for each rung, so every permission message here
 * is built from its answers plus a hint on what to change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmadvise.h"

static void append(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *msg, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(msg, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + used, len - used, fmt, ap);
	va_end(ap);
}

/* The rungs the library will try: PMADV_METHODS narrows the caller's, as
 * the library documents, so the diagnosis must follow it too. */
unsigned int effective_methods(unsigned int methods)
{
	const char *env = getenv("PMADV_METHODS");
	unsigned int m, want = methods ? methods : PMADV_METHOD_ALL;

	if (env && *env && pmadv_methods_from_string(env, &m) == 0)
		return want & m;
	return want;
}

/* "syscall: why; ioctl: why; ptrace: why" for the rungs in use. */
static void append_diagnosis(struct pmadv_target *t, int advice,
			     unsigned int methods, char *msg, size_t len)
{
	const char *sep = "";

	methods = effective_methods(methods);
	for (unsigned int m = 1; m & PMADV_METHOD_ALL; m <<= 1) {
		char why[256];

		if (!(methods & m))
			continue;
		if (pmadv_diagnose(t, advice, m, why, sizeof(why)) == 0)
			continue; /* this rung expects to work: not a reason */
		append(msg, len, "%s%s: %s", sep, pmadv_method_name(m), why);
		sep = "; ";
	}
}

static void append_owner(pid_t pid, char *msg, size_t len)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) == 0 && st.st_uid != geteuid())
		append(msg, len, " (PID %d belongs to uid %u, pmadvise runs "
		       "as uid %u)", (int)pid, (unsigned int)st.st_uid,
		       (unsigned int)geteuid());
}

/* The caller's /proc/self/uid_map when it is not the initial user
 * namespace's identity map "0 0 4294967295", else "". Root there is root
 * only over that namespace: the kernel checks CAP_SYS_NICE and
 * CAP_SYS_PTRACE over a host process in the initial one. */
static void user_namespace(char *map, size_t len)
{
	unsigned long inside, outside, count;
	FILE *f = fopen("/proc/self/uid_map", "re");
	int n;

	map[0] = '\0';
	if (!f)
		return;
	n = fscanf(f, "%lu %lu %lu", &inside, &outside, &count);
	fclose(f);
	if (n == 3 && !(inside == 0 && outside == 0 && count == 4294967295UL))
		snprintf(map, len, "%lu %lu %lu", inside, outside, count);
}

static void permission_hint(int err, char *msg, size_t len)
{
	if (err == EACCES)
		append(msg, len, ". Run pmadvise as the owner of the process "
		       "with CAP_SYS_NICE, or as root; a process that is not "
		       "dumpable (setuid, PR_SET_DUMPABLE 0) needs root");
	else
		append(msg, len, ". Run pmadvise as root, or give it "
		       "CAP_SYS_NICE (setcap cap_sys_nice+ep); in a container "
		       "the seccomp profile may also need process_madvise");
}

/* Whether the handle's pidfd has not reported an exit. */
static bool pid_runs(struct pmadv_target *t)
{
	struct pollfd pfd = { .fd = pmadv_target_pidfd(t), .events = POLLIN };

	return pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* Whether the target lives on although the kernel finds no memory in it
 * (process_madvise's own check answers ESRCH): a kernel thread, whose
 * pidfd does not report an exit. A process between letting go of its
 * memory and becoming a zombie looks the same but for PF_KTHREAD. */
static bool without_user_memory(struct pmadv_target *t, int advice)
{
	if (!t || !pid_runs(t))
		return false; /* no pidfd, or the process has exited */
	if (!is_kernel_thread(pmadv_target_pid(t)))
		return false; /* exiting */
	return pmadv_diagnose(t, advice, PMADV_METHOD_SYSCALL, NULL, 0) ==
	       -ESRCH;
}

static int explain_no_memory(struct pmadv_target *t, pid_t pid, int advice,
			     char *msg, size_t len)
{
	char why[256];
	int d;

	/* The ptrace rung's preflight reads the target's flags: its words
	 * say "kernel thread" when it is one. */
	d = pmadv_diagnose(t, advice, PMADV_METHOD_PTRACE, why, sizeof(why));
	if (d < 0 && d != -ESRCH && why[0]) {
		snprintf(msg, len, "nothing to advise in PID %d: %s", (int)pid,
			 why);
	} else {
		snprintf(msg, len, "nothing to advise in PID %d: it has no "
			 "user memory (a kernel thread)", (int)pid);
	}
	return EXIT_NOT_SUPPORTED;
}

/* Another tracer or a frozen cgroup: what the ptrace rung's preflight
 * reports as EBUSY, naming the tracer or the cgroup. Returns 0 when the
 * target is not busy (any more). */
static int explain_busy(struct pmadv_target *t, pid_t pid, int advice,
			bool held, char *msg, size_t len)
{
	char why[512];

	if (!t || pmadv_diagnose(t, advice, PMADV_METHOD_PTRACE, why,
				 sizeof(why)) != -EBUSY)
		return 0;
	snprintf(msg, len, "PID %d is busy%s: %s. Try again once it is "
		 "detached or thawed", (int)pid,
		 held ? ", --hold cannot hold it" : "", why);
	return EXIT_TARGET_BUSY;
}

static int explain_permission(struct pmadv_target *t, pid_t pid, int advice,
			      unsigned int methods, int err, bool held,
			      char *msg, size_t len)
{
	char map[64], why[256];

	snprintf(msg, len, "no permission to %s PID %d%s: ",
		 held ? "hold" : "advise", (int)pid,
		 held ? " (--hold traces it)" : "");
	user_namespace(map, sizeof(map));
	if (map[0])
		append(msg, len, "pmadvise runs in a user namespace (uid_map "
		       "\"%s\"): its uid 0 and capabilities are root's only "
		       "inside that namespace, not over PID %d. Rung by "
		       "rung: ", map, (int)pid);
	if (t && held && pmadv_diagnose(t, advice, PMADV_METHOD_PTRACE, why,
					sizeof(why)) < 0)
		append(msg, len, "ptrace: %s", why);
	else if (t && !held)
		append_diagnosis(t, advice, methods, msg, len);
	else
		append(msg, len, "%s", strerror(err));
	append_owner(pid, msg, len);
	if (map[0])
		append(msg, len, ". Run pmadvise in the initial user "
		       "namespace");
	else
		permission_hint(err, msg, len);
	return EXIT_NO_PERMISSION;
}

/* A digest of the thread IDs listed in /proc/PID/task: it changes when
 * a thread comes or goes. */
static unsigned long task_digest(pid_t pid)
{
	unsigned long h = 0;
	struct dirent *d;
	char path[64];
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir)))
		h = h * 31 + strtoul(d->d_name, NULL, 10);
	if (dir)
		closedir(dir);
	return h;
}

/* Whether a thread of pid lives, looked for up to 20 times 1 ms apart: in
 * a relay of short-lived threads each one listed may be gone when its
 * state is read (a slow reader, under ASan or emulation, never sees one
 * alive), so threads seen to come or go count as living too; zombie
 * threads a tracer keeps stay listed as they are. */
static bool live_thread(pid_t pid)
{
	unsigned long seen = task_digest(pid);

	for (int i = 0; i < 20; i++) {
		if (thread_in_state(pid, "RSDTtWPI"))
			return true;
		if (read_state(pid) != 'Z')
			return false;
		usleep(1000);
		if (task_digest(pid) != seen)
			return true;
	}
	return false;
}

int explain_target_error(struct pmadv_target *t, pid_t pid, int advice,
			 unsigned int methods, int err, bool held, char *msg,
			 size_t len)
{
	pid_t d;
	int cls;

	msg[0] = '\0';
	if ((err == ESRCH || err == EPERM || err == EACCES) &&
	    without_user_memory(t, advice))
		return explain_no_memory(t, pid, advice, msg, len);
	/* A hold that timed out may have waited on a frozen target, which
	 * SIGSTOP cannot stop. */
	if ((err == EBUSY || err == EPERM || err == EACCES ||
	     (held && err == ETIMEDOUT)) &&
	    (cls = explain_busy(t, pid, advice, held, msg, len)))
		return cls;
	switch (err) {
	case ESRCH:
		if (t && pid_runs(t) && read_state(pid) == 'Z' &&
		    live_thread(pid)) {
			/* process_madvise and the module take the main
			 * thread's memory, which a pthread_exit left none */
			if (!(effective_methods(methods) &
			      PMADV_METHOD_PTRACE)) {
				snprintf(msg, len, "PID %d runs, but its main "
					 "thread has exited: process_madvise "
					 "and the kernel module reach a "
					 "process's memory through its main "
					 "thread, which has none left; only the "
					 "ptrace method can, and --method leaves "
					 "it out", (int)pid);
				return EXIT_NOT_SUPPORTED;
			}
			/* its main thread exited; the others came and went
			 * while its memory map was read through them */
			snprintf(msg, len, "PID %d runs, but its memory could "
				 "not be reached: its main thread has exited "
				 "and the threads it was reached through "
				 "exited meanwhile; try again", (int)pid);
			return EXIT_TARGET_BUSY;
		}
		snprintf(msg, len, "PID %d has exited (or never existed)",
			 (int)pid);
		break;
	case EPERM:
	case EACCES:
		return explain_permission(t, pid, advice, methods, err, held,
					  msg, len);
	case EIO:
		if (!(effective_methods(methods) & PMADV_METHOD_PTRACE))
			goto other;
		snprintf(msg, len, "PID %d: the ptrace method's tracer was "
			 "killed during the request (or found the target in "
			 "a stop it did not expect); the target was let go",
			 (int)pid);
		break;
	case ENOSYS:
	case EINVAL:
		snprintf(msg, len, "no method here can give %s to PID %d: ",
			 pmadv_advice_name(advice), (int)pid);
		if (t)
			append_diagnosis(t, advice, methods, msg, len);
		break;
	case ETIMEDOUT:
		if (held && (d = thread_in_state(pid, "D")) > 0)
			snprintf(msg, len, "PID %d: --hold could not stop it "
				 "within --timeout: its thread %d is in "
				 "uninterruptible sleep (state D: waiting on "
				 "I/O, or a vfork parent waiting for its "
				 "child), which no stop signal interrupts; "
				 "nothing was advised", (int)pid, (int)d);
		else if (held)
			snprintf(msg, len, "PID %d: --hold could not stop it "
				 "within --timeout; nothing was advised",
				 (int)pid);
		else
			snprintf(msg, len, "PID %d: timed out (--timeout); "
				 "what was advised before stays advised",
				 (int)pid);
		break;
	case ECANCELED:
		snprintf(msg, len, "PID %d: interrupted before the end",
			 (int)pid);
		break;
	case EXDEV:
		snprintf(msg, len, "PID %d: %s", (int)pid, PROC_FOREIGN);
		break;
	case EBUSY:
		snprintf(msg, len, "PID %d is busy (EBUSY), but no longer "
			 "traced or frozen when asked why", (int)pid);
		break;
	case ENOEXEC:
		/* only the ptrace method answers so (pmadv_advise(3)) */
		snprintf(msg, len, "PID %d: the ptrace method cannot run the "
			 "advice in it (ENOEXEC): no system call instruction "
			 "to borrow, registers of an ABI it does not know, or "
			 "a thread with processor state it can neither save "
			 "nor put back (an x86 shadow stack; SME or a guarded "
			 "control stack on arm64); PMADV_DEBUG=1 says which",
			 (int)pid);
		break;
	default:
	other:
		snprintf(msg, len, "PID %d: %s (%s)", (int)pid, strerror(err),
			 errno_name(err));
		break;
	}
	return exit_class_of(err);
}

/* Why one range failed, in the words of madvise(2) and kernel-facts. */
const char *range_reason(int err, int advice)
{
	switch (err) {
	case 0:
		return "advised";
	case -1:
	case ECANCELED:
		return "not attempted (stopped at an earlier failure; "
		       "--continue goes on past failures)";
	case ENOMEM:
		return "not mapped, or only partly mapped, in the target "
		       "(the mapped part was advised)";
	case EINVAL:
		/* collapse refuses what is not eligible for huge pages */
		if (advice == ADVICE_COLLAPSE)
			return "the kernel will not collapse this range into "
			       "huge pages (MADV_NOHUGEPAGE, locked, huge-TLB "
			       "or PFN-mapped memory, THP disabled, or no "
			       "aligned huge page in it)";
		return "the kernel refuses this advice for this range "
		       "(locked, huge-TLB or PFN-mapped memory, or advice "
		       "not allowed remotely)";
	case EFAULT:
		return "bad address";
	case EAGAIN:
		return "the kernel stayed busy; try again";
	case EIO:
		/* Only advice that reads pages in meets I/O errors; from
		 * the ptrace method, EIO also says its tracer was killed
		 * (pmadv_advise(3)) */
		if (advice == MADV_WILLNEED || advice == ADVICE_POPULATE_READ ||
		    advice == ADVICE_POPULATE_WRITE)
			return "I/O error while reading pages in, or the ptrace "
			       "method's tracer was killed";
		return "the ptrace method's tracer was killed, or found the "
		       "target in a stop it did not expect (the target was "
		       "restored)";
	case EPERM:
	case EACCES:
		return "no permission";
	case ESRCH:
		return "the process exited";
	default:
		return strerror(err);
	}
}

int exit_class_of(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return EXIT_NO_PERMISSION;
	case ESRCH:
		return EXIT_TARGET_GONE;
	case ENOSYS:
	case EINVAL:
	case ENOEXEC:
		return EXIT_NOT_SUPPORTED;
	case ETIMEDOUT:
		return EXIT_TIMEOUT;
	case ECANCELED:
		return EXIT_SOME_FAILED;
	case EBUSY:
		return EXIT_TARGET_BUSY;
	default:
		return EXIT_SYSTEM;
	}
}

