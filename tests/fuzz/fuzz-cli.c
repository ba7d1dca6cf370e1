// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for pmadvise's number and range parsers
 * (src/cli/parse.c). Besides crashes (ASan, UBSan), an accepted value that
 * breaks the documented grammar aborts: no sign or white space gets
 * through, a decimal never has a leading zero, and every accepted value
 * prints back, in its canonical form, to the same value.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmadvise.h"

/* Only these characters can make up a value the grammar allows. */
static void check_charset(const char *s)
{
	if (strspn(s, "0123456789abcdefABCDEFxXkKmMgGtTiI+-") != strlen(s))
		abort();
}

static void check_size(const char *s)
{
	size_t v, w;
	char buf[64];

	if (parse_size(s, &v) < 0)
		return;
	check_charset(s);
	if (strchr(s, '+') || strchr(s, '-'))
		abort();
	if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		abort(); /* a leading zero read as octal or decimal */
	snprintf(buf, sizeof(buf), "%zu", v);
	if (parse_size(buf, &w) < 0 || w != v)
		abort();
	snprintf(buf, sizeof(buf), "0x%zx", v);
	if (parse_size(buf, &w) < 0 || w != v)
		abort();
}

static void check_addr(const char *s)
{
	uintptr_t v, w;
	char buf[64];

	if (parse_addr(s, &v) < 0)
		return;
	check_charset(s);
	if (strchr(s, '+') || strchr(s, '-'))
		abort();
	snprintf(buf, sizeof(buf), "%" PRIxPTR, v);
	if (parse_addr(buf, &w) < 0 || w != v)
		abort();
}

static void check_range(const char *s)
{
	struct cli_range r, q;
	char buf[96];

	if (parse_range(s, &r) < 0)
		return;
	check_charset(s);
	if (r.len == 0 || r.len > UINTPTR_MAX - r.start)
		abort();
	/* Exactly one separator: a second one would be a sign. */
	if (strcspn(s, "+-") == strlen(s) ||
	    strpbrk(s + strcspn(s, "+-") + 1, "+-"))
		abort();
	snprintf(buf, sizeof(buf), "%" PRIxPTR "+%zu", r.start, r.len);
	if (parse_range(buf, &q) < 0 || q.start != r.start || q.len != r.len)
		abort();
	snprintf(buf, sizeof(buf), "%" PRIxPTR "-%" PRIxPTR, r.start,
		 r.start + r.len);
	if (parse_range(buf, &q) < 0 || q.start != r.start || q.len != r.len)
		abort();
}

static void check_int(const char *s)
{
	pid_t pid;
	int ms;

	if (parse_pid(s, &pid) == 0 &&
	    (pid <= 0 || strspn(s, "0123456789") != strlen(s) || s[0] == '0'))
		abort();
	if (parse_ms(s, &ms) == 0 &&
	    (ms < 0 || strspn(s, "0123456789") != strlen(s) ||
	     (s[0] == '0' && s[1])))
		abort();
	if (parse_signal(s, &ms) == 0 && (ms <= 0 || ms >= NSIG))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	/* Command-line arguments are C strings: cut at the first NUL. */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_size(s);
	check_addr(s);
	check_range(s);
	check_int(s);
	free(s);
	return 0;
}
