// The directory a benchmark run writes its files in: made fresh for the
// run, and removed with the files at its end, or when the program is
// killed by SIGINT, SIGTERM, SIGHUP or SIGPIPE.
#pragma once

#include <string>
#include <vector>

namespace bench {

// Makes `<base>/<prefix>-XXXXXX` with mkdtemp, base being `parent` if not
// empty, else $TMPDIR, else /tmp. Returns "" after printing why if it cannot.
std::string make_run_dir(const std::string& parent, const std::string& prefix);

// Every path the run may create in `dir`, known up front so that the signal
// handler removes them (and then `dir`) without allocating. Installs the
// handler; child processes made by spawn() (procs.hpp) reset it.
void remove_on_signals(const std::string& dir, std::vector<std::string> paths);

// At the end of the run: removes the paths given to remove_on_signals, then
// the directory.
void remove_run_files();

// The end of a run: with `keep` (--keep) says where the files are and
// leaves them, else removes them (remove_run_files).
void finish_run(const std::string& dir, bool keep);

}  // namespace bench
