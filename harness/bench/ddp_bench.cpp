// ubp-bench-ddp: the scaling figure of data-parallel training on this machine: images per
// second of masked MobileNetV1 training steps with 1 and with N processes (distributed/), and the
// gradient all-reduce time per step.
//
// Not a Google Benchmark binary: a case is a group of processes started together (this binary
// again, with --worker), which Google Benchmark's in-process repetition loop cannot time. Each
// case: every process trains --warmup untimed steps, then --steps timed steps on its slice of a
// global batch of --batch images; the figure is global images / rank 0's wall time of the timed
// steps. The cores are split evenly between the processes of a case (LibTorch intra-op threads
// = cores / processes, or --threads), so 1 process uses every core too. Repeat cases
// (--processes 1,2,1,2) on a shared machine: each speed-up is against the latest 1-process case.
//
//   build/bin/ubp-bench-ddp                       # 1 and 2 processes, defaults below
//   build/bin/ubp-bench-ddp --processes 1,2,4 --width 0.25 --image-size 32 --batch 128
#include <ATen/Parallel.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "distributed/distributed.h"
#include "models/mobilenet_v1.h"
#include "training/pruner.h"
#include "training/train_step.h"
#include "training/trainer.h"

namespace {

struct Options {
  std::vector<int> processes{1, 2};
  double width = 1.0;
  int64_t image_size = 96;
  int64_t batch = 32;
  int64_t steps = 10;
  int64_t warmup = 2;
  int threads = 0;  // intra-op threads per process; 0: the cores split between the processes
  // worker side
  int rank = -1, world = 1;
  std::string store, result;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "error: %s\nusage: ubp-bench-ddp [--processes 1,2] [--width 1.0] [--image-size 96] [--batch 32] "
               "[--steps 10] [--warmup 2] [--threads 0]\n",
               problem.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--processes") {
      o.processes.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) o.processes.push_back(std::atoi(item.c_str()));
    } else if (flag == "--width") {
      o.width = std::atof(value.c_str());
    } else if (flag == "--image-size") {
      o.image_size = std::atoll(value.c_str());
    } else if (flag == "--batch") {
      o.batch = std::atoll(value.c_str());
    } else if (flag == "--steps") {
      o.steps = std::atoll(value.c_str());
    } else if (flag == "--threads") {
      o.threads = std::atoi(value.c_str());
    } else if (flag == "--warmup") {
      o.warmup = std::atoll(value.c_str());
    } else if (flag == "--worker") {  // internal: RANK,WORLD,STORE,RESULT
      std::stringstream parts(value);
      std::string rank, world;
      std::getline(parts, rank, ',');
      std::getline(parts, world, ',');
      std::getline(parts, o.store, ',');
      std::getline(parts, o.result, ',');
      o.rank = std::atoi(rank.c_str());
      o.world = std::atoi(world.c_str());
    } else {
      usage("unknown option " + flag);
    }
  }
  for (int p : o.processes) {
    if (p < 1 || o.batch % p != 0) {
      usage("--batch " + std::to_string(o.batch) + " must split evenly over " + std::to_string(p) + " processes");
    }
  }
  if (o.steps < 1 || o.warmup < 0) usage("--steps must be at least 1 and --warmup at least 0");
  return o;
}

// One process of a case: the training experiment's pieces (masked step, averaged gradients).
int worker(const Options& o) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(o.threads > 0 ? o.threads : std::max(1, cores / o.world));
  ubp::distributed::DistributedSettings s;
  s.world_size = o.world;
  s.rank = o.rank;
  s.rendezvous = "file:" + o.store;
  s.interface = "lo";
  std::unique_ptr<ubp::distributed::DistributedContext> dist;
  if (o.world > 1) dist = std::make_unique<ubp::distributed::DistributedContext>(s, "bench");

  torch::manual_seed(0);
  ubp::models::MobileNetV1Options mo;
  mo.width = o.width;
  mo.num_classes = 100;
  ubp::models::MobileNetV1 model(mo);
  if (dist) dist->broadcast_parameters_and_buffers(*model);
  auto sgd = ubp::training::make_sgd(*model, ubp::training::SgdSettings{});
  const auto layers = ubp::training::select_layers(*model, ubp::training::LayerFilter{});
  std::vector<at::Tensor> weights;
  for (const auto& l : layers) weights.push_back(l.weight.detach());
  ubp::training::MaskSet masks;
  const ubp::training::PruneSpec bed_4x1;  // the default selector and block
  ubp::training::install_masks(masks, layers, ubp::training::choose_masks(layers, weights, bed_4x1, 0.8));
  masks.apply_to_weights();

  const int64_t share = o.batch / o.world;
  ubp::data::Batch batch;
  batch.images = at::randn({share, 3, o.image_size, o.image_size});
  batch.labels = at::randint(0, 100, {share}, at::kLong);
  const std::function<void()> reduce = [&] {
    if (dist) dist->average_gradients(*model);
  };
  for (int64_t i = 0; i < o.warmup; ++i) ubp::training::train_step(*model, *sgd, batch, 0.1, &masks, reduce);
  if (dist) dist->barrier();
  const double reduce_before = dist ? dist->allreduce_seconds() : 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) ubp::training::train_step(*model, *sgd, batch, 0.1, &masks, reduce);
  if (dist) dist->barrier();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.rank == 0) {
    std::ofstream(o.result) << static_cast<double>(o.batch * o.steps) / seconds << " "
                            << ((dist ? dist->allreduce_seconds() : 0) - reduce_before) / o.steps << " "
                            << seconds / o.steps << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.rank >= 0) return worker(o);

  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) usage("cannot read /proc/self/exe");
  const std::string program(self, static_cast<size_t>(n));
  char pattern[] = "/tmp/ubp-bench-ddp-XXXXXX";
  if (mkdtemp(pattern) == nullptr) usage("cannot create a folder in /tmp");
  const std::filesystem::path scratch = pattern;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("MobileNetV1 %.2f, 3x%lldx%lld, global batch %lld, masks at 80%% (BED 4x1), %lld timed steps, %d cores\n",
              o.width, static_cast<long long>(o.image_size), static_cast<long long>(o.image_size),
              static_cast<long long>(o.batch), static_cast<long long>(o.steps), cores);
  std::printf("%9s  %8s  %10s  %9s  %16s  %s\n", "processes", "threads", "images/s", "s/step", "all-reduce s/step",
              "speed-up");
  double single = 0;
  for (int world : o.processes) {
    const std::string store = (scratch / ("store" + std::to_string(world))).string();
    const std::string result = (scratch / ("result" + std::to_string(world))).string();
    std::vector<pid_t> pids;
    for (int rank = 0; rank < world; ++rank) {
      const std::string spec = std::to_string(rank) + "," + std::to_string(world) + "," + store + "," + result;
      std::vector<std::string> args{program,     "--worker", spec, "--width", std::to_string(o.width),
                                    "--image-size", std::to_string(o.image_size), "--batch",
                                    std::to_string(o.batch), "--steps", std::to_string(o.steps), "--warmup",
                                    std::to_string(o.warmup), "--threads", std::to_string(o.threads)};
      const pid_t pid = fork();
      if (pid == 0) {
        std::vector<char*> cargs;
        for (auto& a : args) cargs.push_back(a.data());
        cargs.push_back(nullptr);
        execv(program.c_str(), cargs.data());
        _exit(127);
      }
      pids.push_back(pid);
    }
    bool ok = true;
    for (pid_t pid : pids) {
      int status = 0;
      waitpid(pid, &status, 0);
      ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    double images_per_second = 0, allreduce = 0, step = 0;
    std::ifstream in(result);
    if (!ok || !(in >> images_per_second >> allreduce >> step)) {
      std::fprintf(stderr, "error: the case with %d processes failed\n", world);
      return 1;
    }
    if (world == 1) single = images_per_second;  // speed-ups against the latest 1-process case
    std::printf("%9d  %8d  %10.1f  %9.4f  %16.4f  %s\n", world, o.threads > 0 ? o.threads : std::max(1, cores / world),
                images_per_second, step,
                allreduce, single > 0 ? (std::to_string(images_per_second / single).substr(0, 4) + "x").c_str() : "-");
  }
  std::error_code ignored;
  std::filesystem::remove_all(scratch, ignored);
  return 0;
}
