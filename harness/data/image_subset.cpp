#include "data/image_subset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "data/image_transforms.h"

namespace ubp::data {
namespace {

namespace fs = std::filesystem;

constexpr const char* kImageKinds = "image files (.JPEG, .jpg, .jpeg or .png)";

[[noreturn]] void fail(const std::string& message) { throw ImageFolderError(message); }

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool is_hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

// Sorted names of the entries of `dir` that pass `keep`; errors name the directory.
template <typename Keep>
std::vector<std::string> list_sorted(const fs::path& dir, Keep keep) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) fail("cannot list directory '" + dir.string() + "': " + ec.message());
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!is_hidden(name) && keep(entry, name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> list_class_directories(const fs::path& dir) {
  return list_sorted(dir, [](const fs::directory_entry& entry, const std::string&) {
    std::error_code ec;
    return entry.is_directory(ec);  // follows symlinks, so linked class folders count
  });
}

std::vector<std::string> list_image_files(const fs::path& dir) {
  return list_sorted(dir, [](const fs::directory_entry& entry, const std::string& name) {
    std::error_code ec;
    return has_image_extension(name) && entry.is_regular_file(ec);
  });
}

// k distinct indices out of 0..n-1 by a partial Fisher-Yates shuffle, returned sorted.
std::vector<size_t> seeded_choice(size_t n, size_t k, uint64_t stream) {
  std::vector<size_t> indices(n);
  std::iota(indices.begin(), indices.end(), size_t{0});
  SplitMix64 random(stream);
  for (size_t i = 0; i < k; ++i) {
    const auto j = static_cast<size_t>(random.uniform_int(static_cast<int64_t>(i), static_cast<int64_t>(n - 1)));
    std::swap(indices[i], indices[j]);
  }
  indices.resize(k);
  std::sort(indices.begin(), indices.end());
  return indices;
}

// FNV-1a: a stable hash of a class name (std::hash may differ between standard libraries).
uint64_t stable_hash(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

constexpr uint64_t kClassChoiceStream = 0xc1a55e5ULL;

std::vector<std::string> choose_classes(const ImageSubsetOptions& o, const std::vector<std::string>& all,
                                        const std::string& train_dir) {
  if (o.num_classes < 0) fail("num_classes must be >= 0 (0 = every class), got " + std::to_string(o.num_classes));
  if (!o.class_list.empty()) {
    const std::vector<ClassListEntry> entries = read_class_list(o.class_list);
    if (o.num_classes != 0 && o.num_classes != static_cast<int64_t>(entries.size())) {
      fail("num_classes = " + std::to_string(o.num_classes) + " but class list '" + o.class_list + "' names " +
           std::to_string(entries.size()) + " classes; set num_classes to 0 or to the list's length");
    }
    std::vector<std::string> chosen;
    for (const ClassListEntry& entry : entries) {
      if (!std::binary_search(all.begin(), all.end(), entry.name)) {
        fail("class list '" + o.class_list + "' line " + std::to_string(entry.line) + ": class '" + entry.name +
             "' has no directory in '" + train_dir + "'");
      }
      chosen.push_back(entry.name);
    }
    return chosen;
  }
  const auto wanted = static_cast<size_t>(o.num_classes);
  if (wanted == 0 || wanted == all.size()) return all;
  if (wanted > all.size()) {
    fail("num_classes = " + std::to_string(wanted) + " but '" + train_dir + "' holds only " +
         std::to_string(all.size()) + " class directories");
  }
  std::vector<std::string> chosen;
  for (size_t i : seeded_choice(all.size(), wanted, mix64(o.subset_seed ^ kClassChoiceStream))) chosen.push_back(all[i]);
  return chosen;
}

void require_directory(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("missing directory '" + dir.string() + "': expected " + what);
}

}  // namespace

const char* split_directory_name(ImageSplit split) { return split == ImageSplit::kTrain ? "train" : "val"; }

bool has_image_extension(const std::string& file_name) {
  const std::string ext = lower(fs::path(file_name).extension().string());
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png";
}

std::vector<ClassListEntry> read_class_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open class list '" + path + "': " + std::strerror(errno));
  std::vector<ClassListEntry> entries;
  std::map<std::string, int> line_of;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    const size_t comment = text.find('#');
    if (comment != std::string::npos) text.resize(comment);
    const size_t begin = text.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    const size_t end = text.find_last_not_of(" \t\r");
    const std::string name = text.substr(begin, end - begin + 1);
    const auto [it, inserted] = line_of.emplace(name, line);
    if (!inserted) {
      fail("class list '" + path + "' line " + std::to_string(line) + ": class '" + name +
           "' is already listed on line " + std::to_string(it->second));
    }
    entries.push_back({name, line});
  }
  if (in.bad()) fail("cannot read class list '" + path + "'");
  if (entries.empty()) {
    fail("class list '" + path + "' names no class; expected one class directory name per line");
  }
  return entries;
}

ImageSubset select_image_subset(const ImageSubsetOptions& o) {
  if (o.root.empty()) fail("image folder root is not set; expected the directory holding train/ and val/");
  if (o.images_per_class < 0) {
    fail("images_per_class must be >= 0 (0 = all), got " + std::to_string(o.images_per_class));
  }
  require_directory(o.root, "the image folder root, holding train/<class>/ and val/<class>/");
  const std::string train_dir = (fs::path(o.root) / "train").string();
  require_directory(train_dir, "train/<class>/*.JPEG under the root: the classes are its sub-directories");

  ImageSubset subset;
  subset.split = o.split;
  subset.split_directory = (fs::path(o.root) / split_directory_name(o.split)).string();
  if (o.split != ImageSplit::kTrain) {
    require_directory(subset.split_directory, "val/<class>/*.JPEG under the root, with the classes of train/");
  }
  const std::vector<std::string> all = list_class_directories(train_dir);
  if (all.empty()) fail("'" + train_dir + "' holds no class directories; expected train/<class>/*.JPEG");
  subset.class_names = choose_classes(o, all, train_dir);
  std::sort(subset.class_names.begin(), subset.class_names.end());

  for (size_t label = 0; label < subset.class_names.size(); ++label) {
    const std::string& name = subset.class_names[label];
    const fs::path dir = fs::path(subset.split_directory) / name;
    require_directory(dir, "the images of class '" + name + "' (every chosen class needs a directory under " +
                               split_directory_name(o.split) + "/)");
    std::vector<std::string> files = list_image_files(dir);
    if (files.empty()) fail("class directory '" + dir.string() + "' holds no " + kImageKinds);
    const auto wanted = static_cast<size_t>(o.images_per_class);
    if (wanted > 0 && wanted < files.size()) {
      std::vector<std::string> chosen;
      for (size_t i : seeded_choice(files.size(), wanted, mix64(o.subset_seed ^ stable_hash(name)))) chosen.push_back(files[i]);
      files = std::move(chosen);
    }
    for (const std::string& file : files) {
      ImageFile image;
      image.relative_path = name + "/" + file;
      image.label = static_cast<int64_t>(label);
      const std::string full = (dir / file).string();
      struct stat info {};
      if (::stat(full.c_str(), &info) != 0) fail("cannot stat image file '" + full + "': " + std::strerror(errno));
      image.size = static_cast<uint64_t>(info.st_size);
      image.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
      subset.files.push_back(std::move(image));
    }
  }
  if (subset.files.empty()) fail("the subset of '" + subset.split_directory + "' holds no " + kImageKinds);
  return subset;
}

}  // namespace ubp::data
