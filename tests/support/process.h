// Runs real processes for end-to-end tests: the `ubp` binary, sqlite3, ...
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace ubp::testing {

struct ProcessResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Starts `argv` in `cwd` with stdout and stderr going to the given files and `env` added to
// its environment; returns the pid.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& cwd,
                   const std::string& out_file, const std::string& err_file,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    dup2(out, 1);
    dup2(err, 2);
    dup2(in, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

inline int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

// Runs `argv` to completion in `cwd` and captures its output.
inline ProcessResult run_process(const std::vector<std::string>& argv, const std::string& cwd) {
  TempDir scratch;
  const std::string out = scratch.file("stdout"), err = scratch.file("stderr");
  ProcessResult result;
  result.exit_code = wait_exit_code(spawn(argv, cwd, out, err));
  result.out = read_bytes(out);
  result.err = read_bytes(err);
  return result;
}

}  // namespace ubp::testing
