// Host model, control: the affinity remapper's ticks, scheduled thread
// migrations, the measurement window, and per-core power-state accounting.
#include "host_model.h"

#include <optional>

namespace fastwake::sim::detail {

// ================================================================ remapper, migrations, window

void HostModel::schedule_remap() {
  const std::optional<Nanos> nd = remapper_->next_deadline();
  if (!nd || *nd == remap_at_) return;
  remap_at_ = *nd;
  eng_.at<&HostModel::remap_tick>(*nd, this, 0);
}

void HostModel::remap_tick(std::uint64_t) {
  remap_at_ = -1;
  remapper_->run_due(eng_.now());
  schedule_remap();
}

void HostModel::migrate(std::uint64_t idx) {
  const Migration& m = cfg_.workload.migrations[idx];
  move_thread(m.thread, m.to_core);
}

void HostModel::script_migrate(std::uint64_t packed) {
  move_thread(hi(packed), static_cast<CoreId>(lo(packed)));
  script_step(static_cast<std::uint64_t>(eng_.now()));
}

void HostModel::move_thread(ThreadId t, CoreId to) {
  trace(trace_, Decision::Kind::kMigrate, t, to);
  SimThread& th = threads_[t];
  th.migrate_to = to;
  if (th.state == ThreadState::kBlocked && th.step != Step::kSpin)
    apply_migration(cores_[th.core], th);
  // Otherwise it moves at its next wait (block, yield or spin).
}

void HostModel::window_open(std::uint64_t) {
  in_window_ = true;
  win_open_counts_ = counts_now();
  const Nanos now = eng_.now();
  for (auto& c : cores_) c.power_since = now;
}

void HostModel::window_close(std::uint64_t) {
  for (auto& c : cores_) set_power(c, c.power);  // account up to the end
  win_close_counts_ = counts_now();
  in_window_ = false;
  sending_ = false;
}

void HostModel::set_power(SimCore& c, int state) {
  const Nanos now = eng_.now();
  if (in_window_) power_.add(c.id, c.power, now - c.power_since);
  c.power = state;
  c.power_since = now;
}

}  // namespace fastwake::sim::detail
