// The table of targets the issue benchmarks end with: one row per target,
// a Rivulet figure against a reference, PASS or MISS, and a summary line.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "report.hpp"

namespace bench {

enum class Verdict { pass, miss, not_evaluated };

struct Row {
  std::string what, riv, ref, ratio, target;
  Verdict verdict = Verdict::not_evaluated;
};

inline const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::miss: return "MISS";
    case Verdict::not_evaluated: return "n/a";
  }
  return "?";
}

// A Rivulet figure against a reference, with a ratio target (lower or higher is better).
inline Row ratio_row(const std::string& what, bool riv_ok, double riv, bool ref_ok, double ref,
                     const std::string& riv_text, const std::string& ref_text, double target, bool at_most) {
  Row row{what, riv_ok ? riv_text : "ERROR", ref_ok ? ref_text : "ERROR", "",
          fmt(at_most ? "<= %.1fx" : ">= %.0fx", target), Verdict::not_evaluated};
  if (!riv_ok) {
    row.verdict = Verdict::miss;
  } else if (ref_ok && ref > 0) {
    double ratio = riv / ref;
    row.ratio = fmt("%.2fx", ratio);
    row.verdict = (at_most ? ratio <= target : ratio >= target) ? Verdict::pass : Verdict::miss;
  }
  return row;
}

// The rows, `legend` under them (what "reference" means in each section),
// then "SUMMARY: n of m targets passed" naming those missed.
inline void print_table(const std::vector<Row>& rows, const char* legend) {
  std::printf("\n%-52s %12s %12s %8s %-9s %s\n", "target", "Rivulet", "reference", "ratio", "target", "result");
  std::printf("%s\n", std::string(104, '-').c_str());
  int passed = 0, evaluated = 0;
  std::vector<std::string> missed;
  for (const Row& row : rows) {
    std::printf("%-52s %12s %12s %8s %-9s %s\n", row.what.c_str(), row.riv.c_str(), row.ref.c_str(), row.ratio.c_str(),
                row.target.c_str(), verdict_name(row.verdict));
    if (row.verdict == Verdict::not_evaluated) continue;
    ++evaluated;
    if (row.verdict == Verdict::pass) {
      ++passed;
    } else {
      missed.push_back(row.what);
    }
  }
  std::printf("%s\n", std::string(104, '-').c_str());
  std::printf("%s\n", legend);
  print_summary(passed, evaluated, missed);
}

}  // namespace bench
