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
#include <string.h>
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
static unsigned int effective_methods(unsigned int methods)
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

void explain_target_error(struct pmadv_target *t, pid_t pid, int advice,
			  unsigned int methods, int err, char *msg, size_t len)
{
	msg[0] = '\0';
	switch (err) {
	case ESRCH:
		snprintf(msg, len, "PID %d has exited (or never existed)",
			 (int)pid);
		return;
	case EPERM:
	case EACCES:
		snprintf(msg, len, "no permission to advise PID %d: ",
			 (int)pid);
		if (t)
			append_diagnosis(t, advice, methods, msg, len);
		else
			append(msg, len, "%s", strerror(err));
		append_owner(pid, msg, len);
		permission_hint(err, msg, len);
		return;
	case ENOSYS:
	case EINVAL:
		snprintf(msg, len, "no method here can give %s to PID %d: ",
			 pmadv_advice_name(advice), (int)pid);
		if (t)
			append_diagnosis(t, advice, methods, msg, len);
		return;
	case ETIMEDOUT:
		snprintf(msg, len, "PID %d: timed out (--timeout); what was "
			 "advised before stays advised", (int)pid);
		return;
	case ECANCELED:
		snprintf(msg, len, "PID %d: interrupted before the end",
			 (int)pid);
		return;
	default:
		snprintf(msg, len, "PID %d: %s (%s)", (int)pid, strerror(err),
			 errno_name(err));
		return;
	}
}

/* Why one range failed, in the words of madvise(2) and kernel-facts. */
const char *range_reason(int err)
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
		return "the kernel refuses this advice for this range "
		       "(locked, huge-TLB or PFN-mapped memory, or advice "
		       "not allowed remotely)";
	case EFAULT:
		return "bad address";
	case EAGAIN:
		return "the kernel stayed busy; try again";
	case EIO:
		return "I/O error while reading pages in";
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
		return EXIT_NOT_SUPPORTED;
	case ETIMEDOUT:
		return EXIT_TIMEOUT;
	case ECANCELED:
		return EXIT_SOME_FAILED;
	default:
		return EXIT_SYSTEM;
	}
}

