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
"  -j, --json            one JSON document on stdout (see pmadvise(8))\n"
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
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_signal(optarg, &o->sig) < 0)
				return reap_usage_error("unknown signal",
							optarg);
			break;
		case 'W':
			o->flags |= PMADV_REAP_NOWAIT;
			break;
		case 'j':
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
	char rel[32], before[32], after[32];

	human_size(p->r.released, rel, sizeof(rel));
	human_size(p->r.rss_before + p->r.swap_before, before, sizeof(before));
	human_size(p->r.rss_after + p->r.swap_after, after, sizeof(after));
	printf("PID %d (%s): ", (int)p->pid, p->comm);
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

static void json_errno(struct json *j, const char *key, int err,
		       const char *words)
{
	if (!err) {
		json_null(j, key);
		return;
	}
	json_open(j, key, '{');
	json_str(j, "name", errno_name(err));
	json_int(j, "errno", err);
	json_str(j, "message", words);
	json_close(j, '}');
}

static void json_one(struct json *j, const struct reap_report *p)
{
	json_open(j, NULL, '{');
	json_int(j, "pid", p->pid);
	json_str(j, "comm", p->comm);
	json_str(j, "status", reap_status(p));
	json_int(j, "exit_class", p->exit_class);
	json_errno(j, "error", p->error, failure_words(p->error));
	json_bool(j, "signalled", p->signalled);
	json_str(j, "freed_by", freed_by_name(p->r.freed_by));
	json_errno(j, "mrelease_error", p->r.error,
		   mrelease_words(p->r.error));
	json_num(j, "time_ms", (double)p->r.ns / 1e6);
	json_uint(j, "rss_kb_before", p->r.rss_before / 1024);
	json_uint(j, "swap_kb_before", p->r.swap_before / 1024);
	json_uint(j, "rss_kb_after", p->r.rss_after / 1024);
	json_uint(j, "swap_kb_after", p->r.swap_after / 1024);
	json_uint(j, "bytes_released", p->r.released);
	json_close(j, '}');
}

int reap_main(int argc, char **argv)
{
	struct reap_opts o = { .sig = SIGKILL };
	int status = EXIT_ALL_ADVISED, ret;
	size_t nfreed = 0;
	uint64_t bytes = 0;
	struct json j;

	ret = reap_parse(&o, argc, argv);
	if (ret) {
		free(o.pids);
		return ret < 0 ? 0 : ret;
	}
	json_init(&j, stdout);
	if (o.json) {
		json_open(&j, NULL, '{');
		json_int(&j, "schema", 1);
		json_str(&j, "pmadvise", PMADVISE_VERSION);
		json_str(&j, "command", "reap");
		json_str(&j, "signal", sigabbrev_np(o.sig));
		json_bool(&j, "wait", !(o.flags & PMADV_REAP_NOWAIT));
		json_open(&j, "processes", '[');
	}
	for (size_t i = 0; i < o.npids; i++) {
		struct reap_report p;

		reap_one(&o, o.pids[i], &p);
		if (p.error)
			fprintf(stderr, "%s: PID %d: %s\n", progname,
				(int)p.pid, failure_words(p.error));
		if (o.json)
			json_one(&j, &p);
		else
			human_one(&o, &p);
		fflush(stdout);
		nfreed += p.r.freed_by != PMADV_FREED_NONE;
		bytes += p.r.released;
		status = combine_status(status, p.exit_class);
	}
	if (o.json) {
		json_close(&j, ']');
		json_open(&j, "summary", '{');
		json_uint(&j, "processes", o.npids);
		json_uint(&j, "freed", nfreed);
		json_uint(&j, "bytes_released", bytes);
		json_int(&j, "exit_status", status);
		json_close(&j, '}');
		json_close(&j, '}');
	}
	free(o.pids);
	return status;
}
