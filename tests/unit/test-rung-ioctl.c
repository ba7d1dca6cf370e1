// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of the ioctl rung that need no module: how it finds (or does
 * not find) the device named by PMADV_DEVICE, what each refusal means to
 * the ladder, and the diagnose messages. /dev/null stands in for a device
 * node that is not procmadvise (it answers ENOTTY). The module's own
 * behaviour is tested in the VM (tests/vm).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static struct pmadv_target self;
static struct pmadv_call call;
static char page[4096] __attribute__((aligned(4096)));

static int setup(void **state)
{
	(void)state;
	self.pid = getpid();
	self.pidfd = -1;
	memset(&call, 0, sizeof(call));
	call.t = &self;
	call.advice = MADV_COLD;
	return 0;
}

static void test_absent(void **state)
{
	char msg[256];

	(void)state;
	setenv("PMADV_DEVICE", "/nonexistent-dir/procmadvise", 1);
	assert_int_equal(pmadv_rung_ioctl.probe(), -ENOSYS);
	assert_int_equal(pmadv_rung_ioctl.diagnose(&self, MADV_COLD, msg,
						   sizeof(msg)), -ENOSYS);
	assert_non_null(strstr(msg, "device node /nonexistent-dir/procmadvise "
				    "absent: module not loaded"));
}

static void test_not_a_device(void **state)
{
	char msg[256], path[] = "/tmp/pmadv-rung-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	setenv("PMADV_DEVICE", path, 1);
	assert_int_equal(pmadv_rung_ioctl.probe(), -ENODEV);
	assert_int_equal(pmadv_rung_ioctl.diagnose(&self, MADV_COLD, msg,
						   sizeof(msg)), -ENODEV);
	assert_non_null(strstr(msg, "not a character device"));
	close(fd);
	unlink(path);
}

/* A character device that is not procmadvise: available to open, but its
 * ENOTTY sends the ladder to the next rung, and diagnose says why. */
static void test_foreign_device(void **state)
{
	struct iovec iov = { page, sizeof(page) };
	char msg[256];
	int err = 0;
	ssize_t ret;

	(void)state;
	setenv("PMADV_DEVICE", "/dev/null", 1);
	assert_int_equal(pmadv_rung_ioctl.probe(), 0);
	ret = pmadv_rung_ioctl.advise(&call, &iov, 1, &err);
	assert_int_equal(ret, -ENOTTY);
	assert_int_equal(pmadv_rung_ioctl.judge(&call, ENOTTY).verdict,
			 PMADV_NEXT);
	/* EINVAL is re-tested with an empty request, which /dev/null also
	 * answers with ENOTTY: still "next rung". */
	assert_int_equal(pmadv_rung_ioctl.judge(&call, EINVAL).verdict,
			 PMADV_NEXT);
	assert_int_equal(pmadv_rung_ioctl.diagnose(&self, MADV_COLD, msg,
						   sizeof(msg)), -ENOTTY);
	assert_non_null(strstr(msg, "does not answer the procmadvise ioctl"));
}

static void test_judge(void **state)
{
	static const struct {
		int err;
		enum pmadv_verdict v;
	} table[] = {
		{ ENOSYS, PMADV_NEXT }, { ENODEV, PMADV_NEXT },
		{ ENXIO, PMADV_NEXT }, { ENOTTY, PMADV_NEXT },
		{ E2BIG, PMADV_NEXT }, { EOPNOTSUPP, PMADV_NEXT },
		{ EPERM, PMADV_NEXT }, { EACCES, PMADV_STOP },
		{ ESRCH, PMADV_STOP }, { EBADF, PMADV_STOP },
		{ ENOMEM, PMADV_SERVE }, { EFAULT, PMADV_SERVE },
		{ EINTR, PMADV_SERVE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct pmadv_judgement j =
			pmadv_rung_ioctl.judge(&call, table[i].err);

		if (j.verdict != table[i].v || j.err != table[i].err)
			fail_msg("judge(%s) = %d, %s, want %d",
				 strerror(table[i].err), j.verdict,
				 strerror(j.err), table[i].v);
	}
}

static void test_identity(void **state)
{
	(void)state;
	assert_int_equal(pmadv_rung_ioctl.method, PMADV_METHOD_IOCTL);
	assert_string_equal(pmadv_rung_ioctl.name, "ioctl");
	assert_ptr_equal(pmadv_rungs[1], &pmadv_rung_ioctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_identity, setup),
		cmocka_unit_test_setup(test_absent, setup),
		cmocka_unit_test_setup(test_not_a_device, setup),
		cmocka_unit_test_setup(test_foreign_device, setup),
		cmocka_unit_test_setup(test_judge, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
