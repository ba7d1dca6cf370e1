// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The library's ioctl rung and the ladder decisions that involve it, on the
 * guest's kernel (6.1: process_madvise needs CAP_SYS_NICE even for one's
 * own children). Every scenario runs in a forked child, so that the
 * parent never holds the device open and can reload the module with other
 * parameters between scenarios.
 */
#include <pthread.h>

#include "procmadvise.h"
#include "vmtest.h"

#define PAGE 4096UL
#define NPAGES 64

static void *region;
static pid_t root_target;

static void touch(void *arg)
{
	(void)arg;
	vt_touch(region, NPAGES * PAGE);
}

static ssize_t advise_with(pid_t pid, const struct iovec *iov, size_t n,
			   int advice, unsigned methods, unsigned flags,
			   struct pmadv_result *res)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_target *t;
	ssize_t ret;
	int r;

	o.methods = methods;
	o.flags = flags;
	r = pmadv_open(pid, 0, &t);
	if (r < 0)
		return r;
	ret = pmadv_advise(t, iov, n, advice, &o, res);
	pmadv_close(t);
	return ret;
}

/* Runs fn in a child (as uid when uid != 0) and checks it had no failure. */
static void scenario(const char *what, uid_t uid, void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		vt_die("fork");
	if (pid == 0) {
		if (uid)
			vt_become_user(uid, uid);
		fn();
		fflush(stdout);
		_exit(vt_failed ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "scenario %s: status %#x", what, status);
}

/* Root, ioctl only: serves, reports the stopping element itself. */
static void root_ioctl_only(void)
{
	struct vt_target t = vt_spawn(touch, NULL);
	struct iovec iov[3] = {
		{ region, 8 * PAGE },
		{ (char *)region + NPAGES * PAGE, PAGE }, /* unmapped by main */
		{ (char *)region + 16 * PAGE, PAGE },
	};
	struct pmadv_result res;
	char msg[256];
	ssize_t ret;
	long ref;

	ret = advise_with(t.pid, iov, 1, MADV_COLD, PMADV_METHOD_IOCTL, 0, &res);
	CHECK(ret == 8 * (ssize_t)PAGE && res.method == PMADV_METHOD_IOCTL,
	      "ioctl COLD: ret %zd method %u", ret, res.method);
	ref = vt_smaps_kb(t.pid, (uintptr_t)region, "Referenced:");
	CHECK(ref >= 0 && ref <= (NPAGES - 8) * 4,
	      "Referenced after COLD of 8 of %d pages: %ld kB", NPAGES, ref);

	ret = advise_with(t.pid, iov, 3, MADV_COLD, PMADV_METHOD_IOCTL, 0, &res);
	CHECK(res.failed == 1 && res.error == ENOMEM &&
	      res.bytes == 8 * PAGE && res.method == PMADV_METHOD_IOCTL,
	      "partial: ret %zd failed %zu error %d bytes %zu method %u",
	      ret, res.failed, res.error, res.bytes, res.method);
	/* The module names the element: no second call to learn it. */
	CHECK(res.calls == 1, "partial took %u calls", res.calls);

	ret = advise_with(t.pid, iov, 3, MADV_COLD, PMADV_METHOD_IOCTL,
			  PMADV_F_CONTINUE, &res);
	CHECK(res.nfailed == 1 && res.bytes == 9 * PAGE,
	      "continue: ret %zd nfailed %zu bytes %zu", ret, res.nfailed,
	      res.bytes);

	/* Refused advice: the module's EINVAL sends the ladder on. */
	ret = advise_with(t.pid, iov, 1, MADV_DONTNEED, PMADV_METHOD_IOCTL,
			  PMADV_F_DESTRUCTIVE, &res);
	CHECK(ret == -EINVAL && res.method == 0,
	      "DONTNEED by ioctl: ret %zd method %u", ret, res.method);

	CHECK(pmadv_diagnose(NULL, MADV_COLD, PMADV_METHOD_IOCTL, msg,
			     sizeof(msg)) == -EINVAL, "diagnose NULL target");
	{
		struct pmadv_target *pt;

		if (pmadv_open(t.pid, 0, &pt) == 0) {
			ret = pmadv_diagnose(pt, MADV_PAGEOUT,
					     PMADV_METHOD_IOCTL, msg, sizeof(msg));
			printf("diagnose (root): %zd %s\n", ret, msg);
			CHECK(ret == 0 && strstr(msg, "accepts"),
			      "diagnose root: %zd %s", ret, msg);
			pmadv_close(pt);
		}
	}
	vt_kill(&t);

	/* Gone target: ESRCH stops the ladder. */
	t = vt_spawn(NULL, NULL);
	{
		struct pmadv_target *pt;

		if (pmadv_open(t.pid, 0, &pt) == 0) {
			struct pmadv_opts o = PMADV_OPTS_INIT;

			kill(t.pid, SIGKILL);
			waitpid(t.pid, NULL, 0);
			o.methods = PMADV_METHOD_IOCTL;
			ret = pmadv_advise(pt, iov, 1, MADV_COLD, &o, &res);
			CHECK(ret == -ESRCH, "dead target: %zd", ret);
			pmadv_close(pt);
		}
		t.pid = -1;
	}
	vt_kill(&t);
}

/* Many threads whose first call races on the device's probe and open. */
static pid_t race_pid;

static void *race_one(void *arg)
{
	struct iovec iov = { region, NPAGES * PAGE };
	struct pmadv_result res;

	(void)arg;
	return (void *)(intptr_t)(advise_with(race_pid, &iov, 1, MADV_COLD,
					      PMADV_METHOD_IOCTL, 0, &res) ==
				  (ssize_t)(NPAGES * PAGE));
}

static void root_threads(void)
{
	struct vt_target t = vt_spawn(touch, NULL);
	pthread_t th[8];
	void *ok;
	int i, good = 0;

	race_pid = t.pid;
	for (i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, race_one, NULL);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], &ok);
		good += ok != NULL;
	}
	CHECK(good == 8, "concurrent first calls: %d of 8 served", good);
	vt_kill(&t);
}

static void no_device(void)
{
	struct vt_target t = vt_spawn(touch, NULL);
	struct iovec iov = { region, PAGE };
	struct pmadv_target *pt;
	struct pmadv_result res;
	char msg[256];
	ssize_t ret;

	setenv("PMADV_DEVICE", "/dev/procmadvise-absent", 1);
	ret = advise_with(t.pid, &iov, 1, MADV_COLD, PMADV_METHOD_IOCTL, 0, &res);
	CHECK(ret == -ENOSYS, "absent node, ioctl only: %zd", ret);
	if (pmadv_open(t.pid, 0, &pt) == 0) {
		ret = pmadv_diagnose(pt, MADV_COLD, PMADV_METHOD_IOCTL, msg,
				     sizeof(msg));
		printf("diagnose (absent): %zd %s\n", ret, msg);
		CHECK(ret == -ENOSYS && strstr(msg, "absent: module not loaded"),
		      "diagnose absent: %zd %s", ret, msg);
		pmadv_close(pt);
	}
	/* Regular file in place of the node. */
	setenv("PMADV_DEVICE", "/init", 1);
	ret = advise_with(t.pid, &iov, 1, MADV_COLD, PMADV_METHOD_IOCTL, 0, &res);
	CHECK(ret < 0 && res.method == 0, "regular file as device: %zd", ret);
	vt_kill(&t);
}

/* uid 1000 and a 0600 node: the rung is unavailable, not an error; the
 * ladder falls through, and never reports the ioctl rung. */
static void user_no_access(void)
{
	struct vt_target t = vt_spawn(touch, NULL);
	struct iovec iov = { region, PAGE };
	struct pmadv_target *pt;
	struct pmadv_result res;
	char msg[256];
	ssize_t ret;

	if (pmadv_open(t.pid, 0, &pt) == 0) {
		ret = pmadv_diagnose(pt, MADV_COLD, PMADV_METHOD_IOCTL, msg,
				     sizeof(msg));
		printf("diagnose (0600, uid 1000): %zd %s\n", ret, msg);
		CHECK(ret == -EACCES && strstr(msg, "no permission to open"),
		      "diagnose no access: %zd %s", ret, msg);
		pmadv_close(pt);
	}
	ret = advise_with(t.pid, &iov, 1, MADV_COLD, PMADV_METHOD_IOCTL, 0, &res);
	CHECK(ret < 0 && res.method == 0, "ioctl only, no access: %zd", ret);
	ret = advise_with(t.pid, &iov, 1, MADV_COLD, 0, 0, &res);
	printf("ladder (0600, uid 1000): %zd method %s\n", ret,
	       res.method ? pmadv_method_name(res.method) : "none");
	CHECK(res.method != PMADV_METHOD_IOCTL, "ladder used the ioctl rung");
	vt_kill(&t);
}

/* uid 1000 granted by the module's gid: on 6.1 the syscall says EPERM (no
 * CAP_SYS_NICE) and the ladder's next rung, the ioctl, serves. */
static void user_granted(void)
{
	struct vt_target t = vt_spawn(touch, NULL);
	struct iovec iov = { region, NPAGES * PAGE };
	struct pmadv_target *pt;
	struct pmadv_result res;
	char msg[256];
	ssize_t ret;

	ret = advise_with(t.pid, &iov, 1, MADV_COLD, 0, 0, &res);
	printf("ladder (granted uid 1000): %zd method %s\n", ret,
	       res.method ? pmadv_method_name(res.method) : "none");
	CHECK(ret == (ssize_t)(NPAGES * PAGE) &&
	      res.method == PMADV_METHOD_IOCTL,
	      "granted: ret %zd method %u", ret, res.method);
	if (pmadv_open(t.pid, 0, &pt) == 0) {
		ret = pmadv_diagnose(pt, MADV_COLD, PMADV_METHOD_IOCTL, msg,
				     sizeof(msg));
		CHECK(ret == 0, "diagnose granted: %zd %s", ret, msg);
		pmadv_close(pt);
	}
	/* Root's process: EACCES from the access check ends the ladder. */
	ret = advise_with(root_target, &iov, 1, MADV_COLD, 0, 0, &res);
	CHECK(ret == -EACCES && res.method == 0,
	      "granted user on root's process: %zd method %u", ret, res.method);
	ret = advise_with(root_target, &iov, 1, MADV_COLD, PMADV_METHOD_IOCTL,
			  0, &res);
	CHECK(ret == -EACCES, "ioctl only on root's process: %zd", ret);
	vt_kill(&t);
}

/* uid 1000 may open the node but is not granted: EPERM, next rung. */
static void user_not_granted(void)
{
	struct vt_target t = vt_spawn(touch, NULL);
	struct iovec iov = { region, PAGE };
	struct pmadv_target *pt;
	struct pmadv_result res;
	char msg[256];
	ssize_t ret;

	ret = advise_with(t.pid, &iov, 1, MADV_COLD, PMADV_METHOD_IOCTL, 0, &res);
	CHECK(ret == -EPERM && res.method == 0, "not granted: %zd method %u",
	      ret, res.method);
	if (pmadv_open(t.pid, 0, &pt) == 0) {
		ret = pmadv_diagnose(pt, MADV_COLD, PMADV_METHOD_IOCTL, msg,
				     sizeof(msg));
		printf("diagnose (not granted): %zd %s\n", ret, msg);
		CHECK(ret == -EPERM && strstr(msg, "CAP_SYS_NICE"),
		      "diagnose not granted: %zd %s", ret, msg);
		pmadv_close(pt);
	}
	ret = advise_with(t.pid, &iov, 1, MADV_COLD, 0, 0, &res);
	printf("ladder (not granted uid 1000): %zd method %s\n", ret,
	       res.method ? pmadv_method_name(res.method) : "none");
	CHECK(res.method != PMADV_METHOD_IOCTL, "ladder used the ioctl rung");
	vt_kill(&t);
}

int main(void)
{
	struct vt_target rt;

	region = mmap(NULL, (NPAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		vt_die("mmap");
	munmap((char *)region + NPAGES * PAGE, PAGE);
	rt = vt_spawn(touch, NULL);
	root_target = rt.pid;

	CHECK_ERR(vt_reload(""), 0, "load with defaults");
	scenario("root, ioctl only", 0, root_ioctl_only);
	scenario("root, racing threads", 0, root_threads);
	scenario("no device node", 0, no_device);
	scenario("uid 1000, 0600 node", 1000, user_no_access);

	CHECK_ERR(vt_reload("mode=0660 gid=1000"), 0, "load mode=0660 gid=1000");
	CHECK(chown(VT_DEV, 0, 1000) == 0, "chown: %s", strerror(errno));
	scenario("uid 1000, granted", 1000, user_granted);

	CHECK_ERR(vt_reload("mode=0666"), 0, "load mode=0666");
	scenario("uid 1000, not granted", 1000, user_not_granted);

	CHECK_ERR(vt_reload(""), 0, "restore defaults");
	vt_kill(&rt);
	return vt_finish("rung");
}
