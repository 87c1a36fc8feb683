//! A plain Locust 2.x locustfile: which of its classes runs each user type.
//!
//! loadgen decides only how many users of each class run; everything else (client,
//! `wait_time`, `on_start`, `host`, tasks, tags) stays the class's own. A user type
//! `Website` names the class `WebsiteUser`, or a class named exactly `Website`.

use std::collections::BTreeMap;

use crate::config::LoadConfig;
use crate::diagnostic::{Diagnostic, Position, SourceText};

/// Maps each user type of `config` to one of `classes` (the file's class names),
/// keyed by the name loadgen counts the type under (`WebsiteUser`). A type that
/// matches no class is an error at the config's line, with the nearest class.
pub fn map_classes(
    source: &SourceText,
    config: &LoadConfig,
    classes: &[String],
) -> Result<BTreeMap<String, String>, Vec<Diagnostic>> {
    let mut map = BTreeMap::new();
    let mut errors = Vec::new();
    for user_type in config.phases.iter().flat_map(|p| &p.user_types) {
        let key = user_type.name.user_class();
        if map.contains_key(&key) || errors_name(&errors, &key) {
            continue;
        }
        let exact = user_type.name.to_string();
        if classes.contains(&key) {
            map.insert(key, user_type.name.user_class());
        } else if classes.contains(&exact) {
            map.insert(key, exact);
        } else {
            let nearest = nearest(&exact, classes)
                .map(|c| format!("; the nearest class in the file is `{c}`"))
                .unwrap_or_default();
            errors.push(
                Diagnostic::error(
                        &config.source.path,
                        Some(Position {
                            line: user_type.line,
                            column: 1,
                        }),
                        format!(
                            "user type \"{exact}\" names no class of {}: expected `class {key}` or `class {exact}`",
                            source.path.display()
                        ),
                    )
                    .with_help(format!(
                        "rename the user type to one of the file's User classes (without or with `User`){nearest}; \
                         a seed template needs the `{}` marker",
                        super::USERS_MARKER
                    )),
            );
        }
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(errors)
    }
}

fn errors_name(errors: &[Diagnostic], key: &str) -> bool {
    errors
        .iter()
        .any(|e| e.message.contains(&format!("`class {key}`")))
}

/// The file's class closest to a user type's name (with or without `User`).
fn nearest<'a>(name: &str, classes: &'a [String]) -> Option<&'a str> {
    classes
        .iter()
        .map(|c| {
            let bare = c.strip_suffix("User").unwrap_or(c);
            (strsim::jaro_winkler(name, bare), c.as_str())
        })
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The file's classes that no user type of the config runs (shown by `check`).
pub fn unused<'a>(map: &BTreeMap<String, String>, classes: &'a [String]) -> Vec<&'a str> {
    classes
        .iter()
        .filter(|c| !map.values().any(|v| v == *c))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn config(types: &[&str]) -> LoadConfig {
        let user_types: String = types
            .iter()
            .map(|t| format!("user_types {{ name: \"{t}\" ratio: 1 }}\n"))
            .collect();
        let text =
            format!("phases {{ duration: 5 num_users: 2 hatch_rate_per_s: 2\n{user_types}}}\n");
        config::parse(SourceText::new("load.pbtxt", text))
            .unwrap()
            .config
    }

    #[test]
    fn types_map_to_name_user_or_the_exact_name() {
        let classes = vec![
            "WebsiteUser".to_string(),
            "Api".to_string(),
            "Helper".to_string(),
        ];
        let src = SourceText::new("locustfile.py", String::new());
        let map = map_classes(&src, &config(&["Website", "Api"]), &classes).unwrap();
        assert_eq!(map["WebsiteUser"], "WebsiteUser");
        assert_eq!(map["ApiUser"], "Api");
        assert_eq!(unused(&map, &classes), vec!["Helper"]);
    }

    #[test]
    fn an_unknown_type_is_located_in_the_config_with_the_nearest_class() {
        let classes = vec!["WebsiteUser".to_string()];
        let src = SourceText::new("locustfile.py", String::new());
        let err = map_classes(&src, &config(&["Websit"]), &classes).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].position.unwrap().line, 2);
        assert!(err[0]
            .message
            .contains("`class WebsitUser` or `class Websit`"));
        assert!(err[0].help.as_deref().unwrap().contains("`WebsiteUser`"));
    }
}
