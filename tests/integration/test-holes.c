// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PMADV_F_SKIP_UNMAPPED against the real kernel: one range over three
 * VMAs and the two holes between them is advised where mapped (each VMA's
 * Referenced drops, in a forked target; through a self handle, DONTNEED
 * zeroes each VMA) and the skipped bytes equal the holes; without the
 * flag the same range fails with ENOMEM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmadvise.h"
#include "pmtest.h"

#define MiB (1024UL * 1024)

/* Between PROT_NONE guards: A [1, 3) MiB, hole, B [4, 6), hole, C [7, 8)
 * of a 9 MiB reservation. */
struct layout {
	char *base;
	void *vma[3];
	size_t len[3];
	struct iovec span; /* [1, 8) MiB: the three VMAs and the holes */
};

#define HOLES (2 * MiB)
#define MAPPED (5 * MiB)

static void layout_map(struct layout *l)
{
	static const size_t at[3] = { 1, 4, 7 }, mib[3] = { 2, 2, 1 };

	l->base = mmap(NULL, 9 * MiB, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(l->base != MAP_FAILED);
	for (int i = 0; i < 3; i++) {
		l->vma[i] = l->base + at[i] * MiB;
		l->len[i] = mib[i] * MiB;
		assert_int_equal(mprotect(l->vma[i], l->len[i],
					  PROT_READ | PROT_WRITE), 0);
	}
	assert_int_equal(munmap(l->base + 3 * MiB, MiB), 0);
	assert_int_equal(munmap(l->base + 6 * MiB, MiB), 0);
	l->span.iov_base = l->base + MiB;
	l->span.iov_len = 7 * MiB;
}

static void layout_unmap(struct layout *l)
{
	munmap(l->base, 9 * MiB);
}

static void test_remote_cold(void **state)
{
	struct layout l;
	struct pmtest_child c;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct iovec v[3];
	int errs[3] = { -7, -7, -7 };

	(void)state;
	layout_map(&l);
	assert_int_equal(pmtest_spawn(&c, l.vma, l.len, 3, NULL, NULL), 0);
	assert_int_equal(pmadv_open(c.pid, 0, &t), 0);
	for (int i = 0; i < 3; i++)
		assert_true(pmtest_vma_kb(c.pid, l.vma[i], "Referenced") >=
			    (long)(l.len[i] / 1024) - 64);
	o.flags = PMADV_F_SKIP_UNMAPPED;
	assert_int_equal(pmadv_advise(t, &l.span, 1, MADV_COLD, &o, &r),
			 (ssize_t)MAPPED);
	assert_int_equal(r.skipped, HOLES);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.nfailed, 0);
	assert_int_equal(r.failed, SIZE_MAX);
	for (int i = 0; i < 3; i++) {
		assert_true(pmtest_vma_kb(c.pid, l.vma[i], "Referenced") <
			    (long)(l.len[i] / 1024 / 16));
		assert_int_equal(pmtest_vma_kb(c.pid, l.vma[i], "Rss"),
				 (long)(l.len[i] / 1024));
	}
	/* without the flag, one hole fails the range */
	assert_int_equal(pmadv_advise(t, &l.span, 1, MADV_COLD, NULL, &r),
			 -ENOMEM);
	assert_int_equal(r.failed, 0);
	assert_int_equal(r.skipped, 0);
	/* three elements: the span, a hole alone, C: all done, per element */
	v[0] = l.span;
	v[1].iov_base = l.base + 3 * MiB;
	v[1].iov_len = MiB;
	v[2].iov_base = l.vma[2];
	v[2].iov_len = l.len[2];
	o.errors = errs;
	assert_int_equal(pmadv_advise(t, v, 3, MADV_COLD, &o, &r),
			 (ssize_t)(MAPPED + MiB));
	assert_int_equal(r.done, 3);
	assert_int_equal(r.skipped, HOLES + MiB);
	for (int i = 0; i < 3; i++)
		assert_int_equal(errs[i], 0);
	/* a target that keeps its data */
	assert_int_equal(pmtest_poke(&c), 0);
	pmadv_close(t);
	pmtest_reap(&c);
	layout_unmap(&l);
}

static void test_self_dontneed(void **state)
{
	struct layout l;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	(void)state;
	layout_map(&l);
	for (int i = 0; i < 3; i++)
		memset(l.vma[i], 0x5a, l.len[i]);
	assert_int_equal(pmadv_open_self(0, &t), 0);
	o.flags = PMADV_F_SKIP_UNMAPPED | PMADV_F_DESTRUCTIVE;
	assert_int_equal(pmadv_advise(t, &l.span, 1, MADV_DONTNEED, &o, &r),
			 (ssize_t)MAPPED);
	assert_int_equal(r.skipped, HOLES);
	for (int i = 0; i < 3; i++) {
		const char *p = l.vma[i];

		assert_int_equal(pmtest_resident_pages(l.vma[i], l.len[i]), 0);
		for (size_t k = 0; k < l.len[i]; k += 4096)
			assert_int_equal(p[k], 0);
	}
	/* the guards around the span are not touched: not in the range */
	assert_int_equal(pmadv_advise(t, &l.span, 1, MADV_DONTNEED, NULL, &r),
			 -EPERM);
	pmadv_close(t);
	layout_unmap(&l);
}

/* A window with nothing mapped: every element done, all skipped, no
 * kernel call. */
static void test_all_holes(void **state)
{
	struct layout l;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct iovec hole;

	(void)state;
	layout_map(&l);
	hole.iov_base = l.base + 6 * MiB;
	hole.iov_len = MiB;
	assert_int_equal(pmadv_open_self(0, &t), 0);
	o.flags = PMADV_F_SKIP_UNMAPPED;
	assert_int_equal(pmadv_advise(t, &hole, 1, MADV_COLD, &o, &r), 0);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.skipped, MiB);
	assert_int_equal(r.calls, 0);
	/* lengths that end inside a page: bytes + skipped == the lengths */
	hole.iov_base = l.base + 5 * MiB + 4096;   /* B's tail, hole, C */
	hole.iov_len = 2 * MiB + 4096 - 100;
	assert_int_equal(pmadv_advise(t, &hole, 1, MADV_COLD, &o, &r),
			 (ssize_t)(MiB - 4096 + 2 * 4096 - 100));
	assert_int_equal(r.skipped, MiB);
	assert_int_equal(r.bytes + r.skipped, hole.iov_len);
	pmadv_close(t);
	layout_unmap(&l);
}

/* What validation refuses, it refuses with the flag as without it: the
 * caller's element is named. An empty element is done. */
static void test_hostile_vectors(void **state)
{
	struct layout l;
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct iovec v[3];

	(void)state;
	layout_map(&l);
	assert_int_equal(pmadv_open_self(0, &t), 0);
	o.flags = PMADV_F_SKIP_UNMAPPED;
	v[0] = l.span;
	v[1].iov_base = (char *)l.vma[1] + 1; /* not page aligned */
	v[1].iov_len = 4096;
	v[2].iov_base = l.vma[2];
	v[2].iov_len = 0;
	assert_int_equal(pmadv_advise(t, v, 3, MADV_COLD, &o, &r), -EINVAL);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.bytes, 0);
	v[1] = v[2];
	assert_int_equal(pmadv_advise(t, v, 2, MADV_COLD, &o, &r),
			 (ssize_t)MAPPED);
	assert_int_equal(r.done, 2);
	assert_int_equal(pmadv_advise(t, NULL, 2, MADV_COLD, &o, &r), -EINVAL);
	assert_int_equal(pmadv_advise(t, NULL, 0, MADV_COLD, &o, &r), 0);
	/* past the end of user space: EFAULT, the element named */
	v[1].iov_base = (void *)((uintptr_t)1 << 60);
	v[1].iov_len = 4096;
	assert_int_equal(pmadv_advise(t, v, 2, MADV_COLD, &o, &r), -EFAULT);
	assert_int_equal(r.failed, 1);
	pmadv_close(t);
	layout_unmap(&l);
}

/*
 * A byte budget that ends the work inside the vector: next and next_off
 * name the caller's element and the bytes into it (holes included) where
 * advising goes on, never a position in the library's mapped pieces.
 * 16 pages, holes at 4-7 and 12-13.
 */
static void test_budget_resume(void **state)
{
	static const struct { size_t budget, next, off; } want[] = {
		{ 4, 0, 8 }, { 5, 0, 9 }, { 8, 0, 14 }, { 9, 0, 15 },
		{ 10, 1, 0 },
	};
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct pmadv_target *t;
	char *m;

	(void)state;
	assert_int_equal(pmadv_open_self(0, &t), 0);
	m = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	memset(m, 1, 16 * pg);
	assert_int_equal(munmap(m + 4 * pg, 4 * pg), 0);
	assert_int_equal(munmap(m + 12 * pg, 2 * pg), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct iovec v = { m, 16 * pg };
		struct pmadv_opts o = PMADV_OPTS_INIT;
		struct pmadv_result r;

		o.flags = PMADV_F_SKIP_UNMAPPED;
		o.max_bytes = want[i].budget * pg;
		pmadv_advise(t, &v, 1, MADV_COLD, &o, &r);
		assert_int_equal(r.bytes, want[i].budget * pg);
		assert_int_equal(r.next, want[i].next);
		assert_int_equal(r.next_off, want[i].off * pg);
	}
	munmap(m, 4 * pg);
	munmap(m + 8 * pg, 4 * pg);
	munmap(m + 14 * pg, 2 * pg);
	pmadv_close(t);
}

/* Resident pages of [p, p + n pages), holes counted as not resident. */
static size_t resident_mapped(char *p, size_t n, size_t pg)
{
	size_t res = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char v;

		if (!mincore(p + i * pg, pg, &v))
			res += v & 1;
	}
	return res;
}

/* n pages of private anonymous memory, written, in small pages. */
static char *map_filled(size_t n, size_t pg)
{
	char *m = mmap(NULL, n * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	madvise(m, n * pg, MADV_NOHUGEPAGE);
	memset(m, 1, n * pg);
	return m;
}

/* max_bytes with PMADV_F_CONTINUE over holes (issue 12 F2): the mapped
 * part of an element that fails with ENOMEM is advised by the kernel, so
 * it is charged; DONTNEED drops no more pages than the budget. */
static void test_budget_holes_continue(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	int errs[4];
	char *m;

	(void)state;
	assert_int_equal(pmadv_open_self(0, &t), 0);
	m = map_filled(64, pg);
	/* holes at pages 8, 17, 26: elements of 9 pages end in one */
	assert_int_equal(munmap(m + 8 * pg, pg), 0);
	assert_int_equal(munmap(m + 17 * pg, pg), 0);
	assert_int_equal(munmap(m + 26 * pg, pg), 0);
	{
		struct iovec v[4] = { { m, 9 * pg }, { m + 9 * pg, 9 * pg },
				      { m + 18 * pg, 9 * pg },
				      { m + 27 * pg, 37 * pg } };

		assert_int_equal(resident_mapped(m, 64, pg), 61);
		o.flags = PMADV_F_CONTINUE | PMADV_F_DESTRUCTIVE;
		o.errors = errs;
		o.max_bytes = 9 * pg;
		assert_int_equal(pmadv_advise(t, v, 4, MADV_DONTNEED, &o, &r),
				 -EDQUOT);
		assert_true(61 - resident_mapped(m, 64, pg) <= 9);
		assert_int_equal(errs[0], ENOMEM);
		assert_int_equal(r.next, 1);
		/* a budget of 20 pages: A's 9, then B's 9, no more */
		memset(m, 1, 8 * pg);
		o.max_bytes = 20 * pg;
		assert_int_equal(pmadv_advise(t, v, 4, MADV_DONTNEED, &o, &r),
				 -EDQUOT);
		assert_true(61 - resident_mapped(m, 64, pg) <= 20);
		assert_int_equal(r.nfailed, 2);
	}
	munmap(m, 64 * pg);
	pmadv_close(t);
}

/* Budgets charge the pages an element touches, not its length (issue 12
 * F3): 64 one-byte elements with a 2-page max_bytes drop 2 pages, and a
 * 1-page batch_bytes makes one call per element. */
static void test_budget_unaligned(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct pmadv_target *t;
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct iovec v[64];
	char *m;

	(void)state;
	assert_int_equal(pmadv_open_self(0, &t), 0);
	m = map_filled(64, pg);
	for (int i = 0; i < 64; i++) {
		v[i].iov_base = m + i * pg;
		v[i].iov_len = 1;
	}
	o.flags = PMADV_F_DESTRUCTIVE;
	o.max_bytes = 2 * pg;
	assert_int_equal(pmadv_advise(t, v, 64, MADV_DONTNEED, &o, &r),
			 -EDQUOT);
	assert_int_equal(r.bytes, 2); /* the lengths, as documented */
	assert_int_equal(r.next, 2);
	assert_int_equal(resident_mapped(m, 64, pg), 62);
	assert_int_equal(resident_mapped(m, 2, pg), 0);
	memset(m, 1, 64 * pg);
	o.max_bytes = 0;
	o.batch_bytes = pg;
	assert_int_equal(pmadv_advise(t, v, 8, MADV_DONTNEED, &o, &r), 8);
	/* one call per element; before 6.13 the vector call refuses
	 * DONTNEED for the process itself once and madvise serves */
	assert_int_equal(r.calls,
			 8 + (r.method == PMADV_METHOD_MADVISE ? 1 : 0));
	assert_int_equal(resident_mapped(m, 64, pg), 56);
	munmap(m, 64 * pg);
	pmadv_close(t);
}

/* res.skipped of a call that stops on a budget counts the holes it got
 * through, not those of the rest of the vector (issue 12 F4): resumed
 * calls add up to the holes, once. */
static void test_budget_skipped(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct pmadv_target *t;
	size_t skipped = 0, bytes = 0, calls = 0;
	struct iovec v;
	char *m;

	(void)state;
	assert_int_equal(pmadv_open_self(0, &t), 0);
	m = map_filled(16, pg);
	/* mapped [0,4) [8,12) [14,16): 6 pages of holes */
	assert_int_equal(munmap(m + 4 * pg, 4 * pg), 0);
	assert_int_equal(munmap(m + 12 * pg, 2 * pg), 0);
	v.iov_base = m;
	v.iov_len = 16 * pg;
	for (;;) {
		struct pmadv_opts o = PMADV_OPTS_INIT;
		struct pmadv_result r;
		size_t before = resident_mapped(m, 16, pg);
		ssize_t ret;

		o.flags = PMADV_F_SKIP_UNMAPPED | PMADV_F_DESTRUCTIVE;
		o.max_bytes = 3 * pg;
		ret = pmadv_advise(t, &v, 1, MADV_DONTNEED, &o, &r);
		assert_true(before - resident_mapped(m, 16, pg) <= 3);
		/* the holes before where it stopped, no more */
		if (calls == 0) {
			assert_int_equal(ret, -EDQUOT);
			assert_int_equal(r.skipped, 0);
		}
		if (calls == 1) { /* page 3, the hole, pages 8 and 9 */
			assert_int_equal(r.skipped, 4 * pg);
			assert_int_equal(r.next_off, 10 * pg - 3 * pg);
		}
		skipped += r.skipped;
		bytes += r.bytes;
		calls++;
		assert_true(calls <= 8);
		if (ret != -EDQUOT)
			break;
		v.iov_base = (char *)v.iov_base + r.next_off;
		v.iov_len -= r.next_off;
	}
	assert_int_equal(skipped, 6 * pg);
	assert_int_equal(bytes, 10 * pg);
	assert_int_equal(resident_mapped(m, 16, pg), 0);
	munmap(m, 4 * pg);
	munmap(m + 8 * pg, 4 * pg);
	munmap(m + 14 * pg, 2 * pg);
	pmadv_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_cold),
		cmocka_unit_test(test_self_dontneed),
		cmocka_unit_test(test_all_holes),
		cmocka_unit_test(test_hostile_vectors),
		cmocka_unit_test(test_budget_resume),
		cmocka_unit_test(test_budget_holes_continue),
		cmocka_unit_test(test_budget_unaligned),
		cmocka_unit_test(test_budget_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
