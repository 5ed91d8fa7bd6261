// Order statistics of samples (timings, paired differences): the median and percentiles with
// linear interpolation between the closest ranks, the definition NumPy's default uses.
#pragma once

#include <vector>

namespace ubp::support {

// The middle value, or the mean of the two middle ones. Throws std::invalid_argument when empty.
double median(std::vector<double> values);

// The q-th quantile (q in [0, 1]) of ascending `sorted`, interpolated linearly between the
// ranks around q (n - 1): q = 0.5 is the median. Throws std::invalid_argument when empty or
// q is outside [0, 1].
double percentile_of_sorted(const std::vector<double>& sorted, double q);
// The same for values in any order.
double percentile(std::vector<double> values, double q);

}  // namespace ubp::support
