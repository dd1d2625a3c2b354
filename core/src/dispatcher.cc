// Dispatcher bookkeeping (the polling step itself is inline in the header).
#include "fastwake/dispatcher.h"

#include <algorithm>

namespace fastwake {

void Dispatcher::add(CqId cq, ThreadId owner) {
  if (cq < 0) return;
  if (static_cast<std::size_t>(cq) < pos_.size() && pos_[cq] >= 0) return;  // already there
  entries_.push_back({cq, owner});
  if (static_cast<std::size_t>(cq) >= pos_.size()) pos_.resize(cq + 1, -1);
  pos_[cq] = static_cast<int>(entries_.size() - 1);
}

void Dispatcher::reindex() {
  std::fill(pos_.begin(), pos_.end(), -1);
  for (std::size_t i = 0; i < entries_.size(); ++i) pos_[entries_[i].cq] = static_cast<int>(i);
}

bool Dispatcher::remove(CqId cq) {
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [cq](const Entry& e) { return e.cq == cq; });
  if (it == entries_.end()) return false;
  const std::size_t idx = static_cast<std::size_t>(it - entries_.begin());
  entries_.erase(it);
  reindex();
  // Keep the cursor on the same next CQ it would have polled.
  if (idx < cursor_) --cursor_;
  if (entries_.empty() || cursor_ >= entries_.size()) cursor_ = 0;
  return true;
}

std::size_t Dispatcher::polls_until(CqId cq) const {
  if (cq < 0 || static_cast<std::size_t>(cq) >= pos_.size() || pos_[cq] < 0) return 0;
  const std::size_t n = entries_.size();
  const std::size_t p = static_cast<std::size_t>(pos_[cq]);
  return (p + n - cursor_) % n + 1;
}

void Dispatcher::skip(std::size_t n) {
  if (!entries_.empty()) cursor_ = (cursor_ + n) % entries_.size();
}

}  // namespace fastwake
