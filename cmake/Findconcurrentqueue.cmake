# Findconcurrentqueue — moodycamel's ConcurrentQueue (Debian: libconcurrentqueue-dev),
# a header-only library that ships no CMake package of its own.
# Defines the imported target concurrentqueue::concurrentqueue.
find_path(concurrentqueue_INCLUDE_DIR
  NAMES concurrentqueue/concurrentqueue.h
  DOC "Directory holding concurrentqueue/concurrentqueue.h")
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(concurrentqueue REQUIRED_VARS concurrentqueue_INCLUDE_DIR)
if(concurrentqueue_FOUND AND NOT TARGET concurrentqueue::concurrentqueue)
  add_library(concurrentqueue::concurrentqueue INTERFACE IMPORTED)
  set_target_properties(concurrentqueue::concurrentqueue PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${concurrentqueue_INCLUDE_DIR}")
endif()
mark_as_advanced(concurrentqueue_INCLUDE_DIR)
