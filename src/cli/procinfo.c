// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What pmadvise reads from /proc and cgroupfs: a process's Rss and Swap
 * (smaps_rollup, so the numbers match what an administrator sees), its
 * command name, the system's swap size, and the members of a cgroup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

static ssize_t slurp(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)total < len - 1) {
		n = read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

int read_mem(pid_t pid, struct mem_kb *out)
{
	char path[64], buf[4096];
	ssize_t n;

	out->rss = out->swap = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	n = slurp(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* A kernel thread or a zombie has an empty rollup: no numbers. */
	out->rss = field_kb(buf, "Rss");
	out->swap = field_kb(buf, "Swap");
	return out->rss < 0 ? -ENODATA : 0;
}

void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = slurp(path, buf, len);
	if (n <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[strcspn(buf, "\n")] = '\0';
}

int swap_total_kb(long long *out)
{
	char buf[8192];
	ssize_t n = slurp("/proc/meminfo", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	*out = field_kb(buf, "SwapTotal");
	return *out < 0 ? -ENODATA : 0;
}

/* Every PID in DIR/cgroup.procs (cgroup v2; a v1 hierarchy has the same
 * file). The list is a snapshot: processes may come and go meanwhile. */
int read_cgroup_pids(const char *dir, pid_t **pids, size_t *n)
{
	char path[4096], line[32];
	size_t cap = 0, cnt = 0;
	pid_t *v = NULL;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		pid_t pid;

		line[strcspn(line, "\n")] = '\0';
		if (parse_pid(line, &pid) < 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[cnt++] = pid;
	}
	fclose(f);
	*pids = v;
	*n = cnt;
	return 0;
}
