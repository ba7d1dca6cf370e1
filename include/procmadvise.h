/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libprocmadvise: dependable memory advice for other processes.
 *
 * The only public header. C99, no exposed internals: struct pmadv_target is
 * opaque, option and result structures carry room to grow.
 *
 * How structures grow. struct pmadv_opts, pmadv_filter (read by the
 * library) and pmadv_vma (written by it) start with a size field that the
 * caller sets to sizeof() as it was built (the *_INIT macros do). A later
 * version adds fields only at the end:
 * - given a smaller input struct, the library uses the default for each
 *   field the caller did not have; given a larger one (a newer program on
 *   an older library), it fails with EINVAL unless every byte it does not
 *   know is zero (from the end of its last field: trailing padding too),
 *   so a new option is never silently ignored;
 * - into an output struct it writes exactly size bytes: the fields both
 *   know, and zeros past its own.
 * struct pmadv_result and pmadv_vma_change have a fixed size; their
 * reserved fields are zero and may carry data in a later version.
 */
#ifndef PROCMADVISE_H
#define PROCMADVISE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "procmadvise-version.h"

/* Rungs of the ladder, as bits of pmadv_opts.methods and values of
 * pmadv_result.method. */
#define PMADV_METHOD_SYSCALL 0x1u /* process_madvise(2) */
#define PMADV_METHOD_IOCTL   0x2u /* the procmadvise kernel module */
#define PMADV_METHOD_PTRACE  0x4u /* madvise injected into the target */
#define PMADV_METHOD_ALL     0x7u

/* pmadv_opts.flags */
#define PMADV_F_CONTINUE    0x1u /* skip failing elements and go on */
#define PMADV_F_DESTRUCTIVE 0x2u /* allow advice that can lose data or change
				    * the target's behaviour or security:
				    * all but WILLNEED, COLD, PAGEOUT,
				    * COLLAPSE, POPULATE_READ */

struct pmadv_target;

struct pmadv_opts {
	size_t size;          /* sizeof(struct pmadv_opts) */
	unsigned int flags;   /* PMADV_F_* */
	unsigned int methods; /* PMADV_METHOD_* mask; 0: all, ptrace included */
	int *errors;          /* NULL, or vlen entries: 0 or a positive errno */
	/* NULL, or a flag that another thread or a signal handler sets to
	 * nonzero to stop before the next kernel call */
	const volatile sig_atomic_t *cancel;
	/* bounds, in ms, each wait on a traced or held target (the ptrace
	 * method): not a deadline for the whole request; 0: 5000 */
	int timeout_ms;
	/* Budgets (0.2+; 0: none). A request that reaches one stops at a
	 * batch boundary with -EDQUOT (max_bytes) or -ETIME (deadline_ms),
	 * its progress in pmadv_result (next, next_off say where to resume):
	 * a budget, not an error of the target. */
	size_t max_bytes;    /* advise at most this many bytes (rounded down
			      * to whole pages), each element charged the
			      * pages it spans: batches are cut to fit */
	size_t batch_bytes;  /* at most this many bytes (rounded down to
			      * pages, at least one page; counted as the
			      * pages spanned) per kernel call or
			      * injection, bounding how long the target's
			      * mmap_lock is held; 0: MAX_RW_COUNT */
	int deadline_ms;     /* start no kernel call after this many ms
			      * from the start of the request
			      * (CLOCK_MONOTONIC); a call in progress
			      * runs to its end */
	/* the padding after deadline_ms (and any byte past it up to size)
	 * must be zero, as PMADV_OPTS_INIT or memset leave it: a later field
	 * may start there */
};

#define PMADV_OPTS_INIT \
	{ sizeof(struct pmadv_opts), 0, 0, NULL, NULL, 0, 0, 0, 0 }

struct pmadv_result {
	size_t bytes;        /* bytes advised */
	size_t done;         /* elements fully advised */
	size_t failed;       /* first failing element, or SIZE_MAX */
	int error;           /* its positive errno, 0 if none */
	unsigned int method; /* PMADV_METHOD_* that did the work, 0 if none */
	unsigned int calls;  /* kernel calls or injections made */
	size_t nfailed;      /* elements that failed (PMADV_F_CONTINUE) */
	size_t skipped;      /* bytes left out as unmapped holes
			      * (PMADV_F_SKIP_UNMAPPED, 0.2+) */
	/* Where the work stopped (0.2+): element next, of which next_off
	 * bytes were advised; next == vlen when it ran to the end. To go on
	 * after a budget or ECANCELED, advise from there. */
	size_t next;
	size_t next_off;
	unsigned long reserved[1];
};

/* Thin raw-syscall wrappers: -1 and errno, exactly like glibc 2.36's
 * pidfd_open(2) and process_madvise(2). */
int pmadv_pidfd_open(pid_t pid, unsigned int flags);
ssize_t pmadv_process_madvise(int pidfd, const struct iovec *iov, size_t vlen,
			      int advice, unsigned int flags);

/* Everything below returns 0 (or a count) on success and a negative errno on
 * failure, and leaves errno alone. */
/* pmadv_open() flags */
#define PMADV_OPEN_PIDFD 0x1u /* a pidfd or nothing: ENOSYS rather than
			       * PID and start time (0.2+) */

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

/* The version of the library that runs, as PMADV_VERSION_CODE() encodes
 * it: it can be newer than the header a program was built with (0.2+). */
unsigned int pmadv_version(void);

const char *pmadv_advice_name(int advice);
int pmadv_advice_from_name(const char *name);
int pmadv_advice_destructive(int advice);
const char *pmadv_method_name(unsigned int method);
int pmadv_methods_from_string(const char *s, unsigned int *mask);

/*
 * VMA enumeration (pmadv_vma_*). Attributes of a VMA, as bits of
 * pmadv_vma.attrs and of the three masks of pmadv_filter. Exactly one of the
 * four class bits is set on every VMA.
 */
#define PMADV_VMA_ANON     0x00000001u /* class: private anonymous */
#define PMADV_VMA_FILE     0x00000002u /* class: private file-backed */
#define PMADV_VMA_SHARED   0x00000004u /* class: shared, file or anonymous */
#define PMADV_VMA_SPECIAL  0x00000008u /* class: [vdso], [vvar], ... */
#define PMADV_VMA_READ     0x00000010u
#define PMADV_VMA_WRITE    0x00000020u
#define PMADV_VMA_EXEC     0x00000040u
#define PMADV_VMA_HEAP     0x00000100u /* [heap] */
#define PMADV_VMA_STACK    0x00000200u /* [stack] */
#define PMADV_VMA_VDSO     0x00000400u /* [vdso] */
#define PMADV_VMA_VVAR     0x00000800u /* [vvar], [vvar_vclock] */
#define PMADV_VMA_VSYSCALL 0x00001000u /* [vsyscall] (never enumerated) */
#define PMADV_VMA_LONGNAME 0x00002000u /* its path is longer than 4095 bytes:
					* name is "" (0.2+) */
/* From VmFlags in /proc/PID/smaps: what MADV_COLD and MADV_PAGEOUT reject. */
#define PMADV_VMA_LOCKED   0x00010000u /* lo: mlock()ed */
#define PMADV_VMA_PFNMAP   0x00020000u /* pf: raw page frames */
#define PMADV_VMA_HUGETLB  0x00040000u /* ht: hugetlbfs */
/* Set in attrs when the three bits above were read (never in a mask). */
#define PMADV_VMA_VMFLAGS  0x00080000u
/* Also from VmFlags (0.2+): what turns advice that is harmless elsewhere
 * into a refusal or a loss. */
#define PMADV_VMA_NOHUGEPAGE 0x00100000u /* nh: MADV_COLLAPSE refuses it */
#define PMADV_VMA_DROPPABLE  0x00200000u /* dp: MAP_DROPPABLE (6.11+);
					  * MADV_PAGEOUT drops its data */
/* What MADV_COLD and MADV_PAGEOUT refuse with EINVAL. */
#define PMADV_VMA_UNADVISABLE \
	(PMADV_VMA_LOCKED | PMADV_VMA_PFNMAP | PMADV_VMA_HUGETLB)

/* Which VMAs to keep. A VMA is kept when it has at least one bit of
 * match_any (0: no condition), every bit of match_all and no bit of
 * match_none, is at least min_size bytes long and overlaps [start, end).
 * Kept VMAs are clipped to that window. */
struct pmadv_filter {
	size_t size;             /* sizeof(struct pmadv_filter) */
	unsigned int match_any;  /* PMADV_VMA_* */
	unsigned int match_all;  /* PMADV_VMA_* */
	unsigned int match_none; /* PMADV_VMA_* */
	unsigned int reserved;   /* must be 0 */
	size_t min_size;         /* of the whole VMA, before clipping */
	uint64_t start;          /* page aligned */
	uint64_t end;            /* page aligned; 0: no upper bound */
};

#define PMADV_FILTER_INIT { sizeof(struct pmadv_filter), 0, 0, 0, 0, 0, 0, 0 }

/* pmadv_vma_open() flags */
#define PMADV_VMA_F_VMFLAGS 0x1u /* read VmFlags even if no mask needs them */
#define PMADV_VMA_F_NOMERGE 0x2u /* pmadv_vma_fill: one iovec per VMA */
#define PMADV_VMA_F_RECORD  0x4u /* remember VMAs for pmadv_vma_recheck */

/* One VMA. The caller sets size; name stays valid until the next call on the
 * iterator. */
struct pmadv_vma {
	size_t size;           /* sizeof(struct pmadv_vma) */
	uint64_t start, end;   /* clipped to the filter's window */
	uint64_t vma_start, vma_end; /* the whole VMA */
	uint64_t offset;       /* file offset of vma_start; 0 if anonymous */
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	unsigned int attrs;    /* PMADV_VMA_* */
	unsigned int reserved;
	const char *name;      /* path, [heap], ...; "" if none */
};

/* pmadv_vma_change.what */
#define PMADV_CHANGE_GONE   0x1u /* nothing mapped there any more */
#define PMADV_CHANGE_BOUNDS 0x2u /* the VMA there has another start or end */
#define PMADV_CHANGE_FILE   0x4u /* another inode or device */
#define PMADV_CHANGE_OFFSET 0x8u /* another file offset */

struct pmadv_vma_change {
	uint64_t start, end; /* the range as enumerated (clipped) */
	unsigned int what;   /* PMADV_CHANGE_* */
	unsigned int reserved;
};

struct pmadv_vma_iter;

int pmadv_vma_open(struct pmadv_target *t, const struct pmadv_filter *filter,
		   unsigned int flags, struct pmadv_vma_iter **out);
int pmadv_vma_next(struct pmadv_vma_iter *it, struct pmadv_vma *vma);
ssize_t pmadv_vma_fill(struct pmadv_vma_iter *it, struct iovec *iov,
		       size_t n);
ssize_t pmadv_vma_recheck(struct pmadv_vma_iter *it,
			  struct pmadv_vma_change *changes, size_t n);
void pmadv_vma_close(struct pmadv_vma_iter *it);
ssize_t pmadv_vma_ranges(struct pmadv_target *t,
			 const struct pmadv_filter *filter, unsigned int flags,
			 struct iovec **iov);

/*
 * Residency of ranges of a target (0.2+): what pmadv_residency() counts,
 * in bytes, over exactly the ranges given (each rounded up to whole
 * pages; ranges that overlap count twice). Pages in no VMA count in none.
 */
#define PMADV_RESIDENCY_SCAN    0x1u /* the PAGEMAP_SCAN ioctl (Linux 6.7+) */
#define PMADV_RESIDENCY_PAGEMAP 0x2u /* 8-byte entries read from pagemap */
/* pmadv_residency.flags */
#define PMADV_RESIDENCY_NOHUGE  0x1u /* huge is unknown (left 0): the
				      * pagemap method without the right to
				      * see page frames (CAP_SYS_ADMIN) */
#define PMADV_RESIDENCY_ZEROPAGE 0x2u /* resident may include pages that
				       * map the shared zero page (the
				       * pagemap method cannot tell them) */

struct pmadv_residency {
	uint64_t bytes;    /* of the ranges, each rounded up to pages */
	uint64_t resident; /* in memory and mapped by the target; not the
			    * shared zero page (as smaps' Rss) */
	uint64_t swapped;  /* swap entries in the target's page tables */
	uint64_t file;     /* resident and not private anonymous: page
			    * cache and shared memory (shmem) */
	uint64_t anon;     /* resident and private anonymous:
			    * resident - file */
	uint64_t huge;     /* resident in PMD-mapped transparent huge
			    * pages or hugetlb pages */
	unsigned int method; /* PMADV_RESIDENCY_SCAN or _PAGEMAP */
	unsigned int flags;  /* PMADV_RESIDENCY_* flags */
};

/*
 * Counts the residency of iov[0..vlen) in the target into *out, of which
 * the caller has outsz bytes (sizeof(struct pmadv_residency); at least the
 * 0.2 layout, zeros written past it). Reads /proc/PID/pagemap: the
 * PAGEMAP_SCAN ioctl where the kernel has it (6.7+; VMA by VMA with
 * PROCMAP_QUERY on 6.11+, so that private anonymous VMAs skip the costly
 * file test), else its 8-byte entries. Allocates nothing. Needs what reading the pagemap needs:
 * PTRACE_MODE_READ access to the target. 0, or:
 * -EINVAL   out NULL, outsz too small, iov NULL with vlen, a base not
 *           page aligned or a range that wraps;
 * -EAGAIN   the target ran execve during each of 3 attempts (one
 *           execve meanwhile is counted again, in the new program);
 * -EFAULT   a range past the end of the user address space;
 * -ESRCH    the target is gone (or a zombie), or its PID was reused;
 * -EACCES   the caller may not read the target's pagemap;
 * -EPERM    /proc hides the target (hidepid) from the caller;
 * -ENOSYS   the kernel has no /proc/PID/pagemap (!CONFIG_PROC_PAGE_MONITOR);
 * -EINTR    a fatal signal ended the kernel's walk;
 * -EMFILE, -ENFILE, -ENOMEM: no descriptor or memory for the open;
 * -EIO      the kernel returned something the library does not understand;
 * -ENOTRECOVERABLE  any other error (a bug; PMADV_DEBUG=1 names it).
 */
int pmadv_residency(struct pmadv_target *t, const struct iovec *iov,
		    size_t vlen, struct pmadv_residency *out, size_t outsz);

/* Race control: hold the target still between pmadv_hold() and
 * pmadv_release(), then put it back in the state it was in. */
#define PMADV_HOLD_SIGSTOP 0x1u /* SIGSTOP/SIGCONT instead of ptrace */
/* 0.2+: timeout_ms also bounds the whole hold: the library's helper lets
 * the target go by itself timeout_ms after pmadv_hold() was called, and
 * the later pmadv_release() returns -ETIMEDOUT. */
#define PMADV_HOLD_LEASE 0x2u

struct pmadv_hold;

int pmadv_hold(struct pmadv_target *t, unsigned int flags, int timeout_ms,
	       struct pmadv_hold **out);
int pmadv_release(struct pmadv_hold *h);

/*
 * Kill and reap (0.2+), for low-memory killers (lmkd, oomd): signal a
 * process through its pidfd, then free its memory at once with
 * process_mrelease(2) (Linux 5.15) instead of waiting for its exit.
 */

/* Thin raw-syscall wrapper: -1 and errno, like the other two. flags must
 * be 0. EINVAL also when the process is not dying (no fatal signal sent
 * yet, or it shares its memory with a process that is not dying); ESRCH
 * once its memory is gone; ENOSYS before Linux 5.15. */
int pmadv_process_mrelease(int pidfd, unsigned int flags);

/* pmadv_kill_reap() flags */
#define PMADV_REAP_NOWAIT 0x1u /* without process_mrelease (or refused by
				* it), return after the signal instead of
				* waiting up to 5 s for the exit */

/* pmadv_reap_result.freed_by */
#define PMADV_FREED_NONE     0u /* not yet (PMADV_REAP_NOWAIT) */
#define PMADV_FREED_MRELEASE 1u /* process_mrelease reaped it */
#define PMADV_FREED_EXIT     2u /* its exit freed it */

/* Written by pmadv_kill_reap: exactly ressz bytes (see "How structures
 * grow": the fields both know, zeros past them). Sizes in bytes, from the
 * kernel's counters (VmRSS, VmSwap of /proc/PID/status): before, just
 * before the signal; after, once freed (0 when the process or its memory
 * is gone). */
struct pmadv_reap_result {
	int error;             /* process_mrelease's errno: 0 (reaped),
				* ENOSYS (kernel before 5.15), EINVAL (not
				* dying: the signal was caught, blocked or
				* ignored, or its memory is shared), ESRCH
				* (its memory was already gone), ... */
	unsigned int freed_by; /* PMADV_FREED_* */
	uint64_t rss_before, rss_after;
	uint64_t swap_before, swap_after;
	uint64_t released;     /* (rss + swap) before minus after */
	uint64_t ns;           /* from the signal to the memory freed, or to
				* the return when it was not */
};

/* Sends sig (1.._NSIG-1) through the handle's pidfd, so that a reused PID
 * is never signalled, then (only once the signal is sent) calls
 * process_mrelease. Without it, or when it refuses, waits for the exit by
 * polling the pidfd, up to 5 s. 0 once the memory is freed (or after the
 * signal, with PMADV_REAP_NOWAIT); -EINVAL (bad t, sig, flags; a
 * pmadv_open_self handle), -ENOSYS (the handle has no pidfd), -ESRCH (gone
 * before the signal), -EPERM (may not signal it), -ETIMEDOUT (signalled,
 * not freed within 5 s), -ENOTRECOVERABLE. res may be NULL. */
int pmadv_kill_reap(struct pmadv_target *t, int sig, unsigned int flags,
		    struct pmadv_reap_result *res, size_t ressz);

/* Ranges with holes (0.2+), a pmadv_opts.flags bit: the unmapped parts of
 * each element are left out instead of failing it (ENOMEM), using the
 * target's VMA list (read once per request), and counted in
 * pmadv_result.skipped (bytes + skipped: the lengths, when all went
 * well); an element with no mapped byte is done. The path
 * allocates (the VMA list and the pieces). A VMA unmapped between the
 * reading and the advice still fails its element with ENOMEM. */
#define PMADV_F_SKIP_UNMAPPED 0x4u

/*
 * Self mode (0.2+), for allocators (jemalloc- or tcmalloc-style purging):
 * a handle on the calling process, so that pmadv_advise gives it many
 * ranges in one vector call (process_madvise through PIDFD_SELF, Linux
 * 6.14; any advice for oneself from 6.13). No ptrace and no ioctl: where
 * the vector call cannot serve, madvise(2) per range does.
 */

/* pmadv_result.method of a self handle's madvise(2) per range (never a
 * bit of pmadv_opts.methods: a self handle may always use it). */
#define PMADV_METHOD_MADVISE 0x8u

/* A handle on the calling process that stays one across fork(2): it names
 * itself with PIDFD_SELF where the kernel has it (6.14+), else with a pidfd
 * (getpid() checked on each call: a forked child opens its own for each
 * request; the handle is never written, for vfork), else not at all
 * (madvise only). flags must be 0. On that
 * handle pmadv_advise tries the vector call (PMADV_METHOD_SYSCALL, when
 * opts.methods allows it), then madvise per range (PMADV_METHOD_MADVISE);
 * destructive advice still needs PMADV_F_DESTRUCTIVE. pmadv_advise on it
 * is allocation-free and async-signal-safe. pmadv_target_pid gives
 * getpid(), pmadv_target_pidfd -ENOSYS; pmadv_hold and pmadv_kill_reap
 * refuse it (EINVAL). 0, or -EINVAL, -EMFILE, -ENFILE, -ENODEV, -ENOMEM,
 * -EPERM (a filter refusing pidfd_open), -ENOTRECOVERABLE. */
int pmadv_open_self(unsigned int flags, struct pmadv_target **out);

/*
 * The processes of a cgroup (0.2+), for a daemon that advises a whole
 * workload: an iterator that reads the kernel's list through one buffer of
 * bufsz bytes (0: 4096; at least 64) and returns an open handle per
 * process. It allocates its state and that buffer at pmadv_cgroup_open and
 * nothing per member, however long the list. The list is
 * cgroup.procs (cgroup v2); in a threaded cgroup, where that file cannot be
 * read, the processes of the threads in cgroup.threads; on a v1 hierarchy,
 * those of the threads in tasks. A handle is returned only if, after it was
 * opened, /proc/PID/cgroup still puts the process (or the listed thread) in
 * the cgroup (or, for a "domain threaded" cgroup, in its threaded
 * subtree) and the handle's process still lives: a member that left, or
 * exited and had its PID reused, is skipped, never returned.
 */
struct pmadv_cgroup;

/* pmadv_cgroup_stats.source: the file the members come from */
#define PMADV_CGROUP_SRC_PROCS   1 /* cgroup.procs (v2) */
#define PMADV_CGROUP_SRC_THREADS 2 /* cgroup.threads (threaded v2 cgroup) */
#define PMADV_CGROUP_SRC_TASKS   3 /* tasks (v1) */

/* Written by pmadv_cgroup_stats: exactly outsz bytes (see "How structures
 * grow"). */
struct pmadv_cgroup_stats {
	unsigned int source; /* PMADV_CGROUP_SRC_* */
	size_t listed;       /* IDs read from the list so far */
	size_t returned;     /* handles returned */
	size_t skipped;      /* IDs skipped: gone, left, a process already
			      * returned through another of its threads */
};

/* flags: those of pmadv_open() (PMADV_OPEN_PIDFD), for the handles. */
int pmadv_cgroup_open(const char *path, size_t bufsz, unsigned int flags,
		      struct pmadv_cgroup **out);
/* 1 and a handle in *out (pmadv_close it), 0 at the end of the list. */
int pmadv_cgroup_next(struct pmadv_cgroup *cg, struct pmadv_target **out);
int pmadv_cgroup_stats(const struct pmadv_cgroup *cg,
		       struct pmadv_cgroup_stats *out, size_t outsz);
void pmadv_cgroup_close(struct pmadv_cgroup *cg);

#ifdef __cplusplus
}
#endif

#endif /* PROCMADVISE_H */
