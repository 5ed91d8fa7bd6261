// The selector registry (selector.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

TEST(SelectorRegistry, KnowsTheAlignedSelectorJustByLinkingTheLibrary) {
  // Nothing in this test binary references src/selectors/aligned.cpp; the selector is only
  // present if the build links every selector object (see algorithms/CMakeLists.txt).
  const auto& registry = SelectorRegistry::instance();
  EXPECT_TRUE(registry.contains("aligned"));
  const auto names = registry.names();
  EXPECT_NE(std::find(names.begin(), names.end(), "aligned"), names.end());
  const auto sel = registry.create("aligned");
  ASSERT_NE(sel, nullptr);
  EXPECT_EQ(sel->name(), "aligned");
}

TEST(SelectorRegistry, ListsNamesSorted) {
  const auto names = SelectorRegistry::instance().names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

TEST(SelectorRegistry, UnknownNameThrowsAndListsTheKnownSelectors) {
  const auto& registry = SelectorRegistry::instance();
  EXPECT_FALSE(registry.contains("no-such-selector"));
  try {
    registry.create("no-such-selector");
    ADD_FAILURE() << "create() of an unknown name did not throw";
  } catch (const SelectionError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no-such-selector"), std::string::npos) << msg;
    for (const auto& name : registry.names()) {
      EXPECT_NE(msg.find(name), std::string::npos) << "missing " << name << " in: " << msg;
    }
  }
}

class ConstantSelector : public Selector {
 public:
  std::string name() const override { return "test-constant"; }
  bool unaligned() const override { return true; }
  SelectionResult select(MatrixView, BlockShape, int64_t) const override { return {}; }
};

TEST(SelectorRegistry, AddsNewSelectorsAndRefusesDuplicateNames) {
  auto& registry = SelectorRegistry::instance();
  const auto factory = [](const SelectorOptions&) { return std::unique_ptr<Selector>(new ConstantSelector()); };
  if (!registry.contains("test-constant")) registry.add("test-constant", factory);
  EXPECT_TRUE(registry.contains("test-constant"));
  EXPECT_EQ(registry.create("test-constant")->name(), "test-constant");
  EXPECT_THROW(registry.add("test-constant", factory), std::logic_error);
  EXPECT_THROW(registry.add("aligned", factory), std::logic_error);
  EXPECT_TRUE(registry.create("aligned")->name() == "aligned");  // original untouched
}

}  // namespace
}  // namespace ubp::algorithms
