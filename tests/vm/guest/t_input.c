// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every way a request to /dev/procmadvise can be malformed, and what the
 * module answers: request-level errors (the ioctl fails, nothing is
 * advised) and element-level ones (the ioctl succeeds and reports the
 * failing index and errno), partial progress, destructive advice, dead and
 * dying targets, and batches larger than the syscall's MAX_RW_COUNT.
 */
#include <pthread.h>

#include "vmtest.h"

#define PAGE 4096UL

static void *region;
static struct vt_target tgt;
static int dev;

static void touch(void *arg)
{
	(void)arg;
	vt_touch(region, 16 * PAGE);
}

static int call(int pidfd, pid_t pid, const struct iovec *iov, unsigned vlen,
		int advice, struct procmadvise_req *r)
{
	vt_req(r, pidfd, pid, iov, vlen, advice);
	return vt_ioctl(dev, r);
}

static void test_struct(void)
{
	struct iovec iov = { region, PAGE };
	struct {
		struct procmadvise_req r;
		unsigned char extra[64];
	} big;
	unsigned char raw[sizeof(struct procmadvise_req) + 1];
	struct procmadvise_req r, *ur;

	vt_req(&r, tgt.pidfd, 0, &iov, 1, MADV_COLD);
	r.size = PROCMADVISE_REQ_SIZE_VER0 - 8;
	CHECK_ERR(vt_ioctl(dev, &r), -EINVAL, "size too small");
	r.size = 0;
	CHECK_ERR(vt_ioctl(dev, &r), -EINVAL, "size 0");
	r.size = 1u << 20;
	CHECK_ERR(vt_ioctl(dev, &r), -E2BIG, "size 1 MiB");

	/* A larger (future) struct: zero tail accepted, non-zero refused. */
	memset(&big, 0, sizeof(big));
	vt_req(&big.r, tgt.pidfd, 0, &iov, 1, MADV_COLD);
	big.r.size = sizeof(big);
	CHECK_ERR(vt_ioctl(dev, &big.r), 0, "bigger struct, zero tail");
	CHECK(big.r.bytes == PAGE, "bigger struct bytes %llu",
	      (unsigned long long)big.r.bytes);
	big.extra[63] = 1;
	CHECK_ERR(vt_ioctl(dev, &big.r), -E2BIG, "bigger struct, non-zero tail");

	CHECK_ERR(ioctl(dev, PROCMADVISE_IOC_ADVISE, NULL) ? -errno : 0, -EFAULT,
		  "NULL request");
	CHECK_ERR(ioctl(dev, PROCMADVISE_IOC_ADVISE, (void *)8) ? -errno : 0,
		  -EFAULT, "request at address 8");
	CHECK_ERR(ioctl(dev, PROCMADVISE_IOC_ADVISE,
			(void *)0xffffffff81000000UL) ? -errno : 0, -EFAULT,
		  "request at a kernel address");
	/* The size field is readable but the rest is not. */
	{
		char *pg = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint32_t sz = sizeof(struct procmadvise_req);

		munmap(pg + PAGE, PAGE);
		memcpy(pg + PAGE - 4, &sz, 4);
		CHECK_ERR(ioctl(dev, PROCMADVISE_IOC_ADVISE, pg + PAGE - 4) ?
			  -errno : 0, -EFAULT, "request running off a mapping");
		munmap(pg, PAGE);
	}

	/* An unaligned request is fine: it is copied, not dereferenced. */
	ur = (struct procmadvise_req *)(raw + 1);
	vt_req(&r, tgt.pidfd, 0, &iov, 1, MADV_COLD);
	memcpy(ur, &r, sizeof(r));
	CHECK_ERR(vt_ioctl(dev, ur), 0, "unaligned request");

	vt_req(&r, tgt.pidfd, 0, &iov, 1, MADV_COLD);
	r.flags = 1;
	CHECK_ERR(vt_ioctl(dev, &r), -EINVAL, "flags 1");
	r.flags = 0x80000000u;
	CHECK_ERR(vt_ioctl(dev, &r), -EINVAL, "flags high bit");
	r.flags = 0;
	r.reserved[3] = 1;
	CHECK_ERR(vt_ioctl(dev, &r), -EINVAL, "reserved non-zero");

	CHECK_ERR(ioctl(dev, _IO(PROCMADVISE_IOC_MAGIC, 0x7f)) ? -errno : 0,
		  -ENOTTY, "unknown ioctl");
	CHECK_ERR(ioctl(dev, _IOWR(PROCMADVISE_IOC_MAGIC, 0x01, big)) ?
		  -errno : 0, -ENOTTY, "advise number with another size");
}

static void test_vector(void)
{
	struct iovec iov[4] = {
		{ region, PAGE }, { (char *)region + PAGE, PAGE },
	};
	struct procmadvise_req r;
	char unal[sizeof(struct iovec) + 1];

	CHECK_ERR(call(tgt.pidfd, 0, NULL, 1, MADV_COLD, &r), -EFAULT,
		  "NULL iov");
	CHECK_ERR(call(tgt.pidfd, 0, (void *)0xffff888000000000UL, 1,
		       MADV_COLD, &r), -EFAULT, "kernel iov pointer");
	CHECK_ERR(call(tgt.pidfd, 0, NULL, 0, MADV_COLD, &r), 0,
		  "NULL iov with vlen 0");
	CHECK(r.bytes == 0 && r.done == 0 && r.error == 0, "vlen 0 result");
	CHECK_ERR(call(tgt.pidfd, 0, iov, 1025, MADV_COLD, &r), -EINVAL,
		  "vlen 1025");
	CHECK_ERR(call(tgt.pidfd, 0, iov, 0xffffffffu, MADV_COLD, &r),
		  -EINVAL, "vlen 2^32-1");
	{
		/* Two elements that end exactly at an unmapped page: the
		 * third is unreadable, so vlen 3 fails before any work. */
		char *pg = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct iovec *end = (struct iovec *)(pg + PAGE) - 2;

		munmap(pg + PAGE, PAGE);
		memcpy(end, iov, 2 * sizeof(*end));
		CHECK_ERR(call(tgt.pidfd, 0, end, 2, MADV_COLD, &r), 0,
			  "array ending at a mapping's end");
		CHECK_ERR(call(tgt.pidfd, 0, end, 3, MADV_COLD, &r), -EFAULT,
			  "vlen past the array's mapping end");
		munmap(pg, PAGE);
	}

	memcpy(unal + 1, &iov[0], sizeof(iov[0]));
	CHECK_ERR(call(tgt.pidfd, 0, (struct iovec *)(unal + 1), 1, MADV_COLD,
		       &r), 0, "unaligned iov array");
	CHECK(r.bytes == PAGE, "unaligned iov array bytes");

	/* Element-level: the call succeeds and names the element. */
	iov[1].iov_base = (char *)region + 1;
	CHECK_ERR(call(tgt.pidfd, 0, iov, 2, MADV_COLD, &r), 0,
		  "unaligned element");
	CHECK(r.done == 1 && r.error == EINVAL && r.bytes == PAGE,
	      "unaligned element: done=%u error=%d bytes=%llu", r.done,
	      r.error, (unsigned long long)r.bytes);
	iov[0].iov_base = NULL;
	CHECK_ERR(call(tgt.pidfd, 0, iov, 1, MADV_COLD, &r), 0,
		  "NULL element");
	CHECK(r.done == 0 && r.error == ENOMEM, "NULL element: done=%u error=%d",
	      r.done, r.error);
	iov[0].iov_base = region;
	iov[0].iov_len = SIZE_MAX - PAGE;
	CHECK_ERR(call(tgt.pidfd, 0, iov, 1, MADV_COLD, &r), 0,
		  "wrapping element");
	CHECK(r.done == 0 && r.error == EINVAL, "wrapping element: error=%d",
	      r.error);
	iov[0].iov_len = 0;
	CHECK_ERR(call(tgt.pidfd, 0, iov, 1, MADV_COLD, &r), 0,
		  "zero-length element");
	CHECK(r.done == 1 && r.error == 0 && r.bytes == 0,
	      "zero-length element result");
}

/* [mapped, hole, mapped]: stops at the hole, ENOMEM, first element's
 * bytes, as the syscall would but with the index and errno reported. */
static void test_partial(void)
{
	char *hole = (char *)region + 20 * PAGE; /* unmapped by main */
	struct iovec iov[3] = {
		{ region, 2 * PAGE }, { hole, PAGE }, { (char *)region + 4 * PAGE, PAGE },
	};
	struct procmadvise_req r;

	CHECK_ERR(call(tgt.pidfd, 0, iov, 3, MADV_COLD, &r), 0, "partial");
	CHECK(r.bytes == 2 * PAGE && r.done == 1 && r.error == ENOMEM,
	      "partial: bytes=%llu done=%u error=%d",
	      (unsigned long long)r.bytes, r.done, r.error);
	CHECK_ERR(call(tgt.pidfd, 0, iov + 1, 2, MADV_COLD, &r), 0,
		  "failing first element");
	CHECK(r.bytes == 0 && r.done == 0 && r.error == ENOMEM,
	      "failing first element: bytes=%llu done=%u error=%d",
	      (unsigned long long)r.bytes, r.done, r.error);
}

static void test_advice(void)
{
	static const int bad[] = { MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL,
		MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_DONTFORK,
		MADV_DOFORK, MADV_MERGEABLE, MADV_HUGEPAGE, MADV_DONTDUMP,
		MADV_WIPEONFORK, 22 /* POPULATE_READ */, 23 /* POPULATE_WRITE */,
		100 /* HWPOISON */, 101 /* SOFT_OFFLINE */, -1, 1000 };
	struct iovec iov = { region, PAGE };
	struct procmadvise_req r;
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[48];

		snprintf(what, sizeof(what), "advice %d", bad[i]);
		CHECK_ERR(call(tgt.pidfd, 0, &iov, 1, bad[i], &r), -EINVAL, what);
	}
	/* The target's data survived every refused destructive advice. */
	CHECK_ERR(call(tgt.pidfd, 0, &iov, 1, MADV_WILLNEED, &r), 0, "WILLNEED");
	CHECK(vt_smaps_kb(tgt.pid, (uintptr_t)region, "Rss:") >= 16 * 4,
	      "target lost memory");
}

static void test_targets(void)
{
	struct iovec iov = { region, PAGE };
	struct procmadvise_req r;
	struct vt_target dead, zombie;
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CHECK_ERR(call(tgt.pidfd, tgt.pid, &iov, 1, MADV_COLD, &r), 0,
		  "pidfd with matching pid");
	CHECK_ERR(call(tgt.pidfd, tgt.pid + 1, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "pidfd with another pid");
	CHECK_ERR(call(-1, tgt.pid, &iov, 1, MADV_COLD, &r), 0, "pid only");
	CHECK_ERR(call(-1, 0, &iov, 1, MADV_COLD, &r), -EINVAL, "no target");
	CHECK_ERR(call(-1, -5, &iov, 1, MADV_COLD, &r), -EINVAL, "pid -5");
	CHECK_ERR(call(-2, 0, &iov, 1, MADV_COLD, &r), -EBADF, "pidfd -2");
	CHECK_ERR(call(nullfd, 0, &iov, 1, MADV_COLD, &r), -EBADF,
		  "pidfd that is /dev/null");
	CHECK_ERR(call(1000, 0, &iov, 1, MADV_COLD, &r), -EBADF,
		  "pidfd not open");
	CHECK_ERR(call(-1, 2, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "kernel thread (kthreadd)");
	CHECK_ERR(call(-1, 4000000, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "pid beyond pid_max");
	close(nullfd);

	/* Exited but not reaped: no mm left. */
	zombie = vt_spawn(NULL, NULL);
	kill(zombie.pid, SIGKILL);
	usleep(100000);
	CHECK_ERR(call(zombie.pidfd, 0, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "zombie by pidfd");
	CHECK_ERR(call(-1, zombie.pid, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "zombie by pid");
	vt_kill(&zombie);

	/* Reaped: the pidfd outlives the process. */
	dead = vt_spawn(NULL, NULL);
	kill(dead.pid, SIGKILL);
	waitpid(dead.pid, NULL, 0);
	CHECK_ERR(call(dead.pidfd, 0, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "reaped by pidfd");
	CHECK_ERR(call(-1, dead.pid, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "reaped by pid");
	dead.pid = -1;
	vt_kill(&dead);
}

/* A thread ID names the thread's process (the same mm). */
static int tid_pipe[2];

static void *report_tid(void *arg)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	(void)arg;
	if (write(tid_pipe[1], &tid, sizeof(tid)) != sizeof(tid))
		_exit(6);
	for (;;)
		pause();
	return NULL;
}

static void start_thread(void *arg)
{
	pthread_t th;

	touch(arg);
	pthread_create(&th, NULL, report_tid, NULL);
}

static void test_thread_target(void)
{
	struct iovec iov = { region, PAGE };
	struct procmadvise_req r;
	struct vt_target t;
	pid_t tid = 0;

	if (pipe(tid_pipe))
		vt_die("pipe");
	t = vt_spawn(start_thread, NULL);
	if (read(tid_pipe[0], &tid, sizeof(tid)) != sizeof(tid))
		vt_die("read tid");
	CHECK(tid != t.pid, "thread id equals the pid");
	CHECK_ERR(call(-1, tid, &iov, 1, MADV_COLD, &r), 0, "thread id as pid");
	CHECK(r.bytes == PAGE, "thread id: bytes %llu",
	      (unsigned long long)r.bytes);
	/* Beside a pidfd only the process's own pid matches. */
	CHECK_ERR(call(t.pidfd, tid, &iov, 1, MADV_COLD, &r), -ESRCH,
		  "pidfd with a thread id");
	vt_kill(&t);
	close(tid_pipe[0]);
	close(tid_pipe[1]);
}

/* Three 1 GiB elements of one reserved mapping: 3 GiB in one call, more
 * than MAX_RW_COUNT. The module counts it exactly instead of clamping. */
static void reserve_big(void *arg)
{
	void **at = arg;

	if (mmap(*at, 3UL << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		_exit(5);
}

static void test_big_batch(void)
{
	void *at = mmap(NULL, 3UL << 30, PROT_NONE, MAP_PRIVATE |
			MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct vt_target t;
	struct iovec iov[3];
	struct procmadvise_req r;
	int i;

	if (at == MAP_FAILED)
		vt_die("reserve 3 GiB");
	munmap(at, 3UL << 30);
	t = vt_spawn(reserve_big, &at);
	for (i = 0; i < 3; i++) {
		iov[i].iov_base = (char *)at + ((size_t)i << 30);
		iov[i].iov_len = 1UL << 30;
	}
	CHECK_ERR(call(t.pidfd, 0, iov, 3, MADV_COLD, &r), 0, "3 GiB batch");
	CHECK(r.bytes == 3UL << 30 && r.done == 3 && r.error == 0,
	      "3 GiB batch: bytes=%llu done=%u error=%d",
	      (unsigned long long)r.bytes, r.done, r.error);
	vt_kill(&t);
}

/* A target killed while calls on it are in flight: each call either
 * finishes or fails with ESRCH; nothing else, and no kernel splat. */
struct killer {
	pid_t pid;
	int delay_us;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	usleep(k->delay_us);
	kill(k->pid, SIGKILL);
	return NULL;
}

static void test_dying(void)
{
	static struct iovec iov[1024];
	int round, ok = 0, gone = 0, other = 0;

	for (round = 0; round < 30; round++) {
		struct vt_target t = vt_spawn(touch, NULL);
		struct procmadvise_req r;
		struct killer k = { t.pid, (round % 10) * 300 };
		pthread_t th;
		int i, ret;

		for (i = 0; i < 1024; i++) {
			iov[i].iov_base = (char *)region + (i % 16) * PAGE;
			iov[i].iov_len = PAGE;
		}
		pthread_create(&th, NULL, kill_later, &k);
		for (i = 0; i < 20; i++) {
			ret = call(t.pidfd, 0, iov, 1024, MADV_PAGEOUT, &r);
			if (ret == 0 && r.error == 0)
				ok++;
			else if (ret == -ESRCH)
				gone++;
			else
				other++;
		}
		pthread_join(th, NULL);
		vt_kill(&t);
	}
	printf("dying targets: %d complete, %d ESRCH, %d other\n", ok, gone,
	       other);
	CHECK(other == 0, "dying target: %d unexpected results", other);
	CHECK(gone > 0, "dying target: never saw ESRCH");
}

int main(void)
{
	dev = vt_open_dev(O_RDWR);
	if (dev < 0) {
		fprintf(stderr, "open %s: %s\n", VT_DEV, strerror(-dev));
		return 1;
	}
	region = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		vt_die("mmap");
	munmap((char *)region + 20 * PAGE, PAGE);
	tgt = vt_spawn(touch, NULL);

	test_struct();
	test_vector();
	test_partial();
	test_advice();
	test_targets();
	test_thread_target();
	test_big_batch();
	test_dying();

	{
		/* A read-only open may not advise. */
		int ro = vt_open_dev(O_RDONLY);
		struct iovec iov = { region, PAGE };
		struct procmadvise_req r;

		vt_req(&r, tgt.pidfd, 0, &iov, 1, MADV_COLD);
		CHECK_ERR(vt_ioctl(ro, &r), -EBADF, "O_RDONLY descriptor");
		close(ro);
	}
	vt_kill(&tgt);
	close(dev);
	return vt_finish("input");
}
