// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The security model of /dev/procmadvise, checked from unprivileged users:
 * the node's mode decides who may open it, the ptrace read check decides
 * whose memory may be advised (EACCES), and CAP_SYS_NICE is needed unless
 * the module's gid parameter grants the caller's group (EPERM otherwise).
 * Reloads the module with various parameters and restores the defaults.
 */
#include <linux/capability.h>

#include "vmtest.h"

#define PAGE 4096UL

static void *region;

static void touch(void *arg)
{
	(void)arg;
	vt_touch(region, 4 * PAGE);
}

static void touch_undumpable(void *arg)
{
	touch(arg);
	prctl(PR_SET_DUMPABLE, 0);
}

static int advise_pid(int fd, pid_t pid, struct procmadvise_req *r)
{
	struct iovec iov = { region, 4 * PAGE };

	vt_req(r, -1, pid, &iov, 1, MADV_COLD);
	return vt_ioctl(fd, r);
}

/* Runs fn in a child as uid/gid (with supplementary groups sup[0..nsup))
 * and checks it reports no failure. */
static void as_user(const char *what, uid_t uid, gid_t gid, const gid_t *sup,
		    int nsup, void (*fn)(pid_t), pid_t root_target)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		vt_die("fork");
	if (pid == 0) {
		if (setgroups(nsup, sup) || setgid(gid) || setuid(uid))
			vt_die("drop privileges");
		prctl(PR_SET_DUMPABLE, 1);
		fn(root_target);
		fflush(stdout);
		_exit(vt_failed ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "%s: child status %#x", what, status);
}

static void cannot_open(pid_t root_target)
{
	(void)root_target;
	CHECK_ERR(vt_open_dev(O_RDWR), -EACCES, "user opens 0600 node");
}

/* Opened, but not granted: same-user target -> EPERM (CAP_SYS_NICE),
 * root or undumpable target -> EACCES (checked first, as the syscall
 * does). */
static void not_granted(pid_t root_target)
{
	struct procmadvise_req r;
	struct vt_target own, undump;
	int fd = vt_open_dev(O_RDWR);

	CHECK(fd >= 0, "user open 0666 node: %s", strerror(-fd));
	if (fd < 0)
		return;
	own = vt_spawn(touch, NULL);
	undump = vt_spawn(touch_undumpable, NULL);
	CHECK_ERR(advise_pid(fd, own.pid, &r), -EPERM, "own process, no grant");
	CHECK_ERR(advise_pid(fd, root_target, &r), -EACCES,
		  "root's process, no grant");
	CHECK_ERR(advise_pid(fd, undump.pid, &r), -EACCES,
		  "undumpable own process");
	CHECK_ERR(advise_pid(fd, 1, &r), -EACCES, "init");
	vt_kill(&own);
	vt_kill(&undump);
	close(fd);
}

/* Granted by group: own process served, root's still refused. */
static void granted(pid_t root_target)
{
	struct procmadvise_req r;
	struct vt_target own;
	int fd = vt_open_dev(O_RDWR);

	CHECK(fd >= 0, "granted user open: %s", strerror(-fd));
	if (fd < 0)
		return;
	own = vt_spawn(touch, NULL);
	CHECK_ERR(advise_pid(fd, own.pid, &r), 0, "own process, granted");
	CHECK(r.bytes == 4 * PAGE && r.error == 0, "granted: bytes=%llu error=%d",
	      (unsigned long long)r.bytes, r.error);
	CHECK_ERR(advise_pid(fd, root_target, &r), -EACCES,
		  "root's process, granted");
	vt_kill(&own);
	close(fd);
}

static void user_cannot_open(pid_t root_target)
{
	cannot_open(root_target);
}

/* Root that dropped CAP_SYS_NICE from its effective set: EPERM. */
static void root_without_nice(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct procmadvise_req r;
	struct vt_target own = vt_spawn(touch, NULL);
	int status, fd;
	pid_t pid = fork();

	if (pid == 0) {
		fd = vt_open_dev(O_RDWR);
		if (syscall(SYS_capget, &h, d))
			vt_die("capget");
		d[CAP_SYS_NICE / 32].effective &= ~(1u << (CAP_SYS_NICE % 32));
		if (syscall(SYS_capset, &h, d))
			vt_die("capset");
		CHECK_ERR(advise_pid(fd, own.pid, &r), -EPERM,
			  "root without CAP_SYS_NICE");
		fflush(stdout);
		_exit(vt_failed ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "root without CAP_SYS_NICE: status %#x", status);
	vt_kill(&own);
}

int main(void)
{
	static const gid_t grp1000[] = { 1000 };
	struct vt_target root_t;
	struct stat st;

	region = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		vt_die("mmap");
	root_t = vt_spawn(touch, NULL);

	CHECK_ERR(vt_reload(""), 0, "load with defaults");
	CHECK(stat(VT_DEV, &st) == 0 && (st.st_mode & 07777) == 0600 &&
	      st.st_uid == 0 && st.st_gid == 0,
	      "default node mode %o uid %d gid %d", st.st_mode & 07777,
	      (int)st.st_uid, (int)st.st_gid);
	as_user("0600 node", 1000, 1000, NULL, 0, cannot_open, root_t.pid);
	root_without_nice();

	CHECK_ERR(vt_reload("mode=0666"), 0, "load mode=0666");
	CHECK(stat(VT_DEV, &st) == 0 && (st.st_mode & 07777) == 0666,
	      "mode=0666 node mode %o", st.st_mode & 07777);
	as_user("no grant", 1000, 1000, NULL, 0, not_granted, root_t.pid);

	CHECK_ERR(vt_reload("mode=0660 gid=1000"), 0, "load mode=0660 gid=1000");
	/* What a udev rule (GROUP="...") would do. */
	CHECK(chown(VT_DEV, 0, 1000) == 0, "chown node: %s", strerror(errno));
	as_user("granted group", 1000, 1000, NULL, 0, granted, root_t.pid);
	as_user("granted supplementary group", 1001, 1001, grp1000, 1, granted,
		root_t.pid);
	as_user("other group, 0660", 1002, 1002, NULL, 0, user_cannot_open,
		root_t.pid);

	CHECK_ERR(vt_reload("mode=0666 gid=1000"), 0, "load mode=0666 gid=1000");
	as_user("outside granted group", 1002, 1002, NULL, 0, not_granted,
		root_t.pid);

	CHECK_ERR(vt_reload("mode=01777"), -EINVAL, "mode with bits beyond 0777");
	CHECK_ERR(vt_insmod(""), 0, "restore defaults");
	vt_kill(&root_t);
	return vt_finish("perm");
}
