// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Budgets and pacing of the advise command: --max-bytes (the whole run),
 * --percent (each process's share of its chosen bytes), --time (the whole
 * run) and --rate (bytes per second, across processes and calls). Each
 * process's ranges go to pmadv_advise in calls whose opts.max_bytes is
 * the smallest budget left (a tenth of a second's worth under --rate),
 * resuming where the library says it stopped (res.next, res.next_off);
 * between calls, --rate sleeps until the next call is due (pace_charge).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pmadvise.h"

/* --rate's unit of work: each call advises at most this long's worth. */
#define PACE_QUANTUM_MS 100.0

void pace_init(struct pace *pc, const struct cli_opts *o)
{
	double t0 = now_ms();

	memset(pc, 0, sizeof(*pc));
	pc->left = o->max_bytes ? o->max_bytes : SIZE_MAX;
	pc->end = o->time_ms ? t0 + o->time_ms : 0;
	pc->rate = o->rate;
	pc->due = t0;
	if (o->rate) {
		pc->quantum = (size_t)((double)o->rate * PACE_QUANTUM_MS / 1e3) &
			      ~(page_size() - 1);
		if (pc->quantum < page_size())
			pc->quantum = page_size();
	}
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Sleeps until the next call is due at --rate, or --time's end comes
 * first; 0, or -ECANCELED when a signal stops pmadvise. */
static int pace_wait(const struct pace *pc)
{
	double due;

	if (!pc->rate)
		return 0;
	due = pc->due;
	if (pc->end && due > pc->end)
		due = pc->end;
	for (;;) {
		double now = now_ms(), left = due - now;
		struct timespec ts;

		if (cli_stopping() ||
		    __atomic_load_n(&cli_cancel, __ATOMIC_ACQUIRE))
			return -ECANCELED;
		if (left <= 0)
			return 0;
		ts.tv_sec = (time_t)(left / 1e3);
		ts.tv_nsec = (long)((left - ts.tv_sec * 1e3) * 1e6);
		nanosleep(&ts, NULL); /* a signal wakes it: checked above */
	}
}

/*
 * The next call is due when the bytes advised so far have had their time
 * at --rate, counted from when the previous call was due, or from a
 * tenth of a second ago if that is later: a run that fell behind (a slow
 * call, pmadvise stopped by SIGSTOP) catches up by one call's worth at
 * most, never in a burst.
 */
static void pace_charge(struct pace *pc, size_t bytes)
{
	double floor = now_ms() - PACE_QUANTUM_MS;

	if (!pc->rate)
		return;
	if (pc->due < floor)
		pc->due = floor;
	pc->due += (double)bytes * 1e3 / (double)pc->rate;
}

/* Adds one call's result (over the vector from element base) to the
 * process's. */
static void merge(struct pmadv_result *m, const struct pmadv_result *r,
		  size_t base)
{
	m->bytes += r->bytes;
	m->skipped += r->skipped;
	m->done += r->done;
	m->calls += r->calls;
	m->nfailed += r->nfailed;
	if (r->method)
		m->method = r->method;
	if (m->failed == SIZE_MAX && r->failed != SIZE_MAX) {
		m->failed = base + r->failed;
		m->error = r->error;
	}
}

/* Which budget ends the work now, if any. */
static const char *spent(const struct pace *pc, size_t proc_left)
{
	if (pc->end && now_ms() >= pc->end)
		return "time";
	if (pc->left < page_size())
		return "max_bytes";
	if (proc_left < page_size())
		return "percent";
	return NULL;
}

/* Moves *idx and work[*idx] to where a call that a budget stopped says
 * the work goes on (res.next, res.next_off). */
static void resume(struct iovec *work, size_t n, size_t *idx,
		   const struct pmadv_result *r)
{
	*idx += r->next;
	if (*idx < n) {
		work[*idx].iov_base = (char *)work[*idx].iov_base +
				      r->next_off;
		work[*idx].iov_len -= r->next_off;
	}
}

/* 0, or -ETIME / -EDQUOT with p->stopped when a budget ends the work. */
static int stop_now(const struct pace *pc, size_t proc_left,
		    struct proc_report *p)
{
	p->stopped = spent(pc, proc_left);
	if (!p->stopped)
		return 0;
	return !strcmp(p->stopped, "time") ? -ETIME : -EDQUOT;
}

ssize_t pace_advise(struct pace *pc, struct pmadv_target *t,
		    const struct cli_opts *o, struct proc_report *p,
		    struct pmadv_opts *opts)
{
	struct iovec *work = xcalloc(p->n, sizeof(*work));
	size_t idx = 0, proc_left = SIZE_MAX;
	ssize_t ret = 0;

	memcpy(work, p->iov, p->n * sizeof(*work));
	memset(&p->res, 0, sizeof(p->res));
	p->res.failed = SIZE_MAX;
	if (o->percent)
		proc_left = (size_t)((unsigned long long)p->bytes_total *
				     o->percent / 100) & ~(page_size() - 1);
	while (idx < p->n) {
		struct pmadv_result r;
		size_t budget = min_size(min_size(pc->left, proc_left),
					 pc->quantum ? pc->quantum : SIZE_MAX);

		/* before the wait, and after it: --time may have ended during
		 * it, and no call starts after that */
		ret = stop_now(pc, proc_left, p);
		if (!ret)
			ret = pace_wait(pc);
		if (!ret)
			ret = stop_now(pc, proc_left, p);
		if (ret < 0)
			break;
		opts->max_bytes = budget == SIZE_MAX ? 0 : budget;
		opts->deadline_ms = 0;
		if (pc->end)
			opts->deadline_ms = pc->end - now_ms() < 1
						    ? 1 : (int)(pc->end - now_ms());
		opts->errors = p->errors + idx;
		ret = pmadv_advise(t, work + idx, p->n - idx, o->advice, opts,
				   &r);
		merge(&p->res, &r, idx);
		pace_charge(pc, r.bytes);
		if (pc->left != SIZE_MAX)
			pc->left -= min_size(r.bytes, pc->left);
		if (proc_left != SIZE_MAX)
			proc_left -= min_size(r.bytes, proc_left);
		if (ret != -EDQUOT) {
			if (ret == -ETIME) {
				p->stopped = "time";
				resume(work, p->n, &idx, &r);
			}
			else if (ret < 0 && !p->res.error &&
				 p->res.failed == SIZE_MAX)
				p->res.error = (int)-ret;
			break;
		}
		/* a budget of this call: go on from where it stopped */
		resume(work, p->n, &idx, &r);
	}
	/* a budget ended the work inside a range: how much of it was done */
	if (p->stopped && idx < p->n &&
	    work[idx].iov_base != p->iov[idx].iov_base) {
		p->partial = idx;
		p->partial_bytes = (size_t)((char *)work[idx].iov_base -
					    (char *)p->iov[idx].iov_base);
	}
	free(work);
	/* --time and --max-bytes end the run, also when this process used
	 * up exactly what was left of them; --percent only this process */
	if (p->stopped && strcmp(p->stopped, "percent"))
		pc->stopped = p->stopped;
	else if (!pc->stopped)
		pc->stopped = spent(pc, SIZE_MAX);
	if (ret >= 0 || p->stopped || ret == -EDQUOT)
		return (ssize_t)p->res.bytes;
	return ret;
}
