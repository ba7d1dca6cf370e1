// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The maps/smaps line parser on its own: real lines of every shape, the
 * kernel's escapes, smaps records with VmFlags, and malformed input that
 * must be refused rather than half-parsed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vma.h"

static struct pmadv_vma_rec r;

static int parse(const char *line)
{
	return pmadv_maps_parse_header(line, strlen(line), &r);
}

static void test_lines(void **state)
{
	(void)state;
	assert_int_equal(parse("55d0c0a00000-55d0c0a02000 r--p 00001000 fe:00 "
			       "1323060                    /usr/bin/cat"), 0);
	assert_int_equal(r.start, 0x55d0c0a00000ull);
	assert_int_equal(r.end, 0x55d0c0a02000ull);
	assert_int_equal(r.offset, 0x1000);
	assert_int_equal(r.dev_major, 0xfe);
	assert_int_equal(r.dev_minor, 0);
	assert_int_equal(r.inode, 1323060);
	assert_string_equal(r.name, "/usr/bin/cat");
	assert_int_equal(r.attrs, PMADV_VMA_FILE | PMADV_VMA_READ);

	/* Anonymous: the line ends with a space after the inode. */
	assert_int_equal(parse("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 "),
			 0);
	assert_int_equal(r.attrs,
			 PMADV_VMA_ANON | PMADV_VMA_READ | PMADV_VMA_WRITE);
	assert_int_equal(r.name_len, 0);
	assert_int_equal(parse("7f0000000000-7f0000001000 rw-p 00000000 00:00 0"),
			 0);

	assert_int_equal(parse("7ffd1000-7ffd2000 rw-p 00000000 00:00 0  [stack]"),
			 0);
	assert_int_equal(r.attrs, PMADV_VMA_ANON | PMADV_VMA_STACK |
					  PMADV_VMA_READ | PMADV_VMA_WRITE);
	assert_int_equal(parse("1000-2000 rw-p 00000000 00:00 0 [heap]"), 0);
	assert_true(r.attrs & PMADV_VMA_HEAP);
	assert_int_equal(parse("1000-2000 r-xp 00000000 00:00 0 [vdso]"), 0);
	assert_int_equal(r.attrs, PMADV_VMA_SPECIAL | PMADV_VMA_VDSO |
					  PMADV_VMA_READ | PMADV_VMA_EXEC);
	assert_int_equal(parse("1000-2000 r--p 00000000 00:00 0 [vvar_vclock]"),
			 0);
	assert_true(r.attrs & PMADV_VMA_VVAR);
	assert_int_equal(parse("ffffffffff600000-ffffffffff601000 --xp 00000000 "
			       "00:00 0 [vsyscall]"), 0);
	assert_true(r.attrs & PMADV_VMA_VSYSCALL);
	assert_int_equal(parse("1000-2000 rw-p 00000000 00:00 0 [anon:jit]"), 0);
	assert_true(r.attrs & PMADV_VMA_ANON);
	assert_int_equal(parse("1000-2000 ---p 00000000 00:00 0 [uprobes]"), 0);
	assert_int_equal(r.attrs, PMADV_VMA_SPECIAL);
	/* Shared anonymous memory is a shmem file: shared class. */
	assert_int_equal(parse("1000-2000 rw-s 00000000 00:01 2050 "
			       "/dev/zero (deleted)"), 0);
	assert_int_equal(r.attrs, PMADV_VMA_SHARED | PMADV_VMA_READ |
					  PMADV_VMA_WRITE);
	assert_string_equal(r.name, "/dev/zero (deleted)");
	/* Spaces inside a name, and the kernel's \012 for a newline. */
	assert_int_equal(parse("1000-2000 r--p 00000000 08:01 7 /tmp/a b\\012c"),
			 0);
	assert_string_equal(r.name, "/tmp/a b\nc");
}

static void test_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"1000",
		"1000-",
		"2000-1000 r--p 00000000 00:00 0",   /* start after end */
		"1000-1000 r--p 00000000 00:00 0",   /* empty */
		"1000-2000 r--q 00000000 00:00 0",
		"1000-2000 rw 00000000 00:00 0",
		"1000-2000 r--p 0000000g 00:00 0",
		"1000-2000 r--p 00000000 0000 0",
		"1000-2000 r--p 00000000 00:00 x",
		"1000-2000 r--p 00000000 00:00 0x",
		"11112222333344445-ffffffffffffffff r--p 0 0:0 0", /* 17 digits */
		"1000-2000 r--p 0 0:0 99999999999999999999999",    /* > 2^64 */
		"g000-2000 r--p 00000000 00:00 0",
		"Size:                  4 kB",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i]), -EINVAL);
	/* Bounds come from the length, not a terminator. */
	assert_int_equal(pmadv_maps_parse_header("1000-2000 r--p 0 0:0 0",
						 12, &r), -EINVAL);
}

struct seen {
	unsigned int n;
	struct pmadv_vma_rec last[6];
};

static int collect(void *ctx, const struct pmadv_vma_rec *rec)
{
	struct seen *s = ctx;

	if (s->n < sizeof(s->last) / sizeof(s->last[0]))
		s->last[s->n] = *rec;
	s->n++;
	return 0;
}

/* Names of up to 4,095 bytes are kept; a longer one, which PROCMAP_QUERY
 * cannot return, is "" with PMADV_VMA_LONGNAME in the text too. */
static void test_long_names(void **state)
{
	static char line[8192];
	static struct seen s;
	const char head[] = "1000-2000 r--p 00000000 08:01 12 /";

	(void)state;
	for (size_t len = 4094; len <= 4096; len++) {
		size_t n = sizeof(head) - 1;

		memcpy(line, head, n);
		memset(line + n, 'a', len - 1); /* the name: '/' and len-1 */
		n += len - 1;
		line[n++] = '\n';
		memset(&s, 0, sizeof(s));
		assert_int_equal(pmadv_maps_parse_buf(line, n, false, collect,
						      &s), 1);
		if (len <= 4095) {
			assert_int_equal(s.last[0].name_len, len);
			assert_false(s.last[0].attrs & PMADV_VMA_LONGNAME);
		} else {
			assert_string_equal(s.last[0].name, "");
			assert_true(s.last[0].attrs & PMADV_VMA_LONGNAME);
			assert_true(s.last[0].attrs & PMADV_VMA_FILE);
		}
	}
}

static void test_smaps(void **state)
{
	static const char smaps[] =
		"1000-3000 rw-p 00000000 00:00 0 \n"
		"Size:                  8 kB\n"
		"VmFlags: rd wr mr mw me lo ac \n"
		"3000-4000 r--p 00000000 00:00 0 [vvar]\n"
		"Rss:                   0 kB\n"
		"VmFlags: rd mr pf io de dd \n"
		"400000-600000 rw-p 00000000 00:10 5 /anon_hugepage (deleted)\n"
		"VmFlags: rd wr mr mw me de ht \n"
		"700000-701000 r--p 00000000 00:00 0 \n"
		"800000-801000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac nh \n"
		"900000-901000 rw-- 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac dp \n";
	static struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(pmadv_maps_parse_buf(smaps, sizeof(smaps) - 1, true,
					      collect, &s), 6);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.last[0].attrs & PMADV_VMA_UNADVISABLE,
			 PMADV_VMA_LOCKED);
	assert_true(s.last[0].attrs & PMADV_VMA_VMFLAGS);
	assert_int_equal(s.last[1].attrs & PMADV_VMA_UNADVISABLE,
			 PMADV_VMA_PFNMAP);
	assert_int_equal(s.last[2].attrs & PMADV_VMA_UNADVISABLE,
			 PMADV_VMA_HUGETLB);
	/* A record without a VmFlags line: not claimed as read. */
	assert_false(s.last[3].attrs & PMADV_VMA_VMFLAGS);
	assert_int_equal(s.last[4].attrs &
				 (PMADV_VMA_NOHUGEPAGE | PMADV_VMA_DROPPABLE),
			 PMADV_VMA_NOHUGEPAGE);
	assert_int_equal(s.last[5].attrs &
				 (PMADV_VMA_NOHUGEPAGE | PMADV_VMA_DROPPABLE),
			 PMADV_VMA_DROPPABLE);

	/* As maps text, the field lines are an error. */
	assert_int_equal(pmadv_maps_parse_buf(smaps, sizeof(smaps) - 1, false,
					      NULL, NULL), -EINVAL);
	/* A field before any header. */
	assert_int_equal(pmadv_maps_parse_buf("Rss: 4 kB\n", 10, true, NULL,
					      NULL), -EINVAL);
	assert_int_equal(pmadv_maps_parse_buf("", 0, true, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_smaps),
		cmocka_unit_test(test_long_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
