// gofer/detail/thread_annotations.hpp — kept for code written before gofer used Abseil's
// annotations: gofer now writes Abseil's names (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED,
// ...) from <absl/base/thread_annotations.h> directly (lib/DESIGN.md, "Lock annotations").
// The GOFER_* spellings below map onto them; new code should not use them, and this header
// goes once no branch in flight does.
#pragma once

#include "absl/base/thread_annotations.h"

#define GOFER_CAPABILITY(x) ABSL_LOCKABLE
#define GOFER_GUARDED_BY(x) ABSL_GUARDED_BY(x)
#define GOFER_REQUIRES(...) ABSL_EXCLUSIVE_LOCKS_REQUIRED(__VA_ARGS__)
#define GOFER_EXCLUDES(...) ABSL_LOCKS_EXCLUDED(__VA_ARGS__)
#define GOFER_ACQUIRE(...) ABSL_EXCLUSIVE_LOCK_FUNCTION(__VA_ARGS__)
#define GOFER_RELEASE(...) ABSL_UNLOCK_FUNCTION(__VA_ARGS__)
#define GOFER_TRY_ACQUIRE(...) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(__VA_ARGS__)
#define GOFER_SCOPED_CAPABILITY ABSL_SCOPED_LOCKABLE
#define GOFER_NO_THREAD_SAFETY_ANALYSIS ABSL_NO_THREAD_SAFETY_ANALYSIS
