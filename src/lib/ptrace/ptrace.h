/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ptrace rung: the target runs the advice itself. A tracer seizes
 * the target (PTRACE_SEIZE + PTRACE_INTERRUPT), saves its registers and
 * signal mask, and makes it execute madvise(2) -- or, where the kernel lets
 * a process advise itself through process_madvise(2), one process_madvise on
 * its own pidfd per batch, with the iovec array in a scratch mapping -- from
 * a syscall instruction that already exists in its vDSO or libc. Where the
 * kernel does not let it, batches run through a small loop of madvise calls
 * copied into an executable scratch page (see run_loop in paths.c). Then it
 * restores everything and detaches, so the target ends up as it was, minus
 * the advised pages.
 *
 * Why the tracer is a process of its own, started by a worker thread:
 * see tracer.c. Only the task that attached may drive the tracee, and a
 * tracee that never stops (D state, freezer) cannot be detached with
 * PTRACE_DETACH; the kernel detaches it when its tracer exits. The tracer
 * can keep waiting for a stuck target in the background, and outlive the
 * caller, while the caller gets -ETIMEDOUT on time.
 *
 * This header joins the rung's files: the session they share, its
 * constants, and what one file lends another (pt_*). procfs.c reads /proc
 * and answers the preflight, wait.c waits for the tracee, inject.c makes
 * it run a system call, paths.c advises a batch, tracer.c is the tracer
 * (attach, detach, hand-off) and rung.c the rung's operations; arch.h and
 * arch/ hold what depends on the architecture.
 */
#ifndef PMADV_PTRACE_H
#define PMADV_PTRACE_H

#include <elf.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "../internal.h"
#include "arch.h"

#define DEFAULT_TIMEOUT_MS 5000
/* How long the tracer waits for the caller's next command before it lets
 * go of the target: the caller posts batches back to back, so this only
 * ends sessions whose caller vanished (an exec in another thread, say). */
#define PT_IDLE_MS 2000
#define PF_EXITING_FLAG 0x00000004UL
#define PF_KTHREAD_FLAG 0x00200000UL

/* Batches of more ranges than this take a fast path (process_madvise on
 * the target's own pidfd, or the madvise loop). */
#define FAST_MIN 4

/* The tracer process's stack (tracer.c): the paths keep batch-sized
 * buffers on it. */
#define TRACER_STACK (512 * 1024)

/* The largest vDSO image the rung believes (a few pages in practice). */
#define VDSO_MAX 65536

/* The ptrace request of 5.13 that tells where a thread's rseq area is. */
#define PT_GET_RSEQ_CONFIGURATION 0x420f

/* PIDFD_SELF_THREAD (6.15+): the calling thread, for process_madvise the
 * process it belongs to. Not the thread-group value, which was renumbered
 * between releases. */
#define PT_PIDFD_SELF (-10000)

/* Signals the kernel forces on a thread that faults. */
#define FAULT_SIGS                                                          \
	((1ULL << (SIGILL - 1)) | (1ULL << (SIGTRAP - 1)) |                 \
	 (1ULL << (SIGBUS - 1)) | (1ULL << (SIGFPE - 1)) |                  \
	 (1ULL << (SIGSEGV - 1)) | (1ULL << (SIGSYS - 1)))

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

/* The credentials a tracer was started with (tracer.c): a kept tracer
 * serves only a thread that has the same. */
struct pt_creds {
	uint32_t ids[6];     /* real, effective, saved UID; the same GIDs */
	uint32_t fsids[2];   /* fs UID and GID */
	int ngroups;         /* supplementary groups, -1: too many to keep */
	uint32_t groups[32];
	uint32_t caps[6];    /* effective, permitted, inheritable (v3) */
	int seccomp;         /* PR_GET_SECCOMP */
	/* not credentials, but what the tracer inherits and keeps: its
	 * scheduling policy (pt_rt_policy) and priority, its CPUs */
	int policy, priority;
	unsigned long cpus[1024 / (8 * sizeof(unsigned long))];
};

/* A tracer's life across sessions (tracer.c): serving one (BUSY), then,
 * if kept, IDLE until a caller CLAIMs it and says GO, or it ends (GONE,
 * by itself: idle too long, caller gone) or is told to (EXIT). */
enum { ST_BUSY, ST_IDLE, ST_CLAIMED, ST_GO, ST_GONE, ST_EXIT };

struct session {
	/* The tracer's, kept across the sessions it serves (tracer.c) */
	uint32_t seq;        /* futex word, bumped on each change below */
	int refs;            /* caller (or the pool) + worker thread */
	int state;           /* ST_* */
	int turn_held;       /* the turn on pid is still to give back */
	int exited;          /* the worker saw the tracer exit */
	int tracer;          /* its PID, once it runs */
	pthread_t thread;    /* the worker: the tracer's parent */
	pid_t caller;        /* getpid() of the caller */
	pid_t worker;        /* the worker's TID, set before the clone */
	pid_t owner;         /* the thread that started it */
	void *stack;         /* the tracer's */
	struct pt_creds creds; /* the owner's, when it started */
	/* the tracer's body, when it is not the rung's (pmadv_hold) */
	int (*run)(struct session *s);
	/* Everything below is one session's: a kept tracer's next caller
	 * starts it afresh (pt_session_claim). */
	int keep;            /* the caller will keep the tracer for the next
			      * session, should it end cleanly */
	/* The hand-off (tracer.c): atomics and a futex word, since the
	 * tracer must never block on anything the caller may hold. */
	int attached;        /* attach finished (attach_ret valid) */
	int ended;           /* the tracer let go of the target */
	int gave_up;         /* the caller stopped waiting for the tracer */
	int cmd;             /* posted by the caller, CMD_NONE once answered */
	unsigned long progress; /* stops seen: the tracer is alive */
	int attach_ret;
	int end_err;         /* why the tracer ended on its own, or 0 */

	/* the current command; a copy, since a caller that gave up on a
	 * stuck tracer may free its vector */
	struct iovec iov[PMADV_IOV_MAX];
	size_t n;
	bool last;          /* the request's last batch (pmadv_call.last) */
	int answer_at_end;  /* ret and err hold the answer to a last batch,
			     * told as the session ends (serve, end_session) */
	ssize_t ret;
	int err;

	/* set before the tracer starts, read-only afterwards */
	pid_t pid;
	pid_t nspid;        /* the target's PID in its own namespace */
	int pidfd;
	unsigned long long starttime;
	int advice;
	int timeout_ms;
	enum path want;     /* the path the request asked for */
	bool force;         /* PMADV_PTRACE_FAST=loop: whatever the size */
	bool want_patch;    /* PMADV_PTRACE_PATCH=1 (tests): skip the search */
	long linger_us;     /* the loop's linger before its rt_sigreturn */
	bool linger_forced; /* by PMADV_PTRACE_LINGER_US */
	bool suspend_seccomp;
	bool rt;            /* the tracer yields not (pt_rt_policy) */

	/* the tracer's alone */
	pid_t tid;
	int memfd;
	int mapsfd;         /* its maps, for PROCMAP_QUERY (6.11+), or -1 */
	bool compat;
	bool entry_mode;    /* saved at a syscall-entry stop, see begin */
	size_t entry_ilen;  /* the syscall instruction it was taken from */
	bool seized;        /* tracee is ours until a PTRACE_DETACH works
			     * or the tracer exits */
	bool stopped;       /* tracee is in a ptrace stop we caused */
	bool regs_saved;    /* s->saved holds the registers to give back */
	bool mask_changed;
	uint64_t faults_at_attach; /* pending fault signals, not ours */
	bool in_syscall;    /* an injected call passed its entry stop */
	bool in_loop;       /* the tracee runs the madvise loop */
	enum path path;     /* PATH_EACH once a fast path failed to set up */
	int broken;         /* sticky errno once the session cannot go on */
	struct pmadv_regs saved;
	struct pmadv_regs unrewound; /* entry mode: as stopped, for skip_entry */
	uint64_t rseq_cs_at; /* the thread's rseq_cs to clear once armed */
	uint64_t saved_mask;
	uint64_t insn;
	uint64_t gadget;    /* "syscall; return" in the tracee's code (frame.c) */
	uint64_t restorer;  /* its rt_sigreturn sequence */
	uint64_t frame;     /* the armed frame's address, or 0: unarmed */
	/* What the frame was written over (the thread's memory below its
	 * stack pointer, [frame, frame + under_len)), given back when it
	 * lets go (pt_unarm); 0: nothing to give back. */
	unsigned char under[PMADV_FPU_MAX + 1024];
	size_t under_len;
	unsigned char fpu[PMADV_FPU_MAX]; /* pmadv_arch_getfpu's, at capture */
	size_t fpulen;      /* its length, 0 when it could not be read */
	uint64_t patched;   /* where we wrote our own instruction, or 0 */
	unsigned char patch_orig[16]; /* the bytes it replaced */
	size_t patch_len;
	uint64_t scratch;
	size_t scratch_len;
	long tfd;           /* the target's pidfd for itself, or -1 */
	bool tfd_sentinel;  /* tfd is PT_PIDFD_SELF: nothing to close */
};

struct tinfo {
	pid_t tid;          /* the thread to seize */
	char state;
	unsigned long flags;
	pid_t tracer;
	int seccomp;
	pid_t nspid;
	int threads;        /* of the whole process */
};

/* procfs.c: /proc reading, the preflight, the fast path's precondition */
/* Calls fn for each line of the file at path (NUL-terminated, without its
 * newline; a line longer than 8 KiB is cut) until fn returns true, which
 * it returns. read(2) into a buffer of its own: no lock, no allocation. */
bool pt_each_line(const char *path, bool (*fn)(void *ctx, char *line),
		  void *ctx) PMADV_HIDDEN;
struct pmadv_vma_rec;
/* Calls fn for each VMA of the tracee (its thread's maps file, each line
 * decoded by the library's maps parser) until fn returns true, which it
 * returns; false too when the file cannot be read. */
bool pt_each_vma(const struct session *s,
		 bool (*fn)(void *ctx, const struct pmadv_vma_rec *r),
		 void *ctx) PMADV_HIDDEN;
/* The tracee's VMA that holds addr: 1 and *r, or 0 when none does or the
 * maps file cannot be read. One PROCMAP_QUERY (6.11+), else the text up to
 * it. */
int pt_vma_at(const struct session *s, uint64_t addr,
	      struct pmadv_vma_rec *r) PMADV_HIDDEN;
/* Thread tid of process pid (tid == pid: the main thread). */
int pt_read_tinfo(pid_t pid, pid_t tid, struct tinfo *ti) PMADV_HIDDEN;
bool pt_exiting(pid_t pid, pid_t tid) PMADV_HIDDEN;
/* The thread of pid to seize, in *ti, which holds the main thread's facts
 * on entry (pt_read_tinfo): the main thread unless another suits better,
 * else the newest of those that suit best; -ESRCH when none lives.
 * *suspend_ok: whether seccomp can be suspended, -1 for not yet known. */
int pt_choose_thread(pid_t pid, int *suspend_ok, struct tinfo *ti) PMADV_HIDDEN;
int pt_preflight(const struct pmadv_target *t, struct tinfo *ti, bool *suspend,
		 char *msg, size_t len) PMADV_HIDDEN;
enum { SELF_NO, SELF_PIDFD, SELF_SENTINEL };
int pt_self_process_madvise(int advice) PMADV_HIDDEN;

/* wait.c: waiting for the tracee */
int64_t pt_now_ms(void) PMADV_HIDDEN;
bool pt_tracee_dead(const struct session *s) PMADV_HIDDEN;
void pt_bump_progress(struct session *s) PMADV_HIDDEN;
/* Whether the calling thread (and a tracer it starts, which inherits
 * its policy) runs under SCHED_FIFO or SCHED_RR: then yielding the CPU
 * hands it only to tasks of its own priority, never to the ordinary task
 * it waits for. */
bool pt_rt_policy(void) PMADV_HIDDEN;
void pt_backoff(const struct session *s, unsigned int i,
		struct timespec *nap) PMADV_HIDDEN;
/* One look, without waiting: 1 and *status for a stop (counted as
 * progress), 0 for none yet, -errno (-ESRCH: no such tracee). */
int pt_poll_stop(struct session *s, int *status) PMADV_HIDDEN;
int pt_wait_stop(struct session *s, int64_t deadline, int *status) PMADV_HIDDEN;
int64_t pt_deadline_of(const struct session *s) PMADV_HIDDEN;
int pt_resume(struct session *s, int req, int sig) PMADV_HIDDEN;
int pt_signal_stop(struct session *s, int sig, int *pass) PMADV_HIDDEN;
int pt_run_until(struct session *s, int req, bool want_syscall, bool pass,
		 bool no_resume, int64_t deadline) PMADV_HIDDEN;

/* inject.c: injection, and finding a syscall instruction */
int pt_inject(struct session *s, enum pmadv_nr which, uint64_t a0, uint64_t a1,
	      uint64_t a2, uint64_t a3, uint64_t a4, long *out) PMADV_HIDDEN;
/* Sequences of code to find in the tracee; *at[k] is 0 or a hint. */
struct pt_seqs {
	unsigned int n;
	const unsigned char *pat[4];
	size_t len[4];
	uint64_t *at[4];
};
bool pt_find_seqs(struct session *s, struct pt_seqs *q) PMADV_HIDDEN;
/* Whether [at, at+len) is in one VMA of code we may run: readable and
 * executable now, not writable, a private file mapping or the vDSO. */
bool pt_code_at(const struct session *s, uint64_t at, size_t len) PMADV_HIDDEN;
bool pt_patch_entry(struct session *s) PMADV_HIDDEN;
bool pt_patch_seqs(struct session *s) PMADV_HIDDEN;
void pt_unpatch(struct session *s) PMADV_HIDDEN;
/* frame.c: the bytes under the frame back, once the thread's registers
 * no longer lead to it (the kernel would write a signal frame there too,
 * but a thread that blocks every signal may keep data there). */
void pt_unarm(struct session *s) PMADV_HIDDEN;

/* elf.c: pure readers of target data (fuzzed). Program header i of the
 * ELF image img[0..n), 32- or 64-bit, in the 64-bit layout; false when
 * the image has no such entry inside img. */
bool pt_elf_phdr(const unsigned char *img, size_t n, unsigned int i,
		 Elf64_Phdr *out) PMADV_HIDDEN;
/* The value of type want in an auxiliary vector (8- or 16-byte entries). */
bool pt_auxv_find(const unsigned char *aux, size_t n, bool compat,
		  uint64_t want, uint64_t *val) PMADV_HIDDEN;

/* frame.c: the tracee restorable without its tracer */
/* Writes the frame for s->saved, s->saved_mask and the thread's FPU state,
 * and leaves the tracee's registers returning through it: 0, or -errno
 * with the tracee unarmed (s->frame 0) and its registers untouched. */
int pt_arm(struct session *s) PMADV_HIDDEN;
/* Caller side: where the sequences were last time in this process (by
 * PID and start time), as hints for s; and remembering them. */
void pt_hint_get(struct session *s) PMADV_HIDDEN;
void pt_hint_put(const struct session *s) PMADV_HIDDEN;
/* In a fork's child: the lock afresh (tracer.c's atfork handler). */
void pt_hint_atfork(void) PMADV_HIDDEN;
/* After the loop ended in an interrupt stop: 0, having captured the
 * tracee's state again if it had returned through its frame. */
int pt_after_loop(struct session *s) PMADV_HIDDEN;

/* paths.c: advising one batch (tracer) */
ssize_t pt_do_advise(struct session *s, const struct iovec *iov, size_t n,
		     int *err) PMADV_HIDDEN;

/* tracer.c: the tracer process, its worker thread and the hand-off */
/* From an interrupt stop with nothing of ours in the tracee's registers or
 * mask: saves them, arms, blocks every signal. */
int pt_capture(struct session *s) PMADV_HIDDEN;
/* A kept tracer of the calling thread, idle, claimed: its session with
 * everything from keep on zeroed, for pt_session_start; or NULL. */
struct session *pt_session_claim(void) PMADV_HIDDEN;
/* Starts the worker and the tracer for s (filled in, refs set here), or
 * tells a claimed one to go: 0, or -errno with nothing left to undo; for
 * a claimed one -ECHILD when it did not answer (see pt_session_lost). The
 * caller holds the turn on s->pid; the session gives it back. */
int pt_session_start(struct session *s) PMADV_HIDDEN;
void pt_session_put(struct session *s) PMADV_HIDDEN;
/* The caller's end of a session whose tracer has ended it (pt_tracer_ended):
 * keeps the tracer for the next session or lets it exit, and drops the
 * caller's reference. */
void pt_session_done(struct session *s) PMADV_HIDDEN;
/* The tracer exited before it attached: 1 (a kept one killed meanwhile,
 * say). */
bool pt_tracer_lost(const struct session *s) PMADV_HIDDEN;
/* After a lost tracer, or a claimed one that did not answer its GO
 * (pt_session_start's -ECHILD): lets it go, gives the turn back and drops
 * the caller's reference. */
void pt_session_lost(struct session *s) PMADV_HIDDEN;
bool pt_tracer_exited(const struct session *s) PMADV_HIDDEN;
void pt_post(struct session *s, int cmd) PMADV_HIDDEN;
/* The caller's end: CMD_END (unless the tracer let go after a last
 * batch all advised, see serve), then the tracer's end awaited (0, or
 * -end_err when it had ended by itself before the CMD_END was seen), or
 * given up on (-ETIMEDOUT); drops the caller's reference. */
int pt_session_end(struct session *s) PMADV_HIDDEN;
/* The same, given up on at deadline (CLOCK_MONOTONIC ms) instead of
 * after a timeout without progress; deadline < 0: as pt_session_end. */
int pt_session_end_by(struct session *s, int64_t deadline) PMADV_HIDDEN;
/* The tracer's side: *flag (attached, ended) set, the caller woken. */
void pt_set(struct session *s, int *flag) PMADV_HIDDEN;
/* The tracer's liveness check: its caller's process is gone. */
bool pt_caller_gone(const struct session *s) PMADV_HIDDEN;
/* The tracer's wait for a command (CMD_ADVISE, or CMD_END when the caller
 * gave up, is gone, or sent nothing before until, a CLOCK_MONOTONIC ms
 * deadline, < 0: none; end_err is then ETIMEDOUT). tick runs at least
 * every 100 ms meanwhile. */
int pt_next_cmd(struct session *s, int64_t until,
		void (*tick)(struct session *)) PMADV_HIDDEN;
/* Requests of this process on one target take turns, in the order they
 * asked: 0, or -ETIMEDOUT when the turn did not come within timeout_ms. */
int pt_take_turn(pid_t pid, int timeout_ms) PMADV_HIDDEN;
/* The same for a turn that thread owner keeps (a hold): owner's own later
 * requests on pid get -EBUSY at once instead of waiting for themselves. */
int pt_take_turn_as(pid_t pid, int timeout_ms, pid_t owner) PMADV_HIDDEN;
void pt_end_turn(pid_t pid) PMADV_HIDDEN;
int pt_await(struct session *s,
	     bool (*done)(const struct session *)) PMADV_HIDDEN;
/* The same with a fixed deadline (CLOCK_MONOTONIC ms). */
int pt_await_until(struct session *s, bool (*done)(const struct session *),
		   int64_t deadline) PMADV_HIDDEN;
bool pt_attach_done(const struct session *s) PMADV_HIDDEN;
bool pt_cmd_done(const struct session *s) PMADV_HIDDEN;
bool pt_tracer_ended(const struct session *s) PMADV_HIDDEN;
void pt_give_up(struct session *s) PMADV_HIDDEN;

#endif
