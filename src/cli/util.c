// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Small helpers of the pmadvise tool: allocation that ends the program
 * when memory runs out (a CLI has nothing better to do), a monotonic clock,
 * errno names for messages and JSON, human-readable sizes, and the
 * UTF-8 check and escaping for bytes that come from a target.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmadvise.h"

const char *progname = "pmadvise";

void out_of_memory(void)
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
/* glibc's own table (2.32+), which knows every errno the kernel has. */
const char *errno_name(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "EUNKNOWN";
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

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
size_t utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (p[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (p[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (p[0] == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Bytes from a target or the kernel, for a terminal: a control
 * character (C0, DEL, or C1 written in UTF-8), a byte outside well-formed
 * UTF-8 and the backslash itself become \xNN, so that a command name
 * cannot end a line or move the cursor. Truncated to fit len. */
void human_str(char *out, size_t len, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	while (*p && len - o > 4) {
		size_t n = utf8_len(p);
		bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;

		if (n == 1 && *p >= 0x20 && *p != 0x7f && *p != '\\') {
			out[o++] = (char)*p++;
		} else if (n > 1 && !c1 && len - o > n) {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else if (n > 1 && !c1) {
			break;
		} else {
			snprintf(out + o, len - o, "\\x%02x", *p++);
			o += 4;
		}
	}
	out[o] = '\0';
}

/* The guardian: signals from the terminal are for pmadvise, not for it;
 * it only waits for the pipe to close, then undoes. */
static void guardian_main(int fd, const char *name, void (*undo)(void *),
			  void *arg)
{
	char c;

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_NAME, name);
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	undo(arg);
	_exit(0);
}

int guardian_start(struct guardian *g, const char *name,
		   void (*undo)(void *), void *arg)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		guardian_main(p[0], name, undo, arg);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return -errno;
	}
	g->pid = pid;
	g->fd = p[1];
	return 0;
}

/* Ends the guardian without its undo (there was nothing to undo). */
void guardian_dismiss(struct guardian *g)
{
	if (g->pid <= 0)
		return;
	kill(g->pid, SIGKILL);
	close(g->fd);
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
	g->fd = -1;
}

bool guardian_end(struct guardian *g)
{
	if (g->pid <= 0)
		return false;
	close(g->fd);
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
	g->fd = -1;
	return true;
}
