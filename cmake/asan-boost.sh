#!/usr/bin/env bash
# cmake/asan-boost.sh — Boost.Context and Boost.Fiber for the `asan` preset.
#
# Debian's libboost_context/libboost_fiber switch stacks with the assembly backend (fcontext),
# which AddressSanitizer cannot follow. This script compiles the two libraries' own sources
# from Debian's source package — the version installed here — with the ucontext backend and
# Boost's ASan annotations (BOOST_USE_UCONTEXT, BOOST_USE_ASAN: Boost then calls
# __sanitizer_{start,finish}_switch_fiber around every switch), instrumented with
# -fsanitize=address, into two static PIC archives in a cache outside the checkout:
#
#   ${XDG_CACHE_HOME:-~/.cache}/gofer/boost-<Debian version>-ucontext-asan-<key>/
#       lib/libboost_context.a  lib/libboost_fiber.a  BUILDINFO
#
# <key> hashes the compiler, the flags and this script's code, so changing any of them gets a
# fresh build while a fresh clone (CI) reuses an existing one. Headers are Debian's
# /usr/include ones; the build checks they are identical to the source package's.
# cmake/GoferSanitizerBoost.cmake turns the archives into Boost::context/Boost::fiber (code
# including the headers must define the same two macros, which those targets do).
#
#   cmake/asan-boost.sh --print-prefix   print that directory, build nothing (CMake calls this)
#   cmake/asan-boost.sh                  build it unless it is there; print the directory
#
# The source comes through a private apt configuration under the cache: one deb-src entry per
# deb entry of this machine's own apt sources (same URIs, suites, components, keys), so no
# archive address is written here and nothing in /etc/apt changes; no root needed. Needs
# dpkg-dev (dpkg-source) and libboost-fiber1.74-dev. A cold build compiles 18 files: about a
# minute of CPU.
#
# Environment: CXX (default c++; CMake passes its compiler), XDG_CACHE_HOME.
set -euo pipefail

say() { printf 'asan-boost: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

mode=build
case "${1-}:$#" in
  :0) ;;
  --print-prefix:1) mode=print ;;
  *) die "usage: cmake/asan-boost.sh [--print-prefix]" ;;
esac

SRCPKG=boost1.74
DEVPKG=libboost-fiber1.74-dev
CXX=${CXX:-c++}
# -O1 and -g like the asan preset; asserts stay on (Debian's release build disables them).
CXXFLAGS=(-O1 -g -fPIC -pthread -fno-omit-frame-pointer -fsanitize=address
          -DBOOST_USE_UCONTEXT -DBOOST_USE_ASAN)
CONTEXT_SOURCES=(fiber.cpp continuation.cpp posix/stack_traits.cpp)  # its ucontext sources
FIBER_SOURCES=(algo/algorithm.cpp algo/round_robin.cpp algo/shared_work.cpp algo/work_stealing.cpp
  barrier.cpp condition_variable.cpp context.cpp fiber.cpp future.cpp mutex.cpp properties.cpp
  recursive_mutex.cpp recursive_timed_mutex.cpp timed_mutex.cpp scheduler.cpp)  # its Jamfile's list

version=$(dpkg-query -W -f='${Version}' "$DEVPKG" 2>/dev/null) ||
  die "$DEVPKG is not installed (./gofer setup installs it)"
command -v "$CXX" >/dev/null || die "no C++ compiler '$CXX'"
# the compiler by path and version (not by the name it was called by: c++, g++, g++-12)
key=$({ readlink -f "$(command -v "$CXX")"
        "$CXX" --version | head -n1 | cut -d' ' -f2-
        printf '%s\n' "${CXXFLAGS[*]}"
        grep -v '^[[:space:]]*#' "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-10)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gofer
prefix=$cache/boost-$version-ucontext-asan-$key

if [[ $mode == print || -f $prefix/BUILDINFO ]]; then
  printf '%s\n' "$prefix"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.asan-boost.lock"
flock 9  # one build at a time (two checkouts, two presets)
[[ -f $prefix/BUILDINFO ]] && { printf '%s\n' "$prefix"; exit 0; }

command -v dpkg-source >/dev/null || die "dpkg-source is missing: install dpkg-dev"
work=$(mktemp -d "$cache/.asan-boost.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log
fail() { cat "$log" >&2; die "$*"; }
start=$SECONDS
say "building Boost.Context + Boost.Fiber $version (ucontext, ASan) into $prefix"

# 1. deb-src entries derived from the machine's deb entries (apt's own file locations).
SL=/etc/apt/sources.list SP=/etc/apt/sources.list.d/
eval "$(apt-config shell SL Dir::Etc::SourceList/f SP Dir::Etc::SourceParts/d)"
mkdir -p "$work/apt/parts" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
shopt -s nullglob
# one-line format: "deb [options] uri suite components" -> "deb-src ..."
for f in "$SL" "$SP"*.list; do
  [[ ! -f $f ]] || sed -n 's/^[[:space:]]*deb\(-src\)\{0,1\}[[:space:]]\{1,\}/deb-src /p' "$f"
done | sort -u >"$work/apt/parts/gofer-src.list"
# deb822 format: every enabled stanza whose Types include deb, with Types: deb-src
for f in "$SP"*.sources; do
  awk 'BEGIN { RS = ""; ORS = "\n\n" }
       {
         n = split($0, line, "\n"); deb = 0; off = 0; out = ""
         for (i = 1; i <= n; i++) {
           if (line[i] ~ /^#/) continue
           if (line[i] ~ /^Types:/) {
             if (line[i] ~ /[ \t]deb([ \t]|-src|$)/) deb = 1
             line[i] = "Types: deb-src"
           }
           if (tolower(line[i]) ~ /^enabled:[ \t]*no/) off = 1
           out = out line[i] "\n"
         }
         if (deb && !off) printf "%s\n", out
       }' "$f"
done >"$work/apt/parts/gofer-src.sources"
[[ -s $work/apt/parts/gofer-src.list || -s $work/apt/parts/gofer-src.sources ]] ||
  die "no deb entries in $SL or $SP to derive a deb-src entry from"
apt=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/apt/parts"
     -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -q)
((EUID != 0)) || apt+=(-o APT::Sandbox::User=root)  # the _apt user cannot write to ~root

# 2. the source package, exactly the installed version (apt checks it against the signed
#    index), unpacked as dpkg-source would but only libs/context and libs/fiber (the whole
#    tree is 49,000 files, slow to write and to delete) with Debian's patches to them.
apt-get "${apt[@]}" update >"$log" 2>&1 || fail "apt-get update (deb-src) failed"
(cd "$work" && apt-get "${apt[@]}" source --download-only "$SRCPKG=$version") >>"$log" 2>&1 ||
  fail "apt-get source $SRCPKG=$version failed"
tree=$work/src
mkdir -p "$tree"
orig=("$work"/*.orig.tar.*) debian=("$work"/*.debian.tar.*)
tar -xf "${orig[0]}" -C "$tree" --strip-components=1 --wildcards \
  '*/libs/context/*' '*/libs/fiber/*' >>"$log" 2>&1 || fail "unpacking ${orig[0]##*/} failed"
tar -xf "${debian[0]}" -C "$tree" debian/patches >>"$log" 2>&1 ||
  fail "unpacking ${debian[0]##*/} failed"
while read -r patch opts; do
  [[ -z $patch || $patch == \#* ]] && continue
  files=$(sed -n 's|^+++ [^/[:space:]]*/\([^[:space:]]*\).*|\1|p' "$tree/debian/patches/$patch")
  ours=$(grep -cE '^libs/(context|fiber)/' <<<"$files" || true)
  ((ours > 0)) || continue
  [[ -z $opts && $ours == $(wc -l <<<"$files") ]] ||
    fail "Debian patch $patch touches Boost.Context/Fiber and more: teach this script to apply it"
  patch -d "$tree" -p1 -s -i "debian/patches/$patch" >>"$log" 2>&1 ||
    fail "Debian patch $patch does not apply"
  echo "applied Debian patch $patch" >>"$log"
done <"$tree/debian/patches/series"
src=$tree/libs
[[ -d $src/fiber/src && -d $src/context/src ]] || fail "unexpected source layout in ${orig[0]##*/}"
for lib in context fiber; do
  diff -rq "$src/$lib/include/boost/$lib" "/usr/include/boost/$lib" >>"$log" 2>&1 ||
    fail "the source package's boost/$lib headers differ from /usr/include/boost/$lib"
done

# 3. compile (both cores) and archive.
mkdir -p "$work/obj" "$work/out/lib"
jobs=$(nproc 2>/dev/null || echo 2)
# compile <define> <source dir> <object prefix> <files...>: parallel, one object per file.
compile() {
  local def=$1 dir=$2 pfx=$3 f; shift 3
  for f in "$@"; do
    printf '%s\n%s\n' "$dir/$f" "$work/obj/$pfx${f//\//_}"
  done | CXX=$CXX FLAGS="${CXXFLAGS[*]} -D$def" xargs -d '\n' -n 2 -P "$jobs" \
    sh -c 'exec "$CXX" $FLAGS -c "$0" -o "${1%.cpp}.o"' >>"$log" 2>&1
}
compile BOOST_CONTEXT_SOURCE "$src/context/src" context_ "${CONTEXT_SOURCES[@]}" ||
  fail "compiling Boost.Context failed"
compile BOOST_FIBERS_SOURCE "$src/fiber/src" fiber_ "${FIBER_SOURCES[@]}" ||
  fail "compiling Boost.Fiber failed"
ar crs "$work/out/lib/libboost_context.a" "$work"/obj/context_*.o
ar crs "$work/out/lib/libboost_fiber.a" "$work"/obj/fiber_*.o
cat >"$work/out/BUILDINFO" <<EOF
Boost.Context + Boost.Fiber from Debian source package $SRCPKG $version
compiler: $("$CXX" --version | head -n1)
flags: ${CXXFLAGS[*]}
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s by cmake/asan-boost.sh
EOF
rm -rf "$prefix"
mv "$work/out" "$prefix"
say "done in $((SECONDS - start)) s"
printf '%s\n' "$prefix"
