// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Raw system calls: the public thin wrappers and the seam through which the
 * rest of the library reaches the kernel. Raw syscall(2) keeps the library
 * working on glibc before 2.36 and on libcs that lack the wrappers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Same numbers on every architecture since the unified syscall table. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif

static long sys_pidfd_open(pid_t pid, unsigned int flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

static long sys_process_madvise(int pidfd, const struct iovec *iov,
				size_t vlen, int advice, unsigned int flags)
{
	return syscall(SYS_process_madvise, pidfd, iov, vlen, advice, flags);
}

static long sys_pidfd_send_signal(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static long sys_process_mrelease(int pidfd, unsigned int flags)
{
	return syscall(SYS_process_mrelease, pidfd, flags);
}

const struct pmadv_sys pmadv_sys_kernel = {
	.pidfd_open = sys_pidfd_open,
	.process_madvise = sys_process_madvise,
	.pidfd_send_signal = sys_pidfd_send_signal,
	.process_mrelease = sys_process_mrelease,
};

const struct pmadv_sys *pmadv_sys = &pmadv_sys_kernel;

uint64_t pmadv_user_end(void)
{
#if defined(__x86_64__)
	/* 5-level page tables: the kernel clears cpuinfo's la57 flag when
	 * it does not use them. Read once; lock-free (the tracer too). */
	static int known; /* 0: not read; 1: no; 2: yes */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	char buf[8192];

	if (!k) {
		ssize_t n = pmadv_read_proc("/proc/cpuinfo", buf, sizeof(buf));

		k = n > 0 && strstr(buf, " la57") ? 2 : 1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return (1ULL << (k == 2 ? 56 : 47)) - 4096;
#elif defined(__aarch64__)
	/* VA_BITS is the kernel's choice: 39 or 48 with 4 KiB pages (Android
	 * kernels have used both), 42 or 52 with 64 KiB ones. The widest
	 * whose last two pages take a mapping is the one; a page there that
	 * is already mapped answers the same (EEXIST). Read once; lock-free. */
	static const unsigned char bits[] = { 52, 48, 47, 42, 39 };
	static uint64_t known;
	uint64_t k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	size_t page = pmadv_page_size();
	int saved = errno;

	if (k)
		return k;
	for (size_t i = 0; !k && i < sizeof(bits); i++) {
		uint64_t want = (1ULL << bits[i]) - 2 * (uint64_t)page;
		void *p = mmap((void *)(uintptr_t)want, page, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			       -1, 0);

		if (p != MAP_FAILED)
			munmap(p, page);
		if (p == (void *)(uintptr_t)want ||
		    (p == MAP_FAILED && errno == EEXIST))
			k = 1ULL << bits[i];
	}
	errno = saved;
	if (!k)
		return 0;
	__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	return k;
#else
	return 0;
#endif
}

PMADV_API int pmadv_pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)sys_pidfd_open(pid, flags);
}

PMADV_API ssize_t pmadv_process_madvise(int pidfd, const struct iovec *iov,
					size_t vlen, int advice,
					unsigned int flags)
{
	return sys_process_madvise(pidfd, iov, vlen, advice, flags);
}

PMADV_API int pmadv_process_mrelease(int pidfd, unsigned int flags)
{
	return (int)sys_process_mrelease(pidfd, flags);
}

size_t pmadv_page_size(void)
{
	static size_t page;
	size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

	if (!p) {
		long v = sysconf(_SC_PAGESIZE);

		p = v > 0 ? (size_t)v : 4096;
		__atomic_store_n(&page, p, __ATOMIC_RELAXED);
	}
	return p;
}

size_t pmadv_max_rw_count(void)
{
	return (size_t)INT_MAX & ~(pmadv_page_size() - 1);
}
