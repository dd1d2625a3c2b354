// The replay tool's command line without a NIC (tools/replay_args.h):
// perftest's letters mapped, accepted with a note, or refused with the reason;
// --opt=value; messages that name the option as typed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fastwake/cli_app.h"
#include "fastwake/errors.h"
#include "replay_args.h"

using fastwake::tools::ReplayArgs;
using fastwake::tools::ReplaySide;

namespace {

/// Parses "fastwake-bench <side> ARGS..." and finishes; returns "" or the
/// parse error's message (as the tool prints it).
struct Parsed {
  ReplayArgs a;
  std::string error;
};

Parsed parse(ReplaySide side, std::vector<std::string> args, bool finish = true) {
  Parsed p;
  CLI::App app("t", "fastwake-bench");
  CLI::App* sub = app.add_subcommand(side == ReplaySide::kClient ? "client" : "server");
  fastwake::tools::add_replay_options(*sub, p.a, side);
  args.insert(args.begin(), sub->get_name());
  std::vector<char*> argv{const_cast<char*>("fastwake-bench")};
  for (auto& s : args) argv.push_back(s.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    if (finish) fastwake::tools::finish_replay_args(p.a);
  } catch (const CLI::ParseError& e) {
    p.error = fastwake::cli::describe(e, app, {args.begin(), args.end()});
  } catch (const fastwake::ConfigError& e) {
    p.error = e.what();
  }
  return p;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

}  // namespace

TEST(ReplayArgs, PerftestLettersMeanWhatTheyMeanInIbSendLat) {
  const Parsed p = parse(ReplaySide::kClient, {"10.0.0.2", "-d", "rxe0", "-i", "2", "-x", "3",
                                               "-p", "18600", "-s", "64", "-n", "1000", "-e",
                                               "-r", "128", "cfg.json"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.a.server, "10.0.0.2");
  EXPECT_EQ(p.a.config.value_or(""), "cfg.json");
  EXPECT_EQ(p.a.device, "rxe0");
  EXPECT_EQ(p.a.ib_port, 2);
  EXPECT_EQ(p.a.gid_index, 3);
  EXPECT_EQ(p.a.port, 18600);
  EXPECT_EQ(p.a.iters, 1000);
  EXPECT_EQ(p.a.rx_depth, 128);
  EXPECT_TRUE(has(p.a.sets, "workload.message_bytes=64"));
  EXPECT_TRUE(has(p.a.sets, "strategies=[\"interrupt\"]"));  // -e: the stock event path
  EXPECT_TRUE(p.a.notes.empty());
}

TEST(ReplayArgs, LongFormsWithEqualsAndAttachedShortValues) {
  const Parsed p = parse(ReplaySide::kClient, {"host", "--size=256", "--ib-dev=mlx5_0",
                                               "--iters=50", "--port=18601", "--cpu=3",
                                               "--strategy=interrupt,fastwake_irq"});
  ASSERT_EQ(p.error, "");
  EXPECT_TRUE(has(p.a.sets, "workload.message_bytes=256"));
  EXPECT_TRUE(has(p.a.sets, "strategies=[\"interrupt\",\"fastwake_irq\"]"));
  EXPECT_EQ(p.a.device, "mlx5_0");
  EXPECT_EQ(p.a.iters, 50);
  EXPECT_EQ(p.a.port, 18601);
  EXPECT_EQ(p.a.cpu, 3);
  const Parsed q = parse(ReplaySide::kClient, {"host", "-s64", "-n10"});
  ASSERT_EQ(q.error, "");
  EXPECT_TRUE(has(q.a.sets, "workload.message_bytes=64"));
  EXPECT_EQ(q.a.iters, 10);
}

TEST(ReplayArgs, DurationMapsToTheConfig) {
  const Parsed p = parse(ReplaySide::kClient, {"host", "-D", "2.5"});
  ASSERT_EQ(p.error, "");
  EXPECT_TRUE(has(p.a.sets, "run.duration_ms=2500"));
  EXPECT_NE(parse(ReplaySide::kClient, {"host", "-D", "2", "-n", "100"}).error.find("-D and -n"),
            std::string::npos);
}

TEST(ReplayArgs, MinusFIsAcceptedWithANote) {
  for (const char* f : {"-F", "--CPU-freq"}) {
    const Parsed p = parse(ReplaySide::kClient, {"host", f});
    ASSERT_EQ(p.error, "") << f;
    ASSERT_EQ(p.a.notes.size(), 1u) << f;
    EXPECT_NE(p.a.notes[0].find("CLOCK_MONOTONIC"), std::string::npos) << p.a.notes[0];
  }
  // The server: -n and -e are the client's to give; accepted with a note.
  const Parsed s = parse(ReplaySide::kServer, {"-F", "-n", "1000", "-e", "-X", "2", "--cpus", "2-3"});
  ASSERT_EQ(s.error, "");
  EXPECT_EQ(s.a.notes.size(), 3u);
  EXPECT_EQ(s.a.comp_vector, 2);
  EXPECT_EQ(s.a.app_cpus, (std::vector<int>{2, 3}));
}

TEST(ReplayArgs, LettersWithoutAReplayMeaningAreRefusedWithTheReason) {
  struct Case {
    ReplaySide side;
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {ReplaySide::kClient, {"host", "-a"}, "-a,--all: the replay runs one message size"},
           {ReplaySide::kClient, {"host", "-C"}, "microseconds"},
           {ReplaySide::kServer, {"-R"}, "rdma_cm"},
           {ReplaySide::kServer, {"-m", "1024"}, "-m,--mtu"},
           {ReplaySide::kClient, {"host", "--out_json"}, "--json FILE"},
           {ReplaySide::kClient, {"host", "-X", "1"}, "give -X to the server"},
           {ReplaySide::kClient, {"host", "-c", "UD"}, "RC queue pairs only"},
           {ReplaySide::kClient, {"host", "-e", "--strategy", "busy_poll"}, "-e and --strategy"},
           {ReplaySide::kClient, {}, "give the server's address"},
       }) {
    const Parsed p = parse(c.side, c.args);
    EXPECT_NE(p.error.find(c.says), std::string::npos) << p.error;
  }
  EXPECT_EQ(parse(ReplaySide::kClient, {"host", "-c", "rc"}).error, "");  // RC, any case
}

TEST(ReplayArgs, BadValuesNameTheOptionAsTyped) {
  EXPECT_EQ(parse(ReplaySide::kClient, {"host", "-n", "0"}).error,
            "-n: expected an integer in 1..2000000000, got '0'");
  EXPECT_EQ(parse(ReplaySide::kClient, {"host", "--iters=x"}).error,
            "--iters: expected an integer in 1..2000000000, got 'x'");
  EXPECT_EQ(parse(ReplaySide::kServer, {"-d"}).error, "-d needs a value");
  EXPECT_EQ(parse(ReplaySide::kServer, {"--device"}).error, "--device needs a value");
  EXPECT_EQ(parse(ReplaySide::kServer, {"-X", "abc"}).error,
            "-X: expected an integer in 0..4095, got 'abc'");
  EXPECT_EQ(parse(ReplaySide::kServer, {"--cpus", "5-2"}).error,
            "--cpus: range '5-2' goes down (write 2-5)");
  EXPECT_EQ(parse(ReplaySide::kServer, {"--bogus"}).error, "unknown option --bogus");
}
