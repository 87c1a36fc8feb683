//! The fewest phases that follow curves within a tolerance.
//!
//! A rate phase with `rate_ramp_s` equal to its duration moves its rate in a
//! straight line from the rate before it to its own, so a run of such phases
//! draws a line through points of the curve (its knots). The fit picks the
//! knots: the fewest segments such that every point of the curve lies within
//! the tolerance of the line drawn. A jump in the data is a segment one point
//! long, which a run plays as a step.
//!
//! The knots lie on the curve's own points and the line passes through their
//! values, so the search is over knot positions only, and it is exact: a
//! shortest path over the points where a segment from `a` may end at `b` only
//! if the slope to `b` stays inside the band every point between allows. That
//! band narrows as `b` moves on, so each start is scanned once until the band
//! closes (linear for smooth curves, at worst quadratic in the points).

/// Lines through the knots, as phases will play them: `knots[i]` is a point
/// index, and each curve's value there is `values[curve][i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub knots: Vec<usize>,
    pub values: Vec<Vec<f64>>,
    /// The largest distance between a line and its curve, and the point where
    /// it is.
    pub largest_error: (f64, usize),
}

/// Fits `curves` (each a value at equally spaced times 0..n; a run plays one
/// per user type, and their sum) with the fewest segments that keep every
/// curve within `tolerance` of every point. The first segment is a step of
/// one point (a run's first phase has nothing to ramp from): it holds the
/// values of point 1, where the lines begin.
pub fn fit(curves: &[Vec<f64>], tolerance: f64) -> Fit {
    let n = curves.first().map_or(0, Vec::len);
    if n < 2 {
        return Fit {
            knots: (0..n).collect(),
            values: curves.to_vec(),
            largest_error: (0.0, 0),
        };
    }
    let mut segments = vec![usize::MAX; n];
    let mut previous = vec![0usize; n];
    segments[1] = 1;
    let mut bands = vec![(0.0, 0.0); curves.len()];
    for a in 1..n - 1 {
        if segments[a] == usize::MAX {
            continue;
        }
        bands.fill((f64::NEG_INFINITY, f64::INFINITY));
        'ends: for b in a + 1..n {
            let mut fits = true;
            for (curve, (low, high)) in curves.iter().zip(bands.iter_mut()) {
                let from = curve[a];
                if b > a + 1 {
                    // Point b - 1 lies between a and b: the slope must keep it in.
                    let k = (b - 1 - a) as f64;
                    *low = low.max((curve[b - 1] - tolerance - from) / k);
                    *high = high.min((curve[b - 1] + tolerance - from) / k);
                    if *low > *high {
                        break 'ends;
                    }
                }
                let slope = (curve[b] - from) / (b - a) as f64;
                fits &= slope >= *low - 1e-12 && slope <= *high + 1e-12;
            }
            if fits && segments[a] + 1 < segments[b] {
                segments[b] = segments[a] + 1;
                previous[b] = a;
            }
        }
    }
    let mut knots = vec![n - 1];
    while let Some(&k) = knots.last() {
        if k <= 1 {
            break;
        }
        knots.push(previous[k]);
    }
    knots.push(0);
    knots.reverse();
    let values = curves
        .iter()
        .map(|curve| knots.iter().map(|&k| curve[k.max(1)]).collect())
        .collect();
    let mut fit = Fit {
        knots,
        values,
        largest_error: (0.0, 0),
    };
    for (c, curve) in curves.iter().enumerate() {
        for (k, v) in curve.iter().enumerate().skip(1) {
            let error = (fit.value_at(c, k as f64) - v).abs();
            if error > fit.largest_error.0 {
                fit.largest_error = (error, k);
            }
        }
    }
    fit
}

impl Fit {
    /// Curve `c`'s line at time `t` (in points), as the run plays it: the
    /// first segment a step, the others straight lines.
    pub fn value_at(&self, c: usize, t: f64) -> f64 {
        let values = &self.values[c];
        let Some(i) = self.knots.iter().rposition(|&k| k as f64 <= t) else {
            return values.first().copied().unwrap_or(0.0);
        };
        if i == 0 || i + 1 >= self.knots.len() {
            return values[i.max(1).min(values.len() - 1)];
        }
        let (a, b) = (self.knots[i] as f64, self.knots[i + 1] as f64);
        values[i] + (values[i + 1] - values[i]) * (t - a) / (b - a)
    }

    /// How many phases the fit plays as: one per segment.
    pub fn phases(&self) -> usize {
        self.knots.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(points: &[f64], tolerance: f64) -> Fit {
        super::fit(&[points.to_vec()], tolerance)
    }

    /// Every point within the tolerance, but point 0, which the first step
    /// holds at point 1's value.
    fn within(fit: &Fit, points: &[f64], tolerance: f64) {
        for (k, v) in points.iter().enumerate().skip(1) {
            let err = (fit.value_at(0, k as f64) - v).abs();
            assert!(
                err <= tolerance + 1e-9,
                "point {k}: {} vs {v}",
                fit.value_at(0, k as f64)
            );
        }
    }

    /// The fewest segments, by trying every set of knots (small inputs only).
    fn fewest_by_brute_force(points: &[f64], tolerance: f64) -> usize {
        let inner = points.len() - 2; // knots 0 and 1 and the last are fixed
        let mut best = usize::MAX;
        for mask in 0u32..(1 << inner.saturating_sub(1)) {
            let mut knots = vec![0, 1];
            knots.extend((2..points.len() - 1).filter(|k| mask & (1 << (k - 2)) != 0));
            knots.push(points.len() - 1);
            knots.dedup();
            let values = vec![knots.iter().map(|&k| points[k.max(1)]).collect()];
            let f = Fit {
                knots,
                values,
                largest_error: (0.0, 0),
            };
            if points
                .iter()
                .enumerate()
                .skip(1)
                .all(|(k, v)| (f.value_at(0, k as f64) - v).abs() <= tolerance)
            {
                best = best.min(f.phases());
            }
        }
        best
    }

    #[test]
    fn a_straight_ramp_is_one_line_after_the_first_step() {
        let points: Vec<f64> = (0..50).map(|i| 10.0 + 2.0 * i as f64).collect();
        let f = fit(&points, 0.5);
        assert_eq!(f.knots, vec![0, 1, 49]);
        assert_eq!(f.phases(), 2);
        assert_eq!(f.largest_error.0, 0.0);
    }

    #[test]
    fn a_jump_is_a_one_point_segment_and_a_flat_stretch_one_segment() {
        let mut points = vec![5.0; 20];
        points.extend(vec![50.0; 20]);
        let f = fit(&points, 1.0);
        within(&f, &points, 1.0);
        assert_eq!(f.knots, vec![0, 1, 19, 20, 39]);
    }

    #[test]
    fn a_wiggle_within_the_tolerance_is_ignored_and_one_beyond_it_followed() {
        let points: Vec<f64> = (0..100)
            .map(|i| 100.0 + 3.0 * (i as f64 * 0.7).sin())
            .collect();
        assert!(fit(&points, 4.0).phases() <= 3);
        let f = fit(&points, 1.0);
        within(&f, &points, 1.0);
        assert!(f.phases() > 10);
    }

    #[test]
    fn the_count_is_the_least_any_choice_of_knots_needs() {
        let mut seed = 7u64;
        for _ in 0..40 {
            let points: Vec<f64> = (0..12)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 33) as f64 / (1u64 << 31) as f64 * 10.0
                })
                .collect();
            for tolerance in [0.5, 2.0, 4.0] {
                let f = fit(&points, tolerance);
                within(&f, &points, tolerance);
                assert_eq!(
                    f.phases(),
                    fewest_by_brute_force(&points, tolerance),
                    "{points:?} within {tolerance}"
                );
            }
        }
    }

    #[test]
    fn intervals_of_one_point_or_none_do_not_panic() {
        assert_eq!(fit(&[], 1.0).phases(), 0);
        assert_eq!(fit(&[3.0], 1.0).phases(), 0);
        assert_eq!(super::fit(&[], 1.0).phases(), 0);
        assert_eq!(fit(&[3.0, 4.0], 1.0).knots, vec![0, 1]);
    }

    #[test]
    fn a_change_of_mix_under_a_flat_total_is_followed() {
        let browse: Vec<f64> = (0..40).map(|i| if i < 20 { 30.0 } else { 10.0 }).collect();
        let cart: Vec<f64> = browse.iter().map(|b| 40.0 - b).collect();
        let total: Vec<f64> = browse.iter().zip(&cart).map(|(a, b)| a + b).collect();
        let f = super::fit(&[total, browse, cart], 1.0);
        assert_eq!(f.knots, vec![0, 1, 19, 20, 39]);
        assert_eq!(f.values[1], vec![30.0, 30.0, 30.0, 10.0, 10.0]);
    }
}
