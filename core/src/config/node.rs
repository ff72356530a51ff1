//! Typed, key-path-aware access to a parsed YAML document, so every error names the key
//! it is about.

use std::path::Path;

use serde_json::Value;

use super::error::ConfigError;

/// A value in the document together with its dotted key path.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The file, for errors.
    pub path: &'a Path,
    /// Dotted key of this value (empty for the document root).
    pub key: String,
    /// The value.
    pub value: &'a Value,
}

impl<'a> Node<'a> {
    /// The document root.
    pub fn root(path: &'a Path, value: &'a Value) -> Self {
        Self {
            path,
            key: String::new(),
            value,
        }
    }

    /// Dotted key of the child `name`.
    pub fn child_key(&self, name: &str) -> String {
        if self.key.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.key)
        }
    }

    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.path, self.key.clone(), reason)
    }

    /// Whether the value is YAML `null` (or absent).
    pub fn is_null(&self) -> bool {
        self.value.is_null()
    }

    /// The child `name` of a mapping, if present and not null.
    pub fn get(&self, name: &str) -> Option<Node<'a>> {
        match self.value.get(name) {
            Some(v) if !v.is_null() => Some(Node {
                path: self.path,
                key: self.child_key(name),
                value: v,
            }),
            _ => None,
        }
    }

    /// The children of a mapping, in document order; an error if this is not a mapping.
    pub fn children(&self) -> Result<Vec<(&'a str, Node<'a>)>, ConfigError> {
        Ok(self
            .entries()?
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    Node {
                        path: self.path,
                        key: self.child_key(k),
                        value: v,
                    },
                )
            })
            .collect())
    }

    /// The mapping's entries; an error if this is not a mapping.
    pub fn entries(&self) -> Result<&'a serde_json::Map<String, Value>, ConfigError> {
        self.value
            .as_object()
            .ok_or_else(|| self.error(format!("expected a mapping, found {}", kind(self.value))))
    }

    /// A finite number. Numeric strings such as `1e4` are accepted: YAML 1.1 (PyYAML, the
    /// reference's parser) reads `1e4` as a string, and configs written for it contain them.
    pub fn f64(&self) -> Result<f64, ConfigError> {
        let v = match self.value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.trim() {
                ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
                ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
                "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
                t => t.parse::<f64>().ok(),
            },
            _ => None,
        }
        .ok_or_else(|| self.error(format!("expected a number, found {}", kind(self.value))))?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.error(format!("expected a finite number, found {v}")))
        }
    }

    /// A non-negative integer.
    pub fn usize(&self) -> Result<usize, ConfigError> {
        let v = self.f64()?;
        if v >= 0.0 && v.fract() == 0.0 && v < 1e15 {
            Ok(v as usize)
        } else {
            Err(self.error(format!("expected a non-negative integer, found {v}")))
        }
    }

    /// A boolean.
    pub fn bool(&self) -> Result<bool, ConfigError> {
        self.value.as_bool().ok_or_else(|| {
            self.error(format!(
                "expected true or false, found {}",
                kind(self.value)
            ))
        })
    }

    /// A string.
    pub fn str(&self) -> Result<&'a str, ConfigError> {
        self.value
            .as_str()
            .ok_or_else(|| self.error(format!("expected a string, found {}", kind(self.value))))
    }

    /// A list of numbers (a single number is a list of one).
    pub fn f64_list(&self) -> Result<Vec<f64>, ConfigError> {
        match self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Node {
                        path: self.path,
                        key: format!("{}[{i}]", self.key),
                        value: v,
                    }
                    .f64()
                })
                .collect(),
            _ => Ok(vec![self.f64()?]),
        }
    }
}

/// A short description of a value's type, for messages.
pub fn kind(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}
