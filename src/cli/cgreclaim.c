// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Cgroup reclaim: `--cgroup PATH --via memory.reclaim --max-bytes SIZE`
 * asks the kernel to reclaim from the whole cgroup v2 through its
 * memory.reclaim file, and measures what left from memory.stat (anon,
 * file) and memory.swap.current. `--compare` runs per-process PAGEOUT of
 * the selected VMAs and memory.reclaim on the same cgroup, each from the
 * same starting state, and prints the two side by side.
 *
 * The same starting state: before each phase, every member's selected
 * ranges are faulted in with MADV_POPULATE_READ through the library (a
 * remote process cannot be asked for it by process_madvise, so the
 * ladder's ptrace rung injects it), and memory.stat is read at the start
 * of each phase. The table shows both starting points: memory outside the
 * selected ranges is not restored, and the members keep running, so the
 * two starts are close, not equal. (Faulting in only between the phases
 * was tried first: a cgroup partly swapped out at the start then began
 * the second phase with more resident memory than the first.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "pmadvise.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define ADVICE_POPULATE_READ 22

/* What memory.stat and memory.swap.current say of the cgroup; -1 unknown. */
struct cg_mem {
	long long anon, file, swap;
};

/* One phase's outcome, as reported. */
struct cg_phase {
	const char *name;       /* "pageout", "memory_reclaim" */
	struct cg_mem before, after;
	unsigned long long asked;   /* bytes advised / asked of the kernel */
	double ms;
	int error;              /* positive errno, 0 */
	long long rss_kb, swap_kb;  /* the members' Rss and Swap after */
	size_t nprocs;
};

/* A cgroup path for a person's eyes: control bytes and bytes outside
 * UTF-8 escaped as in every message of pmadvise (one at a time: a static
 * buffer, and no message here names two cgroups). */
static const char *shown(const char *cg)
{
	static char buf[4096]; /* longer is cut: it is for reading */

	human_str(buf, sizeof(buf), cg);
	return buf;
}

static void cg_file(char *out, size_t len, const char *cg, const char *f)
{
	if (snprintf(out, len, "%s/%s", cg, f) >= (int)len)
		out[0] = '\0'; /* too long: opens nothing */
}

static long long stat_field(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p += !!p)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1 &&
	       (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return 0;
}

static int read_cg_mem(const char *cg, struct cg_mem *m)
{
	char path[PATH_MAX], buf[16384];
	int ret;

	m->anon = m->file = m->swap = -1;
	cg_file(path, sizeof(path), cg, "memory.stat");
	ret = read_small(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	m->anon = stat_field(buf, "anon");
	m->file = stat_field(buf, "file");
	cg_file(path, sizeof(path), cg, "memory.swap.current");
	if (read_small(path, buf, sizeof(buf)) == 0)
		m->swap = strtoll(buf, NULL, 10);
	return 0;
}

static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; (p = strstr(p, w)); p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

/* Why memory.reclaim of cg cannot be written, in one line: msg, and the
 * exit status. */
static int explain_no_reclaim(const char *cg, int err, char *msg, size_t len)
{
	char path[PATH_MAX], root[PATH_MAX], buf[1024];
	struct statfs sf;
	struct utsname u;

	if (statfs(cg, &sf) < 0) {
		snprintf(msg, len, "no cgroup directory %s: %s (%s)", shown(cg),
			 strerror(errno), errno_name(errno));
		return EXIT_USAGE;
	}
	if (sf.f_type == CGROUP_SUPER_MAGIC) {
		snprintf(msg, len, "%s is on a cgroup v1 hierarchy: "
			 "memory.reclaim exists only on cgroup v2 (Linux "
			 "5.19+), with the memory controller bound to the v2 "
			 "hierarchy (boot with cgroup_no_v1=memory or "
			 "systemd.unified_cgroup_hierarchy=1)", shown(cg));
		return EXIT_NOT_SUPPORTED;
	}
	if (sf.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(msg, len, "%s is not a cgroup directory", shown(cg));
		return EXIT_USAGE;
	}
	/* the hierarchy's root: the last ancestor still on cgroup2 */
	snprintf(root, sizeof(root), "%s", cg);
	for (;;) {
		char up[PATH_MAX + 4];
		struct statfs us;

		snprintf(up, sizeof(up), "%s/..", root);
		if (!realpath(up, path) || statfs(path, &us) < 0 ||
		    us.f_type != CGROUP2_SUPER_MAGIC || !strcmp(path, root))
			break;
		snprintf(root, sizeof(root), "%s", path);
	}
	cg_file(path, sizeof(path), root, "cgroup.controllers");
	if (read_small(path, buf, sizeof(buf)) == 0 &&
	    !has_word(buf, "memory")) {
		snprintf(msg, len, "no memory controller on the cgroup v2 "
			 "hierarchy at %s (%s has no 'memory'; it is bound to "
			 "a v1 hierarchy, or not built): memory.reclaim needs "
			 "cgroup v2 with the memory controller (boot with "
			 "cgroup_no_v1=memory or "
			 "systemd.unified_cgroup_hierarchy=1) and Linux 5.19+",
			 root, path);
		return EXIT_NOT_SUPPORTED;
	}
	cg_file(path, sizeof(path), cg, "cgroup.controllers");
	if (read_small(path, buf, sizeof(buf)) == 0 &&
	    !has_word(buf, "memory")) {
		(void)!snprintf(msg, len, "the memory controller is not enabled for "
			 "%s: enable it in its parent with 'echo +memory > "
			 "PARENT/cgroup.subtree_control'", shown(cg));
		return EXIT_NOT_SUPPORTED;
	}
	uname(&u);
	snprintf(msg, len, "%s has the memory controller but memory.reclaim "
		 "cannot be opened: %s (%s); it came in Linux 5.19, this is "
		 "%s", shown(cg), strerror(err), errno_name(err), u.release);
	return err == ENOENT ? EXIT_NOT_SUPPORTED : EXIT_SYSTEM;
}

/* Opens cg/memory.reclaim for writing, or says why not: fd, or -status. */
static int open_reclaim(const char *cg)
{
	char path[PATH_MAX], msg[3 * PATH_MAX];
	int fd, st;

	struct statfs sf;
	int err = ENOENT;

	/* Only a cgroup v2 directory's own file: never a symbolic link out
	 * of it, never a FIFO whose open would wait for a reader. */
	cg_file(path, sizeof(path), cg, "memory.reclaim");
	if (statfs(cg, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		err = errno;
		if (fd >= 0 && fstatfs(fd, &sf) == 0 &&
		    sf.f_type == CGROUP2_SUPER_MAGIC)
			return fd;
		if (fd >= 0) {
			close(fd);
			err = ENOENT;
		}
	}
	st = explain_no_reclaim(cg, err, msg, sizeof(msg));
	fprintf(stderr, "%s: memory.reclaim: %s\n", progname, msg);
	return -st;
}

/* Whether the kernel takes "swappiness=": asked of it with a request of
 * 0 bytes, which reclaims nothing. EINVAL: it does not (before 6.9). */
static int swappiness_check(int fd, int swappiness)
{
	char req[64];
	int n = snprintf(req, sizeof(req), "0 swappiness=%d", swappiness);

	if (write(fd, req, (size_t)n) >= 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	fprintf(stderr, "%s: --swappiness: this kernel refuses 'swappiness=' "
		"in memory.reclaim (EINVAL; the kernel takes it from Linux "
		"6.9, as the kernel's answer shows, not a version table): "
		"leave --swappiness out\n", progname);
	return -EINVAL;
}

/* One memory.reclaim request of bytes: 0 or the positive errno. */
static int reclaim(int fd, unsigned long long bytes, int swappiness,
		   double *ms)
{
	char req[96];
	int n, err = 0;
	double t0 = now_ms();

	if (swappiness >= 0)
		n = snprintf(req, sizeof(req), "%llu swappiness=%d", bytes,
			     swappiness);
	else
		n = snprintf(req, sizeof(req), "%llu", bytes);
	if (write(fd, req, (size_t)n) < 0)
		err = errno;
	*ms = now_ms() - t0;
	return err;
}

static long long drop(long long before, long long after)
{
	return before < 0 || after < 0 ? -1 : before - after;
}

static void members_mem(const char *cg, struct cg_phase *ph)
{
	struct pmadv_cgroup *it;
	struct pmadv_target *t;

	ph->rss_kb = ph->swap_kb = 0;
	ph->nprocs = 0;
	if (pmadv_cgroup_open(cg, 0, 0, &it) < 0) {
		ph->rss_kb = ph->swap_kb = -1;
		return;
	}
	while (pmadv_cgroup_next(it, &t) > 0) {
		struct mem_kb m;

		if (read_mem(pmadv_target_pid(t), &m) == 0) {
			ph->rss_kb += m.rss;
			ph->swap_kb += m.swap > 0 ? m.swap : 0;
			ph->nprocs++;
		}
		pmadv_close(t);
	}
	pmadv_cgroup_close(it);
}

/* The memory.reclaim phase: asks bytes, measures. Exit status. */
static int phase_reclaim(const struct cli_opts *o, unsigned long long bytes,
			 struct cg_phase *ph)
{
	int fd = open_reclaim(o->cgroup), ret;

	ph->name = "memory_reclaim";
	ph->asked = bytes;
	if (fd < 0)
		return -fd;
	if (o->swappiness >= 0 && (ret = swappiness_check(fd, o->swappiness))) {
		close(fd);
		return ret == -EINVAL ? EXIT_NOT_SUPPORTED : EXIT_SYSTEM;
	}
	read_cg_mem(o->cgroup, &ph->before);
	ph->error = reclaim(fd, bytes, o->swappiness, &ph->ms);
	close(fd);
	read_cg_mem(o->cgroup, &ph->after);
	members_mem(o->cgroup, ph);
	return 0;
}

/* pmadv_advise of advice over each member's selected ranges; the bytes
 * advised. Failures of single processes are counted, not fatal. */
static unsigned long long advise_members(const struct cli_opts *o,
					 int advice, int *failed)
{
	struct cli_opts oo = *o;
	struct pmadv_cgroup *it;
	struct pmadv_target *t;
	unsigned long long done = 0;
	struct pace pc;
	int ret;

	oo.advice = advice;
	oo.hold = false;
	oo.dry_run = false;
	/* the budgets and the pace are PAGEOUT's: the fault-in that gives
	 * both phases their start is never cut short or slowed */
	if (advice != ADVICE_PAGEOUT) {
		oo.max_bytes = 0;
		oo.rate = 0;
		oo.time_ms = 0;
		oo.percent = 0;
	}
	pace_init(&pc, &oo);
	*failed = 0;
	ret = pmadv_cgroup_open(o->cgroup, 0, 0, &it);
	if (ret < 0) {
		*failed = 1;
		return 0;
	}
	while (!pc.stopped && !cli_stopping() &&
	       pmadv_cgroup_next(it, &t) > 0) {
		struct pmadv_opts opts = PMADV_OPTS_INIT;
		struct proc_report p;
		ssize_t n;

		memset(&p, 0, sizeof(p));
		p.pid = pmadv_target_pid(t);
		p.advice = advice;
		p.res.failed = SIZE_MAX;
		opts.flags = PMADV_F_CONTINUE;
		opts.methods = advice == ADVICE_POPULATE_READ
				       ? PMADV_METHOD_PTRACE
				       : o->methods;
		opts.cancel = &cli_cancel;
		opts.timeout_ms = o->timeout_ms;
		if (select_ranges(t, &oo, &p) == 0) {
			p.errors = xcalloc(p.n + 1, sizeof(int));
			opts.errors = p.errors;
			n = pace_advise(&pc, t, &oo, &p, &opts);
			if (n < 0)
				(*failed)++;
			else
				done += (unsigned long long)n;
			select_finish(t, &oo, &p);
		} else {
			(*failed)++;
		}
		free(p.iov);
		free(p.errors);
		free(p.changed);
		pmadv_close(t);
	}
	pmadv_cgroup_close(it);
	return done;
}

static int phase_pageout(const struct cli_opts *o, struct cg_phase *ph)
{
	int failed;
	double t0;

	ph->name = "pageout";
	read_cg_mem(o->cgroup, &ph->before);
	t0 = now_ms();
	ph->asked = advise_members(o, ADVICE_PAGEOUT, &failed);
	ph->ms = now_ms() - t0;
	ph->error = failed ? EIO : 0;
	read_cg_mem(o->cgroup, &ph->after);
	members_mem(o->cgroup, ph);
	return 0;
}

/* The phases of --json: one object each, in the document's "phases"
 * array, written by libsmartcols like every table of pmadvise (the cgroup
 * path, the one string from outside, included). */
enum { G_PHASE, G_CGROUP, G_ASKED, G_ANON_BEFORE, G_FILE_BEFORE,
       G_ANON_RECLAIMED, G_FILE_RECLAIMED, G_RECLAIMED, G_SWAP_ADDED,
       G_TIME_MS, G_RSS_AFTER, G_SWAP_AFTER, G_PROCESSES, G_ERROR,
       NGCOLS };
static const struct out_column phase_cols[NGCOLS] = {
	[G_PHASE] = { "phase", OUT_STR, 0, true,
		      "pageout or memory_reclaim" },
	[G_CGROUP] = { "cgroup", OUT_STR, 0, true, "the cgroup's path" },
	[G_ASKED] = { "bytes_asked", OUT_NUM, 0, true,
		      "bytes advised, or asked of memory.reclaim" },
	[G_ANON_BEFORE] = { "anon_before", OUT_NUM, 0, true,
			    "memory.stat anon at the start, bytes" },
	[G_FILE_BEFORE] = { "file_before", OUT_NUM, 0, true,
			    "memory.stat file at the start, bytes" },
	[G_ANON_RECLAIMED] = { "anon_reclaimed", OUT_NUM, 0, true,
			       "drop of memory.stat anon, bytes" },
	[G_FILE_RECLAIMED] = { "file_reclaimed", OUT_NUM, 0, true,
			       "drop of memory.stat file, bytes" },
	[G_RECLAIMED] = { "bytes_reclaimed", OUT_NUM, 0, true,
			  "anon_reclaimed + file_reclaimed" },
	[G_SWAP_ADDED] = { "swap_added", OUT_NUM, 0, true,
			   "rise of memory.swap.current, bytes" },
	[G_TIME_MS] = { "time_ms", OUT_NUM, 0, true, "milliseconds" },
	[G_RSS_AFTER] = { "rss_after", OUT_NUM, 0, true,
			  "the members' Rss after, bytes" },
	[G_SWAP_AFTER] = { "swap_after", OUT_NUM, 0, true,
			   "the members' Swap after, bytes" },
	[G_PROCESSES] = { "processes", OUT_NUM, 0, true, "members counted" },
	[G_ERROR] = { "error", OUT_STR, 0, true, "errno name, or null" },
};

/* A signed figure (a drop is negative when the cgroup grew); -1, unknown,
 * stays null. */
static void cell_ll(struct libscols_line *ln, size_t i, long long v)
{
	if (v != -1)
		out_fmt(ln, i, "%lld", v);
}

static void json_phase(const struct out_opts *oo, struct libscols_table *tb,
		       const char *cg, const struct cg_phase *ph)
{
	long long anon = drop(ph->before.anon, ph->after.anon),
		  file = drop(ph->before.file, ph->after.file),
		  swap = drop(ph->after.swap, ph->before.swap);
	struct libscols_line *ln = out_line(tb);

	out_str(oo, ln, G_PHASE, ph->name);
	out_str(oo, ln, G_CGROUP, cg);
	out_fmt(ln, G_ASKED, "%llu", ph->asked);
	cell_ll(ln, G_ANON_BEFORE, ph->before.anon);
	cell_ll(ln, G_FILE_BEFORE, ph->before.file);
	cell_ll(ln, G_ANON_RECLAIMED, anon);
	cell_ll(ln, G_FILE_RECLAIMED, file);
	cell_ll(ln, G_RECLAIMED, anon < 0 || file < 0 ? -1 : anon + file);
	cell_ll(ln, G_SWAP_ADDED, swap);
	out_fmt(ln, G_TIME_MS, "%.3f", ph->ms);
	cell_ll(ln, G_RSS_AFTER, ph->rss_kb < 0 ? -1 : ph->rss_kb * 1024);
	cell_ll(ln, G_SWAP_AFTER, ph->swap_kb < 0 ? -1 : ph->swap_kb * 1024);
	out_fmt(ln, G_PROCESSES, "%zu", ph->nprocs);
	out_str(oo, ln, G_ERROR, ph->error ? errno_name(ph->error) : NULL);
}

/* The document: its own keys are numbers and words of ours; the phases
 * go through libsmartcols. */
static void json_document(const struct cli_opts *o,
			  const struct cg_phase *const *ph, size_t n, int st)
{
	struct out_opts oo = { .json = true };
	struct libscols_table *tb = out_table(&oo, "phases");
	int sel[NGCOLS];
	size_t nsel;

	if (out_select(&oo, phase_cols, NGCOLS, sel, &nsel) < 0)
		exit(EXIT_USAGE);
	out_add_columns(tb, phase_cols, sel, nsel);
	for (size_t i = 0; i < n; i++)
		json_phase(&oo, tb, o->cgroup, ph[i]);
	printf("{\n   \"schema\": 2,\n   \"pmadvise\": \"%s\",\n"
	       "   \"command\": \"cgroup-reclaim\",\n   \"via\": \"%s\",\n"
	       "   \"swappiness\": ", PMADVISE_VERSION,
	       o->compare ? "compare" : "memory.reclaim");
	if (o->swappiness >= 0)
		printf("%d", o->swappiness);
	else
		fputs("null", stdout);
	out_json_table(stdout, tb);
	printf(",\n   \"exit_status\": %d\n}\n", st);
	scols_unref_table(tb);
}

static void human_ll(long long v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, v == -1 ? "?" : "-%s", "");
	if (v < 0)
		return;
	human_size((size_t)v, buf, len);
}

static void human_phase(const char *cg, const struct cg_phase *ph)
{
	long long anon = drop(ph->before.anon, ph->after.anon),
		  file = drop(ph->before.file, ph->after.file),
		  swap = drop(ph->after.swap, ph->before.swap);
	char a[32], r[32], an[32], fi[32], sw[32];

	human_size(ph->asked, a, sizeof(a));
	human_ll(anon < 0 || file < 0 ? -1 : anon + file, r, sizeof(r));
	human_ll(anon, an, sizeof(an));
	human_ll(file, fi, sizeof(fi));
	human_ll(swap, sw, sizeof(sw));
	printf("cgroup %s: memory.reclaim: %s asked, %s reclaimed (anon %s, "
	       "file %s), swap +%s, in %.1f ms\n", shown(cg), a, r, an, fi, sw,
	       ph->ms);
}

static int reclaim_status(const struct cli_opts *o, const struct cg_phase *ph)
{
	char a[32], r[32];
	long long got = drop(ph->before.anon, ph->after.anon) +
			drop(ph->before.file, ph->after.file);

	if (!ph->error)
		return EXIT_ALL_ADVISED;
	human_size(ph->asked, a, sizeof(a));
	human_ll(got, r, sizeof(r));
	if (ph->error == EAGAIN)
		fprintf(stderr, "%s: memory.reclaim of %s: the kernel could "
			"not reclaim %s (EAGAIN) after its retries; %s left "
			"the cgroup: the rest is not reclaimable now (no free "
			"swap for anonymous memory, pages locked, dirty or in "
			"use, or the cgroup holds less)\n", progname,
			shown(o->cgroup), a, r);
	else
		fprintf(stderr, "%s: memory.reclaim of %s: %s (%s)\n",
			progname, shown(o->cgroup), strerror(ph->error),
			errno_name(ph->error));
	return ph->error == EAGAIN ? EXIT_SOME_FAILED
	       : ph->error == EINTR ? EXIT_SIGNAL_BASE + cli_signal
				    : EXIT_SYSTEM;
}

static int run_reclaim_only(const struct cli_opts *o)
{
	struct cg_phase ph = { 0 };
	const struct cg_phase *phs[1] = { &ph };
	int st = phase_reclaim(o, o->max_bytes, &ph);

	if (st)
		return st;
	st = reclaim_status(o, &ph);
	if (o->out.json) {
		json_document(o, phs, 1, st);
	} else {
		human_phase(o->cgroup, &ph);
	}
	fflush(stdout);
	return st;
}

static void row(const char *what, long long a, long long b, bool bytes)
{
	char x[32], y[32];

	if (bytes) {
		human_ll(a, x, sizeof(x));
		human_ll(b, y, sizeof(y));
	} else {
		snprintf(x, sizeof(x), "%lld", a);
		snprintf(y, sizeof(y), "%lld", b);
	}
	printf("%-28s %16s %16s\n", what, x, y);
}

static void compare_table(const struct cg_phase *p, const struct cg_phase *r)
{
	char tp[32], tr[32];

	printf("%-28s %16s %16s\n", "", "PAGEOUT", "memory.reclaim");
	row("start: anon", p->before.anon, r->before.anon, true);
	row("start: file", p->before.file, r->before.file, true);
	row("bytes asked", (long long)p->asked, (long long)r->asked, true);
	row("anon reclaimed", drop(p->before.anon, p->after.anon),
	    drop(r->before.anon, r->after.anon), true);
	row("moved to swap", drop(p->after.swap, p->before.swap),
	    drop(r->after.swap, r->before.swap), true);
	row("file pages dropped", drop(p->before.file, p->after.file),
	    drop(r->before.file, r->after.file), true);
	snprintf(tp, sizeof(tp), "%.1f ms", p->ms);
	snprintf(tr, sizeof(tr), "%.1f ms", r->ms);
	printf("%-28s %16s %16s\n", "time", tp, tr);
	row("processes' Rss after", p->rss_kb < 0 ? -1 : p->rss_kb * 1024,
	    r->rss_kb < 0 ? -1 : r->rss_kb * 1024, true);
	row("processes' Swap after", p->swap_kb < 0 ? -1 : p->swap_kb * 1024,
	    r->swap_kb < 0 ? -1 : r->swap_kb * 1024, true);
}

/* The members' selected ranges faulted in (MADV_POPULATE_READ). */
static void populate(const struct cli_opts *o)
{
	int failed;

	advise_members(o, ADVICE_POPULATE_READ, &failed);
	if (failed)
		fprintf(stderr, "%s: --compare: %d process%s could not be "
			"faulted in (MADV_POPULATE_READ through the ptrace "
			"method): the two phases may start apart\n",
			progname, failed, failed == 1 ? "" : "es");
}

static int run_compare(const struct cli_opts *o)
{
	struct cg_phase pg = { 0 }, rc = { 0 };
	unsigned long long want;
	const struct cg_phase *phs[2] = { &pg, &rc };
	int fd, st;

	/* refuse before touching anything when memory.reclaim cannot work */
	fd = open_reclaim(o->cgroup);
	if (fd < 0)
		return -fd;
	st = o->swappiness >= 0 ? swappiness_check(fd, o->swappiness) : 0;
	close(fd);
	if (st)
		return st == -EINVAL ? EXIT_NOT_SUPPORTED : EXIT_SYSTEM;
	/* the same starting state for both: the selected ranges faulted
	 * in, before each phase; a stop signal ends the run between them,
	 * before memory.reclaim takes anything */
	populate(o);
	if (!cli_stopping())
		phase_pageout(o, &pg);
	if (!cli_stopping())
		populate(o);
	if (cli_stopping()) {
		fprintf(stderr, "%s: --compare: interrupted (%s) before "
			"memory.reclaim: no comparison\n", progname,
			strsignal(cli_signal));
		return EXIT_SIGNAL_BASE + cli_signal;
	}
	/* the bytes PAGEOUT took out of the cgroup, or what it advised */
	want = pg.asked;
	if (drop(pg.before.anon, pg.after.anon) +
		    drop(pg.before.file, pg.after.file) > 0)
		want = (unsigned long long)(drop(pg.before.anon,
						 pg.after.anon) +
					    drop(pg.before.file,
						 pg.after.file));
	want = want / page_size() * page_size();
	if (!want) {
		fprintf(stderr, "%s: --compare: PAGEOUT reclaimed nothing and "
			"advised nothing: no amount to ask memory.reclaim "
			"for\n", progname);
		return EXIT_SOME_FAILED;
	}
	st = phase_reclaim(o, want, &rc);
	if (st)
		return st;
	st = reclaim_status(o, &rc);
	if (pg.error)
		st = combine_status(st, EXIT_SOME_FAILED);
	if (o->out.json) {
		json_document(o, phs, 2, st);
	} else {
		printf("cgroup %s: per-process PAGEOUT, then memory.reclaim of "
		       "the bytes it reclaimed, from the same start\n",
		       shown(o->cgroup));
		compare_table(&pg, &rc);
	}
	fflush(stdout);
	return st;
}

const char *cgreclaim_check(const struct cli_opts *o)
{
	if (!o->via && !o->compare)
		return o->swappiness >= 0 ? "--swappiness goes with --via "
					    "memory.reclaim or --compare"
					  : NULL;
	if (!o->cgroup || o->npids)
		return "--via memory.reclaim and --compare work on a cgroup: "
		       "give --cgroup PATH and no PIDs";
	if (o->via && strcmp(o->via, "memory.reclaim"))
		return "--via: the only value is memory.reclaim";
	if (!o->compare && !o->max_bytes)
		return "--via memory.reclaim needs --max-bytes SIZE: how much "
		       "to reclaim";
	if (o->compare && !o->nranges && !o->select)
		return "--compare pages out VMAs first: say which with --anon, "
		       "--file, --shared or --all";
	if (o->dry_run || o->hold)
		return "--via memory.reclaim and --compare take neither "
		       "--dry-run nor --hold";
	if (o->via && (o->nranges || o->select))
		return "--via memory.reclaim reclaims from the whole cgroup: "
		       "it takes no VMA selection (--anon, --file, --range...)";
	if (o->out.columns || o->out.all || o->out.raw || o->out.noheadings)
		return "--via memory.reclaim and --compare print their own "
		       "report: -o, --output-all, -r and -n do not apply (-J "
		       "does)";
	return NULL;
}

int cgreclaim_usable(const char *cg)
{
	int fd = open_reclaim(cg);

	if (fd < 0)
		return -fd;
	close(fd);
	return 0;
}

int run_cgreclaim(const struct cli_opts *o)
{
	return o->compare ? run_compare(o) : run_reclaim_only(o);
}
