// Host model, thread execution: stage marks, segments of work, the steps of a
// thread's loop (ThreadLoop), going to sleep, and thread migrations.
#include "host_model.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace fastwake::sim::detail {

// ================================================================ threads

void HostModel::mark(SimThread& th, Stage active, Stage pending) {
  if (th.dispatcher) return;
  const Nanos now = eng_.now();
  if (th.active >= 0) reqs_[th.active].enter(active, now);
  nic_.cqs_[th.id].pending.for_each([&](int id) { reqs_[id].enter(pending, now); });
}

void HostModel::mark_paused(SimThread& th) {
  if (th.dispatcher) return;
  const Nanos now = eng_.now();
  if (th.active >= 0) reqs_[th.active].enter(Stage::kWaitCpu, now);
  nic_.cqs_[th.id].pending.for_each([&](int id) {
    const Stage s = reqs_[id].stage;
    // Requests waiting on the interrupt path keep their stage.
    if (s != Stage::kIrq && s != Stage::kHandler && s != Stage::kWakeup)
      reqs_[id].enter(Stage::kWaitCpu, now);
  });
}

/// Thread th is current on c and should go on with whatever it was doing.
void HostModel::run_thread(SimCore& c, SimThread& th) {
  if (th.has_seg) {  // resume the segment kernel work interrupted
    launch_seg(c, th);
    return;
  }
  if (th.dispatcher) {
    dispatcher_resume(c);
    return;
  }
  if (th.step == Step::kSpin) {
    begin_step(c, th);
    return;
  }
  begin_step(c, th);
}

void HostModel::start_seg(SimCore& c, SimThread& th, Nanos dur, SegEnd end, Stage st_active,
                          Stage st_pending, int power) {
  th.has_seg = true;
  th.seg_left = dur;
  th.seg_end = end;
  th.st_active = st_active;
  th.st_pending = st_pending;
  th.power = power;
  launch_seg(c, th);
}

void HostModel::launch_seg(SimCore& c, SimThread& th) {
  const Nanos now = eng_.now();
  c.running_seg = true;
  c.seg_start = now;
  c.seg_end_t = now + th.seg_left;
  ++c.token;
  set_power(c, th.power);
  if (th.seg_end == SegEnd::kHandOff) {
    mark(threads_[c.handoff_to], Stage::kSched, Stage::kSched);
  } else {
    mark(th, th.st_active, th.st_pending);
  }
  eng_.at<&HostModel::seg_done>(c.seg_end_t, this, pack(c.id, c.token));
}

void HostModel::seg_done(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.token)) return;
  c.running_seg = false;
  SimThread& th = threads_[c.current];
  th.has_seg = false;
  switch (th.seg_end) {
    case SegEnd::kStep:
      finish_step(c, th);
      return;
    case SegEnd::kReadReturn:
      finish_step(c, th);  // the wait step is over: read() returned the event
      return;
    case SegEnd::kBlock:
      thread_sleeps(c, th);
      return;
    case SegEnd::kDrain:
      th.undrained = 0;  // every queued event read; now the wait proper
      begin_step(c, th);
      return;
    case SegEnd::kSwitchIn:
      if (th.saved) {
        th.saved = false;
        th.has_seg = true;
        th.seg_left = th.saved_left;
        th.seg_end = th.saved_end;
        th.st_active = th.saved_a;
        th.st_pending = th.saved_p;
        th.power = th.saved_power;
        launch_seg(c, th);
        return;
      }
      switch (th.resume) {
        case Resume::kWokenWait:
          th.resume = Resume::kBegin;
          if (wp_.woken_reads_channel()) {
            // ib_uverbs_event_read after schedule(): dequeue, copy, kfree; syscall exit.
            start_seg(c, th, p_.read_return_ns + syscall_exit_ns(), SegEnd::kReadReturn,
                      Stage::kRead, Stage::kRead, kPowerWork);
          } else {
            // fw_sleep returns and FW_IOC_WAIT exits; uverbs' event stays queued.
            if (wp_.drains_channel_later()) ++th.undrained;
            start_seg(c, th, syscall_exit_ns(), SegEnd::kReadReturn, Stage::kRead, Stage::kRead,
                      kPowerWork);
          }
          return;
        case Resume::kReleased:  // its yield ends without a hand-off: drain, then wait anew
          th.resume = Resume::kBegin;
          finish_step(c, th);
          return;
        case Resume::kCheckSpin:
        case Resume::kBegin:
        case Resume::kContinue:
          th.resume = Resume::kBegin;
          begin_step(c, th);
          return;
      }
      return;
    case SegEnd::kHandOff: {
      // The dispatcher's switch-to is done: the owner runs on this CPU now.
      const int t = c.handoff_to;
      c.handoff_to = -1;
      th.state = ThreadState::kRunnable;  // the dispatcher waits for the CPU back
      SimThread& app = threads_[t];
      // The futex wake-up's enqueue and place_entity (the dispatcher yields
      // to it at once, SCHED_IDLE).
      update_min_vruntime(c);
      if (std::exchange(app.vr_relative, false)) app.vruntime += c.min_vruntime;
      app.vruntime = std::max(app.vruntime, c.min_vruntime - sched_.latency / 2);
      c.current = t;
      app.state = ThreadState::kRunning;
      app.ran_since = eng_.now();
      app.vr_since = eng_.now();
      finish_step(c, app);  // kYieldDispatcher ends: its CQ is ready
      return;
    }
  }
}

void HostModel::finish_step(SimCore& c, SimThread& th) {
  const Nanos now = eng_.now();
  bool found = false;
  SimCq& cq = nic_.cqs_[th.id];
  switch (th.step) {
    case Step::kPoll:
      if (!cq.pending.empty()) {
        th.active = cq.pending.front();
        cq.pending.pop_front();
        found = true;
        if (adapt_) {
          const int i = adapt_index_[static_cast<std::size_t>(th.core)];
          if (i >= 0) ++adapt_count_[static_cast<std::size_t>(i)];
        }
      }
      break;
    case Step::kServe:
      break;
    case Step::kPost: {
      const int id = th.active;
      th.active = -1;
      reqs_[id].enter(Stage::kTx, now);
      fabric_->send(port_, Direction::kToClient, reqs_[id].conn, cfg_.workload.message_bytes,
                    static_cast<std::uint64_t>(id), now + p_.nic_tx_ns);
      break;
    }
    case Step::kArm:
      th.event_pending = false;  // acked
      nic_.arm(th.id);
      break;
    case Step::kWait:
      th.event_pending = false;  // consumed
      break;
    case Step::kSpin:
    case Step::kYieldDispatcher:
      break;
  }
  if (adapt_ && th.step == Step::kPoll && !found) {
    // The wait boundary: the thread takes its core's mode now.
    const WaitMode m = core_mode(th.core);
    th.step = next_wait_step(th.mode, m);
    th.mode = m;
  } else {
    th.step = loop_.next(th.step, found);
  }
  begin_step(c, th);
}

void HostModel::begin_step(SimCore& c, SimThread& th) {
  const SimCq& cq = nic_.cqs_[th.id];
  FW_TRACE("core %d thread %d begins %s", c.id, th.id, std::string(step_name(th.step)).c_str());
  switch (th.step) {
    case Step::kPoll:
      start_seg(c, th, p_.cq_poll_ns, SegEnd::kStep, Stage::kPoll, Stage::kPoll, kPowerWork);
      return;
    case Step::kServe: {
      const Nanos d = service_time(th.id);
      trace(trace_, Decision::Kind::kServe, th.id, d);
      start_seg(c, th, d, SegEnd::kStep, Stage::kService, Stage::kQueue, kPowerWork);
      return;
    }
    case Step::kPost:
      start_seg(c, th, p_.post_send_ns, SegEnd::kStep, Stage::kTx, Stage::kQueue, kPowerWork);
      return;
    case Step::kArm:
      start_seg(c, th, p_.rearm_ns, SegEnd::kStep, Stage::kRearm, Stage::kRearm, kPowerWork);
      return;
    case Step::kWait:
      if (wp_.drains_channel_later() && th.undrained >= kModuleDrainEvery) {
        // The hw runtime's drain, after the reply and before the wait: one
        // non-blocking read() per queued event (ib_uverbs_event_read returns
        // one event per call), and a last one that finds none (EAGAIN).
        const Nanos d = th.undrained * (p_.syscall_ns + p_.read_return_ns) + p_.syscall_ns;
        start_seg(c, th, d, SegEnd::kDrain, Stage::kQueue, Stage::kQueue, kPowerWork);
        return;
      }
      if (th.event_pending) {  // an event is already queued: the wait returns at once
        if (wp_.woken_reads_channel()) {
          start_seg(c, th, p_.syscall_ns + p_.read_return_ns, SegEnd::kStep, Stage::kRead,
                    Stage::kRead, kPowerWork);
        } else {  // the token is set: FW_IOC_WAIT returns at once
          if (wp_.drains_channel_later()) ++th.undrained;
          start_seg(c, th, p_.syscall_ns, SegEnd::kStep, Stage::kRead, Stage::kRead, kPowerWork);
        }
      } else {  // syscall entry, wait-queue add, dequeue; the switch is the next thread's
        start_seg(c, th, syscall_entry_ns() + p_.block_ns, SegEnd::kBlock, Stage::kQueue,
                  Stage::kQueue, kPowerWork);
      }
      return;
    case Step::kSpin:
      if (th.migrate_to != kNoCore) {
        apply_migration(c, th);
        return;
      }
      if (!cq.pending.empty()) {
        th.step = Step::kPoll;
        begin_step(c, th);
        return;
      }
      set_power(c, kPowerPoll);  // spins until a CQE lands (cqe_land) or its slice ends
      arm_tick(c);
      return;
    case Step::kYieldDispatcher:
      start_seg(c, th, p_.fast_switch_ns, SegEnd::kBlock, Stage::kQueue, Stage::kQueue, kPowerWork);
      return;
  }
}

/// th finished entering its wait (blocking syscall or yield to the dispatcher).
void HostModel::thread_sleeps(SimCore& c, SimThread& th) {
  const Nanos now = eng_.now();
  FW_TRACE("core %d thread %d sleeps (event_pending %d)", c.id, th.id, th.event_pending);
  const WaitPolicy::Asleep how = twp(th).asleep();
  if (adapt_ && how == WaitPolicy::Asleep::kForHandOff && c.disp_parked &&
      th.migrate_to == kNoCore) {
    // fastwake_adaptive: its core left polling while it yielded. The hw
    // thread publishes "asleep", re-reads its core's mode and takes itself
    // back (the dispatcher's release and this check cannot both miss).
    ++n_release_;
    finish_step(c, th);
    return;
  }
  th.state = ThreadState::kBlocked;
  settle_vruntime(c);  // dequeue_entity(DEQUEUE_SLEEP) -> update_curr
  c.current = -1;
  update_min_vruntime(c);
  // It leaves the CPU (nvcsw), unless an event arrived while it was entering
  // the wait: then try_to_wake_up finds it still on the run queue
  // (ttwu_runnable) and it never switches out (the kOnChannel case below).
  if (!(how == WaitPolicy::Asleep::kOnChannel && th.event_pending &&
        th.migrate_to == kNoCore))
    ++n_vol_;
  if (th.migrate_to != kNoCore) {
    apply_migration(c, th);
    reschedule(c);
    return;
  }
  switch (how) {
    case WaitPolicy::Asleep::kOnChannel:
      th.resume = Resume::kWokenWait;
      if (remapper_) {
        remapper_->thread_at(th.id, th.core, now);
        schedule_remap();
      }
      if (th.event_pending) {
        // An event arrived while it was entering the wait: it does not sleep.
        th.state = ThreadState::kRunnable;
        th.queued_at = now;
        th.in_rq = true;
        c.runq.push_front(rq_ent(th.id));
      } else {
        th.waiting = true;
      }
      break;
    case WaitPolicy::Asleep::kForHandOff:
      if (!nic_.cqs_[th.id].pending.empty()) ready_add(c, th.id);
      break;
    case WaitPolicy::Asleep::kSpinning:
      break;
  }
  reschedule(c);
}

void HostModel::apply_migration(SimCore& c, SimThread& th) {
  const CoreId to = th.migrate_to;
  th.migrate_to = kNoCore;
  const Nanos now = eng_.now();
  if (to == th.core) {
    if (th.state == ThreadState::kRunning) begin_step(c, th);
    return;
  }
  switch (twp(th).on_migrate()) {
    case WaitPolicy::Move::kRehomeSleeper:
      if (adapt_) move_adaptive_entry(th, to);
      // migrate_task_rq_fair: a sleeper keeps its vruntime relative to the
      // old core's min_vruntime; the new core's enqueue renormalises it.
      th.vruntime -= cores_[th.core].min_vruntime;
      th.vr_relative = true;
      th.core = to;  // sleeps there from now on; wakes go to the new core
      if (remapper_) {
        remapper_->thread_at(th.id, to, now);
        schedule_remap();
      }
      th.resume = Resume::kWokenWait;
      th.waiting = !th.event_pending;
      if (th.event_pending) {
        th.state = ThreadState::kBlocked;
        wake_blocked(th.id, kNoCore);
      }
      return;
    case WaitPolicy::Move::kMoveDispatcherEntry: {
      SimCore& from = cores_[th.core];
      th.vruntime -= from.min_vruntime;
      th.vr_relative = true;
      ready_remove(from, th.id);
      if (std::exchange(th.unmarked, false)) std::erase(from.unmarked, th.id);
      from.disp->remove(th.id);
      ready_reindex(from);  // scan indices past th's shifted down
      SimCore& dst = cores_[to];
      const bool fresh = !dst.disp;
      add_dispatcher(to);
      if (adapt_ && fresh) dst.disp_parked = true;  // not an app core: interrupts only
      dst.disp->add(th.id, th.id);
      th.core = to;
      if (adapt_ && dst.disp_parked) {
        // It sleeps for a hand-off on a core in interrupt mode: woken to wait anew there.
        post_kernel(to, {KType::kRelease, th.id}, now);
        return;
      }
      if (!nic_.cqs_[th.id].pending.empty()) {
        ready_add(dst, th.id);
        if (dst.scanning && dst.current == dst.disp_thread && !dst.kbusy) schedule_detection(dst);
      }
      if (fresh) {
        if (dst.idle) {
          kick(dst);  // the dispatcher starts after the C-state exit
        } else if (dst.current < 0 && !dst.kbusy) {
          reschedule(dst);
        }
      }
      return;
    }
    case WaitPolicy::Move::kRequeueOnNewCore:
      // Leave this core (it picks someone else) and get enqueued on the new one.
      th.state = ThreadState::kBlocked;
      th.resume = Resume::kCheckSpin;
      settle_vruntime(c);
      c.current = -1;
      update_min_vruntime(c);
      th.vruntime -= c.min_vruntime;
      th.vr_relative = true;
      th.core = to;
      ++n_invol_;     // moved off its CPU while runnable (the migration stopper): nivcsw
      ++n_ipi_call_;  // the move's remote enqueue: a function-call IPI
      post_kernel(to, {KType::kIpi, th.id}, now + p_.ipi_latency_ns);
      reschedule(c);
      return;
  }
}

}  // namespace fastwake::sim::detail
