// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Parsing of command-line values: addresses (always hexadecimal, as
 * /proc/PID/maps prints them), sizes (decimal or 0x..., with K/M/G/T binary
 * suffixes), ranges and PIDs. Every parser rejects trailing garbage and
 * overflow, so a typo never turns into a different range.
 *
 * strtoull alone is too lenient for that: it skips leading white space,
 * accepts a sign (and negates: " -1" is 2^64-1) and, in base 0, reads a
 * leading zero as octal. So the characters are checked first, and
 * strtoull only converts a string of plain digits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pmadvise.h"

static const char dec_digits[] = "0123456789";
static const char hex_digits[] = "0123456789abcdefABCDEF";

/* Converts the n digits at s (all in base's alphabet, n >= 1). */
static int convert(const char *s, size_t n, int base, unsigned long long *out)
{
	char buf[32], *end;

	if (n >= sizeof(buf))
		return -ERANGE; /* more digits than any 64-bit value has */
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	return errno || *end ? -EINVAL : 0;
}

/* A number at the start of s: 0x and hex digits, or decimal digits without
 * a leading zero (is "010" 8 or 10? neither: refused). *rest is what
 * follows the digits. */
static int scan_number(const char *s, unsigned long long *out,
		       const char **rest)
{
	size_t n;
	int ret;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		n = strspn(s + 2, hex_digits);
		if (!n)
			return -EINVAL;
		ret = convert(s + 2, n, 16, out);
		*rest = s + 2 + n;
		return ret;
	}
	n = strspn(s, dec_digits);
	if (!n || (s[0] == '0' && n > 1))
		return -EINVAL;
	ret = convert(s, n, 10, out);
	*rest = s + n;
	return ret;
}

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
	const char *rest;
	int ret;

	if (!s)
		return -EINVAL;
	ret = scan_number(s, &v, &rest);
	if (ret < 0)
		return ret;
	if (suffix_shift(rest, &shift) < 0)
		return -EINVAL;
	if (v > SIZE_MAX || (shift && v > (SIZE_MAX >> shift)))
		return -ERANGE;
	*out = (size_t)(v << shift);
	return 0;
}

/* Hexadecimal, with or without 0x; leading zeros are fine, as in maps. */
int parse_addr(const char *s, uintptr_t *out)
{
	unsigned long long v;
	size_t n;
	int ret;

	if (!s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	n = strspn(s, hex_digits);
	if (!n || s[n])
		return -EINVAL;
	/* Zeros in front do not count towards the 16 digits a value has. */
	while (n > 1 && *s == '0') {
		s++;
		n--;
	}
	ret = convert(s, n, 16, &v);
	if (ret < 0)
		return ret;
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

/* A decimal number in [min, INT_MAX]: digits only, no leading zero. */
static int parse_int(const char *s, long min, int *out)
{
	unsigned long long v;
	const char *rest;

	int ret;

	if (!s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
		return -EINVAL;
	ret = scan_number(s, &v, &rest);
	if (ret < 0 || *rest)
		return ret < 0 ? ret : -EINVAL;
	/* well-formed, but too large for an int: -ERANGE, said apart */
	if (v > INT_MAX)
		return -ERANGE;
	if ((long long)v < min)
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

int parse_signal(const char *s, int *out)
{
	int v;

	if (!s)
		return -EINVAL;
	if (parse_int(s, 1, &v) == 0) {
		if (v >= NSIG)
			return -EINVAL;
		*out = v;
		return 0;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (v = 1; v < NSIG; v++) {
		const char *name = sigabbrev_np(v);

		if (name && !strcasecmp(s, name)) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_duration(const char *s, int *ms)
{
	static const struct { const char *unit; unsigned long long ms; }
	units[] = { { "", 1000 }, { "ms", 1 }, { "s", 1000 },
		    { "m", 60000 }, { "h", 3600000 } };
	unsigned long long v;
	const char *rest;

	if (!s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ||
	    scan_number(s, &v, &rest) < 0 || !v)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(rest, units[i].unit)) {
			if (v > INT_MAX / units[i].ms)
				return -ERANGE;
			*ms = (int)(v * units[i].ms);
			return 0;
		}
	return -EINVAL;
}

int parse_rate(const char *s, size_t *out)
{
	char buf[64];
	size_t n;

	if (!s || (n = strlen(s)) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	if (n > 2 && !strcmp(buf + n - 2, "/s"))
		buf[n - 2] = '\0';
	if (parse_size(buf, out) < 0 || !*out)
		return -EINVAL;
	return 0;
}

int parse_percent(const char *s, unsigned int *out)
{
	int v;

	if (parse_int(s, 1, &v) < 0 || v > 100)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

int parse_swappiness(const char *s, int *out)
{
	size_t v;

	/* parse_size's digits, without a suffix: 0 to 200 */
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) ||
	    parse_size(s, &v) < 0 || v > 200)
		return -EINVAL;
	*out = (int)v;
	return 0;
}
