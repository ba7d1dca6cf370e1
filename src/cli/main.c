// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadvise: give memory advice (MADV_COLD, MADV_PAGEOUT, ...) to other
 * processes through libprocmadvise. This file parses the command line and
 * hands over to the advise command (run.c) or to the demo (demo.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pmadvise.h"

enum {
	OPT_ANON = 0x100,
	OPT_FILE,
	OPT_SHARED,
	OPT_ALL,
	OPT_MIN_SIZE,
	OPT_HOLD,
	OPT_SKIP_HOLES,
	OPT_MAX_BYTES,
	OPT_TIME,
	OPT_RATE,
	OPT_PERCENT,
	OPT_DRY_RUN,
	OPT_OUTPUT_ALL,
	OPT_LIST_COLUMNS,
	OPT_NOHEADINGS,
	OPT_VIA,
	OPT_SWAPPINESS,
	OPT_COMPARE,
};

static const struct option long_opts[] = {
	{ "advice", required_argument, NULL, 'a' },
	{ "range", required_argument, NULL, 'R' },
	{ "method", required_argument, NULL, 'm' },
	{ "continue", no_argument, NULL, 'c' },
	{ "force", no_argument, NULL, 'f' },
	{ "timeout", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, 'J' },
	{ "raw", no_argument, NULL, 'r' },
	{ "noheadings", no_argument, NULL, OPT_NOHEADINGS },
	{ "output", required_argument, NULL, 'o' },
	{ "output-all", no_argument, NULL, OPT_OUTPUT_ALL },
	{ "list-columns", no_argument, NULL, OPT_LIST_COLUMNS },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "cgroup", required_argument, NULL, 'g' },
	{ "anon", no_argument, NULL, OPT_ANON },
	{ "file", no_argument, NULL, OPT_FILE },
	{ "shared", no_argument, NULL, OPT_SHARED },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "min-size", required_argument, NULL, OPT_MIN_SIZE },
	{ "hold", no_argument, NULL, OPT_HOLD },
	{ "skip-holes", no_argument, NULL, OPT_SKIP_HOLES },
	{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
	{ "time", required_argument, NULL, OPT_TIME },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "percent", required_argument, NULL, OPT_PERCENT },
	{ "via", required_argument, NULL, OPT_VIA },
	{ "swappiness", required_argument, NULL, OPT_SWAPPINESS },
	{ "compare", no_argument, NULL, OPT_COMPARE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s [options] PID...\n"
"       %s [options] --cgroup PATH [PID...]\n"
"       %s --cgroup PATH --via memory.reclaim --max-bytes SIZE\n"
"                 [--swappiness N]\n"
"       %s --cgroup PATH --compare --anon|--file|... [--max-bytes SIZE]\n"
"       %s --list-columns [-J|-r]\n"
"       %s demo [--zram] [--size SIZE]\n"
"       %s reap [--signal SIG] [--no-wait] [--json] PID...\n"
"\n"
"Give memory advice to ranges of other processes (process_madvise(2),\n"
"with fallbacks), and report what was advised, how, and what failed.\n"
"\n"
"What to advise (at least one):\n"
"  -R, --range START-END|START+LEN  hex addresses, LEN with K/M/G suffix;\n"
"                        repeatable; with a filter below, a window\n"
"      --anon            private anonymous memory\n"
"      --file            private file-backed memory\n"
"      --shared          shared mappings (file or anonymous)\n"
"      --all             all of the above (not [vdso], [vvar]...)\n"
"      --min-size SIZE   only VMAs of at least SIZE bytes\n"
"Targets:\n"
"  PID...                processes to advise\n"
"  -g, --cgroup PATH     every process listed in PATH/cgroup.procs (or,\n"
"                        threaded, the processes of PATH/cgroup.threads;\n"
"                        v1: of PATH/tasks)\n"
"Cgroup reclaim (cgroup v2 with the memory controller, Linux 5.19+):\n"
"      --via memory.reclaim  ask the kernel for --max-bytes from the\n"
"                        whole cgroup, measured in memory.stat\n"
"      --swappiness N    0-200, passed on as swappiness= (Linux 6.9+)\n"
"      --compare         PAGEOUT of the chosen VMAs, then memory.reclaim\n"
"                        of the bytes it reclaimed, side by side\n"
"How:\n"
"  -a, --advice NAME     cold (default), pageout, willneed, collapse, ...\n"
"  -m, --method M        auto (default), syscall, ioctl, ptrace, or a\n"
"                        comma-separated list\n"
"  -c, --continue        go on past a failing range\n"
"      --skip-holes      advise the mapped parts of each --range; the\n"
"                        unmapped holes are counted, not failures\n"
"  -f, --force           allow advice that can lose the target's data\n"
"      --hold            hold each target still while its VMAs are read\n"
"                        and advised, then restore its state\n"
"  -t, --timeout MS      give up on a process after MS milliseconds\n"
"Budgets (reaching one is not an error: exit 0 when nothing failed):\n"
"      --max-bytes SIZE  advise at most SIZE bytes in all\n"
"      --percent N       at most N%% of each process's chosen bytes\n"
"      --time DURATION   start no call after DURATION (500ms, 10s, 2m)\n"
"      --rate SIZE/s     pace the advice, across processes and calls\n"
"Output:\n"
"      --dry-run         list the ranges; advise nothing\n"
"Output (a line per process, as util-linux's tools):\n"
"  -o, --output LIST     the columns to show (+LIST: added to the default)\n"
"      --output-all      every column\n"
"      --list-columns    the columns, with what they show\n"
"  -J, --json            one JSON document on stdout (see pmadvise(8))\n"
"  -r, --raw             raw lines: no alignment, exact byte counts\n"
"  -n, --noheadings      no header line (-n alone: refused, it was\n"
"                        --dry-run before 0.2)\n"
"  -v, --verbose         list every range, not only failures\n"
"  -h, --help            this help\n"
"  -V, --version         version\n"
"\n"
"Exit status: 0 all advised, 1 some failed, 2 usage, 3 no permission,\n"
"4 target gone, 5 advice not possible here, 6 timeout, 7 system error,\n"
"8 target busy (traced by another process, frozen, or running execve).\n",
		progname, progname, progname, progname, progname, progname,
		progname);
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", progname);
	return EXIT_USAGE;
}

static void list_advice(FILE *f)
{
	const char *sep = "";

	fprintf(f, "known advice:");
	for (int a = 0; a < 256; a++) {
		const char *name = pmadv_advice_name(a);

		if (name) {
			fprintf(f, "%s %s", sep, name);
			sep = ",";
		}
	}
	fputc('\n', f);
}

static int set_advice(struct cli_opts *o, const char *arg)
{
	int a = pmadv_advice_from_name(arg);

	if (a < 0) {
		fprintf(stderr, "%s: unknown advice '%s'; ", progname, arg);
		list_advice(stderr);
		return EXIT_USAGE;
	}
	o->advice = a;
	return 0;
}

static int set_method(struct cli_opts *o, const char *arg)
{
	if (!strcmp(arg, "auto")) {
		o->methods = 0;
		return 0;
	}
	if (pmadv_methods_from_string(arg, &o->methods) < 0)
		return usage_error("--method '%s': expected auto, syscall, "
				   "ioctl, ptrace or a comma-separated list",
				   arg);
	return 0;
}

static int add_range(struct cli_opts *o, const char *arg)
{
	struct cli_range r;

	if (parse_range(arg, &r) < 0)
		return usage_error("bad range '%s': expected START-END or "
				   "START+LEN: hex addresses, LEN decimal "
				   "(no leading zero) or 0x hex, with an "
				   "optional K/M/G/T suffix; no signs or "
				   "spaces", arg);
	if (r.start % page_size())
		return usage_error("range '%s' does not start on a page "
				   "boundary, which the kernel requires", arg);
	o->ranges = xreallocarray(o->ranges, o->nranges + 1,
				  sizeof(*o->ranges));
	o->ranges[o->nranges++] = r;
	return 0;
}

/* One option; 0, -1 for --help/--version done, or an exit status. */
static int parse_one(struct cli_opts *o, int c, const char *arg)
{
	int ret;

	switch (c) {
	case 'a':
		return set_advice(o, arg);
	case 'R':
		return add_range(o, arg);
	case 'm':
		return set_method(o, arg);
	case 'c':
		o->flags |= PMADV_F_CONTINUE;
		return 0;
	case 'f':
		o->flags |= PMADV_F_DESTRUCTIVE;
		return 0;
	case 't':
		ret = parse_ms(arg, &o->timeout_ms);
		if (ret == -ERANGE)
			return usage_error("--timeout '%s': at most %d "
					   "milliseconds (about 24.8 days)",
					   arg, INT_MAX);
		if (ret < 0)
			return usage_error("--timeout '%s': expected "
					   "milliseconds, decimal digits "
					   "without a leading zero", arg);
		return 0;
	case 'J':
	case 'j': /* before 0.2; not in --help */
		o->out.json = true;
		return 0;
	case 'r':
		o->out.raw = true;
		return 0;
	case 'n':
		o->short_n = true;
		/* fall through */
	case OPT_NOHEADINGS:
		o->out.noheadings = true;
		return 0;
	case 'o':
		o->out.columns = arg;
		return 0;
	case OPT_OUTPUT_ALL:
		o->out.all = true;
		return 0;
	case OPT_LIST_COLUMNS:
		o->out.list = true;
		return 0;
	case OPT_DRY_RUN:
		o->dry_run = true;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	case 'g':
		if (o->cgroup)
			return usage_error("%s", "--cgroup given twice: one "
					   "cgroup a run");
		o->cgroup = arg;
		return 0;
	case OPT_ANON:
		o->select |= SEL_ANON;
		return 0;
	case OPT_FILE:
		o->select |= SEL_FILE;
		return 0;
	case OPT_SHARED:
		o->select |= SEL_SHARED;
		return 0;
	case OPT_ALL:
		o->select |= SEL_ALL;
		return 0;
	case OPT_MIN_SIZE:
		if (parse_size(arg, &o->min_size) < 0)
			return usage_error("--min-size '%s': expected a size "
					   "such as 4096, 64K, 2M or 0x1000 "
					   "(no sign, spaces or leading zero)",
					   arg);
		return 0;
	case OPT_HOLD:
		o->hold = true;
		return 0;
	case OPT_SKIP_HOLES:
		o->flags |= PMADV_F_SKIP_UNMAPPED;
		return 0;
	case OPT_MAX_BYTES:
		if (parse_size(arg, &o->max_bytes) < 0 ||
		    o->max_bytes < page_size())
			return usage_error("--max-bytes '%s': expected a size "
					   "of at least one page, such as 64M",
					   arg);
		return 0;
	case OPT_PERCENT:
		if (parse_percent(arg, &o->percent) < 0)
			return usage_error("--percent '%s': expected a whole "
					   "number from 1 to 100", arg);
		return 0;
	case OPT_TIME:
		if (parse_duration(arg, &o->time_ms) < 0)
			return usage_error("--time '%s': expected a duration "
					   "such as 500ms, 10s, 2m or 1h (no "
					   "unit: seconds)", arg);
		return 0;
	case OPT_RATE:
		if (parse_rate(arg, &o->rate) < 0)
			return usage_error("--rate '%s': expected bytes per "
					   "second such as 64M/s", arg);
		return 0;
	case OPT_VIA:
		o->via = arg;
		return 0;
	case OPT_SWAPPINESS:
		if (parse_swappiness(arg, &o->swappiness) < 0)
			return usage_error("--swappiness '%s': expected a "
					   "whole number from 0 to 200", arg);
		return 0;
	case OPT_COMPARE:
		o->compare = true;
		return 0;
	case 'h':
		usage(stdout);
		return -1;
	case 'V':
		printf("pmadvise %s (libprocmadvise %d.%d.%d)\n",
		       PMADVISE_VERSION, PMADV_VERSION_MAJOR,
		       PMADV_VERSION_MINOR, PMADV_VERSION_PATCH);
		return -1;
	default:
		fprintf(stderr, "Try '%s --help'.\n", progname);
		return EXIT_USAGE;
	}
}

static int parse_pids(struct cli_opts *o, int argc, char **argv)
{
	o->pids = xcalloc((size_t)argc, sizeof(pid_t));
	struct cli_range r;

	for (int i = 0; i < argc; i++) {
		if (parse_pid(argv[i], &o->pids[o->npids++]) >= 0)
			continue;
		/* -r was --range before 0.2 (now --raw, as util-linux). */
		if (parse_range(argv[i], &r) >= 0)
			return usage_error("'%s' is not a process ID: to "
					   "advise a range, give -R or --range "
					   "(-r means --raw since 0.2)",
					   argv[i]);
		return usage_error("'%s' is not a process ID", argv[i]);
	}
	return 0;
}

/* -n was --dry-run before 0.2. Alone, it is refused rather than taken as
 * --noheadings, so that an old "pmadvise -n ..." never advises for real;
 * with another output option it can only mean --noheadings. */
static int check_short_n(const struct cli_opts *o)
{
	const struct out_opts *oo = &o->out;

	if (!o->short_n || oo->columns || oo->all || oo->raw || oo->json ||
	    oo->list)
		return 0;
	return usage_error("%s", "-n is --noheadings since 0.2 (it was "
			   "--dry-run): give --dry-run to advise nothing, or "
			   "--noheadings, or -n with -o, -r or -J");
}

/* Combinations that cannot mean anything. */
static int check_consistency(const struct cli_opts *o)
{
	const char *cg = cgreclaim_check(o);

	if (cg)
		return usage_error("%s", cg);
	if (o->via || o->compare)
		return 0;
	if (!o->npids && !o->cgroup)
		return usage_error("%s", "no target: give PIDs or --cgroup");
	if (!o->nranges && !o->select)
		return usage_error("%s", "say what to advise: --range, --anon, "
				   "--file, --shared or --all");
	if ((o->flags & PMADV_F_SKIP_UNMAPPED) && !o->nranges)
		return usage_error("%s", "--skip-holes works on --range: VMAs "
				   "from --anon, --file, --shared or --all "
				   "have no holes");
	if (o->min_size && !o->select)
		return usage_error("%s", "--min-size works on VMAs: add --anon, "
				   "--file, --shared or --all");
	return 0;
}

/* The library reads PMADV_METHODS on every request and fails each one with
 * EINVAL when it is not a list of rungs: one usage error up front names
 * the variable instead. */
static int check_environment(const struct cli_opts *o)
{
	const char *env = getenv("PMADV_METHODS");
	unsigned int m;

	if (!env || !*env)
		return 0;
	if (pmadv_methods_from_string(env, &m) < 0)
		return usage_error("environment variable PMADV_METHODS='%s': "
				   "expected syscall, ioctl, ptrace, all or a "
				   "comma-separated list of them (it narrows "
				   "--method)", env);
	if (!effective_methods(o->methods))
		return usage_error("environment variable PMADV_METHODS='%s' "
				   "and --method leave no method in common: "
				   "it narrows --method, so nothing could "
				   "advise", env);
	return 0;
}

/* Destructive advice is refused before any target is touched. */
static int check_force(const struct cli_opts *o)
{
	int d = pmadv_advice_destructive(o->advice);

	if (d <= 0 || (o->flags & PMADV_F_DESTRUCTIVE))
		return 0;
	fprintf(stderr, "%s: refusing %s without --force: it can make the "
		"target lose data (its pages are discarded or its memory "
		"behaves differently afterwards), which the process does not "
		"expect from someone else\n", progname,
		pmadv_advice_name(o->advice));
	return EXIT_USAGE;
}

static int parse_args(struct cli_opts *o, int argc, char **argv)
{
	int c, ret;

	while ((c = getopt_long(argc, argv, "a:R:m:cft:Jjrno:vg:hV",
				long_opts, NULL)) != -1) {
		ret = parse_one(o, c, optarg);
		if (ret)
			return ret;
	}
	ret = check_short_n(o);
	if (!ret)
		ret = report_check_columns(o);
	if (ret || o->out.list)
		return ret;
	ret = parse_pids(o, argc - optind, argv + optind);
	if (!ret)
		ret = check_consistency(o);
	if (!ret)
		ret = check_force(o);
	if (!ret)
		ret = check_environment(o);
	return ret;
}

/* What was printed must have reached standard output: a full
 * filesystem (ENOSPC), a pipe whose reader is gone while SIGPIPE is
 * ignored (EPIPE), a closed descriptor (EBADF) lose the report, so the
 * exit status says so, as util-linux's close_stdout does; a status from
 * a signal stays. */
static int check_stdout(int ret)
{
	int flushed = fflush(stdout), err = errno;

	if (flushed == 0 && !ferror(stdout))
		return ret;
	fprintf(stderr, "%s: write error on standard output%s%s: the "
		"report is incomplete\n", progname, flushed ? ": " : "",
		flushed ? strerror(err) : "");
	return ret >= EXIT_SIGNAL_BASE ? ret : EXIT_SYSTEM;
}

int main(int argc, char **argv)
{
	struct cli_opts o;
	int ret;

	memset(&o, 0, sizeof(o));
	/* libsmartcols shows characters the locale can print, and \xNN for
	 * the rest. */
	setlocale(LC_CTYPE, "");
	o.advice = ADVICE_COLD;
	o.swappiness = -1;
	if (argc > 1 && !strcmp(argv[1], "demo"))
		return check_stdout(demo_main(argc - 1, argv + 1));
	if (argc > 1 && !strcmp(argv[1], "reap"))
		return check_stdout(reap_main(argc - 1, argv + 1));
	ret = parse_args(&o, argc, argv);
	if (ret == 0 && o.out.list) {
		report_list_columns(&o);
	} else if (ret == 0) {
		signals_install();
		if (signals_grace() < 0)
			fprintf(stderr, "%s: no grace timer (%s): a signal "
				"cannot end a call that does not return\n",
				progname, strerror(errno));
		ret = o.via || o.compare ? run_cgreclaim(&o)
					 : run_advise(&o);
	} else if (ret < 0) {
		ret = 0; /* --help, --version */
	}
	free(o.ranges);
	free(o.pids);
	return check_stdout(ret);
}
