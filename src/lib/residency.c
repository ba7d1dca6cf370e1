// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_residency: how much of given ranges of a target is resident,
 * swapped, file-backed, anonymous and in huge pages, read from
 * /proc/PID/pagemap. Where the kernel has the PAGEMAP_SCAN ioctl (6.7+) it
 * hands back runs of pages with the same categories, so a GiB of ranges
 * costs a few regions instead of 262,144 entries; elsewhere the 8-byte
 * entries are read a PMD's worth at a time, over the VMAs that
 * /proc/PID/maps lists only. Allocation-free: fixed buffers on the stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "errnos.h"
#include "internal.h"
#include "vma.h"

/* The 0.2 layout: every field up to flags. */
#define RES_MIN_SIZE \
	(offsetof(struct pmadv_residency, flags) + sizeof(unsigned int))

/* The PAGEMAP_SCAN UAPI (include/uapi/linux/fs.h, Linux 6.7), under our
 * own names: the build host's headers may predate it. */
struct scan_region {
	uint64_t start, end, categories;
};

struct scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};

#define SCAN_IOCTL _IOWR('f', 16, struct scan_arg)
#define PAGE_IS_WRITTEN (1u << 0) /* a swap entry: not under uffd-wp */
#define PAGE_IS_FILE    (1u << 2)
#define PAGE_IS_PRESENT (1u << 3)
#define PAGE_IS_SWAPPED (1u << 4)
#define PAGE_IS_PFNZERO (1u << 5)
#define PAGE_IS_HUGE    (1u << 6)
/* A MADV_GUARD_INSTALL guard page (Linux 6.16; guard regions are 6.13's):
 * a non-present entry the kernel also calls swapped. A kernel before it
 * refuses the bit with EINVAL. */
#define PAGE_IS_GUARD   (1u << 8)

/* A pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT  (1ULL << 63)
#define PM_SWAP     (1ULL << 62)
#define PM_FILE     (1ULL << 61)
#define PM_GUARD_REGION (1ULL << 58) /* Linux 6.15 */
#define PM_SWP_TYPE(e)  ((e) & 31)    /* shown to CAP_SYS_ADMIN only */
/* The swap type of the kernel's PTE markers (SWP_PTE_MARKER, 5.19+: the
 * last of the 32 types, never a swap device): uffd-wp markers over pages
 * never populated, guard regions. Not documented ABI, so only a hint
 * that spares a count: without CAP_SYS_ADMIN the type reads as 0. */
#define SWP_PTE_MARKER  31
#define PM_PFN_MASK ((1ULL << 55) - 1)
/* /proc/kpageflags bits */
#define KPF_HUGE 17
#define KPF_THP  22

#define SCAN_REGIONS 256

/* -1: not known; 0: this kernel (or a seccomp filter) refuses the ioctl. */
static int scan_ok = -1;
/* -1: not known; 0: PAGEMAP_SCAN refuses PAGE_IS_GUARD (before 6.16). */
static int scan_guard_ok = -1;

/* /proc/PID/maps read as text a buffer at a time, for the pagemap method:
 * only the start-end of each line is parsed, the rest skipped. */
struct maps_text {
	char buf[4096];
	size_t len, pos;
	off_t off;            /* file offset of buf[len] */
	bool eof;
	uint64_t vs, ve;      /* the VMA last read; ve 0: none yet */
};

struct count {
	struct pmadv_target *t;
	int fd;          /* /proc/PID/pagemap */
	int maps;        /* /proc/PID/maps for PROCMAP_QUERY or text; -1 */
	bool maps_tried;
	struct maps_text mt;
	int kpf;         /* /proc/kpageflags, opened when first needed; -1 */
	bool kpf_tried;
	struct pmadv_residency r;
};

static void add_region(struct pmadv_residency *r, uint64_t len,
		       uint64_t cat)
{
	if (cat & PAGE_IS_GUARD)
		return; /* neither swapped nor resident: no page at all */
	if (cat & PAGE_IS_SWAPPED)
		r->swapped += len;
	if (!(cat & PAGE_IS_PRESENT) || (cat & PAGE_IS_PFNZERO))
		return;
	r->resident += len;
	if (cat & PAGE_IS_FILE)
		r->file += len;
	else
		r->anon += len;
	if (cat & PAGE_IS_HUGE)
		r->huge += len;
}

static int count_pagemap(struct count *c, uint64_t start, uint64_t end);

/* One range through PAGEMAP_SCAN: only pages present or swapped come
 * back, merged into runs. -ENOTTY where the kernel lacks the ioctl.
 * Without file, every present page counts as anonymous: telling file
 * from anonymous makes the kernel look at each page's struct page, which
 * costs thirty times the walk itself (README). */
static int count_scan(struct count *c, uint64_t start, uint64_t end,
		      bool file)
{
	struct scan_region reg[SCAN_REGIONS];
	struct scan_arg a;
	bool guard, refused;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = start;
	a.end = end;
	a.vec = (uintptr_t)reg;
	a.vec_len = SCAN_REGIONS;
	a.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
	a.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO |
			PAGE_IS_HUGE | PAGE_IS_WRITTEN |
			(file ? PAGE_IS_FILE : 0);
	guard = __atomic_load_n(&scan_guard_ok, __ATOMIC_RELAXED) != 0;
	refused = false;
	for (;;) {
		int n;

		a.return_mask = guard ? a.return_mask | PAGE_IS_GUARD
				      : a.return_mask & ~PAGE_IS_GUARD;
		n = ioctl(c->fd, SCAN_IOCTL, &a);
		if (n < 0 && errno == EINVAL && guard) {
			/* before 6.16: no guard category, ask again */
			guard = false;
			refused = true;
			continue;
		}
		if (n < 0)
			return -errno;
		/* remembered only once the answer without the bit says
		 * that the bit was what the kernel refused */
		if (refused) {
			pmadv_debug("residency: PAGEMAP_SCAN refuses "
				    "PAGE_IS_GUARD: swapped runs are read "
				    "from pagemap entries");
			__atomic_store_n(&scan_guard_ok, 0, __ATOMIC_RELAXED);
			refused = false;
		}
		if (guard)
			__atomic_store_n(&scan_guard_ok, 1, __ATOMIC_RELAXED);
		if (n > SCAN_REGIONS)
			return -EIO;
		for (int i = 0; i < n; i++) {
			int ret;

			if (reg[i].end <= reg[i].start ||
			    reg[i].start < a.start || reg[i].end > end)
				return -EIO;
			/* A swapped run may be guard pages without the
			 * guard category (6.13 to 6.15), or uffd-wp
			 * markers when not "written": the entries tell
			 * (PM_GUARD_REGION, 6.15; the swap type) */
			if ((reg[i].categories & PAGE_IS_SWAPPED) &&
			    (!guard ||
			     !(reg[i].categories & PAGE_IS_WRITTEN))) {
				ret = count_pagemap(c, reg[i].start,
						    reg[i].end);
				if (ret < 0)
					return ret;
				continue;
			}
			add_region(&c->r, reg[i].end - reg[i].start,
				   reg[i].categories);
		}
		if (a.walk_end >= end)
			return 0;
		/* the vector was full: go on from where the walk stopped */
		if (a.walk_end <= a.start)
			return -EIO;
		a.start = a.walk_end;
	}
}

/* Whether the page frame starts a transparent huge page or a hugetlb
 * page: 1, 0, or -1 when /proc/kpageflags cannot be read. */
static int pfn_huge(struct count *c, uint64_t pfn)
{
	uint64_t kf;

	if (!c->kpf_tried) {
		c->kpf_tried = true;
		c->kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	}
	if (c->kpf < 0 ||
	    pread(c->kpf, &kf, sizeof(kf), (off_t)(pfn * sizeof(kf))) !=
		    (ssize_t)sizeof(kf))
		return -1;
	return !!(kf & ((1ULL << KPF_THP) | (1ULL << KPF_HUGE)));
}

/* A PMD-sized block that is one huge page: every entry present, page
 * frames consecutive from an aligned one that kpageflags calls huge.
 * Without page frames (no CAP_SYS_ADMIN) huge is unknown. */
static bool block_huge(struct count *c, const uint64_t *e, size_t n)
{
	uint64_t pfn0 = e[0] & PM_PFN_MASK;
	int h;

	if ((e[0] & PM_PRESENT) && !pfn0) {
		c->r.flags |= PMADV_RESIDENCY_NOHUGE;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!(e[i] & PM_PRESENT) ||
		    (e[i] & PM_PFN_MASK) != pfn0 + i)
			return false;
	if (pfn0 % n)
		return false;
	h = pfn_huge(c, pfn0);
	if (h < 0)
		c->r.flags |= PMADV_RESIDENCY_NOHUGE;
	return h > 0;
}

/* One range from pagemap entries, a whole aligned PMD block per read so
 * that a huge page is seen whole even where the range covers part of it. */
static int count_pagemap(struct count *c, uint64_t start, uint64_t end)
{
	uint64_t page = pmadv_page_size();
	uint64_t per = page / sizeof(uint64_t); /* entries per PMD block */
	uint64_t e[4096 / sizeof(uint64_t)];
	uint64_t blk_bytes = per * page;

	if (per > sizeof(e) / sizeof(e[0])) { /* pages above 4 KiB */
		per = sizeof(e) / sizeof(e[0]);
		blk_bytes = 0;
		c->r.flags |= PMADV_RESIDENCY_NOHUGE;
	}
	for (uint64_t blk = start - start % (per * page); blk < end;
	     blk += per * page) {
		uint64_t lo = blk > start ? blk : start;
		uint64_t hi = end - blk > per * page ? blk + per * page : end;
		ssize_t got = pread(c->fd, e, per * sizeof(uint64_t),
				    (off_t)(blk / page * sizeof(uint64_t)));
		size_t have;
		bool huge;

		if (got < 0)
			return -errno;
		/* Nothing below the end of user space: the mm the file
		 * names is gone (an exit, or an execve since the open). */
		if (!got)
			return -ESRCH;
		have = (size_t)got / sizeof(uint64_t);
		huge = blk_bytes && have == per && block_huge(c, e, per);
		for (uint64_t a = lo; a < hi; a += page) {
			size_t i = (size_t)((a - blk) / page);
			uint64_t cat = 0;

			if (i >= have)
				break; /* past the end the kernel maps */
			if (e[i] & PM_PRESENT)
				cat |= PAGE_IS_PRESENT;
			if (e[i] & PM_SWAP)
				cat |= PAGE_IS_SWAPPED;
			if ((e[i] & PM_GUARD_REGION) ||
			    ((e[i] & PM_SWAP) &&
			     PM_SWP_TYPE(e[i]) == SWP_PTE_MARKER))
				cat |= PAGE_IS_GUARD; /* no page: a marker */
			if (e[i] & PM_FILE)
				cat |= PAGE_IS_FILE;
			if (huge)
				cat |= PAGE_IS_HUGE;
			add_region(&c->r, page, cat);
		}
	}
	return 0;
}

static void maps_rewind(struct maps_text *m)
{
	m->len = m->pos = 0;
	m->off = 0;
	m->eof = false;
	m->vs = m->ve = 0;
}

/* At least want bytes from pos in the buffer, or all that is left:
 * 0, or -errno. */
static int maps_fill(int fd, struct maps_text *m, size_t want)
{
	if (m->pos)
		memmove(m->buf, m->buf + m->pos, m->len - m->pos);
	m->len -= m->pos;
	m->pos = 0;
	while (!m->eof && m->len < want) {
		ssize_t got = pread(fd, m->buf + m->len, sizeof(m->buf) - m->len,
				    m->off);

		if (got < 0)
			return -errno;
		if (!got)
			m->eof = true;
		m->len += (size_t)got;
		m->off += got;
	}
	return 0;
}

static int hexdig(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* The next VMA's [vs, ve) into m: 1, 0 at the end, or -errno (-EIO: a
 * line we cannot read). */
static int maps_next(int fd, struct maps_text *m)
{
	uint64_t v[2] = { 0, 0 };
	size_t i;
	int ret, k = 0;

	ret = maps_fill(fd, m, 64); /* a header's start-end fits */
	if (ret < 0)
		return ret;
	if (m->pos == m->len)
		return 0;
	for (i = m->pos; i < m->len && k < 2; i++) {
		int d = hexdig(m->buf[i]);

		if (d >= 0 && v[k] >> 60 == 0)
			v[k] = v[k] << 4 | (uint64_t)d;
		else if (k == 0 && m->buf[i] == '-')
			k = 1;
		else if (k == 1 && m->buf[i] == ' ')
			k = 2;
		else
			return -EIO;
	}
	if (k != 2 || v[1] <= v[0])
		return -EIO;
	m->vs = v[0];
	m->ve = v[1];
	/* the rest of the line, however long (a path) */
	for (;;) {
		char *nl = memchr(m->buf + i, '\n', m->len - i);

		if (nl) {
			m->pos = (size_t)(nl - m->buf) + 1;
			return 1;
		}
		m->pos = m->len;
		if (m->eof)
			return 1;
		ret = maps_fill(fd, m, sizeof(m->buf));
		if (ret < 0)
			return ret;
		i = 0;
	}
}

/* The pagemap method over the VMAs only: a range of terabytes that holds
 * a few VMAs costs their pages, not 8 bytes for each page of the holes.
 * Without /proc/PID/maps (a filter, a line we cannot read), the whole
 * range. The VMA last read is kept, so a vector in address order reads
 * the file once. */
static int count_pagemap_vmas(struct count *c, uint64_t start, uint64_t end)
{
	struct maps_text *m = &c->mt;
	uint64_t at = start;
	int ret;

	if (!c->maps_tried) {
		c->maps_tried = true;
		c->maps = pmadv_open_proc(c->t, "maps", NULL);
		maps_rewind(m);
	}
	if (c->maps < 0)
		return count_pagemap(c, start, end);
	if (!m->ve || start < m->vs)
		maps_rewind(m);
	for (;;) {
		uint64_t lo, hi;

		if (m->ve <= at) {
			bool first = !m->ve && !m->off;

			ret = maps_next(c->maps, m);
			if (ret == -EIO)
				return count_pagemap(c, at, end);
			if (ret < 0)
				return ret;
			/* nothing at all: the mm the file names is gone */
			if (!ret && first)
				return -ESRCH;
			if (!ret)
				return 0;
			continue;
		}
		if (m->vs >= end)
			return 0;
		lo = m->vs > at ? m->vs : at;
		hi = m->ve < end ? m->ve : end;
		ret = count_pagemap(c, lo, hi);
		if (ret < 0 || hi == end)
			return ret;
		at = hi;
	}
}

/* The range VMA by VMA (PROCMAP_QUERY, 6.11+): private anonymous VMAs are
 * scanned without the file test. Where the query fails (an older kernel,
 * a seccomp filter), the rest of the range is scanned with it. */
static int count_scan_vmas(struct count *c, uint64_t start, uint64_t end)
{
	uint64_t at = start;

	if (!c->maps_tried) {
		c->maps_tried = true;
		c->maps = pmadv_open_proc(c->t, "maps", NULL);
	}
	while (c->maps >= 0 && at < end) {
		struct pmadv_vma_rec r;
		uint64_t hi;
		int ret = pmadv_vma_query(c->maps, at, true, &r);

		if (ret == 0)
			return 0; /* no VMA from here on */
		if (ret < 0 || r.end <= at)
			break; /* no answer, or not one we understand */
		if (r.start >= end)
			return 0;
		if (r.start > at)
			at = r.start; /* a hole: nothing to count */
		hi = r.end < end ? r.end : end;
		/* private anonymous memory: no file, not shared, and no
		 * special mapping ([vdso] has pages of the kernel's) */
		ret = count_scan(c, at, hi, !(r.attrs & PMADV_VMA_ANON));
		if (ret < 0)
			return ret;
		at = hi;
	}
	return at < end ? count_scan(c, at, end, true) : 0;
}

static int count_range(struct count *c, uint64_t start, uint64_t end)
{
	int ret;

	if (__atomic_load_n(&scan_ok, __ATOMIC_RELAXED) != 0) {
		ret = count_scan_vmas(c, start, end);
		/* ENOTTY: pagemap has no ioctls before 6.7; ENOSYS or EPERM:
		 * a seccomp filter refuses it. Anything else is real. */
		if (ret != -ENOTTY && ret != -ENOSYS && ret != -EPERM) {
			if (!ret)
				c->r.method = PMADV_RESIDENCY_SCAN;
			return ret;
		}
		pmadv_debug("residency: PAGEMAP_SCAN: %s; reading pagemap "
			    "entries", pmadv_errdesc(-ret));
		__atomic_store_n(&scan_ok, 0, __ATOMIC_RELAXED);
		/* a partial scan of this range is discarded: recount it */
	}
	c->r.method = PMADV_RESIDENCY_PAGEMAP;
	c->r.flags |= PMADV_RESIDENCY_ZEROPAGE;
	return count_pagemap_vmas(c, start, end);
}

static int open_pagemap(struct pmadv_target *t)
{
	int fd = pmadv_open_proc(t, "pagemap", NULL), ret;

	/* ENOENT: no pagemap in this kernel, when we have none either;
	 * else the target is gone or between two programs (execve), which
	 * the caller tries again */
	if (fd == -ESRCH && access("/proc/self/pagemap", F_OK) < 0 &&
	    errno == ENOENT && pmadv_target_alive(t) == 0)
		return -ENOSYS;
	if (fd < 0)
		return fd;
	/* The file names the mm of whoever had the PID at the open. */
	ret = pmadv_target_alive(t);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* One count, through files opened for it. */
static int count_once(struct pmadv_target *t, const struct iovec *iov,
		      size_t vlen, struct count *c)
{
	uint64_t page = pmadv_page_size();
	int ret = 0;

	memset(&c->r, 0, sizeof(c->r));
	c->fd = open_pagemap(t);
	if (c->fd < 0)
		return c->fd;
	for (size_t i = 0; i < vlen && !ret; i++) {
		uint64_t start = (uintptr_t)iov[i].iov_base;
		uint64_t len = (iov[i].iov_len + page - 1) & ~(page - 1);

		c->r.bytes += len;
		if (len)
			ret = count_range(c, start, start + len);
	}
	close(c->fd);
	if (c->maps >= 0)
		close(c->maps);
	c->maps = -1;
	c->maps_tried = false;
	return ret;
}

/* An execve in the target between the open and the count leaves the
 * files naming the old program's memory, gone (ESRCH from the ioctl,
 * nothing read): count the new program's, a few times at most. */
#define EXEC_RETRIES 3

static int residency(struct pmadv_target *t, const struct iovec *iov,
		     size_t vlen, struct count *c)
{
	int ret;

	if (!t || (!iov && vlen))
		return -EINVAL;
	if (pmadv_check_vector(iov, vlen) >= 0)
		return -EINVAL;
	if (pmadv_beyond_user(iov, vlen) >= 0)
		return -EFAULT;
	for (int attempt = 1;; attempt++) {
		ret = count_once(t, iov, vlen, c);
		if (ret != -ESRCH || pmadv_target_alive(t) < 0 ||
		    pmadv_target_runs(t) <= 0)
			break;
		if (attempt == EXEC_RETRIES) {
			ret = -EAGAIN;
			break;
		}
		pmadv_debug("residency: PID %d ran execve meanwhile: counting "
			    "again", (int)t->pid);
	}
	/* A zombie's pagemap reads as empty: not a count of its memory. */
	if (!ret && pmadv_target_runs(t) == 0)
		ret = -ESRCH;
	if (c->kpf >= 0)
		close(c->kpf);
	return ret;
}

PMADV_API int pmadv_residency(struct pmadv_target *t, const struct iovec *iov,
			      size_t vlen, struct pmadv_residency *out,
			      size_t outsz)
{
	struct count c;
	int saved = errno, ret;

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.kpf = c.maps = -1;
	if (!out || outsz < RES_MIN_SIZE)
		ret = -EINVAL;
	else
		ret = residency(t, iov, vlen, &c);
	if (!ret)
		pmadv_struct_out(out, outsz, &c.r, sizeof(c.r));
	errno = saved;
	return (int)PMADV_RC(pmadv_residency, ret);
}
