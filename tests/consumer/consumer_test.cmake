# Included by tests/CMakeLists.txt: proves that other projects can use gofer.
#
#   consumer.find_package      installs this build into a scratch prefix, then builds and runs
#                              tests/consumer against it with find_package(gofer)
#   consumer.add_subdirectory  builds and runs tests/consumer with add_subdirectory(<checkout>)
#
# Both build the consumer with this build's compiler, flags and build type (so sanitizer
# builds link), and check what it prints. Their scratch directories live in
# <build>/tests/consumer/.
if(NOT GOFER_INSTALL)
  return()
endif()

foreach(mode find_package add_subdirectory)
  add_test(NAME consumer.${mode}
    COMMAND ${CMAKE_COMMAND}
            -DMODE=${mode}
            -DGOFER_SOURCE_DIR=${gofer_SOURCE_DIR}
            -DGOFER_BINARY_DIR=${gofer_BINARY_DIR}
            -DCONSUMER_SOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
            -DWORK_DIR=${gofer_BINARY_DIR}/tests/consumer/${mode}
            -DGENERATOR=${CMAKE_GENERATOR}
            -DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}
            -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
            "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
            -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
            -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake)
  set_tests_properties(consumer.${mode} PROPERTIES LABELS unit TIMEOUT 600)
endforeach()
