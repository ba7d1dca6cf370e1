// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test helpers for real-kernel tests: forked targets and readings of their
 * memory. See pmtest.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pmtest.h"

bool pmtest_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci && !strcmp(ci, "true");
}

void pmtest_pin_cpu(void)
{
	cpu_set_t one;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one); /* a best effort */
}

static char *drain_page;

/* The page pmtest_lru_drain advises, mapped when the program starts: a
 * child that mapped it after fork could put it in a hole of the layout a
 * test made before (5.10 places it there). */
__attribute__((constructor)) static void drain_page_map(void)
{
	drain_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (drain_page == MAP_FAILED)
		drain_page = NULL;
	else
		drain_page[0] = 1;
}

void pmtest_lru_drain(void)
{
	if (!drain_page)
		return;
	/* madvise_cold() begins with lru_add_drain() of this CPU */
	madvise(drain_page, 4096, MADV_COLD);
}

static void child_main(int poke, int ready, void *const *bases,
		       const size_t *lens, size_t n, pmtest_step_fn step,
		       void *arg)
{
	char b = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pmtest_pin_cpu();
	for (size_t i = 0; i < n; i++)
		for (size_t off = 0; off < lens[i]; off += 4096)
			((volatile char *)bases[i])[off] = (char)(off >> 12 | 1);
	pmtest_lru_drain();
	if (write(ready, &b, 1) != 1)
		_exit(1);
	while (read(poke, &b, 1) == 1) {
		if (step)
			step(arg);
		pmtest_lru_drain();
		if (write(ready, &b, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

int pmtest_spawn(struct pmtest_child *c, void *const *bases,
		 const size_t *lens, size_t n, pmtest_step_fn step, void *arg)
{
	int poke[2], ready[2];
	char b;

	if (pipe2(poke, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		close(poke[1]);
		close(ready[0]);
		child_main(poke[0], ready[1], bases, lens, n, step, arg);
	}
	close(poke[0]);
	close(ready[1]);
	c->poke_fd = poke[1];
	c->ready_fd = ready[0];
	return read(c->ready_fd, &b, 1) == 1 ? 0 : -1;
}

int pmtest_poke(struct pmtest_child *c)
{
	char b = 1;

	if (write(c->poke_fd, &b, 1) != 1)
		return -1;
	return read(c->ready_fd, &b, 1) == 1 ? 0 : -1;
}

void pmtest_reap(struct pmtest_child *c)
{
	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	close(c->poke_fd);
	close(c->ready_fd);
	c->pid = 0;
}

static long field_kb(const char *line, const char *field)
{
	size_t n = strlen(field);

	if (strncmp(line, field, n) || line[n] != ':')
		return -1;
	return strtol(line + n + 1, NULL, 10);
}

long pmtest_rollup_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (v < 0 && fgets(line, sizeof(line), f))
		v = field_kb(line, field);
	fclose(f);
	return v;
}

long pmtest_vma_kb(pid_t pid, const void *addr, const char *field)
{
	char path[64], line[512];
	uintptr_t a = (uintptr_t)addr;
	bool in = false;
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (v < 0 && fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = a >= s && a < e;
		else if (in)
			v = field_kb(line, field);
	}
	fclose(f);
	return v;
}

long pmtest_resident_pages(void *addr, size_t len)
{
	size_t pages = (len + 4095) / 4096;
	unsigned char *vec = malloc(pages);
	long n = 0;

	if (!vec || mincore(addr, len, vec)) {
		free(vec);
		return -1;
	}
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Serialises zram setup between test programs that run at once. */
static int zram_lock = -1;

static int swap_lock(void)
{
	if (zram_lock >= 0)
		return 0;
	zram_lock = open("/run/pmadv-zram.lock", O_RDWR | O_CREAT | O_CLOEXEC,
			 0600);
	if (zram_lock < 0 || flock(zram_lock, LOCK_EX) < 0) {
		if (zram_lock >= 0)
			close(zram_lock);
		zram_lock = -1;
		return -1;
	}
	return 0;
}

int pmtest_zram_on(const char *size)
{
	char buf[32], path[96], cmd[160];
	int fd, dev;
	ssize_t n;

	if (swap_lock() < 0)
		goto fail;
	fd = open("/sys/class/zram-control/hot_add", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		goto fail;
	buf[n] = '\0';
	dev = atoi(buf);
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", dev);
	/* top priority: our pages go to our device, not to one another
	 * test program is about to swapoff */
	snprintf(cmd, sizeof(cmd),
		 "mkswap /dev/zram%d >/dev/null 2>&1 && "
		 "swapon -p 32767 /dev/zram%d", dev, dev);
	if (write_str(path, size) || run(cmd)) {
		pmtest_zram_off(dev);
		return -1;
	}
	return dev;
fail:
	if (zram_lock >= 0)
		close(zram_lock);
	zram_lock = -1;
	return -1;
}

void pmtest_zram_off(int dev)
{
	char buf[96];

	if (dev >= 0) {
		snprintf(buf, sizeof(buf), "/dev/zram%d", dev);
		swapoff(buf);
		snprintf(buf, sizeof(buf), "/sys/block/zram%d/reset", dev);
		write_str(buf, "1");
		snprintf(buf, sizeof(buf), "%d", dev);
		write_str("/sys/class/zram-control/hot_remove", buf);
	}
	if (zram_lock >= 0) {
		close(zram_lock);
		zram_lock = -1;
	}
}

char pmtest_state(pid_t pid, pid_t tid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
			 (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

bool pmtest_advances(const volatile unsigned long *ctr, unsigned long from,
		     int ms)
{
	for (int i = 0; i <= ms; i++) {
		if (*ctr > from)
			return true;
		usleep(1000);
	}
	return *ctr > from;
}

int pmtest_swap_for(long size_kb, const char *zram_size)
{
	int dev;

	if (swap_lock() < 0)
		return -2;
	if (pmtest_swap_free(size_kb))
		return -1;
	dev = pmtest_zram_on(zram_size);
	return dev >= 0 ? dev : -2;
}

bool pmtest_swap_free(long size_kb)
{
	char line[256];
	long free_kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return false;
	while (free_kb < 0 && fgets(line, sizeof(line), f))
		if (!strncmp(line, "SwapFree:", 9))
			free_kb = strtol(line + 9, NULL, 10);
	fclose(f);
	return free_kb >= size_kb;
}

int pmtest_cold_file(size_t len)
{
	char path[] = "/var/tmp/pmtest-XXXXXX";
	char buf[4096];
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd < 0)
		return -1;
	unlink(path);
	for (size_t off = 0; off < len; off += sizeof(buf)) {
		memset(buf, (int)(off >> 12) | 1, sizeof(buf));
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	}
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
		close(fd);
		return -1;
	}
	return fd;
}

void *pmtest_reap_all(void *arg)
{
	struct pmtest_reaper *r = arg;

	while (!atomic_load(&r->stop)) {
		siginfo_t si;
		int st;

		memset(&si, 0, sizeof(si));
		if (r->mode == 0 && waitpid(-1, &st, WNOHANG | WUNTRACED) > 0 &&
		    WIFSTOPPED(st))
			atomic_fetch_add(&r->stops, 1);
		if (r->mode == 1 &&
		    waitid(P_ALL, 0, &si,
			   WEXITED | WSTOPPED | __WALL | WNOHANG) == 0 &&
		    si.si_pid > 0 &&
		    (si.si_code == CLD_TRAPPED || si.si_code == CLD_STOPPED))
			atomic_fetch_add(&r->stops, 1);
		sched_yield();
	}
	return NULL;
}

int pmtest_in_child(int (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	if (!pid)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Refuses system call nr with errno err, for this thread and those it
 * creates after: every call, or (argi 0..5) only those whose argument
 * argi's low 32 bits are val (little-endian x86_64 and arm64). */
static int seccomp_refuse(long nr, int argi, uint32_t val, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data,
				  args[argi < 0 ? 0 : argi])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, val, 0, argi < 0 ? 0 : 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int pmtest_seccomp_errno(long nr, int err, bool match_arg0, uint32_t arg0)
{
	return seccomp_refuse(nr, match_arg0 ? 0 : -1, arg0, err);
}

int pmtest_refuse_syscall(int nr, bool with_arg, uint32_t arg, int err)
{
	return seccomp_refuse(nr, with_arg ? 1 : -1, arg, err);
}

int pmtest_spawn_as(pid_t want, struct pmtest_child *c, void *p, size_t len)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)want - 1);
	for (int tries = 0; tries < 100; tries++) {
		int fd = open("/proc/sys/kernel/ns_last_pid",
			      O_WRONLY | O_CLOEXEC);

		if (fd < 0)
			return -1;
		if (write(fd, buf, strlen(buf)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		if (pmtest_spawn(c, &p, &len, 1, NULL, NULL))
			return -1;
		if (c->pid == want)
			return want;
		pmtest_reap(c);
	}
	return -1;
}
