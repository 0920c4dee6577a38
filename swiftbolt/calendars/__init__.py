"""Market calendars: sessions per market (sessions), the stored calendar table (store), and when each
session's work is due (timing)."""
