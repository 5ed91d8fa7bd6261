// Checkpoints: a round trip restores the model, the momentum buffers, the extra tensors and the
// JSON; a damaged or foreign file is an error naming it; a missing one is simply absent.
#include "training/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <tuple>

#include "io/zip_archive.h"
#include "models/mobilenet_v1.h"
#include "support/temp_dir.h"
#include "tests/zip_builder.h"
#include "tiny_mobilenet.h"
#include "training/trainer.h"

namespace ubp::training {
namespace {

models::MobileNetV1 tiny_model(uint64_t seed) { return testing::tiny_mobilenet(seed, /*num_classes=*/4); }

void one_step(models::MobileNetV1& model, torch::optim::SGD& sgd) {
  sgd.zero_grad();
  model->forward(at::ones({2, 1, 32, 32})).sum().backward();
  sgd.step();
}

TEST(Checkpoint, ARoundTripRestoresModelMomentumTensorsAndMetadata) {
  testing::TempDir dir;
  auto a = tiny_model(1);
  auto sgd_a = make_sgd(*a, SgdSettings{});
  one_step(a, *sgd_a);
  Checkpoint c;
  c.meta = {{"epoch", 3}, {"note", "x"}};
  c.tensors["mask/features.0.pw"] = at::arange(6, at::kFloat);
  save_checkpoint(dir.file("c.pt"), c, *a, sgd_a.get());
  EXPECT_FALSE(std::filesystem::exists(dir.file("c.pt.tmp")));

  auto b = tiny_model(2);  // different weights until loaded
  auto sgd_b = make_sgd(*b, SgdSettings{});
  const auto loaded = load_checkpoint(dir.file("c.pt"), *b, sgd_b.get());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->meta["epoch"], 3);
  EXPECT_EQ(loaded->meta["note"], "x");
  ASSERT_EQ(loaded->tensors.count("mask/features.0.pw"), 1u);
  EXPECT_TRUE(loaded->tensors.at("mask/features.0.pw").equal(at::arange(6, at::kFloat)));
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(item.value().equal(pb[item.key()])) << item.key();
  const auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(item.value().equal(bb[item.key()])) << item.key();

  // The same next step from both: the momentum buffers came back too.
  one_step(a, *sgd_a);
  one_step(b, *sgd_b);
  for (const auto& item : a->named_parameters()) {
    EXPECT_TRUE(item.value().equal(b->named_parameters()[item.key()])) << item.key();
  }
}

TEST(Checkpoint, AMissingFileIsAbsentAndADamagedOneIsAnErrorNamingIt) {
  testing::TempDir dir;
  auto model = tiny_model(1);
  EXPECT_FALSE(load_checkpoint(dir.file("none.pt"), *model, nullptr).has_value());
  EXPECT_FALSE(read_checkpoint_meta(dir.file("none.pt")).has_value());

  save_checkpoint(dir.file("c.pt"), Checkpoint{}, *model, nullptr);
  const std::string bytes = testing::read_bytes(dir.file("c.pt"));
  dir.write("torn.pt", bytes.substr(0, bytes.size() / 2));
  dir.write("junk.pt", "not a checkpoint at all");
  for (const char* name : {"torn.pt", "junk.pt"}) {
    try {
      load_checkpoint(dir.file(name), *model, nullptr);
      FAIL() << name << " loaded";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(dir.file(name)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("delete it"), std::string::npos) << e.what();
    }
  }
}

// Our zip check (io/zip_archive.h) runs before LibTorch opens a checkpoint: the archives
// save_checkpoint writes pass it, and one whose directory lies is refused in its words.
TEST(Checkpoint, AnArchiveWithUnsafeEntriesIsRefusedBeforeLibTorchOpensIt) {
  testing::TempDir dir;
  auto model = tiny_model(1);
  save_checkpoint(dir.file("c.pt"), Checkpoint{}, *model, nullptr);
  const std::vector<io::ZipEntry> entries = io::check_zip_archive(dir.file("c.pt"));
  ASSERT_GE(entries.size(), 2u);
  const std::string bytes = testing::read_bytes(dir.file("c.pt"));
  const size_t central_entry = testing::find_central_entry(bytes, entries[1].name);
  ASSERT_NE(central_entry, std::string::npos);
  const size_t central_name = central_entry + 46;

  std::string absolute = bytes;
  absolute[central_name] = '/';
  std::string cloned = bytes;  // the second entry pointing at the first one's record
  for (int i = 0; i < 4; ++i) {
    cloned[central_entry + 42 + i] = static_cast<char>((entries[0].local_header_offset >> (8 * i)) & 0xff);
  }
  for (const auto& [name, contents, what] :
       {std::tuple<std::string, std::string, std::string>{"absolute.pt", absolute, "has an absolute name"},
        {"cloned.pt", cloned, "has a local header naming another file"}}) {
    const std::string path = dir.write(name, contents);
    for (const bool meta_only : {false, true}) {
      try {
        if (meta_only) {
          read_checkpoint_meta(path);
        } else {
          load_checkpoint(path, *model, nullptr);
        }
        ADD_FAILURE() << name << " loaded";
      } catch (const std::runtime_error& e) {
        const std::string message = e.what();
        EXPECT_EQ(message.find("checkpoint " + path + " is damaged (entry 2 '"), 0u) << message;
        EXPECT_NE(message.find(what), std::string::npos) << message;
        EXPECT_NE(message.find("); delete it to start over"), std::string::npos) << message;
      }
    }
  }
}

TEST(Checkpoint, AModelOfAnotherShapeIsRefusedWithTheFileNamed) {
  testing::TempDir dir;
  auto model = tiny_model(1);
  save_checkpoint(dir.file("c.pt"), Checkpoint{}, *model, nullptr);
  models::MobileNetV1Options o;
  o.width = 0.5;
  o.num_classes = 4;
  o.in_channels = 1;
  models::MobileNetV1 wider(o);
  try {
    load_checkpoint(dir.file("c.pt"), *wider, nullptr);
    FAIL() << "loaded into a wider model";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("c.pt")), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ubp::training
