/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR LGPL-2.1-or-later */
/*
 * The ioctl interface of the procmadvise kernel module (/dev/procmadvise),
 * shared by the module and by userspace. UAPI style: fixed-width types only,
 * no libc headers, so it compiles in the kernel and as C99 userspace. See
 * procmadvise(4).
 */
#ifndef PROCMADVISE_IOCTL_H
#define PROCMADVISE_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Largest vlen accepted: the kernel's UIO_MAXIOV, as for process_madvise. */
#define PROCMADVISE_IOV_MAX 1024

/*
 * One request. The caller sets size to the sizeof() it was compiled with;
 * the module accepts any size from PROCMADVISE_REQ_SIZE_VER0 up, provided
 * the bytes it does not know are zero (E2BIG otherwise). That lets the
 * structure grow without a new ioctl number.
 *
 * Inputs:  size, flags, pidfd, pid, iov, vlen, advice, reserved.
 * Outputs: bytes, done, error (written only when the ioctl returns 0).
 */
struct procmadvise_req {
	__u32 size;    /* sizeof(struct procmadvise_req) */
	__u32 flags;   /* none defined yet: must be 0 */
	__s32 pidfd;   /* the target's pidfd, or -1 to name it by pid */
	__s32 pid;     /* with pidfd -1: the target's pid in the caller's
			* pid namespace; with a pidfd: 0, or its pid */
	__u64 iov;     /* user pointer to vlen struct iovec, in the caller's
			* ABI (struct compat_iovec for 32-bit callers) */
	__u32 vlen;    /* 0..PROCMADVISE_IOV_MAX */
	__s32 advice;  /* MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED,
			* MADV_COLLAPSE (where the kernel has it) */
	__u64 bytes;   /* out: sum of iov_len of the completed elements */
	__u32 done;    /* out: elements completed; when error != 0, the
			* index of the element that failed */
	__s32 error;   /* out: positive errno of element `done`, or 0 */
	__u64 reserved[4]; /* must be zero */
};

#define PROCMADVISE_REQ_SIZE_VER0 80 /* the first published layout */

/*
 * The ioctl number encodes the size of the first layout and never changes:
 * later layouts are told apart by the size field, not by the number.
 */
#define PROCMADVISE_IOC_MAGIC 0xB9
#define PROCMADVISE_IOC_ADVISE \
	_IOC(_IOC_READ | _IOC_WRITE, PROCMADVISE_IOC_MAGIC, 0x01, \
	     PROCMADVISE_REQ_SIZE_VER0)

#endif /* PROCMADVISE_IOCTL_H */
