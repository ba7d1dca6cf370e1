// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A tiny streaming JSON writer for --json: enough for objects, arrays,
 * strings, integers and booleans, always valid UTF-8. Streaming keeps
 * memory flat when a cgroup holds thousands of processes. Output is one line per document so that
 * line-oriented tools can split several runs.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <string.h>

#include "pmadvise.h"

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* Strings from a target or the kernel (command names, paths, cgroup
 * names) are bytes, and the kernel cuts a command name at 15 bytes,
 * possibly inside a character: each byte that is not part of well-formed
 * UTF-8 becomes U+FFFD, so the document is always valid JSON. */
static void put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (!n)
			fputs("\\ufffd", f);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

/* Separator and key before a value; key is NULL inside arrays. */
static void begin_value(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		put_string(j->f, key);
		fputc(':', j->f);
	}
}

void json_open(struct json *j, const char *key, char brace)
{
	begin_value(j, key);
	fputc(brace, j->f);
	if (j->depth < 15)
		j->depth++;
	j->first[j->depth] = true;
}

void json_close(struct json *j, char brace)
{
	fputc(brace, j->f);
	if (j->depth > 0)
		j->depth--;
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_str(struct json *j, const char *key, const char *v)
{
	if (!v) {
		json_null(j, key);
		return;
	}
	begin_value(j, key);
	put_string(j->f, v);
}

void json_int(struct json *j, const char *key, long long v)
{
	begin_value(j, key);
	fprintf(j->f, "%lld", v);
}

void json_uint(struct json *j, const char *key, unsigned long long v)
{
	begin_value(j, key);
	fprintf(j->f, "%llu", v);
}

void json_num(struct json *j, const char *key, double v)
{
	begin_value(j, key);
	fprintf(j->f, "%.3f", v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	begin_value(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	begin_value(j, key);
	fputs("null", j->f);
}

/* Addresses as strings: a JSON number is a double in most parsers and
 * cannot hold every 64-bit address exactly. */
void json_hex(struct json *j, const char *key, uintptr_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%" PRIxPTR, v);
	json_str(j, key, buf);
}
