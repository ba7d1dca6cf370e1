// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadvise reap: kill processes and free their memory at once
 * (pmadv_kill_reap: the signal through a pidfd, then process_mrelease),
 * with the report, JSON and exit statuses of the advise command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pmadvise.h"

struct reap_opts {
	int sig;
	unsigned int flags;
	bool json;
	pid_t *pids;
	size_t npids;
};

struct reap_report {
	pid_t pid;
	char comm[64];
	int error;       /* positive errno of the failure, 0 */
	int exit_class;
	struct pmadv_reap_result r;
	bool signalled;
};

static void reap_usage(FILE *f)
{
	fprintf(f,
"Usage: %s reap [--signal SIG] [--no-wait] [--json] PID...\n"
"\n"
"Send each process a signal through a pidfd (a reused PID is never hit),\n"
"then free its memory at once with process_mrelease(2) (Linux 5.15), or,\n"
"where that is missing or refused, wait up to 5 s for its exit to do so.\n"
"\n"
"  -s, --signal SIG      KILL (default), TERM, ... or a number\n"
"      --no-wait         without process_mrelease, do not wait for the exit\n"
"  -J, --json            one JSON document on stdout (see pmadvise(8))\n"
"  -h, --help            this help\n"
"\n"
"Exit status: 0 all freed (or signalled, with --no-wait), 1 mixed\n"
"failures, 2 usage, 3 no permission, 4 target gone, 5 not possible here,\n"
"6 not freed within 5 s, 7 system error.\n", progname);
}

static int reap_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "%s reap: %s '%s'\nTry '%s reap --help'.\n", progname,
		what, arg, progname);
	return EXIT_USAGE;
}

/* Every argument is checked before any process is signalled. */
static int reap_parse(struct reap_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:Jjh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_signal(optarg, &o->sig) < 0)
				return reap_usage_error("unknown signal",
							optarg);
			break;
		case 'W':
			o->flags |= PMADV_REAP_NOWAIT;
			break;
		case 'J':
		case 'j': /* before 0.2; not in --help */
			o->json = true;
			break;
		case 'h':
			reap_usage(stdout);
			return -1;
		default:
			fprintf(stderr, "Try '%s reap --help'.\n", progname);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s reap: no PID given\nTry '%s reap --help'.\n",
			progname, progname);
		return EXIT_USAGE;
	}
	o->pids = xcalloc((size_t)(argc - optind), sizeof(pid_t));
	for (int i = optind; i < argc; i++) {
		pid_t pid, tgid;

		if (parse_pid(argv[i], &pid) < 0)
			return reap_usage_error("not a process ID", argv[i]);
		tgid = read_tgid(pid);
		if (tgid > 0 && tgid != pid) {
			fprintf(stderr, "%s reap: TID %d is a thread of PID %d: "
				"give the process ID\n", progname, (int)pid,
				(int)tgid);
			return EXIT_USAGE;
		}
		/* twice the same PID: one kill, not a "gone" after it */
		for (size_t k = 0; k < o->npids; k++)
			if (o->pids[k] == pid)
				pid = 0;
		if (pid)
			o->pids[o->npids++] = pid;
	}
	return 0;
}

static const char *freed_by_name(unsigned int f)
{
	return f == PMADV_FREED_MRELEASE ? "process_mrelease"
	       : f == PMADV_FREED_EXIT   ? "exit"
					 : NULL;
}

static const char *reap_status(const struct reap_report *p)
{
	if (p->r.freed_by)
		return "freed";
	return p->signalled && !p->error ? "signalled" : "failed";
}

/* Why process_mrelease did not reap, in words. */
static const char *mrelease_words(int err)
{
	switch (err) {
	case ENOSYS:
		return "not in this kernel (Linux 5.15+) or hidden by seccomp";
	case EINVAL:
		return "the process was not dying: it caught, blocked or "
		       "ignored the signal, or shares its memory";
	case ESRCH:
		return "its memory was already gone";
	case EAGAIN:
		return "the kernel stayed busy";
	default:
		return "refused";
	}
}

static const char *failure_words(int err)
{
	switch (err) {
	case EPERM:
		return "not signalled: no permission to signal it";
	case ESRCH:
		return "not signalled: no such process (it has exited)";
	case ENOSYS:
		return "not signalled: no pidfd on this kernel (Linux 5.3+), "
		       "and a signal by number could hit a reused PID";
	case ETIMEDOUT:
		return "signalled, but its memory was not freed within 5 s";
	case EINVAL:
		return "not signalled: a kernel thread, which has no user "
		       "memory and takes no signal";
	default:
		return "failed";
	}
}

static void reap_one(const struct reap_opts *o, pid_t pid,
		     struct reap_report *p)
{
	struct pmadv_target *t;
	int ret;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	read_comm(pid, p->comm, sizeof(p->comm));
	ret = is_kernel_thread(pid) ? -EINVAL
				    : pmadv_open(pid, PMADV_OPEN_PIDFD, &t);
	if (ret == 0) {
		ret = pmadv_kill_reap(t, o->sig, o->flags, &p->r,
				      sizeof(p->r));
		pmadv_close(t);
	}
	/* signalled: the library's only failure after the signal */
	p->signalled = ret == 0 || ret == -ETIMEDOUT;
	p->error = ret < 0 ? -ret : 0;
	p->exit_class = ret < 0 ? exit_class_of(-ret) : EXIT_ALL_ADVISED;
}

static void human_one(const struct reap_opts *o, const struct reap_report *p)
{
	char rel[32], before[32], after[32], comm[4 * 64];

	human_size(p->r.released, rel, sizeof(rel));
	human_size(p->r.rss_before + p->r.swap_before, before, sizeof(before));
	human_size(p->r.rss_after + p->r.swap_after, after, sizeof(after));
	/* a name with control bytes stays on its line (as in the tables) */
	human_str(comm, sizeof(comm), p->comm);
	printf("PID %d (%s): ", (int)p->pid, comm);
	if (!p->signalled) {
		printf("%s (%s)\n", failure_words(p->error),
		       errno_name(p->error));
		return;
	}
	printf("SIG%s sent", sigabbrev_np(o->sig));
	if (p->r.error)
		printf("; process_mrelease: %s (%s)",
		       mrelease_words(p->r.error), errno_name(p->r.error));
	if (p->r.freed_by)
		printf("; %s freed by %s in %.1f ms", rel,
		       p->r.freed_by == PMADV_FREED_MRELEASE
			       ? "process_mrelease"
			       : "its exit",
		       (double)p->r.ns / 1e6);
	else if (p->error)
		printf("; %s", failure_words(p->error));
	else
		printf("; not freed yet (--no-wait)");
	printf(" (Rss+Swap %s before, %s after)\n", before, after);
}

/* The columns of --json, in order: the schema in pmadvise(8). */
enum { P_PID, P_COMM, P_STATUS, P_EXIT_CLASS, P_ERROR, P_ERRNO, P_MESSAGE,
       P_SIGNALLED, P_FREED_BY, P_MR_ERROR, P_MR_ERRNO, P_MR_MESSAGE,
       P_TIME_MS, P_RSS_BEFORE, P_SWAP_BEFORE, P_RSS_AFTER, P_SWAP_AFTER,
       P_RELEASED, NPCOLS };
static const struct out_column reap_cols[NPCOLS] = {
	[P_PID] = { "pid", OUT_NUM, 0, true, "process ID" },
	[P_COMM] = { "comm", OUT_STR, 0, true, "command name" },
	[P_STATUS] = { "status", OUT_STR, 0, true, "freed, signalled, failed" },
	[P_EXIT_CLASS] = { "exit_class", OUT_NUM, 0, true, "exit status" },
	[P_ERROR] = { "error", OUT_STR, 0, true, "errno name" },
	[P_ERRNO] = { "errno", OUT_NUM, 0, true, "errno number" },
	[P_MESSAGE] = { "message", OUT_STR, 0, true, "the failure" },
	[P_SIGNALLED] = { "signalled", OUT_BOOL, 0, true, "signal sent" },
	[P_FREED_BY] = { "freed_by", OUT_STR, 0, true, "how it was freed" },
	[P_MR_ERROR] = { "mrelease_error", OUT_STR, 0, true,
			 "errno name of process_mrelease" },
	[P_MR_ERRNO] = { "mrelease_errno", OUT_NUM, 0, true,
			 "errno number of process_mrelease" },
	[P_MR_MESSAGE] = { "mrelease_message", OUT_STR, 0, true,
			   "process_mrelease's failure" },
	[P_TIME_MS] = { "time_ms", OUT_NUM, 0, true, "milliseconds" },
	[P_RSS_BEFORE] = { "rss_kb_before", OUT_NUM, 0, true, "KiB" },
	[P_SWAP_BEFORE] = { "swap_kb_before", OUT_NUM, 0, true, "KiB" },
	[P_RSS_AFTER] = { "rss_kb_after", OUT_NUM, 0, true, "KiB" },
	[P_SWAP_AFTER] = { "swap_kb_after", OUT_NUM, 0, true, "KiB" },
	[P_RELEASED] = { "bytes_released", OUT_NUM, 0, true, "bytes" },
};

/* An errno as three cells, name, number and words; all null when 0. */
static void cells_errno(const struct out_opts *oo, struct libscols_line *ln,
			size_t i, int err, const char *words)
{
	if (!err)
		return;
	out_str(oo, ln, i, errno_name(err));
	out_fmt(ln, i + 1, "%d", err);
	out_str(oo, ln, i + 2, words);
}

static void json_one(const struct out_opts *oo, struct libscols_table *tb,
		     const struct reap_report *p)
{
	struct libscols_line *ln = out_line(tb);

	out_fmt(ln, P_PID, "%d", (int)p->pid);
	out_str(oo, ln, P_COMM, p->comm);
	out_str(oo, ln, P_STATUS, reap_status(p));
	out_fmt(ln, P_EXIT_CLASS, "%d", p->exit_class);
	cells_errno(oo, ln, P_ERROR, p->error, failure_words(p->error));
	/* libsmartcols: any data is true, none is false */
	out_str(oo, ln, P_SIGNALLED, p->signalled ? "true" : NULL);
	out_str(oo, ln, P_FREED_BY, freed_by_name(p->r.freed_by));
	cells_errno(oo, ln, P_MR_ERROR, p->r.error,
		    mrelease_words(p->r.error));
	out_fmt(ln, P_TIME_MS, "%.3f", (double)p->r.ns / 1e6);
	out_fmt(ln, P_RSS_BEFORE, "%llu",
		(unsigned long long)p->r.rss_before / 1024);
	out_fmt(ln, P_SWAP_BEFORE, "%llu",
		(unsigned long long)p->r.swap_before / 1024);
	out_fmt(ln, P_RSS_AFTER, "%llu",
		(unsigned long long)p->r.rss_after / 1024);
	out_fmt(ln, P_SWAP_AFTER, "%llu",
		(unsigned long long)p->r.swap_after / 1024);
	out_fmt(ln, P_RELEASED, "%llu", (unsigned long long)p->r.released);
}

/* The document's own keys are numbers, booleans and words of ours;
 * everything from a target is in the table, written by libsmartcols. */
static void json_document(const struct reap_opts *o,
			  struct libscols_table *tb, size_t nfreed,
			  uint64_t bytes, int status)
{
	printf("{\n   \"schema\": 2,\n   \"pmadvise\": \"%s\",\n"
	       "   \"command\": \"reap\",\n   \"signal\": \"%s\",\n"
	       "   \"wait\": %s", PMADVISE_VERSION, sigabbrev_np(o->sig),
	       o->flags & PMADV_REAP_NOWAIT ? "false" : "true");
	out_json_table(stdout, tb);
	printf(",\n   \"summary\": {\"processes\": %zu, \"freed\": %zu, "
	       "\"bytes_released\": %llu, \"exit_status\": %d}\n}\n",
	       o->npids, nfreed, (unsigned long long)bytes, status);
}

int reap_main(int argc, char **argv)
{
	struct reap_opts o = { .sig = SIGKILL };
	int status = EXIT_ALL_ADVISED, ret;
	size_t nfreed = 0;
	uint64_t bytes = 0;
	struct out_opts oo = { .json = true };
	struct libscols_table *tb = NULL;
	int sel[NPCOLS];
	size_t nsel;

	ret = reap_parse(&o, argc, argv);
	if (ret) {
		free(o.pids);
		return ret < 0 ? 0 : ret;
	}
	if (o.json) {
		tb = out_table(&oo, "processes");
		out_select(&oo, reap_cols, NPCOLS, sel, &nsel);
		out_add_columns(tb, reap_cols, sel, nsel);
	}
	for (size_t i = 0; i < o.npids; i++) {
		struct reap_report p;

		reap_one(&o, o.pids[i], &p);
		if (p.error)
			fprintf(stderr, "%s: PID %d: %s\n", progname,
				(int)p.pid, failure_words(p.error));
		if (o.json)
			json_one(&oo, tb, &p);
		else
			human_one(&o, &p);
		fflush(stdout);
		nfreed += p.r.freed_by != PMADV_FREED_NONE;
		bytes += p.r.released;
		status = combine_status(status, p.exit_class);
	}
	if (o.json) {
		json_document(&o, tb, nfreed, bytes, status);
		scols_unref_table(tb);
	}
	free(o.pids);
	return status;
}
