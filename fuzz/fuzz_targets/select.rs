//! LVM's `-S` selection parser and evaluator on arbitrary text: it parses
//! or refuses with LVM's lines, never panics, and a parsed selection
//! evaluates against a row of every field type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvm_lvm::select::{FieldType, Selection, Value};

fn resolve(name: &str) -> Option<(String, FieldType)> {
    let ty = match name {
        "lv_name" | "name" => FieldType::String,
        "lv_size" | "size" => FieldType::Size,
        "seg_count" => FieldType::Number,
        "data_percent" => FieldType::Percent,
        "lv_tags" => FieldType::StringList,
        "lv_time" => FieldType::Time,
        _ => return None,
    };
    Some((name.to_string(), ty))
}

fn value(field: &str) -> Value {
    match field {
        "lv_name" | "name" => Value::Str("lv1".into()),
        "lv_size" | "size" => Value::Size(Some(16384.0)),
        "seg_count" => Value::Number(Some(1)),
        "data_percent" => Value::Percent(Some(50.0)),
        "lv_tags" => Value::List(vec!["a".into(), "b".into()]),
        _ => Value::Time(Some(1_795_239_914)),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(s) = Selection::parse(text, &resolve) {
            let _ = s.matches(&value);
        }
    }
});
