/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for the ptrace rung's tests: forked targets, snapshots of what a
 * target must get back unchanged (maps, fds, signal state), /proc readings,
 * temporary zram swap, and the skip rule (77 for users, never under CI).
 */
#ifndef PTEST_H
#define PTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "pmtest.h"
#include "procmadvise.h"

/* Tests that need root or a feature: the one skip rule (pmtest.h). */
#define PT_REQUIRE(cond, why) pmtest_require(cond, why)

/*
 * The 32-bit x86 target (PT_TARGET32), or the current test is skipped or
 * failed. Some kernels cannot exec 32-bit programs (no IA32_EMULATION, or
 * ia32_emulation=0): execve answers ENOEXEC. That is found out by trying,
 * and the test skips naming the cause; under CI only while PT_TARGET32_VM
 * names the vm test that runs the same case in a guest that can.
 */
const char *pt_target32(void);
/* 0 when this kernel runs the program at path, else execve's errno. */
int pt_exec_error(const char *path);

/* fork(); the child dies with us and runs fn(arg), then _exit(0). */
pid_t pt_fork(void (*fn)(void *), void *arg);
/* SIGKILL and reap; tolerates an already reaped child. */
void pt_kill(pid_t pid);

/* The children of every thread of pid but exclude (its tracers, say),
 * up to max into out; how many. */
int pt_children(pid_t pid, pid_t exclude, pid_t *out, int max);

/* pmadv_advise forced through the ptrace rung. */
ssize_t pt_advise(pid_t pid, const struct iovec *iov, size_t n, int advice,
		  unsigned int flags, struct pmadv_result *res);

/* What an injection must leave exactly as it found. */
struct pt_snap {
	char maps[65536];
	char fds[8192];
	char sig[512];  /* TracerPid, SigBlk, SigIgn, SigCgt */
	char pend[256]; /* SigPnd, ShdPnd: only stable in a quiet target */
};
int pt_snapshot(pid_t pid, struct pt_snap *s);
/* cmocka-asserts that two snapshots agree (pending signals too, where
 * nobody else signals the target). */
void pt_assert_same(const struct pt_snap *a, const struct pt_snap *b,
		    bool pending);

/* The system call /proc/PID/syscall shows (-1: none, or unreadable). */
long pt_syscall_of(pid_t pid);

/* Reads exactly len bytes (or until EOF) with a deadline; bytes or -1. */
ssize_t pt_read_full(int fd, void *buf, size_t len, int timeout_ms);


double pt_now(void);

/* The library's decision log (PMADV_DEBUG=1) of what runs between
 * pt_log_begin and pt_log_end, which returns how many of its lines contain
 * needle (and echoes them under PT_VERBOSE). */
struct pt_log {
	void *file;
	int saved_fd;
};
void pt_log_begin(struct pt_log *l);
int pt_log_end(struct pt_log *l, const char *needle);

#endif
