// Verbs backend pieces that need no NIC: IRQ discovery on a synthetic sysfs/proc tree, the shim's
// ack split, the shim's dispatcher round over a fake device (against core's Dispatcher driven as
// the simulator drives it), the shim's CQ polls (the application never waits for the dispatcher)
// and its dispatcher start (pthread_create failing through a seam), the side channel, QP address exchange, and the server/client
// command-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dispatch_round.h"
#include "dispatcher_start.h"
#include "fastwake/errors.h"
#include "fastwake/hw/irq_map.h"
#include "fastwake/hw/side_channel.h"
#include "fastwake/hw/verbs_device.h"
#include "fastwake/hw/verbs_replay.h"
#include "fastwake/histogram.h"
#include <nlohmann/json.hpp>
#include "ledger.h"
#include "slot_poll.h"

namespace fs = std::filesystem;
using fastwake::DeviceError;
using namespace fastwake::hw;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

/// A machine with mlx5_0 on PCI 0000:3b:00.0 (IRQs 120 async, 121/122 comp
/// 0/1, 130 of another device named comp0 too), rxe0 (software), and irdma0
/// whose IRQs carry no vector names.
struct FakeRoot {
  fs::path root;
  FakeRoot() {
    root = fs::temp_directory_path() / ("fw_irq_test_" + std::to_string(::getpid()));
    fs::remove_all(root);
    const fs::path pci = root / "sys/devices/pci0000:00/0000:3b:00.0";
    for (int irq : {120, 121, 122}) write(pci / "msi_irqs" / std::to_string(irq), "msix\n");
    fs::create_directories(root / "sys/class/infiniband/mlx5_0");
    fs::create_symlink(pci, root / "sys/class/infiniband/mlx5_0/device");
    fs::create_directories(root / "sys/class/infiniband/rxe0/ports/1");
    const fs::path pci2 = root / "sys/devices/pci0000:00/0000:5e:00.0";
    write(pci2 / "msi_irqs/140", "msix\n");
    fs::create_directories(root / "sys/class/infiniband/irdma0");
    fs::create_symlink(pci2, root / "sys/class/infiniband/irdma0/device");
    write(root / "proc/interrupts",
          "           CPU0       CPU1       CPU2       CPU3\n"
          "  0:         36          0          0          0   IO-APIC   2-edge      timer\n"
          "120:          0          0          0          0  IR-PCI-MSI 31981568-edge      "
          "mlx5_async0@pci:0000:3b:00.0\n"
          "121:       1234          0          0          0  IR-PCI-MSI 31981569-edge      "
          "mlx5_comp0@pci:0000:3b:00.0\n"
          "122:          0       5678          0          0  IR-PCI-MSI 31981570-edge      "
          "mlx5_comp1@pci:0000:3b:00.0\n"
          "130:          0          0          0          0  IR-PCI-MSI 1000-edge      "
          "mlx5_comp0@pci:0000:af:00.0\n"
          "140:          0          0          0          0  IR-PCI-MSI 2000-edge      "
          "irdma-0000:5e:00.0-AEQ\n"
          "NMI:          0          0          0          0   Non-maskable interrupts\n");
    write(root / "proc/irq/121/smp_affinity_list", "2\n");
    write(root / "proc/irq/122/smp_affinity_list", "0-3\n");
  }
  ~FakeRoot() { fs::remove_all(root); }
};

struct Out {
  int code;
  std::string text;
};

Out run_bench(const std::string& args) {
  const std::string cmd = std::string(FW_BENCH_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
  const int st = p ? pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

bool host_has_rdma() {
  std::error_code ec;
  return fs::exists("/sys/class/infiniband", ec) && !fs::is_empty("/sys/class/infiniband", ec);
}

}  // namespace

TEST(IrqMap, ParsesProcInterrupts) {
  const auto m = parse_proc_interrupts(
      "           CPU0       CPU1\n"
      " 24:  1  2  PCI-MSI 32768-edge      virtio0-config\n"
      "121:  3  4  IR-PCI-MSI 1-edge      mlx5_comp0@pci:0000:3b:00.0\r\n"
      "LOC:  5  6   Local timer interrupts\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.at(24), "virtio0-config");
  EXPECT_EQ(m.at(121), "mlx5_comp0@pci:0000:3b:00.0");
}

TEST(IrqMap, VectorFromIrqName) {
  EXPECT_EQ(comp_vector_of_irq_name("mlx5_comp3@pci:0000:3b:00.0"), 3);
  EXPECT_EQ(comp_vector_of_irq_name("mlx4-comp-12@pci:0000:04:00.0"), 12);
  EXPECT_EQ(comp_vector_of_irq_name("mlx5_async0@pci:0000:3b:00.0"), -1);
  EXPECT_EQ(comp_vector_of_irq_name("eth0-TxRx-3"), -1);
  EXPECT_EQ(comp_vector_of_irq_name("component"), -1);
}

TEST(IrqMap, ReadsTheKernelsAffinityList) {
  // /proc/irq/N/smp_affinity_list as the kernel prints it (%*pbl), through
  // core's cpulist parser (tests/unit/cpu_list_test.cc tests the parser).
  const auto root = fs::temp_directory_path() / ("fw_irqaff_" + std::to_string(::getpid()));
  fs::create_directories(root / "proc/irq/41");
  fs::create_directories(root / "proc/irq/42");
  std::ofstream(root / "proc/irq/41/smp_affinity_list") << "2-3,8\n";
  std::ofstream(root / "proc/irq/42/smp_affinity_list") << "garbage\n";
  EXPECT_EQ(irq_affinity_cpu(41, root.string()), 2);
  EXPECT_EQ(irq_affinity_cpu(42, root.string()), -1);
  EXPECT_EQ(irq_affinity_cpu(43, root.string()), -1);  // no such file
  fs::remove_all(root);
}

TEST(IrqMap, FindsCompletionVectorsOfAPciDevice) {
  FakeRoot f;
  const IrqMap m = discover_irqs("mlx5_0", 4, f.root.string());
  ASSERT_TRUE(m.any()) << m.source;
  ASSERT_EQ(m.vector_irqs.size(), 4u);
  EXPECT_EQ(m.vector_irqs[0], std::vector<int>{121});  // not 130: another device's comp0
  EXPECT_EQ(m.vector_irqs[1], std::vector<int>{122});
  EXPECT_TRUE(m.vector_irqs[2].empty());
  EXPECT_NE(m.source.find("vector 0 -> IRQ 121"), std::string::npos) << m.source;
  EXPECT_EQ(irq_affinity_cpu(121, f.root.string()), 2);
  EXPECT_EQ(irq_affinity_cpu(122, f.root.string()), 0);
  EXPECT_EQ(irq_affinity_cpu(999, f.root.string()), -1);
  EXPECT_EQ(pin_irq(121, 3, f.root.string()), "");
  EXPECT_EQ(irq_affinity_cpu(121, f.root.string()), 3);
  EXPECT_NE(pin_irq(999, 1, f.root.string() + "/nonexistent"), "");
}

TEST(IrqMap, SoftwareDevicesHaveNoLever) {
  FakeRoot f;
  const IrqMap rxe = discover_irqs("rxe0", 4, f.root.string());
  EXPECT_FALSE(rxe.any());
  EXPECT_NE(rxe.source.find("no IRQ lever on rxe0: software device"), std::string::npos)
      << rxe.source;
  const IrqMap none = discover_irqs("mlx5_9", 4, f.root.string());
  EXPECT_FALSE(none.any());
  EXPECT_NE(none.source.find("does not exist"), std::string::npos) << none.source;
  const IrqMap unnamed = discover_irqs("irdma0", 4, f.root.string());
  EXPECT_FALSE(unnamed.any());
  EXPECT_NE(unnamed.source.find("--irqs"), std::string::npos) << unnamed.source;
  const IrqMap given = irq_map_from_list({40, 41});
  EXPECT_EQ(given.vector_irqs, (std::vector<std::vector<int>>{{40}, {41}}));
}

TEST(PreloadLedger, AcksGoToRealEventsFirst) {
  using fastwake::preload::split_ack;
  auto s = split_ack(5, 3, 10);
  EXPECT_EQ(s.real, 3u);
  EXPECT_EQ(s.emu, 2u);
  EXPECT_EQ(s.over, 0u);
  s = split_ack(5, 0, 2);  // more acks than events: the excess is dropped, never forwarded
  EXPECT_EQ(s.real, 0u);
  EXPECT_EQ(s.emu, 2u);
  EXPECT_EQ(s.over, 3u);
  s = split_ack(1, 0, 1);
  EXPECT_EQ(s.emu, 1u);
  s = split_ack(0, 4, 4);
  EXPECT_EQ(s.real + s.emu + s.over, 0u);
}

// ---------------------------------------------------------------- the shim's dispatcher round

namespace shimdisp {

using fastwake::CqId;
using fastwake::Decision;
using fastwake::DecisionTrace;
using fastwake::Dispatcher;
using fastwake::HandOff;
using fastwake::preload::DispatchOp;

constexpr int kCqs = 8;

/// A scripted scenario in the dispatcher's own clock, the number of polls
/// made: completions arrive before given polls; CQ slots are registered and
/// removed (ops) at the start of given rounds of the shim's dispatcher.
struct Script {
  int rounds = 0;
  std::vector<std::pair<int, DispatchOp>> ops;  // (round, op)
  std::vector<std::pair<long, CqId>> arrive;    // (poll index, CQ)
};

/// A device without a NIC: per CQ the completions not yet taken and whether
/// its owner waits (armed, in the shim's terms; blocked, in the model's). A
/// hand-off wakes the owner, which takes every completion and waits again
/// (verbs: ack, re-arm, poll until empty, ibv_get_cq_event).
struct FakeDevice {
  std::vector<int> pending = std::vector<int>(kCqs, 0);
  std::vector<char> waiting = std::vector<char>(kCqs, 1);
  std::size_t next = 0;  // next arrival of the script
  void arrive_until(const Script& s, long poll) {
    for (; next < s.arrive.size() && s.arrive[next].first <= poll; ++next)
      ++pending[s.arrive[next].second];
  }
  void serve(CqId cq) {
    pending[cq] = 0;
    waiting[cq] = 1;
  }
};

/// The shim's probe semantics (shim_dispatcher.cc's SlotProbe) on the fake
/// device: a CQ is ready if it holds a completion, which the probe takes,
/// claiming the wake (one-shot disarm).
struct FakeSlotProbe {
  FakeDevice& dev;
  bool cq_ready(CqId cq) const {
    if (dev.pending[cq] == 0 || !dev.waiting[cq]) return false;
    dev.waiting[cq] = 0;
    return true;
  }
};

/// The model's view of the NIC: a CQ holds a completion.
struct FakeNicView {
  const FakeDevice& dev;
  bool cq_ready(CqId cq) const { return dev.pending[cq] > 0; }
};

/// The poll index at which each round of the shim's dispatcher starts (a
/// round polls every registered CQ once), from the registrations alone.
std::vector<long> round_starts(const Script& s) {
  std::vector<long> at;
  std::vector<bool> in(kCqs, false);
  long p = 0;
  int size = 0;
  for (int r = 0; r <= s.rounds; ++r) {
    at.push_back(p);
    for (const auto& [round, op] : s.ops)
      if (round == r && in[op.cq] != op.add) {
        in[op.cq] = op.add;
        size += op.add ? 1 : -1;
      }
    p += size;
  }
  return at;
}

/// The shim's dispatcher thread on the fake device: at each round start the
/// queued ops (apply_ops), then one poll round (poll_round) — the code
/// shim_dispatcher.cc runs, over the fake probe.
std::vector<Decision> on_shim(const Script& s) {
  DecisionTrace t;
  FakeDevice dev;
  Dispatcher d(0);
  const FakeSlotProbe probe{dev};
  std::vector<int> channel(kCqs, -1);
  long polls = 0;
  for (int r = 0; r < s.rounds; ++r) {
    std::vector<DispatchOp> ops;
    for (const auto& [round, op] : s.ops)
      if (round == r) {
        ops.push_back(op);
        if (op.add) channel[op.cq] = op.owner;
      }
    fastwake::preload::apply_ops(d, ops);
    fastwake::preload::poll_round(
        d, probe,
        [&](CqId cq) {
          dev.arrive_until(s, polls++);
          return dev.waiting[cq] != 0;
        },
        [&](const HandOff& h) {
          EXPECT_EQ(h.thread, channel[h.cq]) << "the hand-off goes to the CQ's channel";
          dev.serve(h.cq);
        },
        &t);
  }
  return t.decisions();
}

/// Core's Dispatcher driven the way the simulator drives it
/// (sim/src/host_dispatch.cc): from the poll count now, jump to the poll that
/// finds a CQ ready while its owner is blocked (polls_until + skip) unless an
/// arrival or a registration change comes first, poll it with
/// ReadyWhileAsleep and hand off; the owner serves and blocks again.
std::vector<Decision> on_model(const Script& s) {
  DecisionTrace t;
  FakeDevice dev;
  Dispatcher d(0);
  const FakeNicView nic{dev};
  const fastwake::ReadyWhileAsleep view{nic, [&](CqId cq) { return dev.waiting[cq] != 0; }};
  const std::vector<long> starts = round_starts(s);
  const long end = starts.back();
  long p = 0;
  int next_round = 0;
  for (;;) {
    long next_event = end;
    if (dev.next < s.arrive.size()) next_event = std::min(next_event, s.arrive[dev.next].first);
    if (next_round < s.rounds) next_event = std::min(next_event, starts[next_round]);
    std::size_t best = 0;
    for (CqId cq = 0; cq < kCqs; ++cq)
      if (dev.pending[cq] > 0 && dev.waiting[cq])
        if (const std::size_t m = d.polls_until(cq); m && (!best || m < best)) best = m;
    if (best && p + static_cast<long>(best) - 1 < next_event) {
      d.skip(best - 1);
      p += static_cast<long>(best);
      const auto h = d.poll_once(view);
      if (!h) throw std::logic_error("model: the poll did not find the ready CQ");
      fastwake::trace(&t, Decision::Kind::kHandOff, h->cq, h->thread, d.core());
      dev.waiting[h->cq] = 0;
      dev.serve(h->cq);
      continue;
    }
    if (next_event >= end) break;
    d.skip(static_cast<std::size_t>(next_event - p));  // empty polls
    p = next_event;
    for (; next_round < s.rounds && starts[next_round] == p; ++next_round)
      for (const auto& [round, op] : s.ops)
        if (round == next_round)
          op.add ? d.add(op.cq, op.owner) : static_cast<void>(d.remove(op.cq));
    dev.arrive_until(s, p);
  }
  return t.decisions();
}

std::vector<CqId> handoff_cqs(const std::vector<Decision>& d) {
  std::vector<CqId> out;
  for (const Decision& x : d) out.push_back(static_cast<CqId>(x.a));
  return out;
}

std::string text(const std::vector<Decision>& d) {
  std::string s;
  for (const Decision& x : d) s += "  " + x.str() + "\n";
  return s;
}

}  // namespace shimdisp

TEST(PreloadDispatcher, HandsOffInTheModelsRoundRobinOrder) {
  using namespace shimdisp;
  Script s;
  s.rounds = 12;
  // Slots 0..3 on channels 10..13 from the start; slot 4 arrives in round 3;
  // slot 1 is destroyed in round 5 and reused (channel 16) in round 7, slot 5
  // comes (round 5) and goes (round 9).
  for (int k = 0; k < 4; ++k) s.ops.push_back({0, {true, k, 10 + k}});
  s.ops.push_back({3, {true, 4, 14}});
  s.ops.push_back({5, {false, 1, -1}});
  s.ops.push_back({5, {true, 5, 15}});
  s.ops.push_back({7, {true, 1, 16}});
  s.ops.push_back({9, {false, 5, -1}});
  // Arrivals by poll index: several at once (the cursor decides who goes
  // first), two on one CQ (one hand-off: its owner drains it), and on CQs
  // that are not registered yet or any more.
  s.arrive = {{1, 1},  {5, 3},  {5, 0},  {9, 2},  {9, 1},  {9, 0},  {9, 3},  {14, 2},
              {14, 4}, {15, 0}, {22, 4}, {22, 4}, {23, 1}, {23, 5}, {26, 3}, {30, 0},
              {30, 5}, {34, 1}, {34, 2}, {41, 4}, {41, 5}, {41, 0}, {47, 3}};
  std::stable_sort(s.arrive.begin(), s.arrive.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::vector<Decision> shim = on_shim(s), model = on_model(s);
  ASSERT_FALSE(shim.empty());
  EXPECT_TRUE(shim == model) << "shim:\n" << text(shim) << "model:\n" << text(model);
  // Round-robin from the cursor: 3 before 0 at poll 5, slot 1 reused at the end of the order, 5
  // gone.
  EXPECT_EQ(handoff_cqs(shim),
            (std::vector<CqId>{1, 3, 0, 1, 2, 3, 0, 2, 4, 0, 4, 5, 3, 5, 0, 1, 2, 4, 5, 0, 3}));
}

TEST(PreloadDispatcher, OnlyWaitingOwnersAreHandedOffOnce) {
  using namespace shimdisp;
  FakeDevice dev;
  Dispatcher d(3);
  fastwake::preload::apply_ops(d, std::vector<DispatchOp>{{true, 0, 0}, {true, 1, 1}});
  const FakeSlotProbe probe{dev};
  std::vector<CqId> got;
  auto round = [&] {
    return fastwake::preload::poll_round(
        d, probe, [&](CqId cq) { return dev.waiting[cq] != 0; },
        [&](const HandOff& h) { got.push_back(h.cq); });
  };
  // Nothing armed: the dispatcher may go to sleep.
  std::fill(dev.waiting.begin(), dev.waiting.end(), 0);
  dev.pending[0] = 1;
  auto r = round();
  EXPECT_FALSE(r.any_armed);
  EXPECT_EQ(r.handoffs, 0);
  // CQ 0's owner is awake (not armed): its completion is its own to take.
  dev.waiting[1] = 1;
  r = round();
  EXPECT_TRUE(r.any_armed);
  EXPECT_TRUE(got.empty());
  // It arms: the next round hands off, once (one-shot until it re-arms).
  dev.waiting[0] = 1;
  r = round();
  EXPECT_EQ(r.handoffs, 1);
  r = round();
  EXPECT_EQ(r.handoffs, 0);
  EXPECT_EQ(got, (std::vector<CqId>{0}));
  // Removing a registered CQ and an unknown one (already gone): one CQ is left.
  fastwake::preload::apply_ops(d, std::vector<DispatchOp>{{false, 0, -1}, {false, 7, -1}});
  EXPECT_EQ(d.size(), 1u);
  // An empty Dispatcher (no CQ registered yet) polls nothing.
  Dispatcher none(0);
  EXPECT_FALSE(fastwake::preload::poll_round(
                   none, probe, [](CqId) { return true; }, [](const HandOff&) {})
                   .any_armed);
}

namespace slotpoll {

// The shim's Slot as slot_poll.h sees it (ints for completions).
struct FakeSlot {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int stash[4] = {};
  int head = 0, count = 0;
  std::atomic<int> armed{0};
  std::atomic<int> app_missed{0};
};

// A provider poll the dispatcher makes that can be held up, as a SCHED_IDLE
// dispatcher preempted inside the provider would be.
struct HeldPoll {
  std::atomic<bool> inside{false}, release{false};
  int result = 0;  // completions to return (value 42) once released
  int operator()(int, int* wc) {
    inside = true;
    while (!release) std::this_thread::yield();
    if (result > 0) *wc = 42;
    return result;
  }
};

// Runs dispatcher_check on another thread with the held provider; returns its result.
struct DispatcherThread {
  FakeSlot& s;
  HeldPoll poll;
  std::atomic<int> claims{0};
  bool result = false;
  std::thread t;
  explicit DispatcherThread(FakeSlot& slot, int found) : s(slot) {
    poll.result = found;
    t = std::thread([this] {
      result = fastwake::preload::dispatcher_check<FakeSlot, int>(
          s, [] { return true; }, [this](int n, int* wc) { return poll(n, wc); },
          [this] { ++claims; });
    });
    while (!poll.inside) std::this_thread::yield();
  }
  bool finish() {
    poll.release = true;
    t.join();
    return result;
  }
};

}  // namespace slotpoll

// The application's ibv_poll_cq while the dispatcher sits inside the
// provider's poll holding the CQ's mutex: it returns at once (0, skipped),
// instead of waiting for an idle-priority thread (priority inversion).
TEST(PreloadSlotPoll, ApplicationPollNeverWaitsForTheDispatchersPoll) {
  using namespace slotpoll;
  FakeSlot s;
  s.armed = 1;
  DispatcherThread disp(s, 1);  // now inside the provider, the mutex held, until finish()
  int app_provider_calls = 0;
  int wc[4] = {};
  const auto t0 = std::chrono::steady_clock::now();
  const fastwake::preload::AppPoll p = fastwake::preload::app_poll(s, 4, wc, [&](int, int*) {
    ++app_provider_calls;
    return 0;
  });
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(p.skipped);
  EXPECT_EQ(p.stashed + p.polled, 0);
  EXPECT_EQ(app_provider_calls, 0) << "no provider poll without the mutex (order)";
  EXPECT_LT(waited, std::chrono::milliseconds(200)) << "the application waited for the dispatcher";
  EXPECT_EQ(s.app_missed.load(), 1);
  // The dispatcher's poll finds a completion: stashed, CQ disarmed, wake claimed.
  EXPECT_TRUE(disp.finish());
  EXPECT_EQ(disp.claims.load(), 1);
  EXPECT_EQ(s.armed.load(), 0);
  EXPECT_EQ(s.app_missed.load(), 0) << "the claimed event covers the skipped poll";
  // The application's next poll gets it from the stash, then polls the provider.
  const fastwake::preload::AppPoll q =
      fastwake::preload::app_poll(s, 4, wc, [&](int, int*) { return 0; });
  EXPECT_FALSE(q.skipped);
  EXPECT_EQ(q.stashed, 1);
  EXPECT_EQ(wc[0], 42);
}

// The case the second look exists for: the application armed with a
// completion already in the stash (announced before), its poll after the arm
// is skipped, and it goes to sleep. The dispatcher's poll finds nothing new,
// so only the skipped poll's flag makes it raise the event.
TEST(PreloadSlotPoll, SkippedPollIsNotALostWakeUp) {
  using namespace slotpoll;
  FakeSlot s;
  s.stash[0] = 7;
  s.count = 1;
  s.armed = 1;
  {
    // Control: without a skipped poll, an already-announced stash does not fire again.
    DispatcherThread disp(s, 0);
    EXPECT_FALSE(disp.finish());
    EXPECT_EQ(s.armed.load(), 1);
  }
  DispatcherThread disp(s, 0);
  int wc[4] = {};
  EXPECT_TRUE(fastwake::preload::app_poll(s, 4, wc, [](int, int*) { return 0; }).skipped);
  EXPECT_TRUE(disp.finish()) << "the skipped poll's completion must be announced";
  EXPECT_EQ(disp.claims.load(), 1);
  EXPECT_EQ(s.armed.load(), 0);
  const fastwake::preload::AppPoll q =
      fastwake::preload::app_poll(s, 4, wc, [](int, int*) { return 0; });
  EXPECT_EQ(q.stashed, 1);
  EXPECT_EQ(wc[0], 7);
}

// Stash first, then the provider, in one call under the mutex: CQ order.
TEST(PreloadSlotPoll, StashComesBeforeTheProviderAndAFullStashFires) {
  using namespace slotpoll;
  FakeSlot s;
  s.armed = 1;
  int next = 1;
  const auto provider = [&](int n, int* wc) {
    for (int i = 0; i < n; ++i) wc[i] = next++;
    return n;
  };
  int claims = 0;
  for (int i = 0; i < 4; ++i) {
    s.armed = 1;
    EXPECT_TRUE((fastwake::preload::dispatcher_check<FakeSlot, int>(
        s, [] { return true; }, provider, [&] { ++claims; })));
  }
  EXPECT_EQ(s.count, 4);
  s.armed = 1;
  const auto no_poll = [](int, int*) -> int {
    ADD_FAILURE() << "polled a full stash";
    return 0;
  };
  EXPECT_TRUE((fastwake::preload::dispatcher_check<FakeSlot, int>(
      s, [] { return true; }, no_poll, [&] { ++claims; })))
      << "a full stash is ready without a poll";
  EXPECT_EQ(claims, 5);
  // A dead (or foreign) slot is never polled or fired.
  s.armed = 1;
  EXPECT_FALSE((fastwake::preload::dispatcher_check<FakeSlot, int>(
      s, [] { return false; }, provider, [&] { ++claims; })));
  int wc[6] = {};
  const fastwake::preload::AppPoll p = fastwake::preload::app_poll(s, 6, wc, provider);
  EXPECT_EQ(p.stashed, 4);
  EXPECT_EQ(p.polled, 2);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(wc[i], i + 1) << i;
}

namespace startseam {
std::atomic<int> calls{0};
std::atomic<bool> fail{true};
int fake_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) {
  ++calls;
  return fail ? EAGAIN : 0;
}
std::atomic<int> blocked_in_thread{-1};
void* probe_thread(void*) {
  sigset_t cur;
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  blocked_in_thread = sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGINT) ? 1 : 0;
  return nullptr;
}
}  // namespace startseam

// pthread_create failing (the seam): ensure() reports the error, nothing is
// recorded as running (the shim then leaves the channel on the stock path and
// tries again later); once it succeeds it is not started again for the same
// process, but is for a fork child (another pid).
TEST(PreloadDispatcherStart, FailedCreateIsReportedAndRetried) {
  using namespace startseam;
  fastwake::preload::DispatcherStarter st(fake_create);
  fail = true;
  EXPECT_EQ(st.ensure(100, probe_thread, nullptr), EAGAIN);
  EXPECT_FALSE(st.running_for(100));
  EXPECT_EQ(st.ensure(100, probe_thread, nullptr), EAGAIN) << "tried again";
  EXPECT_EQ(calls.load(), 2);
  fail = false;
  EXPECT_EQ(st.ensure(100, probe_thread, nullptr), 0);
  EXPECT_TRUE(st.running_for(100));
  EXPECT_EQ(st.ensure(100, probe_thread, nullptr), 0);
  EXPECT_EQ(calls.load(), 3) << "started once per process";
  EXPECT_FALSE(st.running_for(101));
  EXPECT_EQ(st.ensure(101, probe_thread, nullptr), 0);
  EXPECT_EQ(calls.load(), 4) << "a fork child (another pid) starts its own";
}

TEST(PreloadDispatcherStart, RealThreadStartsWithEverySignalBlocked) {
  using namespace startseam;
  fastwake::preload::DispatcherStarter st;  // pthread_create
  ASSERT_EQ(st.ensure(getpid(), probe_thread, nullptr), 0);
  for (int i = 0; i < 5000 && blocked_in_thread.load() < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(blocked_in_thread.load(), 1);
  sigset_t cur;
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  EXPECT_FALSE(sigismember(&cur, SIGUSR1)) << "the caller's mask is restored";
}

TEST(SideChannel, ExchangesMessagesAndReportsPeerErrors) {
  TcpListener l("127.0.0.1", 0);
  ASSERT_GT(l.port(), 0);
  std::thread peer([&] {
    SideChannel c = SideChannel::connect("127.0.0.1", l.port(), 5);
    c.send({{"type", "hello"}, {"n", 3}});
    const auto r = c.expect("ready", 5000);
    c.send({{"type", "error"}, {"message", "configs differ (x)"}});
  });
  auto s = l.accept(5000);
  ASSERT_TRUE(s);
  const auto hello = s->expect("hello", 5000);
  EXPECT_EQ(hello["n"], 3);
  EXPECT_FALSE(s->recv(50));  // nothing pending: times out
  s->send({{"type", "ready"}});
  try {
    s->expect("go", 5000);
    ADD_FAILURE() << "an error message must throw";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("configs differ (x)"), std::string::npos) << e.what();
  }
  peer.join();
  EXPECT_THROW(s->recv(2000), DeviceError);  // the peer closed
}

TEST(SideChannel, ConnectFailsClearly) {
  int port = 0;
  {
    TcpListener l("127.0.0.1", 0);
    port = l.port();
  }
  try {
    SideChannel::connect("127.0.0.1", port, 0.3);
    ADD_FAILURE() << "connect to a closed port must fail";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("fastwake-bench server"), std::string::npos) << e.what();
  }
}

TEST(QpInfo, RoundTripsThroughJson) {
  QpInfo q;
  q.qpn = 0x1234;
  q.psn = 0xabcdef;
  q.lid = 7;
  for (int i = 0; i < 16; ++i) q.gid[i] = static_cast<std::uint8_t>(i * 17);
  const QpInfo r = QpInfo::from_json(q.to_json());
  EXPECT_EQ(r.qpn, q.qpn);
  EXPECT_EQ(r.psn, q.psn);
  EXPECT_EQ(r.lid, q.lid);
  EXPECT_EQ(r.gid, q.gid);
  EXPECT_THROW(QpInfo::from_json({{"qpn", 1}}), DeviceError);
  EXPECT_THROW(QpInfo::from_json({{"qpn", 1}, {"psn", 2}, {"lid", 3}, {"gid", "zz"}}), DeviceError);
}

TEST(VerbsCli, BadOptionsExitTwoWithAReason) {
  struct Case {
    const char* args;
    const char* says;
  } cases[] = {
      {"client", "give the server's address"},
      {"client 127.0.0.1 -n 0", "-n: expected an integer"},
      {"client 127.0.0.1 --bogus", "unknown option --bogus"},
      {"server --set host.app_cores=1 --cpus 9999", "--cpus: no such CPU 9999"},
      {"server -X abc", "-X: expected an integer"},
      {"server --tx-depth 4", "--tx-depth"},
      {"server -d", "-d needs a value"},
      {"server --idle-timeout 0", "--idle-timeout"},
      {"server --idle-timeout", "--idle-timeout needs a value"},
  };
  for (const auto& c : cases) {
    const Out o = run_bench(c.args);
    EXPECT_EQ(o.code, 2) << c.args << "\n" << o.text;
    EXPECT_NE(o.text.find(c.says), std::string::npos) << c.args << "\n" << o.text;
  }
}

TEST(VerbsCli, NoDeviceIsARunFailureThatSaysWhy) {
  if (host_has_rdma()) GTEST_SKIP() << "this host has an RDMA device";
  const Out o = run_bench("client 127.0.0.1 -q");
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_NE(o.text.find("no RDMA device"), std::string::npos) << o.text;
}

// perftest's columns of the replay client (verbs_replay.h perftest_columns):
// RTT/2 in usec, t_typical the median, as perftest's print_report_lat.
TEST(PerftestColumns, HalfTheRoundTripWithPerftestsDefinitions) {
  fastwake::Histogram h;
  // 1000 round trips: 999 of 2000..2998 ns (exact below 2048, within 0.05 % above), one of 20 us.
  for (int i = 0; i < 999; ++i) h.record(2000 + i);
  h.record(20000);
  const nlohmann::json p = perftest_columns(h, 64);
  EXPECT_EQ(p["bytes"], 64);
  EXPECT_EQ(p["iterations"], 1000u);
  EXPECT_DOUBLE_EQ(p["t_min"].get<double>(), 1.0);   // 2000 ns / 2
  EXPECT_DOUBLE_EQ(p["t_max"].get<double>(), 10.0);  // 20000 ns / 2
  EXPECT_NEAR(p["t_typical"].get<double>(), (2000 + 499) / 2e3, 1.3e-3);  // nearest-rank median
  const double mean_ns = (999 * (2000 + 998 / 2.0) + 20000) / 1000;
  EXPECT_NEAR(p["t_avg"].get<double>(), mean_ns / 2e3, 1e-9);  // the exact mean
  double sq = 0;
  for (int i = 0; i < 999; ++i) sq += (2000 + i - mean_ns) * (2000 + i - mean_ns);
  sq += (20000 - mean_ns) * (20000 - mean_ns);
  EXPECT_NEAR(p["t_stdev"].get<double>(), std::sqrt(sq / 1000) / 2e3, 2e-3);
  EXPECT_NEAR(p["p99"].get<double>(), (2000 + 989) / 2e3, 2e-3);   // rank ceil(0.99 n) = 990
  EXPECT_NEAR(p["p999"].get<double>(), (2000 + 998) / 2e3, 2e-3);  // rank 999
  const nlohmann::json empty = perftest_columns(fastwake::Histogram(), 2);
  EXPECT_EQ(empty["iterations"], 0u);
  EXPECT_EQ(empty["t_stdev"].get<double>(), 0.0);
}

TEST(PerftestColumns, SummaryPrintsPerftestsHeaderBesideTheRoundTrip) {
  nlohmann::json doc = {{"results", nlohmann::json::array()}};
  fastwake::Histogram h;
  for (int i = 0; i < 100; ++i) h.record(4000);
  doc["results"].push_back({{"strategy", "interrupt"},
                            {"extra", {{"perftest", perftest_columns(h, 2)},
                                       {"sent", 100}, {"served", 100}, {"events", 100},
                                       {"handoffs", 0}}}});
  std::ostringstream out;
  print_verbs_summary(doc, out);
  const std::string t = out.str();
  for (const char* col : {"#bytes", "#iterations", "t_min[usec]", "t_max[usec]", "t_typical[usec]",
                          "t_avg[usec]", "t_stdev[usec]", "99% percentile[usec]",
                          "99.9% percentile[usec]"})
    EXPECT_NE(t.find(col), std::string::npos) << col << "\n" << t;
  EXPECT_NE(t.find("2.00"), std::string::npos) << t;  // 4 us round trip -> 2.00 usec
}

// The replay tool's perftest letters reach the options and the config
// (--print-config: no NIC needed).
TEST(VerbsCli, PerftestLettersReachTheConfig) {
  Out o = run_bench("client 127.0.0.1 -F -s 64 -n 500 -e -d rxe0 -x 1 -p 18700 --print-config -q");
  ASSERT_EQ(o.code, 0) << o.text;
  const auto j = nlohmann::json::parse(o.text);
  EXPECT_EQ(j["config"]["workload"]["message_bytes"], 64);
  EXPECT_EQ(j["config"]["strategies"], nlohmann::json::array({"interrupt"}));
  EXPECT_EQ(j["replay"]["iterations"], 500);
  EXPECT_EQ(j["replay"]["device"], "rxe0");
  EXPECT_EQ(j["replay"]["gid_index"], 1);
  EXPECT_EQ(j["replay"]["port"], 18700);
  EXPECT_EQ(j["replay"]["notes"].size(), 1u);  // -F: accepted, ignored
  o = run_bench("server --size=128 -D 0.5 --cpus=0-1 --print-config -q");
  ASSERT_EQ(o.code, 0) << o.text;
  const auto s = nlohmann::json::parse(o.text);
  EXPECT_EQ(s["config"]["workload"]["message_bytes"], 128);
  EXPECT_EQ(s["replay"]["app_cpus"], nlohmann::json::array({0, 1}));
  o = run_bench("client 127.0.0.1 -a");
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_NE(o.text.find("-a,--all"), std::string::npos) << o.text;
  o = run_bench("client 127.0.0.1 -F --print-config");  // not quiet: the note is printed
  EXPECT_NE(o.text.find("note: -F,--CPU-freq accepted"), std::string::npos) << o.text;
}
