"""Who may do what: API keys with roles, console sessions, and the role × permission matrix."""
