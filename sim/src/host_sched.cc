// Host model, scheduler and idle governor: preemption, rescheduling, context
// switches, idle entry (C-state choice), kicks and time slices.
#include "host_model.h"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace fastwake::sim::detail {

// ================================================================ scheduling
// CFS as Linux 6.1 runs it (kernel/sched/fair.c; docs/model.md "Scheduler",
// docs/kernel-rules.md): every thread is SCHED_NORMAL at nice 0 except the
// dispatcher (SCHED_IDLE). The run queue is kept in vruntime order.

Nanos HostModel::vruntime_now(const SimCore& c, const SimThread& th) const {
  if (c.current == th.id && !th.dispatcher) return th.vruntime + (eng_.now() - th.vr_since);
  return th.vruntime;
}

/// update_curr: charge the running thread's time to its vruntime.
void HostModel::settle_vruntime(SimCore& c) {
  if (c.current < 0) return;
  SimThread& th = threads_[c.current];
  if (th.dispatcher) return;
  th.vruntime += eng_.now() - th.vr_since;
  th.vr_since = eng_.now();
}

/// update_min_vruntime: min(curr, leftmost), never moving backwards.
void HostModel::update_min_vruntime(SimCore& c) {
  bool any = false;
  Nanos v = 0;
  if (c.current >= 0 && !threads_[c.current].dispatcher) {
    v = vruntime_now(c, threads_[c.current]);
    any = true;
  }
  if (!c.runq.empty()) {
    const Nanos l = threads_[c.runq.front()].vruntime;
    v = any ? std::min(v, l) : l;
    any = true;
  }
  if (any) c.min_vruntime = std::max(c.min_vruntime, v);
}

/// __enqueue_entity: into the tree after every entity with vruntime <= its own.
// (Skips the proposal's head group, whose vkey is RunQueue::kHead.)
void HostModel::rq_insert(SimCore& c, int t) {
  threads_[t].in_rq = true;
  c.runq.insert_at(c.runq.first_vkey_above(threads_[t].vruntime), rq_ent(t));
}

RunQueue::Ent HostModel::rq_ent(int t) const {
  const SimThread& th = threads_[t];
  return {t, th.fast_queued ? RunQueue::kHead : th.vruntime,
          th.fast_queued ? RunQueue::kHead : th.queued_at};
}

void HostModel::rq_erase(SimCore& c, int t) {
  if (c.runq.erase(t)) threads_[t].in_rq = false;
}

/// sched_slice for the running thread: __sched_period(nr) / nr (equal
/// weights), at least min_granularity (BASE_SLICE). nr counts the normal
/// threads on the core; the SCHED_IDLE dispatcher's weight (3 vs 1024) is
/// left out.
Nanos HostModel::sched_slice(const SimCore& c) const {
  const Nanos nr = static_cast<Nanos>(c.runq.size()) + 1;
  const Nanos period = nr > sched_.nr_latency ? nr * sched_.min_gran : sched_.latency;
  return std::max(period / nr, sched_.min_gran);
}

/// check_preempt_tick (fair.c, from task_tick_fair -> entity_tick on every
/// tick while nr_running > 1; HRTICK is off by default, features.h): the
/// current thread is rescheduled once it has run longer than its slice, or
/// after min_granularity if it is a whole slice of vruntime ahead of the
/// leftmost.
bool HostModel::check_preempt_tick(const SimCore& c) const {
  const SimThread& cur = threads_[c.current];
  const Nanos ideal = sched_slice(c);
  const Nanos delta_exec = eng_.now() - cur.ran_since;
  if (delta_exec > ideal) return true;
  if (delta_exec < sched_.min_gran) return false;
  const Nanos delta = vruntime_now(c, cur) - threads_[c.runq.front()].vruntime;
  return delta > ideal;
}

/// check_preempt_wakeup for wakee w on a core running cur.
bool HostModel::should_preempt(const SimCore& c, const SimThread& cur, const SimThread& w) const {
  if (cur.dispatcher) return true;  // SCHED_IDLE is preempted by any normal task
  // fastwake.ko with FW_ATTACH_PREEMPT: the callback sets need_resched on
  // this CPU without the wake-up check; schedule() still picks by vruntime.
  if (c.forced_resched == w.id) return true;
  if (wp_.woken_jumps_queue()) {  // proposal: the wakee jumps the queue unless cur is busy
    // Busy with a request: serving one, or completions wait in its CQ.
    const bool mid_request = cur.active >= 0 || !nic_.cqs_[cur.id].pending.empty();
    // Already entering its wait: it leaves the CPU within block_ns anyway.
    const bool blocking = cur.has_seg && cur.seg_end == SegEnd::kBlock;
    if (w.resume == Resume::kWokenWait && !mid_request && !blocking) return true;
  }
  // wakeup_preempt_entity: vruntime ahead by more than the wake-up
  // granularity (wakeup_gran, nice 0: the scaled sysctl as is).
  return vruntime_now(c, cur) - w.vruntime > sched_.wakeup_gran;
}

/// pick_next_entity: the leftmost of the tree and the current thread (if it
/// stays runnable), then the next buddy, then the last buddy, each only if
/// that is not unfair (wakeup_preempt_entity(buddy, left) < 1).
int HostModel::pick_next(SimCore& c, int cur) {
  // Proposal: its head group (fast-woken and their preempted) goes first.
  if (wp_.woken_jumps_queue() && threads_[c.runq.front()].fast_queued) return c.runq.front();
  int left = c.runq.front();
  Nanos lv = threads_[left].vruntime;
  if (cur >= 0 && !threads_[cur].dispatcher) {
    const Nanos cv = vruntime_now(c, threads_[cur]);
    if (cv < lv) {
      left = cur;
      lv = cv;
    }
  }
  auto fair = [&](int b) {
    if (b < 0 || b == left) return false;
    if (b != cur && !(threads_[b].in_rq && threads_[b].core == c.id)) return false;
    return vruntime_now(c, threads_[b]) - lv <= sched_.wakeup_gran;
  };
  int se = left;
  if (fair(c.next_buddy))
    se = c.next_buddy;
  else if (fair(c.last_buddy))
    se = c.last_buddy;
  // set_next_entity -> clear_buddies
  if (c.next_buddy == se) c.next_buddy = -1;
  if (c.last_buddy == se) c.last_buddy = -1;
  return se;
}

/// Decides what core c runs now that no kernel work is pending: the return
/// to user space, where TIF_NEED_RESCHED calls schedule().
void HostModel::reschedule(SimCore& c) {
  if (c.kbusy) return;
  // fastwake_adaptive: a parked dispatcher leaves the CPU at its next
  // reschedule (not in the middle of a hand-off).
  if (c.disp_parked && c.current >= 0 && c.current == c.disp_thread && c.handoff_to < 0 &&
      !threads_[c.current].has_seg) {
    pause_current(c);
    threads_[c.current].state = ThreadState::kBlocked;
    c.current = -1;
  }
  if (c.current >= 0) {
    SimThread& cur = threads_[c.current];
    bool resched = std::exchange(c.need_resched, false);
    if (!c.runq.empty()) {
      if (cur.dispatcher) resched = true;  // any runnable normal thread preempts SCHED_IDLE
      // The proposal's rule is checked at every return to user space.
      if (wp_.woken_jumps_queue() && should_preempt(c, cur, threads_[c.runq.front()]))
        resched = true;
    }
    c.forced_resched = -1;  // need_resched is consumed by this schedule()
    if (adapt_ && resched && cur.dispatcher && c.handoff_to >= 0) {
      // fastwake_adaptive: a thread woken by its interrupt while the
      // dispatcher is inside its switch-to (FW_IOC_SWITCH_TO, in the kernel)
      // waits for the switch to finish; the resched stays pending.
      // (fastwake_poll never has a woken thread queued during a hand-off.)
      resched = false;
      c.need_resched = true;
    }
    const bool by_tick = std::exchange(c.tick_resched, false);
    if (resched && !c.runq.empty() && switch_away(c, by_tick)) return;
    arm_tick(c);
    run_thread(c, cur);
    return;
  }
  c.need_resched = c.tick_resched = false;
  c.forced_resched = -1;
  if (!c.runq.empty()) {
    const int next = pick_next(c, -1);
    rq_erase(c, next);
    switch_in(c, next, wp_.woken_jumps_queue() && threads_[next].resume == Resume::kWokenWait);
    return;
  }
  if (c.disp && !c.disp_parked) {
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
  c.idle = false;  // (at start-up a core runs its first thread without a C-state exit)
  th.state = ThreadState::kRunning;
  th.ran_since = eng_.now();
  th.vr_since = eng_.now();
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
  arm_tick(c);
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

/// The periodic scheduler tick (kernel/time/tick-sched.c; ticks of all CPUs
/// aligned, sched_skew_tick off) matters only while the core has more than
/// one runnable thread; an idle core's tick is stopped (NO_HZ_IDLE), so the
/// model arms it only then.
void HostModel::arm_tick(SimCore& c) {
  if (c.tick_armed || c.current < 0 || threads_[c.current].dispatcher || c.runq.empty()) return;
  c.tick_armed = true;
  ++c.tick_token;
  const Nanos at = (eng_.now() / sched_.tick + 1) * sched_.tick;
  eng_.at<&HostModel::sched_tick>(at, this, pack(c.id, c.tick_token));
}

void HostModel::sched_tick(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.tick_token)) return;
  c.tick_armed = false;
  if (c.current < 0 || threads_[c.current].dispatcher || c.runq.empty()) return;
  if (check_preempt_tick(c)) {
    c.need_resched = true;  // resched_curr
    c.tick_resched = true;
    if (c.kbusy) return;  // schedule() at the end of the kernel work
    c.need_resched = c.tick_resched = false;
    c.forced_resched = -1;
    if (switch_away(c, true)) return;
  }
  arm_tick(c);
}

/// schedule() with the current thread still runnable (a wake-up preemption,
/// a tick's resched_curr, the dispatcher yielding): it goes back into the
/// tree by vruntime (put_prev_entity) and CFS picks. False: the pick is the
/// current thread, which runs on.
bool HostModel::switch_away(SimCore& c, bool by_tick) {
  const int next = pick_next(c, c.current);
  if (next == c.current) return false;
  if (by_tick) ++n_slice_;
  rq_erase(c, next);
  SimThread& cur = threads_[c.current];
  pause_current(c);
  settle_vruntime(c);
  cur.state = ThreadState::kRunnable;
  if (cur.dispatcher) {
    ++n_disp_switch_;
  } else {  // (the dispatcher is not queued: it is the fallback)
    ++n_invol_;  // preempted by a wakee or at a tick while runnable: nivcsw
    cur.resume = cur.has_seg ? Resume::kContinue
                             : (cur.step == Step::kSpin ? Resume::kCheckSpin : Resume::kBegin);
    cur.queued_at = eng_.now();
    if (wp_.woken_jumps_queue() && !by_tick) {
      // Proposal: runs again right after the woken thread, and stays in the
      // run queue's head group: later fast wake-ups queue behind it, so a
      // thread preempted by the fast path is not starved.
      cur.fast_queued = true;
      cur.in_rq = true;
      c.runq.push_front(rq_ent(c.current));
    } else {
      rq_insert(c, c.current);
    }
  }
  c.current = -1;
  switch_in(c, next, wp_.woken_jumps_queue() && threads_[next].resume == Resume::kWokenWait);
  return true;
}

}  // namespace fastwake::sim::detail
