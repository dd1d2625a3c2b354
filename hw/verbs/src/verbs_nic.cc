// Verbs NIC: per-thread RC connection, CQ + channel on a chosen vector, stash
// for dispatcher peeks, batched acks, signal-based shutdown of blocked waiters.
#include "fastwake/hw/verbs_nic.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "fastwake/errors.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/placement.h"
#include "fastwake/wait_policy.h"

namespace fastwake::hw {

namespace {

/// Interrupts a thread blocked in ibv_get_cq_event's read() (see header).
int wake_signal() { return SIGRTMIN + 2; }

void install_wake_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocking read() returns EINTR
    sigaction(wake_signal(), &sa, nullptr);
  });
}

std::size_t round64(std::size_t v) { return (v + 63) & ~std::size_t{63}; }

}  // namespace

VerbsNic::VerbsNic(VerbsDevice& dev, const Config& cfg, const StrategySpec& s,
                   const VerbsNicOptions& o, std::vector<int> app_cpus)
    : dev_(dev),
      cfg_(cfg),
      s_(s),
      opt_(o),
      app_cpus_(std::move(app_cpus)),
      slot_bytes_(round64(std::max<std::size_t>(sizeof(WireHeader), cfg.workload.message_bytes))) {
  install_wake_handler();
  const int n = cfg.threads();
  const int nv = dev.num_comp_vectors();
  if (nv <= 0) throw DeviceError(dev.name() + " reports no completion vectors");
  if (o.comp_vector >= nv)
    throw ConfigError("-X/--comp-vector " + std::to_string(o.comp_vector) + ": " + dev.name() +
                      " has " + std::to_string(nv) + " completion vectors (0.." +
                      std::to_string(nv - 1) + ")");
  if (static_cast<int>(o.irqs.size()) > nv)
    throw ConfigError("--irqs: " + std::to_string(o.irqs.size()) + " IRQs given for " +
                      std::to_string(nv) + " completion vectors of " + dev.name());
  if (o.rx_depth < 2 || o.tx_depth < 2 * kSignalEvery)
    throw ConfigError("--rx-depth must be >= 2 and --tx-depth >= " +
                      std::to_string(2 * kSignalEvery));
  irq_map_ = o.irqs.empty() ? discover_irqs(dev.name(), nv) : irq_map_from_list(o.irqs);
  irq_map_.vector_irqs.resize(nv);

  // Where each vector's IRQ sits now, as an app core (kNoCore: elsewhere/unknown).
  vector_core_.assign(nv, kNoCore);
  for (int v = 0; v < nv; ++v) {
    if (irq_map_.vector_irqs[v].empty()) continue;
    const int cpu = irq_affinity_cpu(irq_map_.vector_irqs[v].front());
    for (std::size_t k = 0; k < app_cpus_.size(); ++k)
      if (app_cpus_[k] == cpu) vector_core_[v] = static_cast<CoreId>(k);
  }

  const int used = o.comp_vector >= 0 ? 1 : std::max(1, std::min(cfg.host.vectors, nv));
  const int tpc = cfg.workload.threads_per_core;
  std::vector<VectorId> cq_vec(n);
  int lever1 = 0;
  for (int t = 0; t < n; ++t) {
    const CoreId core = t / tpc;  // index into app_cpus_, as vector_core_ is
    if (o.comp_vector >= 0) {
      cq_vec[t] = o.comp_vector;
      continue;
    }
    cq_vec[t] = stock_cq_vector(t, used);
    if (WaitPolicy(s).remaps_irqs() && irq_map_.any()) {
      // Lever 1: a vector whose IRQ already sits on this thread's CPU.
      if (const auto v = vector_on_core(vector_core_, core, t % tpc)) {
        cq_vec[t] = *v;
        ++lever1;
      }
    }
  }
  vector_choice_ = o.comp_vector >= 0
                       ? "every CQ on vector " + std::to_string(o.comp_vector) + " (-X)"
                       : "CQ i on vector i % " + std::to_string(used) +
                             " (min of host.vectors and the device's " + std::to_string(nv) + ")";
  if (lever1 > 0)
    vector_choice_ += "; " + std::to_string(lever1) +
                      " CQs placed on a vector whose IRQ is on their thread's CPU";

  try {
    create_connections(cq_vec);
  } catch (...) {
    destroy_all();
    throw;
  }
}

void VerbsNic::create_connections(const std::vector<VectorId>& cq_vec) {
  const auto& o = opt_;
  const auto& cfg = cfg_;
  auto& dev = dev_;
  const int n = cfg.threads();
  buf_ = std::make_unique<VerbsBuffer>(dev, static_cast<std::size_t>(n) *
                                                static_cast<std::size_t>(o.rx_depth + o.tx_depth) *
                                                slot_bytes_);
  std::mt19937 rng(static_cast<unsigned>(cfg.run.seed * 2654435761u) ^
                   static_cast<unsigned>(mono_now()));
  const std::size_t wire = wire_bytes(cfg.workload.message_bytes);
  const std::uint32_t want_inline = wire <= 256 ? static_cast<std::uint32_t>(wire) : 0;
  for (int t = 0; t < n; ++t) {
    auto c = std::make_unique<Conn>();
    c->vector = cq_vec[t];
    c->recv_base =
        buf_->data() + static_cast<std::size_t>(t) * (o.rx_depth + o.tx_depth) * slot_bytes_;
    c->send_base = c->recv_base + static_cast<std::size_t>(o.rx_depth) * slot_bytes_;
    c->channel = ibv_create_comp_channel(dev.ctx());
    if (!c->channel)
      throw DeviceError(dev.name() + ": ibv_create_comp_channel: " + std::strerror(errno));
    c->cq = ibv_create_cq(dev.ctx(), o.rx_depth + 1, nullptr, c->channel, c->vector);
    if (!c->cq) {
      const int e = errno;
      ibv_destroy_comp_channel(c->channel);
      throw DeviceError(dev.name() + ": ibv_create_cq(" + std::to_string(o.rx_depth + 1) +
                        " entries, vector " + std::to_string(c->vector) + "): " + std::strerror(e));
    }
    conns_.push_back(std::move(c));  // the destructor cleans up from here on
    Conn& k = *conns_.back();
    k.send_cq = ibv_create_cq(dev.ctx(), o.tx_depth + 1, nullptr, nullptr, 0);
    if (!k.send_cq)
      throw DeviceError(dev.name() + ": ibv_create_cq(send): " + std::strerror(errno));
    k.max_inline = want_inline;
    k.qp = dev.create_rc_qp(k.send_cq, k.cq, o.tx_depth, o.rx_depth, &k.max_inline);
    k.psn = rng() & 0xffffff;
    for (int slot = 0; slot < o.rx_depth; ++slot) post_recv(k, static_cast<std::uint64_t>(slot));
    if (k.errors) throw DeviceError(dev.name() + ": " + k.first_error);
  }
}

VerbsNic::~VerbsNic() {
  if (!finished_) finish();
  destroy_all();
}

void VerbsNic::destroy_all() {
  for (auto& c : conns_) {
    if (c->qp) ibv_destroy_qp(c->qp);
    if (c->send_cq) ibv_destroy_cq(c->send_cq);
    if (c->cq) ibv_destroy_cq(c->cq);  // every reported event was acked in finish()
    if (c->channel) ibv_destroy_comp_channel(c->channel);
    c->qp = nullptr;
    c->send_cq = c->cq = nullptr;
    c->channel = nullptr;
  }
  conns_.clear();
  buf_.reset();
}

void VerbsNic::lock(const Conn& c) const {
  // Held for one ibv_poll_cq at most. The dispatcher only peeks while the
  // owner sleeps, so the owner does not wait for a preempted SCHED_IDLE
  // holder; yield anyway after a long spin rather than burn the slice.
  for (int spins = 0; c.lock.exchange(true, std::memory_order_acquire);)
    while (c.lock.load(std::memory_order_relaxed))
      if (++spins % 4096 == 0)
        sched_yield();
      else
        cpu_relax();
}

void VerbsNic::record_error(Conn& c, const std::string& what) {
  if (c.errors++ == 0) c.first_error = what;
}

void VerbsNic::post_recv(Conn& c, std::uint64_t slot) {
  ibv_sge sge{};
  sge.addr = reinterpret_cast<std::uintptr_t>(c.recv_base + slot * slot_bytes_);
  sge.length = static_cast<std::uint32_t>(slot_bytes_);
  sge.lkey = buf_->lkey();
  ibv_recv_wr wr{};
  wr.wr_id = slot;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  if (const int rc = ibv_post_recv(c.qp, &wr, &bad); rc != 0)
    record_error(c, std::string("ibv_post_recv: ") + std::strerror(rc));
}

std::vector<QpInfo> VerbsNic::local_qps() const {
  std::vector<QpInfo> out;
  for (const auto& c : conns_) out.push_back(dev_.local_info(c->qp, c->psn));
  return out;
}

void VerbsNic::connect(const std::vector<QpInfo>& remote) {
  if (remote.size() != conns_.size())
    throw DeviceError("the client sent " + std::to_string(remote.size()) + " QP addresses for " +
                      std::to_string(conns_.size()) + " connections");
  for (std::size_t i = 0; i < conns_.size(); ++i)
    dev_.connect(conns_[i]->qp, conns_[i]->psn, remote[i]);
}

bool VerbsNic::cq_ready(CqId cq) const {
  const Conn& c = *conns_[cq];
  if (c.stash_n.load(std::memory_order_acquire) > 0) return true;
  if (c.lock.exchange(true, std::memory_order_acquire)) return false;  // the owner is polling it
  bool ready = c.stash_count > 0;
  if (!ready && c.stash_count < kStash) {
    ibv_wc wc;
    if (ibv_poll_cq(c.cq, 1, &wc) > 0) {
      c.stash[(c.stash_head + c.stash_count) % kStash] = wc;
      ++c.stash_count;
      c.stash_n.store(c.stash_count, std::memory_order_release);
      c.stashed.fetch_add(1, std::memory_order_relaxed);
      ready = true;
    }
  }
  unlock(c);
  return ready;
}

bool VerbsNic::poll(CqId cq, Completion* out) {
  Conn& c = *conns_[cq];
  ibv_wc wc;
  bool got = false;
  lock(c);
  if (c.stash_count == 0) {
    // Take up to 8 at once; the rest wait in the stash (in CQ order).
    ibv_wc batch[8];
    const int n = ibv_poll_cq(c.cq, 8, batch);
    if (n < 0) {
      unlock(c);
      record_error(c, "ibv_poll_cq failed");
      return false;
    }
    for (int i = 0; i < n; ++i) {
      c.stash[(c.stash_head + c.stash_count) % kStash] = batch[i];
      ++c.stash_count;
    }
  }
  if (c.stash_count > 0) {
    wc = c.stash[c.stash_head];
    c.stash_head = (c.stash_head + 1) % kStash;
    --c.stash_count;
    got = true;
  }
  c.stash_n.store(c.stash_count, std::memory_order_release);
  unlock(c);
  if (!got) return false;
  if (wc.status != IBV_WC_SUCCESS) {
    record_error(c, std::string("receive completion: ") + ibv_wc_status_str(wc.status));
    return false;
  }
  WireHeader h;
  const std::uint64_t slot = wc.wr_id;
  std::memcpy(&h, c.recv_base + slot * slot_bytes_, sizeof h);
  post_recv(c, slot);
  out->id = h.id;
  out->t_sent = h.t_sent;
  ++c.served;
  return true;
}

void VerbsNic::reap_sends(Conn& c, bool must_progress) {
  ibv_wc wcs[16];
  for (;;) {
    const int n = ibv_poll_cq(c.send_cq, 16, wcs);
    for (int i = 0; i < n; ++i) {
      if (wcs[i].status != IBV_WC_SUCCESS)
        record_error(c, std::string("send completion: ") + ibv_wc_status_str(wcs[i].status));
      c.send_done = std::max(c.send_done, wcs[i].wr_id + 1);
    }
    if (n < 0) record_error(c, "ibv_poll_cq(send) failed");
    if (!must_progress ||
        c.send_posted - c.send_done < static_cast<std::uint64_t>(opt_.tx_depth - 1))
      return;
    if (shutdown_.load(std::memory_order_relaxed) || n < 0) return;
    cpu_relax();
  }
}

void VerbsNic::post_reply(CqId cq, const Completion& comp) {
  Conn& c = *conns_[cq];
  if (c.send_posted - c.send_done >= static_cast<std::uint64_t>(opt_.tx_depth - 1))
    reap_sends(c, true);
  char* p = c.send_base + (c.send_posted % static_cast<std::uint64_t>(opt_.tx_depth)) * slot_bytes_;
  const WireHeader h{comp.id, comp.t_sent};
  std::memcpy(p, &h, sizeof h);
  ibv_sge sge{};
  sge.addr = reinterpret_cast<std::uintptr_t>(p);
  sge.length = static_cast<std::uint32_t>(wire_bytes(cfg_.workload.message_bytes));
  sge.lkey = buf_->lkey();
  ibv_send_wr wr{};
  wr.wr_id = c.send_posted;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = IBV_WR_SEND;
  const bool signaled = (c.send_posted + 1) % kSignalEvery == 0;
  wr.send_flags =
      (signaled ? IBV_SEND_SIGNALED : 0) | (sge.length <= c.max_inline ? IBV_SEND_INLINE : 0);
  ibv_send_wr* bad = nullptr;
  if (const int rc = ibv_post_send(c.qp, &wr, &bad); rc != 0) {
    record_error(c, std::string("ibv_post_send: ") + std::strerror(rc));
    return;
  }
  ++c.send_posted;
  ++c.replies;
  if (c.send_posted - c.send_done >= 2 * kSignalEvery) reap_sends(c, false);
}

void VerbsNic::arm(CqId cq) {
  Conn& c = *conns_[cq];
  // Ack in batches: ibv_ack_cq_events takes the CQ's mutex.
  if (c.unacked >= kAckBatch) {
    ibv_ack_cq_events(c.cq, c.unacked);
    c.acks += c.unacked;
    c.unacked = 0;
  }
  if (const int rc = ibv_req_notify_cq(c.cq, 0); rc != 0)
    record_error(c, std::string("ibv_req_notify_cq: ") + std::strerror(rc));
  ++c.arms;
}

void VerbsNic::drain_channel(CqId cq) {
  Conn& c = *conns_[cq];
  pollfd p{c.channel->fd, POLLIN, 0};
  while (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
    ibv_cq* ev_cq = nullptr;
    void* ev_ctx = nullptr;
    if (ibv_get_cq_event(c.channel, &ev_cq, &ev_ctx) != 0) break;  // readable: does not block
    ++c.events;
    ibv_ack_cq_events(ev_cq, 1);
    ++c.acks;
  }
}

bool VerbsNic::wait_event(CqId cq) {
  Conn& c = *conns_[cq];
  c.waiter.store(pthread_self(), std::memory_order_relaxed);
  // First announce "in the wait", then check the flag; shutdown_waiters()
  // sets the flag, then checks in_wait (both seq_cst): one of us sees the other.
  c.in_wait.store(1, std::memory_order_seq_cst);
  if (shutdown_.load(std::memory_order_seq_cst)) {
    c.in_wait.store(0, std::memory_order_release);
    return false;
  }
  ibv_cq* ev_cq = nullptr;
  void* ev_ctx = nullptr;
  for (;;) {
    if (ibv_get_cq_event(c.channel, &ev_cq, &ev_ctx) == 0) break;
    const int e = errno;
    if (e == EINTR && !shutdown_.load(std::memory_order_acquire)) continue;
    c.in_wait.store(0, std::memory_order_release);
    if (e != EINTR) record_error(c, std::string("ibv_get_cq_event: ") + std::strerror(e));
    return false;
  }
  c.in_wait.store(0, std::memory_order_release);
  ++c.events;
  if (ev_cq != c.cq) {
    record_error(c, "completion event for a CQ that is not this connection's");
    ibv_ack_cq_events(ev_cq, 1);
    ++c.acks;
  } else {
    ++c.unacked;
  }
  return !shutdown_.load(std::memory_order_acquire);
}

void VerbsNic::shutdown_waiters() {
  shutdown_.store(true, std::memory_order_seq_cst);
  // Signal every thread still inside ibv_get_cq_event until it has left (a
  // signal that lands just before its read() would be lost: repeat).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    bool any = false;
    for (auto& c : conns_)
      if (c->in_wait.load(std::memory_order_seq_cst)) {
        any = true;
        pthread_kill(c->waiter.load(std::memory_order_relaxed), wake_signal());
      }
    if (!any || std::chrono::steady_clock::now() > deadline) return;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

VerbsNic::Totals VerbsNic::finish() {
  Totals t;
  for (auto& c : conns_) {
    if (c->unacked) {
      ibv_ack_cq_events(c->cq, c->unacked);
      c->acks += c->unacked;
      c->unacked = 0;
    }
    t.served += c->served;
    t.replies += c->replies;
    t.events += c->events;
    t.acks += c->acks;
    t.arms += c->arms;
    t.stashed += c->stashed.load();
    t.errors += c->errors;
    t.left_in_stash += static_cast<std::uint64_t>(c->stash_count);
    if (t.first_error.empty()) t.first_error = c->first_error;
  }
  finished_ = true;
  return t;
}

void VerbsNic::set_vector_core(VectorId v, CoreId core) {
  vector_core_.at(v) = core;
  if (core < 0 || core >= static_cast<CoreId>(app_cpus_.size())) return;
  const auto& irqs = irq_map_.vector_irqs.at(v);
  if (irqs.empty() || !opt_.repin_irqs) {
    ++moves_without_lever_;
    return;
  }
  for (int irq : irqs) {
    const std::string e = pin_irq(irq, app_cpus_[core]);
    if (e.empty()) {
      ++irq_moves_;
    } else if (irq_errors_.size() < 8) {
      irq_errors_.push_back(e);
    }
  }
}

nlohmann::json VerbsNic::describe() const {
  nlohmann::json cqv = nlohmann::json::array(), virqs = nlohmann::json::array(),
                 vcpu = nlohmann::json::array();
  for (const auto& c : conns_) cqv.push_back(c->vector);
  for (const auto& irqs : irq_map_.vector_irqs) {
    virqs.push_back(irqs);
    vcpu.push_back(irqs.empty() ? -1 : irq_affinity_cpu(irqs.front()));
  }
  std::string lever = irq_map_.source;
  if (!opt_.repin_irqs && irq_map_.any()) lever += " (re-pinning disabled by --no-irq-repin)";
  return {{"device", dev_.describe()},
          {"num_comp_vectors", dev_.num_comp_vectors()},
          {"cq_vectors", cqv},
          {"vector_choice", vector_choice_},
          {"irq_lever", lever},
          {"vector_irqs", virqs},
          {"vector_irq_cpus", vcpu},
          {"irq_moves", irq_moves_},
          {"irq_moves_without_lever", moves_without_lever_},
          {"irq_errors", irq_errors_},
          {"max_inline", conns_.empty() ? 0u : conns_[0]->max_inline},
          {"rx_depth", opt_.rx_depth},
          {"tx_depth", opt_.tx_depth}};
}

}  // namespace fastwake::hw
