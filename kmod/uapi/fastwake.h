/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* fastwake uapi: the one header fastwake.ko shares with user space (ioctls, ABI, layouts). */
#ifndef _UAPI_FASTWAKE_H
#define _UAPI_FASTWAKE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * /dev/fastwake: wait, wake, switch-to and attach-a-wait-queue ioctls for
 * threads of ONE process. docs/kmod.md has the full semantics; in short:
 *
 *  - Open the device, then FW_IOC_ABI (required before any other ioctl; the
 *    module answers -EBADFD until it succeeded on this file).
 *  - Each thread that wants to be woken calls FW_IOC_REGISTER on the file.
 *    Only threads of the process that opened the file may use it: any other
 *    caller, and any target tid outside that process, gets -EPERM.
 *  - Every registered thread has a one-bit wake token: a wake sets it (and
 *    wakes the thread if it sleeps), a wait consumes it (returning at once if
 *    it was already set). Wakes never get lost and never pile up.
 *
 * Arguments are passed BY VALUE in the ioctl's `arg` (a tid, an fd, a
 * timeout): there is no user pointer to trust except for the three ioctls
 * with a struct, whose size is encoded in the command number (_IOC_SIZE), so
 * a caller built against another layout gets -ENOTTY, not a misread.
 * 64-bit processes only (32-bit callers get -ENOTTY).
 */

#define FW_DEVICE_NAME "fastwake"
#define FW_DEVICE_PATH "/dev/fastwake"

/* Bumped on ANY incompatible change of an ioctl's number, argument or meaning. */
#define FW_ABI_VERSION 1u

#define FW_IOC_MAGIC 0xFA /* free in Documentation/userspace-api/ioctl/ioctl-number.rst (6.1) */

/* Largest tid the module accepts as an argument (the kernel's PID_MAX_LIMIT on 64-bit). */
#define FW_TID_MAX 4194304u

/* FW_IOC_WAIT's argument for "no timeout". */
#define FW_WAIT_FOREVER (~0ull)

/* FW_IOC_DETACH's argument for "every file attached to the calling thread". */
#define FW_DETACH_ALL (~0ull)

/* Feature bits reported by FW_IOC_ABI. */
#define FW_FEAT_SWITCH (1ull << 0)       /* FW_IOC_SWITCH_TO, FW_IOC_SWITCH_WAIT */
#define FW_FEAT_ATTACH (1ull << 1)       /* FW_IOC_ATTACH, FW_IOC_DETACH */
#define FW_FEAT_EXIT_CLEANUP (1ull << 2) /* registrations vanish when their thread exits */

/* FW_IOC_ABI: handshake. The module always writes its own version back. */
struct fw_abi {
	__u32 version;    /* in: the caller's FW_ABI_VERSION; out: the module's */
	__u32 flags;      /* in: 0 */
	__u64 features;   /* out: FW_FEAT_* */
	__u32 max_attach; /* out: files one thread may attach */
	__u32 reserved;   /* in: 0; out: 0 */
};

/* FW_IOC_ATTACH flags. */
/* FW_ATTACH_PREEMPT: if the woken thread is queued on the waking CPU, reschedule that CPU now. */
#define FW_ATTACH_PREEMPT (1u << 0)
#define FW_ATTACH_FLAGS_ALL FW_ATTACH_PREEMPT

/* Default FW_IOC_ATTACH events (EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDNORM). */
#define FW_ATTACH_EVENTS_DEFAULT 0x005bu

/* FW_IOC_ATTACH: hook a pollable file's wait queue to the calling thread. */
struct fw_attach {
	__s32 fd;       /* in: the file (ibv completion channel, eventfd, ...) */
	__u32 flags;    /* in: FW_ATTACH_* */
	__u32 events;   /* in: poll bits that wake (<poll.h>); 0 = FW_ATTACH_EVENTS_DEFAULT */
	__u32 reserved; /* in: 0 */
};

/* FW_IOC_STATS: counters of this open file (sums over CPUs; a snapshot). */
struct fw_stats {
	__u32 threads;       /* threads registered now */
	__u32 attached;      /* files attached now */
	__u64 wakes;         /* tokens set by FW_IOC_WAKE */
	__u64 switches;      /* FW_IOC_SWITCH_TO / _WAIT calls that reached their target */
	__u64 yields;        /* ... where the scheduler took the direct hand-over (yield_to) */
	__u64 irq_wakes;     /* tokens set from an attached file's wait queue */
	__u64 irq_preempts;  /* ... of those, where the waking CPU was told to reschedule for it */
	__u64 exits;         /* registrations removed because their thread exited or exec'd */
	__u64 reserved[2];
};

/*
 * The ioctls. Return 0 or -1 with errno (see docs/kmod.md for every error).
 *
 * FW_IOC_ABI         struct fw_abi *: handshake; -EPROTO on a version mismatch.
 * FW_IOC_REGISTER    arg 0: register the calling thread on this file.
 * FW_IOC_UNREGISTER  arg 0: unregister it (detaches its files).
 * FW_IOC_WAIT        arg timeout in ns (FW_WAIT_FOREVER, 0 = only consume a
 *                    pending token): sleep until woken (0), signalled
 *                    (-EINTR) or timed out (-ETIMEDOUT).
 * FW_IOC_WAKE        arg tid: set the thread's token, wake it if it sleeps.
 * FW_IOC_SWITCH_TO   arg tid: wake it and hand it this CPU now; the caller
 *                    stays runnable and returns when it runs again (the
 *                    dispatcher's fast path).
 * FW_IOC_SWITCH_WAIT arg tid: wake it, hand it this CPU, and sleep until the
 *                    caller is woken itself (one call for wake + wait).
 * FW_IOC_ATTACH      struct fw_attach *: events on the file wake the caller.
 * FW_IOC_DETACH      arg fd (or FW_DETACH_ALL): undo FW_IOC_ATTACH.
 * FW_IOC_STATS       struct fw_stats *: this file's counters.
 */
#define FW_IOC_ABI _IOWR(FW_IOC_MAGIC, 0x00, struct fw_abi)
#define FW_IOC_REGISTER _IO(FW_IOC_MAGIC, 0x01)
#define FW_IOC_UNREGISTER _IO(FW_IOC_MAGIC, 0x02)
#define FW_IOC_WAIT _IO(FW_IOC_MAGIC, 0x03)
#define FW_IOC_WAKE _IO(FW_IOC_MAGIC, 0x04)
#define FW_IOC_SWITCH_TO _IO(FW_IOC_MAGIC, 0x05)
#define FW_IOC_SWITCH_WAIT _IO(FW_IOC_MAGIC, 0x06)
#define FW_IOC_ATTACH _IOW(FW_IOC_MAGIC, 0x07, struct fw_attach)
#define FW_IOC_DETACH _IO(FW_IOC_MAGIC, 0x08)
#define FW_IOC_STATS _IOR(FW_IOC_MAGIC, 0x09, struct fw_stats)
#define FW_IOC_NR_MAX 0x09

/* Layout checks, compiled by the module, C and C++ users alike. */
#ifdef __cplusplus
#define FW_UAPI_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define FW_UAPI_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
FW_UAPI_ASSERT(sizeof(struct fw_abi) == 24, "fw_abi layout changed: bump FW_ABI_VERSION");
FW_UAPI_ASSERT(sizeof(struct fw_attach) == 16, "fw_attach layout changed: bump FW_ABI_VERSION");
FW_UAPI_ASSERT(sizeof(struct fw_stats) == 72, "fw_stats layout changed: bump FW_ABI_VERSION");

#endif /* _UAPI_FASTWAKE_H */
