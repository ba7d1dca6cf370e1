// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Permission diagnostics: a side-effect-free forecast of which rungs can
 * serve a target and an advice, and in words why not. Capabilities are read
 * with libcap, the rest from /proc and zero-length probe calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/capability.h>

#include "errnos.h"
#include "internal.h"

int pmadv_have_cap(int cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();
	int ret;

	if (!caps)
		return -errno;
	ret = cap_get_flag(caps, (cap_value_t)cap, CAP_EFFECTIVE, &v);
	ret = ret < 0 ? -errno : v == CAP_SET;
	cap_free(caps);
	return ret;
}

int pmadv_have_cap_sys_nice(void)
{
	return pmadv_have_cap(CAP_SYS_NICE);
}

static int diagnose(const struct pmadv_target *t, int advice,
		    unsigned int method, char *msg, size_t len)
{
	unsigned int allowed;
	int ret;

	if (msg && len)
		msg[0] = '\0';
	if (!t || !pmadv_advice_known(advice))
		return -EINVAL;
	if (__builtin_popcount(method) != 1 || !pmadv_rung_of(method))
		return -EINVAL;
	/* what pmadv_advise would do with the environment first */
	if (method == PMADV_METHOD_MADVISE) /* self handles: never narrowed */
		return pmadv_rung_madvise.diagnose(t, advice, msg, len);
	if (t->self && method != PMADV_METHOD_SYSCALL) {
		pmadv_msg(msg, len, "a handle on the calling process uses only "
			  "the system call and madvise");
		return -ENOSYS;
	}
	ret = pmadv_methods_allowed(method, &allowed, msg, len);
	if (ret < 0)
		return ret;
	ret = pmadv_target_alive(t);
	if (ret < 0) {
		pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
		return ret;
	}
	return pmadv_rung_of(method)->diagnose(t, advice, msg, len);
}

PMADV_API int pmadv_diagnose(const struct pmadv_target *t, int advice,
			     unsigned int method, char *msg, size_t msglen)
{
	int saved = errno, ret = diagnose(t, advice, method, msg, msglen);

	errno = saved;
	return (int)PMADV_RC(pmadv_diagnose, ret);
}
