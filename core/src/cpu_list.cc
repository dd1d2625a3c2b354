// CPU lists: the kernel's cpulist syntax (see cpu_list.h).
#include "fastwake/cpu_list.h"

#include <set>

#include "fastwake/errors.h"

namespace fastwake {

namespace {

/// A plain decimal number 0..max ("007" allowed, as the kernel's kstrtouint).
bool parse_number(std::string_view s, int max, int* out) {
  if (s.empty() || s.size() > 9) return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  *out = static_cast<int>(v);
  return true;
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::optional<std::vector<int>> parse_cpu_list(std::string_view text, std::string* error,
                                               int max) {
  auto fail = [&](std::string why) -> std::optional<std::vector<int>> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  if (text.empty()) return fail("empty list (expected numbers like 0,2-5,7)");
  std::vector<int> out;
  std::set<int> seen;
  const std::string range_hint = "expected N or A-B, numbers 0.." + std::to_string(max);
  for (std::size_t pos = 0;;) {
    std::size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(pos, end - pos);
    if (item.empty())
      return fail("empty item in '" + std::string(text) + "' (" + range_hint + ")");
    const std::size_t dash = item.find('-');
    int a = 0, b = 0;
    if (dash == std::string_view::npos) {
      if (!parse_number(item, max, &a)) {
        if (is_digits(item))
          return fail("'" + std::string(item) + "' is above " + std::to_string(max));
        return fail("'" + std::string(item) + "' is not a number (" + range_hint + ")");
      }
      b = a;
    } else if (dash == 0) {
      return fail("'" + std::string(item) + "' is not a number (" + range_hint + ")");
    } else {
      const std::string_view lo = item.substr(0, dash), hi = item.substr(dash + 1);
      if (!parse_number(lo, max, &a) || !parse_number(hi, max, &b)) {
        if (is_digits(lo) && is_digits(hi))
          return fail("range '" + std::string(item) + "' goes above " + std::to_string(max));
        return fail("'" + std::string(item) + "' is not a range (" + range_hint + ")");
      }
      if (b < a)
        return fail("range '" + std::string(item) + "' goes down (write " + std::string(hi) + "-" +
                    std::string(lo) + ")");
    }
    for (int c = a; c <= b; ++c) {
      if (!seen.insert(c).second)
        return fail(std::to_string(c) + " is given twice in '" + std::string(text) + "'");
      out.push_back(c);
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return out;
}

std::vector<int> parse_cpu_list_or_throw(std::string_view text, std::string_view what, int max) {
  std::string why;
  auto v = parse_cpu_list(text, &why, max);
  if (!v) throw ConfigError(std::string(what) + ": " + why);
  return std::move(*v);
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string s;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(cpus[i]);
    if (j > i) s += (j == i + 1 ? "," : "-") + std::to_string(cpus[j]);
    i = j + 1;
  }
  return s;
}

}  // namespace fastwake
