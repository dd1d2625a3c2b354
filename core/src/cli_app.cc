// The tools' command lines on CLI11 (see cli_app.h).
#include "fastwake/cli_app.h"

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "fastwake/cpu_list.h"
#include "fastwake/errors.h"
#include "fastwake/version.h"

namespace fastwake::cli {

namespace {

constexpr const char* kExitText =
    "exit status: 0 ok, 1 the run failed, 2 bad input (usage or config; the message names the "
    "option or key)";

bool parse_long(const std::string& v, long* out) {
  try {
    std::size_t used = 0;
    const long x = std::stol(v, &used);
    if (used != v.size()) return false;
    *out = x;
    return true;
  } catch (...) {
    return false;
  }
}

bool parse_double(const std::string& v, double* out) {
  try {
    std::size_t used = 0;
    const double x = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(x)) return false;
    *out = x;
    return true;
  } catch (...) {
    return false;
  }
}

std::string trim_num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

/// The option of `app` (or of a parsed subcommand first, then any) whose
/// CLI11 name is `name`.
const CLI::Option* find_option(CLI::App& app, const std::string& name) {
  for (CLI::App* sub : app.get_subcommands())
    if (const CLI::Option* o = find_option(*sub, name)) return o;
  for (const CLI::Option* o : app.get_options())
    if (o->get_name() == name) return o;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (const CLI::Option* o = find_option(*sub, name)) return o;
  return nullptr;
}

/// How argv spelled option `name` (its last use), else `name`.
std::string as_typed(CLI::App& app, const std::string& name, const std::vector<std::string>& args) {
  const CLI::Option* o = find_option(app, name);
  if (!o) return name;
  std::string typed = name;
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a.rfind("--", 0) == 0) {
      const std::string n = a.substr(2, a.find('=') == std::string::npos ? std::string::npos
                                                                          : a.find('=') - 2);
      for (const auto& l : o->get_lnames())
        if (l == n) typed = "--" + n;
    } else if (a.size() >= 2 && a[0] == '-') {
      for (const auto& s : o->get_snames())
        if (s == a.substr(1, 1)) typed = "-" + s;
    }
  }
  return typed;
}

/// `text` wrapped at `width` columns (CLI11 2.1 indents a description's
/// lines but does not wrap them); explicit line breaks are kept.
std::string wrap(const std::string& text, std::size_t width) {
  std::string out, line, word;
  std::istringstream paragraphs(text);
  std::string para;
  bool first_para = true;
  while (std::getline(paragraphs, para)) {
    if (!first_para) out += "\n";
    first_para = false;
    std::istringstream words(para);
    line.clear();
    bool first = true;
    while (words >> word) {
      if (!first && line.size() + 1 + word.size() > width) {
        out += line + "\n";
        line.clear();
        first = true;
      }
      line += (first ? "" : " ") + word;
      first = false;
    }
    out += line;
  }
  return out;
}

}  // namespace

void wrap_descriptions(CLI::App& app) {
  for (CLI::Option* o : app.get_options({})) o->description(wrap(o->get_description(), 64));
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->description(wrap(sub->get_description(), 64));
    wrap_descriptions(*sub);
  }
}

namespace {

std::string subcommand_path(CLI::App& app) {
  std::string p;
  for (CLI::App* cur = &app;;) {
    const auto subs = cur->get_subcommands();
    if (subs.empty()) break;
    cur = subs.front();
    p += " " + cur->get_name();
  }
  return p;
}

}  // namespace

void setup_app(CLI::App& app, std::string_view tool, const std::string& footer) {
  app.set_version_flag("--version", version_line(tool), "print the version and the build's commit");
  app.get_formatter()->column_width(34);
  app.footer(footer.empty() ? std::string(kExitText) : footer + "\n" + kExitText);
}

void setup_subcommand(CLI::App& sub, std::string_view tool, const std::string& footer) {
  sub.set_version_flag("--version", version_line(tool), "print the version and the build's commit");
  sub.footer(footer.empty() ? std::string(kExitText) : footer + "\n" + kExitText);
}

namespace {

/// An integer option of `names` into `target`, checked against [lo, hi] with
/// the message every tool prints ("expected an integer in LO..HI, got 'V'").
template <class Int>
CLI::Option* add_integer(CLI::App& app, const std::string& names, Int& target, long lo, long hi,
                         const std::string& help) {
  auto* opt = app.add_option_function<std::string>(
      names,
      [&target](const std::string& v) {
        long x = 0;
        parse_long(v, &x);
        target = static_cast<Int>(x);
      },
      help);
  opt->type_name("N");
  opt->check(CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        long x = 0;
        if (!parse_long(v, &x) || x < lo || x > hi)
          return "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                 ", got '" + v + "'";
        return {};
      },
      "", "int range"));
  return opt;
}

}  // namespace

CLI::Option* add_long(CLI::App& app, const std::string& names, long& target, long lo, long hi,
                      const std::string& help) {
  return add_integer(app, names, target, lo, hi, help);
}

CLI::Option* add_int(CLI::App& app, const std::string& names, int& target, long lo, long hi,
                     const std::string& help) {
  return add_integer(app, names, target, lo, hi, help);
}

CLI::Option* add_double(CLI::App& app, const std::string& names, double& target, double lo,
                        double hi, bool lo_open, const std::string& expect,
                        const std::string& help) {
  auto* opt = app.add_option_function<std::string>(
      names,
      [&target](const std::string& v) {
        double x = 0;
        parse_double(v, &x);
        target = x;
      },
      help);
  opt->type_name("X");
  opt->check(CLI::Validator(
      [lo, hi, lo_open, expect](std::string& v) -> std::string {
        double x = 0;
        if (!parse_double(v, &x) || (lo_open ? x <= lo : x < lo) || x > hi)
          return "expected " +
                 (expect.empty() ? "a number in " + std::string(lo_open ? "(" : "[") +
                                       trim_num(lo) + ", " + trim_num(hi) + "]"
                                 : expect) +
                 ", got '" + v + "'";
        return {};
      },
      "", "number range"));
  return opt;
}

CLI::Option* add_cpu_list(CLI::App& app, const std::string& names, std::vector<int>& target,
                          const std::string& help, int max) {
  auto* opt = app.add_option_function<std::string>(
      names,
      [&target, max](const std::string& v) { target = parse_cpu_list(v, nullptr, max).value(); },
      help);
  opt->type_name("LIST");
  opt->check(CLI::Validator(
      [max](std::string& v) -> std::string {
        std::string why;
        if (!parse_cpu_list(v, &why, max)) return why;
        return {};
      },
      "", "cpu list"));
  return opt;
}

CLI::Option* add_cpu(CLI::App& app, const std::string& names, int& target,
                     const std::string& help) {
  auto* opt = app.add_option_function<std::string>(
      names, [&target](const std::string& v) { target = parse_cpu_list(v)->front(); }, help);
  opt->type_name("CPU");
  opt->check(CLI::Validator(
      [](std::string& v) -> std::string {
        std::string why;
        const auto l = parse_cpu_list(v, &why);
        if (!l) return why;
        if (l->size() != 1) return "expected one CPU number, got '" + v + "'";
        return {};
      },
      "", "cpu"));
  return opt;
}

std::string describe(const CLI::ParseError& e, CLI::App& app,
                     const std::vector<std::string>& args) {
  const std::string what = e.what();
  // (CLI11's get_name() is the error's class name for most errors but the
  // app's name for some: classify by type.)
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    std::string list = what.substr(what.find(": ") == std::string::npos ? 0 : what.find(": ") + 2);
    std::istringstream in(list);
    std::string a, out;
    const bool no_sub = app.get_subcommands().empty() && !app.get_subcommands({}).empty();
    while (in >> a) {
      if (!out.empty()) out += "; ";
      if (a.size() > 1 && a[0] == '-') {
        out += "unknown option " + a;
      } else if (no_sub) {
        std::string names;
        for (const CLI::App* s : app.get_subcommands({}))
          names += (names.empty() ? "" : ", ") + s->get_name();
        out += "unknown command '" + a + "' (" + names + ")";
      } else {
        out += "unexpected argument '" + a + "'";
      }
    }
    return out;
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) && app.get_subcommands().empty() &&
      !app.get_subcommands({}).empty()) {
    std::string names;
    for (const CLI::App* s : app.get_subcommands({}))
      names += (names.empty() ? "" : ", ") + s->get_name();
    for (const std::string& a : args)
      if (!a.empty() && a[0] != '-') return "unknown command '" + a + "' (" + names + ")";
    return "give a command: " + names;
  }
  if (dynamic_cast<const CLI::ConversionError*>(&e) && what.rfind("Could not convert: ", 0) == 0) {
    const std::string rest = what.substr(19);
    const auto eq = rest.find(" = ");
    if (eq != std::string::npos)
      return as_typed(app, rest.substr(0, eq), args) + ": cannot read '" + rest.substr(eq + 3) +
             "'";
  }
  // "NAME: ..." (validation, missing values) or "NAME is required".
  const auto colon = what.find(": ");
  if (colon != std::string::npos && what[0] == '-') {
    const std::string name = what.substr(0, colon), rest = what.substr(colon + 2);
    const std::string typed = as_typed(app, name, args);
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) && rest.find("required") != std::string::npos &&
        rest.find("missing") != std::string::npos)
      return typed + " needs a value";
    return typed + ": " + rest;
  }
  return what;
}

int run(CLI::App& app, std::string_view tool, int argc, char** argv,
        const std::function<int()>& body) {
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const std::string t(tool);
  wrap_descriptions(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << t << ": " << describe(e, app, args) << " (see " << t << subcommand_path(app)
              << " --help)\n";
    return kExitBadInput;
  }
  try {
    return body();
  } catch (const ConfigError& e) {
    std::cerr << t << ": " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << t << ": " << e.what() << "\n";
    return kExitBadInput;
  } catch (const DeviceError& e) {
    std::cerr << t << ": " << e.what() << "\n";
    return kExitRunFailed;
  } catch (const std::exception& e) {
    std::cerr << t << ": internal error: " << e.what() << "\n";
    return kExitRunFailed;
  }
}

}  // namespace fastwake::cli
