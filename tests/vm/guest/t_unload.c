// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Module lifetime: unloading is refused while a descriptor is open and
 * calls are in flight, the in-flight calls finish normally, and 100
 * load/use/unload cycles leave the kernel sound (the harness checks dmesg
 * afterwards).
 */
#include <pthread.h>

#include "vmtest.h"

#define PAGE 4096UL
#define NPAGES 64

static void *region;
static volatile int stop;
static struct vt_target tgt;

static void touch(void *arg)
{
	(void)arg;
	vt_touch(region, NPAGES * PAGE);
}

struct worker {
	int fd;
	int calls;
	int errors;
};

static void *hammer(void *arg)
{
	static struct iovec iov[1024];
	struct worker *w = arg;
	struct procmadvise_req r;
	int i;

	for (i = 0; i < 1024; i++) {
		iov[i].iov_base = (char *)region + (i % NPAGES) * PAGE;
		iov[i].iov_len = PAGE;
	}
	while (!stop) {
		vt_req(&r, tgt.pidfd, 0, iov, 1024, i++ % 2 ? MADV_COLD :
		       MADV_PAGEOUT);
		if (vt_ioctl(w->fd, &r) || r.error || r.done != 1024)
			w->errors++;
		w->calls++;
	}
	return NULL;
}

static void test_in_flight(void)
{
	struct worker w[2];
	pthread_t th[2];
	int i, busy = 0, tries = 0, ret;

	for (i = 0; i < 2; i++) {
		w[i].fd = vt_open_dev(O_RDWR);
		w[i].calls = w[i].errors = 0;
		if (w[i].fd < 0)
			vt_die("open device");
		pthread_create(&th[i], NULL, hammer, &w[i]);
	}
	/* Unload attempts race with the calls; every one must be refused. */
	for (tries = 0; tries < 50; tries++) {
		ret = vt_rmmod();
		busy += ret == -EAGAIN || ret == -EBUSY;
		CHECK(ret != 0, "module unloaded with descriptors open");
		if (ret == 0)
			break;
		usleep(2000);
	}
	stop = 1;
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].calls > 0 && w[i].errors == 0,
		      "worker %d: %d calls, %d errors", i, w[i].calls,
		      w[i].errors);
		close(w[i].fd);
	}
	printf("in flight: %d/%d unload attempts refused (busy), %d+%d calls\n",
	       busy, tries, w[0].calls, w[1].calls);
	CHECK_ERR(vt_rmmod(), 0, "unload after close");
}

static void test_cycles(int n)
{
	struct iovec iov = { region, NPAGES * PAGE };
	int i, bad = 0;

	for (i = 0; i < n; i++) {
		struct procmadvise_req r;
		int fd, ret = vt_insmod("");

		if (ret) {
			CHECK(0, "cycle %d: load: %s", i, strerror(-ret));
			break;
		}
		fd = vt_open_dev(O_RDWR);
		vt_req(&r, tgt.pidfd, 0, &iov, 1, MADV_COLD);
		if (fd < 0 || vt_ioctl(fd, &r) || r.bytes != iov.iov_len)
			bad++;
		if (fd >= 0)
			close(fd);
		ret = vt_rmmod();
		if (ret) {
			CHECK(0, "cycle %d: unload: %s", i, strerror(-ret));
			break;
		}
		/* The node must go with the module. */
		if (access(VT_DEV, F_OK) == 0)
			bad++;
	}
	printf("load/unload: %d cycles, %d bad\n", i, bad);
	CHECK(i == n && bad == 0, "cycles: %d of %d, %d bad", i, n, bad);
}

int main(void)
{
	int ret;

	region = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		vt_die("mmap");
	tgt = vt_spawn(touch, NULL);
	ret = vt_reload("");
	CHECK_ERR(ret, 0, "load");
	if (ret == 0)
		test_in_flight();
	test_cycles(100);
	CHECK_ERR(vt_insmod(""), 0, "reload for the following tests");
	vt_kill(&tgt);
	return vt_finish("unload");
}
