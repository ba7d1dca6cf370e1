// SPDX-License-Identifier: GPL-2.0-only
/*
 * procmadvise: memory advice for another process through an ioctl on
 * /dev/procmadvise.
 *
 * It serves kernels that lack process_madvise(2) and lets an administrator
 * grant hinting to a daemon's group without CAP_SYS_NICE or ptrace rights.
 * Every request passes the same checks as process_madvise(2) on 6.1, or
 * stricter ones: a ptrace read check on the target with the caller's
 * filesystem credentials, CAP_SYS_NICE unless the caller is in the granted
 * group, only non-destructive advice. The interface is described in
 * procmadvise(4) and include/procmadvise-ioctl.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/kallsyms.h>
#include <linux/string.h>
#include <linux/version.h>
#ifdef CONFIG_X86_KERNEL_IBT
#include <asm/cpufeature.h>
#include <asm/msr.h>
#endif

#include "procmadvise-ioctl.h"

static ushort mode = 0600;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode,
		 "permission bits of /dev/procmadvise (default 0600); the node's owner and group are set by udev or chown");

static int gid = -1;
module_param(gid, int, 0444);
MODULE_PARM_DESC(gid,
		 "callers in this group (init user namespace) need no CAP_SYS_NICE; -1 (default): nobody is exempt");

static bool force_ibt_refusal;
module_param(force_ibt_refusal, bool, 0444);
MODULE_PARM_DESC(force_ibt_refusal,
		 "for tests: act as if indirect branch tracking were enforced and no target began with ENDBR64, so loading is refused (ENOEXEC)");

static char *pretend_missing;
module_param(pretend_missing, charp, 0444);
MODULE_PARM_DESC(pretend_missing,
		 "for tests: act as if this kernel function were not found through kallsyms");

/*
 * Functions the kernel does not export, found through kallsyms at load.
 * Each pointer takes its type from the kernel's own declaration, so a
 * kernel that changes a signature (or drops the declaration) breaks the
 * build instead of the call: do_madvise in <linux/mm.h>, mm_access in
 * <linux/sched/mm.h>, pidfd_get_pid in <linux/pid.h>, kallsyms_lookup_name
 * in <linux/kallsyms.h>.
 */
static typeof(&do_madvise) pm_do_madvise;
static typeof(&mm_access) pm_mm_access;
/* Optional: without it only targets named by pid can be served. */
static typeof(&pidfd_get_pid) pm_pidfd_get_pid;

typedef typeof(&kallsyms_lookup_name) lookup_fn_t;

/* endbr64 (f3 0f 1e fa) as a little-endian word, and the 4-byte NOP
 * (66 0f 1f 00) the kernel writes over the ENDBR of functions whose
 * address nothing takes ("sealing", with CONFIG_X86_KERNEL_IBT since 5.18).
 * The kernel's is_endbr() accepts both, so it cannot tell a callable
 * function from a sealed one: the raw word is compared instead. */
#define PM_ENDBR64 0xfa1e0ff3U
#define PM_ENDBR_POISON 0x001f0f66U

static u32 pm_text_word(unsigned long addr)
{
	u32 w = 0;

	if (copy_from_kernel_nofault(&w, (void *)addr, sizeof(w)))
		return 0;
	return w;
}

/*
 * Whether the CPU faults on an indirect branch that lands anywhere but an
 * ENDBR: the kernel was built with CONFIG_X86_KERNEL_IBT (5.18), the CPU
 * has IBT and the kernel did not turn it off (ibt=off clears the feature),
 * and supervisor CET has ENDBR_EN set in MSR_IA32_S_CET.
 */
static bool pm_ibt_enforced(void)
{
#ifdef CONFIG_X86_KERNEL_IBT
	u64 s_cet = 0;

	if (!cpu_feature_enabled(X86_FEATURE_IBT))
		return false;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
	if (rdmsrq_safe(MSR_IA32_S_CET, &s_cet))
#else
	if (rdmsrl_safe(MSR_IA32_S_CET, &s_cet))
#endif
		return true; /* feature on but unreadable: assume enforced */
	return s_cet & CET_ENDBR_EN;
#else
	return false;
#endif
}

/*
 * Every resolved function is called through a pointer. Where IBT is
 * enforced, such a call must land on an endbr64, and the kernel seals (turns
 * into a NOP) the ENDBR of every function whose address it never takes:
 * calling one faults (control protection, #CP) and takes the kernel down.
 * So each target is checked before its first call, and the module refuses to
 * load, with one line in the kernel log and ENOEXEC, rather than fault.
 */
static int pm_check_ibt(const char *name, unsigned long addr)
{
	bool enforced = force_ibt_refusal || pm_ibt_enforced();
	bool endbr = !force_ibt_refusal && pm_text_word(addr) == PM_ENDBR64;

	if (!enforced || endbr)
		return 0;
	pr_err("refusing to load: indirect branch tracking is enforced%s and %s does not begin with ENDBR64, so calling it would fault\n",
	       force_ibt_refusal ? " (forced by force_ibt_refusal=1)" : "",
	       name);
	return -ENOEXEC;
}

/*
 * kallsyms_lookup_name itself is not exported since 5.7. A kprobe resolves
 * any symbol name to an address, so registering one on it (and removing it
 * at once) reveals where it is. 0 if it cannot.
 */
static unsigned long find_kallsyms_lookup_name(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long addr;
	u32 before;
	int ret;

	if (pretend_missing && !strcmp(pretend_missing, kp.symbol_name)) {
		pr_err("refusing to load: cannot locate kallsyms_lookup_name (pretend_missing=)\n");
		return 0;
	}
	ret = register_kprobe(&kp);
	if (ret < 0) {
		pr_err("refusing to load: cannot locate kallsyms_lookup_name: register_kprobe failed (%d); is CONFIG_KPROBES set?\n",
		       ret);
		return 0;
	}
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	/* With CONFIG_X86_KERNEL_IBT (5.18) a probe on a function's entry
	 * sits after its ENDBR (or the NOP that sealed it): the function
	 * begins 4 bytes before. */
	before = IS_ENABLED(CONFIG_X86_KERNEL_IBT) ? pm_text_word(addr - 4) : 0;
	if (before == PM_ENDBR64 || before == PM_ENDBR_POISON)
		addr -= 4;
	return addr;
}

/* Looks a function up, or pretends it is missing (pretend_missing=). */
static unsigned long pm_lookup(lookup_fn_t lookup, const char *name)
{
	if (pretend_missing && !strcmp(pretend_missing, name))
		return 0;
	return lookup(name);
}

static int resolve_symbols(void)
{
	static const char *const names[] = {
		"do_madvise", "mm_access", "pidfd_get_pid",
	};
	unsigned long addr[ARRAY_SIZE(names)];
	unsigned long lookup_addr;
	lookup_fn_t lookup;
	size_t i;
	int ret;

	lookup_addr = find_kallsyms_lookup_name();
	if (!lookup_addr)
		return -ENOENT;
	ret = pm_check_ibt("kallsyms_lookup_name", lookup_addr);
	if (ret)
		return ret;
	lookup = (lookup_fn_t)lookup_addr;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		addr[i] = pm_lookup(lookup, names[i]);
	/* do_madvise and mm_access are required, pidfd_get_pid is not. */
	for (i = 0; i < 2; i++) {
		if (!addr[i]) {
			pr_err("refusing to load: kernel function %s not found through kallsyms%s\n",
			       names[i],
			       pretend_missing ? " (pretend_missing=)" : "");
			return -ENOENT;
		}
	}
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!addr[i])
			continue;
		ret = pm_check_ibt(names[i], addr[i]);
		if (ret)
			return ret;
	}
	pm_do_madvise = (typeof(pm_do_madvise))addr[0];
	pm_mm_access = (typeof(pm_mm_access))addr[1];
	pm_pidfd_get_pid = (typeof(pm_pidfd_get_pid))addr[2];
	if (!pm_pidfd_get_pid)
		pr_warn("pidfd_get_pid not found: targets can be named by pid only\n");
	return 0;
}

/* The non-destructive set process_madvise(2) allows for remote targets. */
static bool advice_allowed(int advice)
{
	switch (advice) {
	case MADV_WILLNEED:
#ifdef MADV_COLD
	case MADV_COLD:
	case MADV_PAGEOUT:
#endif
#if defined(MADV_COLLAPSE) && defined(CONFIG_TRANSPARENT_HUGEPAGE)
	case MADV_COLLAPSE:
#endif
		return true;
	default:
		return false;
	}
}

static int req_copy_in(struct procmadvise_req *req,
		       struct procmadvise_req __user *ureq)
{
	u32 size;
	int ret;

	if (get_user(size, &ureq->size))
		return -EFAULT;
	if (size < PROCMADVISE_REQ_SIZE_VER0)
		return -EINVAL;
	/* Bounds the zero check of unknown trailing bytes. */
	if (size > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(req, sizeof(*req), ureq, size);
	if (ret)
		return ret;
	if (req->flags || req->vlen > PROCMADVISE_IOV_MAX ||
	    !advice_allowed(req->advice))
		return -EINVAL;
	if (memchr_inv(req->reserved, 0, sizeof(req->reserved)))
		return -EINVAL;
	if (req->pidfd < -1)
		return -EBADF;
	if (req->pid < 0 || (req->pidfd == -1 && req->pid == 0))
		return -EINVAL;
	return 0;
}

/* The whole vector is read before any work, so a bad array pointer fails
 * the request without side effects, as process_madvise(2) does. */
static int iov_copy_in(struct iovec *dst, u64 uptr, u32 vlen)
{
	const void __user *src = u64_to_user_ptr(uptr);

#ifdef CONFIG_COMPAT
	if (in_compat_syscall()) {
		const struct compat_iovec __user *civ = src;
		struct compat_iovec c;
		u32 i;

		for (i = 0; i < vlen; i++) {
			if (copy_from_user(&c, &civ[i], sizeof(c)))
				return -EFAULT;
			dst[i].iov_base = compat_ptr(c.iov_base);
			dst[i].iov_len = c.iov_len;
		}
		return 0;
	}
#endif
	if (copy_from_user(dst, src, array_size(vlen, sizeof(*dst))))
		return -EFAULT;
	return 0;
}

static struct task_struct *target_get(const struct procmadvise_req *req)
{
	enum pid_type type = PIDTYPE_PID;
	struct task_struct *task;
	unsigned int f_flags;
	struct pid *pid;

	if (req->pidfd >= 0) {
		if (!pm_pidfd_get_pid)
			return ERR_PTR(-EOPNOTSUPP);
		pid = pm_pidfd_get_pid(req->pidfd, &f_flags);
		if (IS_ERR(pid))
			return ERR_CAST(pid);
		/* A pid given beside the pidfd must name the same process:
		 * a mismatch means the caller's idea of the target is stale. */
		if (req->pid && pid_vnr(pid) != req->pid) {
			put_pid(pid);
			return ERR_PTR(-ESRCH);
		}
		type = PIDTYPE_TGID;
	} else {
		pid = find_get_pid(req->pid);
		if (!pid)
			return ERR_PTR(-ESRCH);
	}
	task = get_pid_task(pid, type);
	put_pid(pid);
	return task ? task : ERR_PTR(-ESRCH);
}

static bool caller_granted(void)
{
	return gid >= 0 && in_group_p(make_kgid(&init_user_ns, gid));
}

/* Takes the target's mm after the same checks, in the same order and with
 * the same errors, as process_madvise(2): ESRCH, EACCES, EPERM. */
static struct mm_struct *target_mm(const struct procmadvise_req *req)
{
	struct task_struct *task;
	struct mm_struct *mm;

	task = target_get(req);
	if (IS_ERR(task))
		return ERR_CAST(task);
	/* Ptrace read check with the caller's fs credentials, taken under
	 * the target's exec lock; NULL for kernel threads and exited tasks. */
	mm = pm_mm_access(task, PTRACE_MODE_READ_FSCREDS);
	put_task_struct(task);
	if (IS_ERR_OR_NULL(mm))
		return mm ? mm : ERR_PTR(-ESRCH);
	/* The group grant is checked first so that granted callers do not
	 * leave capability-denial audit records. */
	if (!caller_granted() && !capable(CAP_SYS_NICE)) {
		mmput(mm);
		return ERR_PTR(-EPERM);
	}
	return mm;
}

/* Advises the elements in order and stops at the first that fails. The
 * mm reference keeps the address space alive even if the target exits. */
static void advise_vector(struct mm_struct *mm, const struct iovec *iov,
			  struct procmadvise_req *req)
{
	u64 bytes = 0;
	u32 i = 0;
	int err = 0;

	while (i < req->vlen) {
		u64 sum;

		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		/* Unreachable with real address spaces; kept so that the
		 * count is exact rather than wrapped. */
		if (check_add_overflow(bytes, (u64)iov[i].iov_len, &sum)) {
			err = -EOVERFLOW;
			break;
		}
		err = pm_do_madvise(mm, (unsigned long)iov[i].iov_base,
				    iov[i].iov_len, req->advice);
		if (err == -ERESTARTNOINTR)
			continue; /* lock contention: retry this element */
		if (err)
			break;
		bytes = sum;
		i++;
		cond_resched();
	}
	req->bytes = bytes;
	req->done = i;
	req->error = -err;
}

static long pm_ioctl_advise(struct file *file,
			    struct procmadvise_req __user *ureq)
{
	struct iovec fast[UIO_FASTIOV];
	struct iovec *iov = fast;
	struct procmadvise_req req;
	struct mm_struct *mm;
	long ret;

	/* Advising changes the target's state: a read-only open is not
	 * enough, whatever the node's mode. */
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	ret = req_copy_in(&req, ureq);
	if (ret)
		return ret;
	if (req.vlen > UIO_FASTIOV) {
		iov = kvmalloc_array(req.vlen, sizeof(*iov), GFP_KERNEL);
		if (!iov)
			return -ENOMEM;
	}
	ret = iov_copy_in(iov, req.iov, req.vlen);
	if (ret)
		goto out;
	mm = target_mm(&req);
	if (IS_ERR(mm)) {
		ret = PTR_ERR(mm);
		goto out;
	}
	advise_vector(mm, iov, &req);
	mmput(mm);
	if (put_user(req.bytes, &ureq->bytes) ||
	    put_user(req.done, &ureq->done) ||
	    put_user(req.error, &ureq->error))
		ret = -EFAULT;
out:
	if (iov != fast)
		kvfree(iov);
	return ret;
}

static long pm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case PROCMADVISE_IOC_ADVISE:
		return pm_ioctl_advise(file, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/* .owner pins the module while any file is open, so unloading waits for
 * (refuses during) every call in flight. */
static const struct file_operations pm_fops = {
	.owner = THIS_MODULE,
	.open = nonseekable_open,
	.unlocked_ioctl = pm_ioctl,
	/* The request layout is the same for 32-bit callers; only the
	 * pointers need converting, and the iovecs (see iov_copy_in). */
	.compat_ioctl = compat_ptr_ioctl,
	/* No .llseek: nonseekable_open clears FMODE_LSEEK, so lseek is
	 * ESPIPE on every kernel (6.12 removed no_llseek, which said so). */
};

static struct miscdevice pm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "procmadvise",
	.fops = &pm_fops,
};

static int __init pm_init(void)
{
	int ret;

	if (mode & ~0777) {
		pr_err("refusing to load: mode=%#o has bits beyond 0777\n", mode);
		return -EINVAL;
	}
	if (mode & 0006)
		pr_warn("mode=%#o lets any user open the device; every call is still checked\n",
			mode);
	ret = resolve_symbols();
	if (ret)
		return ret;
	pm_misc.mode = mode;
	ret = misc_register(&pm_misc);
	if (ret) {
		pr_err("misc_register failed (%d)\n", ret);
		return ret;
	}
	pr_info("ready: /dev/%s mode %#o, CAP_SYS_NICE exempt gid %d\n",
		pm_misc.name, mode, gid);
	return 0;
}

static void __exit pm_exit(void)
{
	misc_deregister(&pm_misc);
}

module_init(pm_init);
module_exit(pm_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("process memory advice through /dev/procmadvise");
MODULE_AUTHOR("libprocmadvise contributors");
