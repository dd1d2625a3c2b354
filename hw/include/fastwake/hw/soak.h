// Soak: the configured strategies on the loopback, round after round, for a
// given time; checks exactly-once delivery of every request and that the
// process's resident memory and open fd count stay flat (docs/hw.md "Soak").
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/hw/runtime.h"

namespace fastwake::hw {

/// One reading, taken after each round (every strategy once).
struct SoakSample {
  double t_s = 0;  ///< seconds since the soak started
  std::uint64_t requests = 0, lost = 0, duplicated = 0;  ///< this round's
  std::uint64_t late = 0;  ///< answered more than kLateAfterS after the window
  double rss_mb = 0;  ///< VmRSS of this process
  int fds = 0;        ///< entries in /proc/self/fd
};

/// The leak rule (documented in docs/hw.md):
///  - warm-up: the first quarter of the samples (at least one) is ignored --
///    the first runs grow glibc's per-thread arenas, the histograms' pages and
///    the kernel-count buffers to their steady size;
///  - fds: after the warm-up the count must be exactly the same in every
///    sample (every run opens and closes the same eventfds/files; one fd more
///    is a leak, there is no noise to tolerate);
///  - RSS: the median of the last quarter of the post-warm-up samples may
///    exceed the median of its first quarter by at most rss_tolerance_mb
///    (medians, so one sample taken while a run's buffers were live does not
///    decide; the tolerance absorbs allocator fragmentation, which plateaus,
///    while a leak of even 1 kB per request exceeds it within minutes).
/// Needs >= 4 samples after the warm-up to judge RSS; fewer: no verdict on
/// RSS (reason says so), fds still checked.
struct LeakVerdict {
  bool fd_leak = false, rss_leak = false;
  double rss_growth_mb = 0;
  int fd_growth = 0;
  std::string reason;  ///< empty when flat
  bool ok() const { return !fd_leak && !rss_leak; }
};
constexpr double kSoakRssToleranceMb = 8.0;
LeakVerdict check_leaks(const std::vector<SoakSample>& samples,
                        double rss_tolerance_mb = kSoakRssToleranceMb);

/// VmRSS of this process in MB (/proc/self/status), and /proc/self/fd's entries.
double process_rss_mb();
int process_fd_count();

struct SoakOptions {
  double minutes = 1;
  std::ostream* progress = nullptr;  ///< one line per round (nullptr: quiet)
};

/// Runs cfg's strategies round after round until `minutes` have passed (the
/// last round is finished). The document: "samples" (one per round),
/// "minutes" (the table's rows), "verdict" {ok, lost, duplicated, leak...}.
nlohmann::json run_loopback_soak(const Config& cfg, const HwOptions& opt, const SoakOptions& so);

/// The table of a soak document (minute, requests, lost, duplicated, RSS MB,
/// fds) and its verdict line.
void print_soak_table(const nlohmann::json& doc, std::ostream& out);

}  // namespace fastwake::hw
