# run_consumer.cmake — the body of the consumer.* tests (see consumer_test.cmake).
#
#   cmake -DMODE=find_package|add_subdirectory -DGOFER_SOURCE_DIR=... -DGOFER_BINARY_DIR=...
#         -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=... -DMAKE_PROGRAM=...
#         -DCXX_COMPILER=...
#         -DCXX_FLAGS=... -DBUILD_TYPE=... -P run_consumer.cmake

# Runs a command; on failure shows its output and fails the test.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status STREQUAL "0")
    message(FATAL_ERROR "consumer (${MODE}): ${what} failed (${status}):\n${out}")
  endif()
  message(STATUS "consumer (${MODE}): ${what}: ok")
endfunction()

set(build ${WORK_DIR}/build)
set(configure_args -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${GENERATOR}
  -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE})

if(MODE STREQUAL "find_package")
  # From scratch every time: a fresh prefix, a fresh consumer build.
  set(prefix ${WORK_DIR}/prefix)
  file(REMOVE_RECURSE ${WORK_DIR})
  step("cmake --install" ${CMAKE_COMMAND} --install ${GOFER_BINARY_DIR} --prefix ${prefix})
  step("configure with find_package(gofer)" ${CMAKE_COMMAND} ${configure_args}
    -DCMAKE_PREFIX_PATH=${prefix})
elseif(MODE STREQUAL "add_subdirectory")
  # Kept between runs, so only what changed in lib/ is rebuilt.
  step("configure with add_subdirectory(${GOFER_SOURCE_DIR})" ${CMAKE_COMMAND} ${configure_args}
    -DGOFER_SOURCE_DIR=${GOFER_SOURCE_DIR})
else()
  message(FATAL_ERROR "run_consumer.cmake: MODE must be find_package or add_subdirectory")
endif()

step("build" ${CMAKE_COMMAND} --build ${build})

execute_process(COMMAND ${build}/consumer RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status STREQUAL "0" OR NOT out STREQUAL "consumer got: hello from a goroutine\n")
  message(FATAL_ERROR "consumer (${MODE}): expected exit status 0 and the line\n"
    "  consumer got: hello from a goroutine\nbut the status was ${status} and the output\n${out}${err}")
endif()
string(STRIP "${out}" out)
message(STATUS "consumer (${MODE}): runs and prints: ${out}")
