// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * VMA enumeration for callers: filters, clipping to an address window, the
 * per-VMA iterator, the iovec filler that merges adjacent ranges a batch at
 * a time (so a process with a million VMAs never needs a million-entry
 * array), the one-shot array, and the change report that re-reads the VMAs
 * after advising.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errnos.h"
#include "vma.h"

#define FILTER_MIN_SIZE (offsetof(struct pmadv_filter, end) + sizeof(uint64_t))
#define FILTER_KNOWN_END PMADV_FIELDS_END(struct pmadv_filter, end)
#define VMA_MIN_SIZE    (offsetof(struct pmadv_vma, name) + sizeof(char *))

/* What only VmFlags (smaps) tell. */
#define VMFLAGS_BITS                                                       \
	(PMADV_VMA_UNADVISABLE | PMADV_VMA_NOHUGEPAGE | PMADV_VMA_DROPPABLE)
/* What a range's advice depends on, besides its addresses: its class and
 * what VmFlags say (its protection does not matter to advice). */
#define MERGE_KEY                                                          \
	(PMADV_VMA_ANON | PMADV_VMA_FILE | PMADV_VMA_SHARED |              \
	 PMADV_VMA_SPECIAL | VMFLAGS_BITS)
#define ATTRS_ALL                                                          \
	(PMADV_VMA_ANON | PMADV_VMA_FILE | PMADV_VMA_SHARED |              \
	 PMADV_VMA_SPECIAL | PMADV_VMA_READ | PMADV_VMA_WRITE |            \
	 PMADV_VMA_EXEC | PMADV_VMA_HEAP | PMADV_VMA_STACK |               \
	 PMADV_VMA_VDSO | PMADV_VMA_VVAR | PMADV_VMA_VSYSCALL |            \
	 PMADV_VMA_LONGNAME | VMFLAGS_BITS)
#define FLAGS_ALL \
	(PMADV_VMA_F_VMFLAGS | PMADV_VMA_F_NOMERGE | PMADV_VMA_F_RECORD)

/* What the change report compares, for one delivered VMA. */
struct seen {
	uint64_t start, end;         /* as delivered (clipped) */
	uint64_t vma_start, vma_end; /* the whole VMA */
	uint64_t offset, inode;
	unsigned int dev_major, dev_minor;
};

enum mode { MODE_NONE, MODE_NEXT, MODE_FILL };

struct pmadv_vma_iter {
	struct pmadv_target *t;
	struct pmadv_filter f;
	unsigned int flags;
	enum pmadv_vma_src_kind want;
	struct pmadv_vma_src src;
	bool done;
	int err;                /* sticky: the source failed */
	enum mode mode;
	bool have_run;          /* fill: a merged range not yet handed out */
	uint64_t run_start, run_end;
	unsigned int run_attrs; /* MERGE_KEY of the VMAs in the run */
	struct seen *seen;      /* PMADV_VMA_F_RECORD */
	size_t nseen, capseen;
	struct pmadv_vma_rec rec;
};

static int check_filter(const struct pmadv_filter *in, struct pmadv_filter *f)
{
	uint64_t page = pmadv_page_size();

	memset(f, 0, sizeof(*f));
	f->size = sizeof(*f);
	if (!in)
		return 0;
	if (!pmadv_struct_in_ok(in, in->size, FILTER_MIN_SIZE, FILTER_KNOWN_END))
		return -EINVAL;
	memcpy(f, in, sizeof(*f));
	f->size = sizeof(*f);
	if ((f->match_any | f->match_all | f->match_none) & ~ATTRS_ALL)
		return -EINVAL;
	if (f->reserved)
		return -EINVAL;
	if ((f->start | f->end) & (page - 1))
		return -EINVAL;
	if (f->end && f->end <= f->start)
		return -EINVAL;
	return 0;
}

static bool needs_vmflags(const struct pmadv_filter *f, unsigned int flags)
{
	return (flags & PMADV_VMA_F_VMFLAGS) ||
	       ((f->match_any | f->match_all | f->match_none) & VMFLAGS_BITS);
}

static int iter_open(struct pmadv_target *t, const struct pmadv_filter *filter,
		     unsigned int flags, struct pmadv_vma_iter **out)
{
	struct pmadv_vma_iter *it;
	int ret;

	if (!t || !out || (flags & ~FLAGS_ALL))
		return -EINVAL;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	ret = check_filter(filter, &it->f);
	if (ret < 0)
		goto fail;
	it->t = t;
	it->flags = flags;
	it->want = needs_vmflags(&it->f, flags) ? PMADV_SRC_SMAPS
						: PMADV_SRC_AUTO;
	ret = pmadv_vma_src_open(&it->src, t, it->want, it->f.start);
	if (ret < 0)
		goto fail;
	*out = it;
	return 0;
fail:
	free(it);
	return ret;
}

static bool keep(const struct pmadv_filter *f, const struct pmadv_vma_rec *r)
{
	unsigned int a = r->attrs;

	if (f->match_any && !(a & f->match_any))
		return false;
	if ((a & f->match_all) != f->match_all)
		return false;
	if (a & f->match_none)
		return false;
	if (r->end - r->start < f->min_size)
		return false;
	return true;
}

static int remember(struct pmadv_vma_iter *it, const struct pmadv_vma_rec *r,
		    uint64_t start, uint64_t end)
{
	struct seen *s;

	if (it->nseen == it->capseen) {
		size_t ncap = it->capseen ? it->capseen * 2 : 64;

		s = realloc(it->seen, ncap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		it->seen = s;
		it->capseen = ncap;
	}
	s = &it->seen[it->nseen++];
	s->start = start;
	s->end = end;
	s->vma_start = r->start;
	s->vma_end = r->end;
	s->offset = r->offset;
	s->inode = r->inode;
	s->dev_major = r->dev_major;
	s->dev_minor = r->dev_minor;
	return 0;
}

/* The next VMA the filter keeps, clipped to the window: 1, 0 at the end. */
static int next_kept(struct pmadv_vma_iter *it, uint64_t *start,
		     uint64_t *end)
{
	const struct pmadv_filter *f = &it->f;
	struct pmadv_vma_rec *r = &it->rec;
	int ret;

	if (it->err)
		return it->err;
	while (!it->done) {
		ret = pmadv_vma_src_next(&it->src, r);
		if (ret <= 0) {
			if (ret == 0)
				it->done = true;
			else
				it->err = ret;
			return ret;
		}
		/* The gate area is not in the target's mm: PROCMAP_QUERY
		 * never shows it, and process_madvise answers EFAULT for it,
		 * which would end a whole pmadv_advise request. */
		if (r->attrs & PMADV_VMA_VSYSCALL)
			continue;
		if (r->end <= f->start)
			continue;
		if (f->end && r->start >= f->end) {
			it->done = true; /* VMAs come in address order */
			return 0;
		}
		if (!keep(f, r))
			continue;
		*start = r->start > f->start ? r->start : f->start;
		*end = f->end && r->end > f->end ? f->end : r->end;
		if ((it->flags & PMADV_VMA_F_RECORD) &&
		    (ret = remember(it, r, *start, *end)) < 0)
			return it->err = ret;
		return 1;
	}
	return 0;
}

static int vma_next(struct pmadv_vma_iter *it, struct pmadv_vma *v)
{
	struct pmadv_vma out;
	uint64_t start, end;
	int ret;

	if (!it || !v || v->size < VMA_MIN_SIZE)
		return -EINVAL;
	if (it->mode == MODE_FILL)
		return -EINVAL;
	it->mode = MODE_NEXT;
	ret = next_kept(it, &start, &end);
	if (ret <= 0)
		return ret;
	memset(&out, 0, sizeof(out));
	out.size = v->size; /* the caller's, whatever it is */
	out.start = start;
	out.end = end;
	out.vma_start = it->rec.start;
	out.vma_end = it->rec.end;
	out.offset = it->rec.offset;
	out.inode = it->rec.inode;
	out.dev_major = it->rec.dev_major;
	out.dev_minor = it->rec.dev_minor;
	out.attrs = it->rec.attrs;
	out.name = it->rec.name;
	pmadv_struct_out(v, v->size, &out, sizeof(out));
	return 1;
}

static ssize_t vma_fill(struct pmadv_vma_iter *it, struct iovec *iov,
			size_t n)
{
	uint64_t start, end;
	size_t k = 0;
	bool merge;
	int ret;

	if (!it || !iov || !n || it->mode == MODE_NEXT)
		return -EINVAL;
	it->mode = MODE_FILL;
	merge = !(it->flags & PMADV_VMA_F_NOMERGE);
	while (k < n) {
		ret = next_kept(it, &start, &end);
		if (ret < 0) /* sticky: the next call reports it */
			return k ? (ssize_t)k : ret;
		if (ret == 0)
			break;
		/* Only VMAs that agree on what advice cares about are
		 * merged (MERGE_KEY): advice that one would refuse (collapse
		 * on a NOHUGEPAGE VMA) must not fail for its neighbour. */
		if (it->have_run && merge && start == it->run_end &&
		    (it->rec.attrs & MERGE_KEY) == it->run_attrs) {
			it->run_end = end;
			continue;
		}
		if (it->have_run) {
			iov[k].iov_base = (void *)(uintptr_t)it->run_start;
			iov[k].iov_len = (size_t)(it->run_end - it->run_start);
			k++;
		}
		it->have_run = true;
		it->run_start = start;
		it->run_end = end;
		it->run_attrs = it->rec.attrs & MERGE_KEY;
	}
	/* The pending run is final only once nothing can follow it. */
	if (k < n && it->done && it->have_run) {
		iov[k].iov_base = (void *)(uintptr_t)it->run_start;
		iov[k].iov_len = (size_t)(it->run_end - it->run_start);
		k++;
		it->have_run = false;
	}
	return (ssize_t)k;
}

static void iter_close(struct pmadv_vma_iter *it)
{
	if (!it)
		return;
	pmadv_vma_src_close(&it->src);
	free(it->seen);
	free(it);
}

/* Reasons a delivered VMA no longer matches what is mapped now (0: same). */
static unsigned int compare(const struct seen *s, const struct pmadv_vma_rec *c)
{
	unsigned int what = 0;
	uint64_t a;

	if (c->start != s->vma_start || c->end != s->vma_end)
		what |= PMADV_CHANGE_BOUNDS;
	if (c->inode != s->inode || c->dev_major != s->dev_major ||
	    c->dev_minor != s->dev_minor) {
		what |= PMADV_CHANGE_FILE;
	} else if (s->inode || s->dev_major || s->dev_minor) {
		/* Same file: compare the offset of one address in both. */
		a = c->start > s->vma_start ? c->start : s->vma_start;
		if (c->offset + (a - c->start) != s->offset + (a - s->vma_start))
			what |= PMADV_CHANGE_OFFSET;
	}
	return what;
}

static ssize_t recheck(struct pmadv_vma_iter *it, struct pmadv_vma_change *ch,
		       size_t n)
{
	struct pmadv_vma_src src;
	struct pmadv_vma_rec *cur;
	size_t i = 0, nch = 0;
	int have = 0, ret;

	if (!it || (!ch && n) || !(it->flags & PMADV_VMA_F_RECORD))
		return -EINVAL;
	if (!it->nseen)
		return 0;
	cur = malloc(sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	/* No VmFlags needed: the comparison is about placement only. */
	ret = pmadv_vma_src_open(&src, it->t, PMADV_SRC_AUTO,
				 it->seen[0].start);
	if (ret < 0)
		goto out;
	/* Both lists are in address order: one merge-like walk. */
	while (i < it->nseen) {
		const struct seen *s = &it->seen[i];
		unsigned int what;

		if (!have || cur->end <= s->start) {
			have = pmadv_vma_src_next(&src, cur);
			if (have < 0) {
				ret = have;
				goto out_src;
			}
			if (have && cur->end <= s->start)
				continue;
		}
		if (have && cur->start < s->end)
			what = compare(s, cur);
		else
			what = PMADV_CHANGE_GONE;
		if (what) {
			if (nch < n) {
				memset(&ch[nch], 0, sizeof(ch[nch]));
				ch[nch].start = s->start;
				ch[nch].end = s->end;
				ch[nch].what = what;
			}
			nch++;
		}
		i++;
	}
	ret = 0;
out_src:
	pmadv_vma_src_close(&src);
out:
	free(cur);
	return ret < 0 ? ret : (ssize_t)nch;
}

static ssize_t ranges(struct pmadv_target *t, const struct pmadv_filter *f,
		      unsigned int flags, struct iovec **out)
{
	struct pmadv_vma_iter *it;
	struct iovec *v = NULL, *nv;
	size_t cap = 0, len = 0;
	ssize_t n;
	int ret;

	if (!out || (flags & PMADV_VMA_F_RECORD))
		return -EINVAL;
	ret = iter_open(t, f, flags, &it);
	if (ret < 0)
		return ret;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				n = -ENOMEM;
				goto fail;
			}
			v = nv;
		}
		n = vma_fill(it, v + len, cap - len);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	iter_close(it);
	if (!len) {
		free(v);
		v = NULL;
	}
	*out = v;
	return (ssize_t)len;
fail:
	iter_close(it);
	free(v);
	return n;
}

PMADV_API int pmadv_vma_open(struct pmadv_target *t,
			     const struct pmadv_filter *filter,
			     unsigned int flags, struct pmadv_vma_iter **out)
{
	int saved = errno, ret = iter_open(t, filter, flags, out);

	errno = saved;
	return (int)PMADV_RC(pmadv_vma_open, ret);
}

PMADV_API int pmadv_vma_next(struct pmadv_vma_iter *it, struct pmadv_vma *vma)
{
	int saved = errno, ret = vma_next(it, vma);

	errno = saved;
	return (int)PMADV_RC(pmadv_vma_next, ret);
}

PMADV_API ssize_t pmadv_vma_fill(struct pmadv_vma_iter *it, struct iovec *iov,
				 size_t n)
{
	int saved = errno;
	ssize_t ret = vma_fill(it, iov, n);

	errno = saved;
	return PMADV_RC(pmadv_vma_fill, ret);
}

PMADV_API ssize_t pmadv_vma_recheck(struct pmadv_vma_iter *it,
				    struct pmadv_vma_change *changes, size_t n)
{
	int saved = errno;
	ssize_t ret = recheck(it, changes, n);

	errno = saved;
	return PMADV_RC(pmadv_vma_recheck, ret);
}

PMADV_API void pmadv_vma_close(struct pmadv_vma_iter *it)
{
	int saved = errno;

	iter_close(it);
	errno = saved;
}

PMADV_API ssize_t pmadv_vma_ranges(struct pmadv_target *t,
				   const struct pmadv_filter *filter,
				   unsigned int flags, struct iovec **iov)
{
	int saved = errno;
	ssize_t ret = ranges(t, filter, flags, iov);

	errno = saved;
	return PMADV_RC(pmadv_vma_ranges, ret);
}
