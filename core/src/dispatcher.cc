// Dispatcher bookkeeping (the polling step itself is inline in the header).
#include "fastwake/dispatcher.h"

#include <algorithm>

namespace fastwake {

void Dispatcher::add(CqId cq, ThreadId owner) { entries_.push_back({cq, owner}); }

bool Dispatcher::remove(CqId cq) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [cq](const Entry& e) { return e.cq == cq; });
  if (it == entries_.end()) return false;
  const std::size_t idx = static_cast<std::size_t>(it - entries_.begin());
  entries_.erase(it);
  // Keep the cursor on the same next CQ it would have polled.
  if (idx < cursor_) --cursor_;
  if (entries_.empty() || cursor_ >= entries_.size()) cursor_ = 0;
  return true;
}

std::size_t Dispatcher::polls_until(CqId cq) const {
  const std::size_t n = entries_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (entries_[(cursor_ + i) % n].cq == cq) return i + 1;
  }
  return 0;
}

void Dispatcher::skip(std::size_t n) {
  if (!entries_.empty()) cursor_ = (cursor_ + n) % entries_.size();
}

}  // namespace fastwake
