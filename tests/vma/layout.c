// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The layout child of the VMA tests (see layout.h). The child reports its
 * addresses over a pipe, then serves commands until its pipe closes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "pmtest.h"

#define HUGE_SIZE (2u << 20)

static void *at(const struct layout *l, unsigned int pg)
{
	return (void *)(uintptr_t)(l->base + pg * l->page);
}

static int map_fixed(const struct layout *l, unsigned int pg, size_t pages,
		     int prot, int flags, int fd, off_t off)
{
	void *p = mmap(at(l, pg), pages * l->page, prot, flags | MAP_FIXED, fd,
		       off);

	return p == MAP_FAILED ? -1 : 0;
}

/* Child side: build the layout, report it, serve commands. */
static void child(struct layout *l, int rep, int cmd, int fd, bool want_huge)
{
	size_t pg = l->page;
	char c;
	void *p;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (map_fixed(l, L_ANON, 4, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ||
	    map_fixed(l, L_FILE, 3, PROT_READ, MAP_PRIVATE, fd, (off_t)pg) ||
	    map_fixed(l, L_SHFILE, 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      0) ||
	    map_fixed(l, L_SHANON, 2, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0) ||
	    map_fixed(l, L_LOCKED, 2, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ||
	    map_fixed(l, L_EXEC, 1, PROT_READ | PROT_EXEC,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ||
	    map_fixed(l, L_PAIR, 1, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ||
	    map_fixed(l, L_PAIR + 1, 1, PROT_READ,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
		_exit(2);
	memset(at(l, L_ANON), 1, 4 * pg);
	/* An [anon:name] VMA, where the kernel has CONFIG_ANON_VMA_NAME: the
	 * ioctl and the text name it through different code. */
	l->anon_named = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME,
			      (unsigned long)at(l, L_ANON), 4 * pg,
			      (unsigned long)"pmadv test") == 0;
	memset(at(l, L_SHANON), 1, 2 * pg);
	/* The raw call: AddressSanitizer turns mlock() into a no-op. */
	if (syscall(SYS_mlock, at(l, L_LOCKED), 2 * pg))
		_exit(3);
	/* A [heap] even where malloc never uses brk (sanitizers). */
	p = sbrk((intptr_t)pg);
	if (p == (void *)-1)
		_exit(3);
	memset(p, 1, pg);
	l->huge = 0;
	if (want_huge) {
		p = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p != MAP_FAILED) {
			memset(p, 1, HUGE_SIZE);
			l->huge = (uintptr_t)p;
		}
	}
	if (write(rep, l, sizeof(*l)) != (ssize_t)sizeof(*l))
		_exit(4);
	while (read(cmd, &c, 1) == 1) {
		if (c == LAYOUT_REMAP) {
			/* Same place, another VMA: 2 pages where 4 were. */
			munmap(at(l, L_ANON), 4 * pg);
			if (map_fixed(l, L_ANON, 2, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
				_exit(5);
		}
		if (write(rep, &c, 1) != 1)
			_exit(6);
		if (c == LAYOUT_STOP)
			raise(SIGSTOP);
	}
	_exit(0);
}

int layout_start(struct layout *l, bool want_huge)
{
	int rep[2], cmd[2], fd, err;
	struct stat st;
	char *buf;
	void *res;

	memset(l, 0, sizeof(*l));
	l->page = (uint64_t)sysconf(_SC_PAGESIZE);
	snprintf(l->path, sizeof(l->path), "/tmp/pmadv-vma-XXXXXX");
	fd = mkstemp(l->path);
	if (fd < 0)
		return -errno;
	buf = calloc(L_FILE_PAGES, l->page);
	if (!buf || write(fd, buf, L_FILE_PAGES * l->page) !=
			    (ssize_t)(L_FILE_PAGES * l->page)) {
		free(buf);
		close(fd);
		return -EIO;
	}
	free(buf);
	fstat(fd, &st);
	l->file_ino = st.st_ino;
	l->file_major = major(st.st_dev);
	l->file_minor = minor(st.st_dev);
	/* The reservation: the parent picks it, the child inherits it. */
	res = mmap(NULL, L_PAGES * l->page, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	l->base = (uintptr_t)res;
	if (pipe2(rep, O_CLOEXEC) || pipe2(cmd, O_CLOEXEC)) {
		close(fd);
		return -errno;
	}
	l->pid = fork();
	if (l->pid < 0)
		return -errno;
	if (l->pid == 0) {
		close(rep[0]);
		close(cmd[1]);
		child(l, rep[1], cmd[0], fd, want_huge);
	}
	close(fd);
	munmap(res, L_PAGES * l->page);
	close(rep[1]);
	close(cmd[0]);
	{
		struct layout got;
		pid_t pid = l->pid;

		/* The rest of the pipe carries command acknowledgements. */
		if (read(rep[0], &got, sizeof(got)) != (ssize_t)sizeof(got)) {
			waitpid(pid, NULL, 0);
			return -ECHILD;
		}
		*l = got;
		l->pid = pid;
	}
	l->cmd = cmd[1];
	l->ack = rep[0];
	return 0;
}

int layout_cmd(struct layout *l, char c)
{
	char ack;

	if (write(l->cmd, &c, 1) != 1 || read(l->ack, &ack, 1) != 1 ||
	    ack != c)
		return -EIO;
	return 0;
}

void layout_stop(struct layout *l)
{
	if (l->pid > 0) {
		kill(l->pid, SIGKILL);
		waitpid(l->pid, NULL, 0);
	}
	close(l->cmd);
	close(l->ack);
	unlink(l->path);
	l->pid = 0;
}

static bool all_in(pid_t pid, const char *states)
{
	char path[64];
	struct dirent *d;
	bool ok = true;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return false;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);

		if (tid > 0 && !strchr(states, pmtest_state(pid, tid)))
			ok = false;
	}
	closedir(dir);
	return ok;
}

bool wait_state(pid_t pid, const char *states)
{
	struct timespec ts = { 0, 5000000 };

	for (int i = 0; i < 2000; i++) {
		if (all_in(pid, states))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}
