// Unit tests of core's policies: histogram, dispatcher, remapper, thread loop,
// strategy registry.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "fastwake/dispatcher.h"
#include "fastwake/errors.h"
#include "fastwake/histogram.h"
#include "fastwake/remapper.h"
#include "fastwake/strategy.h"
#include "fastwake/thread_loop.h"

using namespace fastwake;

// ------------------------------------------------------------------ histogram

TEST(Histogram, ExactBelow2048AndEmpty) {
  Histogram h;
  EXPECT_EQ(h.quantile(0.5), 0.0);
  for (Nanos v = 0; v < 2048; ++v) h.record(v);
  EXPECT_EQ(h.count(), 2048u);
  EXPECT_EQ(h.quantile(0.5), 1023.0);  // nearest rank 1024 -> value 1023
  EXPECT_EQ(h.quantile(1.0), 2047.0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 2047);
  EXPECT_DOUBLE_EQ(h.mean(), 1023.5);
}

TEST(Histogram, QuantilesWithinOneTenthPercent) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(9.0, 1.5);  // ~8 us median, long tail
  std::vector<Nanos> vals;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    const Nanos v = static_cast<Nanos>(d(rng));
    vals.push_back(v);
    h.record(v);
  }
  std::sort(vals.begin(), vals.end());
  for (double q : {0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999}) {
    const std::size_t rank = static_cast<std::size_t>(std::ceil(q * vals.size()));
    const double exact = static_cast<double>(vals[rank - 1]);
    EXPECT_NEAR(h.quantile(q), exact, exact * 0.001 + 0.5) << "q=" << q;
  }
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  Histogram a, b, all;
  for (Nanos v = 1; v < 100000; v += 37) {
    (v % 2 ? a : b).record(v * 13);
    all.record(v * 13);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {0.1, 0.5, 0.99}) EXPECT_EQ(a.quantile(q), all.quantile(q));
}

TEST(Histogram, ClampsNegativeAndHuge) {
  Histogram h;
  h.record(-5);
  h.record(std::int64_t{1} << 50);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_LE(h.quantile(1.0), static_cast<double>(std::int64_t{1} << 50));
}

// ------------------------------------------------------------------ dispatcher

struct FakeNic {
  std::set<CqId> ready;
  bool cq_ready(CqId cq) const { return ready.count(cq) > 0; }
};

TEST(Dispatcher, RoundRobinResumesAfterServedCq) {
  Dispatcher d(0);
  for (int i = 0; i < 4; ++i) d.add(10 + i, i);
  FakeNic nic;
  nic.ready = {10, 12};
  auto h = d.poll_once(nic);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cq, 10);
  EXPECT_EQ(h->thread, 0);
  // CQ 10 stays ready (busy connection) but the scan moves on: 11 (empty), 12.
  EXPECT_FALSE(d.poll_once(nic));
  h = d.poll_once(nic);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cq, 12);
  EXPECT_FALSE(d.poll_once(nic));  // 13
  h = d.poll_once(nic);            // wraps to 10
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cq, 10);
}

TEST(Dispatcher, PollsUntilAndSkipMatchPollOnce) {
  Dispatcher d(0);
  for (int i = 0; i < 7; ++i) d.add(i, i);
  FakeNic nic;
  for (int start = 0; start < 7; ++start)
    for (int target = 0; target < 7; ++target) {
      Dispatcher a = d, b = d;
      a.skip(start);
      b.skip(start);
      nic.ready = {target};
      const std::size_t m = a.polls_until(target);
      ASSERT_GE(m, 1u);
      ASSERT_LE(m, 7u);
      std::size_t n = 0;
      std::optional<HandOff> h;
      while (!(h = b.poll_once(nic))) ++n;
      EXPECT_EQ(n + 1, m);
      EXPECT_EQ(h->cq, target);
      a.skip(m - 1);
      EXPECT_TRUE(a.poll_once(nic));
      EXPECT_EQ(a.cursor(), b.cursor());
    }
  EXPECT_EQ(d.polls_until(99), 0u);
}

TEST(Dispatcher, RemoveKeepsNextCq) {
  Dispatcher d(0);
  for (int i = 0; i < 5; ++i) d.add(i, i);
  d.skip(3);  // next poll: CQ 3
  EXPECT_TRUE(d.remove(1));
  EXPECT_FALSE(d.remove(1));
  FakeNic nic;
  nic.ready = {3};
  auto h = d.poll_once(nic);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cq, 3);
  EXPECT_EQ(d.size(), 4u);
  FakeNic none;
  Dispatcher empty(1);
  EXPECT_FALSE(empty.poll_once(none));
}

// ------------------------------------------------------------------ remapper

TEST(Remapper, InitialPlacementFollowsThreads) {
  AffinityRemapper r({}, {0, 1, 1});
  r.add_cq(0, 0, 1);
  r.add_cq(1, 1, 1);
  r.add_cq(2, 2, 0);
  auto moves = r.place_initial();
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(r.vector_core(0), 1);
  EXPECT_EQ(r.vector_core(1), 1);
  EXPECT_EQ(r.vector_core(2), 0);
  EXPECT_FALSE(r.next_deadline());
}

TEST(Remapper, ReactionDelayAndHysteresis) {
  AffinityRemapper r({/*reaction_delay_ns=*/100, /*hysteresis_ns=*/1000}, {0});
  r.add_cq(0, 0, 0);
  r.place_initial();
  r.thread_at(0, 0, 10);  // no change: nothing pending
  EXPECT_FALSE(r.next_deadline());
  r.thread_at(0, 1, 50);
  ASSERT_TRUE(r.next_deadline());
  EXPECT_EQ(*r.next_deadline(), 150);
  EXPECT_TRUE(r.due(149).empty());
  auto m = r.due(150);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].to, 1);
  // Moves back soon after: the hysteresis holds it until last_move + 1000.
  r.thread_at(0, 0, 200);
  EXPECT_EQ(*r.next_deadline(), 1150);
  EXPECT_TRUE(r.due(1149).empty());
  EXPECT_EQ(r.due(1150).size(), 1u);
  EXPECT_EQ(r.vector_core(0), 0);
  EXPECT_EQ(r.moves_done(), 2);
}

TEST(Remapper, BounceBackCancelsPendingMove) {
  AffinityRemapper r({100, 0}, {0});
  r.add_cq(0, 0, 0);
  r.thread_at(0, 1, 0);
  r.thread_at(0, 0, 50);  // came back before the delay ran out
  EXPECT_FALSE(r.next_deadline());
  EXPECT_TRUE(r.due(1000).empty());
}

TEST(Remapper, SharedVectorGoesToMajorityTiesKeepCurrent) {
  AffinityRemapper r({0, 0}, {0});
  r.add_cq(0, 0, 0);
  r.add_cq(1, 0, 1);
  EXPECT_TRUE(r.place_initial().empty());  // 1:1 tie keeps core 0
  r.add_cq(2, 0, 1);
  r.thread_at(2, 1, 5);  // (already there) no change recorded
  r.thread_at(0, 1, 5);  // now all three on core 1
  auto m = r.due(5);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].to, 1);
}

TEST(Remapper, RemovedCqNoLongerVotes) {
  // The shim's CQs come and go: a destroyed CQ's thread must not keep its vector.
  AffinityRemapper r({0, 0}, {0});
  r.add_cq(0, 0, 1);
  r.add_cq(1, 0, 1);
  r.add_cq(2, 0, 2);
  ASSERT_EQ(r.place_initial().size(), 1u);  // two votes for core 1
  r.remove_cq(0, 10);
  r.remove_cq(1, 10);
  auto m = r.due(10);  // only CQ 2 (core 2) is left
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].to, 2);
  r.remove_cq(1, 20);  // twice, or never added: ignored
  r.remove_cq(7, 20);
  r.thread_at(0, 3, 20);  // a removed CQ's reports are ignored
  EXPECT_FALSE(r.next_deadline());
  r.add_cq(0, 0, 2);  // the id is reused
  r.thread_at(0, 3, 30);
  r.thread_at(2, 3, 30);
  EXPECT_EQ(r.due(30).size(), 1u);
  EXPECT_EQ(r.vector_core(0), 3);
}

TEST(Remapper, RejectsBadInput) {
  EXPECT_THROW(AffinityRemapper({-1, 0}, {0}), ConfigError);
  AffinityRemapper r({}, {0});
  EXPECT_THROW(r.add_cq(0, 3, 0), ConfigError);
}

// ------------------------------------------------------------------ thread loop, strategies

TEST(ThreadLoop, BlockModeFollowsRcPingpongOrder) {
  ThreadLoop l(WaitMode::kBlock);
  EXPECT_EQ(l.first(), Step::kArm);
  EXPECT_EQ(l.next(Step::kArm), Step::kPoll);
  EXPECT_EQ(l.next(Step::kPoll, true), Step::kServe);
  EXPECT_EQ(l.next(Step::kServe), Step::kPost);
  EXPECT_EQ(l.next(Step::kPost), Step::kPoll);
  EXPECT_EQ(l.next(Step::kPoll, false), Step::kWait);
  EXPECT_EQ(l.next(Step::kWait), Step::kArm);
}

TEST(ThreadLoop, SpinAndDispatcherModes) {
  ThreadLoop s(WaitMode::kSpin);
  EXPECT_EQ(s.first(), Step::kPoll);
  EXPECT_EQ(s.next(Step::kPoll, false), Step::kSpin);
  EXPECT_EQ(s.next(Step::kSpin), Step::kPoll);
  ThreadLoop d(WaitMode::kDispatcher);
  EXPECT_EQ(d.first(), Step::kYieldDispatcher);
  EXPECT_EQ(d.next(Step::kYieldDispatcher), Step::kPoll);
  EXPECT_EQ(d.next(Step::kPoll, false), Step::kYieldDispatcher);
}

TEST(Strategies, BuiltinsAndRegistry) {
  std::vector<std::string> names;
  for (const auto& s : strategies()) names.push_back(s.name);
  for (const char* n : {"busy_poll", "interrupt", "fastwake_poll", "fastwake_irq",
                        "fastwake_irq_affinity_only", "fastwake_irq_wakepath_only"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_TRUE(find_strategy("fastwake_irq").remap_affinity);
  EXPECT_FALSE(find_strategy("fastwake_irq").wake_path.has(WakeStage::kReadReturn));
  EXPECT_TRUE(find_strategy("fastwake_irq").wake_path.implemented());
  EXPECT_FALSE(find_strategy("fastwake_irq_deep").wake_path.implemented());  // a proposal
  EXPECT_TRUE(find_strategy("fastwake_irq_affinity_only").wake_path.has(WakeStage::kReadReturn));
  EXPECT_FALSE(find_strategy("fastwake_irq_wakepath_only").remap_affinity);
  try {
    find_strategy("nope");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("busy_poll"), std::string::npos);
  }
  register_strategy({"test_only_spin", "test", WaitMode::kSpin, WakePath::stock(), false});
  EXPECT_EQ(find_strategy("test_only_spin").wait, WaitMode::kSpin);
  EXPECT_THROW(register_strategy({"interrupt", "dup", WaitMode::kBlock, WakePath::stock(), false}),
               ConfigError);
}
