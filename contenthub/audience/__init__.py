"""The audience: who the brand reaches (users, identities, groups, segments, profiles) and what may be sent to them (caps, reservations, lifecycle)."""
