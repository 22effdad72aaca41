//! Render every wizard screen of the sample install (see `es_secure::ui::tui::demo`) on an
//! 80×24 test terminal and write each as text to `assets/screens/<name>.txt` (or the directory
//! given as the first argument). Run by `scripts/record-screens.sh`.

use std::path::PathBuf;

use anyhow::Context as _;
use es_secure::ui::tui::demo;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("assets/screens"), PathBuf::from);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, mut model) in demo::screens() {
        // Screenshots are plain text, so colour would be lost anyway.
        model.color = false;
        let text = demo::render_text(&model, 80, 24)?;
        let path = dir.join(format!("{name}.txt"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
