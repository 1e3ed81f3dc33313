#!/usr/bin/env bash
# GestaltLab set-up for Debian 12: installs the system packages the toolkit needs (skipping what is already
# there), restores NuGet packages, builds the Release binaries and runs `gestaltlab doctor`.
#
#   bash environment/setup.sh             # what `gestaltlab demo` and the notebooks need (notebook 02's sample photos aside)
#   bash environment/setup.sh --notebooks # + the real sample photos of notebook 02's sections 4 and 5
#   bash environment/setup.sh --tests     # + those photos, nbformat, strace and ICU, used by the test suite
#   bash environment/setup.sh --bench     # + dlib headers, PyTorch and scikit-learn used as benchmark references
#   bash environment/setup.sh --no-build  # packages only
#
# Nothing here or in the toolkit downloads anything at run time: models and sample photos come from Debian packages.
set -euo pipefail
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$(dirname "$self")/.."
# The dotnet CLI reports usage to Microsoft unless told not to; nothing of this project phones home.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1

with_photos=0; with_tests=0; with_bench=0; build=1
for arg in "$@"; do
  case "$arg" in
    --notebooks) with_photos=1 ;;
    --tests) with_tests=1; with_photos=1 ;;
    --bench) with_bench=1; with_tests=1; with_photos=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,11p' "$self"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }

# Runtime needs: OpenCvSharp's native runtime links GTK 3, libatomic and libdrm (neither comes with GTK or .NET: on a
# bare Debian 12 libatomic1 came only with gcc); Haar cascades; dlib's 68-point model; headless Chromium for figure
# export; fonts so Chromium and SkiaSharp render text. tests/…/SystemPackagesTests checks every system library the
# native code loads against this line.
packages=(libgtk-3-0 libatomic1 libdrm2 opencv-data libdlib-data chromium fonts-dejavu-core ca-certificates)
# Real sample photos (astronaut.png, messi5.jpg) for notebook 02 and the tests.
[ "$with_photos" = 1 ] && packages+=(python3-skimage opencv-doc)
# Tests: the nbformat validator for the notebook runner, strace to check that figure export sends nothing over the
# network; ICU's locale data, as the tests run the library in German number formatting (the SDK needs ICU anyway).
[ "$with_tests" = 1 ] && packages+=(python3-nbformat strace libicu72)
# Benchmarks: dlib C++ reference, PyTorch and scikit-learn references.
[ "$with_bench" = 1 ] && packages+=(libdlib-dev python3-torch python3-sklearn g++ pkgconf)

missing=()
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    say "ok       $p (already installed)"
  else
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "[setup] missing system packages: ${missing[*]}; run this script as root (or install them with apt-get)" >&2; exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do say "installed $p"; done
fi

# An older SDK would pass `command -v` and fail later, in restore, on global.json.
sdks=$(command -v dotnet >/dev/null && dotnet --list-sdks 2>/dev/null || true)
if ! grep -q '^10\.' <<<"$sdks"; then
  echo "[setup] the .NET 10 SDK is not installed${DOTNET_ROOT:+ under $DOTNET_ROOT}${sdks:+ (found: $(cut -d' ' -f1 <<<"$sdks" | tr '\n' ' ' | sed 's/ $//'))}: install it (https://learn.microsoft.com/dotnet/core/install/linux-debian) and run this again" >&2
  exit 1
fi
say "dotnet  $(dotnet --version)"

if [ "$build" = 1 ]; then
  # The build writes about 2 GB under artifacts/ (libtorch alone is 0.5 GB per executable project), and a first
  # restore about 3.5 GB into ~/.nuget; a full disk otherwise shows up as a wall of MSB3021 copy errors.
  # The NuGet cache may be on another file system than the checkout: each needs its own share there, both where shared.
  nuget="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
  probe="$nuget"; while [ ! -d "$probe" ]; do probe=$(dirname "$probe"); done
  # (By device number: two mounts of one kind, tmpfs or overlay, share a name in df but not their space.)
  here_fs=$(stat -c %d .); nuget_fs=$(stat -c %d "$probe")
  # Packages already restored need no room again.
  nuget_kb=$(( $(find "$nuget" -maxdepth 1 -iname 'libtorch-cpu-linux-x64' 2>/dev/null | grep -q . && echo 0 || echo 3584) * 1024 ))
  if [ "$here_fs" = "$nuget_fs" ]; then checks=(".:$((2 * 1024 * 1024 + nuget_kb))"); else checks=(".:$((2 * 1024 * 1024))" "$probe:$nuget_kb"); fi
  for check in "${checks[@]}"; do
    where=${check%:*}; need_kb=${check##*:}
    free_kb=$(df -Pk "$where" | awk 'NR == 2 { print $4 }')
    if [ -n "$free_kb" ] && [ "$free_kb" -lt "$need_kb" ]; then
      echo "[setup] only $((free_kb / 1024)) MB free at $(cd "$where" && pwd): building needs about $((need_kb / 1024)) MB there (artifacts/ about 2 GB; the NuGet packages in $nuget about 3.5 GB); free some space and run this again" >&2
      exit 1
    fi
  done
  say "restoring NuGet packages"
  dotnet restore GestaltLab.sln -v quiet --nologo
  say "building (Release)"
  # The build also patches TorchSharp's native library for Debian 12's libstdc++ (build/TorchSharpNativeFix.targets).
  dotnet build GestaltLab.sln -c Release --no-restore -v quiet --nologo -clp:ErrorsOnly
  say "built: ./gestaltlab ($(pwd)/artifacts/bin/GestaltLab.Cli/release/gestaltlab)"
  ./gestaltlab doctor
fi
