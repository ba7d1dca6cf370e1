// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What pmadvise tells its user: a table with a line per process on stdout
 * (and the reasons for failures on stderr), or one JSON document on
 * stdout with the schema documented in pmadvise(8). Both come from the
 * same proc_report through libsmartcols (output.c), so they cannot
 * disagree. On a terminal, a progress line on stderr shows where a long
 * run over many processes is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmadvise.h"

/* Bump only for incompatible changes; adding fields keeps the number.
 * 2: libsmartcols output: a process's error is flat (error, errno,
 * message), its ranges and changed ranges are top-level arrays with a pid. */
#define JSON_SCHEMA 2
/* Ranges listed in a human summary unless --verbose or --dry-run. */
#define LIST_MAX 8

enum {
	C_PID, C_COMM, C_STATUS, C_EXIT_CLASS, C_ERROR, C_ERRNO, C_MESSAGE,
	C_METHOD, C_CALLS, C_TIME_MS, C_RANGES_TOTAL, C_RANGES_ADVISED,
	C_RANGES_FAILED, C_BYTES_TOTAL, C_BYTES_ADVISED, C_BYTES_SKIPPED,
	C_RSS_KB_BEFORE, C_SWAP_KB_BEFORE, C_RSS_KB_AFTER, C_SWAP_KB_AFTER,
	C_RESIDENT_BEFORE, C_SWAPPED_BEFORE, C_RESIDENT_AFTER,
	C_SWAPPED_AFTER, C_NOTE, C_STOPPED, NCOLS
};

/* The columns of the processes table, in JSON's order. Every one is
 * listed in pmadvise(8) (tests/cli/test-output.py checks it). A table
 * prints a process's line as soon as it is done, so each column's width
 * is fixed up front: its header's, or the widest cell it can have where
 * that is wider (the PID's, from pid_max, in report_begin); the sizes
 * ("1023.9 KiB") and counts fit their headers. */
static const struct out_column proc_cols[NCOLS] = {
	[C_PID] = { "pid", OUT_NUM, 0, true, "process ID" },
	[C_COMM] = { "comm", OUT_STR, 0, true,
		     "command name (/proc/PID/comm)", 15 /* TASK_COMM_LEN */ },
	[C_STATUS] = { "status", OUT_STR, 0, true, "ok, partial or failed",
		       7 },
	[C_EXIT_CLASS] = { "exit_class", OUT_NUM, 0, false,
			   "the exit status this process alone would give" },
	[C_ERROR] = { "error", OUT_STR, 0, true,
		      "errno name of the process's failure",
		      15 /* glibc's longest, ENOTRECOVERABLE */ },
	[C_ERRNO] = { "errno", OUT_NUM, 0, false,
		      "errno number of the process's failure" },
	[C_MESSAGE] = { "message", OUT_STR, SCOLS_FL_TRUNC, false,
			"the process's failure explained", 40 },
	[C_METHOD] = { "method", OUT_STR, 0, true,
		       "the rung that advised: syscall, ioctl or ptrace", 7 },
	[C_CALLS] = { "calls", OUT_NUM, 0, false, "kernel calls made",
		      10 /* UINT_MAX */ },
	[C_TIME_MS] = { "time_ms", OUT_NUM, 0, true,
			"milliseconds spent on the process",
			9 /* 9999999.9: 2.7 hours */ },
	[C_RANGES_TOTAL] = { "ranges_total", OUT_NUM, 0, true,
			     "ranges chosen" },
	[C_RANGES_ADVISED] = { "ranges_advised", OUT_NUM, 0, true,
			       "ranges advised" },
	[C_RANGES_FAILED] = { "ranges_failed", OUT_NUM, 0, false,
			      "ranges that failed" },
	[C_BYTES_TOTAL] = { "bytes_total", OUT_NUM, 0, true,
			    "bytes chosen" },
	[C_BYTES_ADVISED] = { "bytes_advised", OUT_NUM, 0, true,
			      "bytes advised" },
	[C_BYTES_SKIPPED] = { "bytes_skipped", OUT_NUM, 0, false,
			      "bytes in unmapped holes (--skip-holes)" },
	[C_RSS_KB_BEFORE] = { "rss_kb_before", OUT_NUM, 0, false,
			      "process Rss before, KiB (smaps_rollup)" },
	[C_SWAP_KB_BEFORE] = { "swap_kb_before", OUT_NUM, 0, false,
			       "process Swap before, KiB" },
	[C_RSS_KB_AFTER] = { "rss_kb_after", OUT_NUM, 0, false,
			     "process Rss after, KiB" },
	[C_SWAP_KB_AFTER] = { "swap_kb_after", OUT_NUM, 0, false,
			      "process Swap after, KiB" },
	[C_RESIDENT_BEFORE] = { "resident_before", OUT_NUM, 0, false,
				"bytes of the ranges resident before" },
	[C_SWAPPED_BEFORE] = { "swapped_before", OUT_NUM, 0, false,
			       "bytes of the ranges swapped before" },
	[C_RESIDENT_AFTER] = { "resident_after", OUT_NUM, 0, true,
			       "bytes of the ranges resident after" },
	[C_SWAPPED_AFTER] = { "swapped_after", OUT_NUM, 0, true,
			      "bytes of the ranges swapped after" },
	[C_NOTE] = { "note", OUT_STR, SCOLS_FL_TRUNC, false,
		     "what the residency says of the effect", 40 },
	[C_STOPPED] = { "stopped", OUT_STR, 0, false,
			"the budget that ended it: max_bytes, percent, time",
			9 },
};

/* The ranges and changed ranges: JSON arrays and, in the default human
 * view, a table of their own. */
enum { R_PID, R_START, R_END, R_BYTES, R_STATUS, R_ADVISED, R_ERROR,
       R_REASON, NRCOLS };
static const struct out_column range_cols[NRCOLS] = {
	[R_PID] = { "pid", OUT_NUM, 0, true, "process ID" },
	[R_START] = { "start", OUT_STR, 0, true, "first address, hex" },
	[R_END] = { "end", OUT_STR, 0, true, "address after the last" },
	[R_BYTES] = { "bytes", OUT_NUM, 0, true, "length" },
	[R_STATUS] = { "status", OUT_STR, 0, true,
		       "advised, failed, partial, not_attempted or listed" },
	[R_ADVISED] = { "bytes_advised", OUT_NUM, 0, true,
			"of a partial range, the bytes advised from its start" },
	[R_ERROR] = { "error", OUT_STR, 0, true, "errno name" },
	[R_REASON] = { "reason", OUT_STR, SCOLS_FL_TRUNC, true,
		       "the failure explained" },
};
enum { H_PID, H_START, H_END, H_WHAT, NHCOLS };
static const struct out_column changed_cols[NHCOLS] = {
	[H_PID] = { "pid", OUT_NUM, 0, true, "process ID" },
	[H_START] = { "start", OUT_STR, 0, true, "first address, hex" },
	[H_END] = { "end", OUT_STR, 0, true, "address after the last" },
	[H_WHAT] = { "what", OUT_LIST, 0, true,
		     "gone, bounds, file, offset: what changed" },
};

struct report_state {
	const struct cli_opts *o;
	struct out_opts oo;
	size_t ntargets;
	bool progress;       /* a progress line may be on stderr now */
	bool progress_shown;
	bool view;           /* the default human view: with details */
	int sel[NCOLS];
	size_t nsel;
	struct libscols_table *procs, *ranges, *changed;
	size_t nranges;      /* lines in ranges */
	FILE *notes;         /* the default view's lines after the tables */
	char *notes_buf;
	size_t notes_len;
	size_t nok, npartial, nfailed;
	unsigned long long bytes;
	double ms;
	const char *stopped;   /* a budget of the run ended it */
	size_t not_reached;    /* processes it left out */
};

int report_check_columns(const struct cli_opts *o)
{
	int sel[NCOLS];
	size_t nsel;

	if (out_select(&o->out, proc_cols, NCOLS, sel, &nsel) < 0)
		return EXIT_USAGE;
	return 0;
}

void report_list_columns(const struct cli_opts *o)
{
	out_list_columns(&o->out, proc_cols, NCOLS);
}

static const char *status_name(enum proc_status s)
{
	switch (s) {
	case PROC_OK:
		return "ok";
	case PROC_PARTIAL:
		return "partial";
	default:
		return "failed";
	}
}

static const char *range_status(const struct proc_report *p, size_t i)
{
	if (!p->attempted)
		return "listed";
	if (p->partial_bytes && i == p->partial)
		return "partial";
	if (p->errors[i] == 0)
		return "advised";
	if (p->errors[i] < 0 || p->errors[i] == ECANCELED)
		return "not_attempted";
	return "failed";
}

static void clear_progress(struct report_state *rs)
{
	if (rs->progress_shown) {
		fputs("\r\033[K", stderr);
		rs->progress_shown = false;
	}
}

static void add_all_columns(struct libscols_table *tb,
			    const struct out_column *cols, size_t n)
{
	int sel[NRCOLS];

	for (size_t i = 0; i < n; i++)
		sel[i] = (int)i;
	out_add_columns(tb, cols, sel, n);
}

struct report_state *report_begin(const struct cli_opts *o, size_t ntargets)
{
	struct report_state *rs = xcalloc(1, sizeof(*rs));
	struct out_column cols[NCOLS];

	rs->o = o;
	rs->oo = o->out;
	rs->ntargets = ntargets;
	rs->progress = ntargets > 1 && isatty(STDERR_FILENO);
	/* main.c checked the list already: this cannot fail. */
	if (out_select(&rs->oo, proc_cols, NCOLS, rs->sel, &rs->nsel) < 0)
		exit(EXIT_USAGE);
	rs->view = !o->out.json && !o->out.raw && !o->out.noheadings &&
		   !o->out.all && !o->out.columns;
	rs->procs = out_table(&rs->oo, "processes");
	out_add_columns(rs->procs, proc_cols, rs->sel, rs->nsel);
	memcpy(cols, proc_cols, sizeof(cols));
	cols[C_PID].width = pid_width();
	out_fix_widths(&rs->oo, rs->procs, cols, rs->sel, rs->nsel);
	if (rs->oo.json || rs->view) {
		rs->ranges = out_table(&rs->oo, "ranges");
		add_all_columns(rs->ranges, range_cols, NRCOLS);
		rs->changed = out_table(&rs->oo, "changed");
		add_all_columns(rs->changed, changed_cols, NHCOLS);
	}
	if (rs->view) {
		rs->notes = open_memstream(&rs->notes_buf, &rs->notes_len);
		if (!rs->notes)
			out_of_memory();
	}
	cli_report = o->out.json ? REPORT_JSON : REPORT_ROWS;
	return rs;
}

void report_progress(struct report_state *rs, size_t done, pid_t pid)
{
	if (!rs->progress)
		return;
	fprintf(stderr, "\r\033[K%s: [%zu/%zu] PID %d ...", progname,
		done + 1, rs->ntargets, (int)pid);
	fflush(stderr);
	rs->progress_shown = true;
}

/* KiB from smaps_rollup, or empty (null) when unknown. */
static void cell_kb(const struct out_opts *oo, struct libscols_line *ln,
		    size_t pos, long long kb)
{
	if (kb < 0)
		return;
	if (oo->raw || oo->json)
		out_fmt(ln, pos, "%lld", kb);
	else
		out_size(oo, ln, pos, (unsigned long long)kb * 1024);
}

/* A byte count, or empty (null) when err (not 0) left it unknown. */
static void cell_bytes(const struct out_opts *oo, struct libscols_line *ln,
		       size_t pos, int err, unsigned long long v)
{
	if (!err)
		out_size(oo, ln, pos, v);
}

static void proc_cell(const struct report_state *rs, struct libscols_line *ln,
		      size_t pos, int col, const struct proc_report *p)
{
	const struct out_opts *oo = &rs->oo;
	int after_err = p->attempted ? p->res_after_err : -1;

	switch (col) {
	case C_PID:
		out_fmt(ln, pos, "%d", (int)p->pid);
		break;
	case C_COMM:
		out_str(oo, ln, pos, p->comm);
		break;
	case C_STATUS:
		out_str(oo, ln, pos, status_name(p->status));
		break;
	case C_EXIT_CLASS:
		out_fmt(ln, pos, "%d", p->exit_class);
		break;
	case C_ERROR:
		out_str(oo, ln, pos, p->error ? errno_name(p->error) : NULL);
		break;
	case C_ERRNO:
		if (p->error)
			out_fmt(ln, pos, "%d", p->error);
		break;
	case C_MESSAGE:
		out_str(oo, ln, pos, p->error ? p->message : NULL);
		break;
	case C_METHOD:
		out_str(oo, ln, pos, p->res.method ?
			pmadv_method_name(p->res.method) : NULL);
		break;
	case C_CALLS:
		out_fmt(ln, pos, "%u", p->res.calls);
		break;
	case C_TIME_MS:
		out_fmt(ln, pos, oo->json || oo->raw ? "%.3f" : "%.1f", p->ms);
		break;
	case C_RANGES_TOTAL:
		out_fmt(ln, pos, "%zu", p->n);
		break;
	case C_RANGES_ADVISED:
		out_fmt(ln, pos, "%zu", p->res.done);
		break;
	case C_RANGES_FAILED:
		out_fmt(ln, pos, "%zu", p->res.nfailed);
		break;
	case C_BYTES_TOTAL:
		out_size(oo, ln, pos, p->bytes_total);
		break;
	case C_BYTES_ADVISED:
		out_size(oo, ln, pos, p->res.bytes);
		break;
	case C_BYTES_SKIPPED:
		out_size(oo, ln, pos, p->res.skipped);
		break;
	case C_RSS_KB_BEFORE:
		cell_kb(oo, ln, pos, p->before.rss);
		break;
	case C_SWAP_KB_BEFORE:
		cell_kb(oo, ln, pos, p->before.swap);
		break;
	case C_RSS_KB_AFTER:
		cell_kb(oo, ln, pos, p->attempted ? p->after.rss : -1);
		break;
	case C_SWAP_KB_AFTER:
		cell_kb(oo, ln, pos, p->attempted ? p->after.swap : -1);
		break;
	case C_RESIDENT_BEFORE:
		cell_bytes(oo, ln, pos, p->res_before_err,
			   p->res_before.resident);
		break;
	case C_SWAPPED_BEFORE:
		cell_bytes(oo, ln, pos, p->res_before_err,
			   p->res_before.swapped);
		break;
	case C_RESIDENT_AFTER:
		cell_bytes(oo, ln, pos, after_err, p->res_after.resident);
		break;
	case C_SWAPPED_AFTER:
		cell_bytes(oo, ln, pos, after_err, p->res_after.swapped);
		break;
	case C_NOTE:
		out_str(oo, ln, pos, p->note[0] ? p->note : NULL);
		break;
	case C_STOPPED:
		out_str(oo, ln, pos, p->stopped);
		break;
	}
}

/* Ranges the user typed are few and worth echoing; ranges found by a
 * filter can run to thousands, so a person sees only their failures. */
static bool range_shown(const struct report_state *rs,
			const struct proc_report *p, size_t i)
{
	bool failed = p->attempted && p->errors[i] > 0 &&
		      p->errors[i] != ECANCELED;
	bool partial = p->partial_bytes && i == p->partial;

	return rs->oo.json || failed || partial || rs->o->verbose || rs->o->dry_run ||
	       (!rs->o->select && p->n <= LIST_MAX);
}

static void add_ranges(struct report_state *rs, const struct proc_report *p)
{
	size_t hidden = 0;

	for (size_t i = 0; i < p->n; i++) {
		uintptr_t s = (uintptr_t)p->iov[i].iov_base;
		int e = p->attempted ? p->errors[i] : 0;
		bool failed = e > 0 && e != ECANCELED;
		struct libscols_line *ln;

		if (!range_shown(rs, p, i)) {
			hidden++;
			continue;
		}
		ln = out_line(rs->ranges);
		rs->nranges++;
		out_fmt(ln, R_PID, "%d", (int)p->pid);
		/* Addresses as strings: a JSON number is a double in most
		 * parsers and cannot hold every 64-bit address exactly. */
		out_fmt(ln, R_START, "%#lx", (unsigned long)s);
		out_fmt(ln, R_END, "%#lx",
			(unsigned long)(s + p->iov[i].iov_len));
		out_size(&rs->oo, ln, R_BYTES, p->iov[i].iov_len);
		out_str(&rs->oo, ln, R_STATUS, range_status(p, i));
		if (p->partial_bytes && i == p->partial)
			out_size(&rs->oo, ln, R_ADVISED, p->partial_bytes);
		out_str(&rs->oo, ln, R_ERROR, failed ? errno_name(e) : NULL);
		out_str(&rs->oo, ln, R_REASON,
			failed ? range_reason(e, p->advice) : NULL);
	}
	if (hidden && !rs->o->select)
		fprintf(rs->notes, "PID %d: %zu advised ranges not listed; "
			"--verbose lists them\n", (int)p->pid, hidden);
}

static void add_changes(struct report_state *rs, const struct proc_report *p)
{
	static const char *const what[] = { "gone", "bounds", "file",
					    "offset" };

	for (size_t i = 0; i < p->nchanged; i++) {
		struct libscols_line *ln = out_line(rs->changed);
		char words[64] = "";

		for (unsigned int b = 0; b < 4; b++)
			if (p->changed[i].what & (1u << b))
				snprintf(words + strlen(words),
					 sizeof(words) - strlen(words), "%s%s",
					 words[0] ? "\n" : "", what[b]);
		out_fmt(ln, H_PID, "%d", (int)p->pid);
		out_fmt(ln, H_START, "%#lx", (unsigned long)p->changed[i].start);
		out_fmt(ln, H_END, "%#lx", (unsigned long)p->changed[i].end);
		out_str(&rs->oo, ln, H_WHAT, words);
	}
}

void report_process(struct report_state *rs, const struct proc_report *p)
{
	struct libscols_line *ln;

	clear_progress(rs);
	if (p->status == PROC_OK)
		rs->nok++;
	else if (p->status == PROC_PARTIAL)
		rs->npartial++;
	else
		rs->nfailed++;
	rs->bytes += p->res.bytes;
	rs->ms += p->ms;
	/* The reason goes to stderr in every mode, so that a script that
	 * keeps stdout for JSON still shows a person what went wrong. */
	if (p->message[0])
		fprintf(stderr, "%s: %s\n", progname, p->message);
	ln = out_line(rs->procs);
	for (size_t i = 0; i < rs->nsel; i++)
		proc_cell(rs, ln, i, rs->sel[i], p);
	/* A table shows the process now; JSON is one document, at the
	 * end. */
	if (!rs->oo.json)
		out_stream(rs->procs);
	if (rs->ranges) {
		add_ranges(rs, p);
		add_changes(rs, p);
	}
	if (rs->view && p->note[0])
		fprintf(rs->notes, "PID %d: note: %s\n", (int)p->pid, p->note);
}

static const char *budget_words(const char *stopped)
{
	if (!strcmp(stopped, "max_bytes"))
		return "--max-bytes reached";
	if (!strcmp(stopped, "percent"))
		return "--percent of its bytes reached";
	return "--time is up";
}

static void human_total(const struct report_state *rs)
{
	char sz[32];

	human_size(rs->bytes, sz, sizeof(sz));
	printf("%zu processes: %zu %s, %zu partly, %zu failed; %s advised "
	       "in %.1f ms\n", rs->nok + rs->npartial + rs->nfailed, rs->nok,
	       rs->o->dry_run ? "listed" : "advised", rs->npartial,
	       rs->nfailed, sz, rs->ms);
	if (rs->stopped)
		printf("stopped: %s; %zu process%s not reached\n",
		       budget_words(rs->stopped), rs->not_reached,
		       rs->not_reached == 1 ? "" : "es");
}

void report_budget(struct report_state *rs, const char *stopped,
		   size_t not_reached)
{
	rs->stopped = stopped;
	rs->not_reached = not_reached;
}

/* The document's own keys are numbers, booleans and words of ours (the
 * advice name, the version): nothing from a target, nothing to escape.
 * Everything from a target is in the tables, written by libsmartcols. */
static void json_document(const struct report_state *rs, int status)
{
	const struct cli_opts *o = rs->o;

	printf("{\n   \"schema\": %d,\n   \"pmadvise\": \"%s\",\n"
	       "   \"advice\": \"%s\",\n   \"dry_run\": %s,\n"
	       "   \"hold\": %s", JSON_SCHEMA, PMADVISE_VERSION,
	       pmadv_advice_name(o->advice), o->dry_run ? "true" : "false",
	       o->hold ? "true" : "false");
	out_json_table(stdout, rs->procs);
	out_json_table(stdout, rs->ranges);
	out_json_table(stdout, rs->changed);
	printf(",\n   \"summary\": {\"processes\": %zu, \"ok\": %zu, "
	       "\"partial\": %zu, \"failed\": %zu, \"bytes_advised\": %llu, "
	       "\"time_ms\": %.3f, \"exit_status\": %d, \"stopped\": ",
	       rs->nok + rs->npartial + rs->nfailed, rs->nok, rs->npartial,
	       rs->nfailed, rs->bytes, rs->ms, status);
	if (rs->stopped)
		printf("\"%s\"", rs->stopped);
	else
		fputs("null", stdout);
	printf(", \"processes_not_reached\": %zu}\n}\n", rs->not_reached);
}

static void human_view(struct report_state *rs)
{
	if (rs->nranges) {
		putchar('\n');
		scols_print_table(rs->ranges);
	}
	if (scols_table_get_nlines(rs->changed)) {
		printf("\nchanged meanwhile:\n");
		scols_print_table(rs->changed);
	}
	fflush(rs->notes);
	if (rs->notes_len || rs->ntargets > 1 || rs->stopped)
		putchar('\n');
	fwrite(rs->notes_buf, 1, rs->notes_len, stdout);
	if (rs->ntargets > 1 || rs->stopped)
		human_total(rs);
}

int report_end(struct report_state *rs, int status)
{
	clear_progress(rs);
	/* A table's rows are out: only the default view has more. */
	if (rs->oo.json || rs->view)
		cli_report = REPORT_CLOSING;
	if (rs->oo.json)
		json_document(rs, status);
	else if (rs->view)
		human_view(rs);
	fflush(stdout);
	if (rs->notes)
		fclose(rs->notes);
	free(rs->notes_buf);
	scols_unref_table(rs->procs);
	scols_unref_table(rs->ranges);
	scols_unref_table(rs->changed);
	free(rs);
	return status;
}
