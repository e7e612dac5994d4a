//! When a campaign starts: the schedule strings operators type, read in the tenant's timezone.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::{Error, Result};

/// The time a date-only schedule starts.
const DEFAULT_TIME: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// Reads a schedule, returning `None` for "now" or the start time in UTC.
///
/// Accepted forms, in `tz`:
/// - `now`;
/// - `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM`: that moment;
/// - `YYYY-MM-DD`: that day at 09:00;
/// - `HH:MM`: today at that time, or tomorrow if it has passed.
///
/// A moment in the past is refused, except `HH:MM`, which rolls over. A local time that a
/// daylight-saving change skips is refused; one it repeats takes the earlier instant.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use wagw_core::campaign::parse_schedule;
///
/// let now = Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap(); // 15:00 in Jakarta
/// let tz = chrono_tz::Asia::Jakarta;
/// assert_eq!(parse_schedule("now", tz, now)?, None);
/// // 09:00 in Jakarta has passed today, so it means tomorrow, 02:00 UTC.
/// assert_eq!(
///     parse_schedule("09:00", tz, now)?,
///     Some(Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap())
/// );
/// # Ok::<(), wagw_core::Error>(())
/// ```
pub fn parse_schedule(input: &str, tz: Tz, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let input = input.trim();
    let invalid = |reason: &str| Error::invalid_input("schedule", format!("{input:?}: {reason}"));
    if input.eq_ignore_ascii_case("now") {
        return Ok(None);
    }
    if let Ok(time) = NaiveTime::parse_from_str(input, "%H:%M") {
        let today = now.with_timezone(&tz).date_naive();
        let at = local(tz, today.and_time(time)).ok_or_else(|| invalid("does not exist today"))?;
        if at > now {
            return Ok(Some(at));
        }
        let tomorrow = today
            .checked_add_days(Days::new(1))
            .ok_or_else(|| invalid("out of range"))?;
        return local(tz, tomorrow.and_time(time))
            .map(Some)
            .ok_or_else(|| invalid("does not exist tomorrow"));
    }
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(input, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(input, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(DEFAULT_TIME))
        })
        .ok_or_else(|| {
            invalid("use now, YYYY-MM-DD HH:MM:SS, YYYY-MM-DD HH:MM, YYYY-MM-DD or HH:MM")
        })?;
    let at = local(tz, naive).ok_or_else(|| invalid("does not exist in this timezone"))?;
    if at <= now {
        return Err(invalid("is in the past"));
    }
    Ok(Some(at))
}

fn local(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn now() -> DateTime<Utc> {
        // 15:00 in Jakarta (UTC+7).
        Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap())
    }

    const JKT: Tz = chrono_tz::Asia::Jakarta;

    #[test]
    fn every_form_reads_in_the_tenant_timezone() {
        assert_eq!(parse_schedule("NOW", JKT, now()).unwrap(), None);
        assert_eq!(
            parse_schedule("2026-12-01 10:30:00", JKT, now()).unwrap(),
            utc(2026, 12, 1, 3, 30)
        );
        assert_eq!(
            parse_schedule("2026-12-01 10:30", JKT, now()).unwrap(),
            utc(2026, 12, 1, 3, 30)
        );
        assert_eq!(
            parse_schedule("2026-12-01", JKT, now()).unwrap(),
            utc(2026, 12, 1, 2, 0)
        );
        assert_eq!(
            parse_schedule("16:00", JKT, now()).unwrap(),
            utc(2026, 11, 21, 9, 0)
        );
        assert_eq!(
            parse_schedule("14:59", JKT, now()).unwrap(),
            utc(2026, 11, 22, 7, 59)
        );
    }

    #[test]
    fn past_moments_and_garbage_are_refused() {
        for bad in [
            "2026-11-20",
            "2026-11-21 14:00",
            "tomorrow",
            "25:00",
            "2026-02-30",
        ] {
            let err = parse_schedule(bad, JKT, now()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn skipped_daylight_saving_times_are_refused() {
        let ny = chrono_tz::America::New_York;
        let err = parse_schedule("2027-03-14 02:30", ny, now()).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
