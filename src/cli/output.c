// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadvise's output through libsmartcols, util-linux's table library (the
 * one behind lsblk, findmnt and lsns): the column lists of -o/--output,
 * --output-all and --list-columns, and tables that print as aligned text,
 * as --raw lines or as --json arrays. Column names are the JSON keys; a
 * table shows them in upper case.
 *
 * Strings from a target (command names, paths) are bytes. libsmartcols
 * escapes control characters, DEL, C1 controls and bytes outside UTF-8 as
 * \xNN in tables and raw lines, so a name cannot end a line or move the
 * cursor; in JSON it escapes control characters but passes other bytes
 * through, so out_str replaces each byte outside well-formed UTF-8 with
 * U+FFFD there: the document stays valid UTF-8 JSON.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmadvise.h"

static void column_label(const char *key, char *buf, size_t len)
{
	size_t i;

	for (i = 0; key[i] && i + 1 < len; i++)
		buf[i] = (char)toupper((unsigned char)key[i]);
	buf[i] = '\0';
}

/* Index of the column named name (either case), or -1. */
static int column_find(const struct out_column *cols, size_t ncols,
		       const char *name, size_t len)
{
	for (size_t i = 0; i < ncols; i++)
		if (strlen(cols[i].key) == len &&
		    !strncasecmp(cols[i].key, name, len))
			return (int)i;
	return -1;
}

static int no_column(const struct out_opts *oo)
{
	fprintf(stderr, "%s: --output '%s' lists no column\nTry '%s "
		"--help'.\n", progname, oo->columns, progname);
	return -1;
}

int out_select(const struct out_opts *oo, const struct out_column *cols,
	       size_t ncols, int *sel, size_t *nsel)
{
	const char *p = oo->columns;

	*nsel = 0;
	if (oo->all || !p) {
		for (size_t i = 0; i < ncols; i++)
			if (oo->all || cols[i].deflt || oo->json)
				sel[(*nsel)++] = (int)i;
		return 0;
	}
	/* As util-linux: "+LIST" adds to the default columns; a "+"
	 * alone adds nothing and is refused as "" is. */
	if (*p == '+') {
		if (!p[1])
			return no_column(oo);
		for (size_t i = 0; i < ncols; i++)
			if (cols[i].deflt || oo->json)
				sel[(*nsel)++] = (int)i;
		p++;
	}
	while (*p) {
		size_t len = strcspn(p, ",");
		int c = column_find(cols, ncols, p, len);
		bool dup = false;

		if (!len || (p[len] == ',' && !p[len + 1])) {
			fprintf(stderr, "%s: an empty column name in "
				"--output '%s'\nTry '%s --help'.\n", progname,
				oo->columns, progname);
			return -1;
		}
		if (c < 0) {
			fprintf(stderr, "%s: unknown column '%.*s' in "
				"--output; --list-columns lists them\n"
				"Try '%s --help'.\n", progname, (int)len, p,
				progname);
			return -1;
		}
		/* a column named twice (or added by "+" again) is shown
		 * once: a JSON object cannot hold one key twice */
		for (size_t i = 0; i < *nsel; i++)
			dup |= sel[i] == c;
		if (!dup)
			sel[(*nsel)++] = c;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!*nsel)
		return no_column(oo);
	return 0;
}

void out_list_columns(const struct out_opts *oo,
		      const struct out_column *cols, size_t ncols)
{
	static const char *const type[] = { "string", "number", "boolean",
					    "list" };
	struct libscols_table *tb = out_table(oo, "columns");
	char label[64];

	scols_table_new_column(tb, "NAME", 0, 0);
	scols_table_new_column(tb, "TYPE", 0, 0);
	scols_table_new_column(tb, "DESCRIPTION", 0, SCOLS_FL_TRUNC);
	for (size_t i = 0; i < ncols; i++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);

		if (!ln)
			out_of_memory();
		/* The name a table shows; JSON shows the key itself. */
		if (oo->json)
			snprintf(label, sizeof(label), "%s", cols[i].key);
		else
			column_label(cols[i].key, label, sizeof(label));
		if (scols_line_set_data(ln, 0, label) ||
		    scols_line_set_data(ln, 1, type[cols[i].type]) ||
		    scols_line_set_data(ln, 2, cols[i].help))
			out_of_memory();
	}
	scols_print_table(tb);
	scols_unref_table(tb);
}

struct libscols_table *out_table(const struct out_opts *oo, const char *name)
{
	struct libscols_table *tb = scols_new_table();

	if (!tb || scols_table_set_name(tb, name))
		out_of_memory();
	scols_table_enable_json(tb, oo->json);
	scols_table_enable_raw(tb, oo->raw);
	scols_table_enable_noheadings(tb, oo->noheadings);
	return tb;
}

void out_add_columns(struct libscols_table *tb, const struct out_column *cols,
		     const int *sel, size_t nsel)
{
	static const int json_type[] = { SCOLS_JSON_STRING, SCOLS_JSON_NUMBER,
					 SCOLS_JSON_BOOLEAN,
					 SCOLS_JSON_ARRAY_STRING };
	char label[64];

	for (size_t i = 0; i < nsel; i++) {
		const struct out_column *c = &cols[sel[i]];
		struct libscols_column *cl;

		column_label(c->key, label, sizeof(label));
		cl = scols_table_new_column(tb, label, 0,
					    c->type == OUT_NUM ?
					    SCOLS_FL_RIGHT : c->flags);
		if (!cl || scols_column_set_json_type(cl, json_type[c->type]))
			out_of_memory();
		/* A list: one item a line of its cell, a JSON array (as
		 * lsblk's MOUNTPOINTS). */
		if (c->type == OUT_LIST &&
		    (scols_column_set_flags(cl, c->flags | SCOLS_FL_WRAP) ||
		     scols_column_set_wrapfunc(cl, scols_wrapnl_chunksize,
					       scols_wrapnl_nextchunk, NULL) ||
		     scols_column_set_safechars(cl, "\n")))
			out_of_memory();
	}
}

/* A streamed table's cells are measured as if each were exactly as wide
 * as its column: libsmartcols then keeps the width fixed up front, and
 * prints a cell that is wider whole, the row's next cells on a line of
 * their own below, each under its column. */
static size_t fixed_chunksize(const struct libscols_column *cl,
			      const char *data, void *width)
{
	(void)cl;
	(void)data;
	return (size_t)(uintptr_t)width;
}

static char *no_next_chunk(const struct libscols_column *cl, char *data,
			   void *width)
{
	(void)cl;
	(void)data;
	(void)width;
	return NULL;
}

void out_fix_widths(const struct out_opts *oo, struct libscols_table *tb,
		    const struct out_column *cols, const int *sel,
		    size_t nsel)
{
	/* Off a terminal a long message is kept whole; on one, as lsblk,
	 * a column that may be cut is cut to fit the terminal. */
	bool cut = isatty(STDOUT_FILENO);

	if (oo->json || oo->raw)
		return; /* raw lines align nothing */
	for (size_t i = 0; i < nsel; i++) {
		const struct out_column *c = &cols[sel[i]];
		struct libscols_column *cl = scols_table_get_column(tb, i);
		size_t width = strlen(c->key);
		int flags = scols_column_get_flags(cl) | SCOLS_FL_WRAP;

		if (c->width > width) {
			width = c->width;
			/* an empty column is as wide as the hint, not
			 * as its header */
			flags |= SCOLS_FL_STRICTWIDTH;
		}
		if (!cut)
			flags &= ~SCOLS_FL_TRUNC;
		if (scols_column_set_whint(cl, (double)width) ||
		    scols_column_set_flags(cl, flags) ||
		    scols_column_set_wrapfunc(cl, fixed_chunksize,
					      no_next_chunk,
					      (void *)(uintptr_t)width))
			out_of_memory();
	}
}

void out_stream(struct libscols_table *tb)
{
	/* the header before the first line (unless --noheadings), as
	 * findmnt --poll prints its events */
	if (scols_table_print_range(tb, NULL, NULL))
		out_of_memory();
	fputc('\n', scols_table_get_stream(tb));
	fflush(scols_table_get_stream(tb));
	scols_table_remove_lines(tb);
}

/* Bytes outside well-formed UTF-8 become U+FFFD; the rest is kept. */
static char *utf8_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xcalloc(strlen(s) * 3 + 1, 1), *o = out;

	while (*p) {
		size_t n = utf8_len(p);

		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	return out;
}

/* Whether the UTF-8 sequence at p (n bytes) is a bidirectional format
 * character (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to
 * U+2069): printed raw, a name could reorder the row it is in. */
static bool bidi_control(const unsigned char *p, size_t n)
{
	if (n == 2)
		return p[0] == 0xd8 && p[1] == 0x9c;
	if (n != 3 || p[0] != 0xe2)
		return false;
	return (p[1] == 0x80 && (p[2] == 0x8e || p[2] == 0x8f ||
				 (p[2] >= 0xaa && p[2] <= 0xae))) ||
	       (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9);
}

/* For a table: bidirectional format characters become U+FFFD, the rest
 * is kept (libsmartcols escapes control characters and bad bytes). */
static char *bidi_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xcalloc(strlen(s) * 2 + 1, 1), *o = out;

	while (*p) {
		size_t n = utf8_len(p);

		if (n && bidi_control(p, n)) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p += n;
		} else {
			*o++ = (char)*p++;
		}
	}
	*o = '\0';
	return out;
}

void out_str(const struct out_opts *oo, struct libscols_line *ln, size_t i,
	     const char *s)
{
	char *v;

	if (!s)
		return; /* null in JSON, empty in a table */
	v = oo->json ? utf8_clean(s) : bidi_clean(s);
	if (!v || scols_line_refer_data(ln, i, v))
		out_of_memory();
}

void out_fmt(struct libscols_line *ln, size_t i, const char *fmt, ...)
{
	va_list ap;
	char *v;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (r < 0 || scols_line_refer_data(ln, i, v))
		out_of_memory();
}

void out_size(const struct out_opts *oo, struct libscols_line *ln, size_t i,
	      unsigned long long bytes)
{
	char buf[32];

	/* Exact bytes for scripts (--raw, --json), readable in a table. */
	if (oo->raw || oo->json) {
		out_fmt(ln, i, "%llu", bytes);
		return;
	}
	human_size((size_t)bytes, buf, sizeof(buf));
	out_str(oo, ln, i, buf);
}

struct libscols_line *out_line(struct libscols_table *tb)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);

	if (!ln)
		out_of_memory();
	return ln;
}

void out_json_table(FILE *f, struct libscols_table *tb)
{
	char *s = NULL, *body, *end;

	/* libsmartcols prints a table as a document of its own,
	 * {"name": [...]}; the key and array go into ours. */
	if (scols_print_table_to_string(tb, &s) || !s)
		out_of_memory();
	body = strchr(s, '\n');
	end = strrchr(s, '}');
	if (body && end && end > body) {
		while (end > body && end[-1] == '\n')
			end--;
		fprintf(f, ",%.*s", (int)(end - body), body);
	}
	free(s);
}
