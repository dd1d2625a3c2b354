// Replay tool, the client side (fastwake-bench client): RC connections on a
// shared receive/send CQ pair, closed-loop or Poisson load (core's
// ClientClock) from one pinned busy-polling thread, the RTT histogram, and
// one session per strategy over the side channel.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <thread>

#include "fastwake/errors.h"
#include "fastwake/histogram.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/side_channel.h"
#include "fastwake/hw/side_channel_msg.h"
#include "fastwake/workload.h"
#include "verbs_replay_common.h"

namespace fastwake::hw::replay {

namespace {

void sleep_until_ns(Nanos t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

/// The client's RC connections: a shared receive CQ and send CQ (polled only,
/// never armed), per connection rx_depth receive slots and tx_depth send slots.
class ClientSide {
 public:
  ClientSide(VerbsDevice& dev, const Config& cfg, const ReplayClientOptions& o)
      : dev_(dev),
        cfg_(cfg),
        o_(o),
        n_(cfg.threads()),
        slot_(std::max<std::size_t>(
            64, (static_cast<std::size_t>(cfg.workload.message_bytes) + 63) & ~std::size_t{63})) {
    buf_ = std::make_unique<VerbsBuffer>(
        dev, static_cast<std::size_t>(n_) * (o.rx_depth + o.tx_depth) * slot_);
    rcq_ = ibv_create_cq(dev.ctx(), n_ * o.rx_depth + 1, nullptr, nullptr, 0);
    scq_ = ibv_create_cq(dev.ctx(), n_ * o.tx_depth + 1, nullptr, nullptr, 0);
    if (!rcq_ || !scq_) {
      cleanup();
      throw DeviceError(dev.name() + ": ibv_create_cq (client): " + std::strerror(errno));
    }
    std::mt19937 rng(static_cast<unsigned>(mono_now()));
    const std::size_t wire = wire_bytes(cfg.workload.message_bytes);
    const std::uint32_t want_inline = wire <= 256 ? static_cast<std::uint32_t>(wire) : 0;
    try {
      for (int c = 0; c < n_; ++c) {
        Conn k;
        k.max_inline = want_inline;
        k.qp = dev.create_rc_qp(scq_, rcq_, o.tx_depth, o.rx_depth, &k.max_inline);
        k.psn = rng() & 0xffffff;
        conns_.push_back(k);
        for (int s = 0; s < o.rx_depth; ++s) post_recv(c, s);
      }
    } catch (...) {
      cleanup();
      throw;
    }
  }
  ~ClientSide() { cleanup(); }
  /// FW_REPLAY_TEST_QP_ERROR=INDEX:N (test seam): in session INDEX, move the
  /// first QP to IBV_QPS_ERR after N replies.
  void set_test_qp_error(int index) {
    const char* e = std::getenv("FW_REPLAY_TEST_QP_ERROR");
    int at = -1;
    unsigned long long n = 0;
    if (e && std::sscanf(e, "%d:%llu", &at, &n) == 2 && at == index) test_qp_error_after_ = n;
  }

  json local_qps() const {
    json a = json::array();
    for (const auto& c : conns_) a.push_back(dev_.local_info(c.qp, c.psn).to_json());
    return a;
  }
  void connect(const json& remote) {
    if (!remote.is_array() || static_cast<int>(remote.size()) != n_)
      throw DeviceError("the server sent " + std::to_string(remote.size()) + " QP addresses for " +
                        std::to_string(n_) + " connections");
    for (int c = 0; c < n_; ++c)
      dev_.connect(conns_[c].qp, conns_[c].psn, QpInfo::from_json(remote[c]));
  }

  struct Stats {
    Histogram hist;
    std::uint64_t sent = 0, completed = 0, measured = 0, completed_in_window = 0;
    std::uint64_t bad_replies = 0, skipped = 0, errors = 0;
    std::string first_error;
    bool drained = true;
    Nanos win_start = 0, win_end = 0;
  };

  /// The load loop (runs on its own pinned thread). `window_end` is published
  /// when the window closes (time, or -n requests sent in it).
  void drive(Nanos t0, int max_outstanding, std::atomic<Nanos>* window_end, Stats* st) {
    const auto& w = cfg_.workload;
    ClientClock clock(w, cfg_.run.seed, n_);
    const bool poisson = clock.open_loop();
    const Nanos ws = t0 + cfg_.run.warmup_ns;
    Nanos we = o_.iterations > 0 ? kNever : ws + cfg_.run.duration_ns;
    if (we != kNever) window_end->store(we);
    Nanos drain_limit = we == kNever ? kNever : we + 2'000'000'000;
    std::vector<Nanos> next_send(n_);
    for (int c = 0; c < n_; ++c) next_send[c] = clock.first_send(c, t0);
    std::uint64_t in_flight = 0, sent_in_window = 0;
    Nanos last_progress = t0;
    // Test seam (tests/verbs/guest_checks.sh, case qp_error): drive the first
    // QP into the error state after this many replies.
    std::uint64_t qp_error_after = test_qp_error_after_;
    ibv_wc wcs[32];
    while (mono_now() < t0) cpu_relax();
    for (;;) {
      // Replies.
      const int n = ibv_poll_cq(rcq_, 32, wcs);
      if (n < 0) error(st, "ibv_poll_cq(receive) failed");
      for (int i = 0; i < n; ++i) {
        const Nanos done = mono_now();
        const int c = static_cast<int>(wcs[i].wr_id >> 32);
        const int slot = static_cast<int>(wcs[i].wr_id & 0xffffffff);
        if (wcs[i].status != IBV_WC_SUCCESS) {
          error(st, std::string("receive completion: ") + ibv_wc_status_str(wcs[i].status) +
                        " (the connection's QP is in the error state)");
          continue;
        }
        Conn& k = conns_[c];
        WireHeader h;
        std::memcpy(&h, recv_slot(c, slot), sizeof h);
        post_recv(c, slot);
        if (k.outstanding <= 0 || h.id != k.next_reply) {
          ++st->bad_replies;  // a duplicate or a reordering: never counted as a completion
          continue;
        }
        ++k.next_reply;
        --k.outstanding;
        --in_flight;
        ++st->completed;
        last_progress = done;
        if (h.t_sent >= ws && h.t_sent < we) {
          st->hist.record(done - h.t_sent);
          ++st->measured;
        }
        if (done >= ws && done < we) ++st->completed_in_window;
        if (!poisson) next_send[c] = done + clock.think(c);
      }
      reap_sends(st);
      if (st->errors) {  // a failed completion: the QP is in the error state, stop now
        st->drained = false;
        break;
      }
      if (qp_error_after && st->completed >= qp_error_after) {
        ibv_qp_attr a{};
        a.qp_state = IBV_QPS_ERR;
        if (ibv_modify_qp(conns_[0].qp, &a, IBV_QP_STATE) != 0)
          error(st, std::string("test seam: ibv_modify_qp(IBV_QPS_ERR): ") + std::strerror(errno));
        qp_error_after = 0;
      }
      // Requests.
      const Nanos now = mono_now();
      const bool sending = now < we;
      if (sending) {
        for (int c = 0; c < n_; ++c) {
          Conn& k = conns_[c];
          if (now < next_send[c] || (!poisson && k.outstanding > 0)) continue;
          if (k.outstanding >= max_outstanding ||
              k.send_posted - k.send_done >= static_cast<std::uint64_t>(o_.tx_depth - 1)) {
            ++st->skipped;  // Poisson beyond the receive depth: dropped like the loopback's full
                            // ring
            next_send[c] = poisson ? next_send[c] + clock.gap(c) : now + 1000;
            continue;
          }
          const Nanos t = mono_now();
          if (!post_send(c, WireHeader{k.next_id, t}, st)) {
            next_send[c] = kNever;
            continue;
          }
          ++k.next_id;
          ++k.outstanding;
          if (in_flight == 0) last_progress = t;
          ++in_flight;
          ++st->sent;
          if (t >= ws && ++sent_in_window == static_cast<std::uint64_t>(o_.iterations) &&
              o_.iterations > 0) {
            we = t + 1;  // -n: the window closes after the n-th request sent in it
            window_end->store(we);
            drain_limit = we + 2'000'000'000;
          }
          next_send[c] = poisson ? next_send[c] + clock.gap(c) : kNever;
        }
      }
      if (!sending && in_flight == 0) break;
      if (now > drain_limit) {
        st->drained = false;
        break;
      }
      if (in_flight > 0 && now > last_progress + 10'000'000'000LL && now > t0) {
        error(st, "no reply from the server for 10 s with " + std::to_string(in_flight) +
                      " requests outstanding");
        st->drained = false;
        break;
      }
    }
    st->win_start = ws;
    st->win_end = we;
  }

 private:
  struct Conn {
    ibv_qp* qp = nullptr;
    std::uint32_t psn = 0;
    std::uint32_t max_inline = 0;
    std::uint64_t next_id = 0, next_reply = 0;
    int outstanding = 0;
    std::uint64_t send_posted = 0, send_done = 0;
  };
  static constexpr int kSignalEvery = 16;

  char* recv_slot(int c, int s) const {
    return buf_->data() + (static_cast<std::size_t>(c) * (o_.rx_depth + o_.tx_depth) + s) * slot_;
  }
  char* send_slot(int c, std::uint64_t i) const {
    return recv_slot(c,
                     o_.rx_depth + static_cast<int>(i % static_cast<std::uint64_t>(o_.tx_depth)));
  }
  void post_recv(int c, int s) {
    ibv_sge sge{reinterpret_cast<std::uintptr_t>(recv_slot(c, s)),
                static_cast<std::uint32_t>(slot_), buf_->lkey()};
    ibv_recv_wr wr{};
    wr.wr_id = (static_cast<std::uint64_t>(c) << 32) | static_cast<std::uint32_t>(s);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ibv_recv_wr* bad = nullptr;
    if (const int rc = ibv_post_recv(conns_[c].qp, &wr, &bad); rc != 0)
      throw DeviceError(std::string("client ibv_post_recv: ") + std::strerror(rc));
  }
  bool post_send(int c, const WireHeader& h, Stats* st) {
    Conn& k = conns_[c];
    char* p = send_slot(c, k.send_posted);
    std::memcpy(p, &h, sizeof h);
    ibv_sge sge{reinterpret_cast<std::uintptr_t>(p),
                static_cast<std::uint32_t>(wire_bytes(cfg_.workload.message_bytes)), buf_->lkey()};
    ibv_send_wr wr{};
    wr.wr_id = (static_cast<std::uint64_t>(c) << 32) | static_cast<std::uint32_t>(k.send_posted);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    const bool signaled = (k.send_posted + 1) % kSignalEvery == 0;
    wr.send_flags =
        (signaled ? IBV_SEND_SIGNALED : 0) | (sge.length <= k.max_inline ? IBV_SEND_INLINE : 0);
    ibv_send_wr* bad = nullptr;
    if (const int rc = ibv_post_send(k.qp, &wr, &bad); rc != 0) {
      error(st, std::string("ibv_post_send: ") + std::strerror(rc));
      return false;
    }
    ++k.send_posted;
    return true;
  }
  void reap_sends(Stats* st) {
    ibv_wc wcs[32];
    const int n = ibv_poll_cq(scq_, 32, wcs);
    for (int i = 0; i < n; ++i) {
      Conn& k = conns_[static_cast<int>(wcs[i].wr_id >> 32)];
      if (wcs[i].status != IBV_WC_SUCCESS)
        error(st, std::string("send completion: ") + ibv_wc_status_str(wcs[i].status));
      // The low 32 bits of the posted count: rebuild the full count.
      const std::uint32_t low = static_cast<std::uint32_t>(wcs[i].wr_id) + 1;
      const std::uint64_t done =
          k.send_posted -
          static_cast<std::uint32_t>(static_cast<std::uint32_t>(k.send_posted) - low);
      k.send_done = std::max(k.send_done, done);
    }
  }
  static void error(Stats* st, const std::string& what) {
    if (st->errors++ == 0) st->first_error = what;
  }
  void cleanup() {
    for (auto& c : conns_)
      if (c.qp) ibv_destroy_qp(c.qp);
    conns_.clear();
    if (rcq_) ibv_destroy_cq(rcq_);
    if (scq_) ibv_destroy_cq(scq_);
    rcq_ = scq_ = nullptr;
    buf_.reset();
  }

  VerbsDevice& dev_;
  const Config& cfg_;
  const ReplayClientOptions& o_;
  int n_;
  std::size_t slot_;
  std::unique_ptr<VerbsBuffer> buf_;
  ibv_cq* rcq_ = nullptr;
  ibv_cq* scq_ = nullptr;
  std::vector<Conn> conns_;
  std::uint64_t test_qp_error_after_ = 0;
};

}  // namespace

int default_client_cpu(int cpu) {
  const auto usable = usable_cpus();
  if (cpu < 0) return usable.empty() ? -1 : usable.back();
  if (std::find(usable.begin(), usable.end(), cpu) == usable.end())
    throw ConfigError("--cpu: no such CPU " + std::to_string(cpu) +
                      " (usable: " + cpu_list_text(usable) + ")");
  return cpu;
}

json client_session(VerbsDevice& dev, const Config& cfg, const ReplayClientOptions& o, int cpu,
                    const std::string& strategy, int index, int total, json* result_out) {
  SideChannel ch = SideChannel::connect(o.server, o.port, o.connect_timeout_s);
  ClientSide side(dev, cfg, o);
  json cfg_j = to_json(cfg);
  // Test seam (tests/verbs/guest_faults.sh, case mismatch_mid):
  // FW_REPLAY_TEST_SIZE_AT=INDEX:BYTES announces another message size in
  // session INDEX, as a client restarted with other options mid-series would.
  if (const char* e = std::getenv("FW_REPLAY_TEST_SIZE_AT")) {
    int at = -1, bytes = 0;
    if (std::sscanf(e, "%d:%d", &at, &bytes) == 2 && at == index)
      cfg_j["workload"]["message_bytes"] = bytes;
  }
  ch.send({{"type", "hello"},
           {"proto", kReplayProto},
           {"strategy", strategy},
           {"index", index},
           {"total", total},
           {"config", cfg_j},
           {"qps", side.local_qps()}});
  const json ready = ch.expect("ready", 120'000);
  if (!ready.contains("qps")) throw DeviceError("side channel: 'ready' without 'qps'");
  side.connect(ready.at("qps"));
  const int server_rx = static_cast<int>(message_int(ready, "rx_depth", 64, 1, 1 << 20));
  const int max_out = std::max(1, std::min({server_rx, o.rx_depth, o.tx_depth}) - 1);

  ClientSide::Stats st;
  std::atomic<Nanos> window_end{kNever};
  const Nanos t0 = mono_now() + 5'000'000;
  std::exception_ptr failure;  // written by the driver before driver_done
  std::atomic<bool> driver_done{false};
  std::thread driver([&] {
    try {
      if (cpu >= 0) pin_self(cpu);
      side.drive(t0, max_out, &window_end, &st);
    } catch (...) {
      failure = std::current_exception();
    }
    driver_done.store(true, std::memory_order_release);
  });
  side.set_test_qp_error(index);
  // While the load runs the main thread sends a heartbeat every second: the
  // server gives up on a client silent for --idle-timeout (a stopped client).
  Nanos next_alive = 0;
  auto alive = [&] {
    if (mono_now() < next_alive) return;
    ch.send({{"type", "alive"}});
    next_alive = mono_now() + 1'000'000'000;
  };
  auto sleep_alive = [&](Nanos until) {
    for (Nanos now; (now = mono_now()) < until;) {
      alive();
      sleep_until_ns(std::min(until, now + 100'000'000));
    }
  };
  try {
    ch.send({{"type", "go"}});
    sleep_alive(t0 + cfg.run.warmup_ns);
    ch.send({{"type", "window_start"}});
    Nanos we;
    while ((we = window_end.load()) == kNever && !driver_done.load(std::memory_order_acquire)) {
      alive();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (we != kNever) sleep_alive(we);
    ch.send({{"type", "window_end"}});
    while (!driver_done.load(std::memory_order_acquire)) {  // the drain (bounded by the driver)
      alive();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (...) {
    driver.join();
    throw;
  }
  driver.join();
  if (!failure && st.errors)
    failure = std::make_exception_ptr(DeviceError(
        st.first_error + (st.errors > 1 ? " (and " + std::to_string(st.errors - 1) + " more)" : "") +
        "; stopped after " + std::to_string(st.completed) + " of " + std::to_string(st.sent) +
        " requests answered"));
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      try {
        ch.send({{"type", "error"}, {"message", std::string("client: ") + e.what()}});
      } catch (...) {
      }
      throw;
    }
  }
  const double window_s = st.win_end > st.win_start && st.win_end != kNever
                              ? static_cast<double>(st.win_end - st.win_start) * 1e-9
                              : 0.0;
  json cl = {{"sent", st.sent},
             {"completed", st.completed},
             {"measured", st.measured},
             {"completed_in_window", st.completed_in_window},
             {"bad_replies", st.bad_replies},
             {"skipped", st.skipped},
             {"errors", st.errors},
             {"first_error", st.first_error},
             {"drained", st.drained},
             {"window_s", window_s},
             {"rtt_us", summary_json(LatencySummary::from(st.hist))},
             {"perftest", perftest_columns(st.hist, cfg.workload.message_bytes)},
             {"info", {{"device", dev.describe()}, {"cpu", cpu}, {"max_outstanding", max_out}}}};
  ch.send({{"type", "done"}, {"stats", cl}});
  const json sv = ch.expect("stats", 60'000).value("stats", json::object());
  *result_out = make_result(cfg, strategy, cl, sv).to_json();
  if (const std::string bad = check_accounting(cl, sv); !bad.empty())
    throw DeviceError("verbs run of " + strategy + " lost or duplicated completions: " + bad);
  return cl;
}

}  // namespace fastwake::hw::replay
