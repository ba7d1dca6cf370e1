// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ioctl rung. This version of libprocmadvise does not include it: the rung
 * reports itself unavailable (-ENOSYS) so the ladder passes over it and says
 * so. It never advises anything.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

static int ioctl_probe(void)
{
	return -ENOSYS;
}

static ssize_t ioctl_advise(struct pmadv_call *c, const struct iovec *iov,
			   size_t n, int *err)
{
	(void)c, (void)iov, (void)n, (void)err;
	return -ENOSYS;
}

static enum pmadv_verdict ioctl_judge(struct pmadv_call *c, int err)
{
	(void)c, (void)err;
	return PMADV_NEXT;
}

static int ioctl_diagnose(const struct pmadv_target *t, int advice, char *msg,
			 size_t len)
{
	(void)t, (void)advice;
	pmadv_msg(msg, len, "the ioctl rung is not part of this version of "
		  "libprocmadvise");
	return -ENOSYS;
}

const struct pmadv_rung pmadv_rung_ioctl = {
	.method = PMADV_METHOD_IOCTL,
	.name = "ioctl",
	.probe = ioctl_probe,
	.advise = ioctl_advise,
	.judge = ioctl_judge,
	.diagnose = ioctl_diagnose,
};
