// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Small helpers of the pmadvise tool: allocation that ends the program
 * when memory runs out (a CLI has nothing better to do), a monotonic clock,
 * errno names for messages and JSON, and human-readable sizes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmadvise.h"

const char *progname = "pmadvise";

static void out_of_memory(void)
{
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(EXIT_SYSTEM);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	void *q;

	if (size && n > SIZE_MAX / size)
		out_of_memory();
	q = realloc(p, n && size ? n * size : 1);
	if (!q)
		out_of_memory();
	return q;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The errnos pmadvise can meet; spelled out because strerrorname_np is
 * glibc-only and too new for some systems. */
const char *errno_name(int err)
{
	static const struct { int e; const char *n; } names[] = {
		{ EPERM, "EPERM" },       { ENOENT, "ENOENT" },
		{ ESRCH, "ESRCH" },       { EINTR, "EINTR" },
		{ EIO, "EIO" },           { EBADF, "EBADF" },
		{ EAGAIN, "EAGAIN" },     { ENOMEM, "ENOMEM" },
		{ EACCES, "EACCES" },     { EFAULT, "EFAULT" },
		{ EBUSY, "EBUSY" },       { EINVAL, "EINVAL" },
		{ ENOSPC, "ENOSPC" },     { ERANGE, "ERANGE" },
		{ ENOSYS, "ENOSYS" },     { ENOTSUP, "ENOTSUP" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { ECANCELED, "ECANCELED" },
		{ EHWPOISON, "EHWPOISON" }, { ENODEV, "ENODEV" },
		{ ENXIO, "ENXIO" },       { EEXIST, "EEXIST" },
		{ EISDIR, "EISDIR" },     { ENOTDIR, "ENOTDIR" },
		{ ENOEXEC, "ENOEXEC" },   { ENAMETOOLONG, "ENAMETOOLONG" },
		{ EDQUOT, "EDQUOT" },     { ETIME, "ETIME" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == err)
			return names[i].n;
	return "EUNKNOWN";
}

void human_size(size_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%zu B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

/* 0, or -errno; a short write without an error counts as -EIO. */
int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
