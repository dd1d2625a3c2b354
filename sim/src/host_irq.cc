// Host model, interrupts and kernel work: events on the EQ, per-core kernel
// work queue (C-state exit, hardirq, softirq, handler, ttwu, IPI), wake-ups.
#include "host_model.h"

namespace fastwake::sim::detail {

// ================================================================ interrupts

void HostModel::raise_event(CqId cq) {
  const VectorId v = nic_.cqs_[cq].vector;
  trace(trace_, Decision::Kind::kIrq, cq, nic_.vector_core(v));
  eq_[v].push_back(cq);
  if (irq_inflight_[v]) return;  // the pending IRQ's EQ scan will see this EQE
  irq_inflight_[v] = 1;
  ++n_irq_;
  post_kernel(nic_.vector_core(v), {KType::kHardirq, v}, eng_.now() + p_.msix_ns);
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
  const KWork w = pending_kw_[slot];
  free_kw_.push_back(slot);
  c.kq.push_back(w);
  if (c.kbusy) return;  // runs after the current kernel item
  if (c.idle) {
    // Leave the C-state first: the exit latency delays this work.
    const Nanos now = eng_.now();
    c.last_idle = now - c.idle_since;
    c.idle = false;
    c.kq.push_front({KType::kCStateExit, c.cstate});
  } else {
    pause_current(c);
  }
  start_kernel(c);
}

Nanos HostModel::kernel_cost(const SimCore& c, const KWork& w) const {
  (void)c;
  switch (w.type) {
    case KType::kCStateExit: return p_.cstates[w.id].exit_latency_ns;
    case KType::kHardirq: return p_.hardirq_ns;
    case KType::kSoftirq: return p_.softirq_ns;
    case KType::kHandler:
      // Stock: ib_uverbs_comp_handler. Module: the same handler, then its
      // wait-queue walk calls fw_wq_wake (an increment). Proposal: only a
      // module callback (no uverbs event).
      return (wp_.handler_allocates_event() ? p_.uverbs_handler_ns : 0) +
             (wp_.runs_module_callback() ? p_.fw_handler_ns : 0);
    case KType::kTtwuLocal: return p_.ttwu_local_ns;
    case KType::kTtwuRemote: return p_.ttwu_remote_ns;
    case KType::kIpi: return p_.ipi_handler_ns;
  }
  return 0;
}

void HostModel::start_kernel(SimCore& c) {
  c.kbusy = true;
  const KWork& w = c.kq.front();
  set_power(c, w.type == KType::kCStateExit ? kPowerExit : kPowerIrq);
  const Nanos now = eng_.now();
  // Stages of the requests this work is for.
  if (w.type == KType::kHandler) {
    for (int id : nic_.cqs_[w.id].pending) reqs_[id].enter(Stage::kHandler, now);
  } else if (w.type == KType::kTtwuLocal || w.type == KType::kTtwuRemote) {
    for (int id : nic_.cqs_[w.id].pending) reqs_[id].enter(Stage::kWakeup, now);
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
        if (th.core == c.id) {
          c.kq.push_front({KType::kTtwuLocal, w.id});
        } else {
          c.kq.push_front({KType::kTtwuRemote, w.id});
        }
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
    case KType::kTtwuRemote: {
      ++n_remote_wake_;
      ++n_ipi_;
      const SimThread& th = threads_[w.id];
      post_kernel(th.core, {KType::kIpi, w.id}, eng_.now() + p_.ipi_latency_ns);
      break;
    }
    case KType::kIpi:
      enqueue(c, w.id);
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
    ++n_ipi_;
    post_kernel(th.core, {KType::kIpi, t}, eng_.now() + p_.ipi_latency_ns);
  }
}

/// Thread t becomes runnable on core c (called from kernel context on c).
void HostModel::enqueue(SimCore& c, int t) {
  SimThread& th = threads_[t];
  if (th.state != ThreadState::kBlocked) return;
  th.state = ThreadState::kRunnable;
  th.core = c.id;
  th.queued_at = eng_.now();
  mark(th, Stage::kWaitCpu, Stage::kWaitCpu);
  if (wp_.woken_jumps_queue() && th.resume == Resume::kWokenWait) {
    // Ahead of ordinary runnable threads, but FIFO among fast-woken ones: a
    // pure LIFO head would starve early wakers when the core is saturated.
    // A thread that has waited a whole minimum slice keeps its place (CFS's
    // vruntime would pick it by then), so the fast path cannot starve it.
    auto it = c.runq.begin();
    while (it != c.runq.end() &&
           (threads_[*it].fast_queued ||
            eng_.now() - threads_[*it].queued_at >= p_.sched_min_granularity_ns))
      ++it;
    c.runq.insert(it, t);
    th.fast_queued = true;
  } else {
    c.runq.push_back(t);
  }
}

}  // namespace fastwake::sim::detail
