#!/bin/sh
# Regenerate the text screenshots of every wizard screen (80x24) in assets/screens/.
# They come from the sample install in src/ui/tui/demo.rs, so they are the same on every host.
set -eu
cd "$(dirname "$0")/.."
rm -f assets/screens/*.txt
cargo run --quiet --example render_screens -- assets/screens
