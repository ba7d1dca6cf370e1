// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Parsing of command-line values: addresses (always hexadecimal, as
 * /proc/PID/maps prints them), sizes (decimal or 0x..., with K/M/G/T binary
 * suffixes), ranges and PIDs. Every parser rejects trailing garbage and
 * overflow, so a typo never turns into a different range.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pmadvise.h"

static int suffix_shift(const char *s, unsigned int *shift)
{
	static const char units[] = "KMGT";
	const char *u;

	*shift = 0;
	if (!*s)
		return 0;
	u = strchr(units, s[0] & ~0x20); /* upper case */
	if (!u || !*u)
		return -EINVAL;
	*shift = 10 * (unsigned int)(u - units + 1);
	s++;
	/* Accept K, KB, KiB: all mean 1024 here, as in free(1) and ps(1). */
	if (!strcmp(s, "") || !strcasecmp(s, "b") || !strcasecmp(s, "ib"))
		return 0;
	return -EINVAL;
}

int parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	unsigned int shift;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	if (suffix_shift(end, &shift) < 0)
		return -EINVAL;
	if (shift && v > (SIZE_MAX >> shift))
		return -ERANGE;
	if (v > SIZE_MAX)
		return -ERANGE;
	*out = (size_t)(v << shift);
	return 0;
}

int parse_addr(const char *s, uintptr_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 16); /* accepts an optional 0x */
	if (errno || end == s || *end)
		return -EINVAL;
	if (v > UINTPTR_MAX)
		return -ERANGE;
	*out = (uintptr_t)v;
	return 0;
}

/* START-END (END exclusive, as in /proc/PID/maps) or START+LEN. */
int parse_range(const char *s, struct cli_range *out)
{
	char buf[128], *sep;
	uintptr_t start, end;
	size_t len;
	int ret;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	sep = strpbrk(buf, "-+");
	if (!sep)
		return -EINVAL;
	ret = parse_addr(strndupa(buf, (size_t)(sep - buf)), &start);
	if (ret < 0)
		return ret;
	if (*sep == '+') {
		ret = parse_size(sep + 1, &len);
		if (ret < 0)
			return ret;
		if (len > UINTPTR_MAX - start)
			return -ERANGE;
	} else {
		ret = parse_addr(sep + 1, &end);
		if (ret < 0)
			return ret;
		if (end < start)
			return -ERANGE;
		len = end - start;
	}
	if (len == 0)
		return -EINVAL;
	out->start = start;
	out->len = len;
	return 0;
}

/* A decimal number in [min, INT_MAX], digits only. */
static int parse_int(const char *s, long min, int *out)
{
	long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int parse_pid(const char *s, pid_t *out)
{
	int v, ret = parse_int(s, 1, &v);

	if (ret == 0)
		*out = (pid_t)v;
	return ret;
}

int parse_ms(const char *s, int *out)
{
	return parse_int(s, 0, out);
}
