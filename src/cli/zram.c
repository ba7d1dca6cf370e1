// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A temporary zram swap device for `pmadvise demo --zram`, so that
 * MADV_PAGEOUT of anonymous memory has somewhere to go on a machine without
 * swap. A fresh device comes from /sys/class/zram-control/hot_add, never
 * zram0, which other programs (and tests) may be using. The swap header is
 * written here rather than by mkswap(8): it is one page, and the demo
 * should not depend on finding util-linux in PATH.
 *
 * Teardown is done by a small guardian process forked right after the
 * device is set up: it waits for the demo to close a pipe, which the kernel
 * also does when the demo dies of SIGKILL, so the device goes away on every
 * exit path, even the ones no signal handler sees.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmadvise.h"

#define ZRAM_CONTROL "/sys/class/zram-control"
/* Our device goes first, so the demo's pages land on it even when the
 * machine has other swap. */
#define ZRAM_PRIORITY 32767

static int sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	return 0;
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int zram_attr(int id, const char *attr, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/block/zram%d/%s", id, attr);
	return sysfs_write(path, val);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* devtmpfs normally creates /dev/zramN at once; elsewhere (a static /dev
 * in a container) make the node ourselves from the major:minor in sysfs. */
static int device_node(struct zram_swap *z)
{
	char path[128], buf[32];
	unsigned int maj, min;
	int ret;

	snprintf(z->dev, sizeof(z->dev), "/dev/zram%d", z->id);
	for (int i = 0; i < 20; i++) {
		if (access(z->dev, F_OK) == 0)
			return 0;
		sleep_ms(50);
	}
	snprintf(path, sizeof(path), "/sys/block/zram%d/dev", z->id);
	ret = sysfs_read(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	if (sscanf(buf, "%u:%u", &maj, &min) != 2)
		return -EIO;
	if (mknod(z->dev, S_IFBLK | 0600, makedev(maj, min)) < 0)
		return -errno;
	z->made_node = true;
	return 0;
}

/* The version-1 swap header mkswap(8) writes: bootbits, then version,
 * last page, bad-page count, UUID and label; the magic ends the page. */
static int write_swap_header(const char *dev, size_t bytes)
{
	size_t ps = page_size();
	unsigned char *page = xcalloc(1, ps);
	uint32_t v[3] = { 1, (uint32_t)(bytes / ps - 1), 0 };
	int fd, ret = 0;

	memcpy(page + 1024, v, sizeof(v));
	if (getrandom(page + 1036, 16, 0) != 16)
		memset(page + 1036, 0x5a, 16);
	memcpy(page + 1052, "pmadvise-demo", 13);
	memcpy(page + ps - 10, "SWAPSPACE2", 10);
	fd = open(dev, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = write_all(fd, page, ps);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
out:
	free(page);
	return ret;
}

static int hot_add(void)
{
	char buf[32];
	int ret = sysfs_read(ZRAM_CONTROL "/hot_add", buf, sizeof(buf));

	return ret < 0 ? ret : atoi(buf);
}

static int create_steps(struct zram_swap *z, size_t bytes, const char **step)
{
	char val[32];
	int ret;

	*step = "allocate a zram device (" ZRAM_CONTROL "/hot_add)";
	ret = hot_add();
	if (ret < 0)
		return ret;
	z->id = ret;
	*step = "set the zram disk size";
	snprintf(val, sizeof(val), "%zu", bytes);
	ret = zram_attr(z->id, "disksize", val);
	if (ret < 0)
		return ret;
	*step = "find the device node";
	ret = device_node(z);
	if (ret < 0)
		return ret;
	*step = "write the swap header";
	ret = write_swap_header(z->dev, bytes);
	if (ret < 0)
		return ret;
	*step = "enable swap (swapon)";
	if (swapon(z->dev, SWAP_FLAG_PREFER |
		   (ZRAM_PRIORITY & SWAP_FLAG_PRIO_MASK)) < 0)
		return -errno;
	z->swapped_on = true;
	return 0;
}

/* swapoff can take a moment while pages come back; EBUSY from hot_remove
 * means something (udev's probe, say) still has the device open. */
static void teardown(struct zram_swap *z)
{
	char val[16];

	if (z->id < 0)
		return;
	if (z->swapped_on) {
		for (int i = 0; i < 50 && swapoff(z->dev) < 0; i++) {
			if (errno != EINTR && errno != EBUSY &&
			    errno != ENOMEM)
				break;
			sleep_ms(100);
		}
		z->swapped_on = false;
	}
	zram_attr(z->id, "reset", "1");
	if (z->made_node)
		unlink(z->dev);
	snprintf(val, sizeof(val), "%d", z->id);
	for (int i = 0; i < 50; i++) {
		if (sysfs_write(ZRAM_CONTROL "/hot_remove", val) != -EBUSY)
			break;
		sleep_ms(100);
		zram_attr(z->id, "reset", "1");
	}
	z->id = -1;
}

static void teardown_cb(void *z)
{
	teardown(z);
}

int zram_swap_create(struct zram_swap *z, size_t bytes, char *msg,
		     size_t len)
{
	const char *step = "";
	int ret;

	memset(z, 0, sizeof(*z));
	z->id = -1;
	z->guard.fd = -1;
	if (access(ZRAM_CONTROL "/hot_add", F_OK) < 0) {
		snprintf(msg, len, "zram is not available here (no "
			 ZRAM_CONTROL "; try 'modprobe zram')");
		return -ENODEV;
	}
	bytes -= bytes % page_size();
	ret = create_steps(z, bytes, &step);
	if (ret == 0) {
		step = "start the process that removes the device at exit";
		ret = guardian_start(&z->guard, "pmadvise-zram", teardown_cb,
				     z);
	}
	if (ret < 0) {
		snprintf(msg, len, "cannot %s: %s", step, strerror(-ret));
		zram_swap_destroy(z);
	}
	return ret;
}

void zram_swap_destroy(struct zram_swap *z)
{
	if (guardian_end(&z->guard)) {
		z->id = -1;
		return;
	}
	teardown(z);
}
