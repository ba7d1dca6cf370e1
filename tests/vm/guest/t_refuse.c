// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The module's refusals to load, which a real kernel reaches only on
 * hardware or builds the VM does not have: each is forced through a test
 * parameter (procmadvise(4)) and must fail init with its documented errno,
 * write exactly one line to the kernel log, and leave nothing loaded.
 *  - force_ibt_refusal=1: IBT enforced and a target without ENDBR64
 *    (ENOEXEC), before any indirect call;
 *  - pretend_missing=NAME: a required function missing (ENOENT), for
 *    kallsyms_lookup_name, do_madvise and mm_access;
 *  - pretend_missing=pidfd_get_pid: optional, so the module loads, warns,
 *    and answers EOPNOTSUPP to a request naming its target by pidfd.
 */
#include "vmtest.h"

#define PAGE 4096UL

/* The kernel log, from now on. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		vt_die("open /dev/kmsg");
	if (lseek(fd, 0, SEEK_END) < 0)
		vt_die("seek /dev/kmsg");
	return fd;
}

/* Collects the module's records ("procmadvise: ...") written since
 * kmsg_open into buf, one a line; returns how many. */
static int kmsg_module_lines(int fd, char *buf, size_t size)
{
	char rec[2048];
	size_t used = 0;
	int n = 0;
	ssize_t len;

	buf[0] = '\0';
	for (;;) {
		char *msg, *end;

		len = read(fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE)
			continue; /* overwritten records: read on */
		if (len <= 0)
			break;
		rec[len] = '\0';
		/* "prio,seq,usec,flags;text\n" then " KEY=value" lines. */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = '\0';
		if (strncmp(msg, "procmadvise: ", 13) != 0)
			continue;
		n++;
		used += (size_t)snprintf(buf + used, used < size ? size - used : 0,
					 "%s\n", msg);
		if (used >= size)
			used = size - 1;
	}
	close(fd);
	return n;
}

static int loaded(void)
{
	struct stat st;

	return stat("/sys/module/procmadvise", &st) == 0 ||
	       stat(VT_DEV, &st) == 0;
}

/* insmod with params must fail with want and log exactly one line, which
 * contains text. */
static void refused(const char *params, int want, const char *text)
{
	char log[4096];
	int fd, n;

	CHECK(!loaded(), "%s: module loaded before the attempt", params);
	fd = kmsg_open();
	CHECK_ERR(vt_insmod(params), want, params);
	n = kmsg_module_lines(fd, log, sizeof(log));
	CHECK(n == 1 && strstr(log, text),
	      "%s: %d log lines, want 1 with \"%s\":\n%s", params, n, text, log);
	CHECK(!loaded(), "%s: module loaded after a refusal", params);
	printf("%s: %s", params, log);
}

/* Without pidfd_get_pid the module loads and serves targets named by pid. */
static void without_pidfd_get_pid(void)
{
	struct procmadvise_req r;
	struct vt_target t;
	struct iovec iov;
	char log[4096];
	void *region;
	int dev, fd, n;

	region = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		vt_die("mmap");
	t = vt_spawn(NULL, NULL);
	iov.iov_base = region;
	iov.iov_len = 4 * PAGE;

	fd = kmsg_open();
	CHECK_ERR(vt_insmod("pretend_missing=pidfd_get_pid"), 0,
		  "pretend_missing=pidfd_get_pid");
	n = kmsg_module_lines(fd, log, sizeof(log));
	CHECK(strstr(log, "pidfd_get_pid not found: targets can be named by pid only") &&
	      !strstr(log, "refusing"),
	      "pretend_missing=pidfd_get_pid: %d log lines:\n%s", n, log);
	dev = vt_open_dev(O_RDWR);
	CHECK(dev >= 0, "open device: %s", strerror(dev < 0 ? -dev : 0));
	if (dev >= 0) {
		vt_req(&r, t.pidfd, 0, &iov, 1, MADV_COLD);
		CHECK_ERR(vt_ioctl(dev, &r), -EOPNOTSUPP, "target by pidfd");
		vt_req(&r, -1, t.pid, &iov, 1, MADV_COLD);
		CHECK_ERR(vt_ioctl(dev, &r), 0, "target by pid");
		CHECK(r.done == 1 && r.error == 0, "by pid: done %u error %d",
		      r.done, r.error);
		close(dev);
	}
	CHECK_ERR(vt_rmmod(), 0, "unload");
	vt_kill(&t);
	munmap(region, 4 * PAGE);
}

int main(void)
{
	int ret = vt_rmmod();

	CHECK(ret == 0 || ret == -ENOENT, "unload before the tests: %s",
	      strerror(-ret));
	refused("force_ibt_refusal=1", -ENOEXEC,
		"refusing to load: indirect branch tracking is enforced (forced by force_ibt_refusal=1) and kallsyms_lookup_name does not begin with ENDBR64, so calling it would fault");
	refused("pretend_missing=kallsyms_lookup_name", -ENOENT,
		"refusing to load: cannot locate kallsyms_lookup_name");
	refused("pretend_missing=do_madvise", -ENOENT,
		"refusing to load: kernel function do_madvise not found through kallsyms");
	refused("pretend_missing=mm_access", -ENOENT,
		"refusing to load: kernel function mm_access not found through kallsyms");
	without_pidfd_get_pid();
	CHECK_ERR(vt_insmod(""), 0, "reload with the defaults for the following tests");
	return vt_finish("refuse");
}
