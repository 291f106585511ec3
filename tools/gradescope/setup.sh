#!/usr/bin/env bash
# setup.sh: Gradescope runs this once, as root, when it builds the
# autograder image (the bundle is unpacked in /autograder/source). It
# installs the Debian packages socklab needs and builds the autograder, so
# that each submission only builds the student's programs.
set -euo pipefail
cd /autograder/source
apt-get update -q
tools/install-deps $(make -s --no-print-directory print-deps)
make -s tests
