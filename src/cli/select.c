// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which ranges of a target to advise: the --range list as given, or, with
 * --anon/--file/--shared/--all, the target's VMAs that match, enumerated by
 * the library (each --range then acts as a window). Enumerated ranges are
 * checked again after the advice, so that a VMA replaced meanwhile is
 * reported instead of silently counted as advised; --hold keeps the target
 * still from enumeration to the end of the advice so that none is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmadvise.h"

static int ranges_as_given(const struct cli_opts *o, struct proc_report *p)
{
	p->iov = xcalloc(o->nranges, sizeof(struct iovec));
	for (size_t i = 0; i < o->nranges; i++) {
		p->iov[i].iov_base = (void *)o->ranges[i].start;
		p->iov[i].iov_len = o->ranges[i].len;
		p->bytes_total += o->ranges[i].len;
	}
	p->n = o->nranges;
	return 0;
}

struct sel_state {
	struct pmadv_hold *hold;
	struct pmadv_vma_iter **its; /* one per window, kept for recheck */
	size_t nits;
};

static void filter_for(const struct cli_opts *o, struct pmadv_filter *f)
{
	/* --all is every class but the kernel's special mappings, which
	 * no advice is for. */
	if (o->select & SEL_ALL)
		f->match_any = PMADV_VMA_ANON | PMADV_VMA_FILE |
			       PMADV_VMA_SHARED;
	if (o->select & SEL_ANON)
		f->match_any |= PMADV_VMA_ANON;
	if (o->select & SEL_FILE)
		f->match_any |= PMADV_VMA_FILE;
	if (o->select & SEL_SHARED)
		f->match_any |= PMADV_VMA_SHARED;
	/* The kernel answers EINVAL for the whole call on these: leaving
	 * them out keeps one locked page from failing a process. For
	 * collapse, so does a VMA under MADV_NOHUGEPAGE. */
	if (o->advice == ADVICE_COLD || o->advice == ADVICE_PAGEOUT)
		f->match_none |= PMADV_VMA_UNADVISABLE;
	if (o->advice == ADVICE_COLLAPSE)
		f->match_none |= PMADV_VMA_UNADVISABLE | PMADV_VMA_NOHUGEPAGE;
	/* Populating memory that cannot be read (written) fails, and would
	 * fail the rest of a merged range with it: a PROT_NONE guard, or
	 * an arena's reservation, beside its rw memory. */
	if (o->advice == ADVICE_POPULATE_READ)
		f->match_all |= PMADV_VMA_READ;
	if (o->advice == ADVICE_POPULATE_WRITE)
		f->match_all |= PMADV_VMA_WRITE;
	/* Paging out MAP_DROPPABLE memory drops its data: only with
	 * --force, the flag for advice that can lose data. */
	if (o->advice == ADVICE_PAGEOUT && !(o->flags & PMADV_F_DESTRUCTIVE))
		f->match_none |= PMADV_VMA_DROPPABLE;
	f->min_size = o->min_size;
}

/* Appends the ranges of one window to p->iov, growing it as needed. */
static int fill_window(struct pmadv_vma_iter *it, struct proc_report *p,
		       size_t *cap)
{
	for (;;) {
		ssize_t got;

		if (*cap - p->n < 256) {
			*cap = *cap ? *cap * 2 : 256;
			p->iov = xreallocarray(p->iov, *cap,
					       sizeof(struct iovec));
		}
		got = pmadv_vma_fill(it, p->iov + p->n, *cap - p->n);
		if (got < 0)
			return (int)got;
		if (got == 0)
			return 0;
		for (ssize_t i = 0; i < got; i++)
			p->bytes_total += p->iov[p->n + (size_t)i].iov_len;
		p->n += (size_t)got;
	}
}

static int open_window(struct pmadv_target *t, const struct cli_opts *o,
		       size_t w, struct sel_state *st, struct proc_report *p,
		       size_t *cap)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct pmadv_vma_iter *it;
	int ret;

	filter_for(o, &f);
	if (o->nranges) {
		f.start = o->ranges[w].start;
		f.end = o->ranges[w].start + o->ranges[w].len;
	}
	/* collapse keeps each VMA's own whole huge pages: no merging */
	ret = pmadv_vma_open(t, &f, PMADV_VMA_F_RECORD |
			     (o->advice == ADVICE_COLLAPSE ? PMADV_VMA_F_NOMERGE
							   : 0), &it);
	if (ret < 0)
		return ret;
	st->its[st->nits++] = it;
	return fill_window(it, p, cap);
}

/* A ptrace hold makes us the target's tracer, which the ptrace rung
 * needs to be itself: when only that rung may work (--method, or
 * PMADV_METHODS narrowing it), or the rungs before it would all refuse
 * (no CAP_SYS_NICE, no module), hold with SIGSTOP. */
static unsigned int hold_flags(struct pmadv_target *t,
			       const struct cli_opts *o)
{
	unsigned int m = effective_methods(o->methods);

	if (!(m & PMADV_METHOD_PTRACE))
		return 0;
	if (m == PMADV_METHOD_PTRACE)
		return PMADV_HOLD_SIGSTOP;
	for (unsigned int r = 1; r < PMADV_METHOD_PTRACE; r <<= 1)
		if ((m & r) && pmadv_diagnose(t, o->advice, r, NULL, 0) == 0)
			return 0;
	/* no rung can serve: the ptrace hold's refusal says why */
	if (pmadv_diagnose(t, o->advice, PMADV_METHOD_PTRACE, NULL, 0) < 0)
		return 0;
	return PMADV_HOLD_SIGSTOP;
}

/* SIGSTOP refused: the ptrace rung must trace the target itself, so the
 * hold can only stop it, and stopping another user's process needs
 * CAP_KILL. The cause, in p->message. */
static void explain_sigstop_refused(struct proc_report *p)
{
	snprintf(p->message, sizeof(p->message),
		 "no permission to hold PID %d: only the ptrace rung can "
		 "advise it here, and it must be its tracer itself, so --hold "
		 "stops it with SIGSTOP instead of tracing it; sending a "
		 "signal to another user's process needs CAP_KILL (or the "
		 "same uid). Give pmadvise CAP_KILL, or run it without --hold",
		 (int)p->pid);
}

/* pmadv_release's answer: -ETIMEDOUT when the hold's lease had ended. */
static int release_state(struct sel_state *st)
{
	int ret = 0;

	for (size_t i = 0; i < st->nits; i++)
		pmadv_vma_close(st->its[i]);
	if (st->hold)
		ret = pmadv_release(st->hold);
	free(st->its);
	free(st);
	return ret;
}

/* An explicit range over MAP_DROPPABLE memory, for PAGEOUT without
 * --force: -EPERM with the reason in p->message, as the library refuses
 * destructive advice without the flag. */
static int refuse_droppable(struct pmadv_target *t, const struct cli_opts *o,
			    struct proc_report *p)
{
	if (o->advice != ADVICE_PAGEOUT || (o->flags & PMADV_F_DESTRUCTIVE))
		return 0;
	for (size_t i = 0; i < o->nranges; i++) {
		struct pmadv_filter f = PMADV_FILTER_INIT;
		struct iovec *iov = NULL;
		ssize_t n;

		f.match_all = PMADV_VMA_DROPPABLE;
		f.start = o->ranges[i].start & ~(uintptr_t)4095;
		f.end = (o->ranges[i].start + o->ranges[i].len + 4095) &
			~(uintptr_t)4095;
		n = pmadv_vma_ranges(t, &f, 0, &iov);
		free(iov);
		if (n > 0) {
			snprintf(p->message, sizeof(p->message),
				 "range %#lx+%zu covers MAP_DROPPABLE memory, "
				 "whose contents pageout drops: refused "
				 "without --force",
				 (unsigned long)o->ranges[i].start,
				 o->ranges[i].len);
			return -EPERM;
		}
	}
	return 0;
}

/* The PMD size a huge page takes (2 MiB on x86_64 and 4 KiB-page arm64),
 * from sysfs; 2 MiB where the file is missing (THP compiled out). */
static uint64_t pmd_size(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
			"re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v && !(v & (v - 1)) ? v : 2u << 20;
}

/* MADV_COLLAPSE works on whole aligned PMDs and answers 0 for a range
 * that holds none: each enumerated range keeps only its aligned interior,
 * and one smaller than that is left out, so that what is reported as
 * advised could be collapsed. */
static void collapse_interiors(struct proc_report *p)
{
	uint64_t pmd = pmd_size();
	size_t k = 0;

	p->bytes_total = 0;
	for (size_t i = 0; i < p->n; i++) {
		uint64_t s = (uintptr_t)p->iov[i].iov_base;
		uint64_t e = s + p->iov[i].iov_len;

		s = (s + pmd - 1) & ~(pmd - 1);
		e &= ~(pmd - 1);
		if (s >= e)
			continue;
		p->iov[k].iov_base = (void *)(uintptr_t)s;
		p->iov[k].iov_len = (size_t)(e - s);
		p->bytes_total += e - s;
		k++;
	}
	p->n = k;
}

int select_ranges(struct pmadv_target *t, const struct cli_opts *o,
		  struct proc_report *p)
{
	size_t windows = o->nranges ? o->nranges : 1, cap = 0;
	struct sel_state *st;
	int ret = 0;

	if (!o->select && (ret = refuse_droppable(t, o, p)) < 0)
		return ret;
	if (!o->select && !o->hold)
		return ranges_as_given(o, p);
	st = xcalloc(1, sizeof(*st));
	st->its = xcalloc(windows, sizeof(*st->its));
	if (o->hold) {
		/* A target that SIGSTOP stops here runs again if a signal ends
		 * pmadvise before the release: the hold's watchdog sees
		 * pmadvise gone (signals.c). */
		unsigned int hf = hold_flags(t, o);

		/* --timeout bounds the time spent on the process, and so the
		 * hold, whatever becomes of pmadvise meanwhile (stopped by
		 * SIGSTOP, say): the library's helper lets go at its end. */
		if (o->timeout_ms > 0)
			hf |= PMADV_HOLD_LEASE;
		p->hold_at = now_ms();
		ret = pmadv_hold(t, hf, o->timeout_ms, &st->hold);
		if (ret < 0) {
			p->hold_failed = true;
			if (ret == -EPERM && (hf & PMADV_HOLD_SIGSTOP))
				explain_sigstop_refused(p);
			goto fail;
		}
	}
	if (!o->select)
		ret = ranges_as_given(o, p);
	for (size_t w = 0; o->select && w < windows && ret == 0; w++)
		ret = open_window(t, o, w, st, p, &cap);
	if (ret < 0)
		goto fail;
	if (o->select && o->advice == ADVICE_COLLAPSE)
		collapse_interiors(p);
	p->sel = st;
	return 0;
fail:
	release_state(st);
	free(p->iov);
	p->iov = NULL;
	p->n = 0;
	p->bytes_total = 0;
	return ret;
}

static void record_changes(struct sel_state *st, struct proc_report *p)
{
	struct pmadv_vma_change ch[64];
	size_t cap = 0;

	for (size_t i = 0; i < st->nits; i++) {
		ssize_t got = pmadv_vma_recheck(st->its[i], ch, 64);

		/* More than 64 changes in one window: the first 64 tell the
		 * story; the count is not worth a second pass. */
		if (got > 64)
			got = 64;
		for (ssize_t k = 0; k < got; k++) {
			if (p->nchanged == cap) {
				cap = cap ? cap * 2 : 16;
				p->changed = xreallocarray(p->changed, cap,
							   sizeof(*p->changed));
			}
			p->changed[p->nchanged].start = ch[k].start;
			p->changed[p->nchanged].end = ch[k].end;
			p->changed[p->nchanged].what = ch[k].what;
			p->nchanged++;
		}
	}
}

void select_finish(struct pmadv_target *t, const struct cli_opts *o,
		   struct proc_report *p)
{
	struct sel_state *st = p->sel;

	(void)t;
	if (!st)
		return;
	if (!o->dry_run)
		record_changes(st, p);
	p->hold_expired = release_state(st) == -ETIMEDOUT;
	p->sel = NULL;
}
