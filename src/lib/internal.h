/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private declarations shared by the library's files: the target handle, the
 * syscall seam used by the unit tests, and the rung interface of the ladder.
 */
#ifndef PMADV_INTERNAL_H
#define PMADV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "procmadvise.h"

#define PMADV_API __attribute__((visibility("default")))
#define PMADV_HIDDEN __attribute__((visibility("hidden")))

/* Largest byte count one vector call may carry without the kernel's silent
 * clamp (MAX_RW_COUNT = INT_MAX & PAGE_MASK). */
size_t pmadv_max_rw_count(void) PMADV_HIDDEN;
size_t pmadv_page_size(void) PMADV_HIDDEN;
#define PMADV_IOV_MAX 1024

struct pmadv_target {
	pid_t pid;
	int pidfd;                    /* -1 where the kernel lacks pidfd_open */
	unsigned long long starttime; /* /proc/PID/stat field 22 */
	int self;                     /* PMADV_SELF_*: pmadv_open_self */
};

/* How a handle on the calling process (pmadv_open_self) names it. */
enum {
	PMADV_SELF_NO = 0,     /* a handle on another process */
	PMADV_SELF_SENTINEL,   /* PIDFD_SELF (6.14+): pid and pidfd unused */
	PMADV_SELF_PIDFD,      /* a pidfd of PID pid; in a forked child
				* (getpid() differs), each request opens
				* one of its own for its duration */
	PMADV_SELF_MADVISE,    /* neither: madvise per range */
};
#define PMADV_PIDFD_SELF (-10000) /* PIDFD_SELF, the calling thread */

/* The pidfd a process_madvise of the handle goes through: PIDFD_SELF,
 * the handle's pidfd, or -1 for none. A self handle is never written
 * after it is opened: a vfork(2) or CLONE_VM child shares its memory, not
 * its file descriptors. So a forked child whose PIDFD_SELF-less handle
 * names its parent opens a pidfd of its own per request (the syscall
 * rung's begin and end): *tmp, to be closed, or -1 when none was needed.
 * -errno when it cannot. */
int pmadv_self_pidfd(const struct pmadv_target *t, int *tmp) PMADV_HIDDEN;

/* A small /proc file into buf (NUL-terminated): its bytes or -errno. No
 * lock, no allocation (the ptrace rung's tracer uses it). */
ssize_t pmadv_read_proc(const char *path, char *buf, size_t len) PMADV_HIDDEN;
/* Whether the line of a /proc status text (NUL-terminated) that starts
 * with name (e.g. "x86_Thread_features:") lists word among its
 * whitespace-separated words. */
bool pmadv_status_lists(const char *status, const char *name,
			const char *word) PMADV_HIDDEN;
/* The path of /proc/PID/<file> as the process sees it: through a live
 * thread's /proc/PID/task/TID/ when the main thread called pthread_exit
 * (its own maps and smaps are empty then): returns that TID, or 0 for
 * /proc/PID/<file> itself, or -ESRCH (buf: /proc/PID/<file>) when the
 * main thread has exited and no thread with the address space was found.
 * Allocates (opendir) only in that case. */
pid_t pmadv_proc_path(pid_t pid, const char *file, char *buf,
		      size_t len) PMADV_HIDDEN;
/* Where field `field` (numbered as in proc(5), 3 or more) of a
 * /proc/.../stat line starts, or NULL when the line has fewer. The
 * command name, field 2, may hold spaces and ')': the fields after it
 * are counted from the line's last ')'. */
const char *pmadv_stat_field(const char *line, int field) PMADV_HIDDEN;
/* Reads field 22 of /proc/PID/stat; 0 or -errno (-ESRCH when gone). */
int pmadv_read_starttime(pid_t pid, unsigned long long *out) PMADV_HIDDEN;
/* The process (Tgid of /proc/PID/status) of a task ID; -ESRCH gone. */
pid_t pmadv_tgid_of(pid_t tid) PMADV_HIDDEN;
/* 0, or -EXDEV when /proc is of another PID namespace than the caller's
 * (target.c). */
int pmadv_proc_check(void) PMADV_HIDDEN;
/*
 * Identity and liveness: the one answer the library gives (target.c).
 * pmadv_identity: 0 while the process a pidfd names (or, without one, PID
 * pid with that start time) is in the process table, -ESRCH once it is
 * not: pidfd_send_signal(pidfd, 0) answers ESRCH for a process gone
 * and EPERM for a live one we may not signal. No lock, no allocation
 * (the ptrace rung's tracer uses it).
 * pmadv_target_alive: the same for a handle.
 * pmadv_process_runs: 1 while a thread of process pid still runs, 0 when
 * it is a zombie (its memory is gone), -errno. A process whose main
 * thread called pthread_exit runs. Costs a read of /proc: asked only on a
 * failure and by pmadv_hold.
 */
int pmadv_identity(pid_t pid, int pidfd,
		   unsigned long long starttime) PMADV_HIDDEN;
int pmadv_target_alive(const struct pmadv_target *t) PMADV_HIDDEN;
int pmadv_process_runs(pid_t pid) PMADV_HIDDEN;
/* The same for a handle: through its pidfd where it has one, which an
 * exec in progress does not fool; else pmadv_process_runs. */
int pmadv_target_runs(const struct pmadv_target *t) PMADV_HIDDEN;

/*
 * The syscall seam. Every raw system call that carries a decision goes
 * through this table, so the unit tests can answer with ENOSYS, EINTR or a
 * short count. Functions follow the kernel convention: -1 and errno.
 */
struct pmadv_sys {
	long (*pidfd_open)(pid_t pid, unsigned int flags);
	long (*process_madvise)(int pidfd, const struct iovec *iov, size_t vlen,
				int advice, unsigned int flags);
	/* signal 0: the identity check (pmadv_identity); any other: the
	 * kill of pmadv_kill_reap */
	long (*pidfd_send_signal)(int pidfd, int sig);
	long (*process_mrelease)(int pidfd, unsigned int flags);
};
extern const struct pmadv_sys *pmadv_sys PMADV_HIDDEN;
extern const struct pmadv_sys pmadv_sys_kernel PMADV_HIDDEN;

/* One pmadv_advise request, as the rungs see it. */
struct pmadv_call {
	struct pmadv_target *t;
	int advice;
	unsigned int flags;
	int timeout_ms;
	const volatile sig_atomic_t *cancel;
	void *priv; /* a rung's state between begin and end */
	/* Set by the engine for each advise: this call hands over the rest
	 * of the vector, so when it all succeeds no other advise follows
	 * before end, and a rung may let go of the target at once. */
	bool last;
};

/* What a rung's refusal means for the ladder. */
enum pmadv_verdict {
	PMADV_SERVE, /* the error belongs to the request: this rung serves it */
	PMADV_NEXT,  /* this rung cannot serve the request: try the next one */
	PMADV_STOP,  /* no rung can: end the ladder with this error */
};

/* A rung's verdict, with the errno it stands for: the error it judged, or
 * what a probe found instead (ESRCH for a target found gone). */
struct pmadv_judgement {
	enum pmadv_verdict verdict;
	int err;
};

static inline struct pmadv_judgement pmadv_judged(enum pmadv_verdict v,
						  int err)
{
	return (struct pmadv_judgement){ v, err };
}

/* ESRCH from a method that works through the process's main thread
 * (process_madvise and the module take the pidfd's task): the end of the
 * request only when the process is gone or a zombie; a process whose main
 * thread called pthread_exit goes to the next method. */
struct pmadv_judgement pmadv_judge_esrch(struct pmadv_call *c,
					 const char *rung) PMADV_HIDDEN;

struct pmadv_rung {
	unsigned int method;
	const char *name;
	/* Process-wide availability, without side effects: 0, or -errno
	 * (-ENOSYS: not present). Cached by the ladder. */
	int (*probe)(void);
	/* Optional: set up for a request (attach, open...). 0 or -errno. */
	int (*begin)(struct pmadv_call *c);
	/* Advise iov[0..n) in order, stopping at the first element that fails,
	 * like process_madvise(2): returns the bytes of the elements completed,
	 * or -errno when element 0 failed. On a short return the rung stores the
	 * stopping element's errno in *err if it knows it. Never more than
	 * PMADV_IOV_MAX elements or pmadv_max_rw_count() bytes. */
	ssize_t (*advise)(struct pmadv_call *c, const struct iovec *iov,
			  size_t n, int *err);
	/* Optional: undo begin; always called after a successful begin. */
	void (*end)(struct pmadv_call *c);
	/* What error err (positive) from begin or from the first advise call
	 * of a request means, and the errno that stands for it. */
	struct pmadv_judgement (*judge)(struct pmadv_call *c, int err);
	/* Side-effect-free forecast for pmadv_diagnose: 0 or -errno, with a
	 * one-line reason in msg. */
	int (*diagnose)(const struct pmadv_target *t, int advice, char *msg,
			size_t len);
};

extern const struct pmadv_rung pmadv_rung_syscall PMADV_HIDDEN;
extern const struct pmadv_rung pmadv_rung_ioctl PMADV_HIDDEN;
extern const struct pmadv_rung pmadv_rung_ptrace PMADV_HIDDEN;
/* Self handles only: after the vector call, in place of ioctl and ptrace */
extern const struct pmadv_rung pmadv_rung_madvise PMADV_HIDDEN;
/* The rungs of a self handle, in order. */
#define PMADV_NSELF_RUNGS 2
extern const struct pmadv_rung *const
	pmadv_self_rungs[PMADV_NSELF_RUNGS] PMADV_HIDDEN;
/* The rung of a PMADV_METHOD_* value (madvise included), or NULL. */
const struct pmadv_rung *pmadv_rung_of(unsigned int method) PMADV_HIDDEN;

/* The ladder in order; pmadv_rungs[i]->method == 1u << i. Writable only so
 * that the unit tests can put fake rungs in. */
#define PMADV_NRUNGS 3
_Static_assert(PMADV_METHOD_ALL == (1u << PMADV_NRUNGS) - 1,
	       "one method bit per rung");
extern const struct pmadv_rung *pmadv_rungs[PMADV_NRUNGS] PMADV_HIDDEN;
/* Cached rung->probe(); thread-safe. */
int pmadv_rung_available(const struct pmadv_rung *r) PMADV_HIDDEN;
/* Forget cached probes (tests that change what the process may do). */
void pmadv_reset_probes(void) PMADV_HIDDEN;

/* PMADV_F_SKIP_UNMAPPED (holes.c): the mapped parts of each element, in
 * order, at least one piece per element (a zero-length one when nothing of
 * it is mapped); owner[k] is the element piece k comes from. */
struct pmadv_pieces {
	struct iovec *iov;
	size_t *owner;
	size_t n;
	size_t skipped; /* bytes of the elements no VMA covers */
};
/* 0, or -errno of the VMA enumeration, or -ENOMEM; free with
 * pmadv_pieces_free. */
int pmadv_mapped_pieces(struct pmadv_target *t, const struct iovec *iov,
			size_t vlen, struct pmadv_pieces *p) PMADV_HIDDEN;
void pmadv_pieces_free(struct pmadv_pieces *p) PMADV_HIDDEN;

/* Advice classification. */
bool pmadv_advice_known(int advice) PMADV_HIDDEN;

/* Capabilities of the calling thread (libcap): 1 held, 0 not, -errno. */
int pmadv_have_cap_sys_nice(void) PMADV_HIDDEN;
int pmadv_have_cap(int cap) PMADV_HIDDEN;

/*
 * Structures that grow (procmadvise.h, "How structures grow") start with
 * their size, set by the caller to the size it was built with.
 * In (pmadv_opts, pmadv_filter): at least min bytes (the first version's
 * fields), and every byte past the known ones zero, from the end of the
 * last field this version knows (PMADV_FIELDS_END), not from its sizeof:
 * the trailing padding is where a later version's field may go:
 * a newer caller's field that this library cannot honour is refused with
 * EINVAL, never ignored; a field added later is read only when the
 * caller's size holds it (default it when not).
 * Out (pmadv_vma): the library writes the caller's size: the fields both
 * know, zeros past its own.
 */
#define PMADV_FIELDS_END(type, last) \
	(offsetof(type, last) + sizeof(((type *)0)->last))
bool pmadv_struct_in_ok(const void *p, size_t size, size_t min,
			size_t known) PMADV_HIDDEN;
void pmadv_struct_out(void *dst, size_t dst_size, const void *src,
		      size_t src_size) PMADV_HIDDEN;

/*
 * The exit filter of every public function that returns a negative errno
 * (errnos.c): ret itself when it is not an error or its errno is on the
 * function's man page, else -ENOTRECOVERABLE, with the original in the
 * debug log. The lists are made from the pages' ERRORS sections at build
 * time (tools/errnos.py), so that the two cannot drift apart.
 */
long pmadv_rc(long ret, const int *errs, size_t n, const char *fn) PMADV_HIDDEN;
#define PMADV_RC(fn, ret)                                                  \
	pmadv_rc((ret), pmadv_errs_##fn,                                   \
		 sizeof(pmadv_errs_##fn) / sizeof(pmadv_errs_##fn[0]), #fn)

/* The end of the user address space of a 64-bit process, as the
 * kernel's access_ok sees it (x86_64: 47 bits, or 56 with 5-level page
 * tables; aarch64: the kernel's VA_BITS, 39 to 52, found by mapping);
 * 0 where the library knows no such rule. */
uint64_t pmadv_user_end(void) PMADV_HIDDEN;

/* Checks of a vector before any kernel call (advise.c), shared by every
 * function that takes ranges. pmadv_check_vector: the first element whose
 * base is not page aligned or that wraps, or -1. pmadv_beyond_user: the
 * first element past the end of the user address space, or -1. */
ssize_t pmadv_check_vector(const struct iovec *iov, size_t vlen) PMADV_HIDDEN;
ssize_t pmadv_beyond_user(const struct iovec *iov, size_t vlen) PMADV_HIDDEN;

/* Whether thread tid of process pid is alive and still has the process's
 * address space (an exiting thread lets go of it before it is a zombie:
 * its /proc maps then read empty). */
bool pmadv_task_has_mm(pid_t pid, pid_t tid) PMADV_HIDDEN;

/* When the thread chosen, in a process whose main thread has exited,
 * exits before it is used (procfs opens and reads, the ptrace rung's
 * seize) while its process runs, another is chosen: 64 times at once,
 * then, with a nap of 100 us between, for as long as PMADV_THREAD_RETRY_MS
 * have not passed since the first try. A bound in time, not only in
 * tries: where each try is slow (a sanitizer, emulation) or fails at
 * once, 64 tries could all fall within the life of one short-lived
 * thread. pmadv_thread_retry: whether to try again after try number
 * `tries` (0 for the first failure, which also sets *start). */
#define PMADV_THREAD_TRIES 64
#define PMADV_THREAD_RETRY_MS 1000
bool pmadv_thread_retry(int tries, int64_t *start) PMADV_HIDDEN;

/* Opens /proc/PID/file of the target read-only (through a live thread,
 * whose TID goes to *via unless NULL, where pmadv_proc_path says; chosen
 * again when it exits first): the fd, or -errno (-ESRCH for ENOENT). It
 * may belong to a process that took a reused PID: check
 * pmadv_target_alive() after it. */
int pmadv_open_proc(const struct pmadv_target *t, const char *file,
		    pid_t *via) PMADV_HIDDEN;

/* The library's environment variables (PMADV_*), read with secure_getenv:
 * NULL in a set-user-ID, set-group-ID or capability-gaining program. */
const char *pmadv_env(const char *name) PMADV_HIDDEN;

/* The methods a request may use: the caller's mask (0: all), narrowed by
 * PMADV_METHODS, never widened. 0, or -EINVAL for a value that is not a
 * list of methods or leaves none of the caller's (msg says which). */
int pmadv_methods_allowed(unsigned int methods, unsigned int *mask,
			  char *msg, size_t len) PMADV_HIDDEN;

/* One line to stderr when PMADV_DEBUG=1. */
/* PMADV_DEBUG starts with 1: the decision log is on. */
bool pmadv_debug_on(void) PMADV_HIDDEN;
void pmadv_debug(const char *fmt, ...)
	__attribute__((format(printf, 1, 2))) PMADV_HIDDEN;

/* strerror without locks or allocation (the ptrace rung's tracer). */
const char *pmadv_errdesc(int err) PMADV_HIDDEN;

/* snprintf that never fails the caller: truncates, tolerates len == 0. */
void pmadv_msg(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) PMADV_HIDDEN;

#endif /* PMADV_INTERNAL_H */
