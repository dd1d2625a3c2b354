// Host model, scheduler and idle governor: preemption, rescheduling, context
// switches, idle entry (C-state choice), kicks and time slices.
#include "host_model.h"

#include <algorithm>
#include <cstddef>

namespace fastwake::sim::detail {

// ================================================================ scheduling

bool HostModel::should_preempt(const SimCore& c, const SimThread& cur, const SimThread& w) const {
  if (cur.dispatcher) return true;  // SCHED_IDLE yields to anything
  // fastwake.ko with FW_ATTACH_PREEMPT: a forced reschedule skips the wake-up
  // granularity check; the pick is the scheduler's (the model's run-queue
  // order stands in for CFS's vruntime order), so it switches only when the
  // wakee is the next pick.
  if (c.forced_resched == w.id) return true;
  // Busy with a request: serving one, or completions wait in its CQ.
  const bool mid_request = cur.active >= 0 || !nic_.cqs_[cur.id].pending.empty();
  // Already entering its wait: it leaves the CPU within block_ns anyway.
  const bool blocking = cur.has_seg && cur.seg_end == SegEnd::kBlock;
  if (wp_.woken_jumps_queue() && w.resume == Resume::kWokenWait && !mid_request && !blocking)
    return true;
  return eng_.now() - cur.ran_since >= p_.wakeup_granularity_ns;
}

/// Decides what core c runs now that no kernel work is pending.
void HostModel::reschedule(SimCore& c) {
  if (c.kbusy) return;
  if (c.slice_due) {  // the slice ran out during kernel work
    c.slice_due = false;
    if (c.current >= 0 && !threads_[c.current].dispatcher && !c.runq.empty()) {
      preempt_for_slice(c);
      return;
    }
  }
  if (c.current >= 0) {
    SimThread& cur = threads_[c.current];
    const bool preempt = !c.runq.empty() && should_preempt(c, cur, threads_[c.runq.front()]);
    c.forced_resched = -1;  // need_resched is consumed by this schedule()
    if (preempt) {
      const int next = c.runq.front();
      c.runq.pop_front();
      pause_current(c);
      if (cur.dispatcher) {
        ++n_disp_switch_;
        cur.state = ThreadState::kRunnable;  // the dispatcher is not queued: it is the fallback
      } else {
        ++n_invol_;  // preempted by the wakee: nivcsw
        cur.state = ThreadState::kRunnable;
        cur.resume = cur.has_seg ? Resume::kContinue : cur.resume;
        cur.queued_at = eng_.now();
        // Runs again right after the woken thread, and stays in the run
        // queue's head group: later fast wake-ups queue behind it, so a
        // thread preempted by the fast path is not starved by the next ones.
        cur.fast_queued = wp_.woken_jumps_queue();
        c.runq.push_front(c.current);
      }
      c.current = -1;
      switch_in(c, next, wp_.woken_jumps_queue() && threads_[next].resume == Resume::kWokenWait);
      return;
    }
    run_thread(c, cur);
    return;
  }
  c.forced_resched = -1;
  if (!c.runq.empty()) {
    const int next = c.runq.front();
    c.runq.pop_front();
    switch_in(c, next, wp_.woken_jumps_queue() && threads_[next].resume == Resume::kWokenWait);
    return;
  }
  if (c.disp) {
    c.current = c.disp_thread;
    threads_[c.disp_thread].state = ThreadState::kRunning;
    dispatcher_resume(c);
    return;
  }
  go_idle(c);
}

void HostModel::switch_in(SimCore& c, int t, bool fast) {
  SimThread& th = threads_[t];
  FW_TRACE("core %d switch_in thread %d fast %d", c.id, t, fast);
  c.current = t;
  th.state = ThreadState::kRunning;
  th.ran_since = eng_.now();
  th.fast_queued = false;
  ++n_ctx_;
  if (th.has_seg) {  // a segment preempted by another thread: resume it after the switch
    th.saved = true;
    th.saved_left = th.seg_left;
    th.saved_end = th.seg_end;
    th.saved_a = th.st_active;
    th.saved_p = th.st_pending;
    th.saved_power = th.power;
  }
  // A normal context switch on every wake path, the proposal's included
  // (`fast` only marks a proposal wakee taken from the run queue's head).
  start_seg(c, th, p_.ctx_switch_ns, SegEnd::kSwitchIn, Stage::kSched, Stage::kSched, kPowerWork);
  c.slice_armed = false;
  ++c.slice_token;
  arm_slice(c);
}

void HostModel::pause_current(SimCore& c) {
  if (c.current < 0) return;
  SimThread& th = threads_[c.current];
  if (th.dispatcher && c.scanning) {
    // Account the empty scans done so far; the scan resumes at the cursor.
    const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
    c.disp->skip(static_cast<std::size_t>((eng_.now() - c.scan_start) / pe));
    c.scanning = false;
    ++c.scan_token;
  }
  if (c.running_seg) {
    th.seg_left = std::max<Nanos>(0, c.seg_end_t - eng_.now());
    c.running_seg = false;
    ++c.token;  // invalidates the pending segment-end event
    mark_paused(th);
  }
}

void HostModel::go_idle(SimCore& c) {
  c.current = -1;
  // Idle governor (menu-like): the deepest allowed state whose target
  // residency fits the predicted idle time (= the last idle period).
  const int n = static_cast<int>(p_.cstates.size());
  const int deepest = cfg_.host.max_cstate < 0 ? n - 1 : std::min(cfg_.host.max_cstate, n - 1);
  int s = 0;
  const bool poll_only =
      std::find(cfg_.host.idle_poll_cores.begin(), cfg_.host.idle_poll_cores.end(), c.id) !=
      cfg_.host.idle_poll_cores.end();
  for (int k = poll_only ? 0 : deepest; k >= 0; --k)
    if (p_.cstates[k].target_residency_ns <= c.last_idle) {
      s = k;
      break;
    }
  c.cstate = s;
  if (app_core_[static_cast<std::size_t>(c.id)]) ++n_idle_[static_cast<std::size_t>(s)];
  c.idle = true;
  c.idle_since = eng_.now();
  set_power(c, kPowerC0 + s);
}

/// A core that was idle starts running threads (a migration brought work).
void HostModel::kick(SimCore& c) {
  if (!c.idle || c.kbusy) return;
  c.last_idle = eng_.now() - c.idle_since;
  c.idle = false;
  c.kq.push_back({KType::kCStateExit, c.cstate});
  start_kernel(c);
}

void HostModel::arm_slice(SimCore& c) {
  if (c.current < 0 || threads_[c.current].dispatcher || c.runq.empty() || c.slice_armed) return;
  const Nanos nr = static_cast<Nanos>(c.runq.size()) + 1;
  const Nanos slice = std::max(p_.sched_min_granularity_ns, p_.sched_latency_ns / nr);
  c.slice_armed = true;
  ++c.slice_token;
  const Nanos at = std::max(eng_.now(), threads_[c.current].ran_since + slice);
  eng_.at<&HostModel::slice_expire>(at, this, pack(c.id, c.slice_token));
}

void HostModel::slice_expire(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.slice_token)) return;
  c.slice_armed = false;
  if (c.current < 0 || threads_[c.current].dispatcher || c.runq.empty()) return;
  if (c.kbusy) {
    c.slice_due = true;  // handled when the kernel work returns
    return;
  }
  preempt_for_slice(c);
}

void HostModel::preempt_for_slice(SimCore& c) {
  ++n_slice_;
  ++n_invol_;  // the slice ran out while runnable: nivcsw
  SimThread& cur = threads_[c.current];
  pause_current(c);
  cur.state = ThreadState::kRunnable;
  cur.resume = cur.has_seg ? Resume::kContinue
                           : (cur.step == Step::kSpin ? Resume::kCheckSpin : Resume::kBegin);
  cur.queued_at = eng_.now();
  c.runq.push_back(c.current);
  c.current = -1;
  const int next = c.runq.front();
  c.runq.pop_front();
  switch_in(c, next, false);
}

}  // namespace fastwake::sim::detail
