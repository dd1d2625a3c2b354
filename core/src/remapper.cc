// Affinity remapper: desired core per vector = where most of its CQs' threads
// sleep; moves happen after reaction_delay, at most once per hysteresis.
#include "fastwake/remapper.h"

#include <algorithm>
#include <map>

#include "fastwake/errors.h"

namespace fastwake {

AffinityRemapper::AffinityRemapper(RemapperOptions opts, std::vector<CoreId> vector_core)
    : opts_(opts) {
  if (opts.reaction_delay_ns < 0 || opts.hysteresis_ns < 0)
    throw ConfigError("remapper: delays must be >= 0");
  for (CoreId c : vector_core) vectors_.push_back(Vec{c});
}

void AffinityRemapper::add_cq(CqId cq, VectorId vector, CoreId core) {
  if (vector < 0 || vector >= static_cast<int>(vectors_.size()))
    throw ConfigError("remapper: CQ " + std::to_string(cq) + " on unknown vector " +
                      std::to_string(vector));
  if (cq < 0) throw ConfigError("remapper: negative CQ id");
  if (static_cast<std::size_t>(cq) >= cqs_.size()) cqs_.resize(cq + 1, Cq{-1, kNoCore});
  cqs_[cq] = Cq{vector, core};
}

void AffinityRemapper::remove_cq(CqId cq, Nanos now) {
  if (cq < 0 || static_cast<std::size_t>(cq) >= cqs_.size() || cqs_[cq].vector < 0) return;
  const VectorId v = cqs_[cq].vector;
  cqs_[cq] = Cq{-1, kNoCore};
  reconsider(v, now);
}

CoreId AffinityRemapper::desired(VectorId v) const {
  std::map<CoreId, int> votes;
  for (const Cq& c : cqs_)
    if (c.vector == v) ++votes[c.core];
  const CoreId current = vectors_[v].core;
  if (votes.empty()) return current;
  CoreId best = current;
  int best_n = votes.count(current) ? votes.at(current) : 0;
  for (auto [core, n] : votes)
    if (n > best_n) best = core, best_n = n;  // strictly more: ties keep current
  return best;
}

std::vector<VectorMove> AffinityRemapper::place_initial() {
  std::vector<VectorMove> moves;
  for (VectorId v = 0; v < static_cast<VectorId>(vectors_.size()); ++v) {
    const CoreId want = desired(v);
    if (want != vectors_[v].core) {
      vectors_[v].core = want;
      moves.push_back({v, want});
    }
    vectors_[v].pending_to = kNoCore;
  }
  return moves;
}

void AffinityRemapper::thread_at(CqId cq, CoreId core, Nanos now) {
  if (cq < 0 || static_cast<std::size_t>(cq) >= cqs_.size() || cqs_[cq].vector < 0) return;
  if (cqs_[cq].core == core) return;  // the common case: nothing moved
  cqs_[cq].core = core;
  reconsider(cqs_[cq].vector, now);
}

void AffinityRemapper::reconsider(VectorId v, Nanos now) {
  Vec& vec = vectors_[v];
  const CoreId want = desired(v);
  if (want == vec.core) {
    vec.pending_to = kNoCore;  // thread came back before we acted
  } else if (want != vec.pending_to) {
    vec.pending_to = want;  // (re)start the reaction delay
    vec.pending_since = now;
  }
}

Nanos AffinityRemapper::deadline(const Vec& v) const {
  Nanos t = v.pending_since + opts_.reaction_delay_ns;
  if (v.moved_once) t = std::max(t, v.last_move + opts_.hysteresis_ns);
  return t;
}

std::optional<Nanos> AffinityRemapper::next_deadline() const {
  std::optional<Nanos> best;
  for (const Vec& v : vectors_)
    if (v.pending_to != kNoCore) {
      const Nanos t = deadline(v);
      if (!best || t < *best) best = t;
    }
  return best;
}

std::vector<VectorMove> AffinityRemapper::due(Nanos now) {
  std::vector<VectorMove> moves;
  for (VectorId i = 0; i < static_cast<VectorId>(vectors_.size()); ++i) {
    Vec& v = vectors_[i];
    if (v.pending_to == kNoCore || deadline(v) > now) continue;
    v.core = v.pending_to;
    v.pending_to = kNoCore;
    v.last_move = now;
    v.moved_once = true;
    ++moves_done_;
    moves.push_back({i, v.core});
  }
  return moves;
}

}  // namespace fastwake
