// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The advise command: for every target process, choose the ranges, advise
 * them through pmadv_advise, measure Rss/Swap around it, and turn the
 * library's result into a report and an exit status. Each process is
 * handled on its own: one that fails or vanishes never stops the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pmadvise.h"

/* Errors that concern the whole process rather than one range. */
static bool process_level(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
	case ESRCH:
	case ENOSYS:
	case ETIMEDOUT:
	case ECANCELED:
	case EBADF:
		return true;
	default:
		return false;
	}
}

/* After a failure: "partial" only when something was advised. A range
 * over a hole fails with nothing advised, with or without --continue. */
static enum proc_status status_after_failure(const struct proc_report *p)
{
	return p->res.done || p->res.bytes ? PROC_PARTIAL : PROC_FAILED;
}

static void fail_process(struct proc_report *p, struct pmadv_target *t,
			 const struct cli_opts *o, int err)
{
	/* SIGALRM of --timeout ends the library's work with ECANCELED (the
	 * cancel flag) or, in a wait of the hold, EINTR. */
	if (cli_timed_out && (err == ECANCELED || err == EINTR))
		err = ETIMEDOUT;
	p->error = err;
	/* a refusal of our own (select.c) has said why already */
	if (p->message[0])
		p->exit_class = exit_class_of(err);
	else
		p->exit_class = explain_target_error(t, p->pid, o->advice,
						     o->methods, err,
						     p->hold_failed,
						     p->message,
						     sizeof(p->message));
	p->status = status_after_failure(p);
}

static void first_range_failure(struct proc_report *p)
{
	size_t k = p->res.failed;
	char sz[32];

	if (k >= p->n)
		return;
	human_size(p->iov[k].iov_len, sz, sizeof(sz));
	snprintf(p->message, sizeof(p->message),
		 "PID %d: range %#lx-%#lx (%s) failed: %s: %s%s",
		 (int)p->pid, (unsigned long)(uintptr_t)p->iov[k].iov_base,
		 (unsigned long)((uintptr_t)p->iov[k].iov_base +
				 p->iov[k].iov_len),
		 sz, errno_name(p->res.error),
		 range_reason(p->res.error, p->advice),
		 p->res.nfailed > 1 ? " (and others, listed below)" : "");
}

/* Turns pmadv_advise's answer into the report's status and message. */
static void judge_result(struct proc_report *p, struct pmadv_target *t,
			 const struct cli_opts *o, ssize_t ret)
{
	int err;

	if (ret >= 0) {
		p->status = p->res.nfailed ? status_after_failure(p) : PROC_OK;
		p->exit_class = p->res.nfailed ? EXIT_SOME_FAILED
					       : EXIT_ALL_ADVISED;
		if (p->res.nfailed)
			first_range_failure(p);
		return;
	}
	err = (int)-ret;
	if (cli_timed_out && (err == ECANCELED || err == EINTR))
		err = ETIMEDOUT;
	if (process_level(err) || p->res.failed >= p->n) {
		fail_process(p, t, o, err);
		return;
	}
	p->error = err;
	p->status = status_after_failure(p);
	p->exit_class = EXIT_SOME_FAILED;
	first_range_failure(p);
}

/* --hold's lease and --timeout's own alarm end together: the advice a
 * timeout cuts ends a moment after the lease, with the call in progress
 * (a tenth of a second's worth under --rate). Within this, it is
 * --timeout's usual report; later, pmadvise was held up past its
 * --timeout (stopped, a slow call) and the target ran meanwhile. */
#define HOLD_LATE_MS 100

/* --hold's lease (--timeout) ended well before the advice (or the
 * listing) did, at done_at: the target ran again meanwhile, whatever the
 * advice answered. A timeout, as --timeout's own. */
static void judge_hold(struct proc_report *p, const struct cli_opts *o,
		       double done_at)
{
	char sz[32];

	/* hold_at is taken before the library's clock starts the lease */
	if (!p->hold_expired ||
	    done_at < p->hold_at + o->timeout_ms + HOLD_LATE_MS)
		return;
	human_size(p->res.bytes, sz, sizeof(sz));
	p->error = ETIMEDOUT;
	p->exit_class = EXIT_TIMEOUT;
	p->status = status_after_failure(p);
	snprintf(p->message, sizeof(p->message),
		 "the hold of PID %d expired after %d ms (--timeout); the "
		 "target ran again before the %s ended (%s%s)", (int)p->pid,
		 o->timeout_ms, o->dry_run ? "listing" : "advice",
		 p->res.bytes ? sz : "nothing advised",
		 p->res.bytes ? " advised, which stays advised" : "");
}

static ssize_t advise_ranges(struct pmadv_target *t,
			     const struct cli_opts *o, struct proc_report *p,
			     struct pace *pc)
{
	struct pmadv_opts opts = PMADV_OPTS_INIT;
	ssize_t ret;
	double t0;

	p->errors = xcalloc(p->n, sizeof(int));
	for (size_t i = 0; i < p->n; i++)
		p->errors[i] = -1;
	opts.flags = o->flags;
	opts.methods = o->methods;
	opts.errors = p->errors;
	opts.cancel = &cli_cancel;
	opts.timeout_ms = o->timeout_ms;
	t0 = now_ms();
	ret = pace_advise(pc, t, o, p, &opts);
	p->ms = now_ms() - t0;
	p->attempted = true;
	return ret;
}

static bool exec_meanwhile(const struct proc_report *p);

/* PAGEOUT reported as done that left the advised ranges as resident as
 * they were: say so, and why it may be, since the library cannot tell
 * (the kernel accepts the advice and skips what it may not reclaim). */
static void note_effect(struct proc_report *p)
{
	const struct pmadv_residency *b = &p->res_before, *a = &p->res_after;

	/* under a budget the figures cover all the chosen ranges, of
	 * which only a part was advised: they cannot say */
	if (p->advice != ADVICE_PAGEOUT || !p->res.bytes || p->stopped ||
	    p->res_before_err || p->res_after_err || !b->resident ||
	    a->resident < b->resident)
		return;
	if (p->res.method == PMADV_METHOD_PTRACE)
		snprintf(p->note, sizeof(p->note), "pageout was given by the "
			 "target itself (ptrace method) and none of the "
			 "advised ranges' resident memory left it: the kernel "
			 "pages file memory out only for a process that owns "
			 "the file or may write to it, and checks the "
			 "target's rights here, not ours");
	else
		snprintf(p->note, sizeof(p->note), "none of the advised "
			 "ranges' resident memory left it: anonymous memory "
			 "needs free swap, file memory a caller that owns the "
			 "file or may write to it, and pages shared with other "
			 "processes stay");
}

/* One process: t is its handle when the caller opened it (a --cgroup
 * member), NULL to open PID here; it is closed either way. */
static void process_one(const struct cli_opts *o, pid_t pid,
			struct pmadv_target *t, struct proc_report *p,
			struct pace *pc)
{
	ssize_t ret = 0;
	double done_at;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->advice = o->advice;
	p->res.failed = SIZE_MAX;
	p->before.rss = p->before.swap = -1;
	p->after = p->before;
	p->res_before_err = p->res_after_err = ENODATA; /* not measured */
	read_comm(pid, p->comm, sizeof(p->comm));
	if (!t)
		ret = pmadv_open(pid, 0, &t);
	if (ret == -EINVAL && read_tgid(pid) > 0 && read_tgid(pid) != pid) {
		/* an ID from top -H or cgroup.threads */
		snprintf(p->message, sizeof(p->message),
			 "TID %d is a thread of PID %d: give the process ID",
			 (int)pid, (int)read_tgid(pid));
		fail_process(p, NULL, o, EINVAL);
		p->exit_class = EXIT_USAGE;
		return;
	}
	if (ret < 0) {
		fail_process(p, NULL, o, (int)-ret);
		return;
	}
	read_exec_id(pid, &p->exec);
	read_mem(pid, &p->before);
	deadline_arm(o->timeout_ms);
	ret = select_ranges(t, o, p);
	if (ret < 0) {
		deadline_disarm();
		fail_process(p, t, o, (int)-ret);
		goto out;
	}
	p->res_before_err = -pmadv_residency(t, p->iov, p->n, &p->res_before,
					     sizeof(p->res_before));
	if (o->dry_run) {
		done_at = now_ms();
		select_finish(t, o, p);
		deadline_disarm();
		p->status = PROC_OK;
		judge_hold(p, o, done_at);
		goto out;
	}
	ret = advise_ranges(t, o, p, pc);
	done_at = now_ms();
	select_finish(t, o, p);
	deadline_disarm();
	read_mem(pid, &p->after);
	p->res_after_err = -pmadv_residency(t, p->iov, p->n, &p->res_after,
					    sizeof(p->res_after));
	judge_result(p, t, o, ret);
	judge_hold(p, o, done_at);
	note_effect(p);
out:
	p->exec_seen = exec_meanwhile(p);
	pmadv_close(t);
}

/* Whether pid is in a state an execve runs in. */
static bool running(pid_t pid)
{
	char c = read_state(pid);

	return c && strchr("RSD", c);
}

/* Whether a request that did not go to plan met an execve: the ranges
 * were chosen in one program and advised in the next, or the kernel
 * answered for a process between two programs (EPERM, ESRCH, ENOEXEC). */
static bool exec_meanwhile(const struct proc_report *p)
{
	struct exec_id now;
	int ret;

	if (p->status == PROC_OK && !p->nchanged)
		return false;
	/* No memory map to read (ESRCH): a process on its way out, or one
	 * inside an execve, whose new map has no stack and arguments yet:
	 * look again while it runs (100 ms at most). */
	for (int i = 0; (ret = read_exec_id(p->pid, &now)) == -ESRCH &&
			i < 100 && running(p->pid);
	     i++)
		usleep(1000);
	if (ret < 0)
		return false; /* gone: what failed says so */
	return !same_program(&p->exec, &now);
}

static void free_report(struct proc_report *p)
{
	free(p->iov);
	free(p->errors);
	free(p->changed);
}

/* One process, asked once more if it ran execve meanwhile; a second
 * execve is reported as such, exit class 8. */
static void process_target(const struct cli_opts *o, pid_t pid,
			   struct pmadv_target *t, struct proc_report *p,
			   struct pace *pc)
{
	char was[4 * sizeof(p->comm)], now[4 * sizeof(p->comm)];

	process_one(o, pid, t, p, pc);
	if (!p->exec_seen)
		return;
	human_str(was, sizeof(was), p->comm);
	free_report(p);
	process_one(o, pid, NULL, p, pc);
	human_str(now, sizeof(now), p->comm);
	fprintf(stderr, "%s: PID %d (%s) ran execve (now %s) during the "
		"request: asked again\n", progname, (int)pid, was, now);
	if (!p->exec_seen)
		return;
	/* Whatever the kernel answered, the cause is the execve, and the
	 * program that runs now was not advised: EAGAIN, try again. */
	snprintf(p->message, sizeof(p->message), "PID %d ran execve during "
		 "the request, twice (now %s): its memory map changed under "
		 "it%s. Try again when it has settled, or hold it with --hold",
		 (int)pid, now, p->res.bytes ? "; what was advised was "
		 "the old program's" : "; nothing advised");
	p->error = EAGAIN;
	p->status = status_after_failure(p);
	p->exit_class = EXIT_TARGET_BUSY;
}

#define CLI_CGROUP_BUF (1u << 20)

/* Whether pid is one of the PIDs given on the command line. */
static bool given(const struct cli_opts *o, pid_t pid)
{
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i] == pid)
			return true;
	return false;
}

/* The members of --cgroup, as handles from the library's iterator (which
 * checks each is still a member once opened), appended to *pids and *ts. */
static int collect_cgroup(const struct cli_opts *o, pid_t **pids,
			  struct pmadv_target ***ts, size_t *n)
{
	struct pmadv_cgroup_stats st = { 0 };
	struct pmadv_cgroup *cg;
	struct rlimit rl;
	struct pmadv_target *t;
	char cg_h[4 * 4096];
	size_t cap = *n;
	int ret;

	human_str(cg_h, sizeof(cg_h), o->cgroup);
	/* Every member's handle (a pidfd) stays open until it is advised:
	 * a cgroup of thousands needs more than the usual 1024 files. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* a thread list (v1 tasks) remembers each process returned: room
	 * for 262,000 of them */
	ret = pmadv_cgroup_open(o->cgroup, CLI_CGROUP_BUF, 0, &cg);
	if (ret < 0) {
		fprintf(stderr, "%s: --cgroup %s: cannot list its processes: "
			"%s (%s)%s%s; no process advised\n", progname, cg_h,
			strerror(-ret), errno_name(-ret),
			ret == -EMEDIUMTYPE ? ": not a cgroup directory" : "",
			ret == -EXDEV ? ": " PROC_FOREIGN : "");
		return ret == -ENOENT || ret == -ENOTDIR ||
		       ret == -EMEDIUMTYPE ? EXIT_USAGE : EXIT_SYSTEM;
	}
	while ((ret = pmadv_cgroup_next(cg, &t)) > 0) {
		if (given(o, pmadv_target_pid(t))) {
			/* also named on the command line: advised once */
			pmadv_close(t);
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*pids = xreallocarray(*pids, cap, sizeof(pid_t));
			*ts = xreallocarray(*ts, cap, sizeof(*ts));
		}
		(*pids)[*n] = pmadv_target_pid(t);
		(*ts)[(*n)++] = t;
	}
	pmadv_cgroup_stats(cg, &st, sizeof(st));
	pmadv_cgroup_close(cg);
	if ((ret == -EMFILE || ret == -ENFILE) && *n > o->npids) {
		/* every member's handle stays open until it is advised:
		 * advise those listed so far rather than none */
		getrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "%s: --cgroup %s: out of file descriptors "
			"after %zu of its processes (%s; the limit is %llu): "
			"those are advised, the rest are not reached; raise "
			"the limit (ulimit -n) to reach them all\n", progname,
			cg_h, *n - o->npids, errno_name(-ret),
			(unsigned long long)rl.rlim_cur);
		return -1;
	}
	if (ret < 0) {
		fprintf(stderr, "%s: --cgroup %s: listing its processes "
			"failed after %zu: %s (%s); no process advised\n",
			progname, cg_h, st.listed, strerror(-ret),
			errno_name(-ret));
		return EXIT_SYSTEM;
	}
	if (st.source == PMADV_CGROUP_SRC_THREADS ||
	    st.source == PMADV_CGROUP_SRC_TASKS)
		fprintf(stderr, "%s: %s %s: its %zu thread%s belong%s to "
			"%zu process%s, each advised whole\n", progname, cg_h,
			st.source == PMADV_CGROUP_SRC_THREADS
				? "is a threaded cgroup (its cgroup.procs "
				  "cannot be read)"
				: "is a cgroup v1 directory (tasks lists "
				  "threads)",
			st.listed, st.listed == 1 ? "" : "s",
			st.listed == 1 ? "s" : "", st.returned,
			st.returned == 1 ? "" : "es");
	return 0;
}

/* Every PID given plus, with --cgroup, the members of the cgroup; *ts
 * holds their handles (NULL for a PID given, opened later). */
static int collect_targets(const struct cli_opts *o, pid_t **pids,
			   struct pmadv_target ***ts, size_t *n)
{
	int ret = 0;

	*n = o->npids;
	*pids = xcalloc(*n + 1, sizeof(pid_t));
	*ts = xcalloc(*n + 1, sizeof(**ts));
	if (o->npids)
		memcpy(*pids, o->pids, o->npids * sizeof(pid_t));
	if (o->cgroup)
		ret = collect_cgroup(o, pids, ts, n);
	if (ret < 0) /* a part of the cgroup: go on with it */
		return ret;
	if (ret) {
		for (size_t i = 0; i < *n; i++)
			pmadv_close((*ts)[i]);
		free(*pids);
		free(*ts);
	}
	return ret;
}

int combine_status(int status, int cls)
{
	if (cls == EXIT_ALL_ADVISED)
		return status;
	if (status == EXIT_ALL_ADVISED || status == cls)
		return cls;
	return EXIT_SOME_FAILED;
}

int run_advise(const struct cli_opts *o)
{
	struct report_state *rs;
	struct pace pc;
	int status = EXIT_ALL_ADVISED, ret;
	struct pmadv_target **ts;
	pid_t *pids;
	size_t n, i;

	ret = collect_targets(o, &pids, &ts, &n);
	if (ret > 0)
		return ret;
	if (ret < 0) /* only a part of the cgroup could be opened */
		status = EXIT_SOME_FAILED;
	if (!n) {
		char cg_h[4 * 4096];

		human_str(cg_h, sizeof(cg_h), o->cgroup);
		fprintf(stderr, "%s: cgroup %s has no processes\n", progname,
			cg_h);
	}
	rs = report_begin(o, n);
	pace_init(&pc, o);
	for (i = 0; i < n && !cli_stopping() && !pc.stopped; i++) {
		struct proc_report p;

		report_progress(rs, i, pids[i]);
		process_target(o, pids[i], ts[i], &p, &pc);
		ts[i] = NULL;
		report_process(rs, &p);
		status = combine_status(status, p.exit_class);
		free_report(&p);
	}
	report_budget(rs, pc.stopped, n - i);
	for (; i < n; i++)
		pmadv_close(ts[i]);
	free(pids);
	free(ts);
	signals_grace_disarm();
	if (cli_stopping())
		status = EXIT_SIGNAL_BASE + cli_signal;
	return report_end(rs, status);
}
