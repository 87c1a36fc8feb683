//! User type names: pasted into generated Python, so they are checked like code.

use std::fmt;

/// Python's reserved words; a name equal to one would not be usable as written.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// The Locust classes the generated locustfile imports by name.
const LOCUST_USER_CLASSES: &[&str] = &["HttpUser", "FastHttpUser"];

/// The name of a user type, known to be a plain ASCII Python identifier.
///
/// The name becomes part of class names in the generated locustfile
/// (`<name>User`, `<name>UserBehavior`). Accepting anything else would let a load
/// config inject code into that file, so this is a security boundary: the only way
/// to get a `UserTypeName` is through [`UserTypeName::new`], which allows
/// `[A-Za-z_][A-Za-z0-9_]*` and no keyword.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UserTypeName(String);

impl UserTypeName {
    /// Checks `name`; the error says what is wrong with it.
    pub fn new(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        match chars.next() {
            None => return Err("the user type name is empty".to_string()),
            Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
                return Err(format!(
                    "the user type name {name:?} must start with an ASCII letter or `_`, not {c:?}"
                ))
            }
            _ => {}
        }
        if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
            return Err(format!(
                "the user type name {name:?} contains {c:?}; only ASCII letters, digits and `_` are allowed"
            ));
        }
        if PYTHON_KEYWORDS.contains(&name) {
            return Err(format!("the user type name {name:?} is a Python keyword"));
        }
        // `class HttpUser(HttpUser)` would replace Locust's class in the
        // generated file, and every user class after it would inherit from it.
        if let Some(base) = LOCUST_USER_CLASSES
            .iter()
            .find(|base| base.strip_suffix("User") == Some(name))
        {
            return Err(format!(
                "the user type name {name:?} would generate `class {base}`, hiding Locust's own {base} in the generated locustfile"
            ));
        }
        Ok(UserTypeName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Locust user class loadgen generates for this type.
    pub fn user_class(&self) -> String {
        format!("{}User", self.0)
    }

    /// The other way: the type's name as the config writes it, from its user
    /// class (`NormalUser` -> `Normal`); a class without the suffix is its own.
    pub fn of_class(class: &str) -> &str {
        match class.strip_suffix("User") {
            Some(name) if !name.is_empty() => name,
            _ => class,
        }
    }

    /// The TaskSet the template must define for this type.
    pub fn behavior_class(&self) -> String {
        format!("{}UserBehavior", self.0)
    }
}

impl fmt::Display for UserTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_that_hide_locust_classes() {
        for bad in ["Http", "FastHttp"] {
            let error = UserTypeName::new(bad).unwrap_err();
            assert!(error.contains(&format!("`class {bad}User`")), "{error}");
        }
        assert!(UserTypeName::new("Https").is_ok());
    }

    #[test]
    fn accepts_identifiers() {
        for ok in ["Normal", "_x", "Weekend2", "black_friday"] {
            assert_eq!(UserTypeName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_anything_that_could_inject_code() {
        for bad in [
            "",
            "2fast",
            "a b",
            "X(HttpUser):\n    pass\nimport os#",
            "é",
            "Nor-mal",
            "class",
            "None",
            "a.b",
        ] {
            assert!(UserTypeName::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
