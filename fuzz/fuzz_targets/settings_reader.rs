//! Any text: the reader must return settings or an error, never panic, and what it returns
//! must be self-consistent (lines inside the file, blocks well ordered).
#![no_main]

use es_secure_fuzz::domain::settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    match settings::parse("fuzz.yml", text) {
        Ok(parsed) => {
            for (key, s) in parsed.settings.iter() {
                assert!(s.line >= 1 && s.line <= lines, "{key} at line {}", s.line);
                let _ = s.value.to_string();
            }
            for block in [&parsed.autoconfig, &parsed.managed].into_iter().flatten() {
                assert!(block.start_line < block.end_line && block.end_line <= lines);
                for k in &block.keys {
                    assert!(parsed.settings.get(k).is_some());
                }
            }
        }
        Err(e) => {
            if let settings::SettingsError::Syntax { line, .. } = &e {
                assert!(*line <= lines + 1, "error line {line} past the end ({lines})");
            }
            let _ = e.to_string();
        }
    }
});
