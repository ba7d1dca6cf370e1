// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What pmadvise tells its user: a human summary per process on stdout (and
 * the reasons for failures on stderr), or one JSON document on stdout with
 * the schema documented in pmadvise(8). Both come from the same
 * proc_report, so they cannot disagree. On a terminal, a progress line on
 * stderr shows where a long run over many processes is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmadvise.h"

/* Bump only for incompatible changes; adding fields keeps the number. */
#define JSON_SCHEMA 1
/* Ranges listed in a human summary unless --verbose or --dry-run. */
#define LIST_MAX 8

struct report_state {
	const struct cli_opts *o;
	struct json j;
	size_t ntargets;
	bool progress;       /* a progress line may be on stderr now */
	bool progress_shown;
	size_t nok, npartial, nfailed;
	unsigned long long bytes;
	double ms;
	const char *stopped;   /* a budget of the run ended it */
	size_t not_reached;    /* processes it left out */
};

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

static const char *class_words(int cls)
{
	switch (cls) {
	case EXIT_NO_PERMISSION:
		return "no permission";
	case EXIT_TARGET_GONE:
		return "the process is gone";
	case EXIT_NOT_SUPPORTED:
		return "not possible here";
	case EXIT_TIMEOUT:
		return "timed out";
	case EXIT_TARGET_BUSY:
		return "the process is busy";
	default:
		return "error";
	}
}

static void clear_progress(struct report_state *rs)
{
	if (rs->progress_shown) {
		fputs("\r\033[K", stderr);
		rs->progress_shown = false;
	}
}

struct report_state *report_begin(const struct cli_opts *o, size_t ntargets)
{
	struct report_state *rs = xcalloc(1, sizeof(*rs));

	rs->o = o;
	rs->ntargets = ntargets;
	rs->progress = ntargets > 1 && isatty(STDERR_FILENO);
	if (!o->json)
		return rs;
	json_init(&rs->j, stdout);
	json_open(&rs->j, NULL, '{');
	json_int(&rs->j, "schema", JSON_SCHEMA);
	json_str(&rs->j, "pmadvise", PMADVISE_VERSION);
	json_str(&rs->j, "advice", pmadv_advice_name(o->advice));
	json_bool(&rs->j, "dry_run", o->dry_run);
	json_bool(&rs->j, "hold", o->hold);
	json_open(&rs->j, "processes", '[');
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

static void human_kb(long long kb, char *buf, size_t len)
{
	if (kb < 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%lld kB", kb);
}

static void human_memory(const struct proc_report *p)
{
	char rb[32], ra[32], sb[32], sa[32];

	if (p->before.rss < 0 && p->after.rss < 0)
		return;
	human_kb(p->before.rss, rb, sizeof(rb));
	human_kb(p->after.rss, ra, sizeof(ra));
	human_kb(p->before.swap, sb, sizeof(sb));
	human_kb(p->after.swap, sa, sizeof(sa));
	if (p->attempted)
		printf("  Rss %s -> %s, Swap %s -> %s\n", rb, ra, sb, sa);
	else
		printf("  Rss %s, Swap %s\n", rb, sb);
}

static void human_range(const struct proc_report *p, size_t i)
{
	uintptr_t s = (uintptr_t)p->iov[i].iov_base;
	char sz[32];
	const char *st = range_status(p, i);

	human_size(p->iov[i].iov_len, sz, sizeof(sz));
	printf("  %#14lx-%#-14lx %10s  %s", (unsigned long)s,
	       (unsigned long)(s + p->iov[i].iov_len), sz,
	       strcmp(st, "not_attempted") ? st : "not attempted");
	if (!strcmp(st, "partial")) {
		human_size(p->partial_bytes, sz, sizeof(sz));
		printf(": the first %s advised (stopped: %s)", sz, p->stopped);
	}
	if (p->attempted && p->errors[i] > 0 && p->errors[i] != ECANCELED)
		printf(": %s: %s", errno_name(p->errors[i]),
		       range_reason(p->errors[i], p->advice));
	putchar('\n');
}

static void human_ranges(const struct report_state *rs,
			 const struct proc_report *p)
{
	/* Ranges the user typed are few and worth echoing; ranges found by a
	 * filter can run to thousands, so only their failures are shown. */
	bool all = rs->o->verbose || rs->o->dry_run ||
		   (!rs->o->select && p->n <= LIST_MAX);
	size_t hidden = 0;

	for (size_t i = 0; i < p->n; i++) {
		bool failed = p->attempted && p->errors[i] > 0 &&
			      p->errors[i] != ECANCELED;

		if (all || failed)
			human_range(p, i);
		else
			hidden++;
	}
	if (hidden && !rs->o->select)
		printf("  (%zu advised ranges not listed; --verbose lists them)\n",
		       hidden);
}

static void human_changes(const struct proc_report *p)
{
	static const char *const what[] = { "gone", "bounds", "file",
					    "offset" };

	for (size_t i = 0; i < p->nchanged; i++) {
		printf("  changed meanwhile: %#lx-%#lx:",
		       (unsigned long)p->changed[i].start,
		       (unsigned long)p->changed[i].end);
		for (unsigned int b = 0; b < 4; b++)
			if (p->changed[i].what & (1u << b))
				printf(" %s", what[b]);
		putchar('\n');
	}
}

static const char *budget_words(const char *stopped)
{
	if (!strcmp(stopped, "max_bytes"))
		return "--max-bytes reached";
	if (!strcmp(stopped, "percent"))
		return "--percent of its bytes reached";
	return "--time is up";
}

static void human_headline(const struct report_state *rs,
			   const struct proc_report *p)
{
	const char *adv = pmadv_advice_name(rs->o->advice);
	char total[32], done[32], comm[4 * 64];

	human_size(p->bytes_total, total, sizeof(total));
	human_size(p->res.bytes, done, sizeof(done));
	human_str(comm, sizeof(comm), p->comm);
	printf("PID %d (%s): ", (int)p->pid, comm);
	if (p->status == PROC_FAILED && p->exit_class != EXIT_SOME_FAILED) {
		printf("nothing advised: %s (%s)\n",
		       class_words(p->exit_class), errno_name(p->error));
		return;
	}
	if (!p->attempted) {
		printf("would advise %s on %zu range%s, %s (dry run)\n", adv,
		       p->n, p->n == 1 ? "" : "s", total);
		return;
	}
	if (!p->n) {
		printf("%s: no matching memory, nothing to advise\n", adv);
		return;
	}
	printf("%s: %zu of %zu range%s, %s of %s advised", adv, p->res.done,
	       p->n, p->n == 1 ? "" : "s", done, total);
	if (p->res.method)
		printf(" by %s", pmadv_method_name(p->res.method));
	printf(" in %.1f ms (%u kernel call%s)", p->ms, p->res.calls,
	       p->res.calls == 1 ? "" : "s");
	if (p->res.nfailed)
		printf("; %zu failed", p->res.nfailed);
	if (p->res.skipped) {
		char sk[32];

		human_size(p->res.skipped, sk, sizeof(sk));
		printf("; %s skipped in holes", sk);
	}
	if (p->stopped)
		printf("; stopped: %s", budget_words(p->stopped));
	putchar('\n');
}

/* The advised ranges themselves, from pmadv_residency: what the advice
 * did to them, apart from the rest of the process. */
static void human_residency(const struct proc_report *p)
{
	const struct pmadv_residency *b = &p->res_before, *a = &p->res_after;
	char rb[32], ra[32], sb[32], sa[32];

	if (!p->n || p->res_before_err)
		return;
	human_size(b->resident, rb, sizeof(rb));
	human_size(b->swapped, sb, sizeof(sb));
	if (!p->attempted || p->res_after_err) {
		printf("  ranges: %s resident, %s swapped\n", rb, sb);
		return;
	}
	human_size(a->resident, ra, sizeof(ra));
	human_size(a->swapped, sa, sizeof(sa));
	printf("  ranges: resident %s -> %s, swapped %s -> %s\n", rb, ra, sb,
	       sa);
	if (p->note[0])
		printf("  note: %s\n", p->note);
}

static void report_human(struct report_state *rs, const struct proc_report *p)
{
	human_headline(rs, p);
	if (p->n)
		human_ranges(rs, p);
	human_changes(p);
	human_residency(p);
	human_memory(p);
	fflush(stdout);
}

static void json_mem(struct json *j, const char *key, long long kb)
{
	if (kb < 0)
		json_null(j, key);
	else
		json_int(j, key, kb);
}

/* A byte count, or null when err (not 0) left it unknown. */
static void json_bytes(struct json *j, const char *key, int err,
		       unsigned long long v)
{
	if (err)
		json_null(j, key);
	else
		json_uint(j, key, v);
}

static void json_ranges(struct json *j, const struct proc_report *p)
{
	json_open(j, "ranges", '[');
	for (size_t i = 0; i < p->n; i++) {
		uintptr_t s = (uintptr_t)p->iov[i].iov_base;
		int e = p->attempted ? p->errors[i] : 0;
		bool failed = e > 0 && e != ECANCELED;

		json_open(j, NULL, '{');
		json_hex(j, "start", s);
		json_hex(j, "end", s + p->iov[i].iov_len);
		json_uint(j, "bytes", p->iov[i].iov_len);
		json_str(j, "status", range_status(p, i));
		if (p->partial_bytes && i == p->partial)
			json_uint(j, "bytes_advised", p->partial_bytes);
		else
			json_null(j, "bytes_advised");
		json_str(j, "error", failed ? errno_name(e) : NULL);
		json_str(j, "reason",
			 failed ? range_reason(e, p->advice) : NULL);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_changes(struct json *j, const struct proc_report *p)
{
	static const char *const what[] = { "gone", "bounds", "file",
					    "offset" };

	json_open(j, "changed", '[');
	for (size_t i = 0; i < p->nchanged; i++) {
		json_open(j, NULL, '{');
		json_hex(j, "start", p->changed[i].start);
		json_hex(j, "end", p->changed[i].end);
		json_open(j, "what", '[');
		for (unsigned int b = 0; b < 4; b++)
			if (p->changed[i].what & (1u << b))
				json_str(j, NULL, what[b]);
		json_close(j, ']');
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_error(struct json *j, const struct proc_report *p)
{
	if (!p->error) {
		json_null(j, "error");
		return;
	}
	json_open(j, "error", '{');
	json_str(j, "name", errno_name(p->error));
	json_int(j, "errno", p->error);
	json_str(j, "message", p->message);
	json_close(j, '}');
}

static void report_json(struct report_state *rs, const struct proc_report *p)
{
	struct json *j = &rs->j;

	json_open(j, NULL, '{');
	json_int(j, "pid", p->pid);
	json_str(j, "comm", p->comm);
	json_str(j, "status", status_name(p->status));
	json_int(j, "exit_class", p->exit_class);
	json_error(j, p);
	json_str(j, "method", p->res.method ?
			      pmadv_method_name(p->res.method) : NULL);
	json_uint(j, "calls", p->res.calls);
	json_num(j, "time_ms", p->ms);
	json_uint(j, "ranges_total", p->n);
	json_uint(j, "ranges_advised", p->res.done);
	json_uint(j, "ranges_failed", p->res.nfailed);
	json_uint(j, "bytes_total", p->bytes_total);
	json_uint(j, "bytes_advised", p->res.bytes);
	json_uint(j, "bytes_skipped", p->res.skipped);
	json_mem(j, "rss_kb_before", p->before.rss);
	json_mem(j, "swap_kb_before", p->before.swap);
	json_mem(j, "rss_kb_after", p->attempted ? p->after.rss : -1);
	json_mem(j, "swap_kb_after", p->attempted ? p->after.swap : -1);
	json_bytes(j, "resident_before", p->res_before_err,
		   p->res_before.resident);
	json_bytes(j, "swapped_before", p->res_before_err,
		   p->res_before.swapped);
	json_bytes(j, "resident_after", p->attempted ? p->res_after_err : -1,
		   p->res_after.resident);
	json_bytes(j, "swapped_after", p->attempted ? p->res_after_err : -1,
		   p->res_after.swapped);
	json_str(j, "note", p->note[0] ? p->note : NULL);
	json_str(j, "stopped", p->stopped);
	json_ranges(j, p);
	json_changes(j, p);
	json_close(j, '}');
}

void report_process(struct report_state *rs, const struct proc_report *p)
{
	clear_progress(rs);
	if (p->status == PROC_OK)
		rs->nok++;
	else if (p->status == PROC_PARTIAL)
		rs->npartial++;
	else
		rs->nfailed++;
	rs->bytes += p->res.bytes;
	rs->ms += p->ms;
	/* The reason goes to stderr in both modes, so that a script that
	 * keeps stdout for JSON still shows a person what went wrong. */
	if (p->message[0])
		fprintf(stderr, "%s: %s\n", progname, p->message);
	if (rs->o->json)
		report_json(rs, p);
	else
		report_human(rs, p);
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

int report_end(struct report_state *rs, int status)
{
	clear_progress(rs);
	if (rs->o->json) {
		json_close(&rs->j, ']');
		json_open(&rs->j, "summary", '{');
		json_uint(&rs->j, "processes",
			  rs->nok + rs->npartial + rs->nfailed);
		json_uint(&rs->j, "ok", rs->nok);
		json_uint(&rs->j, "partial", rs->npartial);
		json_uint(&rs->j, "failed", rs->nfailed);
		json_uint(&rs->j, "bytes_advised", rs->bytes);
		json_num(&rs->j, "time_ms", rs->ms);
		json_int(&rs->j, "exit_status", status);
		json_str(&rs->j, "stopped", rs->stopped);
		json_uint(&rs->j, "processes_not_reached", rs->not_reached);
		json_close(&rs->j, '}');
		json_close(&rs->j, '}');
	} else if (rs->ntargets > 1 || rs->stopped) {
		human_total(rs);
	}
	fflush(stdout);
	free(rs);
	return status;
}
