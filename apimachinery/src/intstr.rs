//! Helpers over k8s-openapi's [`IntOrString`], the Rust counterpart of Go's
//! `k8s.io/apimachinery/pkg/util/intstr` functions.
//!
//! Contract: [`scaled_value`] matches Go's `GetScaledValueFromIntOrPercent`: an integer is
//! returned as is; a string must be an integer followed by `%` (`"25%"`, `"-10%"`, `"+5%"`)
//! and is scaled against `total`, rounding up (ceiling) or down (floor) as asked; any other
//! string is an [`IntOrStringError`]. Arithmetic is exact integer arithmetic (Go goes through
//! `float64`, which agrees for every `i32` input), and a result outside `i32` is an error
//! rather than a wrapped value. [`int_value`] reads an integer, or a string holding one.

pub use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// An [`IntOrString`] that cannot be read as asked; names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrStringError {
    /// A string that is not a percentage where one was required.
    #[error("invalid value for IntOrString {value:?}: string is not a percentage")]
    NotAPercentage {
        /// The offending string.
        value: String,
    },
    /// A string whose number part is not an integer (or is out of range).
    #[error("invalid value for IntOrString {value:?}: not an integer")]
    NotAnInteger {
        /// The offending string.
        value: String,
    },
    /// The scaled result does not fit in an `i32`.
    #[error("IntOrString {value:?} scaled by {total} overflows i32")]
    Overflow {
        /// The value, as written.
        value: String,
        /// The total it was scaled against.
        total: i32,
    },
}

/// Resolves an absolute number or a percentage of `total` (Go's
/// `GetScaledValueFromIntOrPercent`), e.g. a rolling update's `maxSurge`.
///
/// ```
/// use rudder_apimachinery::intstr::{scaled_value, IntOrString};
/// assert_eq!(scaled_value(&IntOrString::String("25%".into()), 10, true).unwrap(), 3);
/// assert_eq!(scaled_value(&IntOrString::String("25%".into()), 10, false).unwrap(), 2);
/// assert_eq!(scaled_value(&IntOrString::Int(4), 10, true).unwrap(), 4);
/// assert!(scaled_value(&IntOrString::String("4".into()), 10, true).is_err());
/// ```
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, IntOrStringError> {
    let s = match value {
        IntOrString::Int(i) => return Ok(*i),
        IntOrString::String(s) => s,
    };
    let Some(number) = s.strip_suffix('%') else {
        return Err(IntOrStringError::NotAPercentage { value: s.clone() });
    };
    let percent: i64 = parse_int(number).ok_or_else(|| IntOrStringError::NotAnInteger { value: s.clone() })?;
    let product = percent * i64::from(total);
    let scaled = if round_up { div_ceil(product, 100) } else { product.div_euclid(100) };
    i32::try_from(scaled).map_err(|_| IntOrStringError::Overflow { value: s.clone(), total })
}

/// The integer an [`IntOrString`] holds: the `Int` itself, or a `String` that is a plain
/// (optionally signed) decimal integer such as `"8080"`.
pub fn int_value(value: &IntOrString) -> Result<i32, IntOrStringError> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => parse_int(s)
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| IntOrStringError::NotAnInteger { value: s.clone() }),
    }
}

/// Parses like Go's `strconv.Atoi` restricted to `i32`: optional sign, ASCII digits only.
fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok().map(i64::from)
}

fn div_ceil(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn scaled_values_match_go() {
        // Cases from Go's TestGetScaledValueFromIntOrPercent plus rounding edges.
        let table: &[(IntOrString, i32, bool, i32)] = &[
            (IntOrString::Int(123), 0, false, 123),
            (IntOrString::Int(-5), 100, true, -5),
            (s("90%"), 100, false, 90),
            (s("90%"), 95, false, 85),
            (s("90%"), 95, true, 86),
            (s("25%"), 10, true, 3),
            (s("25%"), 10, false, 2),
            (s("25%"), 4, true, 1),
            (s("0%"), 10, true, 0),
            (s("100%"), 7, false, 7),
            (s("150%"), 3, true, 5),
            (s("150%"), 3, false, 4),
            (s("1%"), 1, true, 1),
            (s("1%"), 1, false, 0),
            (s("+5%"), 100, false, 5),
            // Negative percentages: floor and ceil as Go's math.Floor / math.Ceil.
            (s("-25%"), 10, false, -3),
            (s("-25%"), 10, true, -2),
            (s("50%"), i32::MAX, false, i32::MAX / 2),
            (s("100%"), i32::MAX, true, i32::MAX),
        ];
        for (value, total, round_up, want) in table {
            assert_eq!(scaled_value(value, *total, *round_up), Ok(*want), "{value:?} of {total} up={round_up}");
        }
    }

    #[test]
    fn invalid_strings_are_errors() {
        assert_eq!(scaled_value(&s("90"), 100, false), Err(IntOrStringError::NotAPercentage { value: "90".into() }));
        for bad in ["%", "abc%", "1.5%", " 5%", "5 %", "--5%", "99999999999%"] {
            let err = scaled_value(&s(bad), 100, false).expect_err(bad);
            assert_eq!(err, IntOrStringError::NotAnInteger { value: bad.into() });
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = scaled_value(&s("200%"), i32::MAX, true).expect_err("overflow");
        assert!(matches!(err, IntOrStringError::Overflow { total: i32::MAX, .. }), "{err}");
    }

    #[test]
    fn int_values() {
        assert_eq!(int_value(&IntOrString::Int(8080)), Ok(8080));
        assert_eq!(int_value(&s("8080")), Ok(8080));
        assert_eq!(int_value(&s("-1")), Ok(-1));
        assert!(int_value(&s("http")).is_err());
        assert!(int_value(&s("50%")).is_err());
        assert!(int_value(&s("2147483648")).is_err());
        assert!(int_value(&s("")).is_err());
    }
}
