/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the test programs that run against the real kernel:
 * forked targets, readings of their memory (smaps, smaps_rollup, mincore),
 * temporary zram swap, and the root/CI skip rule.
 */
#ifndef PMTEST_H
#define PMTEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Skip the current cmocka test when not root; under CI=true, fail instead:
 * CI runs as root and must run everything. */
#define pmtest_require_root() pmtest_require(geteuid() == 0, "needs root")
#define pmtest_require(cond, why)                                          \
	do {                                                               \
		if (!(cond)) {                                             \
			if (pmtest_in_ci())                                \
				fail_msg("cannot run under CI: %s", why);  \
			skip();                                            \
		}                                                          \
	} while (0)

bool pmtest_in_ci(void);

/*
 * A page a process faults in waits in its CPU's LRU batch (lru_add) until
 * something on that CPU drains it, and MADV_COLD / MADV_PAGEOUT skip a
 * folio that is not on an LRU list yet: up to a batch of pages keeps its
 * Referenced bit through the advice, when the advice runs on another CPU
 * (the caller's, or the target's after a migration). Targets that check
 * such effects pin themselves to the CPU they fault on
 * (pmtest_pin_cpu), then drain that CPU's batch (pmtest_lru_drain:
 * MADV_COLD of a page of its own, which begins with lru_add_drain()).
 */
void pmtest_pin_cpu(void);
void pmtest_lru_drain(void);

/* A forked child that writes to every page of the given ranges (so the pages
 * are its own, not shared copy-on-write with us), reports ready, then runs
 * step() each time it is poked, and exits when killed. */
struct pmtest_child {
	pid_t pid;
	int poke_fd;  /* write a byte: the child runs its step */
	int ready_fd; /* the child writes a byte when ready / after a step */
};

typedef void (*pmtest_step_fn)(void *arg);

int pmtest_spawn(struct pmtest_child *c, void *const *bases,
		 const size_t *lens, size_t n, pmtest_step_fn step, void *arg);
int pmtest_poke(struct pmtest_child *c);
void pmtest_reap(struct pmtest_child *c);

/* Forks until a child (as pmtest_spawn, over [p, p + len)) has PID want
 * (root: through ns_last_pid); another process of the machine may take
 * the PID first, so it tries again. want, or -1. */
int pmtest_spawn_as(pid_t want, struct pmtest_child *c, void *p, size_t len);

/* Runs fn(arg) in a forked child; its exit status, 128 + signal, or -1. */
int pmtest_in_child(int (*fn)(void *), void *arg);
/* A seccomp filter on the calling thread (and its later children): system
 * call nr fails with err, when match_arg0 only if the low 32 bits of its
 * first argument are arg0. 0 or -1. */
int pmtest_seccomp_errno(long nr, int err, bool match_arg0, uint32_t arg0);

/* A field of /proc/PID/smaps_rollup ("Rss", "Swap", "Referenced") in kB. */
long pmtest_rollup_kb(pid_t pid, const char *field);
/* A field of the smaps entry of the VMA that contains addr, in kB. */
long pmtest_vma_kb(pid_t pid, const void *addr, const char *field);
/* Resident pages of [addr, addr + len) in our own address space. */
long pmtest_resident_pages(void *addr, size_t len);

/* State letter of /proc/PID/stat (tid 0) or of thread tid, or 0. */
char pmtest_state(pid_t pid, pid_t tid);

/* Whether a counter that another process's running thread bumps moves
 * past from within ms milliseconds (looked at every millisecond): the
 * thread runs. A fixed sleep before one look fails on a loaded machine,
 * where a runnable thread can wait tens of milliseconds for a CPU. */
bool pmtest_advances(const volatile unsigned long *ctr, unsigned long from,
		     int ms);

/* Swap on a hot-added zram device, at top priority, serialised with other
 * test programs by flock on /run/pmadv-zram.lock (held until off); the
 * device number or -1. Off resets and removes it. */
int pmtest_zram_on(const char *size);
void pmtest_zram_off(int dev);
/* Swap for a test that pages out size_kb, under the same lock (another
 * test's swapoff would pull this test's pages back): the host's where it
 * has room (-1), else a zram device of zram_size (its number), else -2.
 * Either way pmtest_zram_off ends it. */
int pmtest_swap_for(long size_kb, const char *zram_size);
/* True when the kernel has swap that can take size_kb more. */
bool pmtest_swap_free(long size_kb);

/* Installs a seccomp filter (with no_new_privs) that answers err for
 * system call nr, and, when with_arg, only when the low 32 bits of its
 * second argument (an ioctl's request) are arg. 0 or -1. */
int pmtest_refuse_syscall(int nr, bool with_arg, uint32_t arg, int err);
/* The PAGEMAP_SCAN request (Linux 6.7 UAPI): refused with ENOTTY, it
 * makes pmadv_residency read pagemap entries, as on an older kernel. */
#define PMTEST_PAGEMAP_SCAN 0xc0606610u

/* A file of len bytes under /var/tmp filled with a pattern, not in the page
 * cache; its fd (unlinked), or -1. */
int pmtest_cold_file(size_t len);

/* What a daemon does: a thread that reaps every child of the process
 * until stop is set, with waitpid(-1, WNOHANG | WUNTRACED) (mode 0) or
 * waitid(P_ALL, WEXITED | WSTOPPED | __WALL | WNOHANG) (mode 1), and
 * counts the stop reports it was given. Run pmtest_reap_all(&reaper). */
struct pmtest_reaper {
	atomic_int stop;
	int mode;
	atomic_long stops;
};
void *pmtest_reap_all(void *arg);

#endif /* PMTEST_H */
