//! Busy time from iCalendar data: the intervals that one calendar object resource (one `.ics`
//! file as a CalDAV server returns it) occupies in an expert's window. Pure: no I/O.
//!
//! Parsing is the `icalendar` crate's and recurrence rules are expanded by the `rrule` crate.
//! Expansion runs in the wall time of DTSTART's zone (`rrule` is handed the wall clock through a
//! stand-in UTC zone, so it never shifts anything itself), and each occurrence is then placed on
//! the UTC line through the real zone: a weekly 09:00 New York meeting stays at 09:00 local across
//! a DST change.
//!
//! A TZID is resolved, in order, as an IANA name, as the IANA tail of a registry prefix
//! (`/mozilla.org/20050126_1/America/New_York`), as a Windows zone name, as a VTIMEZONE defined in
//! the same object (its STANDARD/DAYLIGHT rules interpreted), and otherwise as the expert's zone.

use std::collections::{HashMap, HashSet};
use std::iter;
use std::ops::Range;

use chrono::{
    DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use icalendar::parser::{Component, Property, read_components, unfold};
use rrule::{RRule, RRuleError, RRuleSet, Unvalidated, ValidationError};
use thiserror::Error;

use crate::availability::Interval;

/// Larger objects are refused before parsing.
pub const MAX_OBJECT_BYTES: usize = 1 << 20;

/// Occurrences one series may generate, counted from DTSTART (not only those in the window),
/// before its expansion reaches the end of the window; RDATEs are listed, not generated, and do
/// not count. Enough for a daily series 27 years old or an hourly one 13 months old. Sub-daily
/// rules are allowed; one without end that produces more (typically MINUTELY or SECONDLY) is
/// refused with [`IcalError::TooManyInstances`] instead of being cut short silently.
pub const MAX_INSTANCES: usize = 10_000;

/// The UID suffix of the events this system writes into experts' calendars: the booking behind
/// such an event already blocks its time.
pub const OWN_UID_SUFFIX: &str = "@expert-marketplace";

/// Real objects nest three deep (VCALENDAR, VTIMEZONE, STANDARD). The parser recurses once per
/// level, so deeper input is refused before it can exhaust the stack.
const MAX_NESTING: usize = 8;

/// Real objects carry one RRULE per series, plus one per observance of a custom VTIMEZONE. A
/// rule that never matches still costs `rrule` up to 100 000 steps (about 10 ms), so an object
/// with thousands of rules could take minutes; more than this many are refused.
const MAX_RULES: usize = 32;

/// Parser messages can quote a whole (long) line; error texts are cut to this.
const MAX_MESSAGE_CHARS: usize = 200;

/// Whose availability the events are read for, and over which window.
#[derive(Clone, Copy, Debug)]
pub struct BusyRules<'a> {
    /// The expert's IANA zone: all-day events block whole local days in it, floating times and
    /// unknown TZIDs are read in it.
    pub zone: Tz,
    /// Only instances overlapping `[window.start, window.end)` are returned.
    pub window: Interval,
    /// The expert's calendar user addresses (`mailto:` optional, case ignored): an ATTENDEE with
    /// one of them and `PARTSTAT=DECLINED` means the expert declined, so the event is free.
    pub own_addresses: &'a [String],
    /// Whether tentative events (`STATUS:TENTATIVE`, or the expert's `PARTSTAT=TENTATIVE`)
    /// block time; the expert's choice, blocking by default.
    pub tentative_blocks: bool,
    /// Whether out-of-office events block time (Google and Microsoft mark them; iCalendar
    /// has no such mark, so this rule is theirs only).
    pub out_of_office_blocks: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IcalError {
    #[error("calendar object of {bytes} bytes is over the {MAX_OBJECT_BYTES}-byte limit")]
    TooLarge { bytes: usize },
    #[error("malformed calendar object: {0}")]
    Malformed(String),
    #[error(
        "recurring event {uid:?} generates more than {limit} occurrences before the window ends"
    )]
    TooManyInstances { uid: String, limit: usize },
}

/// The busy intervals, in UTC, that the events of one calendar object contribute to
/// `rules.window`: sorted by start, with overlapping or touching intervals merged, and not
/// clipped to the window (an instance that straddles its edge is returned whole).
///
/// Free, so absent: events marked `TRANSP:TRANSPARENT` or `STATUS:CANCELLED`, events the expert
/// declined, events whose UID ends with [`OWN_UID_SUFFIX`], and DATE-TIME events with neither
/// DTEND nor DURATION (they last no time). An override (RECURRENCE-ID) replaces the instance it
/// names and is judged on its own properties; without DTEND or DURATION it keeps the master's
/// length. VTODO, VJOURNAL and VFREEBUSY components are ignored.
///
/// An error refuses the whole object: over [`MAX_OBJECT_BYTES`]; not iCalendar (no VCALENDAR,
/// components nested absurdly deep, more RRULEs than any real object has); a VEVENT without a
/// readable DTSTART, or with an unreadable DTEND, DURATION, RRULE, RDATE, EXDATE or
/// RECURRENCE-ID; a custom VTIMEZONE that cannot be read; or a series over [`MAX_INSTANCES`].
pub fn busy_intervals(ics: &str, rules: &BusyRules<'_>) -> Result<Vec<Interval>, IcalError> {
    with_calendar(ics, rules, |calendar, zones| {
        busy_of_calendar(calendar, zones, rules)
    })
}

/// The time one of our own booking events (UID ending with [`OWN_UID_SUFFIX`]) occupies now,
/// as whoever last saved it left it (the expert may have moved it); `None` when the object
/// holds none. Refused like [`busy_intervals`].
pub fn own_event_span(ics: &str, rules: &BusyRules<'_>) -> Result<Option<Interval>, IcalError> {
    with_calendar(ics, rules, |calendar, zones| {
        let Some(component) = calendar.components.iter().find(|c| {
            is(c, "VEVENT")
                && uid_of(c).is_some_and(is_own_uid)
                && property(c, "RECURRENCE-ID").is_none()
        }) else {
            return Ok(None);
        };
        let event = Event::read(component, zones, rules)?;
        Ok(event.start.place(event.length(), zones.expert))
    })
}

/// Reads the object's VCALENDAR and time zones, refusing what [`busy_intervals`] refuses,
/// and hands them to `read`.
fn with_calendar<T>(
    ics: &str,
    rules: &BusyRules<'_>,
    read: impl FnOnce(&Component<'_>, &Zones) -> Result<T, IcalError>,
) -> Result<T, IcalError> {
    if ics.len() > MAX_OBJECT_BYTES {
        return Err(IcalError::TooLarge { bytes: ics.len() });
    }
    // Files saved by some Windows tools start with a byte-order mark the parser does not expect.
    let ics = ics.strip_prefix('\u{feff}').unwrap_or(ics);
    let text = unfold(&with_crlf_line_ends(ics));
    check_nesting(&text)?;
    let roots = read_components(&text).map_err(malformed)?;
    let calendar = roots
        .iter()
        .find(|root| is(root, "VCALENDAR"))
        .ok_or_else(|| malformed("no VCALENDAR component"))?;
    let rule_count = count_rules(calendar);
    if rule_count > MAX_RULES {
        return Err(malformed(format!(
            "{rule_count} RRULEs, more than the {MAX_RULES} read"
        )));
    }
    let zones = Zones::read(calendar, rules)?;
    read(calendar, &zones)
}

fn busy_of_calendar(
    calendar: &Component<'_>,
    zones: &Zones,
    rules: &BusyRules<'_>,
) -> Result<Vec<Interval>, IcalError> {
    let mut events = Vec::new();
    for component in calendar.components.iter().filter(|c| is(c, "VEVENT")) {
        if uid_of(component).is_some_and(is_own_uid) {
            continue;
        }
        events.push(Event::read(component, zones, rules)?);
    }

    let mut replaced: HashMap<&str, Vec<When<'_>>> = HashMap::new();
    let mut master_lengths: HashMap<&str, Length> = HashMap::new();
    for event in &events {
        match event.recurrence_id {
            Some(instance) => replaced.entry(event.uid).or_default().push(instance),
            None => {
                master_lengths.insert(event.uid, event.length());
            }
        }
    }

    let mut busy = Vec::new();
    for event in events.iter().filter(|event| event.blocks) {
        if event.recurrence_id.is_some() {
            let length = event
                .stated_length
                .or_else(|| master_lengths.get(event.uid).copied())
                .unwrap_or_else(|| Length::unstated(event.start));
            push_overlapping(event.start, length, zones.expert, rules.window, &mut busy);
        } else {
            let replaced = replaced.get(event.uid).map_or(&[][..], Vec::as_slice);
            expand_series(event, replaced, zones.expert, rules.window, &mut busy)?;
        }
    }
    Ok(merge(busy))
}

/// The instances of a master event (DTSTART, RRULE occurrences, RDATEs) that overlap `window`,
/// less those removed by EXDATE or replaced by an override.
fn expand_series(
    event: &Event<'_, '_>,
    replaced: &[When<'_>],
    expert: Tz,
    window: Interval,
    out: &mut Vec<Interval>,
) -> Result<(), IcalError> {
    let length = event.length();
    if length.is_empty() {
        return Ok(());
    }
    let skipped = Skipped::new(event.exdates.iter().chain(replaced), event.start, expert);
    let zone = event.start.zone(expert);
    let first = event.start.wall_time();
    let all_day = matches!(event.start, When::Day(_));
    let recurrence = wall_clock_rules(&event.rules, first, |raw| {
        match read_when(raw, false, zone)? {
            When::Day(day) if all_day => Some(day.and_time(NaiveTime::MIN)),
            // A DATE UNTIL on a timed series keeps that whole local day.
            When::Day(day) => day.and_hms_opt(23, 59, 59),
            until @ When::At(..) => zone.to_local(until.start_utc(expert)?),
        }
    })?;

    // A start inside a DST gap is read with the offset before it, so it can land after the next
    // occurrence's start; a day of slack keeps the stop from missing such an instance.
    let horizon = window
        .end
        .checked_add_signed(TimeDelta::days(1))
        .unwrap_or(window.end);
    for (generated, local) in occurrences(first, recurrence.as_ref()).enumerate() {
        let instance = event.start.at_wall_time(local);
        let Some(start) = instance.start_utc(expert) else {
            break;
        };
        if start >= horizon {
            break;
        }
        if generated == MAX_INSTANCES {
            return Err(IcalError::TooManyInstances {
                uid: event.uid.to_owned(),
                limit: MAX_INSTANCES,
            });
        }
        if !skipped.contains(instance, start) {
            push_overlapping(instance, length, expert, window, out);
        }
    }
    for &rdate in &event.rdates {
        let start = rdate.start_utc(expert);
        if start.is_some_and(|start| !skipped.contains(rdate, start)) {
            push_overlapping(rdate, length, expert, window, out);
        }
    }
    Ok(())
}

fn push_overlapping(
    start: When<'_>,
    length: Length,
    expert: Tz,
    window: Interval,
    out: &mut Vec<Interval>,
) {
    let instance = start.place(length, expert).filter(|instance| {
        instance.start < instance.end && instance.start < window.end && instance.end > window.start
    });
    out.extend(instance);
}

/// Sorted by start, overlapping or touching intervals joined.
fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort_unstable();
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for next in intervals {
        match merged.last_mut() {
            Some(last) if next.start <= last.end => last.end = last.end.max(next.end),
            _ => merged.push(next),
        }
    }
    merged
}

/// One VEVENT, as far as busy time goes.
struct Event<'c, 'z> {
    /// Empty when the event has none.
    uid: &'c str,
    start: When<'z>,
    /// From DTEND or DURATION; `None` when neither is given.
    stated_length: Option<Length>,
    rules: Vec<&'c str>,
    rdates: Vec<When<'z>>,
    exdates: Vec<When<'z>>,
    recurrence_id: Option<When<'z>>,
    /// Opaque, not cancelled and not declined by the expert.
    blocks: bool,
}

impl<'c, 'z> Event<'c, 'z> {
    fn read(
        component: &'c Component<'_>,
        zones: &'z Zones,
        rules: &BusyRules<'_>,
    ) -> Result<Self, IcalError> {
        let uid = uid_of(component).unwrap_or_default();
        let dtstart = property(component, "DTSTART")
            .ok_or_else(|| malformed(format!("VEVENT {uid:?} has no DTSTART")))?;
        let start = read_single(dtstart, zones, Zone::Named(zones.expert))?;
        // Other floating values follow DTSTART's zone: producers that leave the TZID off a
        // DTEND or EXDATE mean the one DTSTART carries.
        let floating = start.zone(zones.expert);
        let stated_length = match (
            property(component, "DTEND"),
            property(component, "DURATION"),
        ) {
            (Some(dtend), _) => {
                let end = read_single(dtend, zones, floating)?;
                let length = Length::between(start, end, zones.expert)
                    .ok_or_else(|| malformed(format!("VEVENT {uid:?}: DTEND out of range")))?;
                Some(length)
            }
            (None, Some(duration)) => {
                let length = parse_duration(duration.val.as_str()).ok_or_else(|| {
                    malformed(format!(
                        "VEVENT {uid:?}: DURATION {:?}",
                        duration.val.as_str()
                    ))
                })?;
                Some(length)
            }
            (None, None) => None,
        };
        let read_all = |name: &str| -> Result<Vec<When<'z>>, IcalError> {
            let mut values = Vec::new();
            for list in properties(component, name) {
                values.extend(read_values(list, zones, floating)?);
            }
            Ok(values)
        };
        let recurrence_id = match property(component, "RECURRENCE-ID") {
            Some(id) => Some(read_single(id, zones, floating)?),
            None => None,
        };
        Ok(Event {
            uid,
            start,
            stated_length,
            rules: properties(component, "RRULE")
                .map(|rule| rule.val.as_str())
                .collect(),
            rdates: read_all("RDATE")?,
            exdates: read_all("EXDATE")?,
            recurrence_id,
            blocks: blocks_time(component, rules),
        })
    }

    fn length(&self) -> Length {
        self.stated_length
            .unwrap_or_else(|| Length::unstated(self.start))
    }
}

fn blocks_time(event: &Component<'_>, rules: &BusyRules<'_>) -> bool {
    let says = |name: &str, value: &str| {
        property(event, name).is_some_and(|p| p.val.as_str().trim().eq_ignore_ascii_case(value))
    };
    let tentative =
        says("STATUS", "TENTATIVE") || answered_by_expert(event, rules.own_addresses, "TENTATIVE");
    !says("TRANSP", "TRANSPARENT")
        && !says("STATUS", "CANCELLED")
        && !answered_by_expert(event, rules.own_addresses, "DECLINED")
        && (rules.tentative_blocks || !tentative)
}

/// The expert's own ATTENDEE line carries `PARTSTAT=<answer>`.
fn answered_by_expert(event: &Component<'_>, own_addresses: &[String], answer: &str) -> bool {
    properties(event, "ATTENDEE").any(|attendee| {
        parameter(attendee, "PARTSTAT").is_some_and(|status| status.eq_ignore_ascii_case(answer))
            && own_addresses.iter().any(|own| {
                bare_address(own).eq_ignore_ascii_case(bare_address(attendee.val.as_str()))
            })
    })
}

fn bare_address(address: &str) -> &str {
    let address = address.trim();
    match address.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => &address[7..],
        _ => address,
    }
}

fn is_own_uid(uid: &str) -> bool {
    uid.len()
        .checked_sub(OWN_UID_SUFFIX.len())
        .and_then(|at| uid.get(at..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(OWN_UID_SUFFIX))
}

/// A DATE or DATE-TIME value: a whole day (in the expert's zone), or a wall-clock time in a zone
/// (UTC for values ending in `Z`).
#[derive(Clone, Copy, Debug)]
enum When<'z> {
    Day(NaiveDate),
    At(NaiveDateTime, Zone<'z>),
}

impl<'z> When<'z> {
    fn wall_time(self) -> NaiveDateTime {
        match self {
            When::Day(day) => day.and_time(NaiveTime::MIN),
            When::At(local, _) => local,
        }
    }

    fn zone(self, expert: Tz) -> Zone<'z> {
        match self {
            When::Day(_) => Zone::Named(expert),
            When::At(_, zone) => zone,
        }
    }

    /// The same kind of value at another wall-clock time: a recurrence of this one.
    fn at_wall_time(self, local: NaiveDateTime) -> When<'z> {
        match self {
            When::Day(_) => When::Day(local.date()),
            When::At(_, zone) => When::At(local, zone),
        }
    }

    fn start_utc(self, expert: Tz) -> Option<DateTime<Utc>> {
        self.zone(expert).to_utc(self.wall_time())
    }

    /// The instance starting here; its nominal days are counted on the local calendar.
    fn place(self, length: Length, expert: Tz) -> Option<Interval> {
        let zone = self.zone(expert);
        let local = self.wall_time();
        let start = zone.to_utc(local)?;
        let end = zone
            .to_utc(local.checked_add_days(Days::new(length.days))?)?
            .checked_add_signed(length.exact)?;
        Some(Interval { start, end })
    }
}

/// How long each instance lasts: nominal days on the local calendar (so a day across a DST
/// change lasts 23 or 25 hours), then exact time.
#[derive(Clone, Copy, Debug)]
struct Length {
    days: u64,
    exact: TimeDelta,
}

impl Length {
    const NONE: Length = Length {
        days: 0,
        exact: TimeDelta::zero(),
    };

    /// RFC 5545 §3.6.1: without DTEND or DURATION a DATE start lasts one day, a DATE-TIME start
    /// no time at all.
    fn unstated(start: When<'_>) -> Length {
        match start {
            When::Day(_) => Length {
                days: 1,
                exact: TimeDelta::zero(),
            },
            When::At(..) => Length::NONE,
        }
    }

    /// From DTSTART to DTEND. An all-day event ending on or before its start day is taken as
    /// one day long, as some producers write it.
    fn between(start: When<'_>, end: When<'_>, expert: Tz) -> Option<Length> {
        match start {
            When::Day(first) => {
                let days = end
                    .wall_time()
                    .date()
                    .signed_duration_since(first)
                    .num_days();
                Some(Length {
                    days: u64::try_from(days)
                        .ok()
                        .filter(|days| *days > 0)
                        .unwrap_or(1),
                    exact: TimeDelta::zero(),
                })
            }
            When::At(..) => Some(Length {
                days: 0,
                exact: end
                    .start_utc(expert)?
                    .signed_duration_since(start.start_utc(expert)?),
            }),
        }
    }

    fn is_empty(self) -> bool {
        self.days == 0 && self.exact <= TimeDelta::zero()
    }
}

/// RFC 5545 §3.3.6: `[+|-]P` then weeks, or days and/or `T` hours, minutes, seconds. A
/// negative duration ends before it starts, so it blocks nothing.
fn parse_duration(raw: &str) -> Option<Length> {
    let raw = raw.trim();
    let (negative, unsigned) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let body = unsigned.strip_prefix('P')?;
    let (date_part, time_part) = body.split_once('T').unwrap_or((body, ""));
    if body.is_empty() || body.ends_with('T') {
        return None;
    }
    let mut days: u64 = 0;
    for (amount, unit) in designated_amounts(date_part)? {
        let unit_days = match unit {
            'W' => 7,
            'D' => 1,
            _ => return None,
        };
        days = days.checked_add(amount.checked_mul(unit_days)?)?;
    }
    let mut seconds: u64 = 0;
    for (amount, unit) in designated_amounts(time_part)? {
        let unit_seconds = match unit {
            'H' => 3600,
            'M' => 60,
            'S' => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(amount.checked_mul(unit_seconds)?)?;
    }
    let exact = TimeDelta::try_seconds(i64::try_from(seconds).ok()?)?;
    Some(if negative {
        Length::NONE
    } else {
        Length { days, exact }
    })
}

/// `2DT` style runs: a number followed by its unit letter.
fn designated_amounts(part: &str) -> Option<Vec<(u64, char)>> {
    let mut amounts = Vec::new();
    let mut rest = part;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let amount = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        amounts.push((amount, unit));
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(amounts)
}

/// Instances an EXDATE or an override takes out of a series: a DATE takes every instance that
/// starts on that local day, a DATE-TIME the instance starting at that instant.
struct Skipped {
    instants: HashSet<DateTime<Utc>>,
    days: HashSet<NaiveDate>,
}

impl Skipped {
    fn new<'a, 'z: 'a>(
        values: impl Iterator<Item = &'a When<'z>>,
        series_start: When<'_>,
        expert: Tz,
    ) -> Skipped {
        let mut skipped = Skipped {
            instants: HashSet::new(),
            days: HashSet::new(),
        };
        for &value in values {
            match (series_start, value) {
                (_, When::Day(day)) => {
                    skipped.days.insert(day);
                }
                // An all-day series is matched by day, whatever form the value has.
                (When::Day(_), When::At(local, _)) => {
                    skipped.days.insert(local.date());
                }
                (When::At(..), at) => {
                    if let Some(instant) = at.start_utc(expert) {
                        skipped.instants.insert(instant);
                    }
                }
            }
        }
        skipped
    }

    fn contains(&self, instance: When<'_>, start: DateTime<Utc>) -> bool {
        match instance {
            When::Day(day) => self.days.contains(&day),
            When::At(local, _) => {
                self.instants.contains(&start) || self.days.contains(&local.date())
            }
        }
    }
}

/// Wall-clock occurrences from `first` on: `first` itself (RFC 5545: DTSTART always counts as
/// the first occurrence), then those of the rules.
fn occurrences(
    first: NaiveDateTime,
    rules: Option<&RRuleSet>,
) -> impl Iterator<Item = NaiveDateTime> + '_ {
    iter::once(first).chain(
        rules
            .into_iter()
            .flatten()
            .map(|occurrence| occurrence.naive_utc())
            .filter(move |occurrence| *occurrence != first),
    )
}

/// RRULE values over wall-clock time starting at `first`; `None` when there are none (or none
/// that recurs). UNTIL is taken out of the rule and read by `until_wall_time`, because `rrule`
/// would read a floating UNTIL in the server's own zone.
fn wall_clock_rules(
    rules: &[&str],
    first: NaiveDateTime,
    until_wall_time: impl Fn(&str) -> Option<NaiveDateTime>,
) -> Result<Option<RRuleSet>, IcalError> {
    let start = rrule::Tz::UTC.from_utc_datetime(&first);
    let mut set = RRuleSet::new(start).limit();
    let mut recurs = false;
    for &raw in rules {
        // The grammar is ASCII, and `rrule` slices strings assuming so (it panics otherwise).
        if !raw.is_ascii() {
            return Err(malformed(format!("RRULE {raw:?}: not ASCII")));
        }
        let mut until = None;
        let parts: Vec<&str> = raw
            .split(';')
            .filter(|part| match part.split_once('=') {
                Some((name, value)) if name.trim().eq_ignore_ascii_case("UNTIL") => {
                    until = Some(value);
                    false
                }
                _ => true,
            })
            .collect();
        let mut rule: RRule<Unvalidated> = parts
            .join(";")
            .parse()
            .map_err(|error| malformed(format!("RRULE {raw:?}: {error}")))?;
        if let Some(until) = until {
            let wall_time = until_wall_time(until)
                .ok_or_else(|| malformed(format!("RRULE {raw:?}: UNTIL {until:?}")))?;
            rule = rule.until(rrule::Tz::UTC.from_utc_datetime(&wall_time));
        }
        match rule.validate(start) {
            Ok(rule) => {
                set = set.rrule(rule);
                recurs = true;
            }
            // Ends before it starts: nothing beyond DTSTART.
            Err(RRuleError::ValidationError(ValidationError::UntilBeforeStart { .. })) => {}
            Err(error) => return Err(malformed(format!("RRULE {raw:?}: {error}"))),
        }
    }
    Ok(recurs.then_some(set))
}

/// Where TZIDs lead.
struct Zones {
    expert: Tz,
    /// VTIMEZONEs of this object whose TZID is not a known zone name.
    defined: HashMap<String, DefinedZone>,
}

impl Zones {
    fn read(calendar: &Component<'_>, rules: &BusyRules<'_>) -> Result<Zones, IcalError> {
        // Offsets are needed up to the last instance that can overlap the window; a year past
        // it covers any instance starting inside it.
        let horizon = rules
            .window
            .end
            .naive_utc()
            .checked_add_days(Days::new(366))
            .unwrap_or(NaiveDateTime::MAX);
        let mut defined = HashMap::new();
        for vtimezone in calendar.components.iter().filter(|c| is(c, "VTIMEZONE")) {
            let Some(tzid) = property(vtimezone, "TZID").map(|p| p.val.as_str().trim()) else {
                continue;
            };
            if named_zone(tzid).is_some() {
                continue;
            }
            if let Some(zone) = DefinedZone::read(vtimezone, tzid, horizon)? {
                defined.insert(tzid.to_owned(), zone);
            }
        }
        Ok(Zones {
            expert: rules.zone,
            defined,
        })
    }

    fn resolve(&self, tzid: &str) -> Zone<'_> {
        let tzid = tzid.trim();
        named_zone(tzid)
            .map(Zone::Named)
            .or_else(|| self.defined.get(tzid).map(Zone::Defined))
            .unwrap_or(Zone::Named(self.expert))
    }
}

/// An IANA name, the IANA tail of a registry-prefixed name, or a Windows name.
pub fn named_zone(tzid: &str) -> Option<Tz> {
    if let Ok(zone) = tzid.parse() {
        return Some(zone);
    }
    let mut rest = tzid;
    while let Some((_, tail)) = rest.split_once('/') {
        if let Ok(zone) = tail.parse() {
            return Some(zone);
        }
        rest = tail;
    }
    WINDOWS_ZONES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(tzid))
        .map(|&(_, zone)| zone)
}

/// CLDR windowsZones, territory 001, for the zones Outlook and Exchange write most often.
const WINDOWS_ZONES: &[(&str, Tz)] = &[
    ("Dateline Standard Time", Tz::Etc__GMTPlus12),
    ("UTC-11", Tz::Etc__GMTPlus11),
    ("Hawaiian Standard Time", Tz::Pacific__Honolulu),
    ("Alaskan Standard Time", Tz::America__Anchorage),
    ("Pacific Standard Time", Tz::America__Los_Angeles),
    ("US Mountain Standard Time", Tz::America__Phoenix),
    ("Mountain Standard Time", Tz::America__Denver),
    ("Central America Standard Time", Tz::America__Guatemala),
    ("Central Standard Time", Tz::America__Chicago),
    ("Central Standard Time (Mexico)", Tz::America__Mexico_City),
    ("Canada Central Standard Time", Tz::America__Regina),
    ("SA Pacific Standard Time", Tz::America__Bogota),
    ("Eastern Standard Time", Tz::America__New_York),
    (
        "US Eastern Standard Time",
        Tz::America__Indiana__Indianapolis,
    ),
    ("Atlantic Standard Time", Tz::America__Halifax),
    ("Venezuela Standard Time", Tz::America__Caracas),
    ("SA Western Standard Time", Tz::America__La_Paz),
    ("Pacific SA Standard Time", Tz::America__Santiago),
    ("Newfoundland Standard Time", Tz::America__St_Johns),
    ("E. South America Standard Time", Tz::America__Sao_Paulo),
    (
        "Argentina Standard Time",
        Tz::America__Argentina__Buenos_Aires,
    ),
    ("Azores Standard Time", Tz::Atlantic__Azores),
    ("UTC", Tz::Etc__UTC),
    ("GMT Standard Time", Tz::Europe__London),
    ("Greenwich Standard Time", Tz::Atlantic__Reykjavik),
    ("W. Europe Standard Time", Tz::Europe__Berlin),
    ("Central Europe Standard Time", Tz::Europe__Budapest),
    ("Romance Standard Time", Tz::Europe__Paris),
    ("Central European Standard Time", Tz::Europe__Warsaw),
    ("W. Central Africa Standard Time", Tz::Africa__Lagos),
    ("Morocco Standard Time", Tz::Africa__Casablanca),
    ("GTB Standard Time", Tz::Europe__Bucharest),
    ("Egypt Standard Time", Tz::Africa__Cairo),
    ("South Africa Standard Time", Tz::Africa__Johannesburg),
    ("FLE Standard Time", Tz::Europe__Kyiv),
    ("Israel Standard Time", Tz::Asia__Jerusalem),
    ("Turkey Standard Time", Tz::Europe__Istanbul),
    ("Arab Standard Time", Tz::Asia__Riyadh),
    ("Russian Standard Time", Tz::Europe__Moscow),
    ("E. Africa Standard Time", Tz::Africa__Nairobi),
    ("Iran Standard Time", Tz::Asia__Tehran),
    ("Arabian Standard Time", Tz::Asia__Dubai),
    ("Pakistan Standard Time", Tz::Asia__Karachi),
    ("India Standard Time", Tz::Asia__Kolkata),
    ("Nepal Standard Time", Tz::Asia__Kathmandu),
    ("Bangladesh Standard Time", Tz::Asia__Dhaka),
    ("SE Asia Standard Time", Tz::Asia__Bangkok),
    ("China Standard Time", Tz::Asia__Shanghai),
    ("Singapore Standard Time", Tz::Asia__Singapore),
    ("Taipei Standard Time", Tz::Asia__Taipei),
    ("W. Australia Standard Time", Tz::Australia__Perth),
    ("Tokyo Standard Time", Tz::Asia__Tokyo),
    ("Korea Standard Time", Tz::Asia__Seoul),
    ("Cen. Australia Standard Time", Tz::Australia__Adelaide),
    ("AUS Central Standard Time", Tz::Australia__Darwin),
    ("E. Australia Standard Time", Tz::Australia__Brisbane),
    ("AUS Eastern Standard Time", Tz::Australia__Sydney),
    ("New Zealand Standard Time", Tz::Pacific__Auckland),
    ("UTC+12", Tz::Etc__GMTMinus12),
];

/// The zone a wall-clock time is read in.
#[derive(Clone, Copy, Debug)]
enum Zone<'z> {
    Named(Tz),
    Defined(&'z DefinedZone),
}

impl Zone<'_> {
    /// Seconds east of UTC in force at a UTC instant.
    fn offset_at(self, utc: NaiveDateTime) -> i64 {
        match self {
            Zone::Named(zone) => {
                i64::from(zone.offset_from_utc_datetime(&utc).fix().local_minus_utc())
            }
            Zone::Defined(zone) => zone.offset_at(utc),
        }
    }

    /// The instant a wall-clock time names (RFC 5545 §3.3.5): a time a backward shift repeats is
    /// its first occurrence; a time a forward shift skips is read with the offset before the gap.
    fn to_utc(self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let offset_before = self.offset_at(local.checked_sub_signed(TimeDelta::days(1))?);
        let offset_after = self.offset_at(local.checked_add_signed(TimeDelta::days(1))?);
        let read_with = |offset: i64| local.checked_sub_signed(TimeDelta::try_seconds(offset)?);
        let fits = |offset: i64| read_with(offset).filter(|utc| self.offset_at(*utc) == offset);
        let utc = match (fits(offset_before), fits(offset_after)) {
            (Some(first), Some(second)) => first.min(second),
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => read_with(offset_before)?,
        };
        Some(utc.and_utc())
    }

    fn to_local(self, utc: DateTime<Utc>) -> Option<NaiveDateTime> {
        let utc = utc.naive_utc();
        utc.checked_add_signed(TimeDelta::try_seconds(self.offset_at(utc))?)
    }
}

/// A VTIMEZONE's observances as UTC transitions, sorted; never empty.
#[derive(Debug)]
struct DefinedZone {
    transitions: Vec<Transition>,
}

#[derive(Clone, Copy, Debug)]
struct Transition {
    /// UTC.
    at: NaiveDateTime,
    offset_before: i64,
    offset_after: i64,
}

impl DefinedZone {
    /// The onsets of every STANDARD and DAYLIGHT observance (DTSTART, RRULE, RDATE) up to
    /// `horizon`; `None` when the VTIMEZONE has no observance.
    fn read(
        vtimezone: &Component<'_>,
        tzid: &str,
        horizon: NaiveDateTime,
    ) -> Result<Option<DefinedZone>, IcalError> {
        let mut transitions = Vec::new();
        let observances = vtimezone
            .components
            .iter()
            .filter(|c| is(c, "STANDARD") || is(c, "DAYLIGHT"));
        for observance in observances {
            let offset = |name: &str| {
                property(observance, name)
                    .and_then(|p| parse_utc_offset(p.val.as_str()))
                    .ok_or_else(|| malformed(format!("VTIMEZONE {tzid:?}: {name}")))
            };
            let offset_before = offset("TZOFFSETFROM")?;
            let offset_after = offset("TZOFFSETTO")?;
            // Onsets are wall-clock times in the offset in force before them; a UTC value (an
            // UNTIL or an RDATE) is turned into one.
            let onset = |raw: &str, is_date: bool| {
                let wall_time = read_when(raw, is_date, Zone::Named(Tz::UTC))?.wall_time();
                if raw.trim().ends_with('Z') {
                    wall_time.checked_add_signed(TimeDelta::try_seconds(offset_before)?)
                } else {
                    Some(wall_time)
                }
            };
            let first = property(observance, "DTSTART")
                .and_then(|p| onset(p.val.as_str(), false))
                .ok_or_else(|| malformed(format!("VTIMEZONE {tzid:?}: DTSTART")))?;
            let rules: Vec<&str> = properties(observance, "RRULE")
                .map(|rule| rule.val.as_str())
                .collect();
            let recurrence = wall_clock_rules(&rules, first, |raw| onset(raw, false))?;
            let mut onsets = Vec::new();
            for (generated, wall_time) in occurrences(first, recurrence.as_ref()).enumerate() {
                if wall_time > horizon {
                    break;
                }
                if generated == MAX_INSTANCES {
                    return Err(malformed(format!("VTIMEZONE {tzid:?}: too many onsets")));
                }
                onsets.push(wall_time);
            }
            for rdates in properties(observance, "RDATE") {
                for item in list_items(rdates) {
                    let wall_time = onset(item, is_date_list(rdates))
                        .ok_or_else(|| malformed(format!("VTIMEZONE {tzid:?}: RDATE {item:?}")))?;
                    onsets.push(wall_time);
                }
            }
            for wall_time in onsets {
                let at = TimeDelta::try_seconds(offset_before)
                    .and_then(|offset| wall_time.checked_sub_signed(offset))
                    .ok_or_else(|| malformed(format!("VTIMEZONE {tzid:?}: onset out of range")))?;
                transitions.push(Transition {
                    at,
                    offset_before,
                    offset_after,
                });
            }
        }
        transitions.sort_by_key(|transition| transition.at);
        Ok((!transitions.is_empty()).then_some(DefinedZone { transitions }))
    }

    fn offset_at(&self, utc: NaiveDateTime) -> i64 {
        let passed = self.transitions.partition_point(|t| t.at <= utc);
        match passed.checked_sub(1) {
            Some(last) => self.transitions.get(last).map(|t| t.offset_after),
            None => self.transitions.first().map(|t| t.offset_before),
        }
        .unwrap_or(0)
    }
}

/// `+HHMM` or `+HHMMSS` (RFC 5545 §3.3.14), in seconds east of UTC.
fn parse_utc_offset(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (sign, digits) = match raw.split_at_checked(1)? {
        ("+", digits) => (1, digits),
        ("-", digits) => (-1, digits),
        _ => return None,
    };
    if !matches!(digits.len(), 4 | 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: Range<usize>| digits.get(range)?.parse::<i64>().ok();
    let seconds = if digits.len() == 6 { field(4..6)? } else { 0 };
    Some(sign * (field(0..2)? * 3600 + field(2..4)? * 60 + seconds))
}

/// The values of a DATE / DATE-TIME (list) property.
fn read_values<'z>(
    list: &Property<'_>,
    zones: &'z Zones,
    floating: Zone<'z>,
) -> Result<Vec<When<'z>>, IcalError> {
    let zone = parameter(list, "TZID").map_or(floating, |tzid| zones.resolve(tzid));
    list_items(list)
        .map(|item| {
            read_when(item, is_date_list(list), zone)
                .ok_or_else(|| malformed(format!("{} value {item:?}", list.name.as_str())))
        })
        .collect()
}

/// The comma-separated items of a value list; a VALUE=PERIOD item counts from its start.
fn list_items<'p>(list: &'p Property<'_>) -> impl Iterator<Item = &'p str> {
    list.val
        .as_str()
        .split(',')
        .map(|item| item.split_once('/').map_or(item, |(start, _)| start).trim())
        .filter(|item| !item.is_empty())
}

fn is_date_list(list: &Property<'_>) -> bool {
    parameter(list, "VALUE").is_some_and(|value| value.eq_ignore_ascii_case("DATE"))
}

fn read_single<'z>(
    single: &Property<'_>,
    zones: &'z Zones,
    floating: Zone<'z>,
) -> Result<When<'z>, IcalError> {
    read_values(single, zones, floating)?
        .into_iter()
        .next()
        .ok_or_else(|| malformed(format!("{} has no value", single.name.as_str())))
}

/// `YYYYMMDD` (or any value when `is_date`) is a day; `YYYYMMDDTHHMMSS` is a wall-clock time in
/// `zone`, or in UTC with a trailing `Z`.
fn read_when<'z>(raw: &str, is_date: bool, zone: Zone<'z>) -> Option<When<'z>> {
    let raw = raw.trim();
    if is_date || !raw.contains('T') {
        return NaiveDate::parse_from_str(raw, "%Y%m%d").ok().map(When::Day);
    }
    let (local, zone) = match raw.strip_suffix('Z') {
        Some(utc) => (utc, Zone::Named(Tz::UTC)),
        None => (raw, zone),
    };
    NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S")
        .ok()
        .map(|local| When::At(local, zone))
}

fn is(component: &Component<'_>, name: &str) -> bool {
    component.name.as_str().eq_ignore_ascii_case(name)
}

fn property<'c>(component: &'c Component<'_>, name: &str) -> Option<&'c Property<'c>> {
    properties(component, name).next()
}

fn properties<'c>(
    component: &'c Component<'_>,
    name: &str,
) -> impl Iterator<Item = &'c Property<'c>> {
    component
        .properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn parameter<'p>(property: &'p Property<'_>, name: &str) -> Option<&'p str> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(name))
        .and_then(|p| p.val.as_ref())
        .map(|value| value.as_str())
}

fn uid_of<'c>(component: &'c Component<'_>) -> Option<&'c str> {
    property(component, "UID").map(|uid| uid.val.as_str().trim())
}

/// The parser looks for CRLF to end each value; with bare LF line ends every such search runs to
/// the end of the input, which makes parsing quadratic. So every line end becomes CRLF first.
fn with_crlf_line_ends(ics: &str) -> String {
    let mut text = String::with_capacity(ics.len() + ics.len() / 16);
    for line in ics.lines() {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text
}

fn check_nesting(text: &str) -> Result<(), IcalError> {
    let starts_with = |line: &str, prefix: &str| {
        line.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let mut depth = 0usize;
    for line in text.lines() {
        if starts_with(line, "BEGIN:") {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(malformed(format!(
                    "components nested over {MAX_NESTING} deep"
                )));
            }
        } else if starts_with(line, "END:") {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

fn count_rules(component: &Component<'_>) -> usize {
    properties(component, "RRULE").count()
        + component.components.iter().map(count_rules).sum::<usize>()
}

fn malformed(message: impl Into<String>) -> IcalError {
    let message: String = message.into();
    IcalError::Malformed(message.chars().take(MAX_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: Tz = Tz::Europe__Berlin;
    const NEW_YORK: Tz = Tz::America__New_York;

    fn at(instant: &str) -> DateTime<Utc> {
        instant.parse().unwrap()
    }

    fn span(start: &str, end: &str) -> Interval {
        Interval {
            start: at(start),
            end: at(end),
        }
    }

    fn rules(zone: Tz, from: &str, to: &str) -> BusyRules<'static> {
        BusyRules {
            zone,
            window: span(from, to),
            own_addresses: &[],
            tentative_blocks: true,
            out_of_office_blocks: true,
        }
    }

    /// An object as CalDAV servers send it: CRLF line ends; the indentation of `body` is dropped.
    fn calendar(body: &str) -> String {
        let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n");
        for line in body.lines().map(str::trim).filter(|line| !line.is_empty()) {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("END:VCALENDAR\r\n");
        text
    }

    fn busy(body: &str, rules: &BusyRules<'_>) -> Vec<Interval> {
        busy_intervals(&calendar(body), rules).unwrap()
    }

    const US_EASTERN: &str = "
        BEGIN:VTIMEZONE
        TZID:US Eastern
        BEGIN:STANDARD
        DTSTART:20071104T020000
        RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
        TZOFFSETFROM:-0400
        TZOFFSETTO:-0500
        TZNAME:EST
        END:STANDARD
        BEGIN:DAYLIGHT
        DTSTART:20070311T020000
        RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
        TZOFFSETFROM:-0500
        TZOFFSETTO:-0400
        TZNAME:EDT
        END:DAYLIGHT
        END:VTIMEZONE";

    #[test]
    fn utc_event_inside_the_window_is_busy_and_events_outside_are_not() {
        let week = rules(BERLIN, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z");
        let event = |start: &str, end: &str| {
            format!(
                "BEGIN:VEVENT
                UID:call-1@example.com
                DTSTAMP:20260301T120000Z
                DTSTART:{start}
                DTEND:{end}
                SUMMARY:Call
                END:VEVENT"
            )
        };
        assert_eq!(
            busy(&event("20260310T140000Z", "20260310T150000Z"), &week),
            [span("2026-03-10T14:00:00Z", "2026-03-10T15:00:00Z")]
        );
        // Straddling the window's start: returned whole.
        assert_eq!(
            busy(&event("20260308T230000Z", "20260309T010000Z"), &week),
            [span("2026-03-08T23:00:00Z", "2026-03-09T01:00:00Z")]
        );
        // Half-open window: ending at its start or starting at its end is outside.
        assert!(busy(&event("20260308T230000Z", "20260309T000000Z"), &week).is_empty());
        assert!(busy(&event("20260316T000000Z", "20260316T010000Z"), &week).is_empty());
    }

    #[test]
    fn tzid_with_an_iana_name() {
        let body = "
            BEGIN:VEVENT
            UID:berlin-1@example.com
            DTSTART;TZID=Europe/Berlin:20260310T090000
            DTEND;TZID=Europe/Berlin:20260310T103000
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(NEW_YORK, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z")
            ),
            [span("2026-03-10T08:00:00Z", "2026-03-10T09:30:00Z")]
        );
    }

    #[test]
    fn tzid_with_a_windows_name() {
        // 09:00 on 2026-01-15 (northern winter) in each zone. The expert's zone is far from all
        // of them, so a name that fell back to it would show.
        let cases = [
            ("Eastern Standard Time", "2026-01-15T14:00:00Z"),
            ("W. Europe Standard Time", "2026-01-15T08:00:00Z"),
            ("Pacific Standard Time", "2026-01-15T17:00:00Z"),
            ("GMT Standard Time", "2026-01-15T09:00:00Z"),
            ("Romance Standard Time", "2026-01-15T08:00:00Z"),
            ("Central European Standard Time", "2026-01-15T08:00:00Z"),
            ("AUS Eastern Standard Time", "2026-01-14T22:00:00Z"),
            ("India Standard Time", "2026-01-15T03:30:00Z"),
            ("Tokyo Standard Time", "2026-01-15T00:00:00Z"),
            ("Central Standard Time", "2026-01-15T15:00:00Z"),
            ("Mountain Standard Time", "2026-01-15T16:00:00Z"),
            ("UTC", "2026-01-15T09:00:00Z"),
        ];
        let window = rules(
            Tz::Pacific__Kiritimati,
            "2026-01-13T00:00:00Z",
            "2026-01-17T00:00:00Z",
        );
        for (tzid, start) in cases {
            let body = format!(
                "BEGIN:VEVENT
                UID:outlook-1@example.com
                DTSTART;TZID=\"{tzid}\":20260115T090000
                DTEND;TZID=\"{tzid}\":20260115T100000
                END:VEVENT"
            );
            let start = at(start);
            assert_eq!(
                busy(&body, &window),
                [Interval {
                    start,
                    end: start + TimeDelta::hours(1)
                }],
                "{tzid}"
            );
        }
    }

    #[test]
    fn tzid_with_a_registry_prefix_takes_the_iana_tail() {
        let window = rules(
            Tz::Asia__Tokyo,
            "2026-01-13T00:00:00Z",
            "2026-01-17T00:00:00Z",
        );
        let cases = [
            (
                "/freeassociation.sourceforge.net/Europe/Berlin",
                span("2026-01-15T08:00:00Z", "2026-01-15T09:00:00Z"),
            ),
            (
                "/mozilla.org/20050126_1/America/New_York",
                span("2026-01-15T14:00:00Z", "2026-01-15T15:00:00Z"),
            ),
        ];
        for (tzid, expected) in cases {
            let body = format!(
                "BEGIN:VEVENT
                UID:thunderbird-1@example.com
                DTSTART;TZID={tzid}:20260115T090000
                DTEND;TZID={tzid}:20260115T100000
                END:VEVENT"
            );
            assert_eq!(busy(&body, &window), [expected], "{tzid}");
        }
    }

    #[test]
    fn tzid_defined_only_by_a_vtimezone_follows_its_rules() {
        let body = format!(
            "{US_EASTERN}
            BEGIN:VEVENT
            UID:custom-1@example.com
            DTSTART;TZID=US Eastern:20260115T090000
            DTEND;TZID=US Eastern:20260115T100000
            END:VEVENT
            BEGIN:VEVENT
            UID:custom-2@example.com
            DTSTART;TZID=US Eastern:20260715T090000
            DTEND;TZID=US Eastern:20260715T100000
            END:VEVENT"
        );
        assert_eq!(
            busy(
                &body,
                &rules(BERLIN, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
            ),
            [
                span("2026-01-15T14:00:00Z", "2026-01-15T15:00:00Z"),
                span("2026-07-15T13:00:00Z", "2026-07-15T14:00:00Z"),
            ]
        );
    }

    #[test]
    fn outlook_vtimezone_starting_in_1601() {
        let body = "
            BEGIN:VTIMEZONE
            TZID:Customized Time Zone
            BEGIN:STANDARD
            DTSTART:16010101T030000
            TZOFFSETFROM:+0200
            TZOFFSETTO:+0100
            RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
            END:STANDARD
            BEGIN:DAYLIGHT
            DTSTART:16010101T020000
            TZOFFSETFROM:+0100
            TZOFFSETTO:+0200
            RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
            END:DAYLIGHT
            END:VTIMEZONE
            BEGIN:VEVENT
            UID:040000008200E00074C5B7101A82E008000000001@example.com
            DTSTART;TZID=\"Customized Time Zone\":20260701T100000
            DTEND;TZID=\"Customized Time Zone\":20260701T110000
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(NEW_YORK, "2026-06-01T00:00:00Z", "2026-08-01T00:00:00Z")
            ),
            [span("2026-07-01T08:00:00Z", "2026-07-01T09:00:00Z")]
        );
    }

    #[test]
    fn unknown_tzid_without_vtimezone_is_read_in_the_experts_zone() {
        let body = "
            BEGIN:VEVENT
            UID:mystery-1@example.com
            DTSTART;TZID=Mars Standard Time:20260115T090000
            DTEND;TZID=Mars Standard Time:20260115T100000
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(BERLIN, "2026-01-13T00:00:00Z", "2026-01-17T00:00:00Z")
            ),
            [span("2026-01-15T08:00:00Z", "2026-01-15T09:00:00Z")]
        );
    }

    #[test]
    fn duration_stands_in_for_a_missing_dtend() {
        let window = rules(BERLIN, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
        let body = "
            BEGIN:VEVENT
            UID:duration-1@example.com
            DTSTART;TZID=Europe/Berlin:20260310T090000
            DURATION:PT45M
            END:VEVENT";
        assert_eq!(
            busy(body, &window),
            [span("2026-03-10T08:00:00Z", "2026-03-10T08:45:00Z")]
        );
        // A nominal day spans the DST change (2026-03-29 in Berlin): 23 hours.
        let body = "
            BEGIN:VEVENT
            UID:duration-2@example.com
            DTSTART;TZID=Europe/Berlin:20260328T120000
            DURATION:P1D
            END:VEVENT";
        assert_eq!(
            busy(body, &window),
            [span("2026-03-28T11:00:00Z", "2026-03-29T10:00:00Z")]
        );
    }

    #[test]
    fn without_dtend_or_duration_a_timed_event_is_free_and_a_day_lasts_one_day() {
        let window = rules(BERLIN, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
        let reminder = "
            BEGIN:VEVENT
            UID:reminder-1@example.com
            DTSTART:20260310T090000Z
            SUMMARY:Reminder
            END:VEVENT";
        assert!(busy(reminder, &window).is_empty());
        let day = "
            BEGIN:VEVENT
            UID:day-1@example.com
            DTSTART;VALUE=DATE:20260311
            END:VEVENT";
        assert_eq!(
            busy(day, &window),
            [span("2026-03-10T23:00:00Z", "2026-03-11T23:00:00Z")]
        );
    }

    #[test]
    fn all_day_events_block_whole_local_days_of_the_expert() {
        let spring_forward = "
            BEGIN:VEVENT
            UID:holiday-1@example.com
            DTSTART;VALUE=DATE:20260329
            DTEND;VALUE=DATE:20260330
            END:VEVENT";
        assert_eq!(
            busy(
                spring_forward,
                &rules(BERLIN, "2026-03-23T00:00:00Z", "2026-04-06T00:00:00Z")
            ),
            [span("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")]
        );
        assert_eq!(
            busy(
                spring_forward,
                &rules(NEW_YORK, "2026-03-23T00:00:00Z", "2026-04-06T00:00:00Z")
            ),
            [span("2026-03-29T04:00:00Z", "2026-03-30T04:00:00Z")]
        );
        let trip = "
            BEGIN:VEVENT
            UID:trip-1@example.com
            DTSTART;VALUE=DATE:20260327
            DTEND;VALUE=DATE:20260330
            END:VEVENT";
        assert_eq!(
            busy(
                trip,
                &rules(BERLIN, "2026-03-23T00:00:00Z", "2026-04-06T00:00:00Z")
            ),
            [span("2026-03-26T23:00:00Z", "2026-03-29T22:00:00Z")]
        );
    }

    #[test]
    fn floating_times_are_read_in_the_experts_zone() {
        let body = "
            BEGIN:VEVENT
            UID:floating-1@example.com
            DTSTART:20260310T090000
            DTEND:20260310T100000
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(
                    Tz::Asia__Tokyo,
                    "2026-03-09T00:00:00Z",
                    "2026-03-16T00:00:00Z"
                )
            ),
            [span("2026-03-10T00:00:00Z", "2026-03-10T01:00:00Z")]
        );
        assert_eq!(
            busy(
                body,
                &rules(NEW_YORK, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z")
            ),
            [span("2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z")]
        );
    }

    #[test]
    fn weekly_series_keeps_its_wall_time_across_dst_with_an_iana_tzid_and_a_vtimezone() {
        // Thursdays 09:00 New York; DST starts on Sunday 2026-03-08.
        let expected = [
            span("2026-02-26T14:00:00Z", "2026-02-26T15:00:00Z"),
            span("2026-03-05T14:00:00Z", "2026-03-05T15:00:00Z"),
            span("2026-03-12T13:00:00Z", "2026-03-12T14:00:00Z"),
            span("2026-03-19T13:00:00Z", "2026-03-19T14:00:00Z"),
        ];
        let window = rules(BERLIN, "2026-02-23T00:00:00Z", "2026-03-23T00:00:00Z");
        for (tzid, vtimezone) in [("America/New_York", ""), ("US Eastern", US_EASTERN)] {
            let body = format!(
                "{vtimezone}
                BEGIN:VEVENT
                UID:weekly-1@example.com
                DTSTART;TZID={tzid}:20260226T090000
                DTEND;TZID={tzid}:20260226T100000
                RRULE:FREQ=WEEKLY;BYDAY=TH
                END:VEVENT"
            );
            assert_eq!(busy(&body, &window), expected, "{tzid}");
        }
    }

    #[test]
    fn recurrence_rule_parts() {
        let half_year = rules(Tz::UTC, "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z");
        let series = |start: &str, rule: &str| {
            format!(
                "BEGIN:VEVENT
                UID:rule-1@example.com
                DTSTART:{start}
                DURATION:PT30M
                RRULE:{rule}
                END:VEVENT"
            )
        };
        let starts = |starts: &[&str]| -> Vec<Interval> {
            starts
                .iter()
                .map(|start| Interval {
                    start: at(start),
                    end: at(start) + TimeDelta::minutes(30),
                })
                .collect()
        };
        let cases = [
            (
                "20260302T100000Z",
                "FREQ=DAILY;INTERVAL=2;COUNT=3",
                starts(&[
                    "2026-03-02T10:00:00Z",
                    "2026-03-04T10:00:00Z",
                    "2026-03-06T10:00:00Z",
                ]),
            ),
            // Without BYDAY: DTSTART's weekday (a Tuesday).
            (
                "20260303T100000Z",
                "FREQ=WEEKLY;COUNT=3",
                starts(&[
                    "2026-03-03T10:00:00Z",
                    "2026-03-10T10:00:00Z",
                    "2026-03-17T10:00:00Z",
                ]),
            ),
            // UNTIL is inclusive.
            (
                "20260302T100000Z",
                "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260311T100000Z",
                starts(&[
                    "2026-03-02T10:00:00Z",
                    "2026-03-04T10:00:00Z",
                    "2026-03-06T10:00:00Z",
                    "2026-03-09T10:00:00Z",
                    "2026-03-11T10:00:00Z",
                ]),
            ),
            (
                "20260130T100000Z",
                "FREQ=MONTHLY;BYDAY=-1FR;COUNT=3",
                starts(&[
                    "2026-01-30T10:00:00Z",
                    "2026-02-27T10:00:00Z",
                    "2026-03-27T10:00:00Z",
                ]),
            ),
            // Months without a 31st are skipped.
            (
                "20260131T100000Z",
                "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3",
                starts(&[
                    "2026-01-31T10:00:00Z",
                    "2026-03-31T10:00:00Z",
                    "2026-05-31T10:00:00Z",
                ]),
            ),
            // The last weekday of each month.
            (
                "20260130T100000Z",
                "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=3",
                starts(&[
                    "2026-01-30T10:00:00Z",
                    "2026-02-27T10:00:00Z",
                    "2026-03-31T10:00:00Z",
                ]),
            ),
            (
                "20250615T100000Z",
                "FREQ=YEARLY;BYMONTH=3,6;BYMONTHDAY=15",
                starts(&["2026-03-15T10:00:00Z", "2026-06-15T10:00:00Z"]),
            ),
        ];
        for (start, rule, expected) in cases {
            assert_eq!(busy(&series(start, rule), &half_year), expected, "{rule}");
        }
    }

    #[test]
    fn rdate_adds_and_exdate_removes_instances() {
        let body = "
            BEGIN:VEVENT
            UID:daily-1@example.com
            DTSTART;TZID=Europe/Berlin:20260302T090000
            DTEND;TZID=Europe/Berlin:20260302T100000
            RRULE:FREQ=DAILY;COUNT=6
            EXDATE;TZID=Europe/Berlin:20260303T090000,20260304T090000
            EXDATE:20260305T080000Z
            RDATE;TZID=Europe/Berlin:20260310T140000
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(BERLIN, "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z")
            ),
            [
                span("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z"),
                span("2026-03-06T08:00:00Z", "2026-03-06T09:00:00Z"),
                span("2026-03-07T08:00:00Z", "2026-03-07T09:00:00Z"),
                span("2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z"),
            ]
        );
    }

    #[test]
    fn overrides_replace_the_instances_they_name() {
        let body = "
            BEGIN:VEVENT
            UID:standup-1@example.com
            SEQUENCE:0
            DTSTART;TZID=America/New_York:20260302T090000
            DTEND;TZID=America/New_York:20260302T093000
            RRULE:FREQ=DAILY;COUNT=5
            END:VEVENT
            BEGIN:VEVENT
            UID:standup-1@example.com
            SEQUENCE:2
            RECURRENCE-ID;TZID=America/New_York:20260303T090000
            DTSTART;TZID=America/New_York:20260303T150000
            DTEND;TZID=America/New_York:20260303T160000
            END:VEVENT
            BEGIN:VEVENT
            UID:standup-1@example.com
            RECURRENCE-ID:20260304T140000Z
            DTSTART;TZID=America/New_York:20260304T090000
            DTEND;TZID=America/New_York:20260304T093000
            STATUS:CANCELLED
            END:VEVENT
            BEGIN:VEVENT
            UID:standup-1@example.com
            RECURRENCE-ID;TZID=America/New_York:20260305T090000
            DTSTART;TZID=America/New_York:20260305T090000
            DTEND;TZID=America/New_York:20260305T093000
            TRANSP:TRANSPARENT
            END:VEVENT
            BEGIN:VEVENT
            UID:standup-1@example.com
            RECURRENCE-ID;TZID=America/New_York:20260306T090000
            DTSTART;TZID=America/New_York:20260306T100000
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(NEW_YORK, "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z")
            ),
            [
                span("2026-03-02T14:00:00Z", "2026-03-02T14:30:00Z"),
                // Moved to 15:00 and an hour long.
                span("2026-03-03T20:00:00Z", "2026-03-03T21:00:00Z"),
                // 03-04 cancelled, 03-05 free; 03-06 moved, keeping the master's 30 minutes.
                span("2026-03-06T15:00:00Z", "2026-03-06T15:30:00Z"),
            ]
        );
    }

    #[test]
    fn transparent_cancelled_declined_and_own_events_are_free() {
        let window = rules(BERLIN, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z");
        let event = |uid: &str, extra: &str| {
            format!(
                "BEGIN:VEVENT
                UID:{uid}
                DTSTART:20260310T140000Z
                DTEND:20260310T150000Z
                ORGANIZER;CN=Boss:mailto:boss@example.com
                {extra}
                END:VEVENT"
            )
        };
        assert!(busy(&event("a@example.com", "TRANSP:TRANSPARENT"), &window).is_empty());
        assert!(busy(&event("b@example.com", "STATUS:CANCELLED"), &window).is_empty());
        assert!(
            busy(
                &event("01JQ0000000000000000000000@expert-marketplace", ""),
                &window
            )
            .is_empty()
        );

        let addresses = vec!["mailto:ana@example.com".to_owned()];
        let ana = BusyRules {
            own_addresses: &addresses,
            ..window
        };
        let declined = event(
            "c@example.com",
            "ATTENDEE;CN=Ana;PARTSTAT=DECLINED:MAILTO:Ana@Example.com\n\
             ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.com",
        );
        assert!(busy(&declined, &ana).is_empty());
        let declined_by_bob = event(
            "d@example.com",
            "ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:ana@example.com\n\
             ATTENDEE;CN=Bob;PARTSTAT=DECLINED:mailto:bob@example.com",
        );
        assert_eq!(
            busy(&declined_by_bob, &ana),
            [span("2026-03-10T14:00:00Z", "2026-03-10T15:00:00Z")]
        );
        assert_eq!(
            busy(
                &event("e@example.com", "TRANSP:OPAQUE\nSTATUS:CONFIRMED"),
                &window
            ),
            [span("2026-03-10T14:00:00Z", "2026-03-10T15:00:00Z")]
        );
    }

    #[test]
    fn endless_sub_daily_rules_stop_at_the_instance_limit() {
        let window = rules(Tz::UTC, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z");
        for (start, rule) in [
            ("20260301T000000Z", "FREQ=MINUTELY"),
            ("20260301T000000Z", "FREQ=SECONDLY"),
            ("20240301T000000Z", "FREQ=HOURLY"),
        ] {
            let body = format!(
                "BEGIN:VEVENT
                UID:runaway-1@example.com
                DTSTART:{start}
                DURATION:PT1M
                RRULE:{rule}
                END:VEVENT"
            );
            assert_eq!(
                busy_intervals(&calendar(&body), &window),
                Err(IcalError::TooManyInstances {
                    uid: "runaway-1@example.com".to_owned(),
                    limit: MAX_INSTANCES,
                }),
                "{rule}"
            );
        }
        // Sub-daily rules within the limit are expanded.
        let every_four_hours = "
            BEGIN:VEVENT
            UID:hourly-1@example.com
            DTSTART:20260315T120000Z
            DURATION:PT30M
            RRULE:FREQ=HOURLY;INTERVAL=4
            END:VEVENT";
        assert_eq!(
            busy(every_four_hours, &window),
            [
                span("2026-03-15T12:00:00Z", "2026-03-15T12:30:00Z"),
                span("2026-03-15T16:00:00Z", "2026-03-15T16:30:00Z"),
                span("2026-03-15T20:00:00Z", "2026-03-15T20:30:00Z"),
            ]
        );
    }

    #[test]
    fn series_that_began_a_year_before_the_window() {
        let body = "
            BEGIN:VEVENT
            UID:weekly-2@example.com
            DTSTART;TZID=Europe/Berlin:20250303T100000
            DTEND;TZID=Europe/Berlin:20250303T110000
            RRULE:FREQ=WEEKLY;BYDAY=MO
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(BERLIN, "2026-03-23T00:00:00Z", "2026-04-06T00:00:00Z")
            ),
            [
                span("2026-03-23T09:00:00Z", "2026-03-23T10:00:00Z"),
                span("2026-03-30T08:00:00Z", "2026-03-30T09:00:00Z"),
            ]
        );
    }

    #[test]
    fn crlf_lf_folded_lines_and_a_byte_order_mark_read_alike() {
        let crlf = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n\
                    UID:folded-1@example.com\r\n\
                    DTSTART;TZID=/mozilla.org/20050126_1/\r\n America/New_York:20260310T090000\r\n\
                    DTEND;TZID=America/New_York:2026031\r\n 0T100000\r\n\
                    RRULE:FREQ=DAILY;\r\n\tCOUNT=2\r\n\
                    END:VEVENT\r\nEND:VCALENDAR\r\n";
        let lf = crlf.replace("\r\n", "\n");
        let window = rules(BERLIN, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z");
        let expected = [
            span("2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z"),
            span("2026-03-11T13:00:00Z", "2026-03-11T14:00:00Z"),
        ];
        assert_eq!(busy_intervals(crlf, &window).unwrap(), expected);
        assert_eq!(busy_intervals(&lf, &window).unwrap(), expected);
        let with_byte_order_mark = format!("\u{feff}{crlf}");
        assert_eq!(
            busy_intervals(&with_byte_order_mark, &window).unwrap(),
            expected
        );
    }

    #[test]
    fn wall_times_in_dst_gaps_and_overlaps() {
        let window = rules(NEW_YORK, "2026-03-01T00:00:00Z", "2026-12-01T00:00:00Z");
        // 02:30 does not exist on 2026-03-08: read with the offset before the gap (EST).
        let gap = "
            BEGIN:VEVENT
            UID:gap-1@example.com
            DTSTART;TZID=America/New_York:20260308T023000
            DTEND;TZID=America/New_York:20260308T040000
            END:VEVENT";
        assert_eq!(
            busy(gap, &window),
            [span("2026-03-08T07:30:00Z", "2026-03-08T08:00:00Z")]
        );
        // 01:30 happens twice on 2026-11-01: the first (EDT) is meant.
        let overlap = "
            BEGIN:VEVENT
            UID:overlap-1@example.com
            DTSTART;TZID=America/New_York:20260101T013000
            DURATION:PT1H
            RRULE:FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=1
            END:VEVENT";
        assert_eq!(
            busy(overlap, &window),
            [span("2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z")]
        );
    }

    #[test]
    fn overlapping_instances_are_merged() {
        let body = "
            BEGIN:VEVENT
            UID:conference-1@example.com
            DTSTART:20260302T000000Z
            DURATION:PT36H
            RRULE:FREQ=DAILY;COUNT=3
            END:VEVENT";
        assert_eq!(
            busy(
                body,
                &rules(Tz::UTC, "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z")
            ),
            [span("2026-03-02T00:00:00Z", "2026-03-05T12:00:00Z")]
        );
    }

    #[test]
    fn oversized_objects_are_refused_before_parsing() {
        let huge = "X".repeat(5 * 1024 * 1024);
        assert_eq!(
            busy_intervals(
                &huge,
                &rules(BERLIN, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z")
            ),
            Err(IcalError::TooLarge {
                bytes: 5 * 1024 * 1024
            })
        );
    }

    #[test]
    fn unreadable_objects_are_malformed() {
        let window = rules(BERLIN, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z");
        let event = |lines: &str| {
            calendar(&format!(
                "BEGIN:VEVENT\nUID:x@example.com\n{lines}\nEND:VEVENT"
            ))
        };
        let inputs = [
            "this is not a calendar".to_owned(),
            String::new(),
            "BEGIN:VEVENT\r\nUID:x@example.com\r\nDTSTART:20260310T140000Z\r\nEND:VEVENT\r\n"
                .to_owned(),
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260310T140000Z\r\n".to_owned(),
            event("SUMMARY:no start"),
            event("DTSTART:tomorrow"),
            event("DTSTART:20260310T140000Z\nDTEND:20261310T150000Z"),
            event("DTSTART:20260310T140000Z\nDURATION:1 hour"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=FORTNIGHTLY"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nEXDATE:soon"),
            // `rrule` would panic slicing this.
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;BYDAY=MÉ"),
            calendar(
                &"BEGIN:VEVENT\nDTSTART:20260310T140000Z\nRRULE:FREQ=DAILY\nEND:VEVENT\n"
                    .repeat(MAX_RULES + 1),
            ),
        ];
        for input in inputs {
            assert!(
                matches!(
                    busy_intervals(&input, &window),
                    Err(IcalError::Malformed(_))
                ),
                "{input:?}"
            );
        }
    }

    #[test]
    fn hostile_input_is_refused_or_read_within_bounds() {
        let event = |lines: &str| {
            calendar(&format!(
                "BEGIN:VEVENT\nUID:x@example.com\n{lines}\nEND:VEVENT"
            ))
        };
        let inputs = [
            "BEGIN:X\r\n".repeat(50_000),
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n".to_owned(),
            "BEGIN:VCALENDAR\r\n\r\n\r\n;;;:::\r\nEND:VCALENDAR\r\n".to_owned(),
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=\"\":\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".to_owned(),
            event("DTSTART:99991231T235959Z\nDURATION:P9999W\nRRULE:FREQ=SECONDLY"),
            event("DTSTART:00010101T000000Z\nDURATION:PT1H\nRRULE:FREQ=YEARLY"),
            event("DTSTART:20260310T235960Z\nDURATION:PT1H"),
            event("DTSTART:20260310T140000Z\nDURATION:P18446744073709551615W"),
            event("DTSTART:20260310T140000Z\nDURATION:-PT1H\nRRULE:FREQ=DAILY"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;INTERVAL=0"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=0"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;BYSETPOS=0"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;BYDAY=99MO"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;UNTIL=20200101T000000Z"),
            event("DTSTART:20260310T140000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;UNTIL=garbage"),
            event("DTSTART;VALUE=DATE:20260310\nDTEND;VALUE=DATE:20200101\nRRULE:FREQ=WEEKLY;UNTIL=20260401T000000Z"),
            event("DTSTART;TZID=Nowhere:20260308T023000\nDTEND:20260308T020000Z\nRRULE:FREQ=DAILY;COUNT=3"),
            event("DTSTART:20260310T140000Z\nDTEND:20260310T150000Z\nRECURRENCE-ID:20260310T140000Z\nRECURRENCE-ID:x"),
            calendar(
                "BEGIN:VTIMEZONE\nTZID:Broken\nBEGIN:STANDARD\nDTSTART:20260101T000000\n\
                 TZOFFSETFROM:+9999\nTZOFFSETTO:+0100\nEND:STANDARD\nEND:VTIMEZONE\n\
                 BEGIN:VEVENT\nDTSTART;TZID=Broken:20260310T090000\nDURATION:PT1H\nEND:VEVENT",
            ),
            calendar(
                "BEGIN:VTIMEZONE\nTZID:Empty\nEND:VTIMEZONE\n\
                 BEGIN:VEVENT\nDTSTART;TZID=Empty:20260310T090000\nDURATION:PT1H\nEND:VEVENT",
            ),
            calendar(
                "BEGIN:VTIMEZONE\nTZID:Daily\nBEGIN:DAYLIGHT\nDTSTART:16010101T000000\n\
                 RRULE:FREQ=DAILY\nTZOFFSETFROM:+0000\nTZOFFSETTO:+0100\nEND:DAYLIGHT\nEND:VTIMEZONE\n\
                 BEGIN:VEVENT\nDTSTART;TZID=Daily:20260310T090000\nDURATION:PT1H\nEND:VEVENT",
            ),
        ];
        let windows = [
            rules(BERLIN, "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"),
            rules(Tz::UTC, "0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"),
        ];
        // What each input gives over each window: refused as malformed (`None`), or this
        // many busy intervals. Every expansion is bounded (nesting, rules, instances), so the
        // whole table runs at once.
        let expected: [[Option<usize>; 2]; 23] = [
            [None, None],
            [None, None],
            [Some(0), Some(0)],
            [None, None],
            [Some(0), Some(0)],
            // Yearly from year 1: nothing this week, 9,999 over all time (under MAX_INSTANCES).
            [Some(0), Some(9_999)],
            [Some(1), Some(1)],
            [None, None],
            [Some(0), Some(0)],
            [Some(1), Some(1)],
            [Some(1), Some(1)],
            [None, None],
            [None, None],
            // A rule that never matches still has its DTSTART.
            [Some(1), Some(1)],
            [Some(1), Some(1)],
            [Some(1), Some(1)],
            [None, None],
            [Some(1), Some(4)],
            // An unknown zone is the expert's: 30 minutes a day in Berlin, negative in UTC.
            [Some(2), Some(0)],
            [Some(1), Some(1)],
            [Some(1), Some(1)],
            [Some(1), Some(1)],
            [None, None],
        ];
        assert_eq!(inputs.len(), expected.len());
        for (input, expected) in inputs.iter().zip(expected) {
            for (window, expected) in windows.iter().zip(expected) {
                let outcome = busy_intervals(input, window);
                match (&outcome, expected) {
                    (Ok(intervals), Some(count)) => {
                        assert_eq!(intervals.len(), count, "{input:?}");
                        for interval in intervals {
                            assert!(interval.start < interval.end, "{input:?}");
                            assert!(
                                interval.start < window.window.end
                                    && interval.end > window.window.start,
                                "{input:?}: outside the window"
                            );
                        }
                    }
                    (Err(IcalError::Malformed(why)), None) => {
                        assert!(why.chars().count() <= MAX_MESSAGE_CHARS, "{why}");
                    }
                    _ => panic!("{input:?}: {outcome:?}, expected {expected:?}"),
                }
            }
        }
    }
}
