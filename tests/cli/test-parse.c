// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of pmadvise's value parsers (src/cli/parse.c): a typo in a
 * range must be a usage error, never a different range.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pmadvise.h"

static void test_sizes(void **state)
{
	size_t v;

	(void)state;
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("2M", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(parse_size("2MiB", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(parse_size("1G", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(parse_size("0x1000", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("4Q", &v), -EINVAL);
	assert_int_equal(parse_size("4 K", &v), -EINVAL);
	assert_int_equal(parse_size("-4K", &v), -EINVAL);
	assert_int_equal(parse_size("4KK", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
	/* No sign, no white space, no octal: " -1" was 2^64-1, "010" 8. */
	assert_int_equal(parse_size(" -1", &v), -EINVAL);
	assert_int_equal(parse_size(" 1", &v), -EINVAL);
	assert_int_equal(parse_size("+1", &v), -EINVAL);
	assert_int_equal(parse_size("\t4K", &v), -EINVAL);
	assert_int_equal(parse_size("010", &v), -EINVAL);
	assert_int_equal(parse_size("00", &v), -EINVAL);
	assert_int_equal(parse_size("0x-1", &v), -EINVAL);
	assert_int_equal(parse_size("0x", &v), -EINVAL);
	assert_int_equal(parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_size("10", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_size("0x010", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(parse_size("18446744073709551615", &v), 0);
	assert_true(v == SIZE_MAX);
	assert_int_equal(parse_size("18446744073709551616", &v), -ERANGE);
}

static void test_addresses(void **state)
{
	uintptr_t a;

	(void)state;
	assert_int_equal(parse_addr("7f0000001000", &a), 0);
	assert_true(a == (uintptr_t)0x7f0000001000ull);
	assert_int_equal(parse_addr("0x1000", &a), 0);
	assert_true(a == 0x1000);
	assert_int_equal(parse_addr("10g0", &a), -EINVAL);
	assert_int_equal(parse_addr("", &a), -EINVAL);
	assert_int_equal(parse_addr("-1000", &a), -EINVAL);
	assert_int_equal(parse_addr("1ffffffffffffffff", &a), -ERANGE);
	/* Zeros in front of a hex address are fine, as in maps. */
	assert_int_equal(parse_addr("00000000000000000000001000", &a), 0);
	assert_true(a == 0x1000);
	assert_int_equal(parse_addr(" 1000", &a), -EINVAL);
	assert_int_equal(parse_addr("1000 ", &a), -EINVAL);
	assert_int_equal(parse_addr("+1000", &a), -EINVAL);
	assert_int_equal(parse_addr(" -1", &a), -EINVAL);
	assert_int_equal(parse_addr("0x", &a), -EINVAL);
	assert_int_equal(parse_addr("0x-1", &a), -EINVAL);
	assert_int_equal(parse_addr("0x 1", &a), -EINVAL);
}

static void test_ranges(void **state)
{
	struct cli_range r;

	(void)state;
	assert_int_equal(parse_range("1000-3000", &r), 0);
	assert_true(r.start == 0x1000 && r.len == 0x2000);
	assert_int_equal(parse_range("0x1000+8K", &r), 0);
	assert_true(r.start == 0x1000 && r.len == 8192);
	assert_int_equal(parse_range("1000+0x2000", &r), 0);
	assert_true(r.len == 0x2000);
	assert_int_equal(parse_range("3000-1000", &r), -ERANGE);
	assert_int_equal(parse_range("1000-1000", &r), -EINVAL);
	assert_int_equal(parse_range("1000", &r), -EINVAL);
	assert_int_equal(parse_range("1000-", &r), -EINVAL);
	assert_int_equal(parse_range("+4K", &r), -EINVAL);
	assert_int_equal(parse_range("1000+4Q", &r), -EINVAL);
	assert_int_equal(parse_range("ffffffffffffe000+16K", &r), -ERANGE);
	/* "A- -1" was A to 2^64-1, "A+010" 8 bytes. */
	assert_int_equal(parse_range("1000- -1", &r), -EINVAL);
	assert_int_equal(parse_range("1000--1", &r), -EINVAL);
	assert_int_equal(parse_range("1000-+2000", &r), -EINVAL);
	assert_int_equal(parse_range("1000+010", &r), -EINVAL);
	assert_int_equal(parse_range("1000+ 4K", &r), -EINVAL);
	assert_int_equal(parse_range(" 1000+4K", &r), -EINVAL);
	assert_int_equal(parse_range("1000+10", &r), 0);
	assert_true(r.len == 10);
}

static void test_pids_and_ms(void **state)
{
	pid_t p;
	int ms;

	(void)state;
	assert_int_equal(parse_pid("1234", &p), 0);
	assert_int_equal(p, 1234);
	assert_int_equal(parse_pid("0", &p), -EINVAL);
	assert_int_equal(parse_pid("-1", &p), -EINVAL);
	assert_int_equal(parse_pid("12a", &p), -EINVAL);
	/* well-formed but too large: ERANGE, which the CLI says apart */
	assert_int_equal(parse_pid("99999999999", &p), -ERANGE);
	assert_int_equal(parse_ms("250", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(parse_ms("1s", &ms), -EINVAL);
	assert_int_equal(parse_ms(" 5", &ms), -EINVAL);
	assert_int_equal(parse_ms("+5", &ms), -EINVAL);
	assert_int_equal(parse_ms("05", &ms), -EINVAL);
	assert_int_equal(parse_ms("0x5", &ms), -EINVAL);
	assert_int_equal(parse_ms("0", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(parse_pid("2147483647", &p), 0);
	assert_int_equal(parse_pid("2147483648", &p), -ERANGE);
	assert_int_equal(parse_pid("0100", &p), -EINVAL);
	assert_int_equal(parse_ms("2147483647", &ms), 0);
	assert_int_equal(ms, 2147483647);
	assert_int_equal(parse_ms("2147483648", &ms), -ERANGE);
	assert_int_equal(parse_ms("99999999999999999999", &ms), -ERANGE);
	assert_int_equal(parse_ms("-1", &ms), -EINVAL);
}

static void test_signals(void **state)
{
	int s;

	(void)state;
	assert_int_equal(parse_signal("KILL", &s), 0);
	assert_int_equal(s, SIGKILL);
	assert_int_equal(parse_signal("sigterm", &s), 0);
	assert_int_equal(s, SIGTERM);
	assert_int_equal(parse_signal("SIGRTMIN", &s), -EINVAL);
	assert_int_equal(parse_signal("9", &s), 0);
	assert_int_equal(s, 9);
	assert_int_equal(parse_signal("0", &s), -EINVAL);
	assert_int_equal(parse_signal("65", &s), -EINVAL);
	assert_int_equal(parse_signal("-9", &s), -EINVAL);
	assert_int_equal(parse_signal("09", &s), -EINVAL);
	assert_int_equal(parse_signal("SIG", &s), -EINVAL);
	assert_int_equal(parse_signal("", &s), -EINVAL);
	assert_int_equal(parse_signal("KILL ", &s), -EINVAL);
}

static void test_budgets(void **state)
{
	unsigned int pct;
	size_t rate;
	int ms;

	(void)state;
	assert_int_equal(parse_duration("10", &ms), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(parse_duration("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(parse_duration("2m", &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(parse_duration("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(parse_duration("1000h", &ms), -ERANGE);
	assert_int_equal(parse_duration("0", &ms), -EINVAL);
	assert_int_equal(parse_duration("-1s", &ms), -EINVAL);
	assert_int_equal(parse_duration("010s", &ms), -EINVAL);
	assert_int_equal(parse_duration("5x", &ms), -EINVAL);
	assert_int_equal(parse_duration("1.5s", &ms), -EINVAL);
	assert_int_equal(parse_duration("0x10s", &ms), -EINVAL);
	assert_int_equal(parse_rate("64M/s", &rate), 0);
	assert_int_equal(rate, 64u << 20);
	assert_int_equal(parse_rate("4096", &rate), 0);
	assert_int_equal(rate, 4096);
	assert_int_equal(parse_rate("0/s", &rate), -EINVAL);
	assert_int_equal(parse_rate("/s", &rate), -EINVAL);
	assert_int_equal(parse_rate("64M/m", &rate), -EINVAL);
	assert_int_equal(parse_rate(" 1M/s", &rate), -EINVAL);
	assert_int_equal(parse_percent("1", &pct), 0);
	assert_int_equal(parse_percent("100", &pct), 0);
	assert_int_equal(pct, 100);
	assert_int_equal(parse_percent("0", &pct), -EINVAL);
	assert_int_equal(parse_percent("101", &pct), -EINVAL);
	assert_int_equal(parse_percent("50%", &pct), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_pids_and_ms),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_budgets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
