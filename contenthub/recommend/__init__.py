"""Engagement and recommendations: events, users and identities, profiles, ranking, caps, next content."""
