// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A 32-bit caller on the 64-bit guest kernel (built with the i386 cross
 * compiler, i686-linux-gnu-gcc): the request layout is the same, but the
 * vector is an array of 32-bit iovecs, which the module must read as such. Checks results, partial
 * progress and a bad vector pointer through the compat path.
 */
#include "vmtest.h"

#define PAGE 4096UL

static void *region;

static void touch(void *arg)
{
	(void)arg;
	vt_touch(region, 8 * PAGE);
}

int main(void)
{
	struct vt_target t;
	struct iovec iov[3];
	struct procmadvise_req r;
	int fd;

	if (sizeof(void *) != 4) {
		fprintf(stderr, "t_compat must be built for i386\n");
		return 1;
	}
	fd = vt_open_dev(O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", VT_DEV, strerror(-fd));
		return 1;
	}
	region = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		vt_die("mmap");
	munmap((char *)region + 8 * PAGE, PAGE);
	t = vt_spawn(touch, NULL);

	iov[0].iov_base = region;
	iov[0].iov_len = 2 * PAGE;
	iov[1].iov_base = (char *)region + 4 * PAGE;
	iov[1].iov_len = 3 * PAGE;
	iov[2].iov_base = (char *)region + 8 * PAGE; /* the hole */
	iov[2].iov_len = PAGE;

	vt_req(&r, t.pidfd, 0, iov, 2, MADV_COLD);
	CHECK_ERR(vt_ioctl(fd, &r), 0, "32-bit COLD");
	CHECK(r.bytes == 5 * PAGE && r.done == 2 && r.error == 0,
	      "32-bit COLD: bytes=%llu done=%u error=%d",
	      (unsigned long long)r.bytes, r.done, r.error);

	vt_req(&r, t.pidfd, 0, iov, 3, MADV_PAGEOUT);
	CHECK_ERR(vt_ioctl(fd, &r), 0, "32-bit partial");
	CHECK(r.bytes == 5 * PAGE && r.done == 2 && r.error == ENOMEM,
	      "32-bit partial: bytes=%llu done=%u error=%d",
	      (unsigned long long)r.bytes, r.done, r.error);

	/* A pointer with high bits set is not a 32-bit address. */
	vt_req(&r, t.pidfd, 0, iov, 1, MADV_COLD);
	r.iov |= 1ULL << 40;
	CHECK_ERR(vt_ioctl(fd, &r), -EFAULT, "32-bit iov beyond 4 GiB");
	CHECK_ERR(ioctl(fd, PROCMADVISE_IOC_ADVISE, NULL) ? -errno : 0, -EFAULT,
		  "32-bit NULL request");

	vt_kill(&t);
	close(fd);
	return vt_finish("compat");
}
