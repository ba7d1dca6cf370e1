// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Decision log (PMADV_DEBUG=1) and message formatting. The environment is
 * read on each call, without allocating, so a test or an administrator can
 * switch it on at any time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void pmadv_debug(const char *fmt, ...)
{
	const char *env = getenv("PMADV_DEBUG");
	int saved = errno;
	va_list ap;

	if (!env || env[0] != '1')
		return;
	va_start(ap, fmt);
	fputs("libprocmadvise: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	errno = saved;
}

void pmadv_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}
