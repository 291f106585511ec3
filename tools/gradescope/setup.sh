#!/usr/bin/env bash
# setup.sh: Gradescope runs this once, as root, when it builds the
# autograder image (the bundle is unpacked in /autograder/source; the base
# image is Ubuntu 22.04 or Debian). It installs what grading needs and no
# more: a C compiler, make, pkg-config, Check (with libsubunit), liburing
# and bubblewrap, which sandboxes each submission. The list is the
# Makefile's GRADING_PACKAGES (make print-grading-deps), read here with sed
# because make itself may not be installed yet. Then it builds the
# autograder, so that each submission only builds the student's programs.
set -euo pipefail
cd /autograder/source
packages=$(sed -nE 's/^GRADING_PACKAGES[[:space:]]*:=[[:space:]]*//p' Makefile)
if [ -z "$packages" ]; then
    echo "setup.sh: no GRADING_PACKAGES line in the Makefile" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # one word per package
apt-get install -y -q --no-install-recommends $packages
make -s tests
