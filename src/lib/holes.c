// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PMADV_F_SKIP_UNMAPPED: the mapped parts of a vector, from the target's
 * VMA list read once over the window the vector spans. Every element gets
 * at least one piece (a zero-length one when nothing of it is mapped), so
 * that the pieces' outcome maps back to the elements one for one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The first mapped range that ends after addr (ranges sorted, disjoint). */
static size_t first_after(const struct iovec *m, size_t n, uintptr_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uintptr_t end = (uintptr_t)m[mid].iov_base + m[mid].iov_len;

		if (end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Appends [start, end) to the pieces, joined to the last one of the same
 * element when they touch; 0 or -ENOMEM. */
static int add_piece(struct pmadv_pieces *p, size_t *cap, size_t elem,
		     uintptr_t start, uintptr_t end)
{
	struct iovec *last = p->n ? &p->iov[p->n - 1] : NULL;

	if (last && p->owner[p->n - 1] == elem && last->iov_len &&
	    (uintptr_t)last->iov_base + last->iov_len == start) {
		last->iov_len += end - start;
		return 0;
	}
	if (p->n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		struct iovec *v = reallocarray(p->iov, c, sizeof(*v));
		size_t *o;

		if (!v)
			return -ENOMEM;
		p->iov = v;
		o = reallocarray(p->owner, c, sizeof(*o));
		if (!o)
			return -ENOMEM;
		p->owner = o;
		*cap = c;
	}
	p->iov[p->n].iov_base = (void *)start;
	p->iov[p->n].iov_len = end - start;
	p->owner[p->n++] = elem;
	return 0;
}

/* Element e's pieces, clipped to the element: its mapped bytes and the
 * skipped ones add up to its length (the kernel rounds a piece's last
 * page as it would the element's). */
static int split(struct pmadv_pieces *p, size_t *cap, size_t e,
		 const struct iovec *el, const struct iovec *m, size_t nm)
{
	size_t before = p->n;
	uintptr_t start = (uintptr_t)el->iov_base;
	uintptr_t end = start + el->iov_len;
	uintptr_t mapped = 0;
	int ret;

	for (size_t i = first_after(m, nm, start); i < nm; i++) {
		uintptr_t ms = (uintptr_t)m[i].iov_base;
		uintptr_t me = ms + m[i].iov_len;

		if (ms >= end)
			break;
		ms = ms > start ? ms : start;
		me = me < end ? me : end;
		ret = add_piece(p, cap, e, ms, me);
		if (ret < 0)
			return ret;
		mapped += me - ms;
	}
	p->skipped += (end - start) - mapped;
	/* nothing mapped: one empty piece stands for the element */
	return p->n > before ? 0 : add_piece(p, cap, e, start, start);
}

int pmadv_mapped_pieces(struct pmadv_target *t, const struct iovec *iov,
			size_t vlen, struct pmadv_pieces *p)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;
	size_t page = pmadv_page_size(), cap = 0;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	struct iovec *m = NULL;
	ssize_t nm = 0;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < vlen; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base;

		if (!iov[i].iov_len)
			continue;
		lo = b < lo ? b : lo;
		b += (iov[i].iov_len + page - 1) & ~(page - 1);
		hi = b > hi ? b : hi;
	}
	if (hi) {
		f.start = lo & ~(page - 1);
		f.end = hi;
		nm = pmadv_vma_ranges(t, &f, 0, &m);
		if (nm < 0)
			return (int)nm;
	}
	for (size_t i = 0; i < vlen && !ret; i++)
		ret = split(p, &cap, i, &iov[i], m, (size_t)nm);
	free(m);
	if (ret < 0)
		pmadv_pieces_free(p);
	return ret;
}

void pmadv_pieces_free(struct pmadv_pieces *p)
{
	free(p->iov);
	free(p->owner);
	memset(p, 0, sizeof(*p));
}
