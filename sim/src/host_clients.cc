// Host model, clients and NIC: think and service times, client sends, packet
// arrival at the NIC, CQE landing, and the reply reaching the client.
#include "host_model.h"

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

namespace fastwake::sim::detail {

// ================================================================ clients

// When clients send is core's ClientClock (the same streams the loopback NIC
// and the verbs client draw from); the model only carries the messages.

/// Scripted workload: the step after `prev` (a reply's or migration's time).
void HostModel::script_step(std::uint64_t prev) {
  const auto next = clock_.next_scripted(static_cast<Nanos>(prev));
  if (!next) return;
  if (next->migrate_to != kNoCore) {
    eng_.at<&HostModel::script_migrate>(
        next->at, this, pack(next->conn, static_cast<std::uint64_t>(next->migrate_to)));
  } else {
    eng_.at<&HostModel::client_send>(next->at, this, static_cast<std::uint64_t>(next->conn));
  }
}

void HostModel::client_send(std::uint64_t conn) {
  if (!sending_) return;
  const Nanos now = eng_.now();
  int id;
  if (!free_reqs_.empty()) {
    id = free_reqs_.back();
    free_reqs_.pop_back();
  } else {
    id = static_cast<int>(reqs_.size());
    reqs_.emplace_back();
  }
  Request& r = reqs_[id];
  r = Request{};
  r.conn = static_cast<ThreadId>(conn);
  r.sent = now;
  r.mark = now;
  r.stage = Stage::kWire;
  r.measured = in_window_;
  r.live = true;
  ++sent_;
  ++in_flight_;
  fabric_->send(port_, Direction::kToServer, r.conn, cfg_.workload.message_bytes,
                static_cast<std::uint64_t>(id), now + p_.client_ns);
  if (clock_.open_loop())
    eng_.at<&HostModel::client_send>(now + clock_.gap(static_cast<int>(conn)), this, conn);
}

void HostModel::nic_arrive(std::uint64_t id) {
  reqs_[id].enter(Stage::kNicRx, eng_.now());
  eng_.at<&HostModel::cqe_land>(eng_.now() + p_.nic_rx_ns, this, id);
}

void HostModel::cqe_land(std::uint64_t id) {
  const Nanos now = eng_.now();
  Request& r = reqs_[id];
  const ThreadId t = r.conn;
  SimThread& th = threads_[t];
  SimCq& cq = nic_.cqs_[t];
  const bool was_empty = cq.pending.empty();
  FW_TRACE("cqe_land req %d thread %d armed %d state %d step %s", static_cast<int>(id), t, cq.armed,
           static_cast<int>(th.state), std::string(step_name(th.step)).c_str());
  cq.pending.push_back(static_cast<int>(id));
  r.enter(Stage::kQueue, now);

  if (cq.armed) {  // one-shot: this completion raises the event
    cq.armed = false;
    r.enter(Stage::kIrq, now);
    r.irq_core = nic_.vector_core(cq.vector);
    raise_event(t);
    // fastwake_adaptive: a thread that armed in interrupt mode and now sleeps
    // for a hand-off: the event stays in its channel (acked at its next arm);
    // the dispatcher's poll sees the completion as for any hand-off sleeper.
    if (!(adapt_ && th.mode == WaitMode::kDispatcher)) return;
  }
  SimCore& c = cores_[th.core];
  switch (twp(th).on_unarmed_completion()) {
    case WaitPolicy::Landing::kOwnerSpinsOnIt:
      if (th.state == ThreadState::kRunning && th.step == Step::kSpin && c.current == t &&
          !c.kbusy && !th.has_seg) {
        th.step = Step::kPoll;  // the spinning loop sees it on its next poll
        begin_step(c, th);
      } else if (th.state != ThreadState::kRunning) {
        r.enter(Stage::kWaitCpu, now);
      }
      break;
    case WaitPolicy::Landing::kOfferToDispatcher:
      // A request landing behind others of a ready CQ stays in kQueue until
      // the dispatcher's next resume marks it.
      if (th.state == ThreadState::kBlocked && !was_empty && th.ready_slot >= 0)
        ready_unmarked(c, t);
      if (th.state == ThreadState::kBlocked && was_empty) {
        ready_add(c, t);
        if (c.scanning && c.current == c.disp_thread && !c.kbusy) {
          r.enter(Stage::kPoll, now);
          schedule_detection(c);
        } else {
          r.enter(Stage::kWaitCpu, now);
        }
      }
      break;
    case WaitPolicy::Landing::kOwnerDrainsIt:
      break;  // not armed: the thread is awake and will drain it
  }
}

void HostModel::client_receive(std::uint64_t id) {
  const Nanos now = eng_.now();
  Request& r = reqs_[id];
  if (!r.live) throw std::logic_error("request completed twice (model bug)");
  r.live = false;
  r.enter(Stage::kTx, now);  // closes the tx stage
  ++completed_;
  --in_flight_;
  if (now > win_start_ && now <= win_end_) ++completed_in_window_;
  // Latency covers every request *sent* in the window, also those that finish
  // during the drain: dropping late finishers would hide starvation.
  if (r.measured) {
    const Nanos lat = now - r.sent;
    hist_.record(lat);
    breakdown_.add(r.st);
    ++measured_;
    if (cfg_.run.record_samples) samples_.push_back({now, r.conn, lat, r.irq_core});
  }
  const ThreadId conn = r.conn;
  free_reqs_.push_back(static_cast<int>(id));
  if (!sending_) return;
  if (clock_.scripted()) {
    script_step(static_cast<std::uint64_t>(now));
  } else if (!clock_.open_loop()) {
    eng_.at<&HostModel::client_send>(now + clock_.think(conn), this, conn);
  }
}

}  // namespace fastwake::sim::detail
