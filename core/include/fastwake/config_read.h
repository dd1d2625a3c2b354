// Typed readers of JSON config values with path-precise ConfigErrors ("host.cores:
// expected an integer in [1, 4096], got ..."): every parser of a config section uses
// them, core's and sim's (the fabric section), so every message has one wording.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/types.h"

namespace fastwake::config_read {

using json = nlohmann::json;

constexpr Nanos kNsPerMs = 1'000'000;
constexpr Nanos kNsPerUs = 1'000;

// --- physical ranges (docs/config.md, "Ranges") ------------------------------
// Every time a config gives is bounded so that simulated time cannot overflow
// int64 ns: costs <= 1 s, a run (warm-up + window) <= 2 h, so every event
// time stays below ~1e14 ns (see docs/config.md, "Time arithmetic").

/// Largest cost or delay of one stage (platform _ns parameters, service_ns,
/// think_ns, link latencies, C-state latencies, remapper delays): 1 s.
constexpr Nanos kMaxCostNs = 1'000'000'000;
/// Largest run.duration_ms and run.warmup_ms (each): 1 h.
constexpr Nanos kMaxRunNs = 3'600'000'000'000;
/// link_gbps (platform and fabric): 1 Mb/s ... 1 Pb/s (calibrated loopback
/// profiles say 1e6 for "no wire": serialisation ~0).
constexpr double kMinGbps = 1e-3, kMaxGbps = 1e6;
/// workload.rate_rps per connection when > 0: one request per 1000 s ... one per 10 ns.
constexpr double kMinRateRps = 1e-3, kMaxRateRps = 1e8;
/// Power parameters (watts, per core or per package).
constexpr double kMaxWatts = 1e4;

// --- paths and messages ------------------------------------------------------

/// "parent.key" (just "key" at the top level).
std::string child(const std::string& parent, std::string_view key);
/// "parent[i]".
std::string element(const std::string& parent, std::size_t i);
/// Throws ConfigError("path: msg").
[[noreturn]] void fail(const std::string& path, const std::string& msg);
/// How a value is shown after "got": numbers and literals as JSON, strings
/// quoted (and shortened), containers by kind.
std::string describe(const json& v);
/// "a, b, c".
std::string join(const std::vector<std::string>& names);
std::string join(std::initializer_list<std::string_view> names);
/// ">= lo", or "in [lo, hi]".
std::string int_range(std::int64_t lo, std::int64_t hi);

// --- typed readers: each throws ConfigError naming `path` on a wrong type or an
// out-of-range value ------------------------------------------------------------

void require_object(const json& v, const std::string& path);
/// Rejects keys of `obj` that are not in `known` (the object is checked first).
void check_keys(const json& obj, const std::string& path,
                std::initializer_list<std::string_view> known);
/// The value as int64 if it is a JSON integer that fits.
bool as_int64(const json& v, std::int64_t& out);
std::int64_t read_int(const json& v, const std::string& path, std::int64_t lo,
                      std::int64_t hi = std::numeric_limits<std::int64_t>::max());
/// An integer count of nanoseconds in [0, hi] (service_ns, think_ns, latencies).
Nanos read_ns(const json& v, const std::string& path, Nanos hi = kMaxCostNs);
/// A time given as a number of ms or us (integer or not), rounded to ns, at
/// most `max_ns` (the message gives the bound in the key's unit).
Nanos read_time(const json& v, const std::string& path, Nanos ns_per_unit, bool positive,
                Nanos max_ns = kMaxRunNs);
/// A finite number >= lo (> lo unless lo_inclusive) and <= hi.
double read_number(const json& v, const std::string& path, double lo, bool lo_inclusive,
                   double hi = std::numeric_limits<double>::infinity());
/// "1e+08" style short text of a bound.
std::string num_text(double x);
std::string read_string(const json& v, const std::string& path, bool non_empty = true);
/// One of `choices` (a string), else "expected one of "a", "b", got ...".
std::string read_choice(const json& v, const std::string& path,
                        std::initializer_list<std::string_view> choices);
bool read_bool(const json& v, const std::string& path);
std::uint64_t read_uint64(const json& v, const std::string& path);
/// An array of `n` integers in [lo, hi] (n < 0: any non-empty length).
std::vector<int> read_int_array(const json& v, const std::string& path, int n, std::int64_t lo,
                                std::int64_t hi);

/// ns as a number of `unit`s: an integer when exact, else a fraction.
json ns_in(Nanos ns, Nanos unit);

}  // namespace fastwake::config_read
