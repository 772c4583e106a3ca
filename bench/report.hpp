// Number formatting and command-line echo shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

inline std::string rate(double per_second) {
  if (per_second >= 1e6) return fmt("%.2f M/s", per_second / 1e6);
  if (per_second >= 1e3) return fmt("%.1f k/s", per_second / 1e3);
  return fmt("%.0f /s", per_second);
}

inline std::string seconds(double s) {
  if (s >= 1) return fmt("%.2f s", s);
  if (s >= 1e-3) return fmt("%.1f ms", s * 1e3);
  return fmt("%.0f us", s * 1e6);
}

// Latencies need a digit more than seconds() below a millisecond.
inline std::string nanos(double ns) {
  if (ns >= 1e9) return fmt("%.2f s", ns / 1e9);
  if (ns >= 1e6) return fmt("%.2f ms", ns / 1e6);
  return fmt("%.1f us", ns / 1e3);
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The command line as a shell would need it to run it again.
inline std::string command_line(int argc, char** argv) {
  auto quote = [](const std::string& arg) {
    if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos) return arg;
    std::string out = "'";
    for (char c : arg) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    return out + "'";
  };
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + quote(argv[i]);
  return command;
}

// "SUMMARY: n of m targets passed", naming those missed: the last line of
// every benchmark, for scripts.
inline void print_summary(int passed, int evaluated, const std::vector<std::string>& missed) {
  std::printf("\nSUMMARY: %d of %d targets passed", passed, evaluated);
  if (!missed.empty()) {
    std::printf(" (missed:");
    for (size_t i = 0; i < missed.size(); ++i) std::printf("%s %s", i ? ";" : "", missed[i].c_str());
    std::printf(")");
  }
  std::printf("\n");
}

}  // namespace bench
