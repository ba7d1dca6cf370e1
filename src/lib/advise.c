// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_advise: validation, the climb down the ladder, batching at IOV_MAX
 * and MAX_RW_COUNT, and the mapping of short counts to the element that
 * failed. Allocation-free: batches are slices of the caller's vector, or a
 * single on-stack chunk of an element too large for one call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errnos.h"
#include "internal.h"

/* EINTR/EAGAIN retries without progress before the element counts as
 * failed: a bound, so a target that keeps answering EAGAIN cannot hang us. */
#define MAX_RETRIES 64

/* The fields a caller built against the first version sets. */
#define OPTS_MIN_SIZE (offsetof(struct pmadv_opts, timeout_ms) + sizeof(int))
/* The end of the last field this version knows: the trailing padding
 * after it is where a later version's field may go, so it is checked. */
#define OPTS_KNOWN_END PMADV_FIELDS_END(struct pmadv_opts, deadline_ms)
/* Whether a caller's opts hold a field added later (0.2's budgets). */
#define OPTS_HAS(o, field) \
	((o)->size >= offsetof(struct pmadv_opts, field) + sizeof((o)->field))

struct run {
	struct pmadv_call call;
	const struct pmadv_rung *rung;
	const struct iovec *iov;
	size_t vlen;
	int *errors;
	struct pmadv_result r;
	size_t idx; /* next element */
	size_t off; /* bytes of iov[idx] already advised */
	bool first; /* no call of this rung has returned yet */
	/* budgets (opts 0.2+): 0 when none */
	bool budgeted;   /* max_bytes applies (it may round down to 0) */
	size_t max_bytes, batch_bytes;
	double deadline; /* CLOCK_MONOTONIC ms */
	/* What the budgets are charged with: the whole pages the kernel may
	 * have acted on, not the lengths as given (it advises a one-byte
	 * element's whole page). Everything before (chg_idx, chg_off) has
	 * been charged to spent, so a retried part is charged once. */
	size_t spent;
	size_t chg_idx, chg_off;
	size_t issued_end; /* bytes of iov[idx] the last call was handed */
};

static int check_opts(const struct pmadv_opts *o)
{
	if (!pmadv_struct_in_ok(o, o->size, OPTS_MIN_SIZE, OPTS_KNOWN_END))
		return -EINVAL;
	if (o->flags & ~(PMADV_F_CONTINUE | PMADV_F_DESTRUCTIVE |
			 PMADV_F_SKIP_UNMAPPED))
		return -EINVAL;
	if (o->methods & ~PMADV_METHOD_ALL)
		return -EINVAL;
	if (o->timeout_ms < 0)
		return -EINVAL;
	if (OPTS_HAS(o, deadline_ms) && o->deadline_ms < 0)
		return -EINVAL;
	return 0;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The budgets of a caller's opts, as far as its size holds them. */
static void take_budgets(struct run *s, const struct pmadv_opts *o)
{
	size_t page = pmadv_page_size();

	if (OPTS_HAS(o, max_bytes) && o->max_bytes) {
		s->budgeted = true;
		s->max_bytes = o->max_bytes & ~(page - 1);
	}
	if (OPTS_HAS(o, batch_bytes) && o->batch_bytes)
		s->batch_bytes = o->batch_bytes < page
					 ? page : o->batch_bytes & ~(page - 1);
	if (OPTS_HAS(o, deadline_ms) && o->deadline_ms)
		s->deadline = mono_ms() + o->deadline_ms;
}

static size_t page_span(size_t len)
{
	size_t page = pmadv_page_size();

	return len > SIZE_MAX - (page - 1) ? SIZE_MAX
					   : (len + page - 1) & ~(page - 1);
}

/* The pages one call may touch now: batch_bytes, and what is left of
 * max_bytes, in whole pages; SIZE_MAX when neither applies. 0: the byte
 * budget is spent. */
static size_t span_cap(const struct run *s)
{
	size_t cap = SIZE_MAX;

	if (s->batch_bytes)
		cap = s->batch_bytes;
	if (s->budgeted) {
		size_t left = s->spent < s->max_bytes
				      ? s->max_bytes - s->spent : 0;

		left &= ~(pmadv_page_size() - 1);
		if (left < cap)
			cap = left;
	}
	return cap;
}

/* Bytes of one piece of an element a call may carry: MAX_RW_COUNT (the
 * kernel's limit on the lengths) and span_cap, a page multiple. */
static size_t batch_cap(const struct run *s)
{
	size_t cap = pmadv_max_rw_count(), span = span_cap(s);

	return span < cap ? span : cap;
}

/* Charges the budgets with the pages of the vector from the last charged
 * point up to (idx, off): the elements before idx in full, iov[idx] up to
 * off, each element's pages counted on their own. */
static void charge_to(struct run *s, size_t idx, size_t off)
{
	while (s->chg_idx < idx && s->chg_idx < s->vlen) {
		size_t len = s->iov[s->chg_idx].iov_len;

		s->spent += page_span(len) - page_span(s->chg_off);
		s->chg_idx++;
		s->chg_off = 0;
	}
	if (s->chg_idx == idx && idx < s->vlen && off > s->chg_off) {
		s->spent += page_span(off) - page_span(s->chg_off);
		s->chg_off = off;
	}
}

/* Before a batch: a budget reached ends the request (EDQUOT, ETIME). */
static int budget_reached(const struct run *s)
{
	if (s->budgeted && !span_cap(s))
		return EDQUOT;
	if (s->deadline && mono_ms() >= s->deadline)
		return ETIME;
	return 0;
}

ssize_t pmadv_check_vector(const struct iovec *iov, size_t vlen)
{
	size_t page = pmadv_page_size();

	for (size_t i = 0; i < vlen; i++) {
		uintptr_t base = (uintptr_t)iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (!len)
			continue;
		if (base & (page - 1))
			return (ssize_t)i;
		/* base + len rounded up to a page must not wrap. */
		if (len > SIZE_MAX - (page - 1) ||
		    base > UINTPTR_MAX - ((len + page - 1) & ~(page - 1)))
			return (ssize_t)i;
	}
	return -1;
}

ssize_t pmadv_beyond_user(const struct iovec *iov, size_t vlen)
{
	uint64_t end = pmadv_user_end();

	for (size_t i = 0; end && i < vlen; i++) {
		uint64_t base = (uintptr_t)iov[i].iov_base;

		if (iov[i].iov_len &&
		    (base >= end || iov[i].iov_len > end - base))
			return (ssize_t)i;
	}
	return -1;
}

static bool cancelled(const struct run *s)
{
	return s->call.cancel &&
	       __atomic_load_n(s->call.cancel, __ATOMIC_ACQUIRE);
}

/* Errors no later element can escape: the request as a whole is over.
 * EBADF is not one: once a rung serves, the handle is known good and EBADF
 * is an element's (MADV_WILLNEED on anonymous memory without swap). */
static bool fatal(int err)
{
	switch (err) {
	case ESRCH:
	case EACCES:
	case EPERM:
	case ENOSYS:
	case EFAULT:
	case ECANCELED:
	case ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

static void element_done(struct run *s)
{
	if (s->errors)
		s->errors[s->idx] = 0;
	s->r.done++;
	s->idx++;
	s->off = 0;
	s->issued_end = 0;
}

/* Records element idx as failed; 0 to go on past it, else -err. */
static int element_failed(struct run *s, int err)
{
	/* The kernel may have acted on all it was handed of the element
	 * (madvise goes on past holes before its ENOMEM): charge it. */
	if (s->issued_end > s->off)
		charge_to(s, s->idx, s->issued_end);
	if (s->r.failed == SIZE_MAX) {
		s->r.failed = s->idx;
		s->r.error = err;
	}
	s->r.nfailed++;
	if (s->errors)
		s->errors[s->idx] = err;
	s->idx++;
	s->off = 0;
	s->issued_end = 0;
	if (fatal(err) || !(s->call.flags & PMADV_F_CONTINUE))
		return -err;
	return 0;
}

/* The next batch from (idx, off): whole elements straight from the caller's
 * vector, or one chunk of an element larger than a call may carry. */
static size_t next_batch(const struct run *s, struct iovec *chunk,
			 const struct iovec **batch)
{
	size_t max = batch_cap(s), rw = pmadv_max_rw_count();
	size_t span = span_cap(s);
	const struct iovec *e = &s->iov[s->idx];
	size_t n, bytes = 0, pages = 0;

	if (s->off || e->iov_len > rw || page_span(e->iov_len) > span) {
		size_t left = e->iov_len - s->off;

		chunk->iov_base = (char *)e->iov_base + s->off;
		chunk->iov_len = left < max ? left : max;
		*batch = chunk;
		return 1;
	}
	/* the lengths within MAX_RW_COUNT, the pages within the budgets */
	for (n = 0; n < PMADV_IOV_MAX && s->idx + n < s->vlen; n++) {
		size_t len = e[n].iov_len;

		if (len > rw - bytes || page_span(len) > span - pages)
			break;
		bytes += len;
		pages += page_span(len);
	}
	*batch = e;
	return n;
}

enum step { STEP_OK, STEP_REFUSED, STEP_STOP };

/* The rung's verdict on *err, which becomes the errno that stands for it
 * (a probe may have found the target gone). */
static enum pmadv_verdict judge(struct run *s, int *err)
{
	struct pmadv_judgement j = s->rung->judge(&s->call, *err);

	*err = j.err;
	return j.verdict;
}

struct pmadv_judgement pmadv_judge_esrch(struct pmadv_call *c,
					 const char *rung)
{
	if (pmadv_target_alive(c->t) == 0 && pmadv_target_runs(c->t) > 0) {
		pmadv_debug("%s: ESRCH, yet PID %d runs (its main thread has "
			    "exited); next rung", rung, (int)c->t->pid);
		return pmadv_judged(PMADV_NEXT, ESRCH);
	}
	return pmadv_judged(PMADV_STOP, ESRCH);
}

/* The rung has taken the request: from now on its errors are the
 * request's, and it is the method reported. */
static void serving(struct run *s)
{
	s->first = false;
	s->r.method = s->rung->method;
}

/* Accounts for ret bytes advised from a batch of n elements that started at
 * (idx, off); leaves idx at the element where the rung stopped. */
static void account(struct run *s, const struct iovec *batch, size_t n,
		    size_t ret)
{
	s->r.bytes += ret;
	if (batch != &s->iov[s->idx]) { /* a chunk */
		s->issued_end = s->off + batch->iov_len;
		s->off += ret;
		charge_to(s, s->idx, s->off);
		if (s->off == s->iov[s->idx].iov_len)
			element_done(s);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = batch[i].iov_len;

		if (len > ret) {
			/* where the kernel stopped: this element, handed
			 * over whole */
			s->issued_end = len;
			s->off = ret; /* only after a misbehaving rung */
			charge_to(s, s->idx, s->off);
			return;
		}
		ret -= len;
		element_done(s);
	}
	charge_to(s, s->idx, 0);
}

/* The errno of the element where the rung stopped, which process_madvise
 * loses: re-issue the rest of that element alone. 0 when it now succeeds. */
static int recover_errno(struct run *s)
{
	const struct iovec *e;
	struct iovec one;
	ssize_t ret;
	int err = 0;

	/* Elements of no length where it stopped were done, with nothing to
	 * ask: a vector failed as a whole (nothing advised) stops on them,
	 * and asking one alone would answer 0 again and again. */
	while (s->idx < s->vlen && !s->off && !s->iov[s->idx].iov_len)
		element_done(s);
	if (s->idx == s->vlen)
		return 0;
	e = &s->iov[s->idx];
	one.iov_base = (char *)e->iov_base + s->off;
	one.iov_len = e->iov_len - s->off;
	if (one.iov_len > batch_cap(s))
		one.iov_len = batch_cap(s);
	if (!one.iov_len)
		return 0; /* the byte budget is spent: the loop stops */
	s->issued_end = s->off + one.iov_len;
	s->call.last = false;
	ret = s->rung->advise(&s->call, &one, 1, &err);
	s->r.calls++;
	if (ret < 0)
		return (int)-ret;
	if (!ret && !err) {
		/* Nothing of it done and nothing wrong: no kernel answers so,
		 * and asked again a rung that does would answer the same. */
		pmadv_debug("%s: advised nothing of element %zu and gave no "
			    "error: EIO", s->rung->name, s->idx);
		return EIO;
	}
	account(s, &one, 1, (size_t)ret);
	return err;
}

/* Works through the vector with one rung. STEP_REFUSED: the rung's very
 * first call said it cannot serve (err set); nothing was advised. */
static enum step run_rung(struct run *s, int *err)
{
	unsigned int retries = 0;

	while (s->idx < s->vlen) {
		const struct iovec *batch;
		struct iovec chunk;
		size_t n, want = 0;
		ssize_t ret;
		int e = 0;

		if (cancelled(s)) {
			*err = ECANCELED;
			return STEP_STOP;
		}
		e = budget_reached(s);
		if (e) {
			pmadv_debug("%s: budget reached (%s) after %zu bytes",
				    s->rung->name, e == EDQUOT ? "max_bytes"
				    : "deadline_ms", s->r.bytes);
			*err = e;
			return STEP_STOP;
		}
		n = next_batch(s, &chunk, &batch);
		for (size_t i = 0; i < n; i++)
			want += batch[i].iov_len;
		/* what the call hands over of the element it starts with */
		s->issued_end = batch == &chunk ? s->off + chunk.iov_len
						: batch[0].iov_len;
		s->call.last = batch == &chunk
				       ? s->idx + 1 == s->vlen &&
						 s->issued_end ==
							 s->iov[s->idx].iov_len
				       : s->idx + n == s->vlen;
		ret = s->rung->advise(&s->call, batch, n, &e);
		s->r.calls++;
		if (ret < 0) {
			e = (int)-ret;
			if (s->first) {
				enum pmadv_verdict v = judge(s, &e);

				if (v != PMADV_SERVE) {
					*err = e;
					return v == PMADV_NEXT ? STEP_REFUSED
							       : STEP_STOP;
				}
			}
			/* Kernels before the partial-progress fix (5.10.0)
			 * fail a whole vector for a later element: only an
			 * element asked alone tells its own errno. */
			if (n > 1 && e != EINTR && e != EAGAIN && !fatal(e)) {
				serving(s);
				e = recover_errno(s);
				if (!e)
					continue;
			}
		} else {
			if (want)
				serving(s);
			if ((size_t)ret == want) {
				account(s, batch, n, want);
				retries = 0;
				continue;
			}
			account(s, batch, n, (size_t)ret);
			if (s->idx >= s->vlen)
				break;
			if (!e)
				e = recover_errno(s);
			if (!e) { /* succeeded when asked alone */
				retries = 0;
				continue;
			}
		}
		serving(s);
		if ((e == EINTR || e == EAGAIN) && ++retries <= MAX_RETRIES)
			continue;
		retries = 0;
		if (element_failed(s, e) < 0) {
			*err = e;
			return STEP_STOP;
		}
	}
	return STEP_OK;
}

int pmadv_methods_allowed(unsigned int methods, unsigned int *mask,
			  char *msg, size_t len)
{
	const char *env = pmadv_env("PMADV_METHODS");
	unsigned int m;

	*mask = methods ? methods : PMADV_METHOD_ALL;
	if (!env || !*env)
		return 0;
	if (pmadv_methods_from_string(env, &m) < 0) {
		pmadv_msg(msg, len, "PMADV_METHODS=%s is not a list of "
			  "syscall, ioctl, ptrace or all", env);
		return -EINVAL;
	}
	if (!(*mask & m)) {
		pmadv_msg(msg, len, "PMADV_METHODS=%s allows none of the "
			  "methods asked for: it may only narrow them", env);
		return -EINVAL;
	}
	*mask &= m;
	return 0;
}

static int methods_wanted(const struct pmadv_opts *o, unsigned int *mask)
{
	char msg[256];
	int ret = pmadv_methods_allowed(o ? o->methods : 0, mask, msg,
					sizeof(msg));

	if (ret < 0)
		pmadv_debug("%s", msg);
	return ret;
}

static int validate(struct pmadv_target *t, const struct iovec *iov,
		    size_t vlen, int advice, const struct pmadv_opts *o,
		    struct run *s, unsigned int *mask)
{
	ssize_t bad;
	int ret;

	if (!t || (!iov && vlen))
		return -EINVAL;
	if (o && (ret = check_opts(o)) < 0)
		return ret;
	if (!pmadv_advice_known(advice))
		return -EINVAL;
	if (pmadv_advice_destructive(advice) > 0 &&
	    !(o && (o->flags & PMADV_F_DESTRUCTIVE))) {
		pmadv_debug("%s can lose the target's data: refused without "
			    "PMADV_F_DESTRUCTIVE", pmadv_advice_name(advice));
		return -EPERM;
	}
	if ((ret = methods_wanted(o, mask)) < 0)
		return ret;
	bad = pmadv_check_vector(iov, vlen);
	if (bad >= 0) {
		s->r.failed = (size_t)bad;
		s->r.error = EINVAL;
		return -EINVAL;
	}
	/* Past the end of the user address space: EFAULT, whatever the
	 * method (6.18's process_madvise says so for the whole vector;
	 * 6.1's passes it on, and madvise answered otherwise) */
	bad = pmadv_beyond_user(iov, vlen);
	if (bad >= 0) {
		s->r.failed = (size_t)bad;
		s->r.error = EFAULT;
		return -EFAULT;
	}
	return 0;
}

static ssize_t advise(struct pmadv_target *t, const struct iovec *iov,
		      size_t vlen, int advice, const struct pmadv_opts *o,
		      struct run *s)
{
	int ret, refusal = 0, err = 0; /* refusal: the first rung's, if any */
	unsigned int mask;

	const struct pmadv_rung *const *rungs = pmadv_rungs;
	unsigned int nrungs = PMADV_NRUNGS;

	ret = validate(t, iov, vlen, advice, o, s, &mask);
	if (ret < 0)
		return ret;
	if (!vlen)
		return 0;
	ret = pmadv_target_alive(t);
	if (ret < 0)
		return ret;
	if (t->self) {
		/* the vector call, then madvise; never ioctl or ptrace */
		rungs = pmadv_self_rungs;
		nrungs = PMADV_NSELF_RUNGS;
		mask |= PMADV_METHOD_MADVISE;
	}

	s->call.t = t;
	s->call.advice = advice;
	if (o) {
		s->call.flags = o->flags;
		s->call.timeout_ms = o->timeout_ms;
		s->call.cancel = o->cancel;
		s->errors = o->errors;
		take_budgets(s, o);
	}
	s->iov = iov;
	s->vlen = vlen;

	for (unsigned int i = 0; i < nrungs; i++) {
		const struct pmadv_rung *r = rungs[i];
		enum step st;

		if (!(mask & r->method))
			continue;
		ret = pmadv_rung_available(r);
		if (ret < 0) {
			pmadv_debug("%s: unavailable (%s)", r->name,
				    pmadv_errdesc(-ret));
			continue;
		}
		pmadv_debug("%s: trying %s on PID %d", r->name,
			    pmadv_advice_name(advice), (int)t->pid);
		s->rung = r;
		s->first = true;
		if (r->begin && (ret = r->begin(&s->call)) < 0) {
			err = -ret;
			if (judge(s, &err) != PMADV_NEXT)
				goto fail;
			if (!refusal)
				refusal = err;
			continue;
		}
		st = run_rung(s, &err);
		if (r->end)
			r->end(&s->call);
		if (st == STEP_OK)
			goto out;
		if (st == STEP_STOP)
			goto fail;
		if (!refusal)
			refusal = err;
	}
	/* none refused: none was there to try */
	err = refusal ? refusal : ENOSYS;
	pmadv_debug("no rung could serve %s on PID %d: %s",
		    pmadv_advice_name(advice), (int)t->pid,
		    refusal ? pmadv_errdesc(refusal) : "no method available");
fail:
	/* A target found gone before any method served (a zombie passes the
	 * pidfd check: it is still in the process table): ESRCH, and the
	 * array left as it was, as for a handle found dead at the start. */
	if (!s->r.method && pmadv_target_runs(t) == 0)
		err = ESRCH;
	if (s->errors && !(err == ESRCH && !s->r.method))
		for (size_t i = s->idx; i < vlen; i++)
			s->errors[i] = ECANCELED;
	return -err;
out:
	return s->r.bytes > SSIZE_MAX ? SSIZE_MAX : (ssize_t)s->r.bytes;
}

/* The pieces' outcome (perr, -1 where the run left it as it was) as the
 * caller's elements': an element is done when all its pieces are, and
 * carries the first error among them. */
static void pieces_back(struct run *s, const struct pmadv_pieces *p,
			const int *perr, size_t vlen, int *errors)
{
	struct pmadv_result in = s->r;
	size_t k = 0;

	s->r.done = s->r.nfailed = 0;
	s->r.failed = in.failed == SIZE_MAX ? SIZE_MAX : p->owner[in.failed];
	s->r.skipped = p->skipped;
	for (size_t i = 0; i < vlen; i++) {
		int err = 0;
		bool untouched = true;

		for (; k < p->n && p->owner[k] == i; k++) {
			if (perr[k] != -1)
				untouched = false;
			if (!err && perr[k] > 0)
				err = perr[k];
		}
		if (untouched)
			continue;
		if (!err)
			s->r.done++;
		else if (err != ECANCELED)
			s->r.nfailed++;
		if (errors)
			errors[i] = err;
	}
}

/* The bytes in holes of the part of the vector before (e, off), the
 * caller's element and offset where the run stopped: holes the request
 * never reached are not skipped yet (a resumed call counts them). */
static size_t skipped_before(const struct pmadv_pieces *p,
			     const struct iovec *iov, size_t vlen, size_t e,
			     size_t off)
{
	size_t skipped = 0, k = 0;

	for (size_t i = 0; i < vlen && i <= e; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;
		size_t upto = i < e ? iov[i].iov_len : off, mapped = 0;

		for (; k < p->n && p->owner[k] == i; k++) {
			size_t ps = (uintptr_t)p->iov[k].iov_base - b;
			size_t pe = ps + p->iov[k].iov_len;

			if (ps < upto)
				mapped += (pe < upto ? pe : upto) - ps;
		}
		skipped += upto - mapped;
	}
	return skipped;
}

/* PMADV_F_SKIP_UNMAPPED: the mapped parts of the vector, advised as one
 * request of their own, reported as the caller's elements. */
static ssize_t advise_mapped(struct pmadv_target *t, const struct iovec *iov,
			     size_t vlen, int advice,
			     const struct pmadv_opts *o, struct run *s)
{
	struct pmadv_opts inner = PMADV_OPTS_INIT;
	struct pmadv_pieces p;
	unsigned int mask;
	int *perr = NULL;
	bool mapped = false;
	ssize_t ret;

	ret = validate(t, iov, vlen, advice, o, s, &mask);
	if (ret < 0 || !vlen)
		return ret;
	ret = pmadv_target_alive(t);
	if (ret < 0)
		return ret;
	ret = pmadv_mapped_pieces(t, iov, vlen, &p);
	if (ret < 0)
		return ret;
	perr = malloc(p.n * sizeof(*perr));
	if (!perr) {
		pmadv_pieces_free(&p);
		return -ENOMEM;
	}
	for (size_t k = 0; k < p.n; k++)
		mapped |= p.iov[k].iov_len > 0;
	/* -1: left as it was; nothing mapped: all done without a call */
	memset(perr, mapped ? 0xff : 0, p.n * sizeof(*perr));
	/* every field the caller set, this flag and its array aside */
	memcpy(&inner, o, o->size < sizeof(inner) ? o->size : sizeof(inner));
	inner.size = sizeof(inner);
	inner.flags &= ~PMADV_F_SKIP_UNMAPPED;
	inner.errors = perr;
	pmadv_debug("skip unmapped: %zu elements, %zu mapped pieces, %zu bytes "
		    "in holes", vlen, p.n, p.skipped);
	ret = mapped ? advise(t, p.iov, p.n, advice, &inner, s) : 0;
	pieces_back(s, &p, perr, vlen, o->errors);
	/* where the run stopped, in the caller's elements: the element of
	 * the next piece, and the bytes of it before that point (holes
	 * included), so that advising from there goes on */
	if (!mapped || s->idx >= p.n) {
		s->idx = vlen;
		s->off = 0;
	} else {
		size_t e = p.owner[s->idx];

		s->off += (size_t)((const char *)p.iov[s->idx].iov_base -
				   (const char *)iov[e].iov_base);
		s->idx = e;
	}
	s->r.skipped = skipped_before(&p, iov, vlen, s->idx, s->off);
	free(perr);
	pmadv_pieces_free(&p);
	return ret;
}

PMADV_API ssize_t pmadv_advise(struct pmadv_target *t,
			       const struct iovec *iov, size_t vlen,
			       int advice, const struct pmadv_opts *opts,
			       struct pmadv_result *res)
{
	struct run s;
	int saved = errno, cs;
	ssize_t ret;

	/* Not a cancellation point: a thread cancelled in one of its waits
	 * (the ptrace rung's turn, a /proc read) would leave a lock or the
	 * target's turn taken for good, and its tracer without a caller. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	memset(&s, 0, sizeof(s));
	s.r.failed = SIZE_MAX;
	if (opts && opts->size >= OPTS_MIN_SIZE &&
	    (opts->flags & PMADV_F_SKIP_UNMAPPED))
		ret = advise_mapped(t, iov, vlen, advice, opts, &s);
	else
		ret = advise(t, iov, vlen, advice, opts, &s);
	if (ret < 0 && !s.r.error && s.r.failed == SIZE_MAX)
		s.r.error = (int)-ret;
	s.r.next = s.idx;
	s.r.next_off = s.off;
	if (res)
		*res = s.r;
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return PMADV_RC(pmadv_advise, ret);
}
