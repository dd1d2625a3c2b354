// Preload shim, exit report: with FW_PRELOAD_STATS (or FW_PRELOAD_VERBOSE),
// one JSON line per process at exit with every counter and "balanced" (see
// shim_state.h): the destroyed CQs' folded totals plus every live CQ and
// queued event of this process (a fork child reports only its own).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shim_state.h"

namespace fastwake::preload {
namespace {

__attribute__((destructor)) void fw_report() {
  const char* dest = std::getenv("FW_PRELOAD_STATS");
  if (!dest && !g_verbose) return;
  std::uint64_t arms = g_tot.arms, raised = g_tot.raised, polled = g_tot.polled,
                stashed = g_tot.stashed, unstashed = g_tot.unstashed, emu_d = g_tot.emu_delivered,
                emu_a = g_tot.emu_acked, real_d = g_tot.real_delivered, real_a = g_tot.real_acked,
                in_stash = 0, pending = 0;
  for (int i = 0; i < g_high_water.load(); ++i) {
    Slot& s = g_slot[i];
    if (!s.cq.load() || inherited(s.pid)) continue;  // a fork child reports only its own CQs
    arms += s.arms;
    raised += s.raised;
    polled += s.polled;
    stashed += s.stashed;
    unstashed += s.unstashed;
    spin_lock(s.ack_lock);
    emu_d += s.emu_delivered;
    emu_a += s.emu_acked;
    real_d += s.real_delivered;
    real_a += s.real_acked;
    spin_unlock(s.ack_lock);
    in_stash += static_cast<std::uint64_t>(s.count);
  }
  for (auto& c : g_chan)
    if (c.used && c.events && !inherited(c.pid)) pending += c.events->size();
  const std::uint64_t purged = g_tot.purged, dropped = g_tot.dropped, over = g_tot.overacks,
                      refused = g_tot.refused;
  const std::uint64_t unacked = (emu_d - emu_a) + (real_d - real_a);
  const bool balanced = over == 0 && refused == 0 && unacked == 0 &&
                        raised == emu_d + purged + pending &&
                        stashed == unstashed + dropped + in_stash;
  const char* mode = mode_name();
  char line[2048];
  std::snprintf(
      line, sizeof line,
      "{\"pid\":%d,\"mode\":\"%s\",\"cqs_created\":%llu,\"cqs_destroyed\":%llu,\"channels\":%llu,"
      "\"channels_emulated\":%llu,\"arms\":%llu,\"events_raised\":%llu,\"events_emulated\":%llu,"
      "\"events_purged\":%llu,\"events_pending\":%llu,\"events_real\":%llu,\"acks_emulated\":%llu,"
      "\"acks_real\":%llu,\"overacks\":%llu,\"unacked\":%llu,\"polled_wc\":%llu,\"stashed\":%llu,"
      "\"unstashed\":%llu,\"stash_dropped\":%llu,\"stash_now\":%llu,\"unknown_events\":%llu,"
      "\"irq_repins\":%llu,\"irq_errors\":%llu,\"remap_moves\":%llu,\"vector_overrides\":%llu,"
      "\"solicited_arms\":%llu,"
      "\"dispatcher_sleeps\":%llu,\"dispatcher_cpu\":%d,\"polls_skipped\":%llu,"
      "\"dispatcher_start_failures\":%llu,\"refused\":%llu,\"irq_lever\":\"%s\","
      "\"balanced\":%"
      "s}",
      static_cast<int>(getpid()), mode, (unsigned long long)g_tot.cqs_created.load(),
      (unsigned long long)g_tot.cqs_destroyed.load(), (unsigned long long)g_tot.channels.load(),
      (unsigned long long)g_tot.channels_emulated.load(), (unsigned long long)arms,
      (unsigned long long)raised, (unsigned long long)emu_d, (unsigned long long)purged,
      (unsigned long long)pending, (unsigned long long)real_d, (unsigned long long)emu_a,
      (unsigned long long)real_a, (unsigned long long)over, (unsigned long long)unacked,
      (unsigned long long)polled, (unsigned long long)stashed, (unsigned long long)unstashed,
      (unsigned long long)dropped, (unsigned long long)in_stash,
      (unsigned long long)g_tot.unknown_events.load(), (unsigned long long)g_tot.irq_repins.load(),
      (unsigned long long)g_tot.irq_errors.load(), (unsigned long long)g_tot.remap_moves.load(),
      (unsigned long long)g_tot.vector_overrides.load(),
      (unsigned long long)g_tot.solicited_arms.load(),
      (unsigned long long)g_tot.dispatcher_sleeps.load(), g_dispatcher_cpu_used.load(),
      (unsigned long long)g_tot.polls_skipped.load(),
      (unsigned long long)g_tot.dispatcher_start_failures.load(), (unsigned long long)refused, g_irq_lever, balanced ? "true" : "false");
  if (!dest || !std::strcmp(dest, "stderr") || !std::strcmp(dest, "-")) {
    std::fprintf(stderr, "fastwake-preload: %s\n", line);
    return;
  }
  const int fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "fastwake-preload: cannot write FW_PRELOAD_STATS=%s (%s): %s\n", dest,
                 std::strerror(errno), line);
    return;
  }
  std::string out = std::string(line) + "\n";
  [[maybe_unused]] auto w = write(fd, out.data(), out.size());
  close(fd);
}

}  // namespace
}  // namespace fastwake::preload
