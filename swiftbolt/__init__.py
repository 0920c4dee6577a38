"""swiftbolt core: framework-free domain logic (warehouse, calendars, bars, providers)."""
