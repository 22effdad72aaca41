//! The plan as a JSON document for scripts (`es-secure plan --json`): the serialized [`Plan`]
//! with a `schema_version` and file modes as octal strings ("0640"), as operators write them.
//! It must NOT add or drop steps: the JSON is the same plan the text shows.

use serde_json::Value;

use crate::domain::plan::Plan;

/// Bumped when a field is renamed or removed, or its meaning changes (adding fields is not a
/// new version).
pub const SCHEMA_VERSION: u32 = 1;

/// The plan's JSON document.
pub fn document(plan: &Plan) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(plan)?;
    octal_modes(&mut value);
    if let Value::Object(map) = &mut value {
        map.insert("schema_version".to_string(), Value::from(SCHEMA_VERSION));
    }
    Ok(value)
}

/// Every numeric `mode` field, anywhere in the document, as a four-digit octal string.
fn octal_modes(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "mode"
                    && let Some(n) = child.as_u64()
                {
                    *child = Value::String(format!("{n:04o}"));
                } else {
                    octal_modes(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(octal_modes),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_become_octal_strings_at_any_depth() {
        let mut v = serde_json::json!({
            "steps": [{"CreateDir": {"path": "/x", "mode": 488, "owner": {"user": null}}}],
            "mode": "full"
        });
        octal_modes(&mut v);
        assert_eq!(v["steps"][0]["CreateDir"]["mode"], "0750");
        assert_eq!(v["mode"], "full");
    }
}
