// Choosing an ImageNet subset from an image-folder tree, in plain C++:
//
//   root/train/<class>/*.JPEG     root/val/<class>/*.JPEG
//
// (also .jpg, .jpeg and .png, in any letter case; other files and hidden files are ignored).
// The classes are the sub-directories of root/train, for both splits, so val uses the same
// classes and class indices as train; each chosen class must have a directory under val/
// too when val is read.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::data {

// Bad input to the image-folder loader: a missing directory, a bad class list, an empty
// subset, an image that cannot be decoded, a corrupt cache. The message names the path (and
// line) and says what was expected.
class ImageFolderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ImageSplit { kTrain, kVal };
const char* split_directory_name(ImageSplit split);  // "train" or "val"

// Which images of the tree a loader reads.
struct ImageSubsetOptions {
  std::string root;                      // holds train/ and val/
  ImageSplit split = ImageSplit::kTrain;
  // How many classes: 0 = all of them. Otherwise a seeded choice: the class names sorted,
  // shuffled with subset_seed, the first num_classes taken. With class_list set it must be 0 or
  // the list's length.
  int64_t num_classes = 0;
  // Optional path of a file naming the classes, one directory name per line; blank lines
  // and '#' comments are ignored, the order does not matter. Unknown or repeated classes are
  // errors naming the file and line.
  std::string class_list;
  // Images per class: 0 = all. Otherwise a seeded choice among the class's files (depending
  // on subset_seed and the class name only, so a class keeps its images in any subset).
  int64_t images_per_class = 0;
  // Seeds the choice of classes and images; apart from the training seed, so runs with other
  // seeds can share one subset.
  uint64_t subset_seed = 0;
};

struct ImageFile {
  std::string relative_path;  // "<class>/<file>" under the split directory
  int64_t label = 0;          // index into ImageSubset::class_names
  uint64_t size = 0;          // bytes and modification time, for the cache's staleness check
  int64_t mtime_ns = 0;
};

// The chosen classes (sorted by name; the label is the position) and their images (by label,
// then by file name).
struct ImageSubset {
  std::string split_directory;  // root/train or root/val
  ImageSplit split = ImageSplit::kTrain;
  std::vector<std::string> class_names;
  std::vector<ImageFile> files;

  std::string path(size_t i) const { return split_directory + "/" + files[i].relative_path; }
};

// Lists the tree and chooses the subset. Throws ImageFolderError for a missing root, train/
// or val/ directory, a chosen class without a directory or without images, a bad class list
// or option, or a subset with no images.
ImageSubset select_image_subset(const ImageSubsetOptions& options);

// One class name per entry with the line it stood on; throws ImageFolderError naming the file
// (and line) if it cannot be read, names no class, or names a class twice.
struct ClassListEntry {
  std::string name;
  int line = 0;
};
std::vector<ClassListEntry> read_class_list(const std::string& path);

// .jpeg, .jpg or .png in any letter case.
bool has_image_extension(const std::string& file_name);

}  // namespace ubp::data
