// Overrides and files: "--set path=value" on a config document before it is
// validated (apply_set), and reading a JSON file with line/column errors.
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config_platform.h"
#include "fastwake/config.h"
#include "fastwake/config_read.h"
#include "fastwake/errors.h"

namespace fastwake {
using config_read::child;
using json = nlohmann::json;

namespace {

bool is_sourced_entry(const json& j) {
  return j.is_object() && j.contains("value") && (j.contains("source") || j.contains("estimate"));
}

/// Assigns `value` to `slot`; a number assigned to a {value, source|estimate}
/// entry keeps the entry and records the command line as its source.
void assign(json& slot, const json& value) {
  if (is_sourced_entry(slot) && value.is_number()) {
    slot["value"] = value;
    slot.erase("estimate");
    slot["source"] = "set on the command line";
  } else {
    slot = value;
  }
}

bool parse_index(const std::string& s, std::size_t& out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = static_cast<std::size_t>(std::stoul(s));
  return true;
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    default:
      return "a number";
  }
}

}  // namespace

namespace {

/// SAX handler that only tracks where the parser is ("workload.rate_rps",
/// "strategies[2]"), to name the key of a number that does not fit a double
/// (1e400): nlohmann reports that as out_of_range.406 without a position.
class PathTracker : public json::json_sax_t {
 public:
  std::string where;  ///< the path at the first error

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    stack_.push_back({false, 0, ""});
    return true;
  }
  bool key(string_t& k) override {
    stack_.back().key = k;
    return true;
  }
  bool end_object() override { return end(); }
  bool start_array(std::size_t) override {
    stack_.push_back({true, 0, ""});
    return true;
  }
  bool end_array() override { return end(); }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override {
    where = path();
    return false;
  }

 private:
  struct Level {
    bool array;
    std::size_t index;
    std::string key;
  };
  bool value() {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    return true;
  }
  bool end() {
    stack_.pop_back();
    return value();
  }
  std::string path() const {
    std::string out;
    for (const Level& l : stack_)
      out =
          l.array ? config_read::element(out.empty() ? "config" : out, l.index) : child(out, l.key);
    return out.empty() ? "config" : out;
  }
  std::vector<Level> stack_;
};

}  // namespace

json parse_limited(const std::string& text, const std::string& path);

nlohmann::json load_json_file(const std::string& path) {
  // A config is a small regular file: refuse FIFOs, devices (/dev/zero would
  // be read for ever) and directories, and cap the size.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw ConfigError(path + ": cannot open");
  if (!S_ISREG(st.st_mode))
    throw ConfigError(path + ": not a regular file (a config or profile is a JSON file)");
  if (st.st_size > kMaxConfigFileBytes)
    throw ConfigError(path + ": " + std::to_string(st.st_size) + " bytes, larger than the " +
                      std::to_string(kMaxConfigFileBytes >> 20) + " MiB a config file may have");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open");
  // Read in chunks, at most one chunk past the cap (the file may grow after
  // the stat); never a cap-sized buffer for a small file.
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size) + 1);
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > static_cast<std::size_t>(kMaxConfigFileBytes)) break;
  }
  if (in.bad()) throw ConfigError(path + ": cannot read");
  if (text.size() > static_cast<std::size_t>(kMaxConfigFileBytes))
    throw ConfigError(path + ": larger than the " + std::to_string(kMaxConfigFileBytes >> 20) +
                      " MiB a config file may have");
  return parse_json_text(text, path);
}

json parse_limited(const std::string& text, const std::string& path) {
  // No config nests deeper than a few levels; a bound keeps every recursive
  // walk of the document (dump, the Python conversion) far from the stack's end.
  return json::parse(text, [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth)
      throw ConfigError(path + ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                        " levels (a config needs a handful)");
    return true;
  });
}

nlohmann::json parse_json_text(const std::string& text, const std::string& path) {
  try {
    return parse_limited(text, path);
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based offset of the character where parsing stopped.
    std::size_t pos = e.byte > 0 ? e.byte - 1 : 0;
    if (pos > text.size()) pos = text.size();
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < pos; ++i)
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    const std::size_t column = pos - line_start + 1;
    // Keep nlohmann's description without its "[json.exception...] parse
    // error at line L, column C: " preamble.
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    if (what.rfind("parse error", 0) == 0) {
      if (auto p = what.find(": "); p != std::string::npos) what = what.substr(p + 2);
    }
    throw ConfigError(path + ": line " + std::to_string(line) + " column " +
                      std::to_string(column) + ": parse error: " + what);
  } catch (const json::exception& e) {
    // Valid syntax, but a number that does not fit a double (1e400), or nesting
    // too deep: name the key.
    PathTracker t;
    json::sax_parse(text, &t);
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw ConfigError(path + ": " + (t.where.empty() ? "config" : t.where) + ": " + what);
  }
}

void apply_set(nlohmann::json& doc, std::string_view assignment) {
  std::string whole(assignment);
  // Every string of a config ends up in JSON output: refuse what JSON cannot
  // hold (nlohmann throws type_error.316 on invalid UTF-8 when it dumps).
  try {
    (void)json(whole).dump();
  } catch (const json::type_error&) {
    whole = json(whole).dump(-1, ' ', false, json::error_handler_t::replace);
    throw ConfigError("--set " + whole + ": not valid UTF-8");
  }
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw ConfigError("--set '" + whole + "': expected PATH=VALUE, e.g. host.cores=4");
  const std::string path(assignment.substr(0, eq));
  const std::string text(assignment.substr(eq + 1));
  if (path.empty()) throw ConfigError("--set '" + whole + "': empty path before '='");

  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (parts.back().empty())
      throw ConfigError("--set '" + whole + "': empty component in path '" + path + "'");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }

  // The value is JSON when it parses as JSON (numbers, true, [..], {..},
  // "quoted"), else the raw text as a string (x86, spread).
  json value;
  try {
    value = parse_limited(text, "--set '" + whole + "'");
  } catch (const json::parse_error&) {
    value = text;
  } catch (const json::exception&) {
    // Parses as JSON but does not fit (1e400: out_of_range.406).
    throw ConfigError(path + ": number out of range: " + text +
                      " (larger than a double; in --set '" + whole + "')");
  }

  if (doc.is_null()) doc = json::object();
  if (!doc.is_object()) throw ConfigError("--set '" + whole + "': the config is not a JSON object");

  json* cur = &doc;
  std::string walked;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& key = parts[i];
    const bool last = i + 1 == parts.size();
    const std::string here = child(walked, key);
    const std::string where = " (in --set '" + whole + "')";
    if (cur->is_object()) {
      if (last) {
        if (cur->contains(key)) {
          assign((*cur)[key], value);
        } else {
          (*cur)[key] = value;  // validation rejects it if the key is unknown
        }
        return;
      }
      if (!cur->contains(key)) {
        const bool root = cur == &doc;
        if (root && (key == "host" || key == "workload" || key == "run" || key == "remapper" ||
                     key == "adaptive" || key == "fabric")) {
          (*cur)[key] = json::object();
        } else if (root && key == "platform") {
          (*cur)[key] = builtin_platform(kDefaultPlatform);
        } else {
          throw ConfigError(here + ": does not exist" + where);
        }
      }
      json& next = (*cur)[key];
      // Going into a built-in platform given by name: inline it first so the
      // override has something to apply to.
      if (cur == &doc && key == "platform" && next.is_string())
        next = builtin_platform(next.get<std::string>());
      cur = &next;
    } else if (cur->is_array()) {
      std::size_t idx = 0;
      if (!parse_index(key, idx))
        throw ConfigError(here + ": '" + key + "' is not an array index" + where);
      if (last) {
        if (idx < cur->size()) {
          assign((*cur)[idx], value);
        } else if (idx == cur->size()) {
          cur->push_back(value);
        } else {
          throw ConfigError(here + ": index out of range (the array has " +
                            std::to_string(cur->size()) + " elements)" + where);
        }
        return;
      }
      if (idx >= cur->size())
        throw ConfigError(here + ": index out of range (the array has " +
                          std::to_string(cur->size()) + " elements)" + where);
      cur = &(*cur)[idx];
    } else {
      throw ConfigError((walked.empty() ? std::string("config") : walked) + ": is " +
                        type_name(*cur) + ", not an object or array" + where);
    }
    walked = here;
  }
}

}  // namespace fastwake
