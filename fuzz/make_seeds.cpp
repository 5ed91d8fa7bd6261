// ubp_fuzz_seeds OUT_DIR SOURCE_DIR: writes the seed corpus of every fuzz target, one folder per
// target under OUT_DIR, from the project's own writers and files (scripts/fuzz.sh runs it after
// each build, so the seeds follow the formats as they change):
//   model_file     packed models of every layer kind and storage (device/tests/model_builder.h)
//   npy            matrices written by write_npy_matrix, and numpy's other header spellings
//   idx            image and label files, plain and gzip
//   image          JPEGs and PNGs of every colour type encode_jpeg / encode_png write
//   image_cache    a cache of the fuzz tree (image_tree.h)
//   config         every YAML file under configs/ (the shipped sweeps and bases)
//   device_config  configs/devices/*.yaml
//   torch_pickle   a state_dict pickle as torch.save writes it (two tensors sharing a storage)
//   zip_archive    zip archives laid out as LibTorch writes torch.save files and checkpoints,
//                  plain and zip64 (harness/tests/zip_builder.h)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/idx_reader.h"
#include "data/image_cache.h"
#include "data/image_codec.h"
#include "image_tree.h"
#include "io/npy.h"
#include "model_builder.h"
#include "tests/state_dict_pickle.h"
#include "tests/zip_builder.h"
#include "ubp/device/model_file.h"

namespace fs = std::filesystem;

namespace {

fs::path out_root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = out_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void model_files(const fs::path& scratch) {
  using ubp::device::PoolKind;
  using ubp::device::WeightStorage;
  using ubp::kernels::Activation;
  ubp::device::testing::ModelBuilder mobile("tiny-mobilenet", {3, 8, 8}, 1);
  mobile.conv("conv1", 8, 3, 2, 1, Activation::kRelu6, WeightStorage::kDense);
  mobile.depthwise("dw2", 1, Activation::kRelu6, WeightStorage::kAligned);
  mobile.conv("pw3", 8, 1, 1, 0, Activation::kRelu, WeightStorage::kUnaligned);
  mobile.pool("pool4", PoolKind::kGlobalAverage);
  mobile.fc("fc5", 5, Activation::kNone, WeightStorage::kUnalignedNaive);

  ubp::device::testing::ModelBuilder resnet("tiny-resnet", {4, 6, 6}, 2);
  const int stem = resnet.conv("stem", 8, 3, 1, 1, Activation::kRelu, WeightStorage::kAligned);
  resnet.pool("max", PoolKind::kMax, 2, 2, 0);
  resnet.conv("a", 8, 1, 1, 0, Activation::kRelu, WeightStorage::kUnaligned);
  resnet.conv("down", 8, 1, 2, 0, Activation::kNone, WeightStorage::kDense, stem);
  resnet.add("add", 2, Activation::kRelu, 3);
  resnet.pool("avg", PoolKind::kAverage, 3, 1, 1);
  resnet.fc("fc", 3, Activation::kNone, WeightStorage::kAligned);

  for (const auto* model : {&mobile.model(), &resnet.model()}) {
    const std::string path = (scratch / (model->name + ".ubpm")).string();
    ubp::device::write_model_file(path, *model);
    write("model_file", model->name + ".ubpm", read(path));
  }
}

void npy_files(const fs::path& scratch) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {4, 4}, {3, 7}, {0, 5}}) {
    ubp::algorithms::Matrix m(rows, cols);
    for (size_t i = 0; i < m.values.size(); ++i) m.values[i] = 0.25f * static_cast<float>(i) - 1.0f;
    const std::string path = (scratch / "m.npy").string();
    ubp::io::write_npy_matrix(path, m);
    write("npy", "f4_" + std::to_string(rows) + "x" + std::to_string(cols) + ".npy", read(path));
  }
  // What numpy writes for other dtypes and orders: the header spellings the reader must parse.
  const auto npy = [](const std::string& dict, size_t data_bytes) {
    std::string header = dict;
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY\x01";
    out += '\0';
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    return out + header + std::string(data_bytes, '\x01');
  };
  write("npy", "f8_fortran.npy", npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", 48));
  write("npy", "f2.npy", npy("{'descr': '<f2', 'fortran_order': False, 'shape': (3, 2), }", 12));
  write("npy", "f4_1d.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 20));
  write("npy", "big_endian.npy", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", 16));
}

void idx_files(const fs::path& scratch) {
  std::vector<uint8_t> pixels(2 * 4 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 11);
  const std::string images = ubp::data::encode_idx({2, 4, 3}, pixels);
  const std::string labels = ubp::data::encode_idx({5}, {0, 1, 2, 3, 9});
  write("idx", "images-idx3-ubyte", images);
  write("idx", "labels-idx1-ubyte", labels);
  for (const auto& [name, bytes] : {std::pair{"images-idx3-ubyte.gz", images}, std::pair{"labels-idx1-ubyte.gz", labels}}) {
    const std::string path = (scratch / name).string();
    ubp::data::write_gzip(path, bytes);
    write("idx", name, read(path));
  }
}

void images() {
  ubp::data::RgbImage image(19, 13);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 37) % 251);
  int n = 0;
  // The first byte of each input picks the decode mode (image_fuzz.cpp): full size, or scaled.
  for (const char mode : {'\0', '\1'}) {
    using ubp::data::JpegColor;
    for (JpegColor color : {JpegColor::kRgb, JpegColor::kGray, JpegColor::kCmykInverted}) {
      write("image", "jpeg" + std::to_string(n++), mode + ubp::data::encode_jpeg(image, 80, color));
    }
  }
  using ubp::data::PngColor;
  ubp::data::RgbImage few(7, 5);  // the palette type needs at most 256 colours
  for (size_t i = 0; i < few.pixels.size(); ++i) few.pixels[i] = static_cast<uint8_t>(i % 3 * 100);
  for (PngColor color : {PngColor::kRgb, PngColor::kRgba, PngColor::kGray, PngColor::kGrayAlpha, PngColor::kPalette,
                         PngColor::kRgb16}) {
    write("image", "png" + std::to_string(n++), '\0' + ubp::data::encode_png(few, color));
  }
}

void image_cache(const fs::path& scratch) {
  const fs::path root = scratch / "images";
  ubp::fuzz::make_image_tree(root);
  const std::string path = (scratch / "cache.bin").string();
  ubp::data::ImageCache::open_or_build(path, ubp::fuzz::image_tree_subset(root),
                                       ubp::fuzz::image_tree_cache_settings());
  write("image_cache", "cache.bin", read(path));
}

void yaml_files(const fs::path& source) {
  int n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(source / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    const bool device = entry.path().parent_path().filename() == "devices";
    write(device ? "device_config" : "config", std::to_string(n++) + "_" + entry.path().filename().string(),
          read(entry.path()));
  }
  // An override after the NUL byte (config_fuzz.cpp's input format).
  write("config", "with_overrides.yaml",
        read(source / "configs/base/selection.yaml") + std::string(1, '\0') + "prune.sparsity=0.5\nprune.block=4x1");
}

void pickles() { write("torch_pickle", "state_dict.pkl", ubp::testing::two_view_state_dict_pickle()); }

void zip_archives() {
  using ubp::testing::build_zip;
  const auto state_dict = ubp::testing::state_dict_archive_members(ubp::testing::two_view_state_dict_pickle());
  write("zip_archive", "state_dict.pth", build_zip(state_dict).bytes);
  write("zip_archive", "state_dict_zip64.pth", build_zip(state_dict, /*zip64=*/true).bytes);
  // A checkpoint's records (torch::serialize::OutputArchive) with a deflated member.
  write("zip_archive", "checkpoint.pt",
        build_zip({{"c/data.pkl", std::string(50, 'p')},
                   {"c/constants.pkl", "\x80\x02)."},
                   {"c/data/0", std::string(64, '\0')},
                   {"c/.data/version", "3\n"},
                   {"c/code/__torch__.py", std::string(16, 'd'), 8}})
            .bytes);
  write("zip_archive", "empty.zip", build_zip({}).bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ubp_fuzz_seeds OUT_DIR SOURCE_DIR\n");
    return 2;
  }
  out_root = argv[1];
  const fs::path scratch = out_root / ".scratch";
  fs::create_directories(scratch);
  model_files(scratch);
  npy_files(scratch);
  idx_files(scratch);
  images();
  image_cache(scratch);
  yaml_files(argv[2]);
  pickles();
  zip_archives();
  fs::remove_all(scratch);
  return 0;
}
