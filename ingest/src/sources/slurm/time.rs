//! Times in sacct output. `--parsable2` prints local time without a zone
//! (`2026-11-22T19:05:14`, the default `SLURM_TIME_FORMAT=standard`); costmill reads it as UTC
//! unless the source has a `timezone` (a fixed offset such as `+01:00`; no tz database, so a zone
//! with daylight saving time needs its output converted first). Live runs start sacct with
//! `TZ=UTC`, so its output and its `-S`/`-E` arguments are UTC whatever the host's zone.
//! `--json` prints Unix seconds and needs none of this.
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// `+01:00`, `-05:30`, `+0100`, `Z`, `UTC`: a fixed offset from UTC.
pub fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let s = s.trim();
    let expected =
        || format!("expected a fixed offset from UTC such as +01:00, -05:30 or UTC, found {s:?}");
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(expected()),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None if rest.len() == 2 => (rest, "00"),
        None => return Err(expected()),
    };
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(expected());
    }
    let (h, m): (i32, i32) = (
        h.parse().map_err(|_| expected())?,
        m.parse().map_err(|_| expected())?,
    );
    if h > 18 || m > 59 {
        return Err(expected());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(expected)
}

/// A time of sacct output: `Ok(None)` for `Unknown`, `None` or empty (not started / not ended).
pub fn parse_sacct_time(s: &str, offset: FixedOffset) -> Result<Option<i64>, String> {
    let s = s.trim();
    if s.is_empty() || s == "Unknown" || s == "None" {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map_err(|_| {
        format!("expected a time like 2026-11-22T19:05:14 (or Unknown, None), found {s:?}")
    })?;
    let at = offset
        .from_local_datetime(&naive)
        .single()
        .expect("a fixed offset maps every local time once");
    Ok(Some(at.timestamp()))
}

/// Unix seconds as sacct's `-S`/`-E` take them (UTC, since sacct runs with `TZ=UTC`).
pub fn format_utc(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The checkpoint: the latest end seen, `2026-11-22T19:05:14Z`.
pub fn format_checkpoint(secs: i64) -> String {
    format!("{}Z", format_utc(secs))
}

pub fn parse_checkpoint(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// `start`: how far back the first run reads. A duration before now (`7d`, `36h`, `90m`) or a
/// UTC date or time (`2026-11-01`, `2026-11-01T06:00:00`). `Ok(seconds)` since 1970.
pub fn parse_start(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    let expected = || {
        format!(
            "expected a duration before now such as 7d, 36h or 90m, or a UTC date such as \
             2026-11-01 or 2026-11-01T06:00:00, found {s:?}"
        )
    };
    if let Some(unit) = s.chars().last().filter(|c| "dhm".contains(*c)) {
        let n: i64 = s[..s.len() - 1].parse().map_err(|_| expected())?;
        if n < 0 {
            return Err(expected());
        }
        let secs = match unit {
            'd' => 86_400,
            'h' => 3_600,
            _ => 60,
        };
        return n
            .checked_mul(secs)
            .map(|back| now - back)
            .ok_or_else(expected);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp()
        })
        .map_err(|_| expected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+01:00").unwrap().local_minus_utc(), 3600);
        assert_eq!(parse_offset("-05:30").unwrap().local_minus_utc(), -19800);
        assert_eq!(parse_offset("+0100").unwrap().local_minus_utc(), 3600);
        assert_eq!(parse_offset("+09").unwrap().local_minus_utc(), 9 * 3600);
        assert_eq!(parse_offset("UTC").unwrap().local_minus_utc(), 0);
        assert_eq!(parse_offset("Z").unwrap().local_minus_utc(), 0);
        for bad in [
            "Europe/Berlin",
            "1:00",
            "+1:00",
            "+25:00",
            "+01:60",
            "",
            "+01:0x",
        ] {
            assert!(parse_offset(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sacct_times_are_utc_unless_an_offset_is_given() {
        let utc = parse_offset("UTC").unwrap();
        // 2026-11-22T19:05:14Z
        assert_eq!(
            parse_sacct_time("2026-11-22T19:05:14", utc),
            Ok(Some(1_795_374_314))
        );
        let cet = parse_offset("+01:00").unwrap();
        assert_eq!(
            parse_sacct_time("2026-11-22T19:05:14", cet),
            Ok(Some(1_795_374_314 - 3600))
        );
        assert_eq!(parse_sacct_time("Unknown", utc), Ok(None));
        assert_eq!(parse_sacct_time("None", utc), Ok(None));
        assert!(parse_sacct_time("22/11/2026 19:05", utc).is_err());
        assert!(parse_sacct_time("2026-11-22T25:05:14", utc).is_err());
    }

    #[test]
    fn checkpoints_and_start() {
        let c = format_checkpoint(1_795_374_314);
        assert_eq!(c, "2026-11-22T19:05:14Z");
        assert_eq!(parse_checkpoint(&c), Some(1_795_374_314));
        assert_eq!(parse_checkpoint("garbage"), None);
        let now = 1_795_374_314;
        assert_eq!(parse_start("7d", now), Ok(now - 7 * 86_400));
        assert_eq!(parse_start("36h", now), Ok(now - 36 * 3600));
        assert_eq!(parse_start("90m", now), Ok(now - 5400));
        assert_eq!(
            parse_start("2026-11-22", now),
            Ok(1_795_374_314 - 19 * 3600 - 5 * 60 - 14)
        );
        assert_eq!(parse_start("2026-11-22T19:05:14", now), Ok(now));
        for bad in ["", "7", "7 days", "-1d", "d", "2026-13-01"] {
            assert!(parse_start(bad, now).is_err(), "{bad:?}");
        }
    }
}
