// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pmadv_status_lists, the reader of word lists in /proc status lines that
 * the ptrace rung's x86 backend asks whether a thread runs with a shadow
 * stack ("x86_Thread_features:\tshstk wrss", Linux 6.6+), which it
 * refuses. Texts as the kernel writes them, and hostile ones: a word that
 * only starts like the one asked for, a longer field name, no newline.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

#define F "x86_Thread_features:"

static void test_kernel_text(void **state)
{
	const char *on = "Name:\tcat\nSeccomp:\t0\n" F "\tshstk wrss \n"
			 "x86_Thread_features_locked:\t\nVmRSS:\t4 kB\n";
	const char *off = "Name:\tcat\n" F "\t\n"
			  "x86_Thread_features_locked:\tshstk\n";

	(void)state;
	assert_true(pmadv_status_lists(on, F, "shstk"));
	assert_true(pmadv_status_lists(on, F, "wrss"));
	assert_false(pmadv_status_lists(on, F, "shst"));
	assert_false(pmadv_status_lists(on, F, "ss"));
	/* the locked list, a longer name, is not the enabled one */
	assert_false(pmadv_status_lists(off, F, "shstk"));
	assert_true(pmadv_status_lists(off, "x86_Thread_features_locked:",
				       "shstk"));
}

static void test_hostile_text(void **state)
{
	(void)state;
	assert_false(pmadv_status_lists("", F, "shstk"));
	assert_false(pmadv_status_lists("Name:\tshstk\n", F, "shstk"));
	assert_false(pmadv_status_lists(F "\tshstkx\n", F, "shstk"));
	assert_false(pmadv_status_lists(F "\txshstk\n", F, "shstk"));
	assert_false(pmadv_status_lists(F "\t\nshstk\n", F, "shstk"));
	assert_false(pmadv_status_lists(F "\tshstk\n", F, ""));
	/* the last line without its newline, and tabs between words */
	assert_true(pmadv_status_lists("Name:\tx\n" F "\twrss\tshstk", F,
				       "shstk"));
	/* a name further along a line is not a line's start */
	assert_false(pmadv_status_lists("Name:\t" F " shstk\n", F, "shstk"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_text),
		cmocka_unit_test(test_hostile_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
