#include <gtest/gtest.h>

#include "diffinv/runtime.h"

int main(int argc, char** argv) {
  diffinv::configure_allocator();
  diffinv::configure_threads();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
