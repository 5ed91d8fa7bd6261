// Full disks: the database, checkpoints, the image cache and reports on a small file system (a
// size-limited tmpfs mounted by the test in a mount namespace of its own, so nothing outlives
// the test), filled to the last byte. Every command fails with an error naming the path and
// "no space", the database keeps every row it held, and the sweep resumes once space is freed.
#include <png.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/ubp_fixture.h"
#include "support/wait.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// Every row of every table of a database, as text in a fixed order: equal dumps, equal contents.
// Opened for writing, so that closing it as the last connection removes the -wal and -shm
// files as ubp leaves them; nothing is written.
std::string dump(const std::string& db) {
  sqlite3* handle = nullptr;
  std::string text;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(handle);
    return "<cannot open " + db + ">";
  }
  for (const char* table : {"runs", "params", "metrics", "layers", "latency", "meta"}) {
    const std::string sql = std::string("SELECT * FROM ") + table + " ORDER BY 1, 2";
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr);
    text += std::string("[") + table + "]\n";
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* value = sqlite3_column_text(stmt, i);
        text += value != nullptr ? reinterpret_cast<const char*>(value) : "NULL";
        text += '|';
      }
      text += '\n';
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(handle);
  return text;
}

// A PNG of solid colour, written with libpng.
void write_png(const fs::path& path, int width, int height, uint8_t red) {
  fs::create_directories(path.parent_path());
  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * 3));
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = red;
    pixels[i + 1] = static_cast<uint8_t>(i % 251);
    pixels[i + 2] = 90;
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_RGB;
  ASSERT_NE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr), 0) << path;
}

class FullDisk : public UbpTest {
 protected:
  fs::path small;  // the small file system's mount point
  bool mounted = false;

  void SetUp() override {
    // A mount namespace of our own (inherited by the `ubp` processes we start): the mount
    // disappears with this process whatever happens, and no other process sees it.
    if (::unshare(CLONE_NEWNS) != 0) {
      GTEST_SKIP() << "cannot mount a small file system for this test: unshare(CLONE_NEWNS) failed ("
                   << std::strerror(errno) << "); it needs root or CAP_SYS_ADMIN";
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      GTEST_SKIP() << "cannot make the mounts private for this test (" << std::strerror(errno) << ")";
    }
    small = work.path() / "small";
    fs::create_directories(small);
    if (::mount("ubp-full-disk-test", small.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755") != 0) {
      GTEST_SKIP() << "cannot mount a 16 MiB tmpfs on " << small << " (" << std::strerror(errno) << ")";
    }
    mounted = true;
  }

  void TearDown() override {
    if (mounted) ::umount2(small.c_str(), MNT_DETACH);
  }

  // Fills the small file system to its last byte with one file; returns the bytes written.
  size_t fill() {
    const std::string filler = (small / "filler").string();
    std::FILE* file = std::fopen(filler.c_str(), "ab");
    EXPECT_NE(file, nullptr);
    std::setvbuf(file, nullptr, _IONBF, 0);
    size_t written = 0;
    const std::string chunk(1 << 20, 'x');
    for (size_t size : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
      while (std::fwrite(chunk.data(), 1, size, file) == size) written += size;
      std::clearerr(file);
    }
    std::fclose(file);
    EXPECT_EQ(free_bytes(), 0u);
    return written;
  }

  void free_space() { fs::remove(small / "filler"); }

  size_t free_bytes() const { return fs::space(small).available; }

  // The command failed (with an exit status, not a crash) and said which path had no space.
  static void expect_no_space(const ProcessResult& result, const std::string& path) {
    EXPECT_GT(result.exit_code, 0) << "it should fail with an error, not succeed or crash: " << result.err;
    EXPECT_TRUE(contains(result.err, path)) << "the error should name " << path << ": " << result.err;
    EXPECT_TRUE(contains(lowercase(result.err), "no space")) << "the error should say no space: " << result.err;
  }

  static std::string one(const std::string& db, const std::string& sql) {
    const auto rows = query(db, sql);
    return rows.empty() ? "" : rows.front();
  }

  // A tiny training run (synthetic data, MobileNetV1 0.25) with `extra` YAML lines.
  std::string training_config(const std::string& name, const std::string& extra = "") {
    return work.write(name,
                      "experiment: {kind: training, seed: 3}\n"
                      "data: {dataset: synthetic, image_size: 28, train_limit: 512, test_limit: 128}\n"
                      "model: {name: mobilenet_v1, width: 0.25}\n"
                      "train: {epochs: 3, batch_size: 32, lr: 0.05, threads: 1}\n"
                      "prune: {method: bed, sparsity: 0.75, ramp_epochs: 1, finetune_epochs: 2, update_every: 5}\n" +
                          extra);
  }
};

TEST_F(FullDisk, EveryCommandOnAFullDatabaseSaysNoSpaceAndTheRowsSurviveUntilTheSweepResumes) {
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.6, 0.7, 0.8, 0.9]");
  const std::string db = (small / "db" / "s.db").string();
  const auto start = ubp({"run", cfg, "--db", db, "--quiet", "sweep.prune.sparsity=[0.5,0.6]"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  const std::string before = dump(db);
  ASSERT_TRUE(contains(before, "done")) << before;
  ASSERT_FALSE(fs::exists(db + "-shm")) << "the database was left open";
  const auto other = work.file("other.db");
  ASSERT_EQ(ubp({"run", cfg, "--db", other, "--quiet", "prune.sparsity=0.9"}).exit_code, 0);

  // Even reading needs room: a database in WAL mode is opened with its -shm index file.
  fill();
  expect_no_space(ubp({"run", cfg, "--db", db}), db);
  expect_no_space(ubp({"db", "info", db}), db);
  expect_no_space(ubp({"db", "merge", other, "--into", db}), db);
  expect_no_space(ubp({"report", "--db", db, "--out", work.file("report")}), db);
  expect_no_space(ubp({"run", cfg, "--db", (small / "fresh.db").string()}), (small / "fresh.db").string());
  free_space();
  EXPECT_EQ(dump(db), before) << "the database lost or changed rows";

  // With its index file in place (a reader leaves it), a full database still reads: reports and
  // summaries work, writes fail.
  ASSERT_EQ(ubp({"db", "info", db}).exit_code, 0);
  ASSERT_TRUE(fs::exists(db + "-shm"));
  fill();
  const auto info = ubp({"db", "info", db});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_TRUE(contains(info.out, "runs       2: 2 done")) << info.out;
  EXPECT_EQ(ubp({"report", "--db", db, "--out", work.file("report")}).exit_code, 0);
  expect_no_space(ubp({"run", cfg, "--db", db}), db);
  expect_no_space(ubp({"db", "merge", other, "--into", db}), db);
  expect_no_space(ubp({"report", "--db", db, "--out", (small / "report").string()}), (small / "report").string());

  free_space();
  EXPECT_EQ(dump(db), before) << "the database lost or changed rows";
  EXPECT_EQ(one(db, "PRAGMA integrity_check"), "ok");
  const auto resumed = ubp({"run", cfg, "--db", db});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(contains(resumed.out, "5 runs: 3 done now, 2 already done, 0 failed")) << resumed.out;
  EXPECT_EQ(one(db, "SELECT count(*) FROM runs WHERE status = 'done'"), "5");
  EXPECT_EQ(one(db, "SELECT sum(attempts) FROM runs"), "5") << "a run was lost to the full disk and redone";
}

TEST_F(FullDisk, ACheckpointThatDoesNotFitFailsTheRunNamingItAndTheRunIsRedoneOnceSpaceIsFreed) {
  // The dense baseline's checkpoints go to the cache folder (output.cache), here on the full
  // file system; the database is elsewhere and records the failure.
  const auto cfg = training_config("t.yaml", "output: {cache: " + (small / "cache").string() + "}\n");
  const std::string db = work.file("db/t.db");
  fill();
  const auto failed = ubp({"run", cfg, "--db", db});
  expect_no_space(failed, (small / "cache").string());
  EXPECT_TRUE(contains(failed.err, ".partial.pt")) << failed.err;
  EXPECT_EQ(failed.exit_code, 1) << "a failed run, not a broken database or a crash";
  EXPECT_EQ(one(db, "SELECT status FROM runs"), "failed");
  EXPECT_TRUE(contains(lowercase(one(db, "SELECT error FROM runs")), "no space")) << one(db, "SELECT error FROM runs");
  for (const auto& entry : fs::directory_iterator(small / "cache")) {
    EXPECT_FALSE(contains(entry.path().string(), ".tmp")) << "a temporary file was left behind: " << entry.path();
  }

  free_space();
  const auto redone = ubp({"run", cfg, "--db", db});
  ASSERT_EQ(redone.exit_code, 0) << redone.err;
  EXPECT_EQ(one(db, "SELECT status || ' ' || attempts FROM runs"), "done 2");
}

TEST_F(FullDisk, ADiskThatFillsWhileARunPrunesStopsItAtItsNextCheckpointAndTheSweepResumes) {
  // Database and the run's own checkpoints (<db dir>/work) on the small file system; the dense
  // baseline on the big one. The disk fills once the baseline is trained, while the run prunes.
  const fs::path cache = work.path() / "cache";
  const auto cfg = training_config("t.yaml", "output: {cache: " + cache.string() + "}\n");
  const std::string db = (small / "t.db").string();
  const pid_t pid = spawn({UBP_BIN, "run", cfg, "--db", db}, work.path().string(), work.file("out"), work.file("err"));
  const auto baseline_done = [&] {
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(cache, ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("dense-", 0) == 0 && name.size() > 3 && name.substr(name.size() - 3) == ".pt" &&
          !contains(name, "partial")) {
        return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(wait_until(baseline_done)) << read_bytes(work.file("err"));
  const std::string before = dump(db);
  fill();
  const int code = wait_exit_code(pid);
  const std::string err = read_bytes(work.file("err"));
  EXPECT_GT(code, 0) << "it should fail with an error, not succeed or crash: " << err;
  EXPECT_TRUE(contains(lowercase(err), "no space")) << err;
  // The run's checkpoint (or, had it finished its epochs first, its kept model) did not fit.
  EXPECT_TRUE(contains(err, (small / "work").string() + "/") || contains(err, (small / "models").string() + "/"))
      << err;
  const std::string run_id = one(db, "SELECT run_id FROM runs");
  EXPECT_FALSE(fs::exists(small / "work" / run_id / "checkpoint.pt.tmp")) << "a temporary file was left behind";

  free_space();
  EXPECT_EQ(one(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(one(db, "SELECT count(*) FROM runs"), "1") << before;
  const auto resumed = ubp({"run", cfg, "--db", db});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(contains(resumed.out, "1 run: 1 done now")) << resumed.out;
  EXPECT_EQ(one(db, "SELECT status FROM runs"), "done");
  EXPECT_GE(std::stoi(one(db, "SELECT count(*) FROM metrics")), 10);
}

TEST_F(FullDisk, AnImageCacheThatDoesNotFitFailsTheRunNamingTheCacheAndIsBuiltOnceSpaceIsFreed) {
  const fs::path images = work.path() / "images";
  for (int c = 0; c < 3; ++c) {
    for (const auto& [split, count] : {std::pair<std::string, int>{"train", 8}, {"val", 4}}) {
      for (int k = 0; k < count; ++k) {
        write_png(images / split / ("class" + std::to_string(c)) / ("img" + std::to_string(k) + ".png"), 48, 40,
                  static_cast<uint8_t>(40 + 70 * c));
      }
    }
  }
  const std::string cache = (small / "images.cache").string();
  const auto cfg = work.write("i.yaml",
                              "experiment: {kind: training}\n"
                              "data: {dataset: imagenet, root: " + images.string() +
                                  ", image_size: 32, loader_threads: 1, cache: " + cache + "}\n"
                                  "model: {name: mobilenet_v1, width: 0.25, small_input: true}\n"
                                  "train: {epochs: 1, batch_size: 8, lr: 0.05, threads: 1}\n"
                                  "prune: {method: aligned, sparsity: 0.5, ramp_epochs: 0, finetune_epochs: 1}\n");
  const std::string db = work.file("db/i.db");
  fill();
  const auto failed = ubp({"run", cfg, "--db", db});
  expect_no_space(failed, cache);
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_EQ(one(db, "SELECT status FROM runs"), "failed");
  EXPECT_TRUE(contains(one(db, "SELECT error FROM runs"), cache)) << one(db, "SELECT error FROM runs");

  free_space();
  const auto redone = ubp({"run", cfg, "--db", db});
  ASSERT_EQ(redone.exit_code, 0) << redone.err;
  EXPECT_EQ(one(db, "SELECT status FROM runs"), "done");
  EXPECT_TRUE(fs::exists(cache + ".train"));
  EXPECT_TRUE(fs::exists(cache + ".val"));
}

TEST_F(FullDisk, AReportThatDoesNotFitFailsNamingItsFolderAndIsWrittenOnceSpaceIsFreed) {
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.8]");
  const std::string db = work.file("s.db");
  ASSERT_EQ(ubp({"run", cfg, "--db", db, "--quiet", "--report", ""}).exit_code, 0);
  const std::string before = dump(db);
  const std::string out = (small / "report").string();
  fill();
  expect_no_space(ubp({"report", "--db", db, "--out", out}), out);
  EXPECT_EQ(dump(db), before);

  free_space();
  const auto written = ubp({"report", "--db", db, "--out", out});
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_TRUE(contains(read_bytes(out + "/report.md"), "2 runs, 2 done"));
}

TEST_F(FullDisk, APackedModelThatDoesNotFitFailsNamingItsFileAndLeavesNothingBehind) {
  const std::string out = (small / "m.ubpm").string();
  const std::vector<std::string> args{"export", "--arch", "mobilenet_v1", "--resolution", "32", "--method", "bed",
                                      "--sparsity", "0.8", "--block", "4x1", "--kernel", "unaligned", "--out", out};
  fill();
  expect_no_space(ubp(args), out);
  for (const auto& entry : fs::directory_iterator(small)) {
    EXPECT_EQ(entry.path().filename(), "filler") << "left behind: " << entry.path();
  }
  free_space();
  const auto written = ubp(args);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_GT(fs::file_size(out), 1000u);
}

}  // namespace
}  // namespace ubp::testing
