// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Decision log (PMADV_DEBUG=1) and message formatting. The environment is
 * read on each call, without allocating, so a test or an administrator can
 * switch it on at any time. Both also run in the ptrace rung's tracer
 * process, which must take no lock its caller could hold when it dies: so
 * no stdio stream, only a buffer of ours and write(2), and error texts that
 * need no translation catalogue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

bool pmadv_struct_in_ok(const void *p, size_t size, size_t min, size_t known)
{
	const unsigned char *b = p;

	if (size < min)
		return false;
	for (size_t i = known; i < size; i++)
		if (b[i])
			return false;
	return true;
}

void pmadv_struct_out(void *dst, size_t dst_size, const void *src,
		      size_t src_size)
{
	if (dst_size > src_size)
		memset((char *)dst + src_size, 0, dst_size - src_size);
	memcpy(dst, src, dst_size < src_size ? dst_size : src_size);
}

const char *pmadv_env(const char *name)
{
	return secure_getenv(name);
}

/* Messages quote what a target or the kernel named (command names,
 * cgroup paths): a control character there (C0, DEL, C1 in UTF-8) and
 * each byte outside well-formed UTF-8 (a lone 0x9b is an 8-bit CSI) become
 * '?', so that a message stays one line and cannot drive a terminal. */
static void scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		/* the length of a well-formed sequence (no overlong forms,
		 * surrogates, or values past U+10FFFF), else 0 */
		size_t n = *p < 0x80			 ? 1
			   : *p >= 0xc2 && *p <= 0xdf ? 2
			   : *p >= 0xe0 && *p <= 0xef ? 3
			   : *p >= 0xf0 && *p <= 0xf4 ? 4
						      : 0;

		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80 ||
			    (i == 1 && ((*p == 0xe0 && p[1] < 0xa0) ||
					(*p == 0xed && p[1] > 0x9f) ||
					(*p == 0xf0 && p[1] < 0x90) ||
					(*p == 0xf4 && p[1] > 0x8f))))
				n = 0;
		if (n == 1 && (*p < 0x20 || *p == 0x7f))
			n = 0; /* C0 and DEL */
		if (n == 2 && *p == 0xc2 && p[1] < 0xa0)
			p[0] = p[1] = '?'; /* C1 */
		if (!n)
			*p++ = '?'; /* and resynchronise on the next byte */
		else
			p += n;
	}
}

bool pmadv_debug_on(void)
{
	const char *env = pmadv_env("PMADV_DEBUG");

	return env && env[0] == '1';
}

void pmadv_debug(const char *fmt, ...)
{
	char line[512] = "libprocmadvise: ";
	size_t at = strlen(line);
	int saved = errno, n;
	va_list ap;

	if (!pmadv_debug_on())
		return;

	va_start(ap, fmt);
	n = vsnprintf(line + at, sizeof(line) - at - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	at += (size_t)n < sizeof(line) - at - 1 ? (size_t)n
						: sizeof(line) - at - 2;
	line[at] = '\0';
	scrub(line);
	line[at++] = '\n';
	/* one write: lines from several threads do not interleave */
	if (write(STDERR_FILENO, line, at) < 0)
		(void)0; /* nowhere to report it */
	errno = saved;
}

const char *pmadv_errdesc(int err)
{
#if defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *d = strerrordesc_np(err);

	return d ? d : "unknown error";
#else
	return strerror(err);
#endif
}

void pmadv_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	scrub(msg);
}
