// SPDX-License-Identifier: GPL-2.0
/* fastwake.ko: /dev/fastwake, wait/wake/switch-to and wait-queue wake-ups for one process. */

/*
 * Mechanism only; every decision (who runs next, which CQ to poll, where an
 * IRQ goes) stays in user space (core/). docs/kmod.md is the user manual.
 *
 * Objects
 *   fw_ctx         one per open file; bound to the opener's thread group.
 *   fw_thread      one per registered thread (a thread is registered on at
 *                  most one file); holds the wake token.
 *   fw_attachment  one per (thread, attached file); fw_pwq per wait queue
 *                  the file's ->poll() hooked us on (as in fs/eventpoll.c).
 *
 * Who touches what
 *   - fw_threads (global hash, keyed by task) finds a task's registration;
 *     lookups are lockless under RCU, changes take fw_threads_lock.
 *   - ctx->threads and fw_thread.dead change under ctx->lock. A registration
 *     is torn down exactly once, by whoever flips ->dead (fw_thread_claim):
 *     its owner (FW_IOC_UNREGISTER), the exit or exec tracepoint (its
 *     thread exits or execs) or fw_release() (last close). Only the
 *     tracepoints and fw_release() can race.
 *   - fw_ctxs (every open file, under fw_ctxs_lock) counts a process's
 *     attachments against its RLIMIT_NOFILE (fw_attach_reserve).
 *   - fw_thread.attached / .nattach: only the owner thread (in an ioctl on
 *     its file) or the one tearing it down. The owner cannot be inside an
 *     ioctl while the exit probe runs (same thread) or while the file is
 *     released (an ioctl holds a file reference), so no lock is needed.
 *   - The wake token is an atomic. A waiter stores ->waiting = 1 and its
 *     task state, full barrier, then exchanges the token with 0, then
 *     sleeps. A waker exchanges the token with 1 (full barrier), then reads
 *     ->waiting: if it set the token from 0 and the owner is waiting here,
 *     it wakes the task. Either the waiter sees the token or the waker sees
 *     ->waiting. Threads sleeping elsewhere (futex, read()) are not woken,
 *     and a wake of a running thread is one atomic operation.
 *   - Registrations, contexts: freed after an RCU grace period, since
 *     wakers, the exit probe and wait-queue callbacks reach them under RCU
 *     (or with interrupts off).
 *
 * Nothing sleeps in atomic context: the wait-queue callback only sets a
 * token and wakes; the exit probe (preemption off) only takes spinlocks,
 * unhooks wait queues and drops references (fput defers to task work).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <trace/events/sched.h> /* the probes' prototypes (check_trace_callback_type_*) */

#include "uapi/fastwake.h"

#define FW_MAX_ATTACH 64 /* files per thread; per process: RLIMIT_NOFILE (fw_attach_reserve) */
#define FW_MAX_PWQ 8     /* wait queues one file's ->poll() may hook */
#define FW_HASH_BITS 10

struct fw_pcpu_stats {
	u64 wakes;
	u64 switches;
	u64 yields;
	u64 irq_wakes;
	u64 irq_preempts;
	u64 exits;
};

struct fw_ctx {
	struct pid *tgid; /* opener's thread group (counted) */
	struct list_head pnode; /* fw_ctxs, under fw_ctxs_lock */
	spinlock_t lock;  /* threads, nthreads, fw_thread.dead */
	struct list_head threads;
	unsigned int nthreads;
	atomic_t nattached; /* includes reservations (fw_attach_reserve) */
	bool abi_ok;
	struct fw_pcpu_stats __percpu *stats;
	struct rcu_head rcu;
};

struct fw_thread {
	struct hlist_node hnode;  /* fw_threads, keyed by task */
	struct list_head node;    /* ctx->threads */
	struct task_struct *task; /* counted */
	struct fw_ctx *ctx;
	atomic_t token;           /* 1: a wake is pending */
	int waiting;              /* owner sleeps (or is about to) in the module */
	bool dead;                /* ctx->lock; set once, by the tear-down owner */
	unsigned int nattach;
	struct list_head attached;
	struct rcu_head rcu;
};

struct fw_attachment;

struct fw_pwq {
	wait_queue_entry_t wait;    /* .private = the thread's task */
	wait_queue_head_t *whead;   /* NULL once POLLFREE unhooked us */
	struct fw_attachment *att;
	struct fw_pwq *next;
};

struct fw_attachment {
	struct list_head node; /* thr->attached */
	struct fw_thread *thr;
	struct file *file;     /* counted */
	__poll_t events;
	bool preempt;
	unsigned int npwq;
	struct fw_pwq *pwqs;
};

struct fw_pqueue {
	poll_table pt;
	struct fw_attachment *att;
	int err;
};

static DEFINE_HASHTABLE(fw_threads, FW_HASH_BITS);
static DEFINE_SPINLOCK(fw_threads_lock);
static atomic_t fw_nthreads = ATOMIC_INIT(0);
static struct tracepoint *fw_exit_tp;
static struct tracepoint *fw_exec_tp;
/* Every open file, so that attachments can be counted per process. */
static LIST_HEAD(fw_ctxs);
static DEFINE_SPINLOCK(fw_ctxs_lock);
/* jiffies of the last forced reschedule of each CPU on behalf of a switch-to */
static DEFINE_PER_CPU(unsigned long, fw_resched_stamp);

static const struct file_operations fw_fops;

/* --- registrations --------------------------------------------------------- */

/* @task's live registration, or NULL. Caller holds rcu_read_lock(). */
static struct fw_thread *fw_thread_of(struct task_struct *task)
{
	struct fw_thread *thr;

	hash_for_each_possible_rcu(fw_threads, thr, hnode, (unsigned long)task)
		if (thr->task == task && !READ_ONCE(thr->dead))
			return thr;
	return NULL;
}

/*
 * The calling thread's registration on @ctx, or NULL. The result stays valid
 * for the rest of the ioctl: only this thread, its exit or the file's release
 * free it, and none of those can run meanwhile.
 */
static struct fw_thread *fw_self(struct fw_ctx *ctx)
{
	struct fw_thread *thr;

	rcu_read_lock();
	thr = fw_thread_of(current);
	if (thr && thr->ctx != ctx)
		thr = NULL;
	rcu_read_unlock();
	return thr;
}

/* Caller holds thr->ctx->lock. True if the caller now owns the tear-down. */
static bool fw_thread_claim(struct fw_thread *thr)
{
	lockdep_assert_held(&thr->ctx->lock);
	if (thr->dead)
		return false;
	WRITE_ONCE(thr->dead, true);
	list_del(&thr->node);
	thr->ctx->nthreads--;
	return true;
}

/* Unhooks one wait-queue entry; the POLLFREE protocol of fs/eventpoll.c. */
static void fw_pwq_unhook(struct fw_pwq *pwq)
{
	wait_queue_head_t *whead;

	rcu_read_lock();
	/*
	 * POLLFREE clears ->whead (release) and the queue's owner frees the
	 * head only after an RCU grace period: NULL means nothing to remove,
	 * non-NULL is safe to lock until rcu_read_unlock().
	 */
	whead = smp_load_acquire(&pwq->whead);
	if (whead)
		remove_wait_queue(whead, &pwq->wait);
	rcu_read_unlock();
}

/* Unhooks and frees every wait-queue entry of @att; no callback runs after. */
static void fw_attachment_unhook(struct fw_attachment *att)
{
	struct fw_pwq *pwq;

	while ((pwq = att->pwqs)) {
		att->pwqs = pwq->next;
		fw_pwq_unhook(pwq);
		kfree(pwq);
	}
}

/* Detaches a linked attachment: unhook, unlink, drop the file. Atomic-safe. */
static void fw_attachment_free(struct fw_attachment *att)
{
	fw_attachment_unhook(att);
	list_del(&att->node);
	att->thr->nattach--;
	atomic_dec(&att->thr->ctx->nattached);
	fput(att->file);
	kfree(att);
}

/* After a successful fw_thread_claim(). Atomic-safe (runs in the exit probe). */
static void fw_thread_teardown(struct fw_thread *thr)
{
	struct fw_attachment *att, *tmp;

	spin_lock(&fw_threads_lock);
	hash_del_rcu(&thr->hnode);
	spin_unlock(&fw_threads_lock);
	atomic_dec(&fw_nthreads);
	list_for_each_entry_safe(att, tmp, &thr->attached, node)
		fw_attachment_free(att);
	put_task_struct(thr->task);
	kfree_rcu(thr, rcu);
}

/* Drops @task's registration, if any (exit, exec). Atomic-safe. */
static void fw_drop_task(struct task_struct *task)
{
	struct fw_thread *thr;
	struct fw_ctx *ctx;
	bool mine = false;

	if (!atomic_read(&fw_nthreads))
		return;
	rcu_read_lock();
	thr = fw_thread_of(task);
	if (thr) {
		ctx = thr->ctx;
		spin_lock(&ctx->lock);
		mine = fw_thread_claim(thr);
		spin_unlock(&ctx->lock);
		if (mine) {
			this_cpu_inc(ctx->stats->exits);
			fw_thread_teardown(thr); /* ctx stays valid: RCU */
		}
	}
	rcu_read_unlock();
}

/*
 * sched_process_exit probe: current is exiting (PF_EXITING set, files not
 * yet closed). Runs with preemption disabled for every exiting task.
 * Prototype: TP_PROTO of sched_process_exit (checked in fw_init()).
 */
static void fw_on_exit(void *data, struct task_struct *task)
{
	fw_drop_task(task);
}

/*
 * sched_process_exec probe: current (@task) has just exec'd (fs/exec.c
 * exec_binprm(), past the point of no return; de_thread() has already made
 * the other threads exit, and their exit probes dropped them). The new
 * program did not register anything: drop the old one's registration and
 * attachments of this thread. A file inherited without O_CLOEXEC stays open
 * and usable by the new program (same thread group), with no registrations.
 */
static void fw_on_exec(void *data, struct task_struct *task, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	fw_drop_task(task);
}

/*
 * Resolves a tid argument to a registered thread of @ctx.
 * Caller holds rcu_read_lock(); the results are valid until it drops it.
 */
static int fw_lookup(struct fw_ctx *ctx, unsigned long arg,
		     struct task_struct **taskp, struct fw_thread **thrp)
{
	struct task_struct *task;
	struct fw_thread *thr;

	if (!arg || arg > FW_TID_MAX)
		return -EINVAL;
	task = pid_task(find_vpid((pid_t)arg), PIDTYPE_PID);
	if (!task)
		return -ESRCH;
	if (!same_thread_group(task, current))
		return -EPERM;
	thr = fw_thread_of(task);
	if (!thr || thr->ctx != ctx)
		return -ENOENT;
	*taskp = task;
	*thrp = thr;
	return 0;
}

/* --- waiting ---------------------------------------------------------------- */

/* Sleeps until @me's token is set (0), a signal (-EINTR) or the timeout (-ETIMEDOUT). */
static long fw_sleep(struct fw_thread *me, u64 timeout_ns)
{
	ktime_t expires, *exp = NULL;
	bool expired = false;
	long ret;

	if (timeout_ns != FW_WAIT_FOREVER) {
		expires = ktime_add_safe(ktime_get(),
					 ns_to_ktime(min_t(u64, timeout_ns, KTIME_MAX)));
		exp = &expires;
	}
	WRITE_ONCE(me->waiting, 1);
	for (;;) {
		/* First ->waiting and the state (full barrier), then the token, then sleep. */
		set_current_state(TASK_INTERRUPTIBLE);
		if (atomic_xchg(&me->token, 0)) {
			ret = 0;
			break;
		}
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (expired) {
			ret = -ETIMEDOUT;
			break;
		}
		if (exp)
			expired = !schedule_hrtimeout_range(exp, current->timer_slack_ns,
							    HRTIMER_MODE_ABS);
		else
			schedule();
	}
	__set_current_state(TASK_RUNNING);
	WRITE_ONCE(me->waiting, 0);
	return ret;
}

/*
 * Sets @thr's token; true if the caller should wake its task (it set the
 * token from 0 and the thread waits in the module). Full barrier first.
 */
static bool fw_token_set(struct fw_thread *thr)
{
	return !atomic_xchg(&thr->token, 1) && READ_ONCE(thr->waiting);
}

/* --- attached files ------------------------------------------------------------ */

/*
 * May a wake-up of @wakee force a reschedule of @curr (running on this CPU)
 * without the scheduler's wake-up check? Only where that check could not
 * refuse it, or where the only one who loses is the wakee's own process:
 *   - @curr is in @wakee's thread group: the process preempts itself;
 *   - @curr is this CPU's idle task: check_preempt_curr() (kernel/sched/
 *     core.c) always preempts the idle class for a CFS wakee;
 *   - @curr is SCHED_IDLE and @wakee is not: check_preempt_wakeup()
 *     (kernel/sched/fair.c, "SCHED_IDLE rule", docs/kernel-rules.md)
 *     preempts it unconditionally too.
 * Anything else (another process, whoever's it is, even the same user's)
 * keeps the scheduler's own decision: the wake-up above is a normal one.
 */
static bool fw_may_preempt(struct task_struct *curr, struct task_struct *wakee)
{
	if (same_thread_group(curr, wakee) || is_idle_task(curr))
		return true;
	return READ_ONCE(curr->policy) == SCHED_IDLE &&
	       READ_ONCE(wakee->policy) != SCHED_IDLE;
}

/*
 * Wait-queue callback of an attached file: atomic context, the queue's lock
 * held, interrupts off. Only sets the token and wakes (and, if asked, tells
 * this CPU to reschedule when the thread was queued here).
 */
static int fw_wq_wake(wait_queue_entry_t *wait, unsigned int mode, int sync, void *key)
{
	struct fw_pwq *pwq = container_of(wait, struct fw_pwq, wait);
	struct fw_attachment *att = pwq->att;
	struct fw_thread *thr = att->thr;
	__poll_t ev = key_to_poll(key);
	int woken = 0;

	/* uverbs completion channels wake with no key: count it as input. */
	if (!key || (ev & (att->events | POLLFREE))) {
		this_cpu_inc(thr->ctx->stats->irq_wakes);
		if (fw_token_set(thr))
			woken = default_wake_function(wait, mode, sync, key);
		/*
		 * A woken sleeper is placed at the left of CFS's tree; asking
		 * for a reschedule now skips the wake-up granularity check, so
		 * it runs as soon as this interrupt (or lock) is left. Only
		 * if what it preempts is fw_may_preempt(): the caller's own.
		 */
		if (woken && att->preempt && thr->task != current &&
		    task_cpu(thr->task) == smp_processor_id() &&
		    fw_may_preempt(current, thr->task)) {
			set_tsk_need_resched(current);
			set_preempt_need_resched();
			this_cpu_inc(thr->ctx->stats->irq_preempts);
		}
	}
	if (unlikely(ev & POLLFREE)) {
		/*
		 * The queue is going away (signalfd, binder). As in epoll:
		 * unlink ourselves, then publish NULL; after the release store
		 * the detaching side may free pwq, so it is our last access.
		 */
		list_del_init(&wait->entry);
		/* pairs with smp_load_acquire() in fw_pwq_unhook() */
		smp_store_release(&pwq->whead, NULL);
	}
	return woken;
}

/* poll_table queue proc: called by the file's ->poll() for each wait queue. */
static void fw_queue_proc(struct file *file, wait_queue_head_t *whead, poll_table *pt)
{
	struct fw_pqueue *pq = container_of(pt, struct fw_pqueue, pt);
	struct fw_attachment *att = pq->att;
	struct fw_pwq *pwq;

	if (pq->err)
		return;
	if (att->npwq >= FW_MAX_PWQ) {
		pq->err = -E2BIG;
		return;
	}
	/* As epoll: ->poll() implementations do not hold spinlocks here. */
	pwq = kmalloc(sizeof(*pwq), GFP_KERNEL_ACCOUNT);
	if (!pwq) {
		pq->err = -ENOMEM;
		return;
	}
	init_waitqueue_func_entry(&pwq->wait, fw_wq_wake);
	pwq->wait.private = att->thr->task;
	pwq->whead = whead;
	pwq->att = att;
	pwq->next = att->pwqs;
	att->pwqs = pwq;
	att->npwq++;
	add_wait_queue(whead, &pwq->wait);
}

/*
 * An attachment keeps its file open after user space closes it, so the
 * process's attachments, over all its fastwake files, count against its
 * RLIMIT_NOFILE: at most that many (besides its open descriptors, which the
 * limit bounds by itself). Reserves one in ctx->nattached or fails -EMFILE.
 * Under fw_ctxs_lock, so concurrent attaches cannot overshoot.
 */
static int fw_attach_reserve(struct fw_ctx *ctx)
{
	unsigned long limit = rlimit(RLIMIT_NOFILE), n = 0;
	struct fw_ctx *c;
	int ret = 0;

	spin_lock(&fw_ctxs_lock);
	list_for_each_entry(c, &fw_ctxs, pnode)
		if (c->tgid == ctx->tgid)
			n += atomic_read(&c->nattached);
	if (n >= limit)
		ret = -EMFILE;
	else
		atomic_inc(&ctx->nattached);
	spin_unlock(&fw_ctxs_lock);
	return ret;
}

static long fw_ioc_attach(struct fw_ctx *ctx, struct fw_attach __user *uarg)
{
	struct fw_attachment *att, *a;
	struct fw_pqueue pq;
	struct fw_attach req;
	struct fw_thread *me;
	struct file *file;
	__poll_t mask;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~FW_ATTACH_FLAGS_ALL) || req.reserved)
		return -EINVAL;
	if (req.fd < 0)
		return -EBADF;
	me = fw_self(ctx);
	if (!me)
		return -ENOENT;
	if (me->nattach >= FW_MAX_ATTACH)
		return -ENOSPC;
	file = fget(req.fd);
	if (!file)
		return -EBADF;
	ret = -EINVAL; /* our own device: a reference cycle */
	if (file->f_op == &fw_fops)
		goto out_fput;
	ret = -EOPNOTSUPP;
	if (!file_can_poll(file))
		goto out_fput;
	ret = -EEXIST;
	list_for_each_entry(a, &me->attached, node)
		if (a->file == file)
			goto out_fput;
	ret = fw_attach_reserve(ctx);
	if (ret)
		goto out_fput;
	ret = -ENOMEM;
	att = kzalloc(sizeof(*att), GFP_KERNEL_ACCOUNT);
	if (!att)
		goto out_unreserve;
	att->thr = me;
	att->file = file;
	att->events = (__force __poll_t)(req.events ? req.events : FW_ATTACH_EVENTS_DEFAULT);
	att->preempt = req.flags & FW_ATTACH_PREEMPT;
	INIT_LIST_HEAD(&att->node);

	pq.att = att;
	pq.err = 0;
	init_poll_funcptr(&pq.pt, fw_queue_proc);
	mask = vfs_poll(file, &pq.pt);
	if (!pq.err && !att->pwqs)
		pq.err = -EOPNOTSUPP; /* ->poll() never queued us: nothing could wake */
	if (pq.err) {
		fw_attachment_unhook(att);
		kfree(att);
		ret = pq.err;
		goto out_unreserve;
	}
	list_add_tail(&att->node, &me->attached);
	me->nattach++; /* ctx->nattached: reserved above */
	/* Already readable: the event happened before the hook, do not lose it. */
	if (mask & att->events)
		atomic_set(&me->token, 1);
	return 0; /* the file reference now belongs to att */

out_unreserve:
	atomic_dec(&ctx->nattached);
out_fput:
	fput(file);
	return ret;
}

static long fw_ioc_detach(struct fw_ctx *ctx, unsigned long arg)
{
	struct fw_attachment *att, *tmp;
	struct fw_thread *me;
	struct file *file;
	long ret = -ENOENT;

	me = fw_self(ctx);
	if (!me)
		return -ENOENT;
	if (arg == (unsigned long)FW_DETACH_ALL) {
		list_for_each_entry_safe(att, tmp, &me->attached, node)
			fw_attachment_free(att);
		return 0;
	}
	if (arg > INT_MAX)
		return -EBADF;
	file = fget((unsigned int)arg);
	if (!file)
		return -EBADF;
	list_for_each_entry(att, &me->attached, node) {
		if (att->file == file) {
			fw_attachment_free(att);
			ret = 0;
			break;
		}
	}
	fput(file);
	return ret;
}

/* --- the other ioctls ------------------------------------------------------------ */

static long fw_ioc_abi(struct fw_ctx *ctx, struct fw_abi __user *uarg)
{
	struct fw_abi abi;
	u32 theirs;

	if (copy_from_user(&abi, uarg, sizeof(abi)))
		return -EFAULT;
	if (abi.flags || abi.reserved)
		return -EINVAL;
	theirs = abi.version;
	memset(&abi, 0, sizeof(abi));
	abi.version = FW_ABI_VERSION;
	abi.features = FW_FEAT_SWITCH | FW_FEAT_ATTACH | FW_FEAT_EXIT_CLEANUP;
	abi.max_attach = FW_MAX_ATTACH;
	if (copy_to_user(uarg, &abi, sizeof(abi)))
		return -EFAULT;
	/*
	 * Anyone holding the file may ask; only the opener's process changes
	 * its state. A failed handshake also revokes an earlier successful one.
	 */
	if (task_tgid(current) == ctx->tgid)
		WRITE_ONCE(ctx->abi_ok, theirs == FW_ABI_VERSION);
	return theirs == FW_ABI_VERSION ? 0 : -EPROTO;
}

static long fw_ioc_register(struct fw_ctx *ctx, unsigned long arg)
{
	struct fw_thread *thr, *old;
	long ret = 0;

	if (arg)
		return -EINVAL;
	thr = kzalloc(sizeof(*thr), GFP_KERNEL_ACCOUNT);
	if (!thr)
		return -ENOMEM;
	get_task_struct(current);
	thr->task = current;
	thr->ctx = ctx;
	INIT_LIST_HEAD(&thr->attached);

	spin_lock(&ctx->lock);
	spin_lock(&fw_threads_lock);
	rcu_read_lock();
	old = fw_thread_of(current);
	rcu_read_unlock();
	if (old) {
		ret = old->ctx == ctx ? -EEXIST : -EBUSY;
	} else {
		hash_add_rcu(fw_threads, &thr->hnode, (unsigned long)current);
		list_add_tail(&thr->node, &ctx->threads);
		ctx->nthreads++;
		atomic_inc(&fw_nthreads);
	}
	spin_unlock(&fw_threads_lock);
	spin_unlock(&ctx->lock);
	if (ret) {
		put_task_struct(current);
		kfree(thr);
	}
	return ret;
}

static long fw_ioc_unregister(struct fw_ctx *ctx, unsigned long arg)
{
	struct fw_thread *me;
	bool mine;

	if (arg)
		return -EINVAL;
	me = fw_self(ctx);
	if (!me)
		return -ENOENT;
	spin_lock(&ctx->lock);
	mine = fw_thread_claim(me);
	spin_unlock(&ctx->lock);
	if (mine)
		fw_thread_teardown(me);
	return 0;
}

static long fw_ioc_wait(struct fw_ctx *ctx, unsigned long arg)
{
	struct fw_thread *me = fw_self(ctx);

	if (!me)
		return -ENOENT;
	return fw_sleep(me, arg);
}

static long fw_ioc_wake(struct fw_ctx *ctx, unsigned long arg)
{
	struct task_struct *task;
	struct fw_thread *thr;
	long ret;

	rcu_read_lock();
	ret = fw_lookup(ctx, arg, &task, &thr);
	if (!ret) {
		if (fw_token_set(thr))
			wake_up_process(task);
		this_cpu_inc(ctx->stats->wakes);
	}
	rcu_read_unlock();
	return ret;
}

/*
 * yield_to(p, true) on a @p queued on another CPU calls resched_curr() on
 * that CPU's run queue (kernel/sched/core.c yield_to(), docs/kernel-rules.md
 * "yield_to"): its current task, which need not be ours, goes through
 * schedule() without the scheduler's wake-up check. Everything else
 * yield_to() does is to the caller: set_next_buddy() on a thread of its own
 * (fw_lookup: same thread group) and yield_task_fair() of itself, paid for
 * with its own CPU time, which a rate limit would not bound any better.
 * So only the remote reschedule is limited: at most one per jiffy per
 * target CPU from all callers together (the tick reschedules at that rate
 * anyway, check_preempt_tick()); past it the target still becomes the next
 * buddy and runs at that CPU's next scheduling point. A target on this CPU
 * is always fine (no remote reschedule happens).
 */
static bool fw_may_resched(int cpu)
{
	unsigned long *stamp, old, now = jiffies;

	if (cpu == raw_smp_processor_id())
		return true;
	stamp = per_cpu_ptr(&fw_resched_stamp, cpu);
	old = READ_ONCE(*stamp);
	return old != now && cmpxchg(stamp, old, now) == old;
}

/*
 * switch-to: wake @arg and hand it this CPU. With @wait the caller then
 * sleeps until its own token is set (wake + wait in one call).
 *
 * The target lands on this CPU's run queue only if its affinity or the
 * wake-up placement puts it here (the dispatcher pins its threads);
 * yield_to() then makes it the next pick and reschedules, or, if it was
 * placed elsewhere, reschedules that CPU.
 */
static long fw_ioc_switch(struct fw_ctx *ctx, unsigned long arg, bool wait)
{
	struct fw_thread *me = NULL, *thr;
	struct task_struct *task;
	long ret;
	int yielded;
	bool wake;

	if (wait) {
		me = fw_self(ctx);
		if (!me)
			return -ENOENT;
		/*
		 * Step 1: declare that we are going to sleep BEFORE the target
		 * can run. If it wakes us before we reach schedule(), that wake
		 * only makes us runnable again: no lost wake-up. ->waiting too,
		 * or that waker would see a token-less thread not worth waking.
		 */
		WRITE_ONCE(me->waiting, 1);
		set_current_state(TASK_INTERRUPTIBLE);
	}
	/* Step 2: find the target and set its token; keep the task, not the RCU section. */
	rcu_read_lock();
	ret = fw_lookup(ctx, arg, &task, &thr);
	if (!ret && task == current)
		ret = -EINVAL;
	if (ret) {
		rcu_read_unlock();
		__set_current_state(TASK_RUNNING);
		if (me)
			WRITE_ONCE(me->waiting, 0);
		return ret;
	}
	get_task_struct(task);
	wake = fw_token_set(thr);
	rcu_read_unlock();

	/* Step 3: make it runnable, no lock held (a shared lock here costs 13x). */
	if (wake)
		wake_up_process(task);
	/*
	 * Step 4: make it the next pick and schedule (may sleep: outside RCU,
	 * holding a task reference). With @wait our state is not RUNNING, so
	 * this schedule() is the switch itself. yield_to()'s @preempt only
	 * matters for a target queued on another CPU: it then reschedules
	 * whatever runs there, someone else's task maybe; fw_may_resched()
	 * limits that to once per jiffy per CPU.
	 */
	yielded = yield_to(task, fw_may_resched(task_cpu(task)));
	this_cpu_inc(ctx->stats->switches);
	if (yielded > 0)
		this_cpu_inc(ctx->stats->yields);

	/* Step 5: wait for our own token (returns at once if it came already). */
	ret = wait ? fw_sleep(me, FW_WAIT_FOREVER) : 0;
	__set_current_state(TASK_RUNNING);
	put_task_struct(task);
	return ret;
}

static long fw_ioc_stats(struct fw_ctx *ctx, struct fw_stats __user *uarg)
{
	struct fw_stats st;
	int cpu;

	memset(&st, 0, sizeof(st));
	for_each_possible_cpu(cpu) {
		const struct fw_pcpu_stats *s = per_cpu_ptr(ctx->stats, cpu);

		st.wakes += READ_ONCE(s->wakes);
		st.switches += READ_ONCE(s->switches);
		st.yields += READ_ONCE(s->yields);
		st.irq_wakes += READ_ONCE(s->irq_wakes);
		st.irq_preempts += READ_ONCE(s->irq_preempts);
		st.exits += READ_ONCE(s->exits);
	}
	spin_lock(&ctx->lock);
	st.threads = ctx->nthreads;
	spin_unlock(&ctx->lock);
	st.attached = atomic_read(&ctx->nattached);
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long fw_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct fw_ctx *ctx = file->private_data;

	switch (cmd) {
	case FW_IOC_ABI:
		return fw_ioc_abi(ctx, (struct fw_abi __user *)arg);
	case FW_IOC_REGISTER:
	case FW_IOC_UNREGISTER:
	case FW_IOC_WAIT:
	case FW_IOC_WAKE:
	case FW_IOC_SWITCH_TO:
	case FW_IOC_SWITCH_WAIT:
	case FW_IOC_ATTACH:
	case FW_IOC_DETACH:
	case FW_IOC_STATS:
		break;
	default:
		return -ENOTTY;
	}
	if (unlikely(!READ_ONCE(ctx->abi_ok)))
		return -EBADFD;
	/* Only the process that opened the file (not a fork child, not an SCM_RIGHTS receiver). */
	if (unlikely(task_tgid(current) != ctx->tgid))
		return -EPERM;

	switch (cmd) {
	case FW_IOC_REGISTER:
		return fw_ioc_register(ctx, arg);
	case FW_IOC_UNREGISTER:
		return fw_ioc_unregister(ctx, arg);
	case FW_IOC_WAIT:
		return fw_ioc_wait(ctx, arg);
	case FW_IOC_WAKE:
		return fw_ioc_wake(ctx, arg);
	case FW_IOC_SWITCH_TO:
		return fw_ioc_switch(ctx, arg, false);
	case FW_IOC_SWITCH_WAIT:
		return fw_ioc_switch(ctx, arg, true);
	case FW_IOC_ATTACH:
		return fw_ioc_attach(ctx, (struct fw_attach __user *)arg);
	case FW_IOC_DETACH:
		return fw_ioc_detach(ctx, arg);
	case FW_IOC_STATS:
		return fw_ioc_stats(ctx, (struct fw_stats __user *)arg);
	}
	return -ENOTTY;
}

/* --- open / release ------------------------------------------------------------------ */

static int fw_open(struct inode *inode, struct file *file)
{
	struct fw_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	ctx->stats = alloc_percpu_gfp(struct fw_pcpu_stats, GFP_KERNEL_ACCOUNT);
	if (!ctx->stats) {
		kfree(ctx);
		return -ENOMEM;
	}
	spin_lock_init(&ctx->lock);
	INIT_LIST_HEAD(&ctx->threads);
	atomic_set(&ctx->nattached, 0);
	ctx->tgid = get_pid(task_tgid(current));
	spin_lock(&fw_ctxs_lock);
	list_add(&ctx->pnode, &fw_ctxs);
	spin_unlock(&fw_ctxs_lock);
	file->private_data = ctx;
	return stream_open(inode, file);
}

static void fw_ctx_free_rcu(struct rcu_head *head)
{
	struct fw_ctx *ctx = container_of(head, struct fw_ctx, rcu);

	free_percpu(ctx->stats);
	kfree(ctx);
}

/* Last close: no ioctl can be running; exit probes may still race (claim). */
static int fw_release(struct inode *inode, struct file *file)
{
	struct fw_ctx *ctx = file->private_data;
	struct fw_thread *thr;

	for (;;) {
		spin_lock(&ctx->lock);
		thr = list_first_entry_or_null(&ctx->threads, struct fw_thread, node);
		if (thr)
			fw_thread_claim(thr); /* on the list: not yet claimed */
		spin_unlock(&ctx->lock);
		if (!thr)
			break;
		fw_thread_teardown(thr);
	}
	spin_lock(&fw_ctxs_lock);
	list_del(&ctx->pnode);
	spin_unlock(&fw_ctxs_lock);
	put_pid(ctx->tgid);
	call_rcu(&ctx->rcu, fw_ctx_free_rcu);
	return 0;
}

static const struct file_operations fw_fops = {
	.owner = THIS_MODULE,
	.open = fw_open,
	.release = fw_release,
	.unlocked_ioctl = fw_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice fw_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = FW_DEVICE_NAME,
	.fops = &fw_fops,
	/*
	 * root and group: the group is given by whoever installs the module
	 * (udev rule KERNEL=="fastwake", GROUP="fastwake", MODE="0660"; see
	 * docs/kmod.md "Who may open it"). Nobody else may open it.
	 */
	.mode = 0660,
};

/* --- module ------------------------------------------------------------------------- */

static void fw_find_tps(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_exit"))
		fw_exit_tp = tp;
	else if (!strcmp(tp->name, "sched_process_exec"))
		fw_exec_tp = tp;
}

/*
 * The sched tracepoints are not exported to modules, so the probes are
 * registered through the tracepoint found by name, which takes a void *.
 * The type checks the typed register_trace_*() would do happen here, at
 * compile time, with the header's own check_trace_callback_type_*() (no
 * symbol is referenced).
 */
static int fw_probes_register(void)
{
	int ret;

	check_trace_callback_type_sched_process_exit(fw_on_exit);
	check_trace_callback_type_sched_process_exec(fw_on_exec);
	ret = tracepoint_probe_register(fw_exit_tp, (void *)fw_on_exit, NULL);
	if (ret) {
		pr_err("cannot attach to sched_process_exit (%d)\n", ret);
		return ret;
	}
	ret = tracepoint_probe_register(fw_exec_tp, (void *)fw_on_exec, NULL);
	if (ret) {
		pr_err("cannot attach to sched_process_exec (%d)\n", ret);
		tracepoint_probe_unregister(fw_exit_tp, (void *)fw_on_exit, NULL);
		tracepoint_synchronize_unregister();
	}
	return ret;
}

static void fw_probes_unregister(void)
{
	tracepoint_probe_unregister(fw_exec_tp, (void *)fw_on_exec, NULL);
	tracepoint_probe_unregister(fw_exit_tp, (void *)fw_on_exit, NULL);
	tracepoint_synchronize_unregister();
}

static int __init fw_init(void)
{
	int ret;

	for_each_kernel_tracepoint(fw_find_tps, NULL);
	if (!fw_exit_tp || !fw_exec_tp) {
		pr_err("tracepoint sched_process_%s not found: cannot clean up after exiting or exec'ing threads\n",
		       fw_exit_tp ? "exec" : "exit");
		return -ENOENT;
	}
	ret = fw_probes_register();
	if (ret)
		return ret;
	ret = misc_register(&fw_misc);
	if (ret) {
		pr_err("cannot register /dev/%s (%d)\n", FW_DEVICE_NAME, ret);
		fw_probes_unregister();
		return ret;
	}
	pr_info("/dev/%s ready (ABI %u)\n", FW_DEVICE_NAME, FW_ABI_VERSION);
	return 0;
}

static void __exit fw_exit(void)
{
	/* Every file holds a module reference: none is open, no thread is registered. */
	misc_deregister(&fw_misc);
	fw_probes_unregister();
	rcu_barrier(); /* fw_ctx_free_rcu callbacks */
	if (atomic_read(&fw_nthreads))
		pr_err("%d registrations left at unload\n", atomic_read(&fw_nthreads));
	pr_info("unloaded\n");
}

module_init(fw_init);
module_exit(fw_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("FastWake: switch-to and trimmed wake-ups for RDMA completion waits");
MODULE_AUTHOR("FastWake toolkit");
MODULE_VERSION("1");
