// ImageNet-style training and evaluation batches read from an image-folder tree while training:
// decoded (libjpeg-turbo, libpng) and preprocessed in plain C++ by worker threads, a few batches
// ahead of the trainer. The tree layout and the subset choice are in data/image_subset.h.
//
// Per sample: decode (a big JPEG at a reduced DCT scale when the output is much smaller),
// optionally shrink so the short side is preresize_short_side (or read that from the cache),
// then
//   augment = true  (training):   torchvision's RandomResizedCrop(scale 0.08..1, ratio 3/4..4/3)
//                                 to image_size, then a horizontal flip with probability 1/2;
//   augment = false (evaluation): Resize(round(image_size / 0.875)) + CenterCrop(image_size);
// and ImageNet normalisation. A batch is (N, 3, image_size, image_size) float32 images and
// (N) int64 labels.
//
// Determinism: epoch e visits data::epoch_permutation(n, seed, e) (or 0..n-1 without shuffle)
// and sample i's crop and flip are drawn from sample_random(seed, e, i), so the batches are
// identical for any number of threads and whatever order the threads finish in. With a replica
// (data-parallel training) the workers decode only that replica's rows of each global batch, and
// since a crop depends on the sample, not on who decodes it, the replicas' batches concatenated
// in rank order are the 1-process batches bitwise.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "data/image_cache.h"
#include "data/image_subset.h"
#include "data/image_transforms.h"

namespace ubp::data {

// The subset fields (root, split, num_classes, class_list, images_per_class, subset_seed) are
// documented in data/image_subset.h.
struct ImageFolderOptions : ImageSubsetOptions {
  int64_t image_size = 224;  // side of the square output images, in pixels
  bool augment = true;       // true: random resized crop + flip (train); false: centre crop (val)
  uint64_t seed = 0;         // epoch order and augmentation (the subset has subset_seed)
  int64_t batch_size = 64;   // the global batch size, also with a replica
  bool shuffle = true;       // false: every epoch in file order (label, then file name)
  bool drop_last = false;    // leave out the last, smaller batch
  int threads = 2;           // decoding threads, >= 1
  int prefetch_batches = 2;  // how many batches may be in work ahead of the consumer, >= 1
  // Preprocessed cache file (data/image_cache.h); empty: decode the image files every epoch.
  // One file per split: give train and val their own path.
  std::string cache_path;
  // > 0: every image is first shrunk (never enlarged) to this short side, which is what the
  // cache stores. 0: without a cache, images go from the decoder straight to the crop; with
  // one, round(image_size / 0.875) is used (256 for 224): the evaluation crop is then exactly
  // as without it, while training crops come from that smaller image (a crop of half the
  // area is enlarged a little); raise it for training crops closer to full resolution, at
  // the cost of a bigger cache. A cached and an uncached source with the same
  // preresize_short_side give identical batches.
  int64_t preresize_short_side = 0;
  // How far libjpeg's DCT scaling may shrink a big JPEG while decoding: its short side stays
  // >= this. Not used with a preresize (or a cache), which decodes to >= that short side.
  // 0: 2 * image_size when augmenting (a crop of a quarter of the image is still shrunk to
  // image_size, not enlarged: 500x375 ImageNet photos decode at full size, a 2000x1500 one at
  // 3/8) and round(image_size / 0.875) for evaluation. Smaller is faster and blurrier.
  int64_t min_decode_short_side = 0;
  // true: an image that cannot be decoded is left out of its batch (which comes out smaller)
  // and counted by bad_image_count(); false: next() throws ImageFolderError naming the file.
  // With a cache, bad images are found and left out when the cache is built.
  // With replicas and no cache, each replica finds (and counts) only the bad images among its
  // own rows: its batch then comes out smaller than batch_size / replica.count while the
  // others' need not, and a batch whose rows are all bad is skipped, so that replica takes one
  // step fewer than the others (data-parallel collectives then wait for it forever). A cache
  // avoids both: bad images are left out when it is built, before any epoch order is drawn,
  // alike for every replica.
  bool skip_bad_images = false;
  Normalization normalization = kImageNetNormalization;
  // The share of every global batch this source decodes (data/datasets.h). With count > 1,
  // batch_size must be a multiple of count and drop_last must be on.
  Replica replica;
};

class ImageFolderSource : public BatchSource {
 public:
  // Chooses the subset, opens or builds the cache, starts the worker threads. Throws
  // ImageFolderError for bad options, a bad tree or class list, or a bad cache; an undecodable
  // image while building the cache (without skip_bad_images) too.
  explicit ImageFolderSource(const ImageFolderOptions& options);
  ~ImageFolderSource() override;  // stops the workers, also in the middle of an epoch
  ImageFolderSource(const ImageFolderSource&) = delete;
  ImageFolderSource& operator=(const ImageFolderSource&) = delete;

  // Drops any batches prefetched for the previous epoch and starts decoding epoch `epoch`.
  void start_epoch(int64_t epoch) override;
  // Throws ImageFolderError for an image of this batch that cannot be read (again on every
  // call, until start_epoch); with skip_bad_images the batch comes out without it instead.
  bool next(Batch& out) override;
  int64_t batches_per_epoch() const override;  // global batches: the same for every replica
  // Images per epoch this replica gets (after drop_last; bad images known at build time excluded).
  int64_t num_samples() const override;
  int64_t num_classes() const override;

  const ImageSubset& subset() const;
  const std::vector<std::string>& class_names() const { return subset().class_names; }
  int64_t label_of(int64_t sample) const;     // sample: the index that seeds its augmentation
  std::string path_of(int64_t sample) const;  // the image file behind a sample

  // Images that could not be decoded and were left out (skip_bad_images): when the cache was
  // built, or so far this run without a cache. Full paths.
  int64_t bad_image_count() const;
  std::vector<std::string> bad_image_paths() const;

  // How many images the workers have loaded so far (decoded from their files or read from the
  // cache), failed attempts included and building the cache not; for tests and benchmarks, e.g.
  // to see that a replica loads only its own rows.
  int64_t decoded_count() const;

  CacheState cache_state() const;
  std::string cache_stale_reason() const;  // why a stale cache was rebuilt; empty otherwise

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ubp::data
