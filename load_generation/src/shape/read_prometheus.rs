//! A Prometheus range query's answer (the JSON `/api/v1/query_range` returns):
//! one series, or several with one user type per value of a label.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::series::{Gaps, Point, Series, Values};
use super::time::{utc, Stamp};
use super::type_names;
use super::Read;
use crate::diagnostic::{Diagnostic, Diagnostics, Position};

#[derive(Debug, Clone)]
pub struct PrometheusOptions {
    pub values: Values,
    pub gaps: Gaps,
    /// The label whose values name the user types; found when not given.
    pub label: Option<String>,
    /// The type of a single series.
    pub single_type: String,
}

/// Reads `text`, the saved answer (`curl .../api/v1/query_range?... > FILE`).
pub fn read(path: &Path, text: &str, options: &PrometheusOptions) -> Result<Read, Diagnostics> {
    let fail = |message: String, help: &str| {
        let d = Diagnostic::error(path, None, message);
        Diagnostics(vec![if help.is_empty() {
            d
        } else {
            d.with_help(help)
        }])
    };
    let answer: Value = serde_json::from_str(text).map_err(|e| {
        Diagnostics(vec![Diagnostic::error(
            path,
            Some(Position { line: e.line(), column: e.column() }),
            format!("not a Prometheus answer: the JSON is broken ({e})"),
        )
        .with_help("save the whole answer of /api/v1/query_range, e.g. `curl -s 'http://prometheus:9090/api/v1/query_range?query=...&start=...&end=...&step=60' > FILE`")])
    })?;
    if answer.get("status").and_then(Value::as_str) == Some("error") {
        return Err(fail(
            format!(
                "the file holds Prometheus's refusal, not data: {}",
                answer
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
            ),
            "fix the query and save its answer again",
        ));
    }
    let data = answer.get("data").unwrap_or(&answer);
    match data.get("resultType").and_then(Value::as_str) {
        Some("matrix") => {}
        Some(other) => {
            return Err(fail(
                format!("`data.resultType` is {other:?}; a range query answers \"matrix\""),
                "ask /api/v1/query_range (not /api/v1/query) for a series over time",
            ))
        }
        None => {
            return Err(fail(
                "no `data.resultType` here: this is not the JSON /api/v1/query_range answers"
                    .to_string(),
                "save the whole answer of /api/v1/query_range",
            ))
        }
    }
    let Some(result) = data.get("result").and_then(Value::as_array) else {
        return Err(fail(
            "`data.result` is missing or not a list".to_string(),
            "",
        ));
    };
    let labels: Vec<BTreeMap<String, String>> = result
        .iter()
        .map(|s| {
            s.get("metric")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let (label, type_of) = choose_types(&labels, options).map_err(|(m, h)| fail(m, &h))?;
    let mut types: Vec<String> = Vec::new();
    for t in &type_of {
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    // Every timestamp of any series, each type's value there summed over its series.
    let mut at: BTreeMap<i64, (String, Vec<Option<f64>>)> = BTreeMap::new();
    let mut errors = Vec::new();
    for (s, series) in result.iter().enumerate() {
        let Some(values) = series.get("values").and_then(Value::as_array) else {
            errors.push(Diagnostic::error(
                path,
                None,
                format!("`data.result[{s}]` has no `values` list (a range query's series has one)"),
            ));
            continue;
        };
        let t = types.iter().position(|x| *x == type_of[s]).unwrap_or(0);
        for (i, pair) in values.iter().enumerate() {
            let place = format!("data.result[{s}].values[{i}]");
            let (Some(when), Some(value)) = (
                pair.get(0).and_then(Value::as_f64),
                pair.get(1).and_then(Value::as_str),
            ) else {
                errors.push(Diagnostic::error(path, None, format!("{place} is {pair}; expected [epoch seconds, \"value\"] as Prometheus writes them")));
                continue;
            };
            let value = match value.parse::<f64>() {
                Ok(v) if v.is_nan() => None,
                Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
                _ => {
                    errors.push(
                        Diagnostic::error(path, None, format!("{place} has the value {value:?}; a request rate is a number, 0 or more"))
                            .with_help("query a rate or a count of requests, e.g. `sum by (handler) (rate(http_requests_total[5m]))`"),
                    );
                    continue;
                }
            };
            let key = (when * 1000.0).round() as i64;
            let entry = at
                .entry(key)
                .or_insert_with(|| (place.clone(), vec![None; types.len()]));
            if let Some(v) = value {
                entry.1[t] = Some(entry.1[t].unwrap_or(0.0) + v);
            }
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let points = at
        .into_iter()
        .map(|(ms, (place, values))| Point {
            at: Stamp::new(ms as f64 / 1000.0, utc()),
            place,
            values,
        })
        .collect();
    let mut notes = Vec::new();
    let series = Series::from_points(points, types, options.values, options.gaps, &mut notes)
        .map_err(|m| fail(m, ""))?;
    let by = match &label {
        Some(l) => format!(", one user type per `{l}`"),
        None => String::new(),
    };
    Ok(Read {
        description: format!(
            "{} (Prometheus range answer, {} series{by}, every {})",
            path.display(),
            result.len(),
            crate::fmt::duration(series.step)
        ),
        series,
        notes,
    })
}

/// Which label names the types, and each series' type.
fn choose_types(
    labels: &[BTreeMap<String, String>],
    options: &PrometheusOptions,
) -> Result<(Option<String>, Vec<String>), (String, String)> {
    let label = match &options.label {
        Some(l) => {
            if let Some(i) = labels.iter().position(|m| !m.contains_key(l)) {
                return Err((
                    format!(
                        "series {i} has no label `{l}` (its labels: {})",
                        names(&labels[i])
                    ),
                    "name a label every series has, or aggregate: `sum by (LABEL) (...)`"
                        .to_string(),
                ));
            }
            Some(l.clone())
        }
        None if labels.len() <= 1 => None,
        None => {
            let differing: Vec<&String> = labels[0]
                .keys()
                .filter(|k| labels.iter().any(|m| m.get(*k) != labels[0].get(*k)))
                .collect();
            match differing.as_slice() {
                [one] => Some((*one).clone()),
                _ => {
                    return Err((
                        format!(
                            "{} series, and {} tells them apart: which label names the user types?",
                            labels.len(),
                            if differing.is_empty() {
                                "no label".to_string()
                            } else {
                                format!("more than one label ({})", differing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                            }
                        ),
                        "give --label NAME, or aggregate the query to one label: `sum by (handler) (...)`".to_string(),
                    ))
                }
            }
        }
    };
    let type_of = match &label {
        None => vec![options.single_type.clone(); labels.len()],
        Some(l) => {
            let values: Vec<&str> = labels
                .iter()
                .map(|m| m.get(l).map_or("", String::as_str))
                .collect();
            let mut distinct: Vec<&str> = Vec::new();
            for v in &values {
                if !distinct.contains(v) {
                    distinct.push(v);
                }
            }
            let named = type_names(&distinct);
            values
                .iter()
                .map(|v| named[distinct.iter().position(|d| d == v).unwrap_or(0)].clone())
                .collect()
        }
    };
    Ok((label, type_of))
}

fn names(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "none".to_string();
    }
    labels
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(label: Option<&str>) -> PrometheusOptions {
        PrometheusOptions {
            values: Values::Rate,
            gaps: Gaps::Bridge,
            label: label.map(str::to_string),
            single_type: "Normal".into(),
        }
    }

    /// (handler, instance, [(time, value)]) per series.
    type Described<'a> = (&'a str, &'a str, &'a [(f64, &'a str)]);

    fn answer(series: &[Described<'_>]) -> String {
        let result: Vec<Value> = series
            .iter()
            .map(|(handler, instance, values)| {
                serde_json::json!({
                    "metric": {"handler": handler, "instance": instance},
                    "values": values.iter().map(|(t, v)| serde_json::json!([t, v])).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": result}})
            .to_string()
    }

    #[test]
    fn one_type_per_value_of_the_label_that_differs() {
        let text = answer(&[
            ("/cart", "a", &[(0.0, "1"), (60.0, "2")]),
            ("/product", "a", &[(0.0, "3"), (60.0, "NaN"), (120.0, "5")]),
        ]);
        let r = read(Path::new("p.json"), &text, &options(None)).unwrap();
        assert_eq!(r.series.types, vec!["Cart", "Product"]);
        assert_eq!(r.series.counts[0], vec![60.0, 180.0]);
        assert_eq!(r.series.counts[1], vec![120.0, 240.0]); // the NaN bridged
        assert!(
            r.description.contains("one user type per `handler`"),
            "{}",
            r.description
        );
    }

    #[test]
    fn series_of_one_label_value_add_up() {
        let text = answer(&[
            ("/cart", "a", &[(0.0, "1"), (60.0, "2")]),
            ("/cart", "b", &[(0.0, "1"), (60.0, "1")]),
        ]);
        let r = read(Path::new("p.json"), &text, &options(Some("handler"))).unwrap();
        assert_eq!(r.series.types, vec!["Cart"]);
        assert_eq!(r.series.counts, vec![vec![120.0], vec![180.0]]);
    }

    #[test]
    fn what_is_not_a_range_answer_is_said_where() {
        let err = |text: &str, label: Option<&str>| {
            read(Path::new("p.json"), text, &options(label))
                .unwrap_err()
                .to_string()
        };
        assert!(err("{\"status\": \"success\",\n \"data\": [1,}", None)
            .starts_with("p.json:2:13: error: not a Prometheus answer: the JSON is broken"));
        assert!(err(
            "{\"status\":\"error\",\"error\":\"parse error at char 4\"}",
            None
        )
        .contains("Prometheus's refusal, not data: parse error at char 4"));
        assert!(
            err("{\"data\":{\"resultType\":\"vector\",\"result\":[]}}", None)
                .contains("a range query answers \"matrix\"")
        );
        let two = answer(&[
            ("/a", "x", &[(0.0, "1"), (60.0, "1")]),
            ("/b", "y", &[(0.0, "1"), (60.0, "1")]),
        ]);
        assert!(err(&two, None).contains("more than one label (`handler`, `instance`)"));
        assert!(err(&two, Some("job")).contains("series 0 has no label `job`"));
        let bad = answer(&[("/a", "x", &[(0.0, "1"), (60.0, "-1")])]);
        assert!(err(&bad, None).contains("data.result[0].values[1] has the value \"-1\""));
        assert!(err(&answer(&[("/a", "x", &[(0.0, "1")])]), None)
            .contains("only one data point (data.result[0].values[0])"));
    }
}
