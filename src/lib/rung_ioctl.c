// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ioctl rung: the procmadvise kernel module's /dev/procmadvise (see
 * procmadvise(4)). It serves kernels without process_madvise(2) and callers
 * an administrator granted the device to instead of CAP_SYS_NICE. Unlike
 * the syscall, the module reports the failing element's index and errno,
 * so the engine never has to re-issue an element to learn why it failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "procmadvise-ioctl.h"

#define DEFAULT_DEVICE "/dev/procmadvise"

/*
 * The device descriptor, opened once per process and kept: opening per
 * request would cost a path walk each time. It is never closed, because
 * another thread may be inside an ioctl on it; a process that holds it
 * keeps the module from being unloaded, as any open device does.
 */
static int dev_fd = -1;
static dev_t dev_rdev;

static const char *device_path(void)
{
	const char *p = pmadv_env("PMADV_DEVICE");

	return p && *p ? p : DEFAULT_DEVICE;
}

/* -ENOSYS when there is no node: the module is not loaded (or the node
 * was never created); other errors are the open's own. */
static int open_errno(int e)
{
	return e == ENOENT || e == ENOTDIR ? -ENOSYS : -e;
}

static int open_device(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return open_errno(errno);
	/* A regular file or another kind of node would answer ENOTTY at
	 * best; say "not here" at once. */
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
		close(fd);
		return -ENODEV;
	}
	return fd;
}

/*
 * Finds the node again on each probe, so that a test which points
 * PMADV_DEVICE elsewhere and resets the probes sees the change. A
 * descriptor for another node is replaced, not closed (see dev_fd).
 */
static int ioctl_probe(void)
{
	const char *path = device_path();
	struct stat st;
	int fd, old;

	if (stat(path, &st) < 0)
		return open_errno(errno);
	if (!S_ISCHR(st.st_mode))
		return -ENODEV;
	old = __atomic_load_n(&dev_fd, __ATOMIC_ACQUIRE);
	if (old >= 0 && __atomic_load_n(&dev_rdev, __ATOMIC_RELAXED) ==
	    st.st_rdev)
		return 0;
	fd = open_device(path);
	if (fd < 0)
		return fd;
	__atomic_store_n(&dev_rdev, st.st_rdev, __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(&dev_fd, &old, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		close(fd); /* another thread installed one first */
	return 0;
}

static void fill_request(struct procmadvise_req *r, const struct pmadv_target *t,
			 const struct iovec *iov, size_t n, int advice)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->pidfd = t->pidfd >= 0 ? t->pidfd : -1;
	/* Beside a pidfd the pid is checked by the module: a mismatch means
	 * our idea of the target is stale (ESRCH). */
	r->pid = t->pid;
	r->iov = (uint64_t)(uintptr_t)iov;
	r->vlen = (uint32_t)n;
	r->advice = advice;
}

/* 0 or -errno for the request; results in *r. */
static int call_module(int fd, struct procmadvise_req *r)
{
	return ioctl(fd, PROCMADVISE_IOC_ADVISE, r) < 0 ? -errno : 0;
}

/* No allocation: the request lives on the stack and the caller's iovec
 * array is passed to the module as it is. */
static ssize_t ioctl_advise(struct pmadv_call *c, const struct iovec *iov,
			    size_t n, int *err)
{
	struct procmadvise_req r;
	int fd = __atomic_load_n(&dev_fd, __ATOMIC_ACQUIRE);
	int ret;

	if (fd < 0)
		return -ENOSYS;
	if (n > PROCMADVISE_IOV_MAX)
		return -EINVAL;
	fill_request(&r, c->t, iov, n, c->advice);
	ret = call_module(fd, &r);
	if (ret < 0)
		return ret;
	if (r.error == 0)
		return (ssize_t)r.bytes;
	if (r.done == 0)
		return -r.error;
	*err = r.error;
	return (ssize_t)r.bytes;
}

/* A zero-length request runs every check but the ranges': target alive,
 * advice accepted, access, CAP_SYS_NICE or grant. No side effects. */
static int zero_length_call(int fd, const struct pmadv_target *t, int advice)
{
	struct procmadvise_req r;

	fill_request(&r, t, NULL, 0, advice);
	return call_module(fd, &r);
}

static struct pmadv_judgement judge(struct pmadv_call *c, int err,
				     bool retest)
{
	int fd, ret;

	switch (err) {
	case ENOSYS:
	case ENODEV:
	case ENXIO:
	case ENOTTY:
	case E2BIG:
	case EOPNOTSUPP:
		pmadv_debug("ioctl: %s: no usable procmadvise module; next rung",
			    strerror(err));
		return pmadv_judged(PMADV_NEXT, err);
	case EPERM:
		pmadv_debug("ioctl: EPERM: no CAP_SYS_NICE and the device is not "
			    "granted to this group; next rung");
		return pmadv_judged(PMADV_NEXT, err);
	case EACCES:
		pmadv_debug("ioctl: EACCES: may not inspect PID %d; no rung can "
			    "help", (int)c->t->pid);
		return pmadv_judged(PMADV_STOP, err);
	case ESRCH:
		return pmadv_judge_esrch(c, "ioctl");
	case EBADF:
		return pmadv_judged(PMADV_STOP, err);
	case EINVAL:
		/* The advice, or one element? The module checks the advice
		 * before the ranges, so an empty request tells. */
		fd = __atomic_load_n(&dev_fd, __ATOMIC_ACQUIRE);
		if (!retest || fd < 0)
			return pmadv_judged(PMADV_SERVE, err);
		ret = zero_length_call(fd, c->t, c->advice);
		if (ret == -EINVAL) {
			pmadv_debug("ioctl: EINVAL: the module refuses %s; next "
				    "rung", pmadv_advice_name(c->advice));
			return pmadv_judged(PMADV_NEXT, err);
		}
		if (ret < 0) /* the target changed under us: say how */
			return judge(c, -ret, false);
		return pmadv_judged(PMADV_SERVE, err);
	default:
		return pmadv_judged(PMADV_SERVE, err);
	}
}

static struct pmadv_judgement ioctl_judge(struct pmadv_call *c, int err)
{
	return judge(c, err, true);
}

static int ioctl_diagnose(const struct pmadv_target *t, int advice,
			  char *msg, size_t len)
{
	const char *path = device_path();
	struct stat st;
	int fd, ret;

	if (stat(path, &st) < 0) {
		ret = open_errno(errno);
		if (ret == -ENOSYS)
			pmadv_msg(msg, len, "device node %s absent: module not "
				  "loaded", path);
		else
			pmadv_msg(msg, len, "cannot reach %s: %s", path,
				  strerror(-ret));
		return ret;
	}
	if (!S_ISCHR(st.st_mode)) {
		pmadv_msg(msg, len, "%s is not a character device", path);
		return -ENODEV;
	}
	/* A descriptor of our own, closed again: the forecast leaves no
	 * trace in the process. */
	fd = open_device(path);
	if (fd < 0) {
		if (fd == -EACCES || fd == -EPERM)
			pmadv_msg(msg, len, "no permission to open %s (its "
				  "owner, group and mode decide; see "
				  "procmadvise(4))", path);
		else if (fd == -ENXIO || fd == -ENODEV || fd == -ENOSYS)
			pmadv_msg(msg, len, "%s has no driver behind it: "
				  "module not loaded", path);
		else
			pmadv_msg(msg, len, "cannot open %s: %s", path,
				  strerror(-fd));
		return fd;
	}
	ret = zero_length_call(fd, t, advice);
	close(fd);
	switch (-ret) {
	case 0:
		pmadv_msg(msg, len, "the procmadvise module accepts %s for "
			  "PID %d", pmadv_advice_name(advice), (int)t->pid);
		break;
	case EPERM:
		pmadv_msg(msg, len, "the procmadvise module needs CAP_SYS_NICE "
			  "or membership of the group its gid parameter "
			  "grants");
		break;
	case EACCES:
		pmadv_msg(msg, len, "may not inspect PID %d (ptrace read check "
			  "failed: other owner or not dumpable)", (int)t->pid);
		break;
	case EINVAL:
		pmadv_msg(msg, len, "the procmadvise module does not accept %s",
			  pmadv_advice_name(advice));
		break;
	case ESRCH:
		pmadv_msg(msg, len, "PID %d has exited", (int)t->pid);
		break;
	case ENOTTY:
		pmadv_msg(msg, len, "%s does not answer the procmadvise ioctl "
			  "(another driver, or an incompatible module)", path);
		break;
	case EOPNOTSUPP:
		pmadv_msg(msg, len, "the procmadvise module cannot resolve "
			  "pidfds on this kernel");
		break;
	default:
		pmadv_msg(msg, len, "procmadvise check failed: %s",
			  strerror(-ret));
		break;
	}
	return ret;
}

const struct pmadv_rung pmadv_rung_ioctl = {
	.method = PMADV_METHOD_IOCTL,
	.name = "ioctl",
	.probe = ioctl_probe,
	.advise = ioctl_advise,
	.judge = ioctl_judge,
	.diagnose = ioctl_diagnose,
};
