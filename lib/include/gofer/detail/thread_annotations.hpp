// gofer/detail/thread_annotations.hpp — Clang thread-safety annotations (no-ops elsewhere).
//
// As in marl and Abseil: every lock says what it guards, and clang -Wthread-safety checks it.
#pragma once

#if defined(__clang__)
#define GOFER_TSA(x) __attribute__((x))
#else
#define GOFER_TSA(x)
#endif

#define GOFER_CAPABILITY(x) GOFER_TSA(capability(x))
#define GOFER_GUARDED_BY(x) GOFER_TSA(guarded_by(x))
#define GOFER_REQUIRES(...) GOFER_TSA(requires_capability(__VA_ARGS__))
#define GOFER_EXCLUDES(...) GOFER_TSA(locks_excluded(__VA_ARGS__))
#define GOFER_ACQUIRE(...) GOFER_TSA(acquire_capability(__VA_ARGS__))
#define GOFER_RELEASE(...) GOFER_TSA(release_capability(__VA_ARGS__))
#define GOFER_TRY_ACQUIRE(...) GOFER_TSA(try_acquire_capability(__VA_ARGS__))
#define GOFER_SCOPED_CAPABILITY GOFER_TSA(scoped_lockable)
#define GOFER_NO_THREAD_SAFETY_ANALYSIS GOFER_TSA(no_thread_safety_analysis)
