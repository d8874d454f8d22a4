//! Busy times from iCalendar data (being written).
