// Hostile inputs through the real binaries, each under a 2 GiB address-space limit (`ulimit -v`):
// crafted small configs, overrides, .npy files, packed models and device files must give a clear
// error (exit 1 or 2 and a message naming the place), never a signal or an allocation failure;
// generated Slurm scripts must run no injected command and keep every #SBATCH line.
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include "support/npy_bytes.h"
#include "support/ubp_fixture.h"
#include "ubp/device/model_file.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kAddressSpaceLimitKiB = "2097152";  // 2 GiB

class HostileInput : public UbpTest {
 protected:
  // `program args...` run by bash under the address-space limit, in the test's folder; `setup`
  // is more shell run first (another ulimit, a trap).
  ProcessResult limited(const std::vector<std::string>& args, const std::string& setup = "",
                        const std::string& program = UBP_BIN) {
    std::vector<std::string> argv = {"bash", "-c",
                                     setup + "ulimit -v " + kAddressSpaceLimitKiB + " && exec \"$@\"", "bash", program};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, work.path().string());
  }

  // A clear refusal: exit 1 or 2 (never a signal, which run_process reports as negative, nor
  // 134/139 from a shell), every piece in stderr, and a short message.
  void expect_refused(const ProcessResult& r, const std::vector<std::string>& pieces) {
    EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << "exit " << r.exit_code << "\n" << r.err.substr(0, 2000);
    for (const auto& piece : pieces) EXPECT_TRUE(contains(r.err, piece)) << piece << " not in:\n" << r.err.substr(0, 2000);
    EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos) << r.err.substr(0, 2000);
    EXPECT_LT(r.err.size(), 20000u) << "messages quote excerpts, not whole inputs";
  }

  std::string selection_config(const std::string& name, const std::string& extra = "") {
    return work.write(name, "experiment: {kind: selection, name: hostile}\n"
                            "prune: {method: aligned, block: [4, 1], sparsity: 0.5}\n"
                            "selection: {rows: 16, cols: 8, matrices: 1}\n" + extra);
  }
};

// Scalars of 100 000 characters killed `ubp run`, `ubp plan` and `ubp select` with SIGSEGV
// (std::regex recursion); numbers that do not fit printed a bare "error: stod".
TEST_F(HostileInput, LongScalarsAndNumbersThatDoNotFitAreErrorsWithTheirPlace) {
  const std::string digits(100000, '7');
  work.write("long.yaml", "experiment: {kind: selection}\nprune:\n  sparsity: " + digits + "\n");
  for (const std::string command : {"plan", "run"}) {
    std::vector<std::string> args = {command, "long.yaml"};
    if (command == "run") args.push_back("--dry-run");
    expect_refused(limited(args), {"long.yaml:3:13: prune.sparsity: the number", "does not fit"});
  }
  work.write("tiny.yaml", "experiment: {kind: selection}\nprune:\n  sparsity: 1e-400\n");
  expect_refused(limited({"plan", "tiny.yaml"}), {"tiny.yaml:3:13: prune.sparsity", "does not fit"});
  work.write("words.yaml", "experiment: {kind: selection, name: " + std::string(100000, 'n') + "}\n"
                           "prune: {block: " + digits + "x1}\n");
  expect_refused(limited({"plan", "words.yaml"}), {"words.yaml:2:16: prune.block", "is not a block shape"});
  const std::string config = selection_config("plain.yaml");
  expect_refused(limited({"plan", config, "prune.sparsity=" + digits}), {"prune.sparsity", "does not fit"});
  expect_refused(limited({"plan", config, std::string(100000, 'k') + "=1"}), {"expected key=value"});
  expect_refused(limited({"select", "--rows", "8", "--cols", "8", "--block", digits + "x1"}), {"--block"});
  work.write("long-header.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(60000, '9') +
                                              ", 2), }", "", 1));
  expect_refused(limited({"select", "--weights", "long-header.npy"}), {"long-header.npy", "does not fit in 64 bits"});
}

TEST_F(HostileInput, AliasesIncludesOfDevicesAndKeyFloodsAreBounded) {
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string previous = "*a" + std::to_string(level - 1);
    laughs += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [" + previous;
    for (int i = 1; i < 9; ++i) laughs += ", " + previous;
    laughs += "]\n";
  }
  work.write("laughs.yaml", laughs + "experiment: {kind: selection}\n");
  expect_refused(limited({"run", "--dry-run", "laughs.yaml"}), {"laughs.yaml:", "YAML aliases are expanded"});
  work.write("zero.yaml", "include: /dev/zero\nexperiment: {kind: selection}\n");
  expect_refused(limited({"plan", "zero.yaml"}), {"zero.yaml:1:10", "/dev/zero", "character device"});
  std::string flood = "experiment: {kind: selection}\n";
  for (int i = 0; i < 90000; ++i) flood += "k" + std::to_string(i) + ": 1\n";
  work.write("flood.yaml", flood);
  const ProcessResult r = limited({"plan", "flood.yaml"});
  expect_refused(r, {"flood.yaml:2:1: k0: unknown key", "more problems"});
  EXPECT_LT(line_count(r.err), 70u);
}

// The packed model and device files of `ubp latency`: a header nested a million deep, a tiny
// file declaring feature maps of 2^31 - 1 floats, a device "file" that is /dev/zero.
TEST_F(HostileInput, PackedModelsAndDeviceFilesAreRefusedClearly) {
  device::PackedModel model;
  model.name = "huge";
  model.input_shape = {1, 46340, 46340};
  device::Layer pool;
  pool.name = "pool";
  pool.kind = device::LayerKind::kPool;
  pool.input_shape = pool.output_shape = model.input_shape;
  model.layers.push_back(pool);
  device::write_model_file(work.file("huge.ubpm"), model);
  const ProcessResult huge = limited({"latency", "--model", "huge.ubpm", "--device", "local", "--sessions", "1",
                                      "--iterations", "1", "--warmup", "0", "--min-seconds", "0", "--cooldown", "0"});
  EXPECT_EQ(huge.exit_code, 1) << huge.err;
  EXPECT_TRUE(contains(huge.out, "more than the engine's memory limit")) << huge.out << huge.err;

  std::string bytes = read_bytes(work.file("huge.ubpm"));
  const std::string deep_header = std::string(1000000, '[') + std::string(1000000, ']');
  std::string deep = bytes.substr(0, 8) + std::string("\x01\x00\x00\x00", 4);
  // Header checksum and length of the deep header, as the reader checks them.
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : deep_header) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  crc ^= 0xffffffffu;
  for (int i = 0; i < 4; ++i) deep += static_cast<char>(crc >> (8 * i));
  for (int i = 0; i < 8; ++i) deep += static_cast<char>(static_cast<uint64_t>(deep_header.size()) >> (8 * i));
  deep += deep_header;
  deep.resize((deep.size() + 63) / 64 * 64, '\0');
  work.write("deep.ubpm", deep);
  expect_refused(limited({"latency", "--model", "deep.ubpm", "--device", "local"}), {"deep.ubpm", "nested deeper than 32"});
  expect_refused(limited({"latency", "--model", "huge.ubpm", "--device", "/dev/zero"}), {"/dev/zero", "character device"});
}

// `ubp plan CONFIG $'experiment.name=a\n  touch X #' --slurm DIR` wrote the override raw into a
// comment line of job.sbatch: `touch X` became a command of its own, and since a command then
// preceded them sbatch ignored every #SBATCH line. The script is run here by bash, with a stand-in
// `ubp` that records its arguments.
TEST_F(HostileInput, AnOverrideWithANewlineRunsNothingAndEverySbatchLineStands) {
  const std::string config = selection_config("sweep.yaml", "sweep:\n  prune.sparsity: [0.5, 0.75]\n");
  const std::string stub = work.write("stub-ubp", "#!/bin/sh\nprintf '%s\\0' \"$@\" > args.bin\n");
  chmod(stub.c_str(), 0755);
  const std::string hostile = "experiment.name=a\n  touch X #";
  for (const bool data_parallel : {false, true}) {
    SCOPED_TRACE(data_parallel ? "data parallel" : "one process per task");
    const std::string dir = data_parallel ? "slurm-ddp" : "slurm";
    std::vector<std::string> args = {"plan", config, hostile, "--slurm", dir, "--ubp", stub, "--time", "00:10:00"};
    if (data_parallel) args.insert(args.end(), {"--ntasks", "2"});
    const ProcessResult plan = limited(args);
    ASSERT_EQ(plan.exit_code, 0) << plan.err;
    const std::string script = read_bytes(work.file(dir + "/job.sbatch"));
    std::vector<std::string> lines;
    for (size_t start = 0; start < script.size();) {
      const size_t end = script.find('\n', start);
      lines.push_back(script.substr(start, end - start));
      start = end == std::string::npos ? script.size() : end + 1;
    }
    // sbatch reads #SBATCH lines until the first line that is neither a comment nor blank.
    size_t first_command = 0;
    while (first_command < lines.size() && (lines[first_command].empty() || lines[first_command][0] == '#')) {
      ++first_command;
    }
    std::vector<std::string> directives;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].rfind("#SBATCH", 0) == 0) {
        EXPECT_LT(i, first_command) << "#SBATCH line after a command: " << lines[i];
        directives.push_back(lines[i].substr(0, lines[i].find('=')));
      }
    }
    for (const char* expected : {"#SBATCH --job-name", "#SBATCH --array", "#SBATCH --output", "#SBATCH --chdir",
                                 "#SBATCH --cpus-per-task", "#SBATCH --time"}) {
      EXPECT_NE(std::find(directives.begin(), directives.end(), expected), directives.end()) << expected << "\n" << script;
    }
    EXPECT_EQ(script.find("\n  touch X"), std::string::npos) << script;
    EXPECT_EQ(run_process({"bash", "-n", work.file(dir + "/job.sbatch")}, work.path().string()).exit_code, 0);
  }
  // Run the one-process task: the stand-in gets the override as one argument, intact.
  const ProcessResult task = run_process({"env", "SLURM_ARRAY_TASK_ID=1", "bash", work.file("slurm/job.sbatch")},
                                         work.path().string());
  ASSERT_EQ(task.exit_code, 0) << task.err;
  const std::string recorded = read_bytes(work.file("args.bin"));
  std::vector<std::string> argv;
  for (size_t start = 0; start < recorded.size();) {
    const size_t end = recorded.find('\0', start);
    argv.push_back(recorded.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_GE(argv.size(), 4u) << recorded;
  EXPECT_EQ(argv[0], "run");
  EXPECT_EQ(argv[2], hostile);
  EXPECT_FALSE(fs::exists(work.file("X"))) << "the injected command ran";
}

TEST_F(HostileInput, AWorkingDirectoryAnSbatchLineCannotHoldIsRefused) {
  const std::string config = selection_config("plain.yaml");
  const fs::path odd = work.path() / "new\nline";
  fs::create_directories(odd);
  const ProcessResult r = run_process({UBP_BIN, "plan", config, "--slurm", (work.path() / "s").string()}, odd.string());
  expect_refused(r, {"#SBATCH --chdir", "new\\nline", "control character"});
  EXPECT_FALSE(fs::exists(work.file("s/job.sbatch")));
}

// Under `ulimit -f` (with SIGXFSZ ignored, as processes started from Python have it) every write
// past the limit fails: `ubp plan --slurm` reported success with a cut script.
TEST_F(HostileInput, AFileSizeLimitMakesPlanFailAndLeavesNoHalfScript) {
  const std::string config = selection_config("many.yaml", "sweep:\n  prune.sparsity: [" + [] {
    std::string values;
    for (int i = 1; i < 400; ++i) values += (i > 1 ? ", " : "") + std::to_string(i / 400.0);
    return values;
  }() + "]\n");
  const ProcessResult r = limited({"plan", config, "--slurm", "limited"}, "trap '' XFSZ; ulimit -f 8 && ");
  expect_refused(r, {"File too large"});
  for (const auto& entry : fs::recursive_directory_iterator(work.file("limited"))) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  EXPECT_FALSE(fs::exists(work.file("limited/manifest.tsv"))) << "a cut manifest was published";
  EXPECT_FALSE(fs::exists(work.file("limited/job.sbatch")));
}

// A pretrained weights file is a zip archive that LibTorch would open: ours checks its
// directories first, so a crafted one is refused by name, under the address-space limit too.
TEST_F(HostileInput, APretrainedFileThatIsNotASoundZipIsRefusedBeforeLibTorchOpensIt) {
  // A local file header, then an end-of-central-directory record whose directory lies 2 GiB
  // past the end of the file.
  std::string end = std::string("PK\x05\x06", 4) + std::string(18, '\0');
  end[10] = 1;     // entries in total
  end[12] = 46;    // directory size
  end[19] = 0x7f;  // directory offset 0x7f000000
  work.write("bad.pt", std::string("PK\x03\x04", 4) + std::string(26, '\0') + end);
  work.write("t.yaml",
             "experiment: {kind: training, seed: 1}\n"
             "data: {dataset: synthetic, image_size: 28, train_limit: 64, test_limit: 32}\n"
             "model: {name: mobilenet_v1, width: 0.25, pretrained: bad.pt}\n"
             "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n");
  const ProcessResult r = limited({"run", "t.yaml", "--db", "r.db", "--quiet"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_GT(r.exit_code, 0) << "a signal, not a refusal:\n" << r.err.substr(0, 2000);
  EXPECT_TRUE(contains(r.err, "bad.pt")) << r.err.substr(0, 2000);
  EXPECT_TRUE(contains(r.err, "not a sound zip archive")) << r.err.substr(0, 2000);
  EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos) << r.err.substr(0, 2000);
}

TEST_F(HostileInput, SelectRefusesABlockLargerThanTheMatrixAndABlocksFileOntoAFolder) {
  expect_refused(limited({"select", "--rows", "8", "--cols", "8", "--block", "999x999"}),
                 {"--block 999x999 does not fit the 8x8 matrix"});
  fs::create_directories(work.file("taken"));
  expect_refused(limited({"select", "--rows", "8", "--cols", "8", "--block", "4x1", "--method", "aligned",
                          "--blocks-out", "taken"}),
                 {"cannot write the blocks file", "taken"});
  for (const auto& entry : fs::directory_iterator(work.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace ubp::testing
