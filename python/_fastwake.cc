// fastwake._fastwake: pybind11 bindings of the core config API and the simulator (dicts in, dicts
// out).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/run_guard.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"
#include "fastwake/version.h"

namespace py = pybind11;
using nlohmann::json;

namespace {

// ------------------------------------------------------- Python <-> JSON

/// A Python str as UTF-8; ConfigError for one that has none (lone surrogates).
std::string py_string(py::handle s, const std::string& where) {
  try {
    return s.cast<std::string>();
  } catch (const py::error_already_set&) {
    throw fastwake::ConfigError(where +
                                ": not a valid Unicode string: " + py::repr(s).cast<std::string>());
  } catch (const py::cast_error&) {
    throw fastwake::ConfigError(where + ": not a valid Unicode string");
  }
}

/// Converts a Python value (dict/list/tuple/str/int/float/bool/None, numpy
/// scalars and arrays) to JSON. `path` names the place for error messages.
json to_json_value(py::handle obj, const std::string& path, int depth = 0) {
  const std::string where = path.empty() ? "config" : path;
  if (depth > fastwake::kMaxJsonDepth)
    throw fastwake::ConfigError(where + ": nested deeper than " +
                                std::to_string(fastwake::kMaxJsonDepth) +
                                " levels (a config needs a handful)");
  if (obj.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
  if (py::isinstance<py::int_>(obj)) {
    try {
      return obj.cast<std::int64_t>();
    } catch (const py::cast_error&) {
    }
    try {
      return obj.cast<std::uint64_t>();  // 2^63 .. 2^64-1 (seeds)
    } catch (const py::cast_error&) {
      throw fastwake::ConfigError(where + ": integer out of range (-2^63 .. 2^64-1), got " +
                                  py::repr(obj).cast<std::string>());
    }
  }
  if (py::isinstance<py::float_>(obj)) {
    const double v = obj.cast<double>();
    if (!std::isfinite(v))
      throw fastwake::ConfigError((path.empty() ? "config" : path) + ": not a finite number");
    return v;
  }
  if (py::isinstance<py::str>(obj)) return py_string(obj, where);
  if (py::isinstance<py::dict>(obj)) {
    json out = json::object();
    for (auto item : obj.cast<py::dict>()) {
      if (!py::isinstance<py::str>(item.first))
        throw fastwake::ConfigError((path.empty() ? "config" : path) +
                                    ": keys must be strings, got " +
                                    py::repr(item.first).cast<std::string>());
      const auto key = py_string(item.first, where);
      out[key] = to_json_value(item.second, path.empty() ? key : path + "." + key, depth + 1);
    }
    return out;
  }
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    json out = json::array();
    std::size_t i = 0;
    for (auto item : obj) {
      out.push_back(to_json_value(item, where + "[" + std::to_string(i) + "]", depth + 1));
      ++i;
    }
    return out;
  }
  // numpy arrays and scalars: tolist() gives plain Python values.
  if (py::hasattr(obj, "tolist")) return to_json_value(obj.attr("tolist")(), path, depth + 1);
  throw fastwake::ConfigError((path.empty() ? "config" : path) +
                              ": cannot be written as JSON: " + py::repr(obj).cast<std::string>());
}

py::object to_python(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return py::none();
    case json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case json::value_t::number_integer:
      return py::int_(j.get<std::int64_t>());
    case json::value_t::number_unsigned:
      return py::int_(j.get<std::uint64_t>());
    case json::value_t::number_float:
      return py::float_(j.get<double>());
    case json::value_t::string:
      return py::str(j.get_ref<const std::string&>());
    case json::value_t::array: {
      py::list out;
      for (const auto& v : j) out.append(to_python(v));
      return out;
    }
    case json::value_t::object: {
      py::dict out;
      for (auto it = j.begin(); it != j.end(); ++it) out[py::str(it.key())] = to_python(it.value());
      return out;
    }
    default:
      return py::none();  // binary / discarded: never produced by the core
  }
}

json config_doc(py::handle config) {
  if (!py::isinstance<py::dict>(config))
    throw fastwake::ConfigError("config: expected an object (a dict), got " +
                                py::str(config.get_type().attr("__name__")).cast<std::string>());
  return to_json_value(config, "");
}

template <typename T>
py::array_t<T> to_array(const std::vector<fastwake::sim::Sample>& s, T fastwake::sim::Sample::*f) {
  py::array_t<T> a(static_cast<py::ssize_t>(s.size()));
  auto m = a.template mutable_unchecked<1>();
  for (std::size_t i = 0; i < s.size(); ++i) m(static_cast<py::ssize_t>(i)) = s[i].*f;
  return a;
}

// ------------------------------------------------------------ bindings

/// Simulates every strategy of the config with the GIL released. Returns
/// (result document, samples) where samples maps strategy -> dict of numpy
/// arrays (done_ns, thread, latency_ns, irq_core); empty unless
/// run.record_samples is set.
py::tuple simulate(py::handle config, bool force) {
  const fastwake::Config cfg = fastwake::sim::load_config(config_doc(config));
  fastwake::sim::check_run(cfg, force);  // refuses a run that cannot drain or is too large
  std::vector<fastwake::sim::StrategyRun> runs;
  {
    py::gil_scoped_release release;
    runs.reserve(cfg.strategies.size());
    for (const auto& name : cfg.strategies)
      runs.push_back(fastwake::sim::simulate(cfg, fastwake::find_strategy(name)));
  }
  json doc;
  doc["schema"] = "fastwake-result/1";
  doc["meta"] = fastwake::result_meta("fastwake (Python)");  // fastwake.results adds the Python libraries
  doc["config"] = fastwake::to_json(cfg);
  doc["results"] = json::array();
  py::dict samples;
  double wall = 0;
  for (const auto& r : runs) {
    doc["results"].push_back(r.result.to_json());
    wall += r.wall_s;
    if (cfg.run.record_samples) {
      py::dict s;
      s["done_ns"] = to_array<fastwake::Nanos>(r.samples, &fastwake::sim::Sample::done);
      s["thread"] = to_array<fastwake::ThreadId>(r.samples, &fastwake::sim::Sample::thread);
      s["latency_ns"] = to_array<fastwake::Nanos>(r.samples, &fastwake::sim::Sample::latency);
      s["irq_core"] = to_array<fastwake::CoreId>(r.samples, &fastwake::sim::Sample::irq_core);
      samples[py::str(r.result.strategy)] = s;
    }
  }
  return py::make_tuple(to_python(doc), samples, wall);
}

}  // namespace

PYBIND11_MODULE(_fastwake, m) {
  m.doc() =
      "FastWake core bindings: config loading/validation and the discrete-event simulator.\n"
      "Configs are dicts in the configs/*.json format (docs/config.md); results are the\n"
      "fastwake-result/1 documents that fastwake-sim --json writes. Use the `fastwake`\n"
      "package rather than this module directly.";

  py::register_exception<fastwake::ConfigError>(m, "ConfigError", PyExc_ValueError);
  py::register_exception<fastwake::DeviceError>(m, "DeviceError", PyExc_OSError);

  m.attr("VERSION") = std::string(fastwake::version());
  m.attr("MODEL_VERSION") = std::string(fastwake::model_version());
  m.attr("COMMIT") = std::string(fastwake::git_commit());
  m.attr("SCHEMA") = "fastwake-result/1";

  m.def(
      "result_meta",
      [](const std::string& tool) { return to_python(fastwake::result_meta(tool)); },
      py::arg("tool"),
      "The \"meta\" object of a result document (fastwake::result_meta): tool, toolkit and model\n"
      "version, commit, UTC date, host, build, C++ library versions.");
  m.def(
      "default_config", [] { return to_python(fastwake::default_config()); },
      "The embedded paper-style scenario (configs/default.json) as a dict.");
  m.def("builtin_platforms", &fastwake::builtin_platforms,
        "Names of the built-in platform profiles.");
  m.def(
      "builtin_platform",
      [](const std::string& name) { return to_python(fastwake::builtin_platform(name)); },
      py::arg("name"), "A built-in platform profile as a dict; ConfigError if unknown.");
  m.def(
      "load_json_file",
      [](const std::string& path) { return to_python(fastwake::load_json_file(path)); },
      py::arg("path"), "Reads a JSON file; ConfigError naming the file (and line) on failure.");
  m.def(
      "apply_set",
      [](py::handle config, const std::string& assignment) {
        json doc = config_doc(config);
        fastwake::apply_set(doc, assignment);
        return to_python(doc);
      },
      py::arg("config"), py::arg("assignment"),
      "Returns a copy of the config with one 'PATH=VALUE' override applied (fastwake-sim --set).");
  m.def(
      "resolve_config",
      [](py::handle config) {
        return to_python(fastwake::to_json(fastwake::sim::load_config(config_doc(config))));
      },
      py::arg("config"),
      "Validates a config and returns it resolved: every default filled in, platform inlined.");
  m.def(
      "strategies",
      [] {
        py::list out;
        for (const auto& s : fastwake::strategies()) {
          py::dict d;
          d["name"] = s.name;
          d["description"] = s.description;
          d["wait"] = std::string(fastwake::wait_mode_name(s.wait));
          d["wake_path"] = std::string(fastwake::wake_path_name(s.wake_path.kind));
          d["remap_affinity"] = s.remap_affinity;
          out.append(d);
        }
        return out;
      },
      "Registered strategies, in registration order, as dicts.");
  m.def("simulate", &simulate, py::arg("config"), py::arg("force") = false,
        "Simulates every strategy of a config (GIL released). Returns (result document,\n"
        "samples by strategy, simulation wall seconds). Refuses (ConfigError, with the\n"
        "estimate) a run that cannot drain or is over the size limits unless force.");
  m.def(
      "check_run",
      [](py::handle config, bool force) {
        fastwake::sim::check_run(fastwake::sim::load_config(config_doc(config)), force);
      },
      py::arg("config"), py::arg("force") = false,
      "The pre-run guard alone: ConfigError (with the estimate) if the run cannot drain or,\n"
      "unless force, is over the size limits.");
  m.def(
      "estimate_run",
      [](py::handle config) {
        const auto e = fastwake::sim::estimate_run(fastwake::sim::load_config(config_doc(config)));
        py::dict d;
        d["requests"] = e.requests;
        d["events"] = e.events;
        d["bytes"] = e.bytes;
        d["wall_s"] = e.wall_s;
        d["text"] = e.text();
        return d;
      },
      py::arg("config"), "The pre-run estimate of a config (requests, events, bytes, wall_s).");
}
