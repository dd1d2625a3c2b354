// The command lines of every C++ tool (fastwake-sim, fastwake-bench,
// fastwake-sim-fabric) on one parser, CLI11 (Debian's libcli11-dev): the
// options' checks with messages that name the option as the user typed it,
// --version, and the one exit-status convention:
//
//   0  ok
//   1  the run failed (a device or OS facility, a lost request, a soak leak)
//   2  bad input: a usage error (unknown option, missing or malformed value)
//      or a bad config value/file; the message names the option or the key
//
// (README "Conventions", docs/cli.md). Library fastwake_cli (core/): it adds
// CLI11 to what it links; the rest of core does not need it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace fastwake::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;
inline constexpr int kExitBadInput = 2;

/// What every tool's App has: -h/--help, --version printing
/// fastwake::version_line(tool), the exit statuses in the help's footer.
/// `footer` is the tool's own text, before the exit statuses.
void setup_app(CLI::App& app, std::string_view tool, const std::string& footer = "");
/// A subcommand's own --version (fastwake-bench loopback --version) and
/// help footer.
void setup_subcommand(CLI::App& sub, std::string_view tool, const std::string& footer = "");

/// An integer option lo..hi (also --name=value); the message on a bad value:
/// "<name as typed>: expected an integer in lo..hi, got 'x'".
CLI::Option* add_int(CLI::App& app, const std::string& names, int& target, long lo, long hi,
                     const std::string& help);
CLI::Option* add_long(CLI::App& app, const std::string& names, long& target, long lo, long hi,
                      const std::string& help);
/// A number in (lo, hi] (lo_open) or [lo, hi]; `expect` describes it in the
/// message ("minutes in (0, 1440]").
CLI::Option* add_double(CLI::App& app, const std::string& names, double& target, double lo,
                        double hi, bool lo_open, const std::string& expect,
                        const std::string& help);
/// A CPU list in the kernel's cpulist syntax ("0,2-5,7"; cpu_list.h), with
/// the parser's message on a bad one. `max` bounds the numbers.
CLI::Option* add_cpu_list(CLI::App& app, const std::string& names, std::vector<int>& target,
                          const std::string& help, int max = 65535);
/// One CPU number (as a list of one: "--cpu 3").
CLI::Option* add_cpu(CLI::App& app, const std::string& names, int& target,
                     const std::string& help);

/// Wraps every option's and subcommand's description at 64 columns (CLI11
/// 2.1 does not); run() does it before parsing.
void wrap_descriptions(CLI::App& app);

/// Parses argv into `app` and runs `body`; returns the exit status: help and
/// --version print to stdout and give 0; a parse error prints
/// "<tool>: <message> (see <tool> [SUBCOMMAND] --help)" and gives 2;
/// body's ConfigError (and filesystem_error) 2, DeviceError 1, anything else
/// "internal error" 1. Messages go to stderr.
int run(CLI::App& app, std::string_view tool, int argc, char** argv,
        const std::function<int()>& body);

/// The message of a parse error, naming the option the way argv spelled it
/// ("-n" when the user wrote -n, not CLI11's "--iters") and unknown
/// arguments as "unknown option --x" / "unexpected argument 'x'".
std::string describe(const CLI::ParseError& e, CLI::App& app, const std::vector<std::string>& args);

}  // namespace fastwake::cli
