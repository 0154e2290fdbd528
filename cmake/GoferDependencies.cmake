# The library's own dependencies: Debian packages, found with find_package. Nothing is
# vendored or downloaded. Used by the build and (through goferConfig.cmake) by consumers.
find_package(Threads REQUIRED)
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS fiber context stacktrace_backtrace)
find_package(absl CONFIG REQUIRED)
find_package(concurrentqueue MODULE REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)
