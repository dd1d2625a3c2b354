// Typed readers of config values and their messages (see fastwake/config_read.h).
#include "fastwake/config_read.h"

#include <cmath>
#include <sstream>

#include "fastwake/errors.h"

namespace fastwake::config_read {

std::string child(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string element(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw ConfigError(path + ": " + msg);
}

std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::string: {
      // Replace invalid UTF-8 (a --set value taken as raw text) rather than throw.
      std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
      if (s.size() > 60) s = s.substr(0, 57) + "...\"";
      return "the string " + s;
    }
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::null:
      return "null";
    default:
      return v.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string int_range(std::int64_t lo, std::int64_t hi) {
  if (hi == std::numeric_limits<std::int64_t>::max()) return ">= " + std::to_string(lo);
  return "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

void require_object(const json& v, const std::string& path) {
  if (!v.is_object()) fail(path, "expected an object, got " + describe(v));
}

void check_keys(const json& obj, const std::string& path,
                std::initializer_list<std::string_view> known) {
  require_object(obj, path.empty() ? "config" : path);
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || key == k;
    if (!ok) fail(child(path, key), "unknown key (known: " + join(known) + ")");
  }
}

bool as_int64(const json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  return false;
}

std::int64_t read_int(const json& v, const std::string& path, std::int64_t lo, std::int64_t hi) {
  std::int64_t x = 0;
  if (!as_int64(v, x) || x < lo || x > hi)
    fail(path, "expected an integer " + int_range(lo, hi) + ", got " + describe(v));
  return x;
}

std::string num_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

namespace {
/// " (= 1 s)" style reading aid for a bound in ns.
std::string ns_hint(Nanos ns) {
  if (ns % 3'600'000'000'000 == 0) return std::to_string(ns / 3'600'000'000'000) + " h";
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + " s";
  return std::to_string(ns) + " ns";
}
}  // namespace

Nanos read_ns(const json& v, const std::string& path, Nanos hi) {
  std::int64_t x = 0;
  if (!as_int64(v, x) || x < 0 || x > hi)
    fail(path, "expected an integer number of ns in [0, " + std::to_string(hi) + "] (at most " +
                   ns_hint(hi) + "), got " + describe(v));
  return x;
}

Nanos read_time(const json& v, const std::string& path, Nanos ns_per_unit, bool positive,
                Nanos max_ns) {
  const double max_units = static_cast<double>(max_ns) / static_cast<double>(ns_per_unit);
  const std::string want = std::string("expected a number ") + (positive ? "in (0, " : "in [0, ") +
                           num_text(max_units) + "] (at most " + ns_hint(max_ns) + "), got ";
  if (!v.is_number()) fail(path, want + describe(v));
  double x = v.get<double>();
  double ns = x * static_cast<double>(ns_per_unit);
  if (!std::isfinite(ns) || ns < 0 || (positive && x <= 0) || ns > static_cast<double>(max_ns))
    fail(path, want + describe(v));
  Nanos r = std::llround(ns);
  if (positive && r <= 0) fail(path, "rounds to 0 ns, got " + describe(v));
  return r;
}

double read_number(const json& v, const std::string& path, double lo, bool lo_inclusive,
                   double hi) {
  std::string want = "expected a number ";
  if (std::isinf(hi))
    want += std::string(lo_inclusive ? ">= " : "> ") + num_text(lo);
  else
    want += std::string(lo_inclusive ? "in [" : "in (") + num_text(lo) + ", " + num_text(hi) + "]";
  if (!v.is_number()) fail(path, want + ", got " + describe(v));
  double x = v.get<double>();
  if (!std::isfinite(x) || (lo_inclusive ? x < lo : x <= lo) || x > hi)
    fail(path, want + ", got " + describe(v));
  return x;
}

std::string read_string(const json& v, const std::string& path, bool non_empty) {
  if (!v.is_string() || (non_empty && v.get<std::string>().empty()))
    fail(path, std::string("expected a ") + (non_empty ? "non-empty " : "") + "string, got " +
                   describe(v));
  return v.get<std::string>();
}

std::string read_choice(const json& v, const std::string& path,
                        std::initializer_list<std::string_view> choices) {
  if (v.is_string()) {
    auto s = v.get<std::string>();
    for (auto c : choices)
      if (s == c) return s;
  }
  std::string list;
  for (auto c : choices) list += (list.empty() ? "\"" : ", \"") + std::string(c) + "\"";
  fail(path, "expected one of " + list + ", got " + describe(v));
}

bool read_bool(const json& v, const std::string& path) {
  if (!v.is_boolean()) fail(path, "expected true or false, got " + describe(v));
  return v.get<bool>();
}

std::uint64_t read_uint64(const json& v, const std::string& path) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  fail(path, "expected an unsigned integer, got " + describe(v));
}

std::vector<int> read_int_array(const json& v, const std::string& path, int n, std::int64_t lo,
                                std::int64_t hi) {
  if (!v.is_array() || v.empty() || (n >= 0 && v.size() != static_cast<std::size_t>(n)))
    fail(path, "expected an array of " + (n >= 0 ? std::to_string(n) + " " : std::string()) +
                   "integers " + int_range(lo, hi) + ", got " +
                   (v.is_array() ? "an array of " + std::to_string(v.size()) : describe(v)));
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(static_cast<int>(read_int(v[i], element(path, i), lo, hi)));
  return out;
}

json ns_in(Nanos ns, Nanos unit) {
  if (ns % unit == 0) return json(ns / unit);
  return json(static_cast<double>(ns) / static_cast<double>(unit));
}

}  // namespace fastwake::config_read
