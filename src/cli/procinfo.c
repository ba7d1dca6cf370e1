// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What pmadvise reads from /proc and cgroupfs: a process's Rss and Swap
 * (smaps_rollup, so the numbers match what an administrator sees), its
 * command name and the system's swap size. (A cgroup's members come from
 * the library: pmadv_cgroup_open.) Read errors are returned, never taken
 * for an empty file.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmadvise.h"

static long long field_kb(const char *text, const char *name)
{
	const char *p = text;
	size_t len = strlen(name);

	while ((p = strstr(p, name))) {
		if ((p == text || p[-1] == '\n') && p[len] == ':')
			return strtoll(p + len + 1, NULL, 10);
		p += len;
	}
	return -1;
}

/* The whole of a file of unknown size into *out (NUL-terminated, free()
 * it); 0 or -errno, read errors included. */
static int read_all(const char *path, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	buf = xcalloc(cap, 1);
	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int read_rollup(const char *path, struct mem_kb *out)
{
	char *text;
	int ret = read_all(path, &text);

	if (ret < 0)
		return ret;
	/* A kernel thread or a zombie has an empty rollup: no numbers. */
	out->rss = field_kb(text, "Rss");
	out->swap = field_kb(text, "Swap");
	free(text);
	return out->rss < 0 ? -ENODATA : 0;
}

int read_mem(pid_t pid, struct mem_kb *out)
{
	char path[96];
	struct dirent *d;
	DIR *dir;
	int ret;

	out->rss = out->swap = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	ret = read_rollup(path, out);
	if (ret != -ENODATA && ret != -ESRCH)
		return ret;
	/* A main thread that called pthread_exit has no rollup (ESRCH)
	 * while its process runs: the numbers are in any live thread's. */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && ret < 0 && (d = readdir(dir))) {
		int tid = atoi(d->d_name);

		if (tid <= 0 || tid == (int)pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/smaps_rollup",
			 (int)pid, tid);
		ret = read_rollup(path, out); /* that thread went: the next */
	}
	if (dir)
		closedir(dir);
	return ret;
}

unsigned int pid_width(void)
{
	char *text;
	long long max = 4194304; /* PID_MAX_LIMIT, where pid_max is unread */
	unsigned int digits = 1;

	if (!read_all("/proc/sys/kernel/pid_max", &text)) {
		if (atoll(text) > 1)
			max = atoll(text);
		free(text);
	}
	for (max--; max >= 10; max /= 10)
		digits++;
	return digits;
}

void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64], *text;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_all(path, &text) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	/* the kernel ends the name with a newline; the name itself may hold
	 * one (PR_SET_NAME takes any byte but NUL) */
	if (text[0] && text[strlen(text) - 1] == '\n')
		text[strlen(text) - 1] = '\0';
	snprintf(buf, len, "%s", text[0] ? text : "?");
	free(text);
}

/* /proc/PID/stat into *text (free() it); returns where field 3, the
 * state, starts, or NULL. The command name may hold ") ": fields restart
 * after the last ')'. */
static const char *read_stat(pid_t pid, char **text, int *err)
{
	char path[64];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	*err = read_all(path, text);
	if (*err < 0)
		return NULL;
	p = strrchr(*text, ')');
	if (p && p[1] == ' ' && p[2])
		return p + 2;
	free(*text);
	*err = -EIO;
	return NULL;
}

/* Whether PID is a kernel thread: PF_KTHREAD in the flags of
 * /proc/PID/stat (field 9). A process on its way out has no memory
 * either, and is not one. */
bool is_kernel_thread(pid_t pid)
{
	unsigned long long flags = 0;
	char *text;
	const char *p;
	int err, field;

	p = read_stat(pid, &text, &err);
	if (!p)
		return false;
	for (field = 3; *p && field < 9; p++)
		if (*p == ' ')
			field++;
	if (field == 9)
		flags = strtoull(p, NULL, 10);
	free(text);
	return flags & 0x00200000ull; /* PF_KTHREAD */
}

/* The state letter of /proc/PID/stat ('R', 'S', 'T'...), or 0. */
char read_state(pid_t pid)
{
	char *text, st;
	const char *p;
	int err;

	p = read_stat(pid, &text, &err);
	if (!p)
		return 0;
	st = *p;
	free(text);
	return st;
}

/* A thread of process pid whose state letter is one of states ("D":
 * uninterruptible sleep, which no stop signal interrupts): its ID, or 0. */
pid_t thread_in_state(pid_t pid, const char *states)
{
	char path[64];
	struct dirent *d;
	pid_t found = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && !found && (d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		char st = tid > 0 ? read_state(tid) : 0;

		if (st && strchr(states, st))
			found = tid;
	}
	if (dir)
		closedir(dir);
	return found;
}

/* Fields 28 (startstack), 48 (arg_start) and 51 (env_end) of
 * /proc/PID/stat and the inode of /proc/PID/exe. The kernel shows the
 * fields as 0 to a caller that may not read the process's memory: then
 * an execve goes unnoticed, and pmadvise says what failed as it is. */
int read_exec_id(pid_t pid, struct exec_id *out)
{
	char path[64], *text;
	const char *p;
	struct stat st;
	int ret, field;

	memset(out, 0, sizeof(*out));
	p = read_stat(pid, &text, &ret);
	if (!p)
		return ret;
	for (field = 3; *p && field < 51; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field == 28)
			out->start_stack = strtoull(p + 1, NULL, 10);
		else if (field == 48)
			out->arg_start = strtoull(p + 1, NULL, 10);
		else if (field == 51)
			out->env_end = strtoull(p + 1, NULL, 10);
	}
	free(text);
	if (field != 51)
		return -EIO;
	/* No memory map (zeros): a process on its way out, from the moment
	 * it let go of its memory, which no execve explains. */
	if (!out->start_stack && !out->arg_start && !out->env_end)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st) == 0) {
		out->dev = st.st_dev;
		out->ino = st.st_ino;
	}
	return 0;
}

bool same_program(const struct exec_id *a, const struct exec_id *b)
{
	return a->start_stack == b->start_stack &&
	       a->arg_start == b->arg_start && a->env_end == b->env_end &&
	       a->dev == b->dev && a->ino == b->ino;
}

int swap_total_kb(long long *out)
{
	char *text;
	int ret = read_all("/proc/meminfo", &text);

	if (ret < 0)
		return ret;
	*out = field_kb(text, "SwapTotal");
	free(text);
	return *out < 0 ? -ENODATA : 0;
}

pid_t read_tgid(pid_t tid)
{
	char path[64], *text;
	long long tgid;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	ret = read_all(path, &text);
	if (ret < 0)
		return ret;
	tgid = field_kb(text, "Tgid");
	free(text);
	return tgid > 0 ? (pid_t)tgid : -EIO;
}
