#include "runner/logging.h"

#include <unistd.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace ubp::runner {

namespace {
std::shared_ptr<spdlog::sinks::sink>& console_sink() {
  static std::shared_ptr<spdlog::sinks::sink> sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    s->set_pattern("%^%v%$");
    s->set_level(spdlog::level::info);
    return std::shared_ptr<spdlog::sinks::sink>(s);
  }();
  return sink;
}
Verbosity g_verbosity = Verbosity::kNormal;
}  // namespace

std::shared_ptr<spdlog::logger> console() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("ubp", console_sink());
    l->set_level(spdlog::level::debug);  // the sink decides what reaches the terminal
    return l;
  }();
  return logger;
}

void set_verbosity(Verbosity verbosity) {
  g_verbosity = verbosity;
  switch (verbosity) {
    case Verbosity::kQuiet:
      console_sink()->set_level(spdlog::level::warn);
      break;
    case Verbosity::kNormal:
      console_sink()->set_level(spdlog::level::info);
      break;
    case Verbosity::kVerbose:
      console_sink()->set_level(spdlog::level::debug);
      break;
  }
}

bool progress_bar_wanted() { return g_verbosity != Verbosity::kQuiet && isatty(STDERR_FILENO) == 1; }

std::shared_ptr<spdlog::logger> run_logger(const std::string& run_id, const std::string& file) {
  auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
  file_sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  file_sink->set_level(spdlog::level::debug);
  // A run's own chatter reaches the terminal only with --verbose; the runner reports outcomes.
  std::vector<spdlog::sink_ptr> sinks{file_sink};
  if (g_verbosity == Verbosity::kVerbose) sinks.push_back(console_sink());
  auto logger = std::make_shared<spdlog::logger>("run " + run_id, sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::debug);
  return logger;
}

}  // namespace ubp::runner
