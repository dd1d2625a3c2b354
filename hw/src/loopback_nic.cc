// Loopback NIC: client emulation, CQ rings, eventfd "interrupts".
#include "fastwake/hw/loopback_nic.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "fastwake/errors.h"
#include "fastwake/hw/kernel_counts.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/placement.h"
#include "fastwake/workload.h"

namespace fastwake::hw {

LoopbackNic::LoopbackNic(const Config& cfg, const HwOptions& opt) : cfg_(cfg), opt_(opt) {
  const int n = cfg.threads();
  const Placement place = Placement::of(cfg);
  for (int i = 0; i < n; ++i) {
    auto cq = std::make_unique<Cq>();
    cq->efd = eventfd(0, EFD_CLOEXEC);
    if (cq->efd < 0) throw DeviceError(std::string("eventfd: ") + std::strerror(errno));
    cqs_.push_back(std::move(cq));
  }
  cq_vector_ = place.cq_vector;
  vector_core_ = std::vector<std::atomic<CoreId>>(place.vector_core.size());
  for (std::size_t v = 0; v < place.vector_core.size(); ++v)
    vector_core_[v].store(place.vector_core[v]);
  for (int c = 0; c < static_cast<int>(opt_.app_cpus.size()); ++c) {
    irq_.push_back(std::make_unique<IrqCore>());
    irq_.back()->thread = std::thread([this, c] { irq_main(c); });
  }
  for (auto& q : irq_)  // their tids, before anyone reads them
    while (q->os_tid.load() == 0) std::this_thread::yield();
}

std::vector<pid_t> LoopbackNic::irq_thread_tids() const {
  std::vector<pid_t> v;
  for (const auto& q : irq_) v.push_back(q->os_tid.load());
  return v;
}

LoopbackNic::~LoopbackNic() {
  shutdown_waiters();
  if (thread_.joinable()) thread_.join();
  for (auto& q : irq_) {
    q->fx.word.store(1, std::memory_order_release);
    q->fx.wake_one();
    if (q->thread.joinable()) q->thread.join();
  }
  for (auto& cq : cqs_)
    if (cq->efd >= 0) close(cq->efd);
}

void LoopbackNic::irq_main(int core) {
  irq_[core]->os_tid.store(current_os_tid());
  pin_self(opt_.app_cpus[core]);
  // Interrupt context preempts threads: SCHED_FIFO where allowed (root);
  // otherwise a normal thread, woken with wake-up preemption.
  sched_param sp{};
  sp.sched_priority = 1;
  (void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  IrqCore& me = *irq_[core];
  const std::uint64_t one = 1;
  for (;;) {
    int cq;
    while (me.pending.pop(&cq)) {
      [[maybe_unused]] auto w = write(cqs_[cq]->efd, &one, sizeof one);
      me.signalled.fetch_add(1, std::memory_order_relaxed);
      n_local_signals_.fetch_add(1, std::memory_order_relaxed);
    }
    if (shutdown_.load(std::memory_order_acquire)) return;
    me.fx.word.store(0, std::memory_order_seq_cst);
    if (me.pending.nonempty() || shutdown_.load(std::memory_order_acquire)) continue;
    me.fx.wait(0);
  }
}

/// The interrupt of CQ `cq`'s vector, taken on the vector's core.
void LoopbackNic::raise(CqId cq) {
  ++stats_.interrupts;
  n_interrupts_.fetch_add(1, std::memory_order_relaxed);
  const CoreId core = vector_core_[cq_vector_[cq]].load(std::memory_order_relaxed);
  trace(opt_.trace, Decision::Kind::kIrq, cq, core);
  if (core >= 0 && core < static_cast<CoreId>(irq_.size())) {
    IrqCore& q = *irq_[core];
    if (q.pending.push(cq)) {
      ++stats_.local_irqs;
      if (q.fx.word.exchange(1, std::memory_order_seq_cst) == 0 && q.fx.wake_one() > 0)
        n_irq_wakeups_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  const std::uint64_t one = 1;  // another core: the NIC thread's CPU takes it
  [[maybe_unused]] auto wr = write(cqs_[cq]->efd, &one, sizeof one);
  n_remote_signals_.fetch_add(1, std::memory_order_relaxed);
}

void LoopbackNic::arm(CqId cq) {
  // seq_cst pairs with the NIC's exchange: either the NIC sees the arm and
  // raises the event, or the owner's poll after arming sees the completion.
  cqs_[cq]->armed.store(1, std::memory_order_seq_cst);
}

void LoopbackNic::post_reply(CqId cq, const Completion& c) {
  while (!cqs_[cq]->replies.push(c)) {  // the NIC drains it continuously
    if (shutdown_.load(std::memory_order_relaxed)) return;
    cpu_relax();
  }
}

bool LoopbackNic::wait_event(CqId cq) {
  std::uint64_t v;
  for (;;) {
    const ssize_t r = read(cqs_[cq]->efd, &v, sizeof v);
    if (r == static_cast<ssize_t>(sizeof v)) break;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
  return !shutdown_.load(std::memory_order_acquire);
}

void LoopbackNic::drain_channel(CqId cq) {
  pollfd p{cqs_[cq]->efd, POLLIN, 0};
  std::uint64_t v;
  if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) [[maybe_unused]]
    auto r = read(cqs_[cq]->efd, &v, sizeof v);
}

void LoopbackNic::shutdown_waiters() {
  shutdown_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  for (auto& cq : cqs_)
    if (cq->efd >= 0) [[maybe_unused]]
      auto w = write(cq->efd, &one, sizeof one);
}

void LoopbackNic::start(Nanos t0) {
  thread_ = std::thread([this, t0] { nic_loop(t0); });
}

void LoopbackNic::join() {
  if (thread_.joinable()) thread_.join();
}

void LoopbackNic::nic_loop(Nanos t0) {
  nic_tid_.store(current_os_tid());
  pin_self(opt_.nic_cpu);
  const int n = static_cast<int>(cqs_.size());
  const Nanos win_start = t0 + cfg_.run.warmup_ns;
  const Nanos win_end = win_start + cfg_.run.duration_ns;
  const Nanos drain_limit = win_end + static_cast<Nanos>(opt_.drain_s * 1e9);
  const Nanos late_after = win_end + static_cast<Nanos>(kLateAfterS * 1e9);
  constexpr Nanos kNever = std::numeric_limits<Nanos>::max();
  ClientClock clock(cfg_.workload, cfg_.run.seed, n);
  const bool poisson = clock.open_loop(), scripted = clock.scripted();
  std::vector<Nanos> next_send(n, kNever);
  // Scripted: one request in flight host-wide; the next step is timed from
  // the previous reply (or migration).
  std::optional<ClientClock::Next> step;
  auto next_step = [&](Nanos prev) {
    step = clock.next_scripted(prev);
    if (step && step->migrate_to == kNoCore) next_send[step->conn] = step->at;
  };
  if (scripted) {
    next_step(t0);
  } else {
    for (int c = 0; c < n; ++c) next_send[c] = clock.first_send(c, t0);
  }
  std::vector<int> outstanding(n, 0);
  std::vector<std::int64_t> last_id(n, -1);  // a CQ is FIFO: replies come in id order
  std::uint64_t in_flight = 0, seq = 0;

  while (mono_now() < t0) cpu_relax();
  for (;;) {
    const Nanos now = mono_now();
    const bool sending = now < win_end && (!scripted || step);
    // A scripted migration step: carried out here, in script order.
    if (scripted && step && step->migrate_to != kNoCore && in_flight == 0 && now >= step->at) {
      if (migrate_) migrate_(step->conn, step->migrate_to);
      next_step(mono_now());
      continue;
    }
    for (int c = 0; c < n; ++c) {
      Cq& cq = *cqs_[c];
      Completion r;
      while (cq.replies.pop(&r)) {
        const Nanos done = mono_now();
        if (static_cast<std::int64_t>(r.id) <= last_id[c] || outstanding[c] <= 0) {
          ++stats_.bad_replies;  // a duplicate: never count it as a completion
          continue;
        }
        last_id[c] = static_cast<std::int64_t>(r.id);
        ++stats_.completed;
        n_completed_.fetch_add(1, std::memory_order_relaxed);
        --in_flight;
        --outstanding[c];
        if (r.t_sent >= win_start && r.t_sent < win_end) {
          stats_.hist.record(done - r.t_sent);
          ++stats_.measured;
        }
        if (done >= win_start && done < win_end) ++stats_.completed_in_window;
        if (done > late_after) ++stats_.late;
        if (scripted) {
          next_step(done);
        } else if (!poisson) {
          next_send[c] = done + clock.think(c);
        }
      }
      if (sending && now >= next_send[c] && (poisson || outstanding[c] == 0) &&
          (!scripted || in_flight == 0)) {
        const Completion cqe{seq++, mono_now()};
        if (cq.ring.push(cqe)) {
          ++stats_.sent;
          ++in_flight;
          ++outstanding[c];
          // The "interrupt": only an armed CQ raises one (one-shot, like verbs).
          if (cq.armed.exchange(0, std::memory_order_seq_cst)) raise(c);
        } else {
          ++stats_.ring_full;
        }
        next_send[c] = poisson ? next_send[c] + clock.gap(c) : kNever;
      }
    }
    if (!sending && in_flight == 0) break;
    if (now > drain_limit) {
      stats_.drained = false;
      break;
    }
    if (shutdown_.load(std::memory_order_relaxed)) {
      stats_.drained = in_flight == 0;
      break;
    }
  }
}

}  // namespace fastwake::hw
