// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Effects of each advice sent through /dev/procmadvise on a forked target,
 * read back from the kernel's own accounting: COLD clears Referenced
 * (smaps), PAGEOUT moves anonymous memory to zram swap (smaps_rollup),
 * WILLNEED reads a file mapping into the page cache (mincore), COLLAPSE is
 * accepted where the kernel has it (madvise(2) says) and refused where not. Needs the swap and the block device /init sets up.
 */
#include "vmtest.h"

#define PAGE 4096UL
#define FILE_DEV "/dev/zram1"

struct region {
	void *addr;
	size_t len;
};

static void touch_region(void *arg)
{
	struct region *r = arg;

	vt_touch(r->addr, r->len);
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		vt_die("mmap");
	return p;
}

static int advise1(int fd, struct vt_target *t, void *addr, size_t len,
		   int advice, struct procmadvise_req *r)
{
	struct iovec iov = { addr, len };

	vt_req(r, t->pidfd, 0, &iov, 1, advice);
	return vt_ioctl(fd, r);
}

static void test_cold(int fd)
{
	struct region r = { map_anon(256 * PAGE), 256 * PAGE };
	struct vt_target t = vt_spawn(touch_region, &r);
	struct procmadvise_req req;
	long before, after;

	before = vt_smaps_kb(t.pid, (uintptr_t)r.addr, "Referenced:");
	CHECK_ERR(advise1(fd, &t, r.addr, r.len, MADV_COLD, &req), 0, "COLD");
	CHECK(req.bytes == r.len && req.done == 1 && req.error == 0,
	      "COLD result bytes=%llu done=%u error=%d",
	      (unsigned long long)req.bytes, req.done, req.error);
	after = vt_smaps_kb(t.pid, (uintptr_t)r.addr, "Referenced:");
	printf("COLD: Referenced %ld kB -> %ld kB\n", before, after);
	CHECK(before >= 1000, "Referenced before COLD only %ld kB", before);
	/* Not always 0: pages still in a per-CPU LRU batch can keep their
	 * flag. A drop to a quarter is far beyond noise. */
	CHECK(after >= 0 && after <= before / 4,
	      "Referenced after COLD %ld kB (before %ld)", after, before);
	vt_kill(&t);
	munmap(r.addr, r.len);
}

static void test_pageout(int fd)
{
	struct region r = { map_anon(32UL << 20), 32UL << 20 };
	struct vt_target t = vt_spawn(touch_region, &r);
	struct procmadvise_req req;
	long rss0, swap0, rss1, swap1;

	rss0 = vt_smaps_kb(t.pid, 0, "Rss:");
	swap0 = vt_smaps_kb(t.pid, 0, "Swap:");
	CHECK_ERR(advise1(fd, &t, r.addr, r.len, MADV_PAGEOUT, &req), 0,
		  "PAGEOUT");
	rss1 = vt_smaps_kb(t.pid, 0, "Rss:");
	swap1 = vt_smaps_kb(t.pid, 0, "Swap:");
	printf("PAGEOUT: Rss %ld -> %ld kB, Swap %ld -> %ld kB\n", rss0, rss1,
	       swap0, swap1);
	CHECK(rss0 - rss1 >= 30000, "PAGEOUT: Rss fell by %ld kB only",
	      rss0 - rss1);
	CHECK(swap1 - swap0 >= 30000, "PAGEOUT: Swap rose by %ld kB only",
	      swap1 - swap0);
	vt_kill(&t);
	munmap(r.addr, r.len);
}

static size_t resident_pages(void *addr, size_t len)
{
	unsigned char vec[1024];
	size_t n = len / PAGE, i, res = 0;

	if (n > sizeof(vec) || mincore(addr, len, vec))
		vt_die("mincore");
	for (i = 0; i < n; i++)
		res += vec[i] & 1;
	return res;
}

static void map_file(void *arg)
{
	struct region *r = arg;
	int fd = open(FILE_DEV, O_RDONLY | O_CLOEXEC);

	/* The same address as the parent's own mapping of the device, so
	 * the parent can read residency with mincore on its mapping. */
	if (fd < 0 || mmap(r->addr, r->len, PROT_READ, MAP_SHARED | MAP_FIXED,
			   fd, 0) == MAP_FAILED)
		_exit(4);
	close(fd);
}

/* WILLNEED of 16 pages in the middle of a 256-page file mapping whose
 * cache was dropped. The window stays under the device's readahead limit,
 * which caps what one WILLNEED reads in. */
static void test_willneed(int fd)
{
	size_t len = 256 * PAGE, off = 64 * PAGE, wlen = 16 * PAGE;
	struct region r;
	struct vt_target t;
	struct procmadvise_req req;
	char buf[PAGE];
	size_t before, after, i;
	int dfd = open(FILE_DEV, O_RDWR | O_CLOEXEC);

	if (dfd < 0) {
		CHECK(0, "open %s: %s", FILE_DEV, strerror(errno));
		return;
	}
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < len / PAGE; i++)
		if (pwrite(dfd, buf, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
			vt_die("pwrite");
	fsync(dfd);
	r.len = len;
	r.addr = mmap(NULL, len, PROT_READ, MAP_SHARED, dfd, 0);
	if (r.addr == MAP_FAILED)
		vt_die("mmap device");
	posix_fadvise(dfd, 0, 0, POSIX_FADV_DONTNEED);
	before = resident_pages(r.addr, len);
	t = vt_spawn(map_file, &r);
	CHECK_ERR(advise1(fd, &t, (char *)r.addr + off, wlen, MADV_WILLNEED,
			  &req), 0, "WILLNEED");
	/* Readahead is asynchronous: give the I/O a moment. */
	for (i = 0; i < 50 && resident_pages((char *)r.addr + off, wlen) <
	     wlen / PAGE; i++)
		usleep(20000);
	after = resident_pages((char *)r.addr + off, wlen);
	printf("WILLNEED: resident pages %zu of %zu -> %zu of %zu advised\n",
	       before, len / PAGE, after, wlen / PAGE);
	CHECK(before == 0, "cache not dropped: %zu pages resident", before);
	CHECK(after == wlen / PAGE, "WILLNEED: %zu of %zu pages resident",
	      after, wlen / PAGE);
	vt_kill(&t);
	munmap(r.addr, len);
	close(dfd);
}

static void test_collapse(int fd)
{
	/* A 2 MiB-aligned 4 MiB region: one whole huge page fits. */
	size_t len = 4UL << 20;
	char *raw = map_anon(len + (2UL << 20));
	struct region r;
	struct vt_target t;
	struct procmadvise_req req;
	int ret;

	r.addr = (void *)(((uintptr_t)raw + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	r.len = len;
	t = vt_spawn(touch_region, &r);
	ret = advise1(fd, &t, r.addr, len, MADV_COLLAPSE, &req);
	if (!vt_kernel_knows(MADV_COLLAPSE)) {
		/* Before 6.1 (or without THP) the module refuses it as
		 * the kernel would. */
		CHECK(ret == -EINVAL, "COLLAPSE on a kernel without it: %s",
		      strerror(-ret));
		printf("COLLAPSE: the kernel lacks it; the module refused it\n");
		vt_kill(&t);
		munmap(raw, len + (2UL << 20));
		return;
	}
	/* The module accepts COLLAPSE on a THP kernel; the kernel may still
	 * answer EAGAIN for the element when it cannot collapse right now. */
	CHECK(ret == 0, "COLLAPSE refused at request level: %s",
	      strerror(-ret));
	CHECK(ret || req.error == 0 || req.error == EAGAIN,
	      "COLLAPSE element error %d", req.error);
	printf("COLLAPSE: AnonHugePages %ld kB\n",
	       vt_smaps_kb(t.pid, 0, "AnonHugePages:"));
	printf("COLLAPSE: done=%u error=%d (%s)\n", req.done, req.error,
	       strerror(req.error));
	vt_kill(&t);
	munmap(raw, len + (2UL << 20));
}

int main(void)
{
	int fd = vt_open_dev(O_RDWR);

	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", VT_DEV, strerror(-fd));
		return 1;
	}
	test_cold(fd);
	test_pageout(fd);
	test_willneed(fd);
	test_collapse(fd);
	close(fd);
	return vt_finish("effects");
}
