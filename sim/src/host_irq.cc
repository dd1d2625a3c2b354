// Host model, interrupts and kernel work: events on the EQ, per-core kernel
// work queue (C-state exit, hardirq, softirq, handler, ttwu, IPI), wake-ups.
#include "host_model.h"

#include <algorithm>
#include <random>
#include <utility>

namespace fastwake::sim::detail {

// ================================================================ interrupts

void HostModel::raise_event(CqId cq) {
  const VectorId v = nic_.cqs_[cq].vector;
  trace(trace_, Decision::Kind::kIrq, cq, nic_.vector_core(v));
  eq_[v].push_back(cq);
  ++n_event_;  // one completion event per armed CQ, whether or not it raises an MSI-X
  if (irq_inflight_[v]) return;  // the pending IRQ's EQ scan will see this EQE
  irq_inflight_[v] = 1;
  ++n_irq_;
  const CoreId core = nic_.vector_core(v);
  Nanos hop = 0;
  if (cfg_.host.irq_by_thread && app_core_[static_cast<std::size_t>(core)])
    hop = irq_thread_wake(core);
  post_kernel(core, {KType::kHardirq, v}, eng_.now() + p_.msix_ns + hop);
}

/// host.irq_delivery "thread" (the loopback NIC, docs/hw.md): the interrupt
/// of a vector on app core `core` is taken by a SCHED_FIFO thread pinned
/// there, woken (futex) from the NIC thread's CPU, outside the app cores.
/// That wake-up is counted by the rules of every other remote one (Linux
/// ttwu_queue_cond, docs/model.md): the target runs nothing -> wake list +
/// CAL (none if it idles polling or its list is not empty); it runs a task ->
/// direct enqueue, and an RT wakee preempts any fair or SCHED_IDLE current
/// (check_preempt_curr's class rule) -> RES unless one is pending, and the
/// current is switched out while runnable. Returns what that hop delays the
/// "hardirq" (the IRQ thread's turn) by, from the same costs as every other
/// remote wake-up: the waker's enqueue, the IPI it sends, its delivery and
/// handler, and the switch into the IRQ thread (a C-state exit is charged
/// when the work arrives at an idle core).
Nanos HostModel::irq_thread_wake(CoreId core) {
  ++n_irqthr_wake_;
  const SimCore& b = cores_[static_cast<std::size_t>(core)];
  if (nr_running(b) == 0) {
    Nanos d = p_.ttwu_remote_ns + p_.ctx_switch_ns;
    if (b.wake_list.empty() && !idle_polling(b)) {
      ++n_ipi_call_;
      ++n_irqthr_call_;
      d += p_.ipi_send_ns + p_.ipi_latency_ns + p_.ipi_handler_ns;
    }
    return d;
  }
  Nanos d = p_.ttwu_local_ns + p_.rq_lock_remote_ns + p_.ctx_switch_ns;
  if (!b.resched_pending) {
    ++n_ipi_resched_;
    ++n_irqthr_resched_;
    d += p_.ipi_send_ns + p_.ipi_latency_ns + p_.resched_ipi_ns;
  }
  const int cur = b.current >= 0 ? b.current : (b.disp && !b.disp_parked ? b.disp_thread : -1);
  if (cur >= 0) ++(threads_[static_cast<std::size_t>(cur)].dispatcher ? n_disp_switch_ : n_invol_);
  return d;
}

/// A platform stall (stall_rate_hz, stall_mean_ns): the core runs nothing of
/// ours for an exponential time. A busy core takes it like kernel work (the
/// running thread is paused, pending kernel work waits). An idle core does
/// not notice: what waking a descheduled idle vCPU costs is already in the
/// C-state exit and remote wake-up costs a calibration fits (counting it
/// again would overlap them). Poisson per core, from the core's own stream
/// (the same for every strategy).
void HostModel::stall_begin(std::uint64_t core) {
  SimCore& c = cores_[core];
  const Nanos now = eng_.now();
  std::exponential_distribution<double> len(1.0 / static_cast<double>(p_.stall_mean_ns));
  std::exponential_distribution<double> gap(p_.stall_rate_hz / 1e9);
  const Nanos d = std::max<Nanos>(1, static_cast<Nanos>(len(c.stall_rng)));
  if (c.idle && !c.kbusy) {
    // idle: nothing of ours to stall (see above)
  } else if (!c.kbusy) {
    c.stall_ns = d;
    c.kq.push_front({KType::kStall, 0});
    pause_current(c);
    start_kernel(c);
  } else {
    c.stall_ns = d;  // after the running kernel item (its cost already fixed)
    c.kq.insert(c.kq.begin() + 1, {KType::kStall, 0});
  }
  if (!c.idle || c.kbusy) {
    ++n_stall_;
    stall_time_ += d;
  }
  if (!over_)
    eng_.at<&HostModel::stall_begin>(now + std::max<Nanos>(1, static_cast<Nanos>(gap(c.stall_rng))),
                                     this, core);
}

void HostModel::post_kernel(CoreId c, KWork w, Nanos at) {
  int slot;
  if (!free_kw_.empty()) {
    slot = free_kw_.back();
    free_kw_.pop_back();
    pending_kw_[slot] = w;
  } else {
    slot = static_cast<int>(pending_kw_.size());
    pending_kw_.push_back(w);
  }
  eng_.at<&HostModel::kernel_arrive>(at, this, pack(c, static_cast<std::uint64_t>(slot)));
}

void HostModel::kernel_arrive(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  const int slot = static_cast<int>(lo(packed));
  const Nanos now = eng_.now();
  const KWork w = pending_kw_[slot];
  free_kw_.push_back(slot);
  c.kq.push_back(w);
  if (c.kbusy) return;  // runs after the current kernel item
  if (c.idle) {
    // Leave the C-state first: the exit latency delays this work.
    c.last_idle = now - c.idle_since;
    c.idle = false;
    c.kq.push_front({KType::kCStateExit, c.cstate});
  } else {
    pause_current(c);
  }
  start_kernel(c);
}

Nanos HostModel::kernel_cost(const SimCore& c, const KWork& w) const {
  switch (w.type) {
    case KType::kCStateExit:
      return p_.cstates[w.id].exit_latency_ns;
    case KType::kHardirq:
      return p_.hardirq_ns;
    case KType::kSoftirq:
      return p_.softirq_ns;
    case KType::kHandler:
      // Stock: ib_uverbs_comp_handler. Module: the same handler, then its
      // wait-queue walk calls fw_wq_wake (an increment). Proposal: only a
      // module callback (no uverbs event).
      return (wp_.handler_allocates_event() ? p_.uverbs_handler_ns : 0) +
             (wp_.runs_module_callback() ? p_.fw_handler_ns : 0);
    case KType::kTtwuLocal:
      return p_.ttwu_local_ns;
    case KType::kTtwuWakelist:
      return p_.ttwu_remote_ns;
    case KType::kTtwuDirect:
      return p_.ttwu_local_ns + p_.rq_lock_remote_ns;
    case KType::kIpiSend:
      return p_.ipi_send_ns;
    case KType::kWakeFlush: {
      // sched_ttwu_pending: one activation per queued wakee; from the CAL
      // handler the first one is inside ipi_handler_ns (IPI entry + one
      // activation), polled from do_idle there is no interrupt entry.
      const auto n = static_cast<Nanos>(c.flushing.size());
      if (w.id == 0) return n * p_.ttwu_local_ns;
      return p_.ipi_handler_ns + std::max<Nanos>(0, n - 1) * p_.ttwu_local_ns;
    }
    case KType::kReschedIpi:
      return p_.resched_ipi_ns;
    case KType::kIpi:
      return p_.ipi_handler_ns;
    case KType::kStall:
      return c.stall_ns;
    case KType::kRelease:
      return p_.ttwu_local_ns;  // FUTEX_WAKE -> try_to_wake_up on this CPU
  }
  return 0;
}

void HostModel::start_kernel(SimCore& c) {
  c.kbusy = true;
  const KWork& w = c.kq.front();
  // __flush_smp_call_function_queue takes the whole list at once
  // (llist_del_all, kernel/smp.c): a wakee queued after this point finds the
  // list empty again and sends its own IPI.
  if (w.type == KType::kWakeFlush) {
    c.flushing = std::move(c.wake_list);
    c.wake_list.clear();
  }
  set_power(c, w.type == KType::kCStateExit ? kPowerExit : kPowerIrq);
  const Nanos now = eng_.now();
  // Stages of the requests this work is for.
  if (w.type == KType::kHandler) {
    nic_.cqs_[w.id].pending.for_each([&](int id) { reqs_[id].enter(Stage::kHandler, now); });
    // fastwake_adaptive: the CQ of a thread sleeping for a hand-off that had
    // armed it before (one more event): its requests left kPoll, so the
    // dispatcher's next resume marks them again.
    if (adapt_ && threads_[w.id].ready_slot >= 0)
      ready_unmarked(cores_[threads_[w.id].core], w.id);
  } else if (w.type == KType::kTtwuLocal || w.type == KType::kTtwuWakelist ||
             w.type == KType::kTtwuDirect) {
    nic_.cqs_[w.id].pending.for_each([&](int id) { reqs_[id].enter(Stage::kWakeup, now); });
  }
  ++c.token;
  eng_.at<&HostModel::kernel_done>(now + kernel_cost(c, w), this, pack(c.id, c.token));
}

void HostModel::kernel_done(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.token)) return;
  const KWork w = c.kq.front();
  c.kq.pop_front();
  c.kbusy = false;
  FW_TRACE("core %d kernel done type %d id %d", c.id, static_cast<int>(w.type), w.id);
  switch (w.type) {
    case KType::kCStateExit:
      break;
    case KType::kHardirq: {
      // EQ scan: take every EQE so far; later ones raise a new IRQ.
      std::deque<CqId> eqes;
      eqes.swap(eq_[w.id]);
      irq_inflight_[w.id] = 0;
      for (auto it = eqes.rbegin(); it != eqes.rend(); ++it)
        c.kq.push_front({KType::kHandler, *it});
      c.kq.push_front({KType::kSoftirq, w.id});
      break;
    }
    case KType::kSoftirq:
      break;
    case KType::kHandler: {
      SimThread& th = threads_[w.id];
      if (th.waiting) {
        th.waiting = false;  // one wake per event
        th.event_pending = true;
        // try_to_wake_up: a pinned task's select_task_rq is its own CPU
        // (kernel/sched/core.c select_task_rq, Linux 6.1); then ttwu_queue.
        c.kq.push_front(
            {th.core == c.id ? KType::kTtwuLocal : remote_wake_kind(c.id, th.core), w.id});
      } else {
        th.event_pending = true;  // it is awake: the event waits in the channel
      }
      break;
    }
    case KType::kTtwuLocal:
      ++n_local_wake_;
      // FW_ATTACH_PREEMPT (fw_wq_wake): the wakee is queued on this CPU, so
      // the callback sets need_resched here; reschedule() consumes it.
      if (wp_.forces_resched_on_irq_cpu() && threads_[w.id].state == ThreadState::kBlocked)
        c.forced_resched = w.id;
      enqueue(c, w.id);
      break;
    case KType::kTtwuWakelist: {
      // __ttwu_queue_wakelist -> __smp_call_single_queue (kernel/smp.c,
      // Linux 6.1): llist_add returns true only if the target's
      // call_single_queue was empty, and only then is
      // send_call_function_single_ipi called, which sends nothing if the
      // target idles with TIF_POLLING_NRFLAG set (set_nr_if_polling): the
      // target's do_idle then flushes the list itself (kernel/sched/idle.c
      // flush_smp_call_function_queue).
      ++n_remote_wake_;
      ++n_wake_wakelist_;
      SimCore& b = cores_[threads_[w.id].core];
      b.wake_list.push_back(w.id);
      if (b.wake_list.size() == 1) {
        if (idle_polling(b)) {
          ++n_wake_polled_;
          post_kernel(b.id, {KType::kWakeFlush, 0}, eng_.now());
        } else {
          c.kq.push_front({KType::kIpiSend, ipi_id(b.id, false)});
        }
      }
      break;
    }
    case KType::kTtwuDirect: {
      // ttwu_queue's direct path: rq_lock(target rq) + ttwu_do_activate on
      // the waker, then check_preempt_curr -> resched_curr (kernel/sched/core.c,
      // Linux 6.1): nothing if TIF_NEED_RESCHED is already set, else
      // set_nr_and_not_polling and a reschedule IPI unless the target's
      // current is a polling idle task.
      ++n_remote_wake_;
      ++n_wake_direct_;
      SimCore& b = cores_[threads_[w.id].core];
      // (The target may have gone idle while this ran: its idle task is then
      // "current" and a polling idle loop sees TIF_NEED_RESCHED by itself.)
      if (enqueue(b, w.id) && !b.resched_pending) {
        if (idle_polling(b)) {
          kick(b);  // leaves its C-state and picks the wakee, no IPI
        } else {
          b.resched_pending = true;
          c.kq.push_front({KType::kIpiSend, ipi_id(b.id, true)});
        }
      }
      break;
    }
    case KType::kIpiSend: {
      const CoreId target = w.id / 2;
      if (w.id % 2) {
        ++n_ipi_resched_;  // RES: smp_send_reschedule
        post_kernel(target, {KType::kReschedIpi, 0}, eng_.now() + p_.ipi_latency_ns);
      } else {
        ++n_ipi_call_;  // CAL: arch_send_call_function_single_ipi
        post_kernel(target, {KType::kWakeFlush, 1}, eng_.now() + p_.ipi_latency_ns);
      }
      break;
    }
    case KType::kWakeFlush:
      // sched_ttwu_pending: ttwu_do_activate of each wakee on its own rq
      // (this core); the preemption check is the reschedule below.
      for (int t : c.flushing) enqueue(c, t);
      c.flushing.clear();
      break;
    case KType::kReschedIpi:
      c.resched_pending = false;  // scheduler_ipi: the reschedule below acts on it
      break;
    case KType::kIpi:
      enqueue(c, w.id);
      break;
    case KType::kStall:
      break;
    case KType::kRelease:
      release_sleeper(c, w.id);
      break;
  }
  if (!c.kq.empty()) {
    start_kernel(c);
  } else {
    reschedule(c);
  }
}

void HostModel::wake_blocked(ThreadId t, CoreId from_core) {
  SimThread& th = threads_.at(t);
  if (th.state != ThreadState::kBlocked) return;
  if (from_core == th.core) {
    enqueue(cores_[th.core], t);
  } else {
    ++n_ipi_call_;  // a migration's remote enqueue: a function-call IPI
    post_kernel(th.core, {KType::kIpi, t}, eng_.now() + p_.ipi_latency_ns);
  }
}

// ================================================================ remote wake-up rules
// Linux 6.1 kernel/sched/core.c; the table in docs/model.md "Remote wake-ups".

/// rq->nr_running: every runnable task of every class on the core, the
/// running one included and a SCHED_IDLE dispatcher included (it is always
/// runnable: the fallback when no app thread is); the idle task is not.
int HostModel::nr_running(const SimCore& c) const {
  int n = static_cast<int>(c.runq.size()) + (c.current >= 0 ? 1 : 0);
  if (c.disp && !c.disp_parked && c.current != c.disp_thread) ++n;
  return n;
}

/// The core idles with TIF_POLLING_NRFLAG set: it sits in a C-state whose
/// profile entry says "polling" (POLL, MWAIT states) and has not left it yet.
bool HostModel::idle_polling(const SimCore& c) const {
  return c.idle && !c.kbusy && p_.cstates[static_cast<std::size_t>(c.cstate)].polling;
}

/// ttwu_queue_cond (kernel/sched/core.c, Linux 6.1) for a pinned wakee on
/// `target` != `waker`: another LLC (!cpus_share_cache) -> wake list; same LLC
/// and the target's nr_running == 0 -> wake list; same LLC, target busy ->
/// direct enqueue by the waker.
KType HostModel::remote_wake_kind(CoreId waker, CoreId target) const {
  if (!topo_.share_llc(waker, target)) return KType::kTtwuWakelist;
  if (nr_running(cores_[target]) == 0) return KType::kTtwuWakelist;
  return KType::kTtwuDirect;
}

/// Thread t becomes runnable on core c (called from kernel context on c):
/// enqueue_entity with ENQUEUE_WAKEUP, then check_preempt_curr. Returns true
/// if this wake-up newly set the core's need_resched (the caller of a remote
/// enqueue then sends a reschedule IPI).
bool HostModel::enqueue(SimCore& c, int t) {
  SimThread& th = threads_[t];
  if (th.state != ThreadState::kBlocked) return false;
  th.state = ThreadState::kRunnable;
  th.core = c.id;
  th.queued_at = eng_.now();
  mark(th, Stage::kWaitCpu, Stage::kWaitCpu);
  // place_entity(initial = 0) (fair.c, Linux 6.1): a sleeper gets at most
  // half a (scaled) sched_latency of credit below min_vruntime
  // (GENTLE_FAIR_SLEEPERS) and never gains by being placed backwards. A
  // thread moved while asleep carries its vruntime relative to the old
  // core's min_vruntime (migrate_task_rq_fair) and is renormalised here.
  update_min_vruntime(c);
  if (std::exchange(th.vr_relative, false)) th.vruntime += c.min_vruntime;
  th.vruntime = std::max(th.vruntime, c.min_vruntime - sched_.latency / 2);
  if (wp_.woken_jumps_queue() && th.resume == Resume::kWokenWait) {
    // Proposal: ahead of ordinary runnable threads, but FIFO among
    // fast-woken ones: a pure LIFO head would starve early wakers when the
    // core is saturated. A thread that has waited a whole minimum slice
    // keeps its place, so the fast path cannot starve it.
    // (now - queued_at >= min_gran  <=>  queued_at <= now - min_gran; the
    // head group's qkey is RunQueue::kHead.)
    const std::size_t at = c.runq.first_qkey_above(eng_.now() - p_.sched_min_granularity_ns);
    th.fast_queued = true;
    th.in_rq = true;
    c.runq.insert_at(at, rq_ent(t));
  } else {
    rq_insert(c, t);
  }
  // check_preempt_curr -> check_preempt_wakeup: nothing if need_resched is
  // already set; the idle task is always preempted (class rule).
  if (c.need_resched) return false;
  if (c.current < 0) {
    c.need_resched = true;
    return true;
  }
  SimThread& cur = threads_[c.current];
  FW_TRACE("core %d enqueue %d preempting %d?", c.id, t, cur.id);
  if (!should_preempt(c, cur, th)) return false;
  c.need_resched = true;
  // A preemption by the wake-up rule biases the pick to the wakee
  // (set_next_buddy) and, with nr_running >= sched_nr_latency, back to the
  // preempted task after it (set_last_buddy).
  if (!cur.dispatcher && c.forced_resched != t && !wp_.woken_jumps_queue()) {
    c.next_buddy = t;
    if (static_cast<Nanos>(c.runq.size()) + 1 >= sched_.nr_latency) c.last_buddy = cur.id;
  }
  return true;
}

}  // namespace fastwake::sim::detail
