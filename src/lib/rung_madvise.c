// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The last rung of handles on the calling process (pmadv_open_self):
 * madvise(2) per range. A process may always advise itself, with any
 * advice its kernel knows, on every kernel: no pidfd, no capability, no
 * ptrace. Allocation-free and async-signal-safe, like the vector call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

static int madvise_probe(void)
{
	return 0;
}

static ssize_t madvise_advise(struct pmadv_call *c, const struct iovec *iov,
			      size_t n, int *err)
{
	size_t done = 0;

	for (size_t i = 0; i < n; i++) {
		if (!iov[i].iov_len)
			continue;
		if (madvise(iov[i].iov_base, iov[i].iov_len, c->advice)) {
			if (!done)
				return -errno;
			*err = errno;
			break;
		}
		done += iov[i].iov_len;
	}
	return (ssize_t)done;
}

static struct pmadv_judgement madvise_judge(struct pmadv_call *c, int err)
{
	(void)c;
	return pmadv_judged(PMADV_SERVE, err);
}

static int madvise_diagnose(const struct pmadv_target *t, int advice,
			    char *msg, size_t len)
{
	if (!t->self) {
		pmadv_msg(msg, len, "madvise serves only a handle on the "
			  "calling process (pmadv_open_self)");
		return -ENOSYS;
	}
	pmadv_msg(msg, len, "madvise(%s) in the calling process: always "
		  "available", pmadv_advice_name(advice));
	return 0;
}

const struct pmadv_rung pmadv_rung_madvise = {
	.method = PMADV_METHOD_MADVISE,
	.name = "madvise",
	.probe = madvise_probe,
	.advise = madvise_advise,
	.judge = madvise_judge,
	.diagnose = madvise_diagnose,
};
