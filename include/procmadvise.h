/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libprocmadvise: dependable memory advice for other processes.
 *
 * The only public header. C99, no exposed internals: struct pmadv_target is
 * opaque, option and result structures carry room to grow.
 */
#ifndef PROCMADVISE_H
#define PROCMADVISE_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMADV_VERSION_MAJOR 0
#define PMADV_VERSION_MINOR 1
#define PMADV_VERSION_PATCH 0

/* Rungs of the ladder, as bits of pmadv_opts.methods and values of
 * pmadv_result.method. */
#define PMADV_METHOD_SYSCALL 0x1u /* process_madvise(2) */
#define PMADV_METHOD_IOCTL   0x2u /* the procmadvise kernel module */
#define PMADV_METHOD_PTRACE  0x4u /* madvise injected into the target */
#define PMADV_METHOD_ALL     0x7u

/* pmadv_opts.flags */
#define PMADV_F_CONTINUE    0x1u /* skip failing elements and go on */
#define PMADV_F_DESTRUCTIVE 0x2u /* allow advice that can lose data */

struct pmadv_target;

struct pmadv_opts {
	size_t size;          /* sizeof(struct pmadv_opts) */
	unsigned int flags;   /* PMADV_F_* */
	unsigned int methods; /* PMADV_METHOD_* mask; 0 means all */
	int *errors;          /* NULL, or vlen entries: 0 or a positive errno */
	const int *cancel;    /* NULL, or a flag another thread sets to stop */
	int timeout_ms;       /* deadline for waits on the target; 0: default */
};

#define PMADV_OPTS_INIT { sizeof(struct pmadv_opts), 0, 0, NULL, NULL, 0 }

struct pmadv_result {
	size_t bytes;        /* bytes advised */
	size_t done;         /* elements fully advised */
	size_t failed;       /* first failing element, or SIZE_MAX */
	int error;           /* its positive errno, 0 if none */
	unsigned int method; /* PMADV_METHOD_* that did the work, 0 if none */
	unsigned int calls;  /* kernel calls or injections made */
	size_t nfailed;      /* elements that failed (PMADV_F_CONTINUE) */
	unsigned long reserved[4];
};

/* Thin raw-syscall wrappers: -1 and errno, exactly like glibc 2.36's
 * pidfd_open(2) and process_madvise(2). */
int pmadv_pidfd_open(pid_t pid, unsigned int flags);
ssize_t pmadv_process_madvise(int pidfd, const struct iovec *iov, size_t vlen,
			      int advice, unsigned int flags);

/* Everything below returns 0 (or a count) on success and a negative errno on
 * failure, and leaves errno alone. */
int pmadv_open(pid_t pid, unsigned int flags, struct pmadv_target **out);
int pmadv_open_pidfd(int pidfd, unsigned int flags, struct pmadv_target **out);
void pmadv_close(struct pmadv_target *t);
pid_t pmadv_target_pid(const struct pmadv_target *t);
int pmadv_target_pidfd(const struct pmadv_target *t);

ssize_t pmadv_advise(struct pmadv_target *t, const struct iovec *iov,
		     size_t vlen, int advice, const struct pmadv_opts *opts,
		     struct pmadv_result *res);

int pmadv_diagnose(const struct pmadv_target *t, int advice,
		   unsigned int method, char *msg, size_t msglen);

const char *pmadv_advice_name(int advice);
int pmadv_advice_from_name(const char *name);
int pmadv_advice_destructive(int advice);
const char *pmadv_method_name(unsigned int method);
int pmadv_methods_from_string(const char *s, unsigned int *mask);

#ifdef __cplusplus
}
#endif

#endif /* PROCMADVISE_H */
