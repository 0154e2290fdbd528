// chapters/common/demo_flags.hpp — one command-line policy for every demo, on CLI11.
//
//   gofer_demo::parse_flags(app, argc, argv)   parses; returns an exit code to return now,
//                                              or -1 to go on
//
// The policy (DEVELOPERS.md: demos reject bad flags with a usage line): --help prints the
// help and exits 0; a bad flag or value prints the error and the usage line and exits 2.
// Parsing is CLI11's (Debian's libcli11-dev): demos declare their flags with
// app.add_option(...) and validators such as CLI::Range, and nothing is parsed by hand.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace gofer_demo {

inline int parse_flags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    // The "Usage: name [OPTIONS]" line of CLI11's help text.
    std::string help = app.help(), usage = "Usage: " + app.get_name() + " [OPTIONS]";
    if (auto at = help.find("Usage:"); at != std::string::npos) usage = help.substr(at, help.find('\n', at) - at);
    usage += "  (--help for the flags)";
    std::fprintf(stderr, "%s: %s\n%s\n", app.get_name().c_str(), e.what(), usage.c_str());
    return 2;
  }
  return -1;
}

}  // namespace gofer_demo
