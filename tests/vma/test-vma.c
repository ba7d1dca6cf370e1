// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * VMA enumeration against a child with a known layout: every filter returns
 * exactly the expected ranges, PROCMAP_QUERY and the text parser agree, the
 * change report catches a remapped range, and the API rejects what it must.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmadvise.h"
#include "vma.h"
#include "layout.h"

static struct layout L;
static struct pmadv_target *T;

#define PG(n) ((uint64_t)(n) * L.page)
#define A(n)  (L.base + PG(n))

struct range {
	uint64_t start, end;
};

static int group_setup(void **state)
{
	(void)state;
	if (layout_start(&L, false) < 0)
		return -1;
	return pmadv_open(L.pid, 0, &T) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	pmadv_close(T);
	layout_stop(&L);
	return 0;
}

static struct pmadv_filter window(unsigned int any, unsigned int all,
				  unsigned int none)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;

	f.match_any = any;
	f.match_all = all;
	f.match_none = none;
	f.start = L.base;
	f.end = L.base + PG(L_PAGES);
	return f;
}

/* The ranges a filter gives, against the expected list. */
static void expect_ranges(const struct pmadv_filter *f, unsigned int flags,
			  const struct range *want, size_t n)
{
	struct iovec *iov = NULL;
	ssize_t got;

	got = pmadv_vma_ranges(T, f, flags, &iov);
	assert_int_equal(got, (ssize_t)n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal((uintptr_t)iov[i].iov_base, want[i].start);
		assert_int_equal(iov[i].iov_len, want[i].end - want[i].start);
	}
	free(iov);
}

#define R(a, b) { A(a), A(b) }

static void test_filter_classes(void **state)
{
	(void)state;
	/* Reading: everything but the PROT_NONE gaps of the reservation. */
	{
		struct pmadv_filter f = window(0, PMADV_VMA_READ, 0);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_FILE, L_FILE + 3),
				     R(L_SHFILE, L_SHFILE + 2),
				     R(L_SHANON, L_SHANON + 2),
				     R(L_LOCKED, L_LOCKED + 2),
				     R(L_EXEC, L_EXEC + 1),
				     R(L_PAIR, L_PAIR + 2) };

		expect_ranges(&f, 0, w, 7);
	}
	{
		struct pmadv_filter f =
			window(PMADV_VMA_ANON, PMADV_VMA_READ, 0);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_LOCKED, L_LOCKED + 2),
				     R(L_EXEC, L_EXEC + 1),
				     R(L_PAIR, L_PAIR + 2) };

		expect_ranges(&f, 0, w, 4);
	}
	{
		struct pmadv_filter f = window(PMADV_VMA_FILE, 0, 0);
		struct range w[] = { R(L_FILE, L_FILE + 3) };

		expect_ranges(&f, 0, w, 1);
	}
	{
		struct pmadv_filter f = window(PMADV_VMA_SHARED, 0, 0);
		/* Shared file and shared anon are adjacent-but-one: two. */
		struct range w[] = { R(L_SHFILE, L_SHFILE + 2),
				     R(L_SHANON, L_SHANON + 2) };

		expect_ranges(&f, 0, w, 2);
	}
	{
		/* The reservation's gaps: private anonymous, no access. */
		struct pmadv_filter f = window(PMADV_VMA_ANON, 0,
					       PMADV_VMA_READ);
		struct iovec *iov;
		ssize_t n = pmadv_vma_ranges(T, &f, 0, &iov);

		assert_true(n >= 7);
		assert_int_equal((uintptr_t)iov[0].iov_base, L.base);
		assert_int_equal(iov[0].iov_len, PG(1));
		free(iov);
	}
}

static void test_filter_props(void **state)
{
	(void)state;
	{
		struct pmadv_filter f = window(0, PMADV_VMA_WRITE, 0);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_SHFILE, L_SHFILE + 2),
				     R(L_SHANON, L_SHANON + 2),
				     R(L_LOCKED, L_LOCKED + 2),
				     R(L_PAIR, L_PAIR + 1) };

		expect_ranges(&f, 0, w, 5);
	}
	{
		struct pmadv_filter f = window(0, PMADV_VMA_EXEC, 0);
		struct range w[] = { R(L_EXEC, L_EXEC + 1) };

		expect_ranges(&f, 0, w, 1);
	}
	{
		/* min_size applies per VMA: the pair's VMAs are 1 page. */
		struct pmadv_filter f = window(0, PMADV_VMA_READ, 0);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_FILE, L_FILE + 3) };

		f.min_size = PG(3);
		expect_ranges(&f, 0, w, 2);
	}
	{
		/* What COLD and PAGEOUT accept: the locked region goes. */
		struct pmadv_filter f =
			window(PMADV_VMA_ANON | PMADV_VMA_FILE, PMADV_VMA_READ,
			       PMADV_VMA_UNADVISABLE);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_FILE, L_FILE + 3),
				     R(L_EXEC, L_EXEC + 1),
				     R(L_PAIR, L_PAIR + 2) };

		expect_ranges(&f, 0, w, 4);
	}
	{
		struct pmadv_filter f = window(0, PMADV_VMA_LOCKED, 0);
		struct range w[] = { R(L_LOCKED, L_LOCKED + 2) };

		expect_ranges(&f, 0, w, 1);
	}
}

static void test_window_and_merge(void **state)
{
	(void)state;
	{
		struct pmadv_filter f = window(0, PMADV_VMA_READ, 0);
		struct range w[] = { R(L_ANON + 2, L_ANON + 4),
				     R(L_FILE, L_FILE + 2) };

		f.start = A(L_ANON + 2);
		f.end = A(L_FILE + 2);
		expect_ranges(&f, 0, w, 2);
	}
	{
		struct pmadv_filter f = window(PMADV_VMA_ANON, PMADV_VMA_READ, 0);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_LOCKED, L_LOCKED + 2),
				     R(L_EXEC, L_EXEC + 1),
				     R(L_PAIR, L_PAIR + 1),
				     R(L_PAIR + 1, L_PAIR + 2) };

		expect_ranges(&f, PMADV_VMA_F_NOMERGE, w, 5);
	}
	{
		/* One iovec per call: same ranges, the merge spans calls. */
		struct pmadv_filter f = window(PMADV_VMA_ANON, PMADV_VMA_READ, 0);
		struct range w[] = { R(L_ANON, L_ANON + 4),
				     R(L_LOCKED, L_LOCKED + 2),
				     R(L_EXEC, L_EXEC + 1),
				     R(L_PAIR, L_PAIR + 2) };
		struct pmadv_vma_iter *it;
		struct iovec one;
		size_t k = 0;
		ssize_t n;

		assert_int_equal(pmadv_vma_open(T, &f, 0, &it), 0);
		while ((n = pmadv_vma_fill(it, &one, 1)) > 0) {
			assert_int_equal(n, 1);
			assert_true(k < 4);
			assert_int_equal((uintptr_t)one.iov_base, w[k].start);
			assert_int_equal(one.iov_len, w[k].end - w[k].start);
			k++;
		}
		assert_int_equal(n, 0);
		assert_int_equal(k, 4);
		assert_int_equal(pmadv_vma_fill(it, &one, 1), 0);
		pmadv_vma_close(it);
	}
}

/* A caller built against a newer, bigger struct pmadv_vma: its size is
 * kept and the fields we do not know read as zero. */
static void test_next_bigger(void **state)
{
	struct pmadv_filter f = window(PMADV_VMA_FILE, 0, 0);
	struct {
		struct pmadv_vma v;
		uint64_t newer;
	} big;
	struct pmadv_vma_iter *it;

	(void)state;
	memset(&big, 0xa5, sizeof(big));
	big.v.size = sizeof(big);
	assert_int_equal(pmadv_vma_open(T, &f, 0, &it), 0);
	assert_int_equal(pmadv_vma_next(it, &big.v), 1);
	assert_int_equal(big.v.size, sizeof(big));
	assert_int_equal(big.v.start, A(L_FILE));
	assert_int_equal(big.v.reserved, 0);
	assert_int_equal(big.newer, 0);
	pmadv_vma_close(it);
}

static void test_next_fields(void **state)
{
	struct pmadv_filter f = window(PMADV_VMA_FILE | PMADV_VMA_SHARED, 0, 0);
	struct pmadv_vma_iter *it;
	struct pmadv_vma v = { .size = sizeof(v) };

	(void)state;
	assert_int_equal(pmadv_vma_open(T, &f, PMADV_VMA_F_VMFLAGS, &it), 0);
	assert_int_equal(pmadv_vma_next(it, &v), 1);
	assert_int_equal(v.start, A(L_FILE));
	assert_int_equal(v.end, A(L_FILE + 3));
	assert_int_equal(v.offset, PG(1));
	assert_int_equal(v.inode, L.file_ino);
	assert_int_equal(v.dev_major, L.file_major);
	assert_int_equal(v.dev_minor, L.file_minor);
	assert_int_equal(v.attrs, PMADV_VMA_FILE | PMADV_VMA_READ |
					  PMADV_VMA_VMFLAGS);
	assert_string_equal(v.name, L.path);
	assert_int_equal(pmadv_vma_next(it, &v), 1);
	assert_int_equal(v.start, A(L_SHFILE));
	assert_int_equal(v.offset, 0);
	assert_int_equal(v.attrs, PMADV_VMA_SHARED | PMADV_VMA_READ |
					  PMADV_VMA_WRITE | PMADV_VMA_VMFLAGS);
	assert_int_equal(pmadv_vma_next(it, &v), 1);
	assert_int_equal(v.start, A(L_SHANON));
	assert_int_equal(v.attrs & PMADV_VMA_SHARED, PMADV_VMA_SHARED);
	assert_int_equal(pmadv_vma_next(it, &v), 0);
	/* Mixing the two ways of reading is refused. */
	{
		struct iovec one;

		assert_int_equal(pmadv_vma_fill(it, &one, 1), -EINVAL);
	}
	pmadv_vma_close(it);
}

/* The specials of the whole child, and each one's exclusion. */
/* How many VMAs of t with every bit of all have bit too (bit 0: all of
 * them); each must be the file of *st, where st is given, and nameless. */
static int count_vmas(struct pmadv_target *t, unsigned int all,
		      unsigned int flags, unsigned int bit,
		      const struct stat *st)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct pmadv_vma v = { .size = sizeof(v) };
	struct pmadv_vma_iter *it;
	int n = 0;

	f.match_all = all;
	assert_int_equal(pmadv_vma_open(t, &f, flags, &it), 0);
	while (pmadv_vma_next(it, &v) == 1) {
		n += !bit || (v.attrs & bit);
		if (st) {
			assert_int_equal(v.inode, st->st_ino);
			assert_string_equal(v.name, "");
		}
	}
	pmadv_vma_close(it);
	return n;
}

static void test_specials(void **state)
{
	static const struct {
		unsigned int bit;
		const char *name;
	} sp[] = {
		{ PMADV_VMA_STACK, "[stack]" },
		{ PMADV_VMA_VDSO, "[vdso]" },
		{ PMADV_VMA_VVAR, "[vvar]" },
		{ PMADV_VMA_HEAP, "[heap]" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
		struct pmadv_filter f = PMADV_FILTER_INIT;
		struct pmadv_vma v = { .size = sizeof(v) };
		struct pmadv_vma_iter *it;
		int seen = 0, vsys = 0;

		assert_int_equal(pmadv_vma_open(T, &f, 0, &it), 0);
		while (pmadv_vma_next(it, &v) == 1) {
			if (!strcmp(v.name, sp[i].name)) {
				assert_true(v.attrs & sp[i].bit);
				seen++;
			}
			if (strstr(v.name, "vsyscall"))
				vsys++;
		}
		pmadv_vma_close(it);
		/* brk() growth may leave the heap in more than one VMA. */
		if (sp[i].bit == PMADV_VMA_HEAP)
			assert_true(seen >= 1);
		else
			assert_int_equal(seen, 1);
		assert_int_equal(vsys, 0);

		f.match_none = sp[i].bit;
		assert_int_equal(pmadv_vma_open(T, &f, 0, &it), 0);
		while (pmadv_vma_next(it, &v) == 1)
			assert_false(v.attrs & sp[i].bit);
		pmadv_vma_close(it);
	}
	/* [vvar] is VM_PFNMAP: COLD/PAGEOUT would refuse it. */
	assert_true(count_vmas(T, PMADV_VMA_VVAR, PMADV_VMA_F_VMFLAGS,
			       PMADV_VMA_PFNMAP, NULL) >= 1);
}

struct list {
	struct pmadv_vma_rec *v;
	size_t n;
};

static void read_all(struct pmadv_target *t, enum pmadv_vma_src_kind kind,
		     struct list *out)
{
	struct pmadv_vma_src src;
	struct pmadv_vma_rec *r = malloc(sizeof(*r));
	int ret;

	assert_non_null(r);
	out->v = NULL;
	out->n = 0;
	assert_int_equal(pmadv_vma_src_open(&src, t, kind, 0), 0);
	while ((ret = pmadv_vma_src_next(&src, r)) == 1) {
		if (r->attrs & PMADV_VMA_VSYSCALL)
			continue; /* only the text shows the gate area */
		out->v = realloc(out->v, (out->n + 1) * sizeof(*r));
		assert_non_null(out->v);
		out->v[out->n++] = *r;
	}
	assert_int_equal(ret, 0);
	pmadv_vma_src_close(&src);
	free(r);
}

static void same_lists(const struct list *a, const struct list *b,
		       unsigned int ignore)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct pmadv_vma_rec *x = &a->v[i], *y = &b->v[i];

		assert_int_equal(x->start, y->start);
		assert_int_equal(x->end, y->end);
		assert_int_equal(x->offset, y->offset);
		assert_int_equal(x->inode, y->inode);
		assert_int_equal(x->dev_major, y->dev_major);
		assert_int_equal(x->dev_minor, y->dev_minor);
		assert_int_equal(x->attrs & ~ignore, y->attrs & ~ignore);
		assert_string_equal(x->name, y->name);
	}
}

/* Whether this kernel has PROCMAP_QUERY (6.11+): one ioctl on our own
 * maps, asked directly rather than through the library's cached probe, so
 * that each kernel gets its own expectations. */
static bool kernel_has_query(void)
{
	struct pmadv_procmap_query q;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	int ret, err;

	assert_true(fd >= 0);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = PMADV_PQ_COVERING_OR_NEXT;
	ret = ioctl(fd, PMADV_PROCMAP_QUERY, &q);
	err = errno;
	close(fd);
	if (ret == 0)
		return true;
	/* No such ioctl on this file: the only other answer a kernel
	 * gives for our own maps. */
	assert_int_equal(err, ENOTTY);
	return false;
}

/* Both sources' lists of T's VMAs (the ioctl's only where the kernel has
 * it), checked to agree: free q->v and x->v. */
static void read_both(struct pmadv_target *t, struct list *q, struct list *x)
{
	q->v = NULL;
	q->n = 0;
	if (kernel_has_query())
		read_all(t, PMADV_SRC_QUERY, q);
	read_all(t, PMADV_SRC_TEXT, x);
	if (q->n)
		same_lists(q, x, 0);
}

/* The ioctl and the text parser see the same VMAs of the same process;
 * where the kernel lacks the ioctl, asking for it by name is EOPNOTSUPP
 * (never a silent fallback) and the text and smaps parsers still agree. */
static void test_query_vs_text(void **state)
{
	struct list q = { NULL, 0 }, t, s;
	const struct list *main_list;
	/* what only smaps tells (ASan's shadow is MADV_NOHUGEPAGE) */
	const unsigned int vmf = PMADV_VMA_UNADVISABLE | PMADV_VMA_VMFLAGS |
				 PMADV_VMA_NOHUGEPAGE | PMADV_VMA_DROPPABLE;
	const bool has = kernel_has_query();

	(void)state;
	print_message("PROCMAP_QUERY: %s; anonymous VMA names: %s\n",
		      has ? "present" : "absent",
		      L.anon_named ? "yes" : "no");
	if (has) {
		read_all(T, PMADV_SRC_QUERY, &q);
		/* The kernel has it: it must have been used. */
		assert_int_equal(pmadv_vma_query_probed(), 1);
	} else {
		struct pmadv_vma_src src;
		struct pmadv_vma_rec *r = malloc(sizeof(*r));

		assert_non_null(r);
		/* Not probed yet: the source opens, its first read finds
		 * the ioctl missing and remembers it. */
		pmadv_vma_reset_probe();
		assert_int_equal(pmadv_vma_src_open(&src, T, PMADV_SRC_QUERY,
						    0), 0);
		assert_int_equal(pmadv_vma_src_next(&src, r), -EOPNOTSUPP);
		pmadv_vma_src_close(&src);
		assert_int_equal(pmadv_vma_query_probed(), 0);
		/* Known missing: refused at once. */
		assert_int_equal(pmadv_vma_src_open(&src, T, PMADV_SRC_QUERY,
						    0), -EOPNOTSUPP);
		free(r);
	}
	read_all(T, PMADV_SRC_TEXT, &t);
	read_all(T, PMADV_SRC_SMAPS, &s);
	assert_true(t.n > 10);
	if (has)
		same_lists(&q, &t, 0);
	main_list = has ? &q : &t;
	/* Only where the kernel has CONFIG_ANON_VMA_NAME (not this host's). */
	if (L.anon_named) {
		size_t i = 0;

		while (i < main_list->n && main_list->v[i].start != A(L_ANON))
			i++;
		assert_true(i < main_list->n);
		assert_string_equal(main_list->v[i].name, "[anon:pmadv test]");
		assert_int_equal(main_list->v[i].attrs & PMADV_VMA_ANON,
				 PMADV_VMA_ANON);
	}
	same_lists(main_list, &s, vmf);
	free(q.v);
	free(t.v);
	free(s.v);

	/* The public path under PMADV_MAPS=text gives the same ranges; under
	 * PMADV_MAPS=query, the same again or EOPNOTSUPP without the ioctl. */
	{
		struct pmadv_filter f = PMADV_FILTER_INIT;
		struct iovec *a, *b, *c = NULL;
		ssize_t na, nb, nc;

		na = pmadv_vma_ranges(T, &f, PMADV_VMA_F_NOMERGE, &a);
		setenv("PMADV_MAPS", "text", 1);
		nb = pmadv_vma_ranges(T, &f, PMADV_VMA_F_NOMERGE, &b);
		setenv("PMADV_MAPS", "query", 1);
		nc = pmadv_vma_ranges(T, &f, PMADV_VMA_F_NOMERGE, &c);
		unsetenv("PMADV_MAPS");
		assert_true(na > 10);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, (size_t)na * sizeof(*a));
		if (has) {
			assert_int_equal(nc, na);
			assert_memory_equal(a, c, (size_t)na * sizeof(*a));
		} else {
			assert_int_equal(nc, -EOPNOTSUPP);
		}
		free(a);
		free(b);
		free(c);
	}
	/* A kernel without the ioctl: the cached probe sends AUTO to text. */
	{
		struct pmadv_vma_src src;

		pmadv_vma_force_source(PMADV_SRC_TEXT);
		assert_int_equal(pmadv_vma_src_open(&src, T, PMADV_SRC_AUTO, 0),
				 0);
		assert_int_equal(src.kind, PMADV_SRC_TEXT);
		pmadv_vma_src_close(&src);
		pmadv_vma_force_source(PMADV_SRC_AUTO);
		assert_int_equal(pmadv_vma_src_open(&src, T, PMADV_SRC_AUTO, 0),
				 0);
		assert_int_equal(src.kind,
				 has ? PMADV_SRC_QUERY : PMADV_SRC_TEXT);
		pmadv_vma_src_close(&src);
	}
}

/* Makes the PROCMAP_QUERY ioctl fail with err in this process, as on a
 * kernel without it (ENOTTY) or one that refuses our structure (EINVAL). */
static int deny_query(int err)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			 (uint32_t)PMADV_PROCMAP_QUERY, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = { sizeof(prog) / sizeof(prog[0]), prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp);
}

/* In a child of the test, so the filter stays there: the same ranges as
 * with the ioctl, through the text fallback, and the probe remembered. */
static int fallback_child(int err, const struct iovec *want, ssize_t nwant)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct iovec *iov;
	ssize_t n;

	if (deny_query(err))
		return 10;
	pmadv_vma_reset_probe();
	n = pmadv_vma_ranges(T, &f, PMADV_VMA_F_NOMERGE, &iov);
	if (n != nwant)
		return 11;
	if (memcmp(iov, want, (size_t)n * sizeof(*iov)))
		return 12;
	free(iov);
	if (pmadv_vma_query_probed() != 0)
		return 13;
	/* Known missing now: straight to text, and "query only" refused. */
	if (pmadv_vma_ranges(T, &f, PMADV_VMA_F_NOMERGE, &iov) != nwant)
		return 14;
	free(iov);
	setenv("PMADV_MAPS", "query", 1);
	if (pmadv_vma_ranges(T, &f, 0, &iov) != -EOPNOTSUPP)
		return 15;
	pmadv_vma_reset_probe();
	if (pmadv_vma_ranges(T, &f, 0, &iov) != -EOPNOTSUPP)
		return 16;
	return 0;
}

static void test_fallback(void **state)
{
	static const int errs[] = { ENOTTY, EINVAL };
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct iovec *want;
	ssize_t nwant;

	(void)state;
	nwant = pmadv_vma_ranges(T, &f, PMADV_VMA_F_NOMERGE, &want);
	assert_true(nwant > 10);
	for (size_t i = 0; i < 2; i++) {
		int st;
		pid_t pid = fork();

		if (pid == 0)
			_exit(fallback_child(errs[i], want, nwant));
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	free(want);
}

/* Enumerate, advise, let the child remap one range, recheck. */
static void test_recheck(void **state)
{
	struct pmadv_filter f = window(PMADV_VMA_ANON, PMADV_VMA_READ,
				       PMADV_VMA_UNADVISABLE);
	struct pmadv_vma_change ch[8];
	struct pmadv_vma_iter *it;
	struct pmadv_result res;
	struct iovec iov[16];
	ssize_t n, ret;

	(void)state;
	assert_int_equal(pmadv_vma_open(T, &f, PMADV_VMA_F_RECORD, &it), 0);
	n = pmadv_vma_fill(it, iov, 16);
	assert_int_equal(n, 3); /* anon, exec, pair (merged) */
	assert_int_equal(pmadv_vma_fill(it, iov + n, 16 - (size_t)n), 0);
	/* Advice needs CAP_SYS_NICE; the recheck does not. */
	ret = pmadv_advise(T, iov, (size_t)n, MADV_COLD, NULL, &res);
	if (geteuid() == 0)
		assert_true(ret >= 0);
	assert_int_equal(pmadv_vma_recheck(it, ch, 8), 0);

	assert_int_equal(layout_cmd(&L, LAYOUT_REMAP), 0);
	assert_int_equal(pmadv_vma_recheck(it, ch, 8), 1);
	assert_int_equal(ch[0].start, A(L_ANON));
	assert_int_equal(ch[0].end, A(L_ANON + 4));
	assert_int_equal(ch[0].what, PMADV_CHANGE_BOUNDS);
	/* Only the count when there is no room. */
	assert_int_equal(pmadv_vma_recheck(it, NULL, 0), 1);
	pmadv_vma_close(it);

	/* The next snapshot is of the new layout: no change. */
	assert_int_equal(pmadv_vma_open(T, &f, PMADV_VMA_F_RECORD, &it), 0);
	assert_int_equal(pmadv_vma_fill(it, iov, 16), 3);
	assert_int_equal(iov[0].iov_len, PG(2));
	assert_int_equal(pmadv_vma_recheck(it, ch, 8), 0);
	pmadv_vma_close(it);
}

static void test_errors(void **state)
{
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct pmadv_vma_iter *it;
	struct pmadv_vma_change ch;
	struct iovec *iov;
	struct pmadv_target *dead;
	pid_t pid;

	(void)state;
	errno = 1234;
	assert_int_equal(pmadv_vma_open(NULL, &f, 0, &it), -EINVAL);
	assert_int_equal(pmadv_vma_open(T, &f, 0x100, &it), -EINVAL);
	f.match_any = 0x80000000u;
	assert_int_equal(pmadv_vma_open(T, &f, 0, &it), -EINVAL);
	f.match_any = PMADV_VMA_VMFLAGS; /* a report bit, not a condition */
	assert_int_equal(pmadv_vma_open(T, &f, 0, &it), -EINVAL);
	f.match_any = 0;
	f.start = 1;
	assert_int_equal(pmadv_vma_open(T, &f, 0, &it), -EINVAL);
	f.start = PG(4);
	f.end = PG(4);
	assert_int_equal(pmadv_vma_open(T, &f, 0, &it), -EINVAL);
	f.end = 0;
	f.size = 8;
	assert_int_equal(pmadv_vma_open(T, &f, 0, &it), -EINVAL);
	{
		/* A newer, bigger filter: zeros past ours are fine. */
		struct {
			struct pmadv_filter f;
			uint64_t more;
		} big = { PMADV_FILTER_INIT, 0 };

		big.f.size = sizeof(big);
		assert_int_equal(pmadv_vma_open(T, &big.f, 0, &it), 0);
		pmadv_vma_close(it);
		big.more = 1;
		assert_int_equal(pmadv_vma_open(T, &big.f, 0, &it), -EINVAL);
	}
	assert_int_equal(pmadv_vma_ranges(T, NULL, PMADV_VMA_F_RECORD, &iov),
			 -EINVAL);
	assert_int_equal(pmadv_vma_open(T, NULL, 0, &it), 0);
	assert_int_equal(pmadv_vma_recheck(it, &ch, 1), -EINVAL);
	assert_int_equal(pmadv_vma_fill(it, NULL, 1), -EINVAL);
	pmadv_vma_close(it);
	pmadv_vma_close(NULL);
	{
		struct pmadv_vma v = { .size = sizeof(v) };
		struct iovec one;

		assert_int_equal(pmadv_vma_next(NULL, &v), -EINVAL);
		assert_int_equal(pmadv_vma_fill(NULL, &one, 1), -EINVAL);
		assert_int_equal(pmadv_vma_recheck(NULL, &ch, 1), -EINVAL);
		assert_int_equal(pmadv_vma_open(T, NULL, 0, &it), 0);
		assert_int_equal(pmadv_vma_fill(it, &one, 0), -EINVAL);
		v.size = 8;
		assert_int_equal(pmadv_vma_next(it, &v), -EINVAL);
		pmadv_vma_close(it);
	}
	assert_int_equal(errno, 1234);

	/* A target that died: ESRCH, not an empty list. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	assert_int_equal(pmadv_open(pid, 0, &dead), 0);
	waitpid(pid, NULL, 0);
	assert_int_equal(pmadv_vma_open(dead, NULL, 0, &it), -ESRCH);
	pmadv_close(dead);

	/* A zombie has no VMAs left: ESRCH from both sources, as from
	 * process_madvise, rather than an empty list. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	assert_int_equal(pmadv_open(pid, 0, &dead), 0);
	assert_true(wait_state(pid, "Z"));
	assert_int_equal(pmadv_vma_ranges(dead, NULL, 0, &iov), -ESRCH);
	setenv("PMADV_MAPS", "text", 1);
	assert_int_equal(pmadv_vma_ranges(dead, NULL, 0, &iov), -ESRCH);
	unsetenv("PMADV_MAPS");
	waitpid(pid, NULL, 0);
	pmadv_close(dead);
	assert_int_equal(errno, 1234);
}

static void test_hugetlb(void **state)
{
	static const char knob[] = "/proc/sys/vm/nr_overcommit_hugepages";
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct pmadv_target *t;
	struct pmadv_vma v = { .size = sizeof(v) };
	struct pmadv_vma_iter *it;
	struct layout h;
	char old[32] = "";
	FILE *k;
	int n = 0;

	(void)state;
	/* Surplus huge pages come from the buddy allocator on demand; the
	 * knob is put back afterwards. */
	if (geteuid() == 0 && (k = fopen(knob, "r"))) {
		if (!fgets(old, sizeof(old), k) || atoi(old) >= 4)
			old[0] = '\0';
		fclose(k);
		if (old[0] && (k = fopen(knob, "w"))) {
			fputs("4\n", k);
			fclose(k);
		}
	}
	assert_int_equal(layout_start(&h, true), 0);
	if (!h.huge) {
		layout_stop(&h);
		if (geteuid() == 0 && getenv("CI"))
			fail_msg("no huge page for MAP_HUGETLB as root in CI");
		skip();
	}
	assert_int_equal(pmadv_open(h.pid, 0, &t), 0);
	f.start = h.huge;
	f.end = h.huge + (2u << 20);
	assert_int_equal(pmadv_vma_open(t, &f, PMADV_VMA_F_VMFLAGS, &it), 0);
	while (pmadv_vma_next(it, &v) == 1) {
		assert_true(v.attrs & PMADV_VMA_HUGETLB);
		n++;
	}
	pmadv_vma_close(it);
	assert_int_equal(n, 1);
	f.match_none = PMADV_VMA_UNADVISABLE;
	{
		struct iovec *iov;

		assert_int_equal(pmadv_vma_ranges(t, &f, 0, &iov), 0);
		assert_null(iov);
	}
	pmadv_close(t);
	layout_stop(&h);
	if (old[0] && (k = fopen(knob, "w"))) {
		fputs(old, k);
		fclose(k);
	}
}

/* ---- one odd VMA never ends the listing ---- */

#define LONG_LEVELS 21 /* 21 directories of 200 bytes: a 4.2 kB path */

/* A child that maps fd (PROT_READ, private) between two anonymous
 * mappings, then waits to be killed. */
static pid_t map_and_wait(int fd, size_t len)
{
	pid_t pid = fork();

	if (pid == 0) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		char *a = mmap(NULL, 3 * page + len, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (a == MAP_FAILED ||
		    mprotect(a, page, PROT_READ | PROT_WRITE) < 0 ||
		    mmap(a + 2 * page, len, PROT_READ, MAP_PRIVATE | MAP_FIXED,
			 fd, 0) == MAP_FAILED)
			_exit(1);
		for (;;)
			pause();
	}
	assert_true(pid > 0);
	usleep(100000);
	return pid;
}

/*
 * A mapped file whose path is longer than PATH_MAX: PROCMAP_QUERY answers
 * ENAMETOOLONG for it (6.11 to 6.18), the text shows it in full. Both
 * sources list it nameless, flagged PMADV_VMA_LONGNAME, agree on every
 * VMA, and go on past it to the stack.
 */
static void test_long_path(void **state)
{
	char base[] = "/tmp/pmadv-long-XXXXXX", comp[201];
	int dirs[LONG_LEVELS + 1], fd, found = 0;
	struct pmadv_target *t;
	struct list q = { NULL, 0 }, x = { NULL, 0 };
	bool stack = false;
	struct stat st;
	pid_t pid;

	(void)state;
	memset(comp, 'd', 200);
	comp[200] = '\0';
	assert_non_null(mkdtemp(base));
	dirs[0] = open(base, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(dirs[0] >= 0);
	for (int i = 1; i <= LONG_LEVELS; i++) {
		assert_int_equal(mkdirat(dirs[i - 1], comp, 0700), 0);
		dirs[i] = openat(dirs[i - 1], comp,
				 O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		assert_true(dirs[i] >= 0);
	}
	fd = openat(dirs[LONG_LEVELS], "file",
		    O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(fstat(fd, &st), 0);
	pid = map_and_wait(fd, 4096);
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	read_both(t, &q, &x);
	for (size_t i = 0; i < x.n; i++) {
		if (x.v[i].inode == st.st_ino &&
		    x.v[i].dev_major == major(st.st_dev) &&
		    x.v[i].dev_minor == minor(st.st_dev)) {
			found++;
			assert_true(x.v[i].attrs & PMADV_VMA_LONGNAME);
			assert_true(x.v[i].attrs & PMADV_VMA_FILE);
			assert_string_equal(x.v[i].name, "");
		} else {
			assert_false(x.v[i].attrs & PMADV_VMA_LONGNAME);
		}
		if (found && !strcmp(x.v[i].name, "[stack]"))
			stack = true;
	}
	assert_int_equal(found, 1);
	assert_true(stack);
	/* the public iterator, with the default source, the same */
	assert_int_equal(count_vmas(t, PMADV_VMA_LONGNAME, 0, 0, &st), 1);
	pmadv_close(t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(q.v);
	free(x.v);
	close(fd);
	unlinkat(dirs[LONG_LEVELS], "file", 0);
	for (int i = LONG_LEVELS; i >= 1; i--) {
		close(dirs[i]);
		assert_int_equal(unlinkat(dirs[i - 1], comp, AT_REMOVEDIR), 0);
	}
	close(dirs[0]);
	rmdir(base);
}

/*
 * VmFlags that change what advice does: nh (MADV_NOHUGEPAGE, which
 * MADV_COLLAPSE refuses) and dp (MAP_DROPPABLE, 6.11+, whose data
 * MADV_PAGEOUT drops). With VmFlags read, an nh VMA is flagged and not
 * merged with its THP-eligible neighbour; without, they merge.
 */
static void test_vmflags_advice(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct pmadv_target *t;
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct iovec *iov = NULL;
	int p[2], droppable;
	uint64_t at;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		char *a = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		/* MAP_DROPPABLE is 0x08 */
		char *d = mmap(NULL, page, PROT_READ | PROT_WRITE,
			       0x08 | MAP_ANONYMOUS, -1, 0);
		uint64_t msg[2] = { (uintptr_t)a, d != MAP_FAILED };

		if (a == MAP_FAILED ||
		    madvise(a + 4 * page, 4 * page, MADV_NOHUGEPAGE) < 0 ||
		    write(p[1], msg, sizeof(msg)) != sizeof(msg))
			_exit(1);
		if (d != MAP_FAILED)
			memcpy(d, "x", 1);
		for (;;)
			pause();
	}
	{
		uint64_t msg[2];

		assert_int_equal(read(p[0], msg, sizeof(msg)), sizeof(msg));
		at = msg[0];
		droppable = (int)msg[1];
	}
	close(p[0]);
	close(p[1]);
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	f.start = at;
	f.end = at + 8 * page;
	/* without VmFlags the two halves are one range */
	assert_int_equal(pmadv_vma_ranges(t, &f, 0, &iov), 1);
	free(iov);
	iov = NULL;
	/* with them, two, and the filter can leave the nh half out */
	assert_int_equal(pmadv_vma_ranges(t, &f, PMADV_VMA_F_VMFLAGS, &iov),
			 2);
	free(iov);
	iov = NULL;
	f.match_none = PMADV_VMA_NOHUGEPAGE;
	assert_int_equal(pmadv_vma_ranges(t, &f, 0, &iov), 1);
	assert_int_equal((uintptr_t)iov[0].iov_base, at);
	assert_int_equal(iov[0].iov_len, 4 * page);
	free(iov);
	iov = NULL;
	/* MAP_DROPPABLE, where the kernel has it */
	print_message("MAP_DROPPABLE: %s\n",
		      droppable ? "present" : "unavailable on this kernel");
	if (droppable) {
		struct pmadv_filter g = PMADV_FILTER_INIT;

		g.match_all = PMADV_VMA_DROPPABLE;
		assert_int_equal(pmadv_vma_ranges(t, &g, 0, &iov), 1);
		free(iov);
		iov = NULL;
	}
	pmadv_close(t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Paths the text of /proc/PID/maps cannot tell apart: a newline (written
 * \012) and the four characters \012; and a backslash that is no escape.
 * Both sources give each file its exact name.
 */
static void test_escaped_names(void **state)
{
	static const char *const names[] = { "a\nb", "a\\012b", "a\\101b" };
	char dir[] = "/tmp/pmadv-esc-XXXXXX", path[128];
	struct pmadv_target *t;
	struct list q = { NULL, 0 }, x = { NULL, 0 };
	int fds[3], p[2], found = 0;
	pid_t pid;
	char c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fds[i] = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
		assert_true(fds[i] >= 0);
		assert_int_equal(ftruncate(fds[i], 4096), 0);
	}
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		/* dies with the test, even when an assertion ends it early */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fds[i],
				 0) == MAP_FAILED)
				_exit(1);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	read_both(t, &q, &x);
	for (size_t i = 0; i < x.n; i++)
		for (int k = 0; k < 3; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
			found += !strcmp(x.v[i].name, path);
		}
	assert_int_equal(found, 3);
	pmadv_close(t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(q.v);
	free(x.v);
	for (int i = 0; i < 3; i++) {
		close(fds[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	close(p[0]);
	close(p[1]);
	rmdir(dir);
}

static int zl_pipe[2];

static void *zl_thread(void *arg)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *a = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t at = (uintptr_t)a;

	(void)arg;
	/* dies with the test, even when an assertion ends it early */
	if (a == MAP_FAILED || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(1);
	memset(a, 1, 8 * page);
	if (write(zl_pipe[1], &at, sizeof(at)) != sizeof(at))
		_exit(1);
	for (;;)
		pause();
	return NULL;
}

/*
 * A process whose main thread called pthread_exit: its /proc/PID/maps is
 * empty, yet it runs and has memory. Both sources list it, through a live
 * thread's view, and agree.
 */
static void test_zombie_leader(void **state)
{
	struct pmadv_target *t;
	struct pmadv_filter f = PMADV_FILTER_INIT;
	struct list q = { NULL, 0 }, x = { NULL, 0 };
	struct iovec *iov = NULL;
	uint64_t at;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(zl_pipe), 0);
	pid = fork();
	if (pid == 0) {
		pthread_t th;

		if (pthread_create(&th, NULL, zl_thread, NULL))
			_exit(1);
		pthread_exit(NULL);
	}
	assert_int_equal(read(zl_pipe[0], &at, sizeof(at)), sizeof(at));
	close(zl_pipe[0]);
	close(zl_pipe[1]);
	for (int i = 0; i < 1000; i++) {
		char path[64], buf[512], *p;
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fp = fopen(path, "r");
		assert_non_null(fp);
		assert_non_null(fgets(buf, sizeof(buf), fp));
		fclose(fp);
		p = strrchr(buf, ')');
		if (p && p[2] == 'Z')
			break;
		usleep(10000);
	}
	assert_int_equal(pmadv_open(pid, 0, &t), 0);
	read_both(t, &q, &x);
	assert_true(x.n > 0);
	f.start = at;
	f.end = at + 8 * (uint64_t)sysconf(_SC_PAGESIZE);
	assert_int_equal(pmadv_vma_ranges(t, &f, 0, &iov), 1);
	assert_int_equal((uintptr_t)iov[0].iov_base, at);
	free(iov);
	pmadv_close(t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(q.v);
	free(x.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_classes),
		cmocka_unit_test(test_filter_props),
		cmocka_unit_test(test_window_and_merge),
		cmocka_unit_test(test_next_fields),
		cmocka_unit_test(test_next_bigger),
		cmocka_unit_test(test_specials),
		cmocka_unit_test(test_query_vs_text),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hugetlb),
		cmocka_unit_test(test_long_path),
		cmocka_unit_test(test_vmflags_advice),
		cmocka_unit_test(test_zombie_leader),
		cmocka_unit_test(test_escaped_names),
		/* Last: it changes the layout. */
		cmocka_unit_test(test_recheck),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
